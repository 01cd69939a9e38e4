#!/usr/bin/env bash
# `make demo`: a Pakistan-like withdrawal, compressed into a few minutes, on a
# local simulated cluster (kwok), with the operator running in the foreground.
#
# 1. builds the pinned tools and the operator into bin/;
# 2. starts the local cluster (hack/local-cluster.sh up), or reuses one;
# 3. installs the CRD and a small sample region app in namespace bes-system:
#    three Deployments labelled bes.example.com/region=pk, a Service for each
#    and an Ingress in front of them, recipients and a webhook signing Secret;
# 4. creates a RegionWithdrawal whose cutoff is six minutes from now, so its
#    first action falls due about a minute from now, with spec.dryRun: true;
# 5. runs the operator until you press Ctrl-C, then stops the operator and
#    deletes the cluster. DEMO_KEEP_CLUSTER=1 keeps the cluster.
#
# Running it again is safe: a cluster that is still up is reused and the
# withdrawal is created afresh with a new timeline.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BIN:-$ROOT/bin}"
OPERATOR="$BIN/region-withdrawal-operator"
NAMESPACE=bes-system
NAME=pakistan
LOG_LEVEL="${DEMO_LOG_LEVEL:-info}"
cd "$ROOT"

log() { printf '\n[demo] %s\n' "$*" >&2; }

OP_PID=""
KUBECONFIG_PATH=""
CLUSTER_STARTED=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$OP_PID" ]] && kill -0 "$OP_PID" 2>/dev/null; then
    log "stopping the operator"
    kill -TERM "$OP_PID" 2>/dev/null || true
    for _ in $(seq 1 40); do
      kill -0 "$OP_PID" 2>/dev/null || break
      sleep 0.25
    done
    kill -KILL "$OP_PID" 2>/dev/null || true
    wait "$OP_PID" 2>/dev/null || true
  fi
  if [[ -n "$CLUSTER_STARTED" ]]; then
    if [[ "${DEMO_KEEP_CLUSTER:-}" == "1" ]]; then
      log "keeping the cluster (DEMO_KEEP_CLUSTER=1); stop it with: hack/local-cluster.sh down"
      log "kubeconfig: $KUBECONFIG_PATH"
    else
      log "deleting the cluster (set DEMO_KEEP_CLUSTER=1 to keep it)"
      "$ROOT/hack/local-cluster.sh" down || true
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "building the pinned tools (the first run builds Kubernetes from source: 6-10 minutes on 2 cores)"
"$ROOT/hack/tools.sh" etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwokctl

log "building the operator"
go build -o "$OPERATOR" .

log "starting the local cluster"
# From here on the cluster is ours to delete on exit, even if `up` fails half way.
CLUSTER_STARTED=1
KUBECONFIG_PATH="$("$ROOT/hack/local-cluster.sh" up)"
kctl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@"; }

log "installing the CRD"
# Server-side apply: the CRD is too large for the last-applied annotation of a
# client-side apply once it grows.
kctl apply --server-side --force-conflicts -f config/crd/bases
kctl wait --for=condition=Established crd/regionwithdrawals.withdrawal.ops.dev --timeout=60s

log "creating the sample region app in namespace $NAMESPACE"
kctl create namespace "$NAMESPACE" --dry-run=client -o yaml | kctl apply -f -

app_manifests() {
  local app
  for app in api chat files; do
    cat <<EOF
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: pk-$app
  namespace: $NAMESPACE
  labels: {app: pk-$app, bes.example.com/region: pk}
spec:
  replicas: 2
  selector:
    matchLabels: {app: pk-$app}
  template:
    metadata:
      labels: {app: pk-$app, bes.example.com/region: pk}
    spec:
      containers:
        - name: $app
          image: bes/$app:demo
          ports: [{containerPort: 8080, name: http}]
---
apiVersion: v1
kind: Service
metadata:
  name: pk-$app
  namespace: $NAMESPACE
  labels: {app: pk-$app, bes.example.com/region: pk}
spec:
  selector: {app: pk-$app}
  ports: [{name: http, port: 80, targetPort: http}]
EOF
  done
  cat <<EOF
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: pk-public
  namespace: $NAMESPACE
  labels: {bes.example.com/region: pk}
spec:
  rules:
    - host: pk.bes.example.com
      http:
        paths:
          - {path: /api, pathType: Prefix, backend: {service: {name: pk-api, port: {name: http}}}}
          - {path: /chat, pathType: Prefix, backend: {service: {name: pk-chat, port: {name: http}}}}
          - {path: /files, pathType: Prefix, backend: {service: {name: pk-files, port: {name: http}}}}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: pk-recipients
  namespace: $NAMESPACE
data:
  customers.csv: |
    id,name,email,webhook,locale
    c-0001,Indus Logistics,it@indus-logistics.example,,en-PK
    c-0002,Karachi Textiles,ops@karachi-textiles.example,http://127.0.0.1:9/hook/c-0002,ur-PK
    c-0003,Lahore Health,admin@lahore-health.example,,en-PK
    c-0004,Quetta Foods,contact@quetta-foods.example,,ur-PK
---
apiVersion: v1
kind: Secret
metadata:
  name: pk-webhook-signing
  namespace: $NAMESPACE
type: Opaque
stringData:
  hmac-key: demo-only-signing-key-not-a-secret
EOF
}
app_manifests | kctl apply -f -
kctl -n "$NAMESPACE" wait --for=condition=Available deployment -l bes.example.com/region=pk --timeout=120s

# A withdrawal left over from an earlier run keeps its old timeline and status:
# replace it. Its finalizer would wait for an operator that is not running yet,
# and a dry run changed nothing that needs undoing, so it is removed.
if kctl -n "$NAMESPACE" get regionwithdrawal "$NAME" >/dev/null 2>&1; then
  log "replacing the withdrawal left over from an earlier run"
  kctl -n "$NAMESPACE" patch regionwithdrawal "$NAME" --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null
  kctl -n "$NAMESPACE" delete regionwithdrawal "$NAME" --ignore-not-found --wait=true --timeout=60s
fi

# The real timeline spans weeks; the demo keeps its shape and squeezes it into
# six minutes. Offsets count back from the cutoff.
now="$(date -u +%s)"
at() { date -u -d "@$((now + $1))" +%Y-%m-%dT%H:%M:%SZ; }
CUTOFF="$(at 360)"
log "creating RegionWithdrawal $NAMESPACE/$NAME (dry run), cutoff $CUTOFF"
cat <<EOF | kctl apply -f -
apiVersion: withdrawal.ops.dev/v1alpha1
kind: RegionWithdrawal
metadata:
  name: $NAME
  namespace: $NAMESPACE
spec:
  region: PK
  cutoff: "$CUTOFF"
  timeZone: Asia/Karachi
  selector:
    matchLabels:
      bes.example.com/region: pk
  # Only the dry-run executor exists so far: every step records what it would
  # do, in status and an Event, and touches nothing.
  dryRun: true
  notify:
    announce: {offset: -5m}
    reminders:
      schedule: "* * * * *"
    final: {offset: -1m}
    recipients:
      configMaps:
        - name: pk-recipients
          format: CSV
    webhook:
      url: http://127.0.0.1:9/hook
      signingSecretRef: {name: pk-webhook-signing, key: hmac-key}
  export:
    start: {offset: -4m}
    deadline: {offset: -3m}
    jobTemplate:
      spec:
        backoffLimit: 0
        template:
          spec:
            restartPolicy: Never
            containers:
              - name: exporter
                image: busybox
                command: ["true"]
  drain:
    start: {offset: -2m30s}
    interval: 10s
    timeout: 2m
  routing:
    at: {offset: 0s}
    mode: Block451
EOF

show() {
  local label="$1" secs="$2" local_time=""
  local_time="$(TZ=Asia/Karachi date -d "@$((now + secs))" '+%H:%M:%S %Z' 2>/dev/null || true)"
  printf '  %-22s %s  %s\n' "$label" "$(at "$secs")" "$local_time" >&2
}
log "timeline (UTC, Asia/Karachi):"
show "notify: announcement" 60
printf '  %-22s every minute from the announcement until the final notice\n' "notify: reminders" >&2
show "export: start" 120
show "export: deadline" 180
show "drain: start" 210
show "notify: final notice" 300
show "routing: 451 (cutoff)" 360

cat >&2 <<EOF

[demo] Watch it in another terminal:

    $BIN/kubectl --kubeconfig $KUBECONFIG_PATH get rw -n $NAMESPACE -w

  and its steps and Events:

    $BIN/kubectl --kubeconfig $KUBECONFIG_PATH describe rw -n $NAMESPACE $NAME
    $BIN/kubectl --kubeconfig $KUBECONFIG_PATH get events -n $NAMESPACE -w

[demo] Starting the operator. Press Ctrl-C to stop it and delete the cluster.

EOF

# In the background so that the traps run as soon as a signal arrives; the
# cleanup stops it with SIGTERM, which it handles as a graceful shutdown.
"$OPERATOR" \
  --kubeconfig "$KUBECONFIG_PATH" \
  --metrics-bind-address=0 \
  --health-probe-bind-address=127.0.0.1:0 \
  --leader-elect=false \
  --zap-log-level="$LOG_LEVEL" &
OP_PID=$!
set +e
wait "$OP_PID"
rc=$?
set -e
OP_PID=""
log "the operator exited with status $rc"
exit "$rc"
