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

package summarize

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/text"
)

// maxConditionMessage is the API's limit on a condition message.
const maxConditionMessage = 32768

// Input is what the summary of a reconcile is computed from, beside the
// status its actions left.
type Input struct {
	Spec     *v1.RegionWithdrawalSpec
	Timeline *planner.Timeline
	// Plan is the plan made after the reconcile's last action, with the
	// executors' risks added.
	Plan planner.Plan
	// SpecErr is set when an executor found the spec unusable as written
	// (a template that does not render, say): the withdrawal stalls.
	SpecErr error
	// Denied is set when the withdrawal's ServiceAccount may not make a
	// request its steps need: the withdrawal stalls until RBAC allows it.
	Denied error
	// Evidence is set when the evidence ledger refuses to record (found
	// tampered, or sealed): the withdrawal stalls until it is restored.
	Evidence error
	// Results are the executors' results of this reconcile, by action ID;
	// Events quotes their messages.
	Results map[string]Result
	// Prepared says, for a step readied ahead of its due time, how far
	// that went ("notice backend ready"); the step's message adds it.
	Prepared map[v1.StepName]string
}

// Result is an executor's result as Events quotes it.
type Result struct {
	Message string
}

// Status returns the status of a withdrawal after a reconcile: st as the
// reconcile's actions left it, with each waiting step's state, the phase,
// the next action and the kstatus conditions worked out from the plan. st
// is not changed. Conditions keep the generation of the last successful
// reconcile; the controller stamps the new one when this one succeeds.
func Status(st *v1.RegionWithdrawalStatus, in Input) *v1.RegionWithdrawalStatus {
	out := st.DeepCopy()
	applyHolds(out, in)
	inFlight := planner.InFlight(out)
	out.Phase = phase(out, in, len(inFlight) > 0)
	out.NextAction, out.NextActionAt = nextAction(in.Plan)
	conditions(out, in, inFlight)
	return out
}

// Invalid returns the status of a withdrawal whose spec cannot be compiled
// into a timeline: Stalled, with nothing next, until the spec changes.
func Invalid(st *v1.RegionWithdrawalStatus, msg string) *v1.RegionWithdrawalStatus {
	out := st.DeepCopy()
	set := conditionSetter(out)
	set(v1.ConditionStalled, true, v1.ReasonInvalidSpec, msg)
	set(v1.ConditionReady, false, v1.ReasonInvalidSpec, msg)
	set(v1.ConditionReconciling, false, v1.ReasonInvalidSpec, "stalled: "+msg)
	out.Phase = v1.PhaseStalled
	out.NextAction, out.NextActionAt = "", nil
	return out
}

// applyHolds shows in each due step's state why it waits.
func applyHolds(st *v1.RegionWithdrawalStatus, in Input) {
	held := map[v1.StepName]planner.Hold{}
	for _, h := range in.Plan.Held {
		if _, ok := held[h.Action.Step]; !ok {
			held[h.Action.Step] = h
		}
	}
	// A step still due after this reconcile could not start (Block said
	// why); leave its state alone.
	due := map[v1.StepName]bool{}
	for _, a := range in.Plan.Due {
		due[a.Step] = true
	}
	for _, step := range in.Timeline.Steps() {
		s := planner.StepStatus(st, step)
		// A step that ended without starting (the notices the cutoff
		// overtook) keeps its end.
		if s.StartedAt != nil || s.FinishedAt != nil || s.State == v1.StepCancelled || due[step] {
			continue
		}
		h, ok := held[step]
		switch {
		case ok && h.Reason == planner.HoldApproval:
			s.State, s.Message = v1.StepWaitingForApproval, h.Message
		case ok && h.Reason == planner.HoldExport:
			s.State, s.Message = v1.StepBlocked, h.Message
		case ok && h.Reason == planner.HoldInvalidSpec:
			s.State, s.Message = v1.StepBlocked, h.Message
		case ok && h.Reason == planner.HoldSuspended:
			s.State, s.Message = v1.StepPending, "due, and held while the withdrawal is suspended"
		default:
			s.State = v1.StepPending
			if s.DueAt != nil {
				s.Message = "due at " + s.DueAt.UTC().Format(time.RFC3339)
			}
			if p := in.Prepared[step]; p != "" {
				s.Message += "; " + p
			}
		}
	}
}

// phase is the withdrawal's phase; busy says an action is in flight.
func phase(st *v1.RegionWithdrawalStatus, in Input, busy bool) v1.Phase {
	switch {
	case in.Plan.Cancelling && (busy || len(in.Plan.Due) > 0):
		return v1.PhaseCancelling
	case in.Plan.Cancelling:
		return v1.PhaseCancelled
	case in.Spec.Suspend:
		return v1.PhaseSuspended
	case allEnded(st) && in.Plan.Next == nil && len(in.Plan.Held) == 0 && len(in.Plan.Due) == 0:
		return v1.PhaseCompleted
	case len(heldFor(in.Plan, planner.HoldApproval)) > 0:
		return v1.PhaseWaitingForApproval
	case anyStarted(st):
		return v1.PhaseInProgress
	default:
		return v1.PhaseScheduled
	}
}

// nextAction is a held action first (it is overdue), else the next due.
func nextAction(plan planner.Plan) (string, *metav1.Time) {
	switch {
	case len(plan.Held) > 0 && !plan.CancelRefused:
		h := plan.Held[0]
		t := metav1.NewTime(h.Action.DueAt)
		return fmt.Sprintf("%s (%s)", h.Action.Name(), h.Reason), &t
	case plan.Next != nil && !plan.Cancelling:
		t := metav1.NewTime(plan.Next.DueAt)
		return plan.Next.Name(), &t
	default:
		return "", nil
	}
}

// conditions sets Stalled, Reconciling, Ready and DeadlineAtRisk, in that
// order: Ready repeats a Stalled condition's reason.
func conditions(st *v1.RegionWithdrawalStatus, in Input, inFlight []planner.Action) {
	set := conditionSetter(st)
	stalled(st, in, set)

	if len(inFlight) > 0 {
		ids := make([]string, 0, len(inFlight))
		for _, a := range inFlight {
			ids = append(ids, a.ID)
		}
		set(v1.ConditionReconciling, true, v1.ReasonStepRunning, "running: "+strings.Join(ids, ", "))
	} else {
		set(v1.ConditionReconciling, false, v1.ReasonScheduled, "nothing is running")
	}

	approvals, exports := heldFor(in.Plan, planner.HoldApproval), heldFor(in.Plan, planner.HoldExport)
	switch c := meta.FindStatusCondition(st.Conditions, v1.ConditionStalled); {
	case c.Status == metav1.ConditionTrue:
		set(v1.ConditionReady, false, c.Reason, c.Message)
	case len(inFlight) > 0:
		set(v1.ConditionReady, false, v1.ReasonStepRunning, "a step is running")
	case st.Phase == v1.PhaseCancelled:
		set(v1.ConditionReady, true, v1.ReasonCancelled, "the withdrawal was cancelled; status.irreversible lists what could not be undone")
	case st.Phase == v1.PhaseCompleted:
		set(v1.ConditionReady, true, v1.ReasonCompleted, text.Truncate(completedMessage(st), MaxStepMessage))
	// Suspended and waiting for approval are Ready: the spec is accepted
	// and the operator has done all it can until a person acts. kstatus
	// (Flux, Helm --wait) reads a False Ready as still in progress and
	// would wait for that person.
	case in.Spec.Suspend:
		set(v1.ConditionReady, true, v1.ReasonSuspended, "spec.suspend is true")
	case len(approvals) > 0:
		set(v1.ConditionReady, true, v1.ReasonWaitingForApproval, "waiting for approval of: "+strings.Join(approvals, ", "))
	case len(exports) > 0:
		set(v1.ConditionReady, false, v1.ReasonWaitingForExport, strings.Join(exports, ", ")+" waits for the export to be verified")
	case st.NextAction != "":
		set(v1.ConditionReady, true, v1.ReasonScheduled, fmt.Sprintf("next: %s at %s", st.NextAction, st.NextActionAt.UTC().Format(time.RFC3339)))
	default:
		set(v1.ConditionReady, true, v1.ReasonScheduled, "on schedule")
	}

	cutoffCondition(st, set)

	if risks := in.Plan.Risks; len(risks) > 0 {
		msgs := make([]string, 0, len(risks))
		for _, rk := range risks {
			msgs = append(msgs, rk.Message)
		}
		set(v1.ConditionDeadlineAtRisk, true, risks[0].Reason, strings.Join(msgs, "; "))
	} else {
		set(v1.ConditionDeadlineAtRisk, false, v1.ReasonOnTrack, "nothing puts the cutoff or a deadline at risk")
	}
}

// stalled sets Stalled for a spec that asks for what cannot be done: a
// refused cancel, a spec an executor could not use, or a request the
// withdrawal's ServiceAccount may not make. A Stalled of either
// reason clears once its cause is gone; an InvalidSpec from an earlier
// reconcile that could not compile the spec clears here too.
func stalled(st *v1.RegionWithdrawalStatus, in Input, set func(string, bool, string, string)) {
	clear := func(reason string) {
		if c := meta.FindStatusCondition(st.Conditions, v1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue && c.Reason == reason {
			set(v1.ConditionStalled, false, reason, "resolved")
		}
	}
	if in.Plan.CancelRefused {
		held := in.Plan.Held
		msg := held[len(held)-1].Message
		for _, h := range held {
			if h.Reason == planner.HoldCancelRefused {
				msg = "cancel refused: " + h.Message
			}
		}
		set(v1.ConditionStalled, true, v1.ReasonCancelRefused, msg)
	} else {
		clear(v1.ReasonCancelRefused)
	}
	var specErr *planner.SpecError
	if errors.As(in.SpecErr, &specErr) {
		set(v1.ConditionStalled, true, v1.ReasonInvalidSpec, specErr.Error())
	} else {
		clear(v1.ReasonInvalidSpec)
	}
	if in.Denied != nil {
		set(v1.ConditionStalled, true, v1.ReasonPermissionDenied, in.Denied.Error())
	} else {
		clear(v1.ReasonPermissionDenied)
	}
	if reason := evidenceReason(in.Evidence); reason != "" {
		set(v1.ConditionStalled, true, reason, in.Evidence.Error())
	} else {
		clear(v1.ReasonEvidenceTampered)
		clear(v1.ReasonEvidenceSealed)
	}
	if meta.FindStatusCondition(st.Conditions, v1.ConditionStalled) == nil {
		set(v1.ConditionStalled, false, v1.ReasonScheduled, "the spec can be carried out")
	}
}

// EvidenceRefused returns st with Stalled (and Ready) set for a ledger
// that refused to record: the status of a reconcile whose own records could
// not be appended, which counts nothing new.
func EvidenceRefused(st *v1.RegionWithdrawalStatus, err error) *v1.RegionWithdrawalStatus {
	out := st.DeepCopy()
	reason := evidenceReason(err)
	if reason == "" {
		return out
	}
	set := conditionSetter(out)
	set(v1.ConditionStalled, true, reason, err.Error())
	set(v1.ConditionReady, false, reason, err.Error())
	return out
}

// evidenceReason is the Stalled reason of a ledger's refusal; "" for any
// other error, which is retried.
func evidenceReason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ledger.ErrTampered):
		return v1.ReasonEvidenceTampered
	case errors.Is(err, ledger.ErrSealed):
		return v1.ReasonEvidenceSealed
	}
	return ""
}

// conditionSetter sets conditions on st, stamped with the generation st
// last observed.
func conditionSetter(st *v1.RegionWithdrawalStatus) func(typ string, status bool, reason, msg string) {
	return func(typ string, status bool, reason, msg string) {
		s := metav1.ConditionFalse
		if status {
			s = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: typ, Status: s, Reason: reason, Message: text.Truncate(msg, maxConditionMessage), ObservedGeneration: st.ObservedGeneration,
		})
	}
}

// Observed stamps status and every condition with the generation a
// successful reconcile has acted on.
func Observed(st *v1.RegionWithdrawalStatus, generation int64) {
	st.ObservedGeneration = generation
	for i := range st.Conditions {
		st.Conditions[i].ObservedGeneration = generation
	}
}

func heldFor(plan planner.Plan, reason planner.HoldReason) []string {
	var out []string
	for _, h := range plan.Held {
		if h.Reason == reason {
			out = append(out, string(h.Action.Step))
		}
	}
	return out
}

// allEnded says every step has ended, succeeded or failed: nothing more
// will happen, so the withdrawal is Completed (a failed step says so in
// Ready's message and in its own state).
func allEnded(st *v1.RegionWithdrawalStatus) bool {
	if len(st.Steps) == 0 {
		return false
	}
	for _, s := range st.Steps {
		if s.State != v1.StepSucceeded && s.State != v1.StepFailed {
			return false
		}
	}
	return true
}

// failedSteps says which steps failed, and why.
func failedSteps(st *v1.RegionWithdrawalStatus) []string {
	var failed []string
	for _, s := range st.Steps {
		if s.State == v1.StepFailed {
			failed = append(failed, fmt.Sprintf("%s failed (%s)", s.Name, s.Message))
		}
	}
	return failed
}

// completedMessage is Ready's message for a completed withdrawal: which
// steps failed, if any.
func completedMessage(st *v1.RegionWithdrawalStatus) string {
	failed := failedSteps(st)
	if len(failed) == 0 {
		return "every step has finished"
	}
	return "every step has ended, not all as planned: " + strings.Join(failed, "; ")
}

func anyStarted(st *v1.RegionWithdrawalStatus) bool {
	for _, s := range st.Steps {
		if s.StartedAt != nil {
			return true
		}
	}
	return false
}
