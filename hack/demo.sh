#!/usr/bin/env bash
# `make demo`: the Pakistan withdrawal, compressed into about four minutes,
# carried out for real on the local cluster's real node (hack/real-node.sh).
#
# 1. builds the pinned tools, the node's images and the kubectl plugin;
# 2. starts the local cluster with its real node, or reuses one (needs root);
# 3. releases this tree to the node's OCI registry (make release: the image
#    index, its SBOM and the chart) and installs the operator from there
#    with helm install oci://..., into rwo-system, which enforces the
#    restricted Pod Security Standard; containerd pulls the image;
# 4. runs the sample regional app as real pods in bes-system behind a
#    Service and an Ingress for pk.bes.example.com, served by Traefik on
#    127.0.0.1:18080, and a volume of sample customer data;
# 5. starts the customers' side (hack/demo-sinks): a webhook receiver that
#    prints each signed notice, a mail server that prints each email, and
#    an object store for the encrypted export;
# 6. creates the RegionWithdrawal: announcement, a reminder every minute, the
#    export (the reference exporter in a Job, encrypted to the customer's age
#    key), the final notice, then at the cutoff the drain and the switch to
#    HTTP 451;
# 7. shows the withdrawal live (kubectl withdrawal status -w) and, beside it,
#    what a customer's client gets from the region, until you press Ctrl-C;
#    then it deletes everything. DEMO_KEEP_CLUSTER=1 keeps the cluster.
#
# Whatever ends it (Ctrl-C, SIGTERM, SIGHUP, or the reader of its output
# going away, as tee does in `make demo 2>&1 | tee demo.log` when Ctrl-C
# reaches it too) tears down what it started: the customers' side, and the
# cluster with its real node, whose processes run in sessions of their own
# that no signal to the terminal reaches. The teardown's output goes to
# DEMO_TEARDOWN_LOG (.kwok/demo-teardown.log unless told), and to stderr
# while something still reads it.
#
# DEMO_DRY_RUN=1 rehearses instead (spec.dryRun: every step records what it
# would do and touches nothing). Running it again is safe: a cluster that is
# still up is reused and the withdrawal is created afresh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BIN:-$ROOT/bin}"
NAMESPACE=bes-system
OPERATOR_NS=rwo-system
NAME=pakistan
HOST=pk.bes.example.com
INGRESS=http://127.0.0.1:18080
NODE_ADDRESS=10.244.0.1
# The real node's registry (hack/real-node.sh), and the version this tree is
# released to it as.
REGISTRY="$NODE_ADDRESS:5000"
DEMO_VERSION="${DEMO_VERSION:-v0.0.0-demo}"
OPERATOR_IMAGE=""
DRY_RUN="${DEMO_DRY_RUN:-0}"
LEAD="${DEMO_LEAD_SECONDS:-240}"
LOCAL_CLUSTER="$ROOT/hack/local-cluster.sh"
TEARDOWN_LOG="${DEMO_TEARDOWN_LOG:-${KWOK_WORKDIR:-$ROOT/.kwok}/demo-teardown.log}"
cd "$ROOT"

WORK=""
# Background processes to stop: the customers' side, the client loop, the
# status watch.
PIDS=()
KUBECONFIG_PATH=""
CLUSTER_STARTED=""
TEARING_DOWN=""
STDERR_GONE=""

log() { printf '\n[demo] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
kctl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@"; }

# trap_signals makes every way the demo can end go through teardown. A
# signal's trap exits, and the exit runs teardown. SIGPIPE is among them: the
# demo's stderr may be a pipe whose reader (tee) the same Ctrl-C killed, and
# writing to it would otherwise end the demo on the spot, teardown unrun.
trap_signals() {
  trap teardown EXIT
  trap 'on_signal 129' HUP
  trap 'on_signal 130' INT
  trap 'on_signal 141' PIPE
  trap 'on_signal 143' TERM
}

# on_signal ignores every further signal before it exits: signals come in
# pairs (kill -TERM to make's process group reaches the demo, and make passes
# it on again), and a second one taken while the first one's exit begins the
# teardown would exit from the teardown itself.
on_signal() {
  trap '' INT TERM HUP PIPE
  exit "$1"
}

# teardown stops what the demo started. It runs once, whatever calls it
# again; it ignores further signals (a second Ctrl-C, the TERM make passes
# on) so that it is never cut short half-way, and nothing in it stops it on
# an error. Its output goes to TEARDOWN_LOG, and to the demo's stderr only
# while that can still be written to.
teardown() {
  local rc=$?
  trap '' INT TERM HUP PIPE
  trap - EXIT
  [[ -z "$TEARING_DOWN" ]] || return 0
  TEARING_DOWN=1
  set +e
  mkdir -p "$(dirname "$TEARDOWN_LOG")" 2>/dev/null
  { : >"$TEARDOWN_LOG"; } 2>/dev/null || TEARDOWN_LOG=/dev/null
  # fd 3: the demo's stderr, perhaps a closed pipe; fd 4: the log.
  exec 3>&2 4>>"$TEARDOWN_LOG" >&4 2>&4
  say "stopping (exit status $rc); the teardown's log is $TEARDOWN_LOG"
  stop_children
  if [[ -n "$CLUSTER_STARTED" && "${DEMO_KEEP_CLUSTER:-}" == "1" ]]; then
    say "keeping the cluster (DEMO_KEEP_CLUSTER=1); stop it with: RWO_REAL_NODE=1 hack/local-cluster.sh down"
    say "kubeconfig: $KUBECONFIG_PATH"
  elif [[ -n "$CLUSTER_STARTED" ]]; then
    say "deleting the cluster and its real node (set DEMO_KEEP_CLUSTER=1 to keep it)"
    # Its output through relay, which always has somewhere to write:
    # local-cluster.sh and real-node.sh stop at their first failed write.
    cluster_down </dev/null 2>&1 | relay
    if ((PIPESTATUS[0] != 0)); then
      say "error: deleting the cluster failed (see above); run: RWO_REAL_NODE=1 hack/local-cluster.sh down"
      ((rc != 0)) || rc=1
    fi
  fi
  [[ -z "$WORK" ]] || rm -rf "$WORK"
  say "stopped"
  exit "$rc"
}

# say writes a line of the teardown to its log and, while it can, to the
# demo's stderr.
say() {
  printf '[demo] %s\n' "$*" >&4
  to_stderr "[demo] $*"
}

# relay copies its input, line by line, to the log and, while it can, to
# the demo's stderr.
relay() {
  local line
  while IFS= read -r line; do
    printf '%s\n' "$line" >&4
    to_stderr "$line"
  done
}

to_stderr() {
  [[ -z "$STDERR_GONE" ]] || return 0
  { printf '%s\n' "$1" >&3; } 2>/dev/null || STDERR_GONE=1
}

# stop_children stops the background processes: TERM, up to 5 s to go,
# then KILL.
stop_children() {
  ((${#PIDS[@]})) || return 0
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for _ in $(seq 1 20); do
    any_running "${PIDS[@]}" || break
    sleep 0.25
  done
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait "${PIDS[@]}" 2>/dev/null
  PIDS=()
}

# any_running says whether one of the processes runs (a child that exited
# and was not waited for yet is no longer running).
any_running() {
  local p state
  for p; do
    state="$(ps -o stat= -p "$p" 2>/dev/null)" && [[ "$state" != Z* ]] && return 0
  done
  return 1
}

require_root() {
  [[ $EUID -eq 0 ]] || die "the demo runs real pods on this machine and needs root (containerd, network namespaces, mounts)"
}

build() {
  log "building the pinned tools (the first run builds Kubernetes, the kubelet and Traefik from source: 15-25 minutes on 2 cores)"
  "$ROOT/hack/tools.sh" etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwokctl helm kubelet kube-proxy traefik cyclonedx-gomod

  log "building the node's images (pause, sample app) and the kubectl plugin"
  go run ./hack/image -out "$BIN/images" pause sample-app >&2
  go build -o "$BIN/kubectl-withdrawal" ./cmd/kubectl-withdrawal
  go build -o "$WORK/demo-sinks" ./hack/demo-sinks
}

cluster_up() {
  log "starting the local cluster with its real node"
  # Before `up`: a signal in the middle of it leaves processes only `down`
  # stops.
  CLUSTER_STARTED=1
  KUBECONFIG_PATH="$(RWO_REAL_NODE=1 "$LOCAL_CLUSTER" up)"
  # A reused cluster gets the images just built.
  RWO_REAL_NODE=1 "$LOCAL_CLUSTER" load-images >/dev/null 2>&1
}

# cluster_down runs in a session of its own, which no signal to the
# terminal reaches (kwokctl would take a second Ctrl-C as its own).
cluster_down() {
  setsid --wait env RWO_REAL_NODE=1 "$LOCAL_CLUSTER" down
}

install_operator() {
  local ns
  for ns in "$OPERATOR_NS" "$NAMESPACE"; do
    kctl create namespace "$ns" --dry-run=client -o yaml | kctl apply -f - >/dev/null
  done
  kctl label namespace "$OPERATOR_NS" pod-security.kubernetes.io/enforce=restricted --overwrite >/dev/null

  # This machine's platform only; make release pushes linux/amd64 and
  # linux/arm64.
  log "releasing $DEMO_VERSION to the node's registry $REGISTRY (make release)"
  go run ./hack/release -version "$DEMO_VERSION" -registry "$REGISTRY" -plain-http \
    -platforms "linux/$(go env GOARCH)" -out "$WORK/release" >&2
  OPERATOR_IMAGE="$(sed -n 's/^  "image": "\(.*\)",$/\1/p' "$WORK/release/release.json")"
  [[ -n "$OPERATOR_IMAGE" ]] || die "the release named no image ($WORK/release/release.json)"

  log "installing the operator with Helm from oci://$REGISTRY/charts/region-withdrawal-operator (image $OPERATOR_IMAGE)"
  "$BIN/helm" upgrade --install rwo "oci://$REGISTRY/charts/region-withdrawal-operator" --version "${DEMO_VERSION#v}" --plain-http \
    --kubeconfig "$KUBECONFIG_PATH" --namespace "$OPERATOR_NS" \
    --set "watchNamespaces={$NAMESPACE}" --set "tenancy.namespaces={$NAMESPACE}" --set minReminderSpacing=1m --set "egress.allowCIDRs={$NODE_ADDRESS/32}" --wait --timeout 3m >&2

  # A withdrawal left over from an earlier run keeps its old timeline: cancel
  # nothing, just remove it (the operator's finalizer cleans up after it).
  if kctl -n "$NAMESPACE" get regionwithdrawal "$NAME" >/dev/null 2>&1; then
    log "removing the withdrawal left over from an earlier run"
    kctl -n "$NAMESPACE" delete regionwithdrawal "$NAME" --wait=true --timeout=60s
  fi
}

start_customers() {
  log "starting the customers' side: webhook receiver, mail server, object store on $NODE_ADDRESS"
  printf 'demo-only-signing-key-not-a-secret' >"$WORK/hmac-key"
  # A process substitution, so that $! is the sinks themselves.
  "$WORK/demo-sinks" -host "$NODE_ADDRESS" -dir "$WORK" -hmac-key-file "$WORK/hmac-key" > >(sed -u 's/^/[customers] /') &
  PIDS+=($!)
  for _ in $(seq 1 50); do [[ -f "$WORK/sinks.env" ]] && break; sleep 0.2; done
  [[ -f "$WORK/sinks.env" ]] || die "the customers' side did not start"
  # shellcheck disable=SC1091
  source "$WORK/sinks.env"
}

create_app() {
  log "creating the sample region app, its customers and their data in $NAMESPACE"
  mkdir -p "$WORK/customer-data/c-0001" "$WORK/customer-data/c-0002"
  printf '{"from":"ops","text":"shipment 42 left Karachi"}\n' >"$WORK/customer-data/c-0001/messages.jsonl"
  printf 'name,phone\nAyesha,+92-21-000\n' >"$WORK/customer-data/c-0002/contacts.csv"
  chmod -R a+rX "$WORK/customer-data"
kctl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolume
metadata: {name: bes-system-customer-data}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Delete
  storageClassName: ""
  claimRef: {namespace: $NAMESPACE, name: customer-data}
  local: {path: $WORK/customer-data}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [rwo-real-node]}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: customer-data, namespace: $NAMESPACE}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  volumeName: bes-system-customer-data
  resources: {requests: {storage: 1Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: pk-chat
  namespace: $NAMESPACE
  labels: {app: pk-chat, bes.example.com/region: pk}
spec:
  replicas: 2
  selector:
    matchLabels: {app: pk-chat}
  template:
    metadata:
      labels: {app: pk-chat, bes.example.com/region: pk}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: chat
          image: rwo.local/sample-app:dev
          imagePullPolicy: Never
          ports: [{containerPort: 8080, name: http}]
          readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 1}
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
---
apiVersion: v1
kind: Service
metadata:
  name: pk-chat
  namespace: $NAMESPACE
  labels: {app: pk-chat, bes.example.com/region: pk}
spec:
  selector: {app: pk-chat}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: pk-public
  namespace: $NAMESPACE
  labels: {bes.example.com/region: pk}
spec:
  rules:
    - host: $HOST
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: pk-chat, port: {name: http}}}}
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
    c-0002,Karachi Textiles,,$WEBHOOK_URL,ur-PK
    c-0003,Lahore Health,admin@lahore-health.example,$WEBHOOK_URL,en-PK
---
apiVersion: v1
kind: Secret
metadata: {name: region-withdrawal-webhook, namespace: $NAMESPACE}
stringData:
  hmac-key: demo-only-signing-key-not-a-secret
---
apiVersion: v1
kind: Secret
metadata: {name: region-withdrawal-smtp, namespace: $NAMESPACE}
stringData:
  username: $SMTP_USERNAME
  password: $SMTP_PASSWORD
EOF
  kctl -n "$NAMESPACE" wait --for=condition=Available deployment/pk-chat --timeout=120s >/dev/null
}

create_withdrawal() {
  local now mode
  now="$(date -u +%s)"
  at() { date -u -d "@$((now + $1))" +%Y-%m-%dT%H:%M:%SZ; }
  CUTOFF="$(at "$LEAD")"
  mode="for real"
  [[ "$DRY_RUN" == 1 ]] && mode="as a dry run"
  log "creating RegionWithdrawal $NAMESPACE/$NAME $mode, cutoff $CUTOFF"
kctl apply -f - >/dev/null <<EOF
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
  dryRun: $([[ "$DRY_RUN" == 1 ]] && echo true || echo false)
  notify:
    announce: {offset: -$((LEAD - 20))s}
    reminders:
      schedule: "* * * * *"
    final: {offset: -40s}
    # c-0002 reads Urdu (config/samples/pakistan.yaml has every kind).
    locales:
      - locale: ur
        announcement:
          subject: "پاکستان میں سروس {{.CutoffDate}} کو {{.CutoffTime}} پر بند ہو جائے گی"
          text: "ہم پاکستان میں اپنی سروس {{.CutoffDate}} کو {{.CutoffTime}} ({{.Cutoff.Format \"MST\"}}) پر بند کر دیں گے۔"
        reminder:
          subject: "یاد دہانی: پاکستان میں سروس {{.CutoffTime}} پر بند ہو جائے گی"
          text: "یاد دہانی: پاکستان میں سروس {{.CutoffDate}} کو {{.CutoffTime}} پر بند ہو جائے گی۔"
        final:
          subject: "آخری اطلاع: پاکستان میں سروس {{.CutoffTime}} پر بند ہو جائے گی"
          text: "یہ آخری اطلاع ہے: پاکستان میں سروس {{.CutoffDate}} کو {{.CutoffTime}} پر بند ہو جائے گی۔"
    recipients:
      configMaps:
        - name: pk-recipients
          format: CSV
    webhook:
      signingSecretRef: {name: region-withdrawal-webhook, key: hmac-key}
      caBundle: $(base64 -w0 "$WORK/webhook-ca.pem")
    email:
      host: $SMTP_HOST
      port: $SMTP_PORT
      security: StartTLS
      from: "Service Notices <notices@bes.example.com>"
      credentialsSecretRef: {name: region-withdrawal-smtp}
      caBundle: $(base64 -w0 "$WORK/smtp-ca.pem")
  export:
    start: {offset: -$((LEAD - 30))s}
    deadline: {offset: -20s}
    maxAttempts: 3
    jobTemplate:
      spec:
        template:
          spec:
            restartPolicy: Never
            securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
            containers:
              - name: exporter
                image: $OPERATOR_IMAGE
                # The PUT carries a Content-Length: the archive is spooled
                # to an emptyDir first (the root filesystem is read-only).
                args: [export, --source=/data, "--destination=$STORE_URL/exports/$NAMESPACE.tar.gz.age", "--age-recipient=$AGE_RECIPIENT", "--egress-allow-cidrs=$NODE_ADDRESS/32", --egress-allow-http, --spool-dir=/spool]
                volumeMounts: [{name: data, mountPath: /data, readOnly: true}, {name: spool, mountPath: /spool}]
                securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
            volumes:
              - name: data
                persistentVolumeClaim: {claimName: customer-data, readOnly: true}
              - name: spool
                emptyDir: {}
  drain:
    start: {offset: 0s}
    timeout: 2m
  routing:
    at: {offset: 0s}
    mode: Block451
    noticeBackend:
      blockedBy: https://bes.example.com/transparency/pk
EOF
}

# watch_withdrawal shows the withdrawal until something ends the demo.
watch_withdrawal() {
  # What a customer's client gets from the region, printed when it changes.
  (
    last=""
    while :; do
      got="$(curl -s -o /dev/null -m 2 -w '%{http_code}' -H "Host: $HOST" "$INGRESS/" || echo "no answer")"
      if [[ "$got" != "$last" ]]; then
        printf '[client] %s  GET http://%s/ -> %s\n' "$(date +%H:%M:%S)" "$HOST" "$got"
        last="$got"
      fi
      sleep 0.5
    done
  ) &
  PIDS+=($!)

cat >&2 <<EOF

[demo] The withdrawal runs for real; the cutoff is $CUTOFF, $LEAD s from now.
       [customers] lines are what the customers' endpoints receive, [client]
       lines what a client of the region gets. See it as a client yourself:

    curl -si -H 'Host: $HOST' $INGRESS/

       (200 from the app until the cutoff, then 451 with a Link: rel="blocked-by").
       Elsewhere: $BIN/kubectl --kubeconfig $KUBECONFIG_PATH get events -n $NAMESPACE -w
       Cancel it:  $BIN/kubectl-withdrawal --kubeconfig $KUBECONFIG_PATH cancel $NAME -n $NAMESPACE --after-cutoff
       Its signed evidence, any time (docs/evidence.md): the operator's key, the latest checkpoint, the bundle, then verify
         $BIN/kubectl-withdrawal --kubeconfig $KUBECONFIG_PATH evidence key $NAME -n $NAMESPACE --checkpoint-file $WORK/$NAME.checkpoint
         $BIN/kubectl-withdrawal --kubeconfig $KUBECONFIG_PATH evidence export $NAME -n $NAMESPACE \\
           --operator-namespace $OPERATOR_NS --key-secret rwo-region-withdrawal-operator-evidence-key --with-salt -f $WORK/$NAME.evidence.jsonl.gz
         $BIN/kubectl-withdrawal evidence verify $WORK/$NAME.evidence.jsonl.gz --key '<the key printed above>' \\
           --checkpoint $WORK/$NAME.checkpoint --recipient <customer id> --before $CUTOFF
         (before the withdrawal ends, its ledger has no seal yet: add --allow-open)

[demo] Press Ctrl-C to stop and delete everything.

EOF

  "$BIN/kubectl-withdrawal" --kubeconfig "$KUBECONFIG_PATH" status "$NAME" -n "$NAMESPACE" -w &
  PIDS+=($!)
  wait "${PIDS[-1]}"
}

main() {
  require_root
  trap_signals
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/rwo-demo-XXXXXX")"
  chmod 755 "$WORK"
  log "Ctrl-C stops the demo and deletes what it started; the teardown's log will be $TEARDOWN_LOG"
  build
  cluster_up
  install_operator
  start_customers
  create_app
  create_withdrawal
  watch_withdrawal
}

# Sourced (by the teardown, or a test), it only defines the functions.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
