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

// Package drain takes a region's workloads out of service: the selected
// Deployments and StatefulSets are scaled to zero in batches, the
// HorizontalPodAutoscalers aimed at them are set aside, and the step is done
// when the selected Services' EndpointSlices hold no ready endpoint and the
// workloads' pods are gone. Cancel restores the replica counts and the
// autoscalers exactly.
//
// Scaling to zero is the Kubernetes-native drain: a terminating pod leaves
// the EndpointSlices at once and keeps its grace period to finish open
// connections.
package drain

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
)

// The operator watches what it drains; the withdrawal's ServiceAccount
// scales it (config/rbac/tenant_role.yaml).
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch

const (
	defaultInterval = time.Minute
	defaultTimeout  = time.Hour
	// watchFallback is how soon a drain that waits for pods and endpoints is
	// looked at again if no watch event wakes it first.
	watchFallback = 30 * time.Second
	// conflictRetry is how soon a write that lost a race is tried again.
	conflictRetry = time.Second
	// maxBlockers caps status.steps[drain].drain.blockedBy.
	maxBlockers = 10
)

// Event reasons.
const (
	ReasonScaleUpCorrected     = "ScaleUpCorrected"
	ReasonAutoscalerSetAside   = "AutoscalerSetAside"
	ReasonDrainBatchScaledDown = "DrainBatchScaledDown"
)

// Executor drains the workloads of a withdrawal.
type Executor struct {
	// Client reads through the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads the record ConfigMaps, which are not worth a
	// cluster-wide ConfigMap cache. Defaults to Client.
	APIReader client.Reader
	// Targets resolves what the withdrawal selects.
	Targets *targets.Resolver
	// Clock defaults to the real clock.
	Clock clock.PassiveClock
	// Recorder, when set, gets an Event for each correction of a workload
	// another actor scaled back up, as it happens.
	Recorder events.EventRecorder
}

var (
	_ executor.Executor = (*Executor)(nil)
	_ executor.Watcher  = (*Executor)(nil)
)

// New returns a drain executor reading through c (the manager's client) and
// apiReader (the manager's API reader).
func New(c client.Client, apiReader client.Reader, resolver *targets.Resolver, clk clock.PassiveClock, rec events.EventRecorder) *Executor {
	return &Executor{Client: c, APIReader: apiReader, Targets: resolver, Clock: clk, Recorder: rec}
}

func (e *Executor) now() time.Time {
	if e.Clock == nil {
		// Not injected (a test building the struct by hand): the real clock,
		// as SetupWithManager defaults it.
		return clock.RealClock{}.Now()
	}
	return e.Clock.Now()
}

func (e *Executor) apiReader() client.Reader {
	if e.APIReader != nil {
		return e.APIReader
	}
	return e.Client
}

// Execute drains (ActionStart) or restores (ActionRevert).
func (e *Executor) Execute(ctx context.Context, rw *v1.RegionWithdrawal, a planner.Action) (executor.Result, error) {
	return executor.Dispatch(ctx, rw, a, v1.StepDrain, executor.Actions{Start: e.drain, Revert: e.revert})
}

// BatchSize resolves maxUnavailable (a count, or a percentage rounded up)
// against the number of workloads; a batch holds at least one.
func BatchSize(maxUnavailable *intstr.IntOrString, total int) int {
	v := intstr.FromString("25%")
	if maxUnavailable != nil {
		v = *maxUnavailable
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(&v, total, true)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// NextBatch decides which workloads to scale down now. workloads are in
// their stable order and drainedAt holds each one's batch instant (zero when
// not drained). A batch is the first n undrained workloads; the next batch
// is due one interval after the latest. A batch cut short by a crash is
// completed at once with its original instant, so that a crash neither
// delays a batch nor lets one start early. It returns the indexes to drain,
// the batch instant to record on them, and when the next batch is due
// (zero when no batch waits).
func NextBatch(drainedAt []time.Time, n int, interval time.Duration, now time.Time) (pick []int, batchAt, nextAt time.Time) {
	var latest time.Time
	inLatest := 0
	for _, t := range drainedAt {
		switch {
		case t.IsZero():
		case t.After(latest):
			latest, inLatest = t, 1
		case t.Equal(latest):
			inLatest++
		}
	}
	var undrained []int
	for i, t := range drainedAt {
		if t.IsZero() {
			undrained = append(undrained, i)
		}
	}
	if len(undrained) == 0 {
		return nil, time.Time{}, time.Time{}
	}
	switch {
	case !latest.IsZero() && inLatest < n:
		// The latest batch was cut short: finish it.
		k := min(n-inLatest, len(undrained))
		pick, batchAt = undrained[:k], latest
		undrained = undrained[k:]
		if len(undrained) > 0 {
			nextAt = latest.Add(interval)
		}
		return pick, batchAt, nextAt
	case latest.IsZero() || !now.Before(latest.Add(interval)):
		k := min(n, len(undrained))
		pick, batchAt = undrained[:k], now
		if len(undrained) > k {
			nextAt = now.Add(interval)
		}
		return pick, batchAt, nextAt
	default:
		return nil, time.Time{}, latest.Add(interval)
	}
}

func durationOr(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil || d.Duration <= 0 {
		return def
	}
	return d.Duration
}

// drainPass is one call of the drain: what it read, and what it found.
type drainPass struct {
	rw                *v1.RegionWithdrawal
	uid               string
	now               time.Time
	started, deadline time.Time
	set               *targets.Set
	ws                []workload
	// drainedAt holds each workload's batch instant, zero when not drained.
	drainedAt []time.Time
	st        *v1.DrainStatus
	// notes are the scale-ups corrected in this pass.
	notes []string
}

// drain moves the drain one step forward and reports where it is: it
// scales down what another actor scaled back up, sets the autoscalers
// aside, scales the next batch to zero, and looks at what is left.
func (e *Executor) drain(ctx context.Context, rw *v1.RegionWithdrawal) (executor.Result, error) {
	spec := rw.Spec.Drain
	if spec == nil {
		return executor.Result{Done: true, Failed: true, Message: "spec.drain is not set"}, nil
	}
	p, err := e.newDrainPass(ctx, rw)
	if err != nil {
		return executor.Result{}, err
	}
	if stop, err := e.correctScaleUps(ctx, p); stop != nil {
		return *stop, err
	}
	p.drainedAt = drainedAt(p.ws, p.uid)
	batch := BatchSize(spec.MaxUnavailable, len(p.ws))
	p.st.BatchSize = int32(batch)
	pick, batchAt, nextAt := NextBatch(p.drainedAt, batch, durationOr(spec.Interval, defaultInterval), p.now)
	if stop, err := e.scaleDownBatch(ctx, p, pick, batchAt); stop != nil {
		return *stop, err
	}
	p.countDrained(nextAt)
	blockers, err := e.whatIsLeft(ctx, p)
	if err != nil {
		return executor.Result{}, err
	}
	return p.result(blockers, batch, nextAt), nil
}

func (e *Executor) newDrainPass(ctx context.Context, rw *v1.RegionWithdrawal) (*drainPass, error) {
	now := e.now()
	prev := planner.LookupStep(&rw.Status, v1.StepDrain)
	started := now
	if prev.StartedAt != nil {
		started = prev.StartedAt.Time
	}
	set, err := e.Targets.Resolve(ctx, rw)
	if err != nil {
		return nil, fmt.Errorf("resolving the workloads to drain: %w", err)
	}
	ws, err := e.load(ctx, set.Workloads())
	if err != nil {
		return nil, err
	}
	p := &drainPass{
		rw: rw, uid: string(rw.UID), now: now, started: started, set: set, ws: ws,
		deadline: started.Add(durationOr(rw.Spec.Drain.Timeout, defaultTimeout)),
		st:       &v1.DrainStatus{Workloads: int32(len(ws))},
	}
	if prev.Drain != nil {
		p.st.Corrections, p.st.LastCorrection = prev.Drain.Corrections, prev.Drain.LastCorrection
		p.st.AutoscalersSetAside = prev.Drain.AutoscalersSetAside
	}
	return p, nil
}

// correctScaleUps scales down again what another actor (a person, a
// pipeline, an autoscaler we have not seen yet) scaled back up after its
// batch. Its original count is still the annotation's, from before the
// drain. A non-nil result ends the pass with it.
func (e *Executor) correctScaleUps(ctx context.Context, p *drainPass) (*executor.Result, error) {
	for _, w := range p.ws {
		if !w.drainedBy(p.uid) || w.replicas() == 0 {
			continue
		}
		was := w.replicas()
		wrote, err := e.update(ctx, w, func(w workload) bool {
			if !w.drainedBy(p.uid) || w.replicas() == 0 {
				return false
			}
			was = w.replicas()
			w.setReplicas(0)
			return true
		})
		if err != nil {
			res, err := e.retryOrFail(err, "scaling %s %s/%s down again", w.ref.Kind, w.ref.Namespace, w.ref.Name)
			return &res, err
		}
		if !wrote {
			continue
		}
		msg := fmt.Sprintf("%s %s/%s was scaled back up to %d by another actor; scaled it to 0 again at %s", w.ref.Kind, w.ref.Namespace, w.ref.Name, was, p.now.UTC().Format(time.RFC3339))
		p.st.Corrections++
		p.st.LastCorrection = msg
		p.notes = append(p.notes, msg)
		e.event(p.rw, corev1.EventTypeWarning, ReasonScaleUpCorrected, msg)
	}
	return nil, nil
}

// drainedAt reads each workload's batch instant from the workload itself.
func drainedAt(ws []workload, uid string) []time.Time {
	out := make([]time.Time, len(ws))
	for i, w := range ws {
		if w.drainedBy(uid) {
			out[i] = w.drainedAt()
			if out[i].IsZero() {
				// A damaged annotation: count the workload as drained in the
				// first batch rather than scale it down again.
				out[i] = time.Unix(0, 0)
			}
		}
	}
	return out
}

// scaleDownBatch sets aside the autoscalers of drained workloads and of
// the batch first, then scales the batch (pick) to zero at batchAt. A
// non-nil result ends the pass with it.
func (e *Executor) scaleDownBatch(ctx context.Context, p *drainPass, pick []int, batchAt time.Time) (*executor.Result, error) {
	aside, err := e.setAsideAutoscalers(ctx, p.rw, p.ws, p.drainedAt, pick)
	if err != nil {
		res, err := e.retryOrFail(err, "setting autoscalers aside")
		return &res, err
	}
	p.st.AutoscalersSetAside = max(p.st.AutoscalersSetAside, int32(aside))
	for _, i := range pick {
		w := p.ws[i]
		// One update records the original count and scales to zero: if it
		// fails, neither happened; if the process dies after it, the
		// workload itself says it is drained and what to restore.
		if _, err := e.update(ctx, w, func(w workload) bool {
			if w.drainedBy(p.uid) {
				return false // drained by an earlier attempt the cache had not shown yet
			}
			w.markDrained(p.uid, batchAt)
			return true
		}); err != nil {
			res, err := e.retryOrFail(err, "scaling %s %s/%s down", w.ref.Kind, w.ref.Namespace, w.ref.Name)
			return &res, err
		}
		p.drainedAt[i] = batchAt
	}
	if len(pick) > 0 {
		e.event(p.rw, corev1.EventTypeNormal, ReasonDrainBatchScaledDown, fmt.Sprintf("scaled %d workloads to zero (%s first)", len(pick), refString(p.ws[pick[0]].ref)))
	}
	return nil, nil
}

// countDrained records how many workloads are drained, the latest batch
// and the next.
func (p *drainPass) countDrained(nextAt time.Time) {
	var latest time.Time
	for _, t := range p.drainedAt {
		if !t.IsZero() {
			p.st.Drained++
			if t.After(latest) {
				latest = t
			}
		}
	}
	if !latest.IsZero() {
		p.st.LastBatchAt = &metav1.Time{Time: latest}
	}
	if !nextAt.IsZero() {
		p.st.NextBatchAt = &metav1.Time{Time: nextAt}
	}
}

// whatIsLeft finds what keeps the drain from being done: pods of drained
// workloads, ready endpoints of Services. The cache answers while the
// drain waits. Before the drain is called done or timed out, the API
// server answers: after an outage the cache can lag for as long as its
// watches back off, and neither decision is taken back.
func (e *Executor) whatIsLeft(ctx context.Context, p *drainPass) ([]string, error) {
	left, err := e.remaining(ctx, e.Client, p.ws, p.drainedAt, p.set.Services, p.now)
	if err != nil {
		return nil, err
	}
	if len(left.blockers) == 0 || !p.now.Before(p.deadline) {
		if left, err = e.remaining(ctx, e.apiReader(), p.ws, p.drainedAt, p.set.Services, p.now); err != nil {
			return nil, err
		}
	}
	p.st.RemainingPods, p.st.ReadyEndpoints = int32(left.pods), int32(left.ready)
	return left.blockers, nil
}

// result says where the drain is: done, timed out, or waiting, and for what.
func (p *drainPass) result(blockers []string, batch int, nextAt time.Time) executor.Result {
	st := p.st
	if undrained := len(p.ws) - int(st.Drained); undrained > 0 {
		blockers = append([]string{fmt.Sprintf("%d workloads wait for their batch, the next at %s", undrained, nextAt.UTC().Format(time.RFC3339))}, blockers...)
	}
	st.BlockedBy = blockers[:min(len(blockers), maxBlockers)]
	res := executor.Result{
		Detail:   executor.Detail{Drain: st},
		Progress: &v1.Progress{Done: int64(st.Drained), Total: int64(st.Workloads)},
		Plan:     Preview(p.rw, p.set).Plan(),
	}
	head := fmt.Sprintf("%d/%d workloads scaled to zero in batches of %d", st.Drained, st.Workloads, batch)
	if len(p.notes) > 0 {
		head += "; " + strings.Join(p.notes, "; ")
	}
	switch {
	case len(blockers) == 0:
		st.NextBatchAt = nil
		res.Done = true
		res.Message = fmt.Sprintf("drained: %s, no pods left and no ready endpoint in %d Services", head, len(p.set.Services))
		if st.Corrections > 0 {
			res.Message += fmt.Sprintf("; %d scale-ups by another actor corrected (last: %s)", st.Corrections, st.LastCorrection)
		}
	case !p.now.Before(p.deadline):
		res.Done, res.Failed = true, true
		res.Message = fmt.Sprintf("timed out after %s: %s; blocked by: %s", p.deadline.Sub(p.started), head, strings.Join(st.BlockedBy, "; "))
	default:
		res.Message = fmt.Sprintf("draining: %s; waiting for: %s", head, strings.Join(st.BlockedBy, "; "))
		res.RequeueAfter = min(watchFallback, p.deadline.Sub(p.now))
		if !nextAt.IsZero() {
			res.RequeueAfter = min(res.RequeueAfter, nextAt.Sub(p.now))
		}
	}
	return res
}

// retryOrFail turns a lost race into a quick retry and anything else into
// an error the controller backs off on.
func (e *Executor) retryOrFail(err error, format string, args ...any) (executor.Result, error) {
	return executor.RetryOrFail(err, conflictRetry, fmt.Sprintf(format, args...))
}

func (e *Executor) event(rw *v1.RegionWithdrawal, typ, reason, note string) {
	if e.Recorder != nil {
		e.Recorder.Eventf(rw, nil, typ, reason, "Drain", "%s", note)
	}
}

func refString(r v1.ObjectReference) string { return r.Kind + " " + r.Namespace + "/" + r.Name }

// load reads the workloads, skipping any deleted since they were listed.
func (e *Executor) load(ctx context.Context, refs []v1.ObjectReference) ([]workload, error) {
	ws := make([]workload, 0, len(refs))
	for _, ref := range refs {
		obj := newWorkload(ref.Kind)
		if err := e.Client.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, obj); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("reading %s: %w", refString(ref), err)
		}
		ws = append(ws, workload{ref: ref, obj: obj})
	}
	return ws, nil
}

// setAsideAutoscalers sets aside the HPAs of drained workloads and of the
// batch about to be drained. It returns how many HPAs are set aside in all.
func (e *Executor) setAsideAutoscalers(ctx context.Context, rw *v1.RegionWithdrawal, ws []workload, drainedAt []time.Time, pick []int) (int, error) {
	affected := map[string][]workload{}
	for i, w := range ws {
		if !drainedAt[i].IsZero() || slices.Contains(pick, i) {
			affected[w.ref.Namespace] = append(affected[w.ref.Namespace], w)
		}
	}
	n := 0
	for _, ns := range sortedKeys(affected) {
		var list autoscalingv2.HorizontalPodAutoscalerList
		if err := e.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return n, fmt.Errorf("listing HorizontalPodAutoscalers in %s: %w", ns, err)
		}
		for i := range list.Items {
			hpa := &list.Items[i]
			if !slices.ContainsFunc(affected[ns], func(w workload) bool { return hpaTargets(hpa, w) }) {
				continue
			}
			if err := e.setAside(ctx, rw, hpa); err != nil {
				return n, err
			}
			e.event(rw, corev1.EventTypeNormal, ReasonAutoscalerSetAside, fmt.Sprintf("HorizontalPodAutoscaler %s/%s targets %s %s and is set aside until cancel", hpa.Namespace, hpa.Name, hpa.Spec.ScaleTargetRef.Kind, hpa.Spec.ScaleTargetRef.Name))
			n++
		}
	}
	return n, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// leftover is what keeps a drain from being done.
type leftover struct {
	pods, ready int
	blockers    []string
}

// remaining reads, through r, the pods of drained workloads and the ready
// endpoints of services.
func (e *Executor) remaining(ctx context.Context, r client.Reader, ws []workload, drainedAt []time.Time, services []v1.ObjectReference, now time.Time) (leftover, error) {
	pods, podBlockers, err := remainingPods(ctx, r, ws, drainedAt, now)
	if err != nil {
		return leftover{}, err
	}
	ready, epBlockers, err := readyEndpoints(ctx, r, services)
	if err != nil {
		return leftover{}, err
	}
	return leftover{pods: pods, ready: ready, blockers: append(podBlockers, epBlockers...)}, nil
}

// remainingPods counts the pods of drained workloads, and names the first
// that hold the drain up.
func remainingPods(ctx context.Context, r client.Reader, ws []workload, drainedAt []time.Time, now time.Time) (int, []string, error) {
	n := 0
	var blockers []string
	for i, w := range ws {
		if drainedAt[i].IsZero() {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(w.selector())
		if err != nil || sel.Empty() {
			continue // a workload without a valid selector has no pods of its own
		}
		pods := &metav1.PartialObjectMetadataList{}
		pods.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
		if err := r.List(ctx, pods, client.InNamespace(w.ref.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return 0, nil, fmt.Errorf("listing the pods of %s: %w", refString(w.ref), err)
		}
		for _, p := range pods.Items {
			n++
			if len(blockers) >= maxBlockers {
				continue
			}
			if p.DeletionTimestamp != nil {
				blockers = append(blockers, fmt.Sprintf("pod %s/%s of %s is terminating since %s (%s)", p.Namespace, p.Name, refString(w.ref),
					p.DeletionTimestamp.UTC().Format(time.RFC3339), now.Sub(p.DeletionTimestamp.Time).Round(time.Second)))
			} else {
				blockers = append(blockers, fmt.Sprintf("pod %s/%s of %s is not deleted yet", p.Namespace, p.Name, refString(w.ref)))
			}
		}
	}
	return n, blockers, nil
}

// readyEndpoints counts the ready endpoints of the selected Services. An
// endpoint whose ready condition is unset counts as ready, as the
// EndpointSlice API says consumers must assume.
func readyEndpoints(ctx context.Context, r client.Reader, services []v1.ObjectReference) (int, []string, error) {
	total := 0
	var blockers []string
	for _, svc := range services {
		var slices discoveryv1.EndpointSliceList
		if err := r.List(ctx, &slices, client.InNamespace(svc.Namespace), client.MatchingLabels{discoveryv1.LabelServiceName: svc.Name}); err != nil {
			return 0, nil, fmt.Errorf("listing the EndpointSlices of Service %s/%s: %w", svc.Namespace, svc.Name, err)
		}
		n := 0
		for _, s := range slices.Items {
			for _, ep := range s.Endpoints {
				if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
					n++
				}
			}
		}
		if n > 0 {
			blockers = append(blockers, fmt.Sprintf("Service %s/%s has %d ready endpoints", svc.Namespace, svc.Name, n))
		}
		total += n
	}
	return total, blockers, nil
}

// Preview is what the drain would do with the selection. The real run,
// the rehearsal and `kubectl withdrawal plan` all show it.
func Preview(rw *v1.RegionWithdrawal, set *targets.Set) executor.Preview {
	spec := rw.Spec.Drain
	return executor.Preview{
		Objects: append(set.Workloads(), set.Services...),
		Summary: fmt.Sprintf("scale %d Deployments and %d StatefulSets to zero, %d at a time, %s apart, and wait for %d Services to have no ready endpoint",
			len(set.Deployments), len(set.StatefulSets), BatchSize(spec.MaxUnavailable, len(set.Workloads())), durationOr(spec.Interval, defaultInterval), len(set.Services)),
	}
}

// revert restores every workload the withdrawal drained to its recorded
// replica count, then the autoscalers it set aside. It finds the workloads
// by the drained-by label, not the selector, so a selector edited since the
// drain does not strand a workload at zero.
func (e *Executor) revert(ctx context.Context, rw *v1.RegionWithdrawal) (executor.Result, error) {
	uid := string(rw.UID)
	var ws []workload
	for _, kind := range []string{targets.KindDeployment, targets.KindStatefulSet} {
		objs, err := e.listDrained(ctx, rw, kind, uid)
		if err != nil {
			return executor.Result{}, err
		}
		ws = append(ws, objs...)
	}
	restored := 0
	var problems []string
	for _, w := range ws {
		// Restoring and forgetting the record is one update: if the process
		// dies after it, the workload no longer carries the label and is
		// not restored twice.
		var damaged error
		wrote, err := e.update(ctx, w, func(w workload) bool {
			if !w.drainedBy(uid) {
				return false // restored by an earlier attempt
			}
			damaged = w.restore()
			return damaged == nil
		})
		switch {
		case damaged != nil:
			problems = append(problems, damaged.Error())
		case err != nil:
			return e.retryOrFail(err, "restoring %s", refString(w.ref))
		case wrote:
			restored++
		}
	}
	hpas, err := e.restoreAutoscalers(ctx, rw)
	if err != nil {
		return executor.Result{}, err
	}
	st := &v1.DrainStatus{}
	if prev := planner.LookupStep(&rw.Status, v1.StepDrain).Drain; prev != nil {
		st = prev.DeepCopy()
	}
	st.Drained, st.NextBatchAt, st.BlockedBy = 0, nil, nil
	msg := fmt.Sprintf("restored %d workloads to their recorded replica counts and %d HorizontalPodAutoscalers", restored, hpas)
	res := executor.Result{Done: true, Message: msg, Detail: executor.Detail{Drain: st}}
	if len(problems) > 0 {
		res.Message += "; could not restore: " + strings.Join(problems, "; ")
		res.Irreversible = append(res.Irreversible, fmt.Sprintf("drain: %d workloads without a readable replica record", len(problems)))
	}
	return res, nil
}
