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

package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/routing"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
	"github.com/ops-dev/region-withdrawal-operator/internal/stats"
)

// duePrefix names the namespaces of the due-minute phase: due-000 holds
// CronJob tick, Ingress route and RegionWithdrawal withdraw. The curve's
// rounds use prefixes of their own (curvePrefix).
const duePrefix = "due-"

func dueNamespace(prefix string, i int) string { return fmt.Sprintf("%s%03d", prefix, i) }

// curvePrefix names the namespaces of one round of the scaling curve.
func curvePrefix(n int) string { return fmt.Sprintf("curve%d-", n) }

// duePoint is one round's figures, for the curve.
type duePoint struct {
	n                        int
	switchedP50, switchedP99 time.Duration
	// bareP99 is the bare client's p99 (operator's budget) seen through the
	// observer's watch, as the operator's is; bareAnsweredP99 to its
	// response.
	bareP99, bareAnsweredP99    time.Duration
	requests                    float64
	cpuPercent, rssMiB, peakMiB float64
}

// benchDue creates n withdrawals (and, withCron, n CronJobs) that all fall
// due in the same minute, in namespaces named by prefix, and measures,
// through one watch-based observer, how late each side acts.
func benchDue(ctx context.Context, c client.Client, cfg *rest.Config, op *operator, tr *tracer, prefix string, withCron bool, n int, lead, timeout time.Duration) (duePoint, error) {
	point := duePoint{n: n}
	due := time.Now().Add(lead).Truncate(time.Minute).Add(time.Minute).UTC()
	schedule := fmt.Sprintf("%d %d * * *", due.Minute(), due.Hour())

	obsCtx, stopObserver := context.WithCancel(ctx)
	defer stopObserver()
	obs, err := startObserver(obsCtx, cfg, prefix)
	if err != nil {
		return point, err
	}
	start := time.Now()
	if err := parallel(n, func(i int) error { return createDuePair(ctx, c, dueNamespace(prefix, i), schedule, due, withCron) }); err != nil {
		return point, err
	}
	if err := waitScheduled(ctx, c, "", n, time.Until(due.Add(-2*time.Second)), func(rw *v1.RegionWithdrawal) bool {
		return strings.HasPrefix(rw.Namespace, prefix)
	}); err != nil {
		return point, fmt.Errorf("%w (setup did not finish before the due minute; raise -lead)", err)
	}
	setup := time.Since(start)
	if withCron {
		fmt.Printf("due: %d CronJobs (schedule %q, timeZone Etc/UTC) and %d RegionWithdrawals (routing at the cutoff, mode Remove, one Ingress each), each pair in its own namespace, all due at %s\n",
			n, schedule, n, due.Format(time.RFC3339))
	} else {
		fmt.Printf("due: %d RegionWithdrawals (routing at the cutoff, mode Remove, one Ingress each), each in its own namespace, all due at %s\n",
			n, due.Format(time.RFC3339))
	}
	fmt.Printf("due: set up and every withdrawal Scheduled in %s, %s before the due time\n", setup.Round(time.Millisecond), time.Until(due).Round(time.Second))

	if err := sleep(ctx, time.Until(due)); err != nil { // the measurement starts at the due time
		return point, err
	}
	before, err := op.usage()
	if err != nil {
		return point, err
	}
	peakReset := op.resetPeak() == nil
	m0, err := op.scrape()
	if err != nil {
		return point, err
	}
	// The operator's resources are measured until its side is done; the
	// CronJob controller usually takes longer.
	complete := obs.wait(ctx, due.Add(timeout), func() bool { return len(obs.started) >= n && len(obs.switched) >= n })
	after, err := op.usage()
	if err != nil {
		return point, err
	}
	if withCron {
		complete = obs.wait(ctx, due.Add(timeout), func() bool { return len(obs.jobAdded) >= n }) && complete
	}
	// Reconciles are counted when they return, after their last write.
	if err := settle(ctx, op, 2*time.Second, 30*time.Second); err != nil {
		return point, err
	}
	m1, err := op.scrape()
	if err != nil {
		return point, err
	}

	r := obs.results(due)
	if withCron {
		fmt.Printf("cronjob controller: due → Job ADDED (watch):               %s [%d/%d]\n", stats.Summary(r.jobAdded), len(r.jobAdded), n)
	}
	fmt.Printf("operator: due → routing step seen recorded (watch):       %s [%d/%d]\n", stats.Summary(r.started), len(r.started), n)
	fmt.Printf("operator: due → Ingress seen switched (watch):            %s [%d/%d]\n", stats.Summary(r.switched), len(r.switched), n)
	fmt.Printf("operator: recorded lateness (status.steps[].lateness):   %s [%d/%d]\n", stats.Summary(r.recorded), len(r.recorded), n)
	if r.wrongSchedule > 0 {
		fmt.Printf("cronjob controller: %d Jobs carry a scheduled time other than %s\n", r.wrongSchedule, due.Format(time.RFC3339))
	}
	peak := "VmHWM could not be reset: peak since start"
	if peakReset {
		peak = "peak"
	}
	fmt.Printf("operator process, from the due time until its last Ingress was seen switched (%s): CPU %.0f%% of one core, RSS %.1f MiB (%s %.1f MiB)\n",
		after.at.Sub(before.at).Round(time.Millisecond), cpuPercent(before, after), mib(after.rssKiB), peak, mib(after.hwmKiB))
	fmt.Printf("operator metrics from the due time until its reconciles stood still: %.0f reconciles, mean reconcile %s, mean workqueue wait %s, %.0f API requests (client limits: --kube-api-qps %s, --kube-api-burst %s)\n",
		m1.reconciles()-m0.reconciles(),
		meanDelta(m0, m1, "controller_runtime_reconcile_time_seconds", `controller="regionwithdrawal"`),
		meanDelta(m0, m1, "workqueue_queue_duration_seconds", `name="regionwithdrawal"`),
		m1.sum("rest_client_requests_total")-m0.sum("rest_client_requests_total"),
		flagValue(op.cmd.Args, "--kube-api-qps", "100 (default)"), flagValue(op.cmd.Args, "--kube-api-burst", "300 (default)"))
	if tr != nil {
		tr.report(due, time.Now())
	}
	point.switchedP50, point.switchedP99 = stats.Quantile(r.switched, 0.5), stats.Quantile(r.switched, 0.99)
	point.requests = (m1.sum("rest_client_requests_total") - m0.sum("rest_client_requests_total")) / float64(n)
	point.cpuPercent, point.rssMiB, point.peakMiB = cpuPercent(before, after), mib(after.rssKiB), mib(after.hwmKiB)
	if complete {
		if point.bareP99, point.bareAnsweredP99, err = benchBare(ctx, cfg, obs, prefix, n, point.switchedP99); err != nil {
			return point, err
		}
	}
	if !complete {
		return point, fmt.Errorf("not everything was seen done within %s of the due time", timeout)
	}
	return point, nil
}

// createDuePair creates namespace ns with an Ingress, a CronJob due at the
// minute schedule names and a withdrawal whose routing is due at the same
// minute.
func createDuePair(ctx context.Context, c client.Client, ns, schedule string, due time.Time, withCron bool) error {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	if err := createIngress(ctx, c, ns, "route"); err != nil {
		return err
	}
	if !withCron {
		return c.Create(ctx, routingWithdrawal(ns, "withdraw", due))
	}
	if err := c.Create(ctx, cronJob(ns, "tick", schedule)); err != nil {
		return err
	}
	return c.Create(ctx, routingWithdrawal(ns, "withdraw", due))
}

// cronJob is a CronJob in Etc/UTC whose Job runs one pod.
func cronJob(ns, name, schedule string) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: batchv1.CronJobSpec{Schedule: schedule, TimeZone: ptr.To("Etc/UTC"),
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever, TerminationGracePeriodSeconds: ptr.To[int64](1),
				Containers: []corev1.Container{{Name: "tick", Image: "example.com/tick"}}}}}}},
	}
}

// routingWithdrawal is a withdrawal whose only step switches its
// namespace's routes at the cutoff. Mode Remove needs no notice backend.
func routingWithdrawal(ns, name string, cutoff time.Time) *v1.RegionWithdrawal {
	return &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Cutoff: metav1.NewTime(cutoff), TimeZone: "Etc/UTC",
			Selector: metav1.LabelSelector{MatchLabels: region},
			Routing:  &v1.RoutingStep{At: &v1.Moment{Offset: &metav1.Duration{}}, Mode: v1.RoutingRemove},
		},
	}
}

// observer records, from watches, when each due namespace's Job was added,
// its withdrawal's routing step was seen recorded as started, and its Ingress was seen
// switched.
type observer struct {
	prefix   string
	mu       sync.Mutex
	jobAdded map[string]time.Time
	jobSched map[string]string
	started  map[string]time.Time
	recorded map[string]time.Duration
	switched map[string]time.Time
	// bareRound is the value of the bare client's annotation in its
	// current round, and bareSeen when each namespace's Ingress was first
	// seen with it.
	bareRound string
	bareSeen  map[string]time.Time
}

func startObserver(ctx context.Context, cfg *rest.Config, prefix string) (*observer, error) {
	o := &observer{prefix: prefix, jobAdded: map[string]time.Time{}, jobSched: map[string]string{}, started: map[string]time.Time{},
		recorded: map[string]time.Duration{}, switched: map[string]time.Time{}}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 1000, 2000
	informers, err := cache.New(cfg, cache.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, err
	}
	handlers := []struct {
		obj client.Object
		fn  func(any, time.Time)
	}{
		{&batchv1.Job{}, o.onJob},
		{&v1.RegionWithdrawal{}, o.onWithdrawal},
		{&networkingv1.Ingress{}, o.onIngress},
	}
	for _, h := range handlers {
		inf, err := informers.GetInformer(ctx, h.obj)
		if err != nil {
			return nil, err
		}
		fn := h.fn
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { fn(obj, time.Now()) },
			UpdateFunc: func(_, obj any) { fn(obj, time.Now()) },
		}); err != nil {
			return nil, err
		}
	}
	go func() { _ = informers.Start(ctx) }()
	syncCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if !informers.WaitForCacheSync(syncCtx) {
		return nil, fmt.Errorf("the observer's informers did not sync")
	}
	return o, nil
}

func (o *observer) onJob(obj any, now time.Time) {
	job, ok := obj.(*batchv1.Job)
	if !ok || !strings.HasPrefix(job.Namespace, o.prefix) || metav1.GetControllerOf(job) == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, seen := o.jobAdded[job.Namespace]; !seen {
		o.jobAdded[job.Namespace] = now
		o.jobSched[job.Namespace] = job.Annotations[batchv1.CronJobScheduledTimestampAnnotation]
	}
}

func (o *observer) onWithdrawal(obj any, now time.Time) {
	rw, ok := obj.(*v1.RegionWithdrawal)
	if !ok || !strings.HasPrefix(rw.Namespace, o.prefix) {
		return
	}
	for _, s := range rw.Status.Steps {
		if s.Name != v1.StepRouting || s.StartedAt == nil {
			continue
		}
		o.mu.Lock()
		if _, seen := o.started[rw.Namespace]; !seen {
			o.started[rw.Namespace] = now
			if s.Lateness != nil {
				o.recorded[rw.Namespace] = s.Lateness.Duration
			}
		}
		o.mu.Unlock()
	}
}

func (o *observer) onIngress(obj any, now time.Time) {
	ing, ok := obj.(*networkingv1.Ingress)
	if !ok || !strings.HasPrefix(ing.Namespace, o.prefix) {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, seen := o.switched[ing.Namespace]; !seen && ing.Annotations[routing.AnnotationSnapshot] != "" {
		o.switched[ing.Namespace] = now
	}
	if _, seen := o.bareSeen[ing.Namespace]; !seen && o.bareRound != "" && ing.Annotations[bareAnnotation] == o.bareRound {
		o.bareSeen[ing.Namespace] = now
	}
}

// expectBare starts watching for the bare client's writes of round.
func (o *observer) expectBare(round string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.bareRound, o.bareSeen = round, map[string]time.Time{}
}

// bareSince returns, once n Ingresses were seen with the current round's
// annotation (or at the deadline), how long after start each was.
func (o *observer) bareSince(ctx context.Context, start time.Time, n int, deadline time.Time) ([]time.Duration, bool) {
	complete := o.wait(ctx, deadline, func() bool { return len(o.bareSeen) >= n })
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]time.Duration, 0, len(o.bareSeen))
	for _, t := range o.bareSeen {
		out = append(out, t.Sub(start))
	}
	return out, complete
}

// wait returns true once done, called with the observer locked, is true,
// or false at the deadline.
func (o *observer) wait(ctx context.Context, deadline time.Time, done func() bool) bool {
	for time.Now().Before(deadline) && ctx.Err() == nil {
		o.mu.Lock()
		ok := done()
		o.mu.Unlock()
		if ok {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

type dueResults struct {
	jobAdded, started, switched, recorded []time.Duration
	wrongSchedule                         int
}

func (o *observer) results(due time.Time) dueResults {
	o.mu.Lock()
	defer o.mu.Unlock()
	since := func(m map[string]time.Time) []time.Duration {
		out := make([]time.Duration, 0, len(m))
		for _, t := range m {
			out = append(out, t.Sub(due))
		}
		return out
	}
	r := dueResults{jobAdded: since(o.jobAdded), started: since(o.started), switched: since(o.switched)}
	for _, d := range o.recorded {
		r.recorded = append(r.recorded, d)
	}
	for _, s := range o.jobSched {
		if t, err := time.Parse(time.RFC3339, s); err != nil || !t.Equal(due) {
			r.wrongSchedule++
		}
	}
	return r
}

// meanDelta is the mean of a histogram's observations between two scrapes.
func meanDelta(a, b metrics, name string, labels ...string) string {
	count := b.sum(name+"_count", labels...) - a.sum(name+"_count", labels...)
	if count == 0 {
		return "-"
	}
	sum := b.sum(name+"_sum", labels...) - a.sum(name+"_sum", labels...)
	return time.Duration(sum / count * float64(time.Second)).Round(time.Millisecond / 10).String()
}

// flagValue returns the value of --name=value or --name value in args, or
// def.
func flagValue(args []string, name, def string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return def
}
