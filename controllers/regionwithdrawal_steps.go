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

package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/summarize"
	"github.com/ops-dev/region-withdrawal-operator/internal/tenant"
)

const (
	// maxRounds bounds how many plan-and-act rounds one reconcile makes; a
	// round is needed when finishing one action makes the next due at once
	// (a verified export releases the drain).
	maxRounds = 4
	// defaultProgressRequeue is how soon an unfinished action that named no
	// time of its own is looked at again.
	defaultProgressRequeue = 10 * time.Second
)

// run is what one reconcile's rounds have done so far.
type run struct {
	executed map[string]bool
	results  map[string]summarize.Result
	errs     []error
	// requeue is the soonest another look was asked for; zero for none.
	requeue time.Duration
	// firstPass is what this withdrawal's first pass carried out, by
	// action ID, for the second pass to record.
	firstPass map[string]firstPass
	// blocked are the steps a step-scoped SpecError holds back: they wait
	// for the spec to change, the other steps go on.
	blocked map[v1.StepName]*planner.SpecError
	// exportElsewhere holds a fleet member's drain for the coordinator's
	// export (exportElsewhere).
	exportElsewhere string
}

// block holds a step back for a step-scoped spec error; the first error
// for a step is the one reported.
func (w *run) block(se *planner.SpecError) {
	if _, ok := w.blocked[se.Step]; !ok {
		w.blocked[se.Step] = se
	}
}

// blockedWhy is w.blocked for the planner: why each step waits.
func (w *run) blockedWhy() map[v1.StepName]string {
	if len(w.blocked) == 0 {
		return nil
	}
	out := make(map[v1.StepName]string, len(w.blocked))
	for step, se := range w.blocked {
		out[step] = "the spec must change: " + se.Error()
	}
	return out
}

// specError is the SpecError to report: one that holds the whole
// withdrawal back, else the first step's in step order.
func (w *run) specError(errs error) *planner.SpecError {
	var se *planner.SpecError
	if errors.As(errs, &se) {
		return se
	}
	for _, step := range v1.AllSteps {
		if se, ok := w.blocked[step]; ok {
			return se
		}
	}
	return nil
}

func (w *run) wake(after time.Duration) {
	if after > 0 && (w.requeue == 0 || after < w.requeue) {
		w.requeue = after
	}
}

// reconcileWithdrawal plans and acts, and leaves in rw the status to write.
// written is the withdrawal as last written; it returns the same, or the
// newer one if it recorded started actions itself.
func (r *RegionWithdrawalReconciler) reconcileWithdrawal(ctx context.Context, rw, written *v1.RegionWithdrawal) (ctrl.Result, *v1.RegionWithdrawal, error) {
	old := rw.Status.DeepCopy()
	w := &run{executed: map[string]bool{}, results: map[string]summarize.Result{}, blocked: map[v1.StepName]*planner.SpecError{}}
	tl, err := planner.Compile(&rw.Spec)
	if err == nil && rw.Status.Fleet != nil {
		// A fleet member plans a spec with notify and export set aside;
		// approvals, `kubectl withdrawal approve` and the ledger name the
		// spec as applied.
		tl.SpecDigest = planner.SpecDigest(&written.Spec)
	}
	if err == nil {
		err = tl.CheckReminderSpacing(cmpOr(r.MinReminderSpacing, DefaultMinReminderSpacing))
	}
	if err == nil {
		err = w.blockSteps(r.checkSpec(rw))
	}
	if err == nil {
		var listErr error
		if err, listErr = r.checkIdentity(ctx, rw); listErr != nil {
			return ctrl.Result{}, written, listErr
		}
	}
	var probeErr error
	if err == nil {
		if probeErr = w.blockSteps(r.probeSpec(ctx, rw)); planner.IsSpecError(probeErr) {
			err, probeErr = probeErr, nil
		}
	}
	if err != nil {
		r.publish(rw, old, summarize.Invalid(&rw.Status, err.Error()), summarize.Input{Spec: &rw.Spec})
		return ctrl.Result{}, written, reconcile.TerminalError(err)
	}
	tl.RequireApproval(r.RequiredApprovals...)
	summarize.Prepare(&rw.Status, &rw.Spec, tl)
	rw.Status.SpecDigest = tl.SpecDigest
	planner.ObserveCutoff(&rw.Status, &rw.Spec, tl, rw.Generation, cutoffChangedBy(rw), r.Clock.Now())
	r.reportVoidedApprovals(rw, old, tl)

	w.exportElsewhere = r.exportElsewhere(rw, written, tl, w)
	w.firstPass = r.firstPasses.take(rw)
	for round := range maxRounds {
		now := r.Clock.Now()
		plan := r.plan(tl, rw, now, w)
		if plan.Cancelling {
			planner.RecordCancelAccepted(&rw.Status, tl, now)
		}
		started, record := r.start(rw, plan.Due, now, w)
		if record == recordAfter && round > 0 {
			// Something of an earlier round waits to be written: no first pass.
			record = recordBefore
		}
		r.observeLateness(started, record)
		switch record {
		case recordAfter:
			// The first pass (regionwithdrawal_firstpass.go): act, write nothing.
			rw.Status = *written.Status.DeepCopy()
			return r.actFirst(ctx, rw, started, now), written, errFirstPass
		case recordBefore:
			if written, err = r.persistStarted(ctx, rw, written); err != nil {
				// Nothing of this reconcile is written, and nothing was done.
				rw.Status = *written.Status.DeepCopy()
				return ctrl.Result{}, written, err
			}
		}
		// Plan again only if something started or finished: a finished
		// action may release the next (a verified export, the drain).
		if finished := r.carryOn(ctx, rw, tl, w); len(started) == 0 && finished == 0 {
			break
		}
	}

	r.observe(ctx, rw, w)
	prepared := r.prepare(ctx, rw, tl, w)

	// An executor that found the spec unusable stalls the withdrawal until
	// the spec changes: all of it, or (a template that does not render,
	// say) only the step whose part it is, while the routes still switch
	// at the cutoff.
	errs := errors.Join(append(w.errs, probeErr)...)
	specErr := w.specError(errs)
	denied, _ := tenant.AsDenied(errs)

	now := r.Clock.Now()
	plan := r.plan(tl, rw, now, w)
	planner.RecordNoticesMissed(&rw.Status, &rw.Spec, plan.MissedNotices, now)
	plan.Risks = append(plan.Risks, r.executorRisks(rw)...)
	in := summarize.Input{Spec: &rw.Spec, Timeline: tl, Plan: plan, Results: w.results, Prepared: prepared}
	if specErr != nil {
		in.SpecErr = specErr
	}
	if denied != nil {
		in.Denied = denied
	}
	// A step's own records (a notice batch's deliveries) may have been
	// refused by the ledger: the withdrawal stalls until it is restored.
	in.Evidence = ledger.Refusal(errs)
	updated := summarize.Status(&rw.Status, in)
	if r.Evidence != nil {
		// The statements go in before the status that counts what they
		// record: if this fails, nothing of the reconcile is written, and
		// the next one finds the same changes (and the executors find their
		// work done).
		// The ledger records the spec as applied, which a fleet member
		// plans with notify and export set aside (written holds it).
		applied := *rw
		applied.Spec = written.Spec
		if err := r.Evidence.Append(ctx, rw, evidenceOf(&applied, old, updated, r.Evidence.Salt(rw.IdentityKey()), now)...); err != nil {
			// A ledger that refuses (tampered, or sealed) says so in
			// Stalled and an Event; the status counts nothing new.
			r.publish(rw, &written.Status, summarize.EvidenceRefused(&written.Status, ledger.Refusal(err)), in)
			return ctrl.Result{}, written, fmt.Errorf("recording the evidence: %w", err)
		}
		// The next process checks the ledger against this checkpoint.
		if head, ok := r.Evidence.Head(rw.UID); ok {
			updated.Evidence = &head
		}
	}
	r.publish(rw, old, updated, in)
	if specErr != nil && specErr.Step == "" {
		return ctrl.Result{}, written, reconcile.TerminalError(specErr)
	}

	if !plan.WakeAt.IsZero() {
		w.wake(plan.WakeAt.Sub(now) + requeueSkew)
	}
	if len(plan.Due) > 0 {
		// More fell due than this reconcile's rounds allowed.
		w.wake(requeueSkew)
	}
	return ctrl.Result{RequeueAfter: w.requeue}, written, errs
}

// checkSpec asks every executor that can whether the spec is usable as
// written, after the operator's own rule on namespaces.
func (r *RegionWithdrawalReconciler) checkSpec(rw *v1.RegionWithdrawal) error {
	if why := r.protectedNamespace(rw.Namespace); why != "" {
		return &planner.SpecError{Field: "metadata.namespace", Err: errors.New(why)}
	}
	if name := rw.Spec.ServiceAccountName; name != "" && len(r.ServiceAccounts) > 0 && !slices.Contains(r.ServiceAccounts, name) {
		return &planner.SpecError{Field: "spec.serviceAccountName", Err: fmt.Errorf("this installation lets withdrawals act only as the ServiceAccounts named %s (--service-accounts; the chart's tenancy.defaultServiceAccount and tenancy.serviceAccounts), not %q: the operator may impersonate no other", strings.Join(r.ServiceAccounts, ", "), name)}
	}
	if r.NoCrossNamespace && rw.Spec.NamespaceSelector != nil {
		return &planner.SpecError{Field: "spec.namespaceSelector", Err: errors.New("this operator runs with --no-cross-namespace: a withdrawal acts only in its own namespace; remove namespaceSelector and create a withdrawal in each namespace")}
	}
	for _, step := range v1.AllSteps {
		if c, ok := r.Executors[step].(executor.SpecChecker); ok {
			if err := c.CheckSpec(rw); err != nil {
				return err
			}
		}
	}
	return nil
}

// protectedNamespace says why a withdrawal may not run in ns, or "".
// kube-system holds the controllers' own ServiceAccounts: acting as one of
// them is acting as the cluster. The installation's namespace holds the
// operator's and the handoff endpoint's: in a multi-tenant installation
// (a default ServiceAccount) a withdrawal there could act as either. A
// single-tenant installation acts as the operator everywhere anyway.
func (r *RegionWithdrawalReconciler) protectedNamespace(ns string) string {
	switch {
	case ns == metav1.NamespaceSystem:
		return "a withdrawal may not run in kube-system, whose ServiceAccounts are the cluster's own controllers; create it in the namespace of the workloads it withdraws"
	case r.DefaultServiceAccount != "" && r.OwnNamespace != "" && ns == r.OwnNamespace:
		return fmt.Sprintf("a withdrawal may not run in %s, the operator's own namespace, where it could act as the operator's ServiceAccount; create it in a tenant's namespace", ns)
	}
	return ""
}

// probeSpec asks every executor that can whether the API server would
// accept what its step will create.
func (r *RegionWithdrawalReconciler) probeSpec(ctx context.Context, rw *v1.RegionWithdrawal) error {
	var errs []error
	for _, step := range v1.AllSteps {
		if p, ok := r.Executors[step].(executor.SpecProber); ok {
			if err := p.ProbeSpec(ctx, rw); planner.IsSpecError(err) {
				return err
			} else if err != nil {
				errs = append(errs, fmt.Errorf("probing the %s step: %w", step, err))
			}
		}
	}
	return errors.Join(errs...)
}

// executorRisks collects what the executors of started steps foresee.
func (r *RegionWithdrawalReconciler) executorRisks(rw *v1.RegionWithdrawal) []planner.Risk {
	if rw.Spec.DryRun || rw.Spec.Cancel {
		return nil
	}
	var out []planner.Risk
	for _, step := range v1.AllSteps {
		if rr, ok := r.Executors[step].(executor.RiskReporter); ok {
			out = append(out, rr.Risks(rw)...)
		}
	}
	return out
}

func (r *RegionWithdrawalReconciler) plan(tl *planner.Timeline, rw *v1.RegionWithdrawal, now time.Time, w *run) planner.Plan {
	return planner.Make(planner.Input{Timeline: tl, Spec: &rw.Spec, Status: &rw.Status, Now: now, RiskWindow: r.RiskWindow, Blocked: w.blockedWhy(),
		ExportElsewhere: w.exportElsewhere})
}

// blockSteps holds back the steps whose spec errors err holds, and returns
// what is left of err: nil when every error was a step's.
func (w *run) blockSteps(err error) error {
	if err == nil {
		return nil
	}
	var rest []error
	for _, e := range flatten(err) {
		if se, ok := planner.StepSpecError(e); ok {
			w.block(se)
			continue
		}
		rest = append(rest, e)
	}
	return errors.Join(rest...)
}

// flatten lists the errors err joins, or err alone.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// executorFor picks who carries out a: the rehearsal for a dry run, and for
// an action that started as a rehearsal; the step's real executor otherwise.
// ok is false when this build has no executor for a's step.
func (r *RegionWithdrawalReconciler) executorFor(rw *v1.RegionWithdrawal, a planner.Action) (e executor.Executor, rehearsal, ok bool) {
	if rw.Spec.DryRun || startedAsRehearsal(&rw.Status, a) {
		return r.Rehearsal, true, true
	}
	e, ok = r.Executors.For(a.Step)
	return e, false, ok
}

func startedAsRehearsal(status *v1.RegionWithdrawalStatus, a planner.Action) bool {
	if a.Kind == planner.ActionNotice {
		n := planner.Notice(status, a.NoticeID())
		return n != nil && n.StartedAt != nil && n.DryRun
	}
	s := planner.LookupStep(status, a.Step)
	return s.StartedAt != nil && s.DryRun
}

func noExecutor(step v1.StepName) string {
	return fmt.Sprintf("this build of the operator cannot carry out the %s step for real; set spec.dryRun to rehearse it", step)
}

// recording is when the start of a round's actions is written down.
type recording int

const (
	// recordAtEnd: with the status at the end of the reconcile; nothing
	// started, or only read-only executors (the rehearsal) act.
	recordAtEnd recording = iota
	// recordAfter: only self-recording executors act; they act in a first
	// pass and a second pass records them (regionwithdrawal_firstpass.go).
	recordAfter
	// recordBefore: written before any side effect (persistStarted).
	recordBefore
)

// start records due actions as started, and says when that record must be
// written. An action that a first pass carried out is recorded with the
// times it had there.
func (r *RegionWithdrawalReconciler) start(rw *v1.RegionWithdrawal, due []planner.Action, now time.Time, w *run) (started []planner.Action, record recording) {
	for _, a := range due {
		e, rehearsal, ok := r.executorFor(rw, a)
		if !ok {
			summarize.Block(&rw.Status, a.Step, noExecutor(a.Step))
			continue
		}
		at := now
		fp, firstPassed := w.firstPass[a.ID]
		if firstPassed {
			at, a.Lateness = fp.started, fp.started.Sub(a.DueAt)
		}
		planner.RecordStarted(&rw.Status, a, at, rehearsal)
		started = append(started, a)
		switch {
		case executor.IsReadOnly(e):
		case executor.IsSelfRecording(e):
			// Its objects carry the record: it needs none before it. After
			// its first pass, the status at the end records it.
			if !firstPassed {
				record = max(record, recordAfter)
			}
		default:
			record = recordBefore
		}
	}
	return started, record
}

// observeLateness counts how late the started actions began, once per
// action: not in a first pass, whose second pass counts them.
func (r *RegionWithdrawalReconciler) observeLateness(started []planner.Action, record recording) {
	if record == recordAfter {
		return
	}
	for _, a := range started {
		r.Metrics.ObserveLateness(a.Step, string(a.Kind), a.Lateness)
	}
}

// persistStarted is the one status write before the end of a reconcile,
// and the one crash safety needs: the record of started actions is written
// before any of their side effects. If the process dies after this write,
// the next reconcile carries the actions on rather than planning them
// again; if it dies before, they are planned again. The write carries the
// resourceVersion it read, so of two replicas that both believe they lead,
// one loses here and does nothing. It returns the withdrawal as written.
func (r *RegionWithdrawalReconciler) persistStarted(ctx context.Context, rw, written *v1.RegionWithdrawal) (*v1.RegionWithdrawal, error) {
	if err := r.Status().Patch(ctx, rw, client.MergeFromWithOptions(written, client.MergeFromWithOptimisticLock{})); err != nil {
		return written, fmt.Errorf("recording started actions: %w", err)
	}
	// The patch read back the object as the server holds it, with its
	// spec as applied: a fleet member sets its notify and export aside
	// again before it plans or acts on anything more.
	written = rw.DeepCopy()
	actInRole(rw, r.FleetRole, r.ClockOffsets)
	return written, nil
}

// carryOn runs every action in flight once per reconcile and records what
// it achieved. It returns how many actions finished.
func (r *RegionWithdrawalReconciler) carryOn(ctx context.Context, rw *v1.RegionWithdrawal, tl *planner.Timeline, w *run) (finished int) {
	for _, a := range planner.InFlight(&rw.Status) {
		if w.executed[a.ID] {
			continue
		}
		w.executed[a.ID] = true
		if why, paused := pausedForApproval(rw, tl, a); paused {
			planner.StepStatus(&rw.Status, a.Step).Message = why
			continue
		}
		if se, blocked := w.blocked[a.Step]; blocked && a.Kind != planner.ActionRevert {
			planner.StepStatus(&rw.Status, a.Step).Message = "paused until the spec changes: " + se.Error()
			continue
		}
		e, rehearsal, ok := r.executorFor(rw, a)
		if !ok {
			summarize.Block(&rw.Status, a.Step, noExecutor(a.Step))
			continue
		}
		res, err := r.execute(ctx, e, rw, a)
		if se, ok := planner.StepSpecError(err); ok {
			// Not an error to retry: the step waits for the spec to change.
			summarize.RecordError(&rw.Status, a, err)
			w.block(se)
			continue
		}
		if err != nil {
			summarize.RecordError(&rw.Status, a, err)
			w.errs = append(w.errs, fmt.Errorf("%s: %w", a.ID, err))
			continue
		}
		at := r.Clock.Now()
		if fp, ok := w.firstPass[a.ID]; ok && fp.done && res.Done {
			at = fp.finished // done in the first pass, found done now
		}
		summarize.Record(&rw.Status, a, res, at)
		w.results[a.ID] = summarize.Result{Message: res.Message}
		if !res.Done {
			w.wake(cmpOr(res.RequeueAfter, defaultProgressRequeue))
			continue
		}
		finished++
		result := "succeeded"
		switch {
		case rehearsal:
			result = "dry_run"
		case res.Failed:
			result = "failed"
		}
		r.Metrics.CountAction(a.Step, string(a.Kind), result)
	}
	return finished
}

// Preparing a step ahead of its due time (executor.Preparer).
const (
	// prepareWarmup is how long before the due time a step is prepared
	// once more: what that reads, and the SubjectAccessReviews that allow
	// the reads (reused for 10 s), is fresh when the step starts.
	prepareWarmup = 2 * time.Second
	// prepareRetry is how soon a step whose preparation failed is
	// prepared again. One that waits (pods not Ready yet) is woken by the
	// executor's watch instead.
	prepareRetry = 30 * time.Second
)

// prepare readies the steps that can be readied before they are due, from
// their PrepareLead on, and wakes the controller when the next one can
// be. Nothing is prepared in a rehearsal, while suspended or cancelled, or
// before a required approval. A preparation that fails holds nothing
// back: the step does the same when it starts. It returns what each
// prepared step reported.
func (r *RegionWithdrawalReconciler) prepare(ctx context.Context, rw *v1.RegionWithdrawal, tl *planner.Timeline, w *run) map[v1.StepName]string {
	if rw.Spec.Cancel && !rw.Spec.DryRun {
		// An error is the reconcile's, so that it is retried: undoing a
		// preparation may put back routes switched before the cancel.
		if err := r.unprepare(ctx, rw); err != nil {
			w.errs = append(w.errs, err)
		}
	}
	if rw.Spec.DryRun || rw.Spec.Suspend || rw.Spec.Cancel {
		return nil
	}
	out := map[v1.StepName]string{}
	now := r.Clock.Now()
	for _, step := range v1.AllSteps {
		p, ok := r.Executors[step].(executor.Preparer)
		if !ok {
			continue
		}
		due, ok := tl.StepDue(step)
		if !ok || !now.Before(due) || planner.LookupStep(&rw.Status, step).StartedAt != nil ||
			!approved(rw, tl, step) {
			continue
		}
		if from := due.Add(-p.PrepareLead()); now.Before(from) {
			w.wake(from.Sub(now) + requeueSkew)
			continue
		}
		ready, msg, err := p.Prepare(ctx, rw)
		switch {
		case err != nil:
			ctrl.LoggerFrom(ctx).Error(err, "Preparing a step failed; it will do the same when it starts", "step", step)
			msg = "preparing: " + err.Error()
			w.wake(min(prepareRetry, due.Sub(now)))
		case !ready:
			// The executor's watch wakes the withdrawal when what it waits
			// for changes; the warm-up below looks again in any case.
		}
		if warm := due.Add(-prepareWarmup); now.Before(warm) {
			w.wake(warm.Sub(now) + requeueSkew)
		}
		out[step] = msg
	}
	return out
}

// unprepare undoes the preparation of the steps a cancelled withdrawal
// never started.
func (r *RegionWithdrawalReconciler) unprepare(ctx context.Context, rw *v1.RegionWithdrawal) error {
	var errs []error
	for _, step := range v1.AllSteps {
		p, ok := r.Executors[step].(executor.Preparer)
		if !ok || planner.LookupStep(&rw.Status, step).StartedAt != nil {
			continue
		}
		if err := p.Unprepare(ctx, rw); err != nil {
			errs = append(errs, fmt.Errorf("undoing the preparation of the %s step: %w", step, err))
		}
	}
	return errors.Join(errs...)
}

// observeRetry is how soon a step whose observation failed is observed
// again.
const observeRetry = 30 * time.Second

// observe records what changed in started steps since they last ran, by
// what others did (customers fetching their archives).
func (r *RegionWithdrawalReconciler) observe(ctx context.Context, rw *v1.RegionWithdrawal, w *run) {
	for _, step := range v1.AllSteps {
		o, ok := r.Executors[step].(executor.Observer)
		if !ok || planner.LookupStep(&rw.Status, step).StartedAt == nil {
			continue
		}
		d, changed, err := o.Observe(ctx, rw)
		if err != nil {
			// Not an error of the reconcile: its backoff would override the
			// wake-up at the next due time. Look again later.
			ctrl.LoggerFrom(ctx).Error(err, "Observing a step failed", "step", step)
			w.wake(observeRetry)
			continue
		}
		if changed {
			summarize.RecordDetail(&rw.Status, step, d)
		}
	}
}

// execute runs one action within ExecuteTimeout. An action cut off there
// is an error like any other: it is retried, and its step's lastError says
// why.
func (r *RegionWithdrawalReconciler) execute(ctx context.Context, e executor.Executor, rw *v1.RegionWithdrawal, a planner.Action) (executor.Result, error) {
	limit := cmpOr(r.ExecuteTimeout, DefaultExecuteTimeout)
	ectx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	res, err := e.Execute(ectx, rw, a)
	if err != nil && ctx.Err() == nil && errors.Is(ectx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("did not finish within %s (--execute-timeout): %w", limit, err)
	}
	return res, err
}

func cmpOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func approved(rw *v1.RegionWithdrawal, tl *planner.Timeline, step v1.StepName) bool {
	ok, _ := tl.Approval(&rw.Spec, step)
	return ok
}

// pausedForApproval says whether an export or a drain in flight waits,
// because the spec changed after it was approved: both read the spec as
// they go (which workloads, which Job template), so carrying on would act
// on what nobody approved. The routing switch and a notice in flight carry
// on: half a switch at the cutoff, or half the customers told, is worse
// than either finished. A rehearsal does nothing to pause.
func pausedForApproval(rw *v1.RegionWithdrawal, tl *planner.Timeline, a planner.Action) (why string, paused bool) {
	if a.Kind != planner.ActionStart || (a.Step != v1.StepExport && a.Step != v1.StepDrain) || rw.Spec.DryRun {
		return "", false
	}
	ok, why := tl.Approval(&rw.Spec, a.Step)
	if ok {
		return "", false
	}
	return "paused: " + why, true
}

// reportVoidedApprovals says, once, which approvals a spec change voided:
// those that held for the digest the status last recorded and do not for
// the new one. The steps' own states say it too, for as long as it lasts.
func (r *RegionWithdrawalReconciler) reportVoidedApprovals(rw *v1.RegionWithdrawal, old *v1.RegionWithdrawalStatus, tl *planner.Timeline) {
	if old.SpecDigest == "" || old.SpecDigest == tl.SpecDigest {
		return
	}
	var voided []string
	for _, a := range rw.Spec.Approvals {
		if s := planner.StepStatus(old, a.Step); a.SpecDigest == old.SpecDigest && s.FinishedAt == nil {
			voided = append(voided, fmt.Sprintf("%s (approved by %s)", a.Step, a.By))
		}
	}
	if len(voided) == 0 {
		return
	}
	r.Recorder.Eventf(rw, nil, corev1.EventTypeWarning, v1.ReasonApprovalVoided, "Approve",
		"the spec changed (generation %d, digest %s): the approvals of %s no longer hold; approve again to let them run",
		rw.Generation, tl.SpecDigest, strings.Join(voided, ", "))
}

// cutoffChangedBy is who set the cutoff and time zone rw has, as the
// chart's admission policy stamped it; "" when the stamp is missing or is
// of another change (made while the policy was not installed).
func cutoffChangedBy(rw *v1.RegionWithdrawal) string {
	by, to := rw.Annotations[v1.AnnotationCutoffChangedBy], rw.Annotations[v1.AnnotationCutoffChangedTo]
	at, zone, ok := strings.Cut(to, " ")
	if by == "" || !ok || zone != rw.Spec.TimeZone {
		return ""
	}
	t, err := time.Parse(time.RFC3339, at)
	if err != nil || !t.Equal(rw.Spec.Cutoff.Time) {
		return ""
	}
	return by
}
