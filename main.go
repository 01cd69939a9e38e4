/*
Copyright 2026 The region-withdrawal-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Command region-withdrawal-operator runs the RegionWithdrawal controller.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	// Region time zones must resolve on a distroless image that has no
	// zoneinfo of its own.
	_ "time/tzdata"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	cradmission "sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/controllers"
	"github.com/ops-dev/region-withdrawal-operator/internal/admission"
	"github.com/ops-dev/region-withdrawal-operator/internal/buildinfo"
	"github.com/ops-dev/region-withdrawal-operator/internal/clockoffset"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/witness"
	"github.com/ops-dev/region-withdrawal-operator/internal/export"
	"github.com/ops-dev/region-withdrawal-operator/internal/export/exporter"
	"github.com/ops-dev/region-withdrawal-operator/internal/fleet"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff/endpoint"
	"github.com/ops-dev/region-withdrawal-operator/internal/keysecret"
	"github.com/ops-dev/region-withdrawal-operator/internal/memlimit"
	"github.com/ops-dev/region-withdrawal-operator/internal/metrics"
	"github.com/ops-dev/region-withdrawal-operator/internal/noticeserver"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/render"
	"github.com/ops-dev/region-withdrawal-operator/internal/routing"
	"github.com/ops-dev/region-withdrawal-operator/internal/s3store"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
	"github.com/ops-dev/region-withdrawal-operator/internal/selftest"
	"github.com/ops-dev/region-withdrawal-operator/internal/steps"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
	"github.com/ops-dev/region-withdrawal-operator/internal/tenant"
)

// subcommands are the other programs this binary (and so the one image)
// serves besides the operator, each with its own flags.
var subcommands = map[string]func(args []string) error{
	exporter.Name:    exporter.Main,
	"notice-backend": noticeserver.Main,
	endpoint.Name:    endpoint.Main,
	witness.Name:     witness.Main,
	// Hidden: the chart's helm test hook runs it.
	selftest.Name: selftest.Main,
	"version":     printVersion,
}

// Version is the operator's version, set at build time with
// -ldflags "-X main.Version=v1.2.3"; empty, the module version or the
// commit the binary was built from (buildinfo).
var Version string

// Commit is the commit the operator was built from, set at build time with
// -ldflags "-X main.Commit=<hash>" (hack/release does); empty, the one the
// go command recorded, if any.
var Commit string

// printVersion is the version subcommand: the build, and the API it serves.
func printVersion(args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("version takes no arguments, not %q", args)
	}
	fmt.Printf("region-withdrawal-operator %s (API %s)\n", buildinfo.Version(Version, Commit), v1.GroupVersion)
	return nil
}

func main() {
	run := runManager
	args := os.Args[1:]
	if len(args) > 0 {
		if sub, ok := subcommands[args[0]]; ok {
			run, args = sub, args[1:]
		} else if args[0] == "manager" {
			args = args[1:]
		}
	}
	if err := run(args); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// managerFlags are the manager's command line.
type managerFlags struct {
	webhookAddr             string
	webhookCertDir          string
	minNotice               time.Duration
	fleetRole               string
	fleetCoordinator        string
	minNoticeFloor          time.Duration
	metricsAddr             string
	metricsSecure           bool
	probeAddr               string
	leaderElect             bool
	leaderElectionNamespace string
	watchNamespaces         string
	qps                     float64
	burst                   int
	maxConcurrent           int
	riskWindow              time.Duration
	requireApproval         []v1.StepName
	exportAllowedOrigins    *export.Origins
	exportPods              export.PodPolicy
	noticeBackendImage      string
	clusterDomain           string
	noticeBackend           routing.NoticeBackendOptions
	egressAllowCIDRs        string
	egressDenyCIDRs         string
	egressAllowHTTP         bool
	defaultServiceAccount   string
	serviceAccounts         []string
	noCrossNamespace        bool
	minReminderSpacing      time.Duration
	executeTimeout          time.Duration
	memoryLimitRatio        float64
	legacyWebhookHeaders    bool
	namespace               string
	handoffURL              string
	handoffKeySecret        string
	handoffMaxExpiry        time.Duration
	evidence                bool
	evidenceKeySecret       string
	evidenceCopyURL         string
	evidenceStore           string
	evidenceS3              s3store.Config
	zap                     zap.Options
}

func parseManagerFlags(args []string) (*managerFlags, error) {
	f := &managerFlags{}
	fs := flag.CommandLine
	fs.StringVar(&f.webhookAddr, "webhook-bind-address", "0", "Address the admission webhook (refusing a cutoff brought forward past --min-notice) binds to, e.g. :9443; \"0\" disables it.")
	fs.StringVar(&f.webhookCertDir, "webhook-cert-dir", "", "Directory holding the admission webhook's tls.crt and tls.key; empty: the controller-runtime default.")
	fs.DurationVar(&f.minNotice, "min-notice", 72*time.Hour, "Least notice customers already told must keep when a cutoff is brought forward; the admission webhook refuses a move that leaves less. spec.notify.minNotice replaces it per withdrawal.")
	fs.DurationVar(&f.minNoticeFloor, "min-notice-floor", time.Hour, "Least spec.notify.minNotice the admission webhook accepts.")
	fs.StringVar(&f.fleetCoordinator, "fleet-coordinator-kubeconfig", "", "On a fleet member: a kubeconfig for the coordinator's cluster that may read RegionWithdrawals there (get, list), so that a member's drain waits for the coordinator's export as a coordinator's waits for its own (status.fleet.coordinatorExport). Empty: a member's drain does not wait for it.")
	fs.StringVar(&f.fleetRole, "fleet-role", "", "Role of the withdrawals that do not set spec.fleet.role, when the same withdrawal is applied to several clusters: Coordinator runs every step, Member only drains and switches routes (notify and export are the coordinator's). Empty: Coordinator, and no status.fleet.")
	fs.StringVar(&f.metricsAddr, "metrics-bind-address", "0", "Address the metrics endpoint binds to, e.g. :8443; \"0\" disables it.")
	fs.BoolVar(&f.metricsSecure, "metrics-secure", true, "Serve metrics over HTTPS, allowing only callers authenticated and authorised by the API server (TokenReview and SubjectAccessReview).")
	fs.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", "Address the /healthz and /readyz probes bind to.")
	fs.BoolVar(&f.leaderElect, "leader-elect", false, "Elect a leader so that only one replica acts; the lease is released on shutdown.")
	fs.StringVar(&f.leaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader-election Lease; defaults to the pod's namespace.")
	fs.StringVar(&f.watchNamespaces, "watch-namespaces", "", "Comma-separated namespaces whose RegionWithdrawals are watched; empty watches all.")
	// A cutoff makes every withdrawal of a region act in the same second;
	// the burst lets their status writes through without queueing them
	// behind the client-side rate limiter.
	fs.Float64Var(&f.qps, "kube-api-qps", 100, "Requests per second to the API server, sustained.")
	fs.IntVar(&f.burst, "kube-api-burst", 300, "Requests to the API server in a burst.")
	// At a cutoff every withdrawal of a region is due in the same second,
	// and a reconcile mostly waits on the API server: with 16 workers, 200
	// withdrawals waited 1.1 s in the queue on average, with 64, 0.7 s
	// (hack/bench/cronjob).
	fs.IntVar(&f.maxConcurrent, "max-concurrent-reconciles", controllers.DefaultMaxConcurrentReconciles, "Withdrawals reconciled in parallel.")
	fs.DurationVar(&f.riskWindow, "risk-window", 24*time.Hour, "How long before a due time a missing approval or a suspension raises DeadlineAtRisk.")
	fs.Func("export-allowed-origins", "Comma-separated store origins (https://objects.example.com, s3://bucket, https://*.blob.example.net, file://) export archives, customer manifests and their archives may be at; anything elsewhere fails the export, naming it, before a credential is sent. Empty allows all.",
		func(v string) error {
			o, err := export.ParseOrigins(v)
			f.exportAllowedOrigins = o
			return err
		})
	// What an export pod may be: the Job template is the author's, and its
	// pods run in every namespace the withdrawal selects.
	bindExportPodFlags(fs, &f.exportPods)
	// An installation's own rule, which no withdrawal's author can relax.
	var requireApproval string
	fs.StringVar(&requireApproval, "require-approval", "", "Comma-separated steps (notify, export, drain, routing) that wait for an approval in every withdrawal, whatever its spec.*.requireApproval says.")
	fs.StringVar(&f.noticeBackendImage, "notice-backend-image", routing.DefaultNoticeBackendImage, "Image of the HTTP 451 notice backend the routing step deploys; normally this operator's own image.")
	fs.StringVar(&f.clusterDomain, "cluster-domain", routing.DefaultClusterDomain, "The cluster's DNS domain: the ExternalName Service that points an Ingress of another namespace at the notice backend names it under this domain.")
	// The notice backend's settings; on a change, each backend running is
	// brought to them (routing's Observe).
	bindNoticeBackendFlags(fs, &f.noticeBackend)
	// Webhook URLs, SMTP hosts and the HTTP recipient source come from
	// withdrawal authors and recipient rows: untrusted. Nothing internal is
	// dialled unless listed here.
	fs.StringVar(&f.egressAllowCIDRs, "egress-allow-cidrs", "", "Comma-separated CIDRs or IPs that notices and the HTTP recipient source may reach although they are loopback, link-local, private or CGNAT addresses (refused by default).")
	fs.StringVar(&f.egressDenyCIDRs, "egress-deny-cidrs", "", "Comma-separated CIDRs that are refused too, such as the cluster's Pod and Service ranges when they are public addresses.")
	fs.BoolVar(&f.egressAllowHTTP, "egress-allow-http", false, "Let webhooks and the HTTP recipient source use plain http:// URLs; only https is allowed by default.")
	// A withdrawal's author may use what its ServiceAccount may, and no more.
	fs.Func("service-accounts", "Comma-separated ServiceAccount names withdrawals may act as (the default one included), each in its own namespace; a withdrawal naming another stalls. Empty: any, as far as the operator's RBAC lets it impersonate.", func(v string) error {
		f.serviceAccounts = nil
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				f.serviceAccounts = append(f.serviceAccounts, name)
			}
		}
		return nil
	})
	fs.StringVar(&f.defaultServiceAccount, "default-service-account", "", "ServiceAccount (of each withdrawal's own namespace) that a withdrawal without spec.serviceAccountName acts as. Empty: such withdrawals act as the operator itself, which only a single-tenant installation with a broad operator role should allow.")
	fs.BoolVar(&f.noCrossNamespace, "no-cross-namespace", false, "Refuse spec.namespaceSelector: every withdrawal acts only in its own namespace.")
	fs.DurationVar(&f.minReminderSpacing, "min-reminder-spacing", controllers.DefaultMinReminderSpacing, "Least time between two reminders of a withdrawal; a schedule that fires closer together stalls it with InvalidSpec.")
	fs.DurationVar(&f.executeTimeout, "execute-timeout", controllers.DefaultExecuteTimeout, "Longest one step action may run in one reconcile (reading a recipient source, a batch of notices); past it the action is retried.")
	fs.BoolVar(&f.legacyWebhookHeaders, "webhook-legacy-headers", false, "Also send the webhook headers from before Standard Webhooks (Idempotency-Key, X-Withdrawal-Timestamp, X-Withdrawal-Signature), for receivers that still check them.")
	fs.StringVar(&f.namespace, "namespace", os.Getenv("POD_NAMESPACE"), "The installation's own namespace (default: the POD_NAMESPACE variable): where the handoff key Secret and the fetch records live.")
	fs.StringVar(&f.handoffURL, "handoff-url", "", "Public URL of the handoff endpoint (the \"handoff\" subcommand), e.g. https://export.example.com. Set, withdrawals may give customers personal download links (spec.export.handoff); empty, such withdrawals stall.")
	fs.DurationVar(&f.handoffMaxExpiry, "handoff-max-expiry", 90*24*time.Hour, "Longest time after the cutoff a handoff link works, whatever spec.export.handoff.expiresAfter asks; 0: no cap.")
	fs.StringVar(&f.handoffKeySecret, "handoff-key-secret", endpoint.DefaultKeySecret, "Secret in --namespace holding the key the handoff links are made with; created with a random key when missing.")
	fs.BoolVar(&f.evidence, "evidence", true, "Keep each withdrawal's signed evidence ledger in --namespace (docs/evidence.md); off without --namespace.")
	fs.StringVar(&f.evidenceKeySecret, "evidence-key-secret", "region-withdrawal-operator-evidence-key", "Secret in --namespace holding the Ed25519 seed the evidence ledgers are signed with; created with a random seed when missing.")
	fs.StringVar(&f.evidenceCopyURL, "evidence-copy-url", "", "Base URL (an object store bucket or pre-signed prefix) each evidence shard is PUT to as it grows, as <url>/<withdrawal UID>/<shard>.json; empty keeps the ledgers in the cluster only.")
	fs.StringVar(&f.evidenceStore, "evidence-store", "", "Object store new evidence ledgers are kept in, as C2SP tlog-tiles under s3://bucket[/prefix]/<withdrawal UID>/, with only the latest signed checkpoint in a ConfigMap of --namespace (reached with --s3-endpoint, --s3-region, --s3-path-style and credentials from AWS_* in the environment); empty keeps them in ConfigMaps.")
	fs.Float64Var(&f.memoryLimitRatio, "memory-limit-ratio", 0.9, "Set the Go runtime's soft memory limit to this share of the container's memory limit (its cgroup's), so that the garbage collector works harder near the limit instead of the process being killed at it; 0 leaves it unset. GOMEMLIMIT, when set, wins.")
	f.evidenceS3.BindFlags(fs)
	f.zap.BindFlags(fs)
	err := fs.Parse(args)
	if err != nil {
		return nil, err
	}
	if f.memoryLimitRatio < 0 || f.memoryLimitRatio > 1 {
		return nil, fmt.Errorf("--memory-limit-ratio: %v is not between 0 and 1", f.memoryLimitRatio)
	}
	if f.requireApproval, err = parseSteps(requireApproval); err != nil {
		return nil, fmt.Errorf("--require-approval: %w", err)
	}
	if err := f.noticeBackend.Validate(); err != nil {
		return nil, fmt.Errorf("--notice-backend-*: %w", err)
	}
	switch v1.FleetRole(f.fleetRole) {
	case "", v1.FleetCoordinator, v1.FleetMember:
	default:
		return nil, fmt.Errorf("--fleet-role: %q is neither Coordinator nor Member", f.fleetRole)
	}
	if f.evidenceCopyURL != "" {
		if err := ledger.CheckCopyURL(f.evidenceCopyURL); err != nil {
			return nil, fmt.Errorf("--evidence-copy-url: %w", err)
		}
	}
	if f.evidenceStore != "" {
		if _, err := s3store.NewBucket(nil, f.evidenceStore); err != nil {
			return nil, fmt.Errorf("--evidence-store: %w", err)
		}
		if _, err := f.evidenceS3.EndpointURL(); err != nil {
			return nil, err
		}
	}
	if f.handoffURL != "" {
		if err := handoff.CheckBaseURL(f.handoffURL); err != nil {
			return nil, fmt.Errorf("--handoff-url: %w", err)
		}
		if f.namespace == "" {
			return nil, errors.New("--handoff-url needs --namespace (or POD_NAMESPACE): the key Secret and the fetch records live there")
		}
	}
	return f, nil
}

// bindExportPodFlags registers the --export-* flags of the pod policy.
func bindExportPodFlags(fs *flag.FlagSet, p *export.PodPolicy) {
	list := func(v string) []string {
		var out []string
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	fs.StringVar(&p.ServiceAccount, "export-service-account", "", "ServiceAccount, in each namespace an export runs in, that every export pod runs as: a Job template naming another is refused (InvalidSpec). Empty: the template's.")
	fs.BoolVar(&p.AllowToken, "export-allow-token", false, "Let export pods have an API token (automountServiceAccountToken, a projected serviceAccountToken); by default the operator turns the token off and refuses templates that ask for one.")
	fs.Func("export-volume-kinds", "Comma-separated volume sources export pods may use (the fields of a Pod's volume: persistentVolumeClaim, secret, csi, ...); default "+strings.Join(export.DefaultVolumeKinds, ",")+". hostPath only if listed.", func(v string) error {
		p.VolumeKinds = list(v)
		if p.VolumeKinds == nil {
			p.VolumeKinds = []string{}
		}
		return nil
	})
	fs.Func("export-secrets", "Comma-separated Secret names export pods may mount or read into their environment, in their own namespace; given empty, none. Not given: any.", func(v string) error {
		p.Secrets = map[string]bool{}
		for _, name := range list(v) {
			p.Secrets[name] = true
		}
		return nil
	})
}

// bindNoticeBackendFlags registers the --notice-backend-* flags, which
// fill o. The structured ones take JSON, as the chart renders them.
func bindNoticeBackendFlags(fs *flag.FlagSet, o *routing.NoticeBackendOptions) {
	fs.Func("notice-backend-replicas", fmt.Sprintf("Pods of each notice backend, at least 1 (default %d).", routing.DefaultNoticeBackendReplicas), func(v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 1 {
			return fmt.Errorf("want a whole number of at least 1, not %q", v)
		}
		o.Replicas = int32(n)
		return nil
	})
	budget := func(into **intstr.IntOrString) func(string) error {
		return func(v string) error {
			if v == "" {
				*into = nil
				return nil
			}
			*into = ptr.To(intstr.Parse(v))
			return nil
		}
	}
	fs.Func("notice-backend-pdb-min-available", "Give each notice backend a PodDisruptionBudget with this minAvailable (a count or a percentage); empty: none.", budget(&o.MinAvailable))
	fs.Func("notice-backend-pdb-max-unavailable", "Give each notice backend a PodDisruptionBudget with this maxUnavailable (a count or a percentage); empty: none. Not with --notice-backend-pdb-min-available.", budget(&o.MaxUnavailable))
	fs.StringVar(&o.PriorityClassName, "notice-backend-priority-class-name", "", "Priority class of the notice backends' pods.")
	fs.Func("notice-backend-node-selector", "Node selector of the notice backends' pods, as a JSON object.", jsonFlag(&o.NodeSelector))
	fs.Func("notice-backend-tolerations", "Tolerations of the notice backends' pods, as a JSON list.", jsonFlag(&o.Tolerations))
	fs.Func("notice-backend-resources", "Container resources of the notice backends, as JSON ({\"requests\":{\"cpu\":\"10m\"}}); empty: requests of 10m CPU and 16Mi memory.", jsonFlag(&o.Resources))
	fs.Func("notice-backend-image-pull-secrets", "Comma-separated Secrets, in each withdrawal's namespace, the notice backend's image is pulled with.", func(v string) error {
		o.ImagePullSecrets = nil
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				o.ImagePullSecrets = append(o.ImagePullSecrets, corev1.LocalObjectReference{Name: name})
			}
		}
		return nil
	})
	fs.Func("notice-backend-pod-security-context", "Pod security context of the notice backends, as JSON; {} leaves the UID to the platform (OpenShift). Empty: non-root, UID and GID 65532, seccomp RuntimeDefault.", jsonFlag(&o.PodSecurityContext))
}

// jsonFlag decodes a flag's JSON value into into, refusing unknown fields
// (a misspelt key would otherwise be dropped without a word).
func jsonFlag(into any) func(string) error {
	return func(v string) error {
		if v == "" {
			return nil
		}
		dec := json.NewDecoder(strings.NewReader(v))
		dec.DisallowUnknownFields()
		return dec.Decode(into)
	}
}

// parseSteps reads a comma-separated list of step names.
func parseSteps(list string) ([]v1.StepName, error) {
	var out []v1.StepName
	for _, name := range strings.Split(list, ",") {
		step := v1.StepName(strings.TrimSpace(name))
		switch {
		case step == "":
			continue
		case !slices.Contains(v1.AllSteps, step):
			return nil, fmt.Errorf("unknown step %q: use notify, export, drain or routing", name)
		case !slices.Contains(out, step):
			out = append(out, step)
		}
	}
	return out, nil
}

// runManager runs the RegionWithdrawal controller; it is what the binary
// does with no subcommand (or "manager").
func runManager(args []string) error {
	f, err := parseManagerFlags(args)
	if err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&f.zap)))
	log := ctrl.Log.WithName("setup")
	if soft, err := memlimit.Apply("/", f.memoryLimitRatio); err != nil {
		// Not fatal: the operator runs as before, without a soft limit.
		log.Error(err, "Could not read the container's memory limit; the Go memory limit is left unset")
	} else if soft > 0 {
		log.Info("Set the Go memory limit from the container's", "bytes", soft, "ratio", f.memoryLimitRatio)
	}

	mgr, err := newManager(f)
	if err != nil {
		return err
	}
	clk := clock.RealClock{}
	m := metrics.New(clk)
	if err := m.Register(crmetrics.Registry); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	policy, err := egress.Parse(f.egressAllowCIDRs, f.egressDenyCIDRs, f.egressAllowHTTP)
	if err != nil {
		return err
	}
	hs, err := setupHandoff(mgr, f)
	if err != nil {
		return err
	}
	evidenceLedger, err := setupEvidence(mgr, f)
	if err != nil {
		return err
	}
	recorder := mgr.GetEventRecorder("region-withdrawal-controller")
	// The executors act as each withdrawal's ServiceAccount.
	tenants := tenant.NewClients(mgr.GetConfig(), mgr.GetClient(), mgr.GetAPIReader(), clk)
	set, rehearsal := steps.New(steps.Options{
		Client: tenants.Client(), APIReader: tenants.Reader(), Mapper: mgr.GetRESTMapper(), Clock: clk,
		Recorder: recorder, Registerer: crmetrics.Registry, Egress: policy, LegacyWebhookHeaders: f.legacyWebhookHeaders, NoticeBackendImage: f.noticeBackendImage, ClusterDomain: f.clusterDomain,
		Handoff: hs, Evidence: evidenceLedger, ExportAllowedOrigins: f.exportAllowedOrigins, ExportPods: f.exportPods, NoticeBackend: f.noticeBackend,
	})
	r := &controllers.RegionWithdrawalReconciler{
		Clock:                   clk,
		Metrics:                 m,
		Recorder:                recorder,
		Executors:               set,
		Rehearsal:               rehearsal,
		RiskWindow:              f.riskWindow,
		RequiredApprovals:       f.requireApproval,
		MaxConcurrentReconciles: f.maxConcurrent,
		DefaultServiceAccount:   f.defaultServiceAccount,
		ServiceAccounts:         f.serviceAccounts,
		NoCrossNamespace:        f.noCrossNamespace,
		OwnNamespace:            f.namespace,
		MinReminderSpacing:      f.minReminderSpacing,
		ExecuteTimeout:          f.executeTimeout,
		Evidence:                evidenceLedger,
		FleetRole:               v1.FleetRole(f.fleetRole),
	}
	// Each copy in a fleet reports how far its API server's clock is from
	// the operator's; one short burst of requests every ten minutes.
	prober, err := clockoffset.ForAPIServer(mgr.GetConfig())
	if err != nil {
		return fmt.Errorf("measuring the API server's clock: %w", err)
	}
	clocks := &clockoffset.Monitor{Prober: prober, Clock: clk, Every: 10 * time.Minute}
	if err := mgr.Add(clocks); err != nil {
		return err
	}
	r.ClockOffsets = clocks
	if f.fleetCoordinator != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", f.fleetCoordinator)
		if err != nil {
			return fmt.Errorf("--fleet-coordinator-kubeconfig: %w", err)
		}
		c, err := client.New(cfg, client.Options{Scheme: mgr.GetScheme()})
		if err != nil {
			return fmt.Errorf("--fleet-coordinator-kubeconfig: %w", err)
		}
		r.Coordinator = &fleet.Coordinator{Reader: c, Name: cfg.Host, Clock: clk}
	}
	if err := targets.WarmUp(mgr); err != nil {
		return err
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the controller: %w", err)
	}
	if f.webhookAddr != "0" {
		mgr.GetWebhookServer().Register(admission.CutoffNoticePath, &webhook.Admission{Handler: &admission.CutoffNotice{
			Decoder: cradmission.NewDecoder(mgr.GetScheme()), Clock: clk, MinNotice: f.minNotice, Floor: f.minNoticeFloor}})
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}

	log.Info("Starting manager", "watchNamespaces", f.watchNamespaces, "leaderElect", f.leaderElect,
		"defaultServiceAccount", f.defaultServiceAccount, "serviceAccounts", f.serviceAccounts, "noCrossNamespace", f.noCrossNamespace)
	return mgr.Start(ctrl.SetupSignalHandler())
}

// setupHandoff readies the handoff links when --handoff-url is set: the
// key (created on first start), and the cache of fetch records whose
// changes wake their withdrawals. Nil without --handoff-url.
func setupHandoff(mgr ctrl.Manager, f *managerFlags) (*handoff.Service, error) {
	if f.handoffURL == "" {
		return nil, nil
	}
	// The manager's client reads from a cache that is not started yet, and
	// would cache every Secret in the cluster: read and create directly.
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	key, err := handoff.EnsureKey(ctx, direct, f.namespace, f.handoffKeySecret)
	if err != nil {
		return nil, fmt.Errorf("the handoff key: %w", err)
	}
	records, err := handoff.NewRecordsCache(mgr.GetConfig(), mgr.GetScheme(), f.namespace)
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(records); err != nil {
		return nil, err
	}
	return &handoff.Service{Links: handoff.Links{BaseURL: f.handoffURL, Key: key, MaxExpiry: f.handoffMaxExpiry},
		Reader: records, Namespace: f.namespace, Records: records,
		// The link indexes are few writes, read uncached.
		Publisher: &handoff.Publisher{Client: direct, Reader: direct, Namespace: f.namespace, Key: key, MaxExpiry: f.handoffMaxExpiry,
			Pages: render.HandoffPages}}, nil
}

// setupEvidence readies the evidence ledger when --evidence is on and the
// installation's namespace is known: the signing key (created on first
// start) and the writer of the ledgers' shards. Nil when off.
func setupEvidence(mgr ctrl.Manager, f *managerFlags) (*ledger.Ledger, error) {
	log := ctrl.Log.WithName("setup")
	if !f.evidence {
		log.Info("The evidence ledger is off (--evidence=false)")
		return nil, nil
	}
	if f.namespace == "" {
		log.Info("The evidence ledger is off: --namespace (or POD_NAMESPACE) is not set, and the ledgers live there")
		return nil, nil
	}
	// Uncached, as for the handoff key: the ledgers are read by no one
	// else, and a cache would hold every ConfigMap of the namespace.
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	key, err := keysecret.Ensure(ctx, direct, f.namespace, f.evidenceKeySecret, "evidence")
	if err != nil {
		return nil, fmt.Errorf("the evidence key: %w", err)
	}
	o := ledger.Options{Client: direct, Reader: direct, Namespace: f.namespace, Key: key}
	if f.evidenceCopyURL != "" {
		o.CopyTo = &ledger.HTTPCopier{BaseURL: f.evidenceCopyURL}
	}
	if f.evidenceStore != "" {
		c, err := f.evidenceS3.Client(nil, nil)
		if err != nil {
			return nil, fmt.Errorf("--evidence-store: %w", err)
		}
		b, err := s3store.NewBucket(c, f.evidenceStore)
		if err != nil {
			return nil, fmt.Errorf("--evidence-store: %w", err)
		}
		o.Tiles = &ledger.TileStore{Store: b, Location: strings.TrimSuffix(f.evidenceStore, "/")}
	}
	l, err := ledger.New(o)
	if err != nil {
		return nil, err
	}
	log.Info("The evidence ledger is on", "namespace", f.namespace, "verifierKey", l.VerifierKey(), "copied", f.evidenceCopyURL != "", "store", f.evidenceStore)
	return l, nil
}

// newManager builds the controller manager the flags describe.
func newManager(f *managerFlags) (ctrl.Manager, error) {
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = float32(f.qps), f.burst

	metricsOpts := metricsserver.Options{
		BindAddress:   f.metricsAddr,
		SecureServing: f.metricsSecure,
		// HTTP/2 is off: it has been the vector of several denial-of-service
		// attacks (CVE-2023-44487, CVE-2023-39325) on exposed endpoints.
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
	}
	if f.metricsSecure {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	cacheOpts := scheme.CacheOptions(f.watchNamespaces)
	var webhookServer webhook.Server
	if f.webhookAddr != "0" {
		host, port, err := net.SplitHostPort(f.webhookAddr)
		if err != nil {
			return nil, fmt.Errorf("--webhook-bind-address: %w", err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("--webhook-bind-address: %w", err)
		}
		webhookServer = webhook.NewServer(webhook.Options{Host: host, Port: p, CertDir: f.webhookCertDir,
			TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}})
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme.New(),
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        f.probeAddr,
		LeaderElection:                f.leaderElect,
		LeaderElectionID:              "region-withdrawal-operator.withdrawal.ops.dev",
		LeaderElectionNamespace:       f.leaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		Cache:                         cacheOpts,
		WebhookServer:                 webhookServer,
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	return mgr, nil
}
