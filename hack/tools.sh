#!/usr/bin/env bash
# Builds every binary the tests and the local cluster need, from pinned Go
# modules, into bin/. Release binaries cannot be downloaded on the machines
# that build this project, so setup-envtest, kind and docker are not used.
#
# Each binary is cached by version: bin/<name> is rebuilt only when
# bin/.stamp/<name> does not record the pinned version (for the shared
# module's commands, the version and a digest of the module and build flags).
#
#   hack/tools.sh            build everything that is missing
#   hack/tools.sh etcd helm  build only the named tools
#   hack/tools.sh --print-versions
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BIN:-$ROOT/bin}"
STAMPS="$BIN/.stamp"

# Pinned versions. The tools built against the Kubernetes libraries (the
# control plane, kubectl, kubelet, kube-proxy, kwok, helm, controller-gen,
# Prometheus) are pinned by one module, hack/tools/shared, whose go.mod is
# their only pin: they are built together so that the libraries they share are
# compiled once (see its tools.go). etcd keeps a module of its own,
# hack/tools/etcd: Kubernetes requires etcd's v3.7 client libraries, and one
# module cannot hold them beside the v3.6 server.
SHARED_DIR="$ROOT/hack/tools/shared"
ETCD_VERSION=v3.6.16
# The ingress controller of the local cluster's real node. v3.6.12 is the
# newest release whose replace targets the module proxy serves.
TRAEFIK_VERSION=v3.6.12
# krew and its manifest validator install the plugin from its krew manifest
# and archive in a test (hack/krew), offline.
KREW_VERSION=v0.4.3
# SeaweedFS's weed binary, whose S3 gateway is the real S3-compatible store
# the export tests upload to (SigV4, multipart, pre-signed GETs). The module
# has no tags; this pseudo-version is SeaweedFS 4.53's commit.
SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6
# cyclonedx-gomod writes the release's SBOM (CycloneDX) from the module
# information Go records in each binary (hack/release).
CYCLONEDX_GOMOD_VERSION=v1.10.0

# The shared module's commands, by binary name. `go build -o bin/` names each
# binary after the last element of its package path, which is this name.
declare -A SHARED_PKG=(
  [kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
  [kube-controller-manager]=k8s.io/kubernetes/cmd/kube-controller-manager
  [kube-scheduler]=k8s.io/kubernetes/cmd/kube-scheduler
  [kubectl]=k8s.io/kubernetes/cmd/kubectl
  [kubelet]=k8s.io/kubernetes/cmd/kubelet
  [kube-proxy]=k8s.io/kubernetes/cmd/kube-proxy
  [kwok]=sigs.k8s.io/kwok/cmd/kwok
  [kwokctl]=sigs.k8s.io/kwok/cmd/kwokctl
  [helm]=helm.sh/helm/v3/cmd/helm
  [controller-gen]=sigs.k8s.io/controller-tools/cmd/controller-gen
  [prometheus]=github.com/prometheus/prometheus/cmd/prometheus
  [promtool]=github.com/prometheus/prometheus/cmd/promtool
)
# The modules the shared commands come from, for their versions.
SHARED_MODULES=(k8s.io/kubernetes sigs.k8s.io/kwok helm.sh/helm/v3 sigs.k8s.io/controller-tools github.com/prometheus/prometheus)
# shared_module_of prints the module a shared command's package is in.
shared_module_of() {
  local m
  for m in "${SHARED_MODULES[@]}"; do
    if [[ "${SHARED_PKG[$1]}" == "$m/"* ]]; then echo "$m"; return 0; fi
  done
}
# Only Kubernetes service discovery is built into Prometheus (its own
# remove_all_sd and enable_<name>_sd tags): the other two dozen mechanisms and
# their cloud SDKs are left out. Without the builtinassets tag the web UI's
# assets are not embedded (the UI says they are missing); the HTTP API,
# scraping and rule evaluation, which the tests use, are all there. The tags
# mean nothing to the other commands.
SHARED_TAGS=remove_all_sd,enable_kubernetes_sd

ALL_TOOLS=(etcd "${!SHARED_PKG[@]}" traefik krew validate-krew-manifest weed cyclonedx-gomod)

declare -A MODULE_VERSION=()
# module_version prints the version hack/tools/shared/go.mod selects for a
# module, asking go once for all of them.
module_version() {
  if ((${#MODULE_VERSION[@]} == 0)); then
    local path version
    while read -r path version; do MODULE_VERSION[$path]=$version; done \
      < <(cd "$SHARED_DIR" && go list -m -f '{{.Path}} {{.Version}}' "${SHARED_MODULES[@]}")
  fi
  echo "${MODULE_VERSION[$1]}"
}

if [[ "${1:-}" == "--print-versions" ]]; then
  printf 'kubernetes %s\netcd %s\nkwok %s\nhelm %s\ncontroller-tools %s\ntraefik %s\nprometheus %s\nkrew %s\nseaweedfs %s\ncyclonedx-gomod %s\n' \
    "$(module_version k8s.io/kubernetes)" "$ETCD_VERSION" "$(module_version sigs.k8s.io/kwok)" "$(module_version helm.sh/helm/v3)" \
    "$(module_version sigs.k8s.io/controller-tools)" "$TRAEFIK_VERSION" "$(module_version github.com/prometheus/prometheus)" \
    "$KREW_VERSION" "$SEAWEEDFS_VERSION" "$CYCLONEDX_GOMOD_VERSION"
  exit 0
fi

mkdir -p "$BIN" "$STAMPS"
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -trimpath"
# The compiler collects its garbage less often: building kwok cold took 186 s
# instead of 207 s with GOGC=400 (and 214 s with the collector off, paging).
export GOGC="${GOGC:-400}"
# No symbol table or DWARF in any tool: nobody debugs them here, and the
# linker skips writing them.
STRIP="-s -w"

log() { printf '[tools] %s\n' "$*" >&2; }

# shared_ldflags stamps versions as the tools' own release builds do: the
# Kubernetes version into the control plane, kubectl, kubelet and kube-proxy
# (without it every component reports v0.0.0-master); into helm, the
# Kubernetes version helm template assumes (the chart's kubeVersion is checked
# against it, and without it every render would be refused) and helm's own;
# controller-gen's, which it writes into every CRD it generates (make verify
# compares them); and Prometheus'. Built from another main module, the last two
# would read "(devel)" from the binary's build information. An -X for a
# package a binary does not link is ignored, so one set serves them all.
shared_ldflags() {
  local pkg=k8s.io/component-base/version kube minor
  kube="$(module_version k8s.io/kubernetes)"
  minor="${kube#v1.}"
  minor="${minor%%.*}"
  printf -- '%s -X %s.gitVersion=%s -X %s.gitMajor=1 -X %s.gitMinor=%s -X %s.gitTreeState=clean' \
    "$STRIP" "$pkg" "$kube" "$pkg" "$pkg" "$minor" "$pkg"
  printf -- ' -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=%s -X helm.sh/helm/v3/internal/version.version=%s' \
    "$minor" "$(module_version helm.sh/helm/v3)"
  printf -- ' -X sigs.k8s.io/controller-tools/pkg/version.version=%s' "$(module_version sigs.k8s.io/controller-tools)"
  printf -- ' -X github.com/prometheus/common/version.Version=%s' "$(module_version github.com/prometheus/prometheus)"
}

# shared_key changes whenever anything that goes into the shared commands
# does: the module's pins and the flags they are built with.
SHARED_KEY=""
shared_key() {
  if [[ -z "$SHARED_KEY" ]]; then
    SHARED_KEY="$(cat "$SHARED_DIR/go.mod" "$SHARED_DIR/go.sum" <(echo "$SHARED_TAGS") <(shared_ldflags) | sha256sum | cut -c1-12)"
  fi
  echo "$SHARED_KEY"
}

version_of() {
  if [[ -n "${SHARED_PKG[$1]:-}" ]]; then
    echo "$(module_version "$(shared_module_of "$1")")+$(shared_key)"
    return 0
  fi
  case "$1" in
    etcd) echo "$ETCD_VERSION+s" ;;
    # "+nodns": built without lego's DNS providers (build_traefik).
    traefik) echo "$TRAEFIK_VERSION+nodns" ;;
    krew|validate-krew-manifest) echo "$KREW_VERSION+s" ;;
    weed) echo "$SEAWEEDFS_VERSION+s" ;;
    cyclonedx-gomod) echo "$CYCLONEDX_GOMOD_VERSION+s" ;;
    *) log "unknown tool $1"; exit 2 ;;
  esac
}

# module_copy downloads a module and copies it somewhere writable, printing
# where. Traefik and SeaweedFS have replace directives in their go.mod, which
# `go install module@version` refuses, so they are built in a copy of their
# own module.
module_copy() {
  local dir src
  dir="$(go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -n "$dir" && -d "$dir" ]] || { log "could not download $1"; exit 1; }
  src="$(mktemp -d)"
  cp -r "$dir/." "$src"
  chmod -R u+w "$src"
  echo "$src"
}

# Where each tool that is not a shared command is built from, prepared once
# by prepare: a directory (SRC_DIR) and the package in it (SRC_PKG). krew and
# cyclonedx-gomod need none; `go install module@version` builds them.
declare -A SRC_DIR=() SRC_PKG=()
# The module copies prepare made, removed on the way out, as is any prefetch
# still running.
COPIES=()
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "${COPIES[@]}"' EXIT

prepare() {
  local src
  case "$1" in
    etcd)
      SRC_DIR[etcd]="$ROOT/hack/tools/etcd" SRC_PKG[etcd]=. ;;
    traefik)
      src="$(module_copy "github.com/traefik/traefik/v3@$TRAEFIK_VERSION")"
      COPIES+=("$src")
      patch_traefik "$src"
      SRC_DIR[traefik]="$src" SRC_PKG[traefik]=./cmd/traefik ;;
    weed)
      src="$(module_copy "github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION")"
      COPIES+=("$src")
      SRC_DIR[weed]="$src" SRC_PKG[weed]=./weed ;;
  esac
}

# patch_traefik leaves lego's DNS-01 providers out of the Traefik in $1. Its
# ACME provider reaches them through one call, which this build answers with
# an error: the local cluster's ingress never asks a certificate authority
# for a certificate, and the providers' cloud SDKs (Alibaba, Huawei, Tencent,
# Azure, AWS and a hundred more) were 1,100 of the 2,460 packages a cold
# build compiled. Routing, TLS, the Kubernetes and Gateway API providers are
# the release's own code.
patch_traefik() {
  local acme="$1/pkg/provider/acme/provider.go"
  sed -i -e '/^\t"github.com\/go-acme\/lego\/v4\/providers\/dns"$/d' \
    -e 's#dns\.NewDNSChallengeProviderByName(p\.DNSChallenge\.Provider)#nil, fmt.Errorf("this build of Traefik has no DNS-01 challenge providers (asked for %q)", p.DNSChallenge.Provider)#' "$acme"
  if grep -q 'providers/dns"\|NewDNSChallengeProviderByName' "$acme"; then
    log "traefik $TRAEFIK_VERSION: $acme no longer looks as patch_traefik expects"; exit 1
  fi
}

# prefetch downloads, in the background, the modules the prepared tools need,
# so that they arrive while the shared build compiles rather than while the
# CPU waits for them: on a fresh machine, go fetched 1.9 GB for SeaweedFS in
# 36 s, with the compiler idle, and Traefik's are of the same order. `go
# list -deps` fetches what the build will compile and nothing more; a
# prefetch that fails leaves the build to download and report it.
prefetch() {
  local name
  for name in "$@"; do
    if [[ -n "${SRC_DIR[$name]:-}" ]]; then
      (cd "${SRC_DIR[$name]}" && go list -deps "${SRC_PKG[$name]}" >/dev/null 2>&1 || true) &
    fi
  done
}

# thp_hint says when transparent huge pages are not always on: faulting in
# the compiler's fresh memory 4 KiB at a time is much of a cold build's time
# on a small VM (compiling k8s.io/api took 44 s with them on madvise, 32 s
# with them always on, on 2 cores). .ci/run turns them on; on your own
# machine that is your choice (docs/testing.md).
thp_hint() {
  local f=/sys/kernel/mm/transparent_hugepage/enabled
  if [[ -r "$f" ]] && ! grep -q '\[always\]' "$f"; then
    log "transparent huge pages are '$(sed 's/.*\[\(.*\)\].*/\1/' "$f")', not 'always': compiling is about a quarter faster with them always on (docs/testing.md)"
  fi
}

fresh() {
  [[ -x "$BIN/$1" && -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$(version_of "$1")" ]]
}

stamp() { version_of "$1" >"$STAMPS/$1"; }

# shared_pkgs prints the packages of the named shared commands.
shared_pkgs() {
  local name
  for name in "$@"; do echo "${SHARED_PKG[$name]}"; done
}

# download_shared fetches the modules the named shared commands need, before
# prefetch starts fetching the other tools' beside it.
download_shared() {
  (cd "$SHARED_DIR" && go list -deps -tags "$SHARED_TAGS" $(shared_pkgs "$@") >/dev/null)
}

# build_shared builds the named shared commands in one go build, which
# schedules their compiles and links together over every core.
build_shared() {
  local start=$SECONDS name
  log "building $* ($(shared_key)) ..."
  (cd "$SHARED_DIR" && go build -tags "$SHARED_TAGS" -ldflags "$(shared_ldflags)" -o "$BIN/" $(shared_pkgs "$@"))
  for name in "$@"; do stamp "$name"; done
  log "built $* in $((SECONDS - start))s"
}

build() {
  local name="$1" start=$SECONDS
  log "building $name $(version_of "$name") ..."
  case "$name" in
    etcd|traefik)
      (cd "${SRC_DIR[$name]}" && go build -ldflags "$STRIP" -o "$BIN/$name" "${SRC_PKG[$name]}") ;;
    weed)
      # With the commit stamped in, as SeaweedFS's own release build does.
      (cd "${SRC_DIR[weed]}" && go build -ldflags "$STRIP -X github.com/seaweedfs/seaweedfs/weed/util/version.COMMIT=${SEAWEEDFS_VERSION##*-}" -o "$BIN/weed" ./weed) ;;
    krew|validate-krew-manifest)
      GOBIN="$BIN" go install -ldflags "$STRIP" "sigs.k8s.io/krew/cmd/$name@$KREW_VERSION" ;;
    cyclonedx-gomod)
      GOBIN="$BIN" go install -ldflags "$STRIP" "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$CYCLONEDX_GOMOD_VERSION" ;;
  esac
  stamp "$name"
  log "built $name in $((SECONDS - start))s"
}

tools=("$@")
if [[ ${#tools[@]} -eq 0 ]]; then tools=("${ALL_TOOLS[@]}"); fi
# Ask go for the shared versions once, in this shell: $(version_of) runs in
# a subshell, whose answers would be forgotten.
for t in "${tools[@]}"; do
  if [[ -n "${SHARED_PKG[$t]:-}" ]]; then module_version k8s.io/kubernetes >/dev/null; shared_key >/dev/null; break; fi
done
shared=() others=()
for t in "${tools[@]}"; do
  version_of "$t" >/dev/null
  if fresh "$t"; then
    log "$t $(version_of "$t") is cached"
  elif [[ -n "${SHARED_PKG[$t]:-}" ]]; then
    shared+=("$t")
  else
    others+=("$t")
  fi
done
if ((${#shared[@]} + ${#others[@]} > 0)); then thp_hint; fi
for t in "${others[@]}"; do prepare "$t"; done
# The shared commands' modules first; the others' come while they compile.
if ((${#shared[@]} > 0)); then download_shared "${shared[@]}"; fi
prefetch "${others[@]}"
if ((${#shared[@]} > 0)); then build_shared "${shared[@]}"; fi
for t in "${others[@]}"; do build "$t"; done
