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
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// setCondition sets a condition stamped with the spec generation it describes.
func setCondition(rw *v1.RegionWithdrawal, typ string, status bool, reason, msg string) bool {
	s := metav1.ConditionFalse
	if status {
		s = metav1.ConditionTrue
	}
	return meta.SetStatusCondition(&rw.Status.Conditions, metav1.Condition{
		Type: typ, Status: s, Reason: reason, Message: truncate(msg, 32768), ObservedGeneration: rw.Generation,
	})
}

// setObservedGeneration stamps every condition with the current generation,
// once the reconcile that computed them succeeded.
func setObservedGeneration(rw *v1.RegionWithdrawal) {
	for i := range rw.Status.Conditions {
		rw.Status.Conditions[i].ObservedGeneration = rw.Generation
	}
}

// markStalled reports a spec that cannot be carried out as written. It is
// terminal: the controller does not retry until the spec changes.
func (r *RegionWithdrawalReconciler) markStalled(rw *v1.RegionWithdrawal, reason, msg string) {
	prev := meta.FindStatusCondition(rw.Status.Conditions, v1.ConditionStalled)
	if prev == nil || prev.Status != metav1.ConditionTrue || prev.Message != msg {
		r.event(rw, true, reason, "Validate", "%s", msg)
	}
	setCondition(rw, v1.ConditionStalled, true, reason, msg)
	setCondition(rw, v1.ConditionReady, false, reason, msg)
	setCondition(rw, v1.ConditionReconciling, false, reason, "stalled: "+msg)
	rw.Status.Phase = v1.PhaseStalled
	rw.Status.NextAction, rw.Status.NextActionAt = "", nil
}

// clearStalled clears a Stalled condition of the given reason.
func (r *RegionWithdrawalReconciler) clearStalled(rw *v1.RegionWithdrawal, reason string) {
	if c := meta.FindStatusCondition(rw.Status.Conditions, v1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue && c.Reason == reason {
		setCondition(rw, v1.ConditionStalled, false, reason, "resolved")
	}
}

// summarize sets the phase, the next action and the kstatus conditions from
// the final plan of a reconcile, with an Event for each change a person
// would want to hear of.
func (r *RegionWithdrawalReconciler) summarize(rw *v1.RegionWithdrawal, plan planner.Plan, specErr *planner.SpecError) {
	st := &rw.Status
	oldPhase := st.Phase
	busy := len(inFlight(st)) > 0

	var approvals, exports []string
	for _, h := range plan.Held {
		switch h.Reason {
		case planner.HoldApproval:
			approvals = append(approvals, string(h.Action.Step))
		case planner.HoldExport:
			exports = append(exports, string(h.Action.Step))
		}
	}

	switch {
	case plan.Cancelling && (busy || len(plan.Due) > 0):
		st.Phase = v1.PhaseCancelling
	case plan.Cancelling:
		st.Phase = v1.PhaseCancelled
	case rw.Spec.Suspend:
		st.Phase = v1.PhaseSuspended
	case allSucceeded(st) && plan.Next == nil && len(plan.Held) == 0 && len(plan.Due) == 0:
		st.Phase = v1.PhaseCompleted
	case len(approvals) > 0:
		st.Phase = v1.PhaseWaitingForApproval
	case anyStarted(st):
		st.Phase = v1.PhaseInProgress
	default:
		st.Phase = v1.PhaseScheduled
	}

	// Next action: a held one first (it is overdue), else the next due.
	st.NextAction, st.NextActionAt = "", nil
	if len(plan.Held) > 0 && !plan.CancelRefused {
		h := plan.Held[0]
		t := metav1.NewTime(h.Action.DueAt)
		st.NextAction, st.NextActionAt = fmt.Sprintf("%s (%s)", h.Action.Name(), h.Reason), &t
	} else if plan.Next != nil && !plan.Cancelling {
		t := metav1.NewTime(plan.Next.DueAt)
		st.NextAction, st.NextActionAt = plan.Next.Name(), &t
	}

	// Stalled for a refused cancel: the spec asks for what cannot be done.
	if plan.CancelRefused {
		msg := plan.Held[len(plan.Held)-1].Message
		for _, h := range plan.Held {
			if h.Reason == planner.HoldCancelRefused {
				msg = "cancel refused: " + h.Message
			}
		}
		r.markStalledKeepPhase(rw, v1.ReasonCancelRefused, "Cancel", msg)
	} else {
		r.clearStalled(rw, v1.ReasonCancelRefused)
	}
	if specErr != nil {
		r.markStalledKeepPhase(rw, v1.ReasonInvalidSpec, "Validate", specErr.Error())
	} else {
		r.clearStalled(rw, v1.ReasonInvalidSpec)
	}
	if c := meta.FindStatusCondition(st.Conditions, v1.ConditionStalled); c == nil {
		setCondition(rw, v1.ConditionStalled, false, v1.ReasonScheduled, "the spec can be carried out")
	}

	// Reconciling and Ready.
	switch {
	case busy:
		setCondition(rw, v1.ConditionReconciling, true, v1.ReasonStepRunning, "running: "+strings.Join(actionIDs(inFlight(st)), ", "))
	default:
		setCondition(rw, v1.ConditionReconciling, false, v1.ReasonScheduled, "nothing is running")
	}
	stalled := meta.IsStatusConditionTrue(st.Conditions, v1.ConditionStalled)
	switch {
	case stalled:
		c := meta.FindStatusCondition(st.Conditions, v1.ConditionStalled)
		setCondition(rw, v1.ConditionReady, false, c.Reason, c.Message)
	case busy:
		setCondition(rw, v1.ConditionReady, false, v1.ReasonStepRunning, "a step is running")
	case st.Phase == v1.PhaseCancelled:
		setCondition(rw, v1.ConditionReady, true, v1.ReasonCancelled, "the withdrawal was cancelled; status.irreversible lists what could not be undone")
	case st.Phase == v1.PhaseCompleted:
		setCondition(rw, v1.ConditionReady, true, v1.ReasonCompleted, "every step has finished")
	case rw.Spec.Suspend:
		setCondition(rw, v1.ConditionReady, false, v1.ReasonSuspended, "spec.suspend is true")
	case len(approvals) > 0:
		setCondition(rw, v1.ConditionReady, false, v1.ReasonWaitingForApproval, "waiting for approval of: "+strings.Join(approvals, ", "))
	case len(exports) > 0:
		setCondition(rw, v1.ConditionReady, false, v1.ReasonWaitingForExport, strings.Join(exports, ", ")+" waits for the export to be verified")
	case st.NextAction != "":
		setCondition(rw, v1.ConditionReady, true, v1.ReasonScheduled, fmt.Sprintf("next: %s at %s", st.NextAction, st.NextActionAt.UTC().Format("2006-01-02T15:04:05Z")))
	default:
		setCondition(rw, v1.ConditionReady, true, v1.ReasonScheduled, "on schedule")
	}

	// DeadlineAtRisk.
	if len(plan.Risks) > 0 {
		var msgs []string
		for _, rk := range plan.Risks {
			msgs = append(msgs, rk.Message)
		}
		msg := strings.Join(msgs, "; ")
		prev := meta.FindStatusCondition(st.Conditions, v1.ConditionDeadlineAtRisk)
		if prev == nil || prev.Status != metav1.ConditionTrue || prev.Message != msg {
			r.event(rw, true, v1.ConditionDeadlineAtRisk, "Plan", "%s", msg)
		}
		setCondition(rw, v1.ConditionDeadlineAtRisk, true, plan.Risks[0].Reason, msg)
	} else {
		setCondition(rw, v1.ConditionDeadlineAtRisk, false, v1.ReasonOnTrack, "nothing puts the cutoff or a deadline at risk")
	}

	// Phase transitions a person wants to hear of.
	if oldPhase != st.Phase {
		switch {
		case st.Phase == v1.PhaseSuspended:
			r.event(rw, false, v1.ReasonSuspended, "Suspend", "suspended: nothing new starts until spec.suspend is false")
		case oldPhase == v1.PhaseSuspended:
			r.event(rw, false, v1.ReasonResumed, "Resume", "resumed")
		}
		switch st.Phase {
		case v1.PhaseCompleted:
			r.event(rw, false, v1.ReasonCompleted, "Complete", "every step has finished")
		case v1.PhaseCancelled:
			r.event(rw, false, v1.ReasonCancelled, "Cancel", "cancelled; could not be undone: %s", orNone(st.Irreversible))
		case v1.PhaseScheduled:
			if st.NextAction != "" {
				r.event(rw, false, v1.ReasonScheduled, "Plan", "scheduled: %s at %s", st.NextAction, st.NextActionAt.UTC().Format("2006-01-02T15:04:05Z"))
			}
		}
	}
}

// markStalledKeepPhase sets Stalled without changing the phase, for a
// request (such as a late cancel) that cannot be done while the rest goes on.
func (r *RegionWithdrawalReconciler) markStalledKeepPhase(rw *v1.RegionWithdrawal, reason, action, msg string) {
	prev := meta.FindStatusCondition(rw.Status.Conditions, v1.ConditionStalled)
	if prev == nil || prev.Status != metav1.ConditionTrue || prev.Message != msg {
		r.event(rw, true, reason, action, "%s", msg)
	}
	setCondition(rw, v1.ConditionStalled, true, reason, msg)
}

func allSucceeded(st *v1.RegionWithdrawalStatus) bool {
	if len(st.Steps) == 0 {
		return false
	}
	for _, s := range st.Steps {
		if s.State != v1.StepSucceeded {
			return false
		}
	}
	return true
}

func anyStarted(st *v1.RegionWithdrawalStatus) bool {
	for _, s := range st.Steps {
		if s.StartedAt != nil {
			return true
		}
	}
	return false
}

func actionIDs(as []planner.Action) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, "; ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
