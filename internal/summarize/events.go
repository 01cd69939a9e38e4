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
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// LateThreshold is how late an action must start to earn a StepLate Event.
const LateThreshold = time.Minute

// Event is one Event to record about the withdrawal. Notes are built from
// names, counts, times and executors' messages only, never from secrets.
type Event struct {
	Warning bool
	Reason  string
	Action  string
	Note    string
}

// Events lists what a person would want to hear of in the change from old
// to new, in the order it happened: a rehearsal forgotten, actions started
// and finished, steps that wait, Stalled and DeadlineAtRisk raised or
// changed, and the phase. The same change is never reported twice: a
// reconcile that changes nothing emits nothing.
func Events(old, new *v1.RegionWithdrawalStatus, in Input) []Event {
	var out []Event
	add := func(warning bool, reason, action, format string, args ...any) {
		out = append(out, Event{Warning: warning, Reason: reason, Action: action, Note: fmt.Sprintf(format, args...)})
	}
	if !in.Spec.DryRun {
		if n := rehearsalsReset(old, new); n > 0 {
			add(false, v1.ReasonDryRunReset, "Plan", "dryRun is off: %d rehearsed steps will run for real", n)
		}
	}
	if added := missedSince(old, new); len(added) > 0 {
		add(true, v1.ReasonNoticesMissed, "Notify", "the cutoff passed before the %s notice could be sent; it is not sent, since it would announce a date already gone", strings.Join(added, " and "))
	}
	out = append(out, cutoffEvents(old, new)...)
	out = append(out, actionEvents(old, new, in)...)
	out = append(out, waitEvents(old, new, in)...)
	if note, ok := fetchMilestone(old, new); ok {
		add(false, v1.ReasonArchivesFetched, "Handoff", "%s", note)
	}

	if c, changed := raised(old, new, v1.ConditionStalled); changed {
		action := "Validate"
		switch c.Reason {
		case v1.ReasonCancelRefused:
			action = "Cancel"
		case v1.ReasonPermissionDenied:
			action = "Authorize"
		case v1.ReasonEvidenceTampered, v1.ReasonEvidenceSealed:
			action = "Record"
		}
		add(true, c.Reason, action, "%s", c.Message)
	}
	if c, changed := raised(old, new, v1.ConditionDeadlineAtRisk); changed {
		add(true, v1.ConditionDeadlineAtRisk, "Plan", "%s", c.Message)
	}

	if old.Phase != new.Phase {
		switch {
		case new.Phase == v1.PhaseSuspended:
			add(false, v1.ReasonSuspended, "Suspend", "suspended: nothing new starts until spec.suspend is false")
		case old.Phase == v1.PhaseSuspended:
			add(false, v1.ReasonResumed, "Resume", "resumed")
		}
		switch new.Phase {
		case v1.PhaseCompleted:
			add(len(failedSteps(new)) > 0, v1.ReasonCompleted, "Complete", "%s", completedMessage(new))
		case v1.PhaseCancelled:
			add(false, v1.ReasonCancelled, "Cancel", "cancelled; could not be undone: %s", orNone(new.Irreversible))
		case v1.PhaseScheduled:
			if new.NextAction != "" {
				add(false, v1.ReasonScheduled, "Plan", "scheduled: %s at %s", new.NextAction, new.NextActionAt.UTC().Format(time.RFC3339))
			}
		}
	}
	return out
}

// fetchMilestone says how many customers have fetched their archive when
// the count passes a milestone (the first fetch, each further tenth of the
// customers, all of them), so that 10,000 fetches make about ten Events,
// not 10,000.
func fetchMilestone(old, new *v1.RegionWithdrawalStatus) (string, bool) {
	h := handoffOf(new)
	if h == nil || h.Links == 0 || h.Fetched == 0 {
		return "", false
	}
	var before int32
	if o := handoffOf(old); o != nil {
		before = o.Fetched
	}
	tenth := func(n int32) int32 { return n * 10 / h.Links }
	switch {
	case before >= h.Fetched:
		return "", false
	case h.NotFetched == 0:
		return fmt.Sprintf("all %d customers have fetched their archive", h.Links), true
	case before == 0 || tenth(h.Fetched) > tenth(before):
		return fmt.Sprintf("%d of %d customers have fetched their archive; %d have not", h.Fetched, h.Links, h.NotFetched), true
	}
	return "", false
}

func handoffOf(st *v1.RegionWithdrawalStatus) *v1.HandoffStatus {
	if s := findStep(st, v1.StepExport); s != nil && s.Export != nil {
		return s.Export.Handoff
	}
	return nil
}

// actionEvents reports the notices and steps that started or finished. A
// rehearsal's start is only worth an Event when it was late: its
// DryRunPlanned Event says all there is to say.
func actionEvents(old, new *v1.RegionWithdrawalStatus, in Input) []Event {
	var out []Event
	add := func(warning bool, reason, action, format string, args ...any) {
		out = append(out, Event{Warning: warning, Reason: reason, Action: action, Note: fmt.Sprintf(format, args...)})
	}
	started := func(id string, lateness *metav1.Duration, missed int32, dryRun bool, notice bool) {
		late := lateness != nil && lateness.Duration >= LateThreshold
		if dryRun && !late && missed == 0 {
			return
		}
		what := id
		if dryRun {
			what += " (dry run)"
		}
		switch {
		case missed > 0:
			add(true, v1.ReasonRemindersFolded, "Notify", "%s started %s late; %d earlier reminder slots missed during downtime are folded into it", what, lateness.Duration.Round(time.Second), missed)
		case late:
			add(true, v1.ReasonStepLate, "Run", "%s started %s after it was due", what, lateness.Duration.Round(time.Second))
		case notice:
			add(false, v1.ReasonNoticeDue, "Notify", "%s started", what)
		default:
			add(false, v1.ReasonStepStarted, "Run", "%s started", what)
		}
	}

	// Reverts start before anything else of a cancel.
	for _, s := range new.Steps {
		was := findStep(old, s.Name)
		switch {
		case !reverting(s.State) || (was != nil && reverting(was.State)):
		case s.Name == v1.StepDrain && planner.RestoringDrain(new):
			add(false, v1.ReasonDrainRestored, "Revert", "restoring the drained workloads: the cutoff moved later than the drain's start (spec.drain.onPostpone: Restore)")
		default:
			add(false, v1.ReasonCancelling, "Revert", "reverting %s", s.Name)
		}
	}
	if h := new.Cutoff; h != nil && old.Cutoff != nil && h.DrainRestores > old.Cutoff.DrainRestores {
		msg := "undone for the postponed cutoff"
		if drain := findStep(new, v1.StepDrain); drain != nil && drain.Message != "" {
			msg = drain.Message
		}
		if in.Timeline != nil {
			if due, ok := in.Timeline.StepDue(v1.StepDrain); ok {
				msg += " (" + due.UTC().Format(time.RFC3339) + ")"
			}
		}
		add(false, v1.ReasonDrainRestored, "Revert", "drain %s", msg)
	}
	if new.Notify != nil {
		for _, n := range new.Notify.Notices {
			was := planner.Notice(old, n.ID)
			id := planner.NoticeAction(n.Kind, n.ID, n.ScheduledAt.Time).ID
			if n.StartedAt != nil && (was == nil || !sameTime(was.StartedAt, n.StartedAt)) {
				started(id, n.Lateness, n.MissedSlots, n.DryRun, true)
			}
			if n.FinishedAt == nil || (was != nil && sameTime(was.FinishedAt, n.FinishedAt)) {
				continue
			}
			if n.DryRun {
				add(false, v1.ReasonDryRunPlanned, "Notify", "%s: %s", id, in.message(id, new, v1.StepNotify))
			} else {
				add(n.Failed > 0, v1.ReasonStepSucceeded, "Notify", "%s finished: %d sent, %d failed of %d recipients", id, n.Sent, n.Failed, n.Recipients)
			}
		}
	}
	for _, s := range new.Steps {
		was := findStep(old, s.Name)
		startedNow := s.StartedAt != nil && (was == nil || !sameTime(was.StartedAt, s.StartedAt))
		finishedNow := s.FinishedAt != nil && (was == nil || !sameTime(was.FinishedAt, s.FinishedAt) || was.State != s.State)
		// A step that starts and succeeds on time in one reconcile (a
		// routing switch at the cutoff) gets one Event, not two: at the
		// cutoff every request counts. A late start still says so.
		onTime := s.Lateness == nil || s.Lateness.Duration < LateThreshold
		folded := startedNow && finishedNow && onTime && !s.DryRun && s.State == v1.StepSucceeded
		// The notify step starts and finishes with its notices.
		if s.Name != v1.StepNotify && startedNow && !folded {
			started(string(s.Name), s.Lateness, 0, s.DryRun, false)
		}
		if !finishedNow {
			continue
		}
		id := planner.StartAction(s.Name, time.Time{}).ID
		switch {
		case s.State == v1.StepReverted:
			add(false, v1.ReasonCancelling, "Revert", "%s reverted: %s", s.Name, in.message(planner.RevertAction(s.Name, time.Time{}).ID, new, s.Name))
		case s.Name == v1.StepNotify || s.State == v1.StepCancelled:
		case s.DryRun:
			add(false, v1.ReasonDryRunPlanned, "Plan", "%s: %s", s.Name, in.message(id, new, s.Name))
		case s.State == v1.StepFailed:
			add(true, v1.ReasonStepFailed, "Run", "%s failed: %s", s.Name, in.message(id, new, s.Name))
		case folded && s.Name != v1.StepNotify:
			add(false, v1.ReasonStepSucceeded, "Run", "%s started and finished: %s", s.Name, in.message(id, new, s.Name))
		case s.State == v1.StepSucceeded:
			add(false, v1.ReasonStepSucceeded, "Run", "%s finished: %s", s.Name, in.message(id, new, s.Name))
		}
	}
	return out
}

// waitEvents reports steps that are due and wait: for an approval, for the
// export, or for something the operator cannot do.
func waitEvents(old, new *v1.RegionWithdrawalStatus, in Input) []Event {
	var out []Event
	for _, s := range new.Steps {
		was := findStep(old, s.Name)
		changed := was == nil || was.State != s.State || was.Message != s.Message
		switch {
		case s.State == v1.StepWaitingForApproval && (was == nil || was.State != s.State):
			out = append(out, Event{Warning: true, Reason: v1.ReasonWaitingForApproval, Action: "Approve", Note: fmt.Sprintf("%s is due and waits for approval: %s", s.Name, s.Message)})
		case s.State == v1.StepBlocked && heldBy(in.Plan, s.Name, planner.HoldExport) && (was == nil || was.State != s.State):
			out = append(out, Event{Warning: true, Reason: v1.ReasonWaitingForExport, Action: "Run", Note: fmt.Sprintf("%s is due and %s", s.Name, s.Message)})
		case s.State == v1.StepBlocked && !heldBy(in.Plan, s.Name, planner.HoldExport) && changed:
			out = append(out, Event{Warning: true, Reason: v1.ReasonStepBlocked, Action: "Run", Note: fmt.Sprintf("%s: %s", s.Name, s.Message)})
		}
	}
	return out
}

// message is what Events quotes for an action: its executor's message in
// this reconcile, else the step's last message.
func (in Input) message(id string, st *v1.RegionWithdrawalStatus, step v1.StepName) string {
	if r, ok := in.Results[id]; ok && r.Message != "" {
		return r.Message
	}
	return planner.LookupStep(st, step).Message
}

// raised returns a condition that is True in new and was not True, or had
// another message, in old.
func raised(old, new *v1.RegionWithdrawalStatus, typ string) (*metav1.Condition, bool) {
	c := meta.FindStatusCondition(new.Conditions, typ)
	if c == nil || c.Status != metav1.ConditionTrue {
		return nil, false
	}
	prev := meta.FindStatusCondition(old.Conditions, typ)
	return c, prev == nil || prev.Status != metav1.ConditionTrue || prev.Message != c.Message
}

// rehearsalsReset counts the steps old rehearsed that new no longer marks
// as rehearsed.
func rehearsalsReset(old, new *v1.RegionWithdrawalStatus) int {
	n := 0
	for _, s := range old.Steps {
		if s.DryRun && !planner.LookupStep(new, s.Name).DryRun {
			n++
		}
	}
	return n
}

func heldBy(plan planner.Plan, step v1.StepName, reason planner.HoldReason) bool {
	for _, h := range plan.Held {
		if h.Action.Step == step && h.Reason == reason {
			return true
		}
	}
	return false
}

func reverting(s v1.StepState) bool { return s == v1.StepReverting || s == v1.StepReverted }

func findStep(st *v1.RegionWithdrawalStatus, name v1.StepName) *v1.StepStatus {
	for i := range st.Steps {
		if st.Steps[i].Name == name {
			return &st.Steps[i]
		}
	}
	return nil
}

func sameTime(a, b *metav1.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(b)
}

// missedSince lists the notices new records as missed that old did not.
func missedSince(old, new *v1.RegionWithdrawalStatus) []string {
	if new.Notify == nil {
		return nil
	}
	var was []string
	if old.Notify != nil {
		was = old.Notify.Missed
	}
	var added []string
	for _, id := range new.Notify.Missed {
		if !slices.Contains(was, id) {
			added = append(added, id)
		}
	}
	return added
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, "; ")
}
