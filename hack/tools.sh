#!/usr/bin/env bash
# Builds every binary the tests and the local cluster need, from pinned Go
# modules, into bin/. Release binaries cannot be downloaded on the machines
# that build this project, so setup-envtest, kind and docker are not used.
#
# Each binary is cached by version: bin/<name> is rebuilt only when
# bin/.stamp/<name> does not record the pinned version.
#
#   hack/tools.sh            build everything that is missing
#   hack/tools.sh etcd helm  build only the named tools
#   hack/tools.sh --print-versions
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BIN:-$ROOT/bin}"
STAMPS="$BIN/.stamp"

# Pinned versions. The Kubernetes and etcd pins live in the go.mod files under
# hack/tools/; these two variables only key the cache and must agree with them.
KUBE_VERSION=v1.37.2
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.22.0
CONTROLLER_TOOLS_VERSION=v0.23.0
# The ingress controller of the local cluster's real node. v3.6.12 is the
# newest release whose replace targets the module proxy serves.
TRAEFIK_VERSION=v3.6.12
# promtool checks and unit-tests the alert rules in config/prometheus; the
# prometheus server, from the same module, scrapes the operator on the real
# node and evaluates those rules (test/e2e/realnode/prometheus_test.go).
PROMETHEUS_VERSION=v0.316.0
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

ALL_TOOLS=(etcd kube-apiserver kubectl kube-controller-manager kube-scheduler kwok kwokctl helm controller-gen kubelet kube-proxy traefik promtool prometheus krew validate-krew-manifest weed cyclonedx-gomod)

if [[ "${1:-}" == "--print-versions" ]]; then
  printf 'kubernetes %s\netcd %s\nkwok %s\nhelm %s\ncontroller-tools %s\ntraefik %s\nprometheus %s\nkrew %s\nseaweedfs %s\ncyclonedx-gomod %s\n' \
    "$KUBE_VERSION" "$ETCD_VERSION" "$KWOK_VERSION" "$HELM_VERSION" "$CONTROLLER_TOOLS_VERSION" "$TRAEFIK_VERSION" "$PROMETHEUS_VERSION" "$KREW_VERSION" "$SEAWEEDFS_VERSION" "$CYCLONEDX_GOMOD_VERSION"
  exit 0
fi

mkdir -p "$BIN" "$STAMPS"
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -trimpath"

log() { printf '[tools] %s\n' "$*" >&2; }

version_of() {
  case "$1" in
    etcd) echo "$ETCD_VERSION" ;;
    # "+v": built with the version stamped in (KUBE_LDFLAGS); without it
    # every component reports v0.0.0-master.
    kube-apiserver|kubectl|kube-controller-manager|kube-scheduler|kubelet|kube-proxy) echo "$KUBE_VERSION+v" ;;
    kwok|kwokctl) echo "$KWOK_VERSION" ;;
    # "+k": built with the Kubernetes version stamped in (helm_ldflags).
    helm) echo "$HELM_VERSION+k" ;;
    controller-gen) echo "$CONTROLLER_TOOLS_VERSION" ;;
    traefik) echo "$TRAEFIK_VERSION" ;;
    # "+sd": built with only Kubernetes service discovery (below).
    promtool|prometheus) echo "$PROMETHEUS_VERSION+sd" ;;
    krew|validate-krew-manifest) echo "$KREW_VERSION" ;;
    weed) echo "$SEAWEEDFS_VERSION" ;;
    cyclonedx-gomod) echo "$CYCLONEDX_GOMOD_VERSION" ;;
    *) log "unknown tool $1"; exit 2 ;;
  esac
}

# kube_ldflags stamps the version into the Kubernetes binaries, as the
# release build does, so that nodes, kubectl and the API server report it.
kube_ldflags() {
  local pkg=k8s.io/component-base/version minor
  minor="${KUBE_VERSION#v1.}"
  minor="${minor%%.*}"
  printf -- '-X %s.gitVersion=%s -X %s.gitMajor=1 -X %s.gitMinor=%s -X %s.gitTreeState=clean' \
    "$pkg" "$KUBE_VERSION" "$pkg" "$pkg" "$minor" "$pkg"
}

# helm_ldflags stamps, as Helm's own release build does, the Kubernetes
# version helm template assumes (the client-go minor it is built with, or
# else 1.20) and helm's own version. The chart's kubeVersion is checked
# against the first, so without it every render would be refused.
helm_ldflags() {
  local minor
  minor="${KUBE_VERSION#v1.}"
  minor="${minor%%.*}"
  printf -- '-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=%s -X helm.sh/helm/v3/internal/version.version=%s' \
    "$minor" "$HELM_VERSION"
}

# build_traefik builds Traefik from its module. `go install module@version`
# refuses it (its go.mod has replace directives), so the module is
# downloaded, copied somewhere writable, and built in its own directory.
build_traefik() {
  local dir src
  dir="$(go mod download -json "github.com/traefik/traefik/v3@$TRAEFIK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -n "$dir" && -d "$dir" ]] || { log "could not download github.com/traefik/traefik/v3@$TRAEFIK_VERSION"; exit 1; }
  src="$(mktemp -d)"
  cp -r "$dir/." "$src"
  chmod -R u+w "$src"
  (cd "$src" && go build -ldflags "-s -w" -o "$BIN/traefik" ./cmd/traefik) || { rm -rf "$src"; exit 1; }
  rm -rf "$src"
}

# build_weed builds SeaweedFS's weed the same way (its go.mod has a replace
# directive too), with the commit stamped in as its own release build does.
build_weed() {
  local dir src
  dir="$(go mod download -json "github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -n "$dir" && -d "$dir" ]] || { log "could not download github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION"; exit 1; }
  src="$(mktemp -d)"
  cp -r "$dir/." "$src"
  chmod -R u+w "$src"
  (cd "$src" && go build -ldflags "-s -w -X github.com/seaweedfs/seaweedfs/weed/util/version.COMMIT=${SEAWEEDFS_VERSION##*-}" -o "$BIN/weed" ./weed) || { rm -rf "$src"; exit 1; }
  rm -rf "$src"
}

fresh() {
  [[ -x "$BIN/$1" && -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$(version_of "$1")" ]]
}

stamp() { version_of "$1" >"$STAMPS/$1"; }

build() {
  local name="$1" start
  if fresh "$name"; then
    log "$name $(version_of "$name") is cached"
    return 0
  fi
  start=$SECONDS
  log "building $name $(version_of "$name") ..."
  case "$name" in
    etcd)
      (cd "$ROOT/hack/tools/etcd" && go build -o "$BIN/etcd" .) ;;
    kube-apiserver|kubectl|kube-controller-manager|kube-scheduler|kubelet|kube-proxy)
      (cd "$ROOT/hack/tools/kube" && go build -ldflags "$(kube_ldflags)" -o "$BIN/$name" "k8s.io/kubernetes/cmd/$name") ;;
    traefik)
      build_traefik ;;
    weed)
      build_weed ;;
    kwok|kwokctl)
      GOBIN="$BIN" go install "sigs.k8s.io/kwok/cmd/$name@$KWOK_VERSION" ;;
    helm)
      GOBIN="$BIN" go install -ldflags "$(helm_ldflags)" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" ;;
    controller-gen)
      GOBIN="$BIN" go install "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_TOOLS_VERSION" ;;
    promtool|prometheus)
      # Only Kubernetes service discovery is built in (Prometheus' own
      # remove_all_sd and enable_<name>_sd tags): the other two dozen
      # mechanisms and their cloud SDKs are left out of the build, and the
      # same tags let the two share their compiled packages: cold, the pair
      # took 553 s with promtool untagged and takes 282 s so. promtool
      # checks and tests rules, which need no discovery. Without the builtinassets
      # tag the web UI's assets are not embedded (the UI says they are
      # missing); the HTTP API, scraping and rule evaluation, which the
      # tests use, are all there.
      GOBIN="$BIN" go install -tags remove_all_sd,enable_kubernetes_sd "github.com/prometheus/prometheus/cmd/$name@$PROMETHEUS_VERSION" ;;
    krew|validate-krew-manifest)
      GOBIN="$BIN" go install "sigs.k8s.io/krew/cmd/$name@$KREW_VERSION" ;;
    cyclonedx-gomod)
      GOBIN="$BIN" go install "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$CYCLONEDX_GOMOD_VERSION" ;;
  esac
  stamp "$name"
  log "built $name in $((SECONDS - start))s"
}

tools=("$@")
if [[ ${#tools[@]} -eq 0 ]]; then tools=("${ALL_TOOLS[@]}"); fi
for t in "${tools[@]}"; do build "$t"; done
