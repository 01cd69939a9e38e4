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
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

const (
	// maxRounds bounds how many plan-and-act rounds one reconcile makes; a
	// round is needed when finishing one action makes the next due at once
	// (a verified export releases the drain).
	maxRounds = 4
	// defaultProgressRequeue is how soon an unfinished action that named no
	// time of its own is looked at again.
	defaultProgressRequeue = 10 * time.Second
	// lateThreshold is how late an action must start to earn a StepLate Event.
	lateThreshold = time.Minute
	// maxIrreversible caps status.irreversible.
	maxIrreversible = 16
)

// reconcileWithdrawal plans and acts. base is the status last written, which
// it moves forward when it writes the record of started actions itself.
func (r *RegionWithdrawalReconciler) reconcileWithdrawal(ctx context.Context, rw, base *v1.RegionWithdrawal) (ctrl.Result, error) {
	tl, err := planner.Compile(&rw.Spec)
	if err != nil {
		r.markStalled(rw, v1.ReasonInvalidSpec, err.Error())
		return ctrl.Result{}, reconcile.TerminalError(err)
	}
	// A Stalled condition from an earlier bad spec is cleared by summarize,
	// once this reconcile's executors have had their say too.

	if !rw.Spec.DryRun {
		if n := resetRehearsal(&rw.Status); n > 0 {
			r.event(rw, false, v1.ReasonDryRunReset, "Plan", "dryRun is off: %d rehearsed steps will run for real", n)
		}
	}
	syncStepEntries(&rw.Status, tl)

	var (
		errs     []error
		requeue  time.Duration
		executed = map[string]bool{}
	)
	for range maxRounds {
		now := r.Clock.Now()
		plan := r.plan(tl, rw, now)
		if plan.Cancelling {
			planner.RecordCancelAccepted(&rw.Status, tl, now)
		}
		started, err := r.start(ctx, rw, base, plan.Due, now)
		if err != nil {
			if apierrors.IsConflict(err) {
				// Another writer (perhaps a second replica that still
				// believes it leads) got there first: act on its record.
				return ctrl.Result{Requeue: true}, nil
			}
			return ctrl.Result{}, err
		}
		after, finished, err := r.carryOn(ctx, rw, executed)
		errs = append(errs, err)
		if after > 0 && (requeue == 0 || after < requeue) {
			requeue = after
		}
		// Plan again only if something started or finished: a finished
		// action may release the next (a verified export, the drain).
		if started == 0 && finished == 0 {
			break
		}
	}

	// An executor that found the spec unusable (a template that does not
	// render, say) stalls the withdrawal until the spec changes.
	var specErr *planner.SpecError
	errors.As(errors.Join(errs...), &specErr)

	now := r.Clock.Now()
	plan := r.plan(tl, rw, now)
	plan.Risks = append(plan.Risks, r.executorRisks(rw)...)
	r.applyHolds(rw, tl, plan)
	r.summarize(rw, plan, specErr)
	if specErr != nil {
		return ctrl.Result{}, reconcile.TerminalError(specErr)
	}

	if !plan.WakeAt.IsZero() {
		if wake := plan.WakeAt.Sub(now) + requeueSkew; requeue == 0 || wake < requeue {
			requeue = wake
		}
	}
	if len(plan.Due) > 0 && (requeue == 0 || requeue > requeueSkew) {
		// More fell due than this reconcile's rounds allowed.
		requeue = requeueSkew
	}
	return ctrl.Result{RequeueAfter: requeue}, errors.Join(errs...)
}

// executorRisks collects what the executors of started steps foresee.
func (r *RegionWithdrawalReconciler) executorRisks(rw *v1.RegionWithdrawal) []planner.Risk {
	if rw.Spec.DryRun || rw.Spec.Cancel {
		return nil
	}
	var out []planner.Risk
	for _, step := range v1.AllSteps {
		rr, ok := r.Executors[step].(executor.RiskReporter)
		if !ok {
			continue
		}
		for _, risk := range rr.Risks(rw) {
			out = append(out, planner.Risk{Step: risk.Step, Reason: risk.Reason, Message: risk.Message})
		}
	}
	return out
}

func (r *RegionWithdrawalReconciler) plan(tl *planner.Timeline, rw *v1.RegionWithdrawal, now time.Time) planner.Plan {
	return planner.Make(planner.Input{Timeline: tl, Spec: &rw.Spec, Status: &rw.Status, Now: now, RiskWindow: r.RiskWindow})
}

// executorFor picks who carries out a: the rehearsal for a dry run, and for
// an action that started as a rehearsal; the step's real executor otherwise.
func (r *RegionWithdrawalReconciler) executorFor(rw *v1.RegionWithdrawal, a planner.Action) (executor.Executor, bool, error) {
	if rw.Spec.DryRun || startedAsRehearsal(&rw.Status, a) {
		return r.Rehearsal, true, nil
	}
	e, err := r.Executors.For(a.Step)
	return e, false, err
}

func startedAsRehearsal(status *v1.RegionWithdrawalStatus, a planner.Action) bool {
	if a.Kind == planner.ActionNotice {
		n := planner.Notice(status, a.NoticeID())
		return n != nil && n.StartedAt != nil && n.DryRun
	}
	for _, s := range status.Steps {
		if s.Name == a.Step {
			return s.StartedAt != nil && s.DryRun
		}
	}
	return false
}

// start records due actions as started. Unless every one of them is
// carried out by a read-only executor, the record is written before any side
// effect: if the process dies after this write, the next reconcile carries
// the actions on rather than planning them again; if it dies before, they
// are planned again. The write carries the resourceVersion it read, so of
// two replicas that both believe they lead, one loses here and does nothing.
func (r *RegionWithdrawalReconciler) start(ctx context.Context, rw, base *v1.RegionWithdrawal, due []planner.Action, now time.Time) (int, error) {
	started, mustPersist := 0, false
	for _, a := range due {
		e, rehearsal, err := r.executorFor(rw, a)
		if err != nil {
			r.blockStep(rw, a.Step, fmt.Sprintf("this build of the operator cannot carry out the %s step for real yet; set spec.dryRun to rehearse it", a.Step))
			continue
		}
		planner.RecordStarted(&rw.Status, a, now, rehearsal)
		r.Metrics.ObserveLateness(a.Step, string(a.Kind), a.Lateness)
		// A rehearsal finishes in this reconcile and its DryRunPlanned
		// Event says all there is to say, unless it started late.
		if !rehearsal || a.Lateness >= lateThreshold || a.MissedSlots > 0 {
			r.eventStarted(rw, a, rehearsal)
		}
		started++
		mustPersist = mustPersist || !executor.IsReadOnly(e)
	}
	if !mustPersist {
		return started, nil
	}
	if err := r.Status().Patch(ctx, rw, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return 0, fmt.Errorf("recording started actions: %w", err)
	}
	*base = *rw.DeepCopy()
	return started, nil
}

// inFlight lists the actions that started and have not finished: reverts
// first, newest step first, then the notice being sent, then running steps.
func inFlight(status *v1.RegionWithdrawalStatus) []planner.Action {
	var out []planner.Action
	for _, step := range slices.Backward(v1.AllSteps) {
		for _, s := range status.Steps {
			if s.Name == step && s.State == v1.StepReverting {
				out = append(out, planner.Action{ID: "revert/" + string(step), Kind: planner.ActionRevert, Step: step})
			}
		}
	}
	if status.Notify != nil {
		for _, n := range status.Notify.Notices {
			if n.StartedAt != nil && n.FinishedAt == nil {
				out = append(out, planner.Action{ID: "notify/" + n.ID, Kind: planner.ActionNotice, Step: v1.StepNotify, Notice: n.Kind, DueAt: n.ScheduledAt.Time})
			}
		}
	}
	for _, step := range v1.AllSteps {
		for _, s := range status.Steps {
			if s.Name == step && step != v1.StepNotify && s.State == v1.StepRunning {
				a := planner.Action{ID: string(step), Kind: planner.ActionStart, Step: step}
				if s.DueAt != nil {
					a.DueAt = s.DueAt.Time
				}
				out = append(out, a)
			}
		}
	}
	return out
}

// carryOn runs every action in flight once per reconcile and records what
// it achieved. It returns how soon unfinished work wants another look, and
// how many actions finished.
func (r *RegionWithdrawalReconciler) carryOn(ctx context.Context, rw *v1.RegionWithdrawal, executed map[string]bool) (time.Duration, int, error) {
	var (
		requeue  time.Duration
		finished int
		errs     []error
	)
	for _, a := range inFlight(&rw.Status) {
		if executed[a.ID] {
			continue
		}
		executed[a.ID] = true
		e, rehearsal, err := r.executorFor(rw, a)
		if err != nil {
			r.blockStep(rw, a.Step, fmt.Sprintf("this build of the operator cannot carry out the %s step for real", a.Step))
			continue
		}
		res, err := e.Execute(ctx, rw, a)
		now := r.Clock.Now()
		if err != nil {
			s := planner.StepStatus(&rw.Status, a.Step)
			s.LastError = err.Error()
			errs = append(errs, fmt.Errorf("%s: %w", a.ID, err))
			continue
		}
		r.record(rw, a, res, rehearsal, now)
		if res.Done {
			finished++
		} else {
			after := res.RequeueAfter
			if after <= 0 {
				after = defaultProgressRequeue
			}
			if requeue == 0 || after < requeue {
				requeue = after
			}
		}
	}
	return requeue, finished, errors.Join(errs...)
}

// record writes an executor's result into status, with an Event when the
// action finished.
func (r *RegionWithdrawalReconciler) record(rw *v1.RegionWithdrawal, a planner.Action, res executor.Result, rehearsal bool, now time.Time) {
	s := planner.StepStatus(&rw.Status, a.Step)
	s.LastError = ""
	if res.Message != "" {
		s.Message = res.Message
	}
	if res.Plan != nil {
		s.Plan = res.Plan
	}
	if res.Progress != nil {
		s.Progress = res.Progress
	}
	result := "succeeded"
	switch {
	case rehearsal:
		result = "dry_run"
	case res.Failed:
		result = "failed"
	}
	if a.Kind == planner.ActionNotice {
		if n := planner.Notice(&rw.Status, a.NoticeID()); n != nil {
			n.Recipients, n.Sent, n.Failed = res.Recipients, res.Sent, res.NoticeFailed
			n.Pending = max(0, res.Recipients-res.Sent-res.NoticeFailed)
			if n.DryRun {
				n.Pending = 0 // a rehearsal sends nothing and leaves nothing to send
			}
		}
	}
	if !res.Done {
		return
	}
	r.Metrics.CountAction(a.Step, string(a.Kind), result)
	switch a.Kind {
	case planner.ActionNotice:
		planner.RecordNoticeFinished(&rw.Status, a.NoticeID(), now)
		if rehearsal {
			r.event(rw, false, v1.ReasonDryRunPlanned, "Notify", "%s: %s", a.ID, res.Message)
		} else {
			r.event(rw, res.NoticeFailed > 0, v1.ReasonStepSucceeded, "Notify", "%s finished: %d sent, %d failed of %d recipients", a.ID, res.Sent, res.NoticeFailed, res.Recipients)
		}
	case planner.ActionStart:
		state := v1.StepSucceeded
		if res.Failed {
			state = v1.StepFailed
		}
		planner.RecordStepFinished(&rw.Status, a.Step, state, now)
		switch {
		case rehearsal:
			r.event(rw, false, v1.ReasonDryRunPlanned, "Plan", "%s: %s", a.Step, res.Message)
		case res.Failed:
			r.event(rw, true, v1.ReasonStepFailed, "Run", "%s failed: %s", a.Step, res.Message)
		default:
			r.event(rw, false, v1.ReasonStepSucceeded, "Run", "%s finished: %s", a.Step, res.Message)
		}
	case planner.ActionRevert:
		planner.RecordStepFinished(&rw.Status, a.Step, v1.StepReverted, now)
		for _, what := range res.Irreversible {
			if !slices.Contains(rw.Status.Irreversible, what) && len(rw.Status.Irreversible) < maxIrreversible {
				rw.Status.Irreversible = append(rw.Status.Irreversible, what)
			}
		}
		r.event(rw, false, v1.ReasonCancelling, "Revert", "%s reverted: %s", a.Step, res.Message)
	}
}

func (r *RegionWithdrawalReconciler) eventStarted(rw *v1.RegionWithdrawal, a planner.Action, rehearsal bool) {
	what := a.ID
	if rehearsal {
		what += " (dry run)"
	}
	switch {
	case a.Kind == planner.ActionRevert:
		r.event(rw, false, v1.ReasonCancelling, "Revert", "reverting %s", a.Step)
	case a.MissedSlots > 0:
		r.event(rw, true, v1.ReasonRemindersFolded, "Notify", "%s started %s late; %d earlier reminder slots missed during downtime are folded into it", what, a.Lateness.Round(time.Second), a.MissedSlots)
	case a.Lateness >= lateThreshold:
		r.event(rw, true, v1.ReasonStepLate, "Run", "%s started %s after it was due", what, a.Lateness.Round(time.Second))
	case a.Kind == planner.ActionNotice:
		r.event(rw, false, v1.ReasonNoticeDue, "Notify", "%s started", what)
	default:
		r.event(rw, false, v1.ReasonStepStarted, "Run", "%s started", what)
	}
}

func (r *RegionWithdrawalReconciler) blockStep(rw *v1.RegionWithdrawal, step v1.StepName, msg string) {
	s := planner.StepStatus(&rw.Status, step)
	if s.State != v1.StepBlocked || s.Message != msg {
		r.event(rw, true, "StepBlocked", "Run", "%s: %s", step, msg)
	}
	s.State, s.Message = v1.StepBlocked, msg
}

// syncStepEntries keeps one status entry per configured step, with its due
// time, and drops the entries of steps removed from the spec before they
// started.
func syncStepEntries(status *v1.RegionWithdrawalStatus, tl *planner.Timeline) {
	configured := tl.Steps()
	status.Steps = slices.DeleteFunc(status.Steps, func(s v1.StepStatus) bool {
		return !slices.Contains(configured, s.Name) && s.StartedAt == nil
	})
	for _, step := range configured {
		s := planner.StepStatus(status, step)
		if s.StartedAt == nil {
			due, _ := tl.StepDue(step)
			if s.DueAt == nil || !s.DueAt.Time.Equal(due) {
				t := metav1.NewTime(due)
				s.DueAt = &t
			}
		}
	}
	slices.SortStableFunc(status.Steps, func(a, b v1.StepStatus) int {
		return slices.Index(v1.AllSteps, a.Name) - slices.Index(v1.AllSteps, b.Name)
	})
}

// resetRehearsal forgets what a dry run did, so that the real run does it
// again for real. It returns how many steps it reset.
func resetRehearsal(status *v1.RegionWithdrawalStatus) int {
	n := 0
	for i := range status.Steps {
		s := &status.Steps[i]
		if s.DryRun {
			*s = v1.StepStatus{Name: s.Name, State: v1.StepPending, DueAt: s.DueAt}
			n++
		}
	}
	if status.Notify != nil {
		status.Notify.Notices = slices.DeleteFunc(status.Notify.Notices, func(ns v1.NoticeStatus) bool { return ns.DryRun })
		status.Notify.LastReminderSlot, status.Notify.RemindersSent = nil, 0
		for _, ns := range status.Notify.Notices {
			if ns.Kind == v1.NoticeReminder {
				status.Notify.RemindersSent++
				if status.Notify.LastReminderSlot == nil || status.Notify.LastReminderSlot.Before(&ns.ScheduledAt) {
					slot := ns.ScheduledAt
					status.Notify.LastReminderSlot = &slot
				}
			}
		}
	}
	return n
}

// applyHolds shows in each step's state why a due step waits.
func (r *RegionWithdrawalReconciler) applyHolds(rw *v1.RegionWithdrawal, tl *planner.Timeline, plan planner.Plan) {
	held := map[v1.StepName]planner.Hold{}
	for _, h := range plan.Held {
		if _, ok := held[h.Action.Step]; !ok {
			held[h.Action.Step] = h
		}
	}
	// A step still due after this reconcile could not start (blockStep
	// said why); leave its state alone.
	due := map[v1.StepName]bool{}
	for _, a := range plan.Due {
		due[a.Step] = true
	}
	for _, step := range tl.Steps() {
		s := planner.StepStatus(&rw.Status, step)
		if s.StartedAt != nil || s.State == v1.StepCancelled || due[step] {
			continue
		}
		h, ok := held[step]
		switch {
		case ok && h.Reason == planner.HoldApproval:
			if s.State != v1.StepWaitingForApproval {
				r.event(rw, true, v1.ReasonWaitingForApproval, "Approve", "%s is due and waits for approval: %s", step, h.Message)
			}
			s.State, s.Message = v1.StepWaitingForApproval, h.Message
		case ok && h.Reason == planner.HoldExport:
			if s.State != v1.StepBlocked {
				r.event(rw, true, v1.ReasonWaitingForExport, "Run", "%s is due and %s", step, h.Message)
			}
			s.State, s.Message = v1.StepBlocked, h.Message
		case ok && h.Reason == planner.HoldSuspended:
			s.State, s.Message = v1.StepPending, "due, and held while the withdrawal is suspended"
		default:
			s.State = v1.StepPending
			if s.DueAt != nil {
				s.Message = "due at " + s.DueAt.UTC().Format(time.RFC3339)
			}
		}
	}
}
