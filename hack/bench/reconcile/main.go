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

// Command reconcile benchmarks the controller on a real API server (envtest):
//
//  1. idle: with N withdrawals waiting for a cutoff weeks away, how many
//     reconciles happen per minute once they are all scheduled (goal: 0);
//  2. storm: M withdrawals whose routing falls due in the same second, the
//     p50/p99/max lateness from the due time to the recorded start (goal:
//     p99 under 250 ms), the controller's API requests per withdrawal, and
//     the limit: the same M status writes by a bare client with the same
//     budget and parallelism, from a common start, and the ratio;
//  3. curve (-storm-curve 1,10,100,200): the storm again for each size, in
//     a table.
//
// It runs the controller in-process with the flags main.go defaults to, and
// prints its figures. Run it with `make bench` or
//
//	go run ./hack/bench/reconcile -idle 1000 -idle-window 1m -storm 200
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/controllers"
	"github.com/ops-dev/region-withdrawal-operator/hack/bench/internal/bare"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/metrics"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
	"github.com/ops-dev/region-withdrawal-operator/internal/stats"
	"github.com/ops-dev/region-withdrawal-operator/internal/steps"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
	"github.com/ops-dev/region-withdrawal-operator/internal/tenant"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	idle := flag.Int("idle", 1000, "withdrawals waiting, for the idle measurement")
	idleWindow := flag.Duration("idle-window", time.Minute, "how long to count idle reconciles")
	storm := flag.Int("storm", 200, "withdrawals falling due in the same second")
	qps := flag.Float64("kube-api-qps", 100, "client QPS, as main.go defaults")
	burst := flag.Int("kube-api-burst", 300, "client burst, as main.go defaults")
	workers := flag.Int("max-concurrent-reconciles", controllers.DefaultMaxConcurrentReconciles, "parallel reconciles, as main.go defaults")
	withEvents := flag.Bool("events", true, "record Events (false measures what they cost)")
	asTenant := flag.Bool("as-tenant", true, "act as each withdrawal's ServiceAccount, as the chart installs it (false: as the operator, to measure what impersonation and SubjectAccessReviews cost)")
	curveFlag := flag.String("storm-curve", "1,10,100,200", "comma-separated storm sizes for the scaling curve (empty: none)")
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseDevMode(false), zap.Level(zapcore.ErrorLevel)))
	var curve []int
	for _, f := range strings.Split(*curveFlag, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return fmt.Errorf("-storm-curve: %q is not a number of withdrawals", f)
		}
		curve = append(curve, n)
	}

	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	cfg := *env.Config
	cfg.QPS, cfg.Burst = float32(*qps), *burst
	// Every request the controller makes is counted.
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return counting{rt: rt, n: &requests} })

	mgr, err := ctrl.NewManager(&cfg, ctrl.Options{
		Scheme:                 scheme.New(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return err
	}
	clk := clock.RealClock{}
	r := &controllers.RegionWithdrawalReconciler{
		Clock: clk, Metrics: metrics.New(clk), Executors: executor.Set{}, MaxConcurrentReconciles: *workers,
	}
	// The benchmark's withdrawals are dry runs: only the rehearsal acts.
	opts := steps.Options{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Mapper: mgr.GetRESTMapper(), Clock: clk}
	if *asTenant {
		tenants := tenant.NewClients(&cfg, mgr.GetClient(), mgr.GetAPIReader(), clk)
		opts.Client, opts.APIReader = tenants.Client(), tenants.Reader()
		r.DefaultServiceAccount = tenantServiceAccount
	}
	_, r.Rehearsal = steps.New(opts)
	if !*withEvents {
		r.Recorder = &events.FakeRecorder{}
	}
	if err := targets.WarmUp(mgr); err != nil {
		return err
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() { cancel(); <-done }()
	c, err := client.NewWithWatch(env.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}

	newNamespace = func(ctx context.Context, name string) error {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			return err
		}
		if !*asTenant {
			return nil
		}
		return testenv.GrantTenant(ctx, c, name, tenantServiceAccount)
	}
	fmt.Printf("# controller benchmark on envtest (kube-apiserver %s), %d workers, QPS %.0f burst %d, as tenant %v\n\n", serverVersion(env), *workers, *qps, *burst, *asTenant)

	if *idle > 0 {
		if err := benchIdle(ctx, c, clk, *idle, *idleWindow); err != nil {
			return err
		}
	}
	limits := limit{cfg: env.Config, qps: float32(*qps), burst: *burst, workers: *workers}
	var points []stormPoint
	if *storm > 0 {
		p, err := benchStorm(ctx, c, clk, "bench-storm", *storm, limits, true)
		if err != nil {
			return err
		}
		points = append(points, p)
	}
	for _, n := range curve {
		if n == *storm {
			continue
		}
		p, err := benchStorm(ctx, c, clk, fmt.Sprintf("bench-curve-%d", n), n, limits, false)
		if err != nil {
			return err
		}
		points = append(points, p)
	}
	if len(curve) > 0 {
		printCurve(points)
	}
	return nil
}

// requests counts the controller's API requests.
var requests atomic.Int64

type counting struct {
	rt http.RoundTripper
	n  *atomic.Int64
}

func (c counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

// limit is what a bare client gets: the controller's budget and
// parallelism, and no controller logic.
type limit struct {
	cfg     *rest.Config
	qps     float32
	burst   int
	workers int
}

// bareWrites writes each of the n withdrawals in ns once (a merge patch of
// an annotation: a real write of the same object, which the controller's
// generation predicate ignores), workers at a time from a common start,
// with the controller's client budget; each is timed from the start to
// its response.
func (l limit) bareWrites(ctx context.Context, ns string, n int) ([]time.Duration, error) {
	cfg := rest.CopyConfig(l.cfg)
	cfg.QPS, cfg.Burst = l.qps, l.burst
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, err
	}
	var probe v1.RegionWithdrawal
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: stormName(0)}, &probe); err != nil {
		return nil, err
	}
	patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"bench.withdrawal.ops.dev/bare-write":"1"}}}`))
	return bare.Writes(n, l.workers, func(i int) error {
		rw := &v1.RegionWithdrawal{}
		rw.Namespace, rw.Name = ns, stormName(i)
		return c.Patch(ctx, rw, patch)
	})
}

// stormPoint is one storm's figures, for the curve.
type stormPoint struct {
	n                       int
	recordedP50, recorded   time.Duration
	persistedP50, persisted time.Duration
	bare                    time.Duration
	requests                float64
}

// printCurve prints the storms, one row per size.
func printCurve(points []stormPoint) {
	slices.SortFunc(points, func(a, b stormPoint) int { return a.n - b.n })
	fmt.Println("curve: withdrawals due in the same second → start seen in the API, against a bare client's writes of the same withdrawals with the same budget and parallelism")
	fmt.Printf("curve: %6s %12s %12s %12s %12s %8s %12s\n", "N", "recorded p99", "seen p50", "seen p99", "bare p99", "ratio", "requests/N")
	for _, p := range points {
		ratio := 0.0
		if p.bare > 0 {
			ratio = float64(p.persisted) / float64(p.bare)
		}
		fmt.Printf("curve: %6d %12s %12s %12s %12s %7.2f× %12.1f\n", p.n, p.recorded.Round(time.Millisecond), p.persistedP50.Round(time.Millisecond),
			p.persisted.Round(time.Millisecond), p.bare.Round(time.Millisecond), ratio, p.requests)
	}
}

func stormName(i int) string { return fmt.Sprintf("storm-%04d", i) }

// tenantServiceAccount is the chart's default ServiceAccount.
const tenantServiceAccount = "region-withdrawal"

// newNamespace creates a namespace for the benchmark's withdrawals, with
// the chart's tenant ServiceAccount when they act as one.
var newNamespace func(ctx context.Context, name string) error

// benchIdle counts reconciles while n withdrawals wait for a far cutoff.
func benchIdle(ctx context.Context, c client.Client, clk clock.PassiveClock, n int, window time.Duration) error {
	if err := newNamespace(ctx, "bench-idle"); err != nil {
		return err
	}
	far := metav1.NewTime(clk.Now().Add(30 * 24 * time.Hour).Truncate(time.Second))
	start := time.Now()
	for i := range n {
		if err := c.Create(ctx, withdrawal("bench-idle", fmt.Sprintf("idle-%04d", i), far)); err != nil {
			return err
		}
	}
	if err := waitScheduled(ctx, c, "bench-idle", n, 5*time.Minute); err != nil {
		return err
	}
	fmt.Printf("idle: %d withdrawals created and scheduled in %s\n", n, time.Since(start).Round(time.Millisecond))
	before, err := reconcileCount()
	if err != nil {
		return err
	}
	time.Sleep(window) // the measurement window itself, not a synchronisation
	after, err := reconcileCount()
	if err != nil {
		return err
	}
	fmt.Printf("idle: %.0f reconciles in %s while nothing was due = %.1f per minute (goal: 0)\n\n", after-before, window, (after-before)/window.Minutes())
	return nil
}

// benchStorm measures lateness when n withdrawals of namespace ns fall due
// in one second, the controller's requests, and the bare-client limit.
func benchStorm(ctx context.Context, c client.WithWatch, clk clock.PassiveClock, ns string, n int, l limit, verbose bool) (stormPoint, error) {
	point := stormPoint{n: n}
	if err := newNamespace(ctx, ns); err != nil {
		return point, err
	}
	due := clk.Now().Add(30 * time.Second).Truncate(time.Second)
	dueAt := metav1.NewTime(due)
	for i := range n {
		if err := c.Create(ctx, withdrawal(ns, stormName(i), dueAt)); err != nil {
			return point, err
		}
	}
	if err := waitScheduled(ctx, c, ns, n, time.Until(due)); err != nil {
		return point, fmt.Errorf("%w (the withdrawals were not all scheduled before they fell due; lower -storm)", err)
	}
	time.Sleep(time.Until(due)) // the count starts at the due time
	before := requests.Load()
	recorded, persisted, err := waitStarted(ctx, c, ns, n, due, due.Add(2*time.Minute))
	if err != nil {
		return point, err
	}
	point.requests = float64(requests.Load()-before) / float64(n)
	point.recordedP50, point.recorded = stats.Quantile(recorded, 0.5), stats.Quantile(recorded, 0.99)
	point.persistedP50, point.persisted = stats.Quantile(persisted, 0.5), stats.Quantile(persisted, 0.99)
	bare, err := l.bareWrites(ctx, ns, n)
	if err != nil {
		return point, err
	}
	point.bare = stats.Quantile(bare, 0.99)
	if !verbose {
		return point, nil
	}
	fmt.Printf("storm: %d withdrawals due at %s\n", n, due.Format(time.RFC3339))
	fmt.Printf("storm: lateness from due time to recorded start:   p50 %s, p99 %s, max %s (goal: p99 < 250ms)\n", stats.Quantile(recorded, 0.50), stats.Quantile(recorded, 0.99), stats.Quantile(recorded, 1))
	fmt.Printf("storm: lateness from due time to start seen in API: p50 %s, p99 %s, max %s\n", stats.Quantile(persisted, 0.50), stats.Quantile(persisted, 0.99), stats.Quantile(persisted, 1))
	fmt.Printf("storm: the controller's API requests until every start was seen: %.1f per withdrawal\n", point.requests)
	fmt.Printf("limit: bare client, the controller's budget (qps %.0f, burst %d), %d writers from a common start → withdrawal patch returned: p50 %s, p99 %s, max %s\n",
		l.qps, l.burst, l.workers, stats.Quantile(bare, 0.5), stats.Quantile(bare, 0.99), stats.Quantile(bare, 1))
	fmt.Printf("limit: controller p99 (due → start seen in API) / bare p99: %.2f× (goal ≤ 1.5×; the controller's figure also holds its wake-up at the due time and the watch delivering the change)\n\n",
		float64(point.persisted)/float64(point.bare))
	return point, nil
}

// withdrawal is a rehearsal whose only step is routing at the cutoff.
func withdrawal(ns, name string, cutoff metav1.Time) *v1.RegionWithdrawal {
	zero := v1.Moment{Offset: &metav1.Duration{}}
	return &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Cutoff: cutoff, TimeZone: "Asia/Karachi", DryRun: true,
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"bes.example.com/region": "pk"}},
			Routing:  &v1.RoutingStep{At: &zero},
		},
	}
}

func waitScheduled(ctx context.Context, c client.Client, ns string, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		var list v1.RegionWithdrawalList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		ready := 0
		for _, rw := range list.Items {
			if rw.Status.ObservedGeneration == rw.Generation && rw.Status.Phase == v1.PhaseScheduled {
				ready++
			}
		}
		if ready == n {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("not all %d withdrawals in %s were scheduled within %s", n, ns, limit)
}

// waitStarted watches the storm's withdrawals until every routing step has
// started. It returns the recorded lateness of each start and how long after
// the due time the start was seen in the API server. A watch the server
// closes (it drops watchers that fall behind under load) is re-opened from a
// fresh list.
func waitStarted(ctx context.Context, c client.WithWatch, ns string, n int, due, deadline time.Time) (recorded, persisted []time.Duration, err error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	seen := map[string]bool{}
	note := func(rw *v1.RegionWithdrawal) {
		if seen[rw.Name] {
			return
		}
		for _, s := range rw.Status.Steps {
			if s.Name == v1.StepRouting && s.StartedAt != nil && s.Lateness != nil {
				seen[rw.Name] = true
				recorded = append(recorded, s.Lateness.Duration)
				persisted = append(persisted, time.Since(due))
			}
		}
	}
	for len(seen) < n {
		var list v1.RegionWithdrawalList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return nil, nil, err
		}
		for i := range list.Items {
			note(&list.Items[i])
		}
		w, err := c.Watch(ctx, &v1.RegionWithdrawalList{}, client.InNamespace(ns), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
		if err != nil {
			return nil, nil, err
		}
		for open := true; open && len(seen) < n; {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					open = false
					continue
				}
				if rw, ok := ev.Object.(*v1.RegionWithdrawal); ok {
					note(rw)
				}
			case <-ctx.Done():
				w.Stop()
				return nil, nil, fmt.Errorf("only %d of %d routing steps started by %s", len(seen), n, deadline.Format(time.RFC3339))
			}
		}
		w.Stop()
	}
	return recorded, persisted, nil
}

// reconcileCount reads controller-runtime's own reconcile counter.
func reconcileCount() (float64, error) {
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		return 0, err
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == "regionwithdrawal" {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total, nil
}

func serverVersion(env *testenv.Env) string {
	dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
	if err != nil {
		return "unknown"
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return "unknown"
	}
	return v.GitVersion
}
