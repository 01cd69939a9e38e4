#!/usr/bin/env bash
# The local cluster's one real node: containerd and runc (Debian's packages)
# run real pods, a kubelet and kube-proxy built from the pinned Kubernetes
# module register them with the local control plane, and Traefik (built from
# its pinned module) routes Ingresses and Gateway API HTTPRoutes for
# clients on this machine. Called by
# hack/local-cluster.sh when RWO_REAL_NODE=1; not meant to be run alone.
#
#   hack/real-node.sh network        create the bridge and the filter rules (before the control plane)
#   hack/real-node.sh up DIR KUBECONFIG APIPORT   start containerd, the kubelet, kube-proxy and Traefik
#   hack/real-node.sh load DIR ARCHIVE...         import OCI image archives into the node's containerd
#   hack/real-node.sh down DIR       stop all of it and remove every process, mount, interface and rule
#
# Everything stays on this machine. Pods live in network namespaces on a
# bridge of their own (rwo0, 10.244.0.0/24); the bridge address 10.244.0.1 is
# where pods reach the API server and a test's receivers. An nftables table
# of its own (inet rwo_real_node) drops any pod packet that would leave the
# bridge, any packet that came from outside for the bridge address, the API
# server port from anywhere but loopback and the bridge, the kubelet port
# and the registry from pods, and any packet to a Service address that no
# kube-proxy rule has rewritten. Traefik and kube-proxy listen on loopback only.
#
# The node's OCI registry (hack/registry, go-containerregistry's) listens on
# the bridge address, port 5000: make release pushes the operator's image
# index and chart there, and containerd pulls from it over plain HTTP, as
# its hosts.toml for that address says.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BIN:-$ROOT/bin}"

BRIDGE=rwo0
POD_CIDR=10.244.0.0/24
GATEWAY=10.244.0.1
# The Service range the API server is given (kwokctl leaves it at the
# default 10.0.0.0/24, which is also kwok's simulated pod range).
SERVICE_CIDR=10.96.0.0/24
# Addresses kwok gives simulated pods: no real host has them, so nothing on
# this machine may send to them (an Ingress or Service that points at a
# simulated pod would otherwise be dialled through the default route).
SIMULATED_POD_CIDR=10.0.0.0/24
NFT_TABLE=rwo_real_node
NODE_NAME="${RWO_REAL_NODE_NAME:-rwo-real-node}"
KUBELET_PORT=10250
TRAEFIK_PORT="${RWO_INGRESS_PORT:-18080}"
# The Gateway API release whose standard CRDs the node's cluster serves
# (test/testenv's GatewayAPIVersion is the same), and Traefik's one Gateway.
GATEWAY_API_VERSION=v1.6.3
GATEWAY_NAME=rwo-gateway
REGISTRY="$GATEWAY:${RWO_REGISTRY_PORT:-5000}"
SYSCTLS=(net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables)

log() { printf '[real-node] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# deps installs containerd, runc, the CNI plugins, iptables and nftables
# from Debian's packages when they are missing.
deps() {
  local missing=()
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v nft >/dev/null || missing+=(nftables)
  command -v ip >/dev/null || missing+=(iproute2)
  if ((${#missing[@]})); then
    log "installing ${missing[*]} from Debian's packages"
    [[ $EUID -eq 0 ]] || die "installing packages needs root: apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
  "$ROOT/hack/tools.sh" kubelet kube-proxy traefik
}

preflight() {
  [[ $EUID -eq 0 ]] || die "the real node needs root (network namespaces, mounts, containerd)"
  if ip link show "$BRIDGE" >/dev/null 2>&1 && [[ ! -f /run/rwo-real-node.owner ]]; then
    die "interface $BRIDGE exists and no cluster here owns it"
  fi
  if [[ -f /run/rwo-real-node.owner ]]; then
    local owner
    owner="$(cat /run/rwo-real-node.owner)"
    if [[ "$owner" != "$1" && -d "$owner" ]]; then
      die "another cluster's real node runs on this machine ($owner); stop it first (one real node per machine)"
    fi
  fi
}

# network runs before the control plane starts, so that the API server can
# advertise the bridge address.
network() {
  local dir="$1"
  preflight "$dir"
  mkdir -p "$dir"
  echo "$dir" >/run/rwo-real-node.owner
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  ip addr replace "$GATEWAY/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  modprobe br_netfilter 2>/dev/null || true
  if [[ ! -f "$dir/sysctl.saved" ]]; then
    for s in "${SYSCTLS[@]}"; do
      printf '%s=%s\n' "$s" "$(sysctl -n "$s" 2>/dev/null || echo 0)"
    done >"$dir/sysctl.saved"
  fi
  # Forwarding is needed for a pod to reach a Service: kube-proxy rewrites
  # the address and the packet is routed back onto the bridge. The table
  # below keeps every forwarded pod packet on the bridge.
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.bridge.bridge-nf-call-iptables=1
  nft -f - <<EOF
table inet $NFT_TABLE
delete table inet $NFT_TABLE
table inet $NFT_TABLE {
  chain input {
    type filter hook input priority -10; policy accept;
    ip daddr $GATEWAY iifname != { "lo", "$BRIDGE" } drop
    tcp dport $KUBELET_PORT iifname != "lo" drop
    # Pods may not reach the registry, which takes pushes without asking
    # who: only this machine (containerd, make release) does, over lo.
    ip daddr $GATEWAY tcp dport ${REGISTRY##*:} iifname != "lo" drop
  }
  chain forward {
    type filter hook forward priority -10; policy accept;
    ip saddr $POD_CIDR oifname != "$BRIDGE" drop
    ip daddr $POD_CIDR iifname != "$BRIDGE" drop
    ip daddr { $SERVICE_CIDR, $SIMULATED_POD_CIDR } drop
  }
  chain output {
    type filter hook output priority 10; policy accept;
    ip daddr { $SERVICE_CIDR, $SIMULATED_POD_CIDR } drop
  }
}
EOF
}

# api_port_rule narrows the API server, which must listen on every address
# for pods to reach it on the bridge, to loopback and the bridge.
api_port_rule() {
  nft add rule inet "$NFT_TABLE" input tcp dport "$1" iifname != '{ "lo", "'"$BRIDGE"'" }' drop
}

write_configs() {
  local dir="$1" kubeconfig="$2" pki
  pki="$(dirname "$kubeconfig")/pki"
  mkdir -p "$dir/containerd" "$dir/cni/net.d" "$dir/cni/ipam" "$dir/kubelet" "$dir/pod-logs" "$dir/logs"
  cat >"$dir/containerd/config.toml" <<EOF
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
# Plugins that need kernel features or paths outside the node directory.
disabled_plugins = [
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.internal.v1.opt", "io.containerd.tracing.processor.v1.otlp",
]
[grpc]
  address = "$dir/containerd/containerd.sock"
[ttrpc]
  address = "$dir/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "rwo.local/pause:dev"
  # This machine withholds CAP_SYS_RESOURCE: without it every sandbox fails
  # ("can't get final child's PID from pipe: EOF").
  restrict_oom_score_adj = true
  # Network namespaces are mounted in the node directory, so that down
  # finds and removes every one of them.
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
    max_conf_num = 1
  # Per-registry settings (hosts.toml), for the node's own registry.
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$dir/containerd/certs.d"
EOF
  mkdir -p "$dir/containerd/certs.d/$REGISTRY"
  cat >"$dir/containerd/certs.d/$REGISTRY/hosts.toml" <<EOF
# The node's registry serves plain HTTP on the bridge, which nothing off
# this machine reaches.
server = "http://$REGISTRY"

[host."http://$REGISTRY"]
  capabilities = ["pull", "resolve"]
EOF
  cat >"$dir/cni/net.d/10-rwo.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "rwo",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$dir/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$GATEWAY"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF
  # Pods get no name server: 127.0.0.1 in a pod is the pod itself, so a
  # name lookup fails at once instead of leaving the machine.
  printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$dir/resolv.conf"
  cat >"$dir/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $GATEWAY
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
containerRuntimeEndpoint: unix://$dir/containerd/containerd.sock
# The machine's cgroup hierarchy is v1 with a v2 mount, and it withholds
# the rights a kubelet needs to manage QoS cgroups and reserve resources.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
resolvConf: $dir/resolv.conf
podLogsDir: $dir/pod-logs
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "1%"
  imagefs.available: "1%"
  nodefs.inodesFree: "1%"
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $pki/ca.crt
authorization:
  mode: Webhook
registerNode: true
nodeStatusReportFrequency: 10s
EOF
  cat >"$dir/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $kubeconfig
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# NodePorts only on the bridge address, never on the machine's own network.
nodePortAddresses: ["$GATEWAY/32"]
conntrack:
  # kube-proxy may not change the machine's conntrack sysctls here.
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
EOF
}

# start NAME COMMAND... runs COMMAND in the background, logging to
# DIR/logs/NAME.log, and records its pid in DIR/NAME.pid.
start() {
  local name="$1"
  shift
  log "starting $name"
  setsid "$@" >>"$DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$DIR/$name.pid"
}

wait_for() {
  local what="$1" timeout="$2" deadline
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die "timed out after ${timeout}s waiting for $what (logs in $DIR/logs)"
    fi
    sleep 0.5
  done
}

ctr_() { ctr --address "$DIR/containerd/containerd.sock" --namespace k8s.io "$@"; }

load() {
  local a
  for a in "$@"; do
    log "importing $(basename "$a") into the node's containerd"
    ctr_ images import --snapshotter overlayfs "$a" >&2
  done
}

up() {
  DIR="$1"
  local kubeconfig="$2" apiport="$3"
  kctl() { "$BIN/kubectl" --kubeconfig "$kubeconfig" "$@"; }
  api_port_rule "$apiport"
  write_configs "$DIR" "$kubeconfig"

  # The registry, before containerd may pull from it.
  (cd "$ROOT" && go build -o "$BIN/registry" ./hack/registry) || die "building hack/registry"
  start registry "$BIN/registry" -address "$REGISTRY" -dir "$DIR/registry" -quiet
  wait_for "the registry on $REGISTRY" 30 curl -sf "http://$REGISTRY/v2/"

  start containerd containerd --config "$DIR/containerd/config.toml"
  wait_for "containerd" 60 ctr_ version
  # The images the node needs before any pod can start: the sandbox image,
  # and the project's images when they have been built (make image).
  local archives=()
  for a in "$ROOT/bin/images/"*.tar; do [[ -f "$a" ]] && archives+=("$a"); done
  [[ -f "$ROOT/bin/images/pause.tar" ]] || die "no sandbox image: run 'go run ./hack/image' (make image) first"
  load "${archives[@]}"

  start kubelet "$BIN/kubelet" \
    --config "$DIR/kubelet/config.yaml" \
    --kubeconfig "$kubeconfig" \
    --root-dir "$DIR/kubelet/root" \
    --cert-dir "$DIR/kubelet/pki" \
    --hostname-override "$NODE_NAME" \
    --node-ip "$GATEWAY" \
    --node-labels "withdrawal.ops.dev/real-node=true"
  wait_for "node $NODE_NAME to be Ready" 180 \
    kctl wait --for=condition=Ready "node/$NODE_NAME" --timeout=5s

  start kube-proxy "$BIN/kube-proxy" --config "$DIR/kube-proxy.yaml"
  wait_for "kube-proxy" 60 curl -sf http://127.0.0.1:10256/healthz

  gateway_api_crds
  traefik_up "$kubeconfig" "$apiport"
  log "real node $NODE_NAME is Ready; Ingresses, and HTTPRoutes attached to Gateway kube-system/$GATEWAY_NAME, are served on http://127.0.0.1:$TRAEFIK_PORT; its registry is $REGISTRY (plain HTTP)"
}

# gateway_api_crds applies the standard channel's Gateway API CRDs, from
# the sigs.k8s.io/gateway-api module through the Go module proxy, before
# Traefik starts watching them.
gateway_api_crds() {
  local dir
  # Outside the repository, so that its go.mod and go.sum stay as they are.
  dir="$(cd "$DIR" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -n "$dir" && -d "$dir/config/crd/standard" ]] || die "could not download sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION"
  kctl apply --server-side -f "$dir/config/crd/standard" >&2
  local crds=() kind
  for kind in gatewayclasses gateways httproutes referencegrants; do crds+=("crd/$kind.gateway.networking.k8s.io"); done
  kctl wait --for=condition=Established --timeout=60s "${crds[@]}" >&2
}

# traefik_up runs Traefik on this machine, not in a pod, listening on
# loopback: it reads Ingresses, and the Gateway API routes attached to its
# one Gateway, with a ServiceAccount token, and sends each request straight
# to a pod address on the bridge.
traefik_up() {
  local kubeconfig="$1" apiport="$2" pki
  pki="$(dirname "$kubeconfig")/pki"
  kctl apply -f - >&2 <<'EOF'
apiVersion: v1
kind: ServiceAccount
metadata: {name: traefik, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: rwo-traefik}
rules:
- apiGroups: [""]
  resources: [services, secrets, nodes]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [ingresses, ingressclasses]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [ingresses/status]
  verbs: [update]
# The Gateway API provider: routes, the Gateway and its class, and the
# ReferenceGrants that let a route name a Service of another namespace.
- apiGroups: [""]
  resources: [namespaces, configmaps]
  verbs: [get, list, watch]
- apiGroups: [gateway.networking.k8s.io]
  resources: ["*"]
  verbs: [get, list, watch]
- apiGroups: [gateway.networking.k8s.io]
  resources: [gatewayclasses/status, gateways/status, httproutes/status, grpcroutes/status, backendtlspolicies/status]
  verbs: [update, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: rwo-traefik}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: rwo-traefik}
subjects: [{kind: ServiceAccount, name: traefik, namespace: kube-system}]
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: traefik
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec: {controller: traefik.io/ingress-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: traefik}
spec: {controllerName: traefik.io/gateway-controller}
EOF
  # Traefik matches a listener to the entry point with its port.
  kctl apply -f - >&2 <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: $GATEWAY_NAME, namespace: kube-system}
spec:
  gatewayClassName: traefik
  listeners:
  - {name: web, protocol: HTTP, port: $TRAEFIK_PORT, allowedRoutes: {namespaces: {from: All}}}
EOF
  wait_for "the traefik ServiceAccount" 60 kctl get serviceaccount traefik -n kube-system
  kctl create token traefik -n kube-system --duration=168h >"$DIR/traefik.token"
  chmod 600 "$DIR/traefik.token"
  start traefik "$BIN/traefik" \
    --global.checkNewVersion=false \
    --global.sendAnonymousUsage=false \
    --entryPoints.web.address="127.0.0.1:$TRAEFIK_PORT" \
    --ping=true --ping.entryPoint=web \
    --providers.kubernetesingress=true \
    --providers.kubernetesingress.endpoint="https://127.0.0.1:$apiport" \
    --providers.kubernetesingress.token="$(cat "$DIR/traefik.token")" \
    --providers.kubernetesingress.certAuthFilePath="$pki/ca.crt" \
    --providers.kubernetesgateway=true \
    --providers.kubernetesgateway.endpoint="https://127.0.0.1:$apiport" \
    --providers.kubernetesgateway.token="$(cat "$DIR/traefik.token")" \
    --providers.kubernetesgateway.certAuthFilePath="$pki/ca.crt" \
    --log.level=INFO
  wait_for "traefik" 60 curl -sf "http://127.0.0.1:$TRAEFIK_PORT/ping"
}

stop_pid() {
  local name="$1" pid
  [[ -f "$DIR/$name.pid" ]] || return 0
  pid="$(cat "$DIR/$name.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $name"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$DIR/$name.pid"
}

# container_ids lists the node's containers: containerd's own list while it
# runs, and the task directories it leaves in its state directory.
container_ids() {
  {
    ctr_ containers ls -q 2>/dev/null || true
    ls "$DIR/containerd/state/io.containerd.runtime.v2.task/k8s.io" 2>/dev/null || true
  } | sort -u
}

# container_pids lists every process in the cgroup of one of the node's
# containers (runc puts each in /k8s.io/<id>), whatever still manages it: a
# container whose shim is gone lives on as an orphan otherwise.
container_pids() {
  local ids="$1" p line
  [[ -n "$ids" ]] || return 0
  for p in /proc/[0-9]*; do
    line="$(grep -m1 -o ':/k8s.io/[0-9a-f]*' "$p/cgroup" 2>/dev/null)" || continue
    grep -qx -- "${line#:/k8s.io/}" <<<"$ids" && echo "${p#/proc/}"
  done
  return 0
}

# cgroups_down removes the containers' empty cgroups in every hierarchy.
cgroups_down() {
  local ids="$1" id d
  for id in $ids; do
    for d in /sys/fs/cgroup/*/k8s.io/"$id" /sys/fs/cgroup/k8s.io/"$id"; do
      [[ -d "$d" ]] && rmdir "$d" 2>/dev/null || true
    done
  done
  for d in /sys/fs/cgroup/*/k8s.io /sys/fs/cgroup/k8s.io; do
    [[ -d "$d" ]] && rmdir "$d" 2>/dev/null || true
  done
}

down() {
  DIR="$1"
  [[ -d "$DIR" ]] || { network_down "$DIR"; return 0; }
  stop_pid traefik
  stop_pid kube-proxy
  if [[ -f "$DIR/kube-proxy.yaml" ]]; then
    "$BIN/kube-proxy" --cleanup --config "$DIR/kube-proxy.yaml" >>"$DIR/logs/kube-proxy.log" 2>&1 || true
  fi
  stop_pid kubelet
  # Every container process, then containerd, then the shims.
  local ids pids
  ids="$(container_ids)"
  pids="$(container_pids "$ids")"
  # shellcheck disable=SC2086 # one pid per word
  [[ -z "$pids" ]] || kill -KILL $pids 2>/dev/null || true
  stop_pid containerd
  stop_pid registry
  pids="$(pgrep -f -- "-address $DIR/containerd/containerd.sock" || true)"
  # shellcheck disable=SC2086
  [[ -z "$pids" ]] || kill -KILL $pids 2>/dev/null || true
  for _ in $(seq 1 40); do
    [[ -z "$(container_pids "$ids")$(pgrep -f -- "-address $DIR/containerd/containerd.sock" || true)" ]] && break
    sleep 0.25
  done
  cgroups_down "$ids"
  # Every mount below the node directory (rootfs overlays, pod volumes,
  # network namespaces, shm), deepest first.
  local m
  while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done < <(awk -v d="$DIR/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r)
  network_down "$DIR"
  # Say so, and fail, when anything is left behind.
  local left=()
  [[ -z "$(container_pids "$ids")" ]] || left+=("container processes")
  awk -v d="$DIR/" 'index($5, d) == 1 {found=1} END {exit !found}' /proc/self/mountinfo && left+=("mounts under $DIR")
  ip link show "$BRIDGE" >/dev/null 2>&1 && left+=("interface $BRIDGE")
  nft list table inet "$NFT_TABLE" >/dev/null 2>&1 && left+=("nftables table $NFT_TABLE")
  rm -rf "$DIR" || left+=("directory $DIR")
  if ((${#left[@]})); then
    log "error: left behind: ${left[*]}"
    return 1
  fi
  log "the real node is gone: no process, mount, interface or rule of it is left"
}

# kubelet_rules_down removes the chains the kubelet makes (kube-proxy
# --cleanup removes only kube-proxy's): its canaries, its hint, and the
# firewall chain that guards loopback from routed traffic.
kubelet_rules_down() {
  local ipt table chain
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    for hook in INPUT OUTPUT; do
      while "$ipt" -w -t filter -D "$hook" -j KUBE-FIREWALL 2>/dev/null; do :; done
    done
    for table in filter nat mangle; do
      for chain in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
        "$ipt" -w -t "$table" -F "$chain" 2>/dev/null && "$ipt" -w -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

network_down() {
  local dir="$1"
  kubelet_rules_down
  if ip link show "$BRIDGE" >/dev/null 2>&1; then
    log "removing interface $BRIDGE"
    ip link delete "$BRIDGE" 2>/dev/null || true
  fi
  nft delete table inet "$NFT_TABLE" 2>/dev/null || true
  if [[ -f "$dir/sysctl.saved" ]]; then
    while IFS='=' read -r k v; do sysctl -qw "$k=$v" 2>/dev/null || true; done <"$dir/sysctl.saved"
  fi
  if [[ -f /run/rwo-real-node.owner && "$(cat /run/rwo-real-node.owner)" == "$dir" ]]; then
    rm -f /run/rwo-real-node.owner
  fi
}

case "${1:-}" in
  deps) deps ;;
  network) network "$2" ;;
  up) up "$2" "$3" "$4" ;;
  load) DIR="$2"; shift 2; load "$@" ;;
  down) down "$2" ;;
  *) echo "usage: $0 deps|network DIR|up DIR KUBECONFIG APIPORT|load DIR ARCHIVE...|down DIR" >&2; exit 2 ;;
esac
