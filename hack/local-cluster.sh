#!/usr/bin/env bash
# Runs a local simulated Kubernetes cluster with kwok: a real etcd,
# kube-apiserver, kube-controller-manager and kube-scheduler, and a kwok
# controller that plays the kubelet of every node. Deployments get pods that
# become Ready, EndpointSlices fill and empty, and Job pods complete, but no
# container ever runs. Every binary comes from bin/ (hack/tools.sh builds it);
# nothing is downloaded, and every component listens on 127.0.0.1 only.
#
#   hack/local-cluster.sh up          create the cluster, or reuse a healthy one
#   hack/local-cluster.sh down        delete it and stop all of its processes
#   hack/local-cluster.sh kubeconfig  print the path of its kubeconfig
#   hack/local-cluster.sh status      say whether it is up
#
# `up` prints the kubeconfig path as the only line on stdout (progress goes to
# stderr), so `export KUBECONFIG="$(hack/local-cluster.sh up)"` works. The
# kubeconfig in your home directory is never touched.
#
# Environment:
#   RWO_CLUSTER_NAME   cluster name (default rwo-dev)
#   RWO_CLUSTER_NODES  number of simulated nodes (default 2)
#   KWOK_WORKDIR       where kwokctl keeps clusters (default .kwok/ in the repo)
#   RWO_AUDIT_POLICY   an audit policy file; the API server then writes its
#                      audit log to the cluster's logs/audit.log
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BIN:-$ROOT/bin}"
NAME="${RWO_CLUSTER_NAME:-rwo-dev}"
NODES="${RWO_CLUSTER_NODES:-2}"
export KWOK_WORKDIR="${KWOK_WORKDIR:-$ROOT/.kwok}"
# kwokctl and the tests call kubectl by name.
export PATH="$BIN:$PATH"

CLUSTER_DIR="$KWOK_WORKDIR/clusters/$NAME"
KUBECONFIG_PATH="$CLUSTER_DIR/kubeconfig.yaml"
# kwokctl binds to 0.0.0.0 unless told otherwise. Its per-flag options can also
# be set in a configuration file, which is the only way to set the address.
KWOKCTL_CONFIG="$KWOK_WORKDIR/rwo-kwokctl.yaml"

log() { printf '[local-cluster] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

kctl() { kubectl --kubeconfig "$KUBECONFIG_PATH" "$@"; }

healthy() {
  [[ -f "$KUBECONFIG_PATH" ]] && kctl get --raw /readyz >/dev/null 2>&1
}

# Processes of this cluster: kwokctl starts every component with a path inside
# the cluster's directory on its command line.
cluster_pids() {
  pgrep -f -- "$CLUSTER_DIR/" || true
}

ensure_tools() {
  "$ROOT/hack/tools.sh" etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwokctl
}

write_config() {
  mkdir -p "$KWOK_WORKDIR"
  cat >"$KWOKCTL_CONFIG" <<'EOF'
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  # Loopback only: etcd, the control plane and the kwok controller must not be
  # reachable from other machines.
  bindAddress: 127.0.0.1
EOF
}

# wait_for DESCRIPTION SECONDS COMMAND... retries COMMAND until it succeeds.
wait_for() {
  local what="$1" timeout="$2" deadline
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die "timed out after ${timeout}s waiting for $what"
    fi
    sleep 1
  done
}

delete_cluster() {
  if [[ -d "$CLUSTER_DIR" ]]; then
    log "deleting cluster $NAME"
    kwokctl delete cluster --name "$NAME" >&2 || log "kwokctl delete cluster failed; stopping leftover processes"
  fi
  # kwokctl stops what it started through its pid files. A crashed or
  # half-created cluster may leave processes it no longer knows about.
  local pids
  pids="$(cluster_pids)"
  if [[ -n "$pids" ]]; then
    log "stopping leftover processes: $(echo $pids)"
    # shellcheck disable=SC2086 # one pid per word
    kill $pids 2>/dev/null || true
    for _ in $(seq 1 20); do
      [[ -z "$(cluster_pids)" ]] && break
      sleep 0.5
    done
    pids="$(cluster_pids)"
    # shellcheck disable=SC2086
    [[ -z "$pids" ]] || kill -9 $pids 2>/dev/null || true
  fi
  rm -rf "$CLUSTER_DIR"
}

up() {
  ensure_tools
  if healthy; then
    log "cluster $NAME is already up"
  else
    # A directory without a healthy API server is a leftover, for example
    # from a machine that rebooted: start again from nothing.
    delete_cluster
    write_config
    log "creating cluster $NAME in $CLUSTER_DIR"
    # One controller manager and one scheduler, without leader election:
    # nothing here restarts a component that exits because it could not
    # renew its lease. The chaos tests restart both after stopping the API
    # server, as a kubelet would, and a restarted one then acts at once
    # instead of waiting out its predecessor's lease.
    local extra=()
    if [[ -n "${RWO_AUDIT_POLICY:-}" ]]; then
      extra+=(--kube-audit-policy "$RWO_AUDIT_POLICY")
    fi
    kwokctl create cluster \
      --name "$NAME" \
      --config "$KWOKCTL_CONFIG" \
      --runtime binary \
      --kubeconfig "" \
      --etcd-binary "$BIN/etcd" \
      --kube-apiserver-binary "$BIN/kube-apiserver" \
      --kube-controller-manager-binary "$BIN/kube-controller-manager" \
      --kube-scheduler-binary "$BIN/kube-scheduler" \
      --kwok-controller-binary "$BIN/kwok" \
      --timeout 5m \
      --extra-args kube-controller-manager=leader-elect=false \
      --extra-args kube-scheduler=leader-elect=false \
      --wait 2m "${extra[@]}" >&2
  fi
  wait_for "the API server" 120 healthy

  local have
  have="$(kctl get nodes --no-headers 2>/dev/null | wc -l)"
  if ((have != NODES)); then
    log "scaling to $NODES nodes"
    kwokctl scale node --name "$NAME" --replicas "$NODES" >&2
  fi
  wait_for "$NODES Ready nodes" 120 \
    kctl wait --for=condition=Ready node --all --timeout=5s
  # Pods cannot be created in a namespace before the controller manager has
  # created its default ServiceAccount.
  wait_for "the default ServiceAccount" 120 kctl get serviceaccount default -n default
  log "cluster $NAME is ready: kubectl --kubeconfig $KUBECONFIG_PATH get nodes"
  echo "$KUBECONFIG_PATH"
}

down() {
  delete_cluster
  log "cluster $NAME is down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  kubeconfig) echo "$KUBECONFIG_PATH" ;;
  status)
    if healthy; then
      echo "cluster $NAME is up: $KUBECONFIG_PATH"
    else
      echo "cluster $NAME is down"
      exit 1
    fi
    ;;
  *)
    echo "usage: $0 up|down|kubeconfig|status" >&2
    exit 2
    ;;
esac
