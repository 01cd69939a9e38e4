#!/usr/bin/env bash
# Runs a local Kubernetes cluster with kwok: a real etcd, kube-apiserver,
# kube-controller-manager and kube-scheduler, and a kwok controller that
# plays the kubelet of every simulated node. On those nodes Deployments get
# pods that become Ready, EndpointSlices fill and empty, and Job pods
# complete, but no container ever runs. With RWO_REAL_NODE=1 the cluster also
# gets one real node (hack/real-node.sh): containerd, runc, a kubelet and
# kube-proxy run real pods from images built by `make image`, and Traefik
# serves Ingresses on 127.0.0.1. Every binary comes from bin/ (hack/tools.sh
# builds it); nothing is downloaded, and every component listens on
# 127.0.0.1 only, except the API server on a real-node cluster, which pods
# reach on the node's bridge and nothing else can.
#
#   hack/local-cluster.sh up          create the cluster, or reuse a healthy one
#   hack/local-cluster.sh down        delete it and stop all of its processes
#   hack/local-cluster.sh kubeconfig  print the path of its kubeconfig
#   hack/local-cluster.sh status      say whether it is up
#   hack/local-cluster.sh load-images load bin/images/*.tar into the real node
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
#   RWO_REAL_NODE      1 adds the real node (needs root; installs containerd,
#                      runc, the CNI plugins, iptables and nftables from
#                      Debian's packages when missing). Simulated nodes are
#                      then tainted kwok.x-k8s.io/node=fake:NoSchedule, so
#                      only pods that tolerate it land on them.
#   RWO_INGRESS_PORT   the loopback port Traefik serves on (default 18080)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BIN:-$ROOT/bin}"
NAME="${RWO_CLUSTER_NAME:-rwo-dev}"
NODES="${RWO_CLUSTER_NODES:-2}"
export KWOK_WORKDIR="${KWOK_WORKDIR:-$ROOT/.kwok}"
# kwokctl and the tests call kubectl by name.
export PATH="$BIN:$PATH"

CLUSTER_DIR="$KWOK_WORKDIR/clusters/$NAME"
# The real node's files, beside kwokctl's (which must find its own
# directory empty when it creates the cluster).
NODE_DIR="$KWOK_WORKDIR/real-node-$NAME"
REAL_NODE="${RWO_REAL_NODE:-0}"
KUBECONFIG_PATH="$CLUSTER_DIR/kubeconfig.yaml"
# kwokctl binds to 0.0.0.0 unless told otherwise. Its per-flag options can also
# be set in a configuration file, which is the only way to set the address.
KWOKCTL_CONFIG="$KWOK_WORKDIR/rwo-kwokctl.yaml"

log() { printf '[local-cluster] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

kctl() { kubectl --kubeconfig "$KUBECONFIG_PATH" "$@"; }

api_ready() {
  [[ -f "$KUBECONFIG_PATH" ]] && kctl get --raw /readyz >/dev/null 2>&1
}

node_running() {
  [[ -f "$NODE_DIR/kubelet.pid" ]] && kill -0 "$(cat "$NODE_DIR/kubelet.pid")" 2>/dev/null
}

# healthy: the API server answers, and a real-node cluster's kubelet runs.
healthy() {
  api_ready || return 1
  [[ "$REAL_NODE" != 1 ]] || node_running
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
  if [[ "$REAL_NODE" == 1 ]]; then
    # Pods reach the API server on the bridge address: it listens on every
    # address (real-node.sh drops the port on any other interface) and
    # advertises the bridge address in the kubernetes Service. The Service
    # range moves off kwok's simulated pod range, and kwok leaves the real
    # node to its kubelet. (Patches in the file, not --extra-args: kwokctl
    # v0.8.0 mixes up two --extra-args of one component with others between.)
    cat >>"$KWOKCTL_CONFIG" <<EOF
  kubeApiserverCertSANs: ["10.96.0.1", "10.244.0.1"]
componentsPatches:
- name: kube-apiserver
  extraArgs:
  - {key: bind-address, value: 0.0.0.0}
  - {key: advertise-address, value: 10.244.0.1}
  - {key: service-cluster-ip-range, value: 10.96.0.0/24}
  # kubectl logs and exec reach the kubelet at the node address: its name
  # resolves nowhere.
  - {key: kubelet-preferred-address-types, value: InternalIP}
  # ... and authenticate with the cluster's admin certificate, which the
  # kubelet's webhook authorizer then checks.
  - {key: kubelet-client-certificate, value: $CLUSTER_DIR/pki/admin.crt}
  - {key: kubelet-client-key, value: $CLUSTER_DIR/pki/admin.key}
- name: kwok-controller
  extraArgs:
  - {key: manage-all-nodes, value: "false"}
  - {key: manage-nodes-with-annotation-selector, value: kwok.x-k8s.io/node=fake}
EOF
  fi
}

# wait_for DESCRIPTION SECONDS COMMAND... retries COMMAND until it succeeds.
wait_for() {
  local what="$1" timeout="$2" deadline
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      # WAIT_QUIET lets the caller say more before it gives up.
      [[ -n "${WAIT_QUIET:-}" ]] && return 1
      die "timed out after ${timeout}s waiting for $what"
    fi
    sleep 1
  done
}

delete_cluster() {
  if [[ -d "$NODE_DIR" ]]; then
    log "stopping the real node"
    "$ROOT/hack/real-node.sh" down "$NODE_DIR" || { NODE_DOWN_FAILED=1; log "stopping the real node left something behind; continuing"; }
  fi
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
    if [[ "$REAL_NODE" == 1 ]]; then
      "$ROOT/hack/real-node.sh" deps
      "$ROOT/hack/real-node.sh" network "$NODE_DIR"
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
  wait_for "the API server" 120 api_ready

  if [[ "$REAL_NODE" == 1 ]] && ! node_running; then
    "$ROOT/hack/real-node.sh" up "$NODE_DIR" "$KUBECONFIG_PATH" "$(api_port)"
  fi

  local have
  have="$(kctl get nodes -l type=kwok --no-headers 2>/dev/null | wc -l)"
  if ((have != NODES)); then
    log "scaling to $NODES simulated nodes"
    kwokctl scale node --name "$NAME" --replicas "$NODES" >&2
  fi
  if [[ "$REAL_NODE" == 1 ]] && ((NODES > 0)); then
    kctl taint nodes -l type=kwok kwok.x-k8s.io/node=fake:NoSchedule --overwrite >&2
  fi
  wait_for "$NODES Ready nodes" 120 \
    kctl wait --for=condition=Ready node --all --timeout=5s
  # Pods cannot be created in a namespace before the controller manager has
  # created its default ServiceAccount.
  if ! WAIT_QUIET=1 wait_for "the default ServiceAccount" 180 kctl get serviceaccount default -n default; then
    log "the controller manager's last words:"
    kwokctl logs kube-controller-manager --name "$NAME" 2>&1 | tail -n 40 >&2 || true
    die "timed out after 180s waiting for the default ServiceAccount"
  fi
  log "cluster $NAME is ready: kubectl --kubeconfig $KUBECONFIG_PATH get nodes"
  echo "$KUBECONFIG_PATH"
}

# api_port is the API server's port, from the kubeconfig.
api_port() {
  kctl config view --minify -o jsonpath='{.clusters[0].cluster.server}' | sed 's/.*://'
}

load_images() {
  [[ -d "$NODE_DIR" ]] || die "cluster $NAME has no real node (start it with RWO_REAL_NODE=1)"
  "$ROOT/hack/real-node.sh" load "$NODE_DIR" "$ROOT"/bin/images/*.tar
}

down() {
  delete_cluster
  [[ -z "${NODE_DOWN_FAILED:-}" ]] || die "cluster $NAME is down, but its real node left something behind (see above)"
  log "cluster $NAME is down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  kubeconfig) echo "$KUBECONFIG_PATH" ;;
  load-images) load_images ;;
  status)
    if healthy; then
      echo "cluster $NAME is up: $KUBECONFIG_PATH"
    else
      echo "cluster $NAME is down"
      exit 1
    fi
    ;;
  *)
    echo "usage: $0 up|down|kubeconfig|status|load-images" >&2
    exit 2
    ;;
esac
