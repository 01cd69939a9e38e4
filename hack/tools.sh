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

ALL_TOOLS=(etcd kube-apiserver kubectl kube-controller-manager kube-scheduler kwok kwokctl helm controller-gen)

if [[ "${1:-}" == "--print-versions" ]]; then
  printf 'kubernetes %s\netcd %s\nkwok %s\nhelm %s\ncontroller-tools %s\n' \
    "$KUBE_VERSION" "$ETCD_VERSION" "$KWOK_VERSION" "$HELM_VERSION" "$CONTROLLER_TOOLS_VERSION"
  exit 0
fi

mkdir -p "$BIN" "$STAMPS"
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -trimpath"

log() { printf '[tools] %s\n' "$*" >&2; }

version_of() {
  case "$1" in
    etcd) echo "$ETCD_VERSION" ;;
    kube-apiserver|kubectl|kube-controller-manager|kube-scheduler) echo "$KUBE_VERSION" ;;
    kwok|kwokctl) echo "$KWOK_VERSION" ;;
    helm) echo "$HELM_VERSION" ;;
    controller-gen) echo "$CONTROLLER_TOOLS_VERSION" ;;
    *) log "unknown tool $1"; exit 2 ;;
  esac
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
    kube-apiserver|kubectl|kube-controller-manager|kube-scheduler)
      (cd "$ROOT/hack/tools/kube" && go build -o "$BIN/$name" "k8s.io/kubernetes/cmd/$name") ;;
    kwok|kwokctl)
      GOBIN="$BIN" go install "sigs.k8s.io/kwok/cmd/$name@$KWOK_VERSION" ;;
    helm)
      GOBIN="$BIN" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" ;;
    controller-gen)
      GOBIN="$BIN" go install "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_TOOLS_VERSION" ;;
  esac
  stamp "$name"
  log "built $name in $((SECONDS - start))s"
}

tools=("$@")
if [[ ${#tools[@]} -eq 0 ]]; then tools=("${ALL_TOOLS[@]}"); fi
for t in "${tools[@]}"; do build "$t"; done
