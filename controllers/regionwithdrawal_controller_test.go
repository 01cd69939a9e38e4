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
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// follow reconciles at every wake-up the controller asks for, until it asks
// for none or the next one is after limit. It returns the instants visited.
func (h *harness) follow(limit time.Time) []time.Time {
	h.t.Helper()
	var visited []time.Time
	for range 200 {
		res, err := h.reconcile()
		if err != nil {
			h.t.Fatalf("reconcile at %s: %v", h.clock.Now(), err)
		}
		visited = append(visited, h.clock.Now())
		if res.RequeueAfter <= 0 || h.clock.Now().Add(res.RequeueAfter).After(limit) {
			return visited
		}
		h.clock.Step(res.RequeueAfter)
	}
	h.t.Fatal("the timeline did not settle in 200 wake-ups")
	return nil
}

func TestLifecycleUnderFakeClock(t *testing.T) {
	h := newHarness(t, beforeAnnouncement)
	h.regionApp()
	h.pakistan()

	// Scheduled: nothing due, the next action and when.
	res := h.at(beforeAnnouncement)
	rw := h.get()
	if want := announcementDue.Sub(beforeAnnouncement) + requeueSkew; res.RequeueAfter != want {
		t.Fatalf("requeue after %s, want %s (the announcement plus the skew delta)", res.RequeueAfter, want)
	}
	if rw.Status.Phase != v1.PhaseScheduled || rw.Status.NextAction != "notify:announcement" || !rw.Status.NextActionAt.Time.Equal(announcementDue) {
		t.Fatalf("phase %s next %s at %v, want Scheduled notify:announcement at %s", rw.Status.Phase, rw.Status.NextAction, rw.Status.NextActionAt, announcementDue)
	}
	if c := condition(rw, v1.ConditionReady); c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonScheduled || c.ObservedGeneration != rw.Generation {
		t.Fatalf("Ready = %+v, want True/Scheduled at generation %d", c, rw.Generation)
	}
	for _, typ := range []string{v1.ConditionReconciling, v1.ConditionStalled, v1.ConditionDeadlineAtRisk} {
		if c := condition(rw, typ); c.Status != metav1.ConditionFalse {
			t.Fatalf("%s = %+v, want False", typ, c)
		}
	}
	if rw.Status.ObservedGeneration != rw.Generation || !slices.Contains(rw.Finalizers, Finalizer) {
		t.Fatalf("observedGeneration %d (generation %d), finalizers %v", rw.Status.ObservedGeneration, rw.Generation, rw.Finalizers)
	}
	if s := step(rw, v1.StepDrain); s.State != v1.StepPending || !s.DueAt.Time.Equal(drainStart) {
		t.Fatalf("drain = %+v, want Pending due at %s", s, drainStart)
	}
	if evs := h.events(); !hasEvent(evs, "Normal Scheduled", "notify:announcement") {
		t.Fatalf("events %v, want Scheduled", evs)
	}

	// Nothing due: a second reconcile writes nothing.
	before := rw.ResourceVersion
	h.at(beforeAnnouncement.Add(time.Hour))
	if rw = h.get(); rw.ResourceVersion != before {
		t.Fatalf("an idle reconcile wrote the object (resourceVersion %s -> %s)", before, rw.ResourceVersion)
	}

	// The announcement: counted recipients, the malformed row reported.
	res = h.at(announcementDue)
	rw = h.get()
	n := planner.Notice(&rw.Status, planner.NoticeIDAnnouncement)
	if n == nil || n.FinishedAt == nil || !n.DryRun || n.Recipients != 2 {
		t.Fatalf("announcement = %+v, want finished dry run to 2 recipients", n)
	}
	if s := step(rw, v1.StepNotify); s.State != v1.StepRunning || !strings.Contains(s.Message, "1 records skipped") || !strings.Contains(s.Message, "line 4") {
		t.Fatalf("notify = %+v, want Running and the malformed line reported", s)
	}
	if rw.Status.Phase != v1.PhaseInProgress || rw.Status.NextAction != "notify:reminder" || !rw.Status.NextActionAt.Time.Equal(firstReminder) {
		t.Fatalf("phase %s next %s at %v", rw.Status.Phase, rw.Status.NextAction, rw.Status.NextActionAt)
	}
	if want := firstReminder.Sub(announcementDue) + requeueSkew; res.RequeueAfter != want {
		t.Fatalf("requeue after %s, want %s", res.RequeueAfter, want)
	}
	if evs := h.events(); !hasEvent(evs, "Normal DryRunPlanned", "notify/announcement", "2 recipients", "sample for c1 in en: subject") {
		t.Fatalf("events %v, want DryRunPlanned with a rendered sample", evs)
	}

	// Follow the wake-ups to the end: every wake-up is a due time, and
	// nothing runs twice.
	h.clock.Step(res.RequeueAfter)
	visited := h.follow(cutoff.Add(24 * time.Hour))
	for _, due := range []time.Time{firstReminder, secondReminder, exportStart, drainStart, finalNoticeDue, cutoff} {
		if !slices.ContainsFunc(visited, func(v time.Time) bool { return v.Equal(due.Add(requeueSkew)) }) {
			t.Errorf("no reconcile at %s; visited %v", due.Add(requeueSkew), visited)
		}
	}
	rw = h.get()
	if rw.Status.Phase != v1.PhaseCompleted || rw.Status.NextAction != "" {
		t.Fatalf("phase %s next %q, want Completed and nothing next", rw.Status.Phase, rw.Status.NextAction)
	}
	if c := condition(rw, v1.ConditionReady); c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonCompleted {
		t.Fatalf("Ready = %+v, want True/Completed", c)
	}
	for _, s := range rw.Status.Steps {
		if s.State != v1.StepSucceeded || !s.DryRun || s.StartedAt == nil || s.FinishedAt == nil {
			t.Errorf("step %s = %+v, want a finished rehearsal", s.Name, s)
		}
	}
	drain := step(rw, v1.StepDrain)
	var drained []string
	for _, o := range drain.Plan.Objects {
		drained = append(drained, o.Kind+"/"+o.Name)
	}
	if want := []string{"Deployment/gateway", "Deployment/messaging", "StatefulSet/store", "Service/messaging"}; !slices.Equal(drained, want) {
		t.Fatalf("drain would touch %v, want %v (and never billing-global)", drained, want)
	}
	if routing := step(rw, v1.StepRouting); routing.Plan.ObjectCount != 1 || routing.Plan.Objects[0].Name != "pk-edge" || !strings.Contains(routing.Plan.Summary, "HTTPRoute API (Gateway API) is not installed") {
		t.Fatalf("routing plan = %+v, want the pk-edge Ingress and a note that HTTPRoute is not installed", routing.Plan)
	}
	if rw.Status.Notify.RemindersSent != 5 {
		t.Fatalf("%d reminders, want 5 Mondays", rw.Status.Notify.RemindersSent)
	}
	for id, c := range h.calls.n {
		if c.Load() != 1 {
			t.Errorf("%s carried out %d times", id, c.Load())
		}
	}
	if evs := h.events(); !hasEvent(evs, "Normal Completed") {
		t.Fatalf("events %v, want Completed", evs)
	}
	if res, _ := h.reconcile(); res.RequeueAfter != 0 {
		t.Fatalf("a completed withdrawal asks to be requeued after %s", res.RequeueAfter)
	}
}

func TestSuspendAndResume(t *testing.T) {
	h := newHarness(t, exportStart.Add(-2*time.Hour))
	h.regionApp()
	h.pakistan(func(s *v1.RegionWithdrawalSpec) { s.Notify = nil })
	h.at(exportStart.Add(-2 * time.Hour))
	h.update(func(s *v1.RegionWithdrawalSpec) { s.Suspend = true })

	res := h.at(exportStart.Add(time.Hour))
	rw := h.get()
	if s := step(rw, v1.StepExport); s.StartedAt != nil {
		t.Fatalf("export started while suspended: %+v", s)
	}
	if rw.Status.Phase != v1.PhaseSuspended {
		t.Fatalf("phase %s, want Suspended", rw.Status.Phase)
	}
	// Ready: the spec is accepted, and nothing is left to do until a
	// person acts (kstatus, and so Flux and Helm --wait, reads it Current).
	if c := condition(rw, v1.ConditionReady); c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonSuspended {
		t.Fatalf("Ready = %+v, want True/Suspended", c)
	}
	if c := condition(rw, v1.ConditionDeadlineAtRisk); c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonSuspended {
		t.Fatalf("DeadlineAtRisk = %+v, want True/Suspended for a due step", c)
	}
	if evs := h.events(); !hasEvent(evs, "Normal Suspended") || !hasEvent(evs, "Warning DeadlineAtRisk", "suspended") {
		t.Fatalf("events %v, want Suspended and DeadlineAtRisk", evs)
	}
	if res.RequeueAfter > 0 && h.clock.Now().Add(res.RequeueAfter).Before(drainStart.Add(-24*time.Hour)) {
		t.Fatalf("suspended, it still wakes up in %s", res.RequeueAfter)
	}

	h.update(func(s *v1.RegionWithdrawalSpec) { s.Suspend = false })
	h.at(exportStart.Add(2 * time.Hour))
	rw = h.get()
	s := step(rw, v1.StepExport)
	if s.State != v1.StepSucceeded || s.Lateness == nil || s.Lateness.Duration != 2*time.Hour {
		t.Fatalf("export after resume = %+v, want run 2h late", s)
	}
	if evs := h.events(); !hasEvent(evs, "Normal Resumed") || !hasEvent(evs, "Warning StepLate", "export (dry run) started 2h0m0s after it was due") {
		t.Fatalf("events %v, want Resumed and StepLate", evs)
	}
	if c := condition(rw, v1.ConditionDeadlineAtRisk); c.Status != metav1.ConditionFalse {
		t.Fatalf("DeadlineAtRisk = %+v after resuming, want False", c)
	}
}

func TestUnapprovedStepWaitsAndSaysSo(t *testing.T) {
	h := newHarness(t, drainStart.Add(-25*time.Hour))
	h.regionApp()
	h.pakistan(func(s *v1.RegionWithdrawalSpec) {
		s.Notify, s.Export = nil, nil
		s.Drain.RequireApproval = true
	})
	if res := h.at(drainStart.Add(-25 * time.Hour)); res.RequeueAfter != time.Hour+requeueSkew {
		t.Fatalf("requeue after %s, want a wake-up when the missing approval becomes a risk (1h)", res.RequeueAfter)
	}
	h.at(drainStart.Add(-24 * time.Hour).Add(requeueSkew))
	rw := h.get()
	if c := condition(rw, v1.ConditionDeadlineAtRisk); c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonApprovalMissing || !strings.Contains(c.Message, `add "drain" to spec.approvals`) {
		t.Fatalf("DeadlineAtRisk = %+v, want ApprovalMissing a day ahead", c)
	}

	h.at(drainStart)
	rw = h.get()
	if s := step(rw, v1.StepDrain); s.State != v1.StepWaitingForApproval || s.StartedAt != nil || !strings.Contains(s.Message, "spec.approvals") {
		t.Fatalf("drain = %+v, want WaitingForApproval", s)
	}
	if rw.Status.Phase != v1.PhaseWaitingForApproval || rw.Status.NextAction != "drain (WaitingForApproval)" {
		t.Fatalf("phase %s next %q", rw.Status.Phase, rw.Status.NextAction)
	}
	if c := condition(rw, v1.ConditionReady); c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonWaitingForApproval {
		t.Fatalf("Ready = %+v, want True/WaitingForApproval", c)
	}
	if evs := h.events(); !hasEvent(evs, "Warning WaitingForApproval", "drain") {
		t.Fatalf("events %v, want WaitingForApproval", evs)
	}
	// Waiting says so once, not on every reconcile.
	h.at(drainStart.Add(time.Minute))
	if evs := h.events(); hasEvent(evs, "WaitingForApproval") {
		t.Fatalf("a second WaitingForApproval Event: %v", evs)
	}

	h.update(func(s *v1.RegionWithdrawalSpec) { planner.Approve(s, "alice", v1.StepDrain) })
	h.at(drainStart.Add(2 * time.Minute))
	if s := step(h.get(), v1.StepDrain); s.State != v1.StepSucceeded {
		t.Fatalf("drain after approval = %+v, want Succeeded", s)
	}
}

func TestCancel(t *testing.T) {
	t.Run("before the cutoff", func(t *testing.T) {
		h := newHarness(t, beforeAnnouncement)
		h.regionApp()
		h.pakistan()
		h.follow(drainStart.Add(time.Hour))
		h.events()
		h.update(func(s *v1.RegionWithdrawalSpec) { s.Cancel, s.CancelReason = true, "court order lifted" })
		h.at(drainStart.Add(2 * time.Hour))
		rw := h.get()
		for step, want := range map[v1.StepName]v1.StepState{v1.StepNotify: v1.StepReverted, v1.StepExport: v1.StepReverted, v1.StepDrain: v1.StepReverted, v1.StepRouting: v1.StepCancelled} {
			if s := stepOf(rw, step); s.State != want {
				t.Errorf("%s = %s, want %s", step, s.State, want)
			}
		}
		if n := planner.Notice(&rw.Status, planner.NoticeIDCancellation); n == nil || n.FinishedAt == nil {
			t.Fatalf("cancellation notice = %+v, want sent", n)
		}
		if rw.Status.Phase != v1.PhaseCancelled {
			t.Fatalf("phase %s, want Cancelled", rw.Status.Phase)
		}
		if c := condition(rw, v1.ConditionReady); c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonCancelled {
			t.Fatalf("Ready = %+v, want True/Cancelled", c)
		}
		if evs := h.events(); !hasEvent(evs, "Normal Cancelling", "drain reverted") || !hasEvent(evs, "Normal Cancelled") {
			t.Fatalf("events %v, want Cancelling and Cancelled", evs)
		}
		// The cutoff passes and routing does not run.
		h.at(cutoff.Add(time.Minute))
		if s := step(h.get(), v1.StepRouting); s.StartedAt != nil {
			t.Fatalf("routing ran after cancel: %+v", s)
		}
	})

	t.Run("after the cutoff it is refused without the override", func(t *testing.T) {
		h := newHarness(t, cutoff.Add(-time.Hour))
		h.regionApp()
		h.pakistan(func(s *v1.RegionWithdrawalSpec) { s.Notify, s.Export, s.Drain = nil, nil, nil })
		h.follow(cutoff.Add(time.Hour))
		h.update(func(s *v1.RegionWithdrawalSpec) { s.Cancel = true })
		h.at(cutoff.Add(2 * time.Hour))
		rw := h.get()
		if c := condition(rw, v1.ConditionStalled); c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonCancelRefused || !strings.Contains(c.Message, "allowCancelAfterCutoff") {
			t.Fatalf("Stalled = %+v, want CancelRefused naming the override", c)
		}
		if s := step(rw, v1.StepRouting); s.State != v1.StepSucceeded {
			t.Fatalf("routing = %s, want it left Succeeded", s.State)
		}
		if evs := h.events(); !hasEvent(evs, "Warning CancelRefused") {
			t.Fatalf("events %v, want CancelRefused", evs)
		}
		h.update(func(s *v1.RegionWithdrawalSpec) { s.AllowCancelAfterCutoff = true })
		h.at(cutoff.Add(3 * time.Hour))
		rw = h.get()
		if s := step(rw, v1.StepRouting); s.State != v1.StepReverted || rw.Status.Phase != v1.PhaseCancelled {
			t.Fatalf("with the override: routing %s, phase %s; want Reverted and Cancelled", s.State, rw.Status.Phase)
		}
		if c := condition(rw, v1.ConditionStalled); c.Status != metav1.ConditionFalse {
			t.Fatalf("Stalled = %+v, want False once the cancel went through", c)
		}
	})
}

func stepOf(rw *v1.RegionWithdrawal, name v1.StepName) v1.StepStatus { return step(rw, name) }

func TestRestartInMidTimelineNeitherRepeatsNorSkips(t *testing.T) {
	h := newHarness(t, beforeAnnouncement)
	h.regionApp()
	h.pakistan()
	h.follow(secondReminder.Add(time.Hour))

	// The controller is down for ten days and comes back as a new process.
	h.restart()
	h.clock.SetTime(exportStart.Add(-time.Hour))
	h.follow(cutoff.Add(time.Hour))

	rw := h.get()
	if rw.Status.Phase != v1.PhaseCompleted {
		t.Fatalf("phase %s, want Completed", rw.Status.Phase)
	}
	for id, c := range h.calls.n {
		if c.Load() != 1 {
			t.Errorf("%s carried out %d times", id, c.Load())
		}
	}
	// The reminders of 14 and 21 December fell into the downtime: one
	// reminder runs for both, late, and says so.
	folded := planner.Notice(&rw.Status, planner.ReminderID(mustTime("2026-12-21T04:00:00Z")))
	if folded == nil || folded.MissedSlots != 1 || folded.Lateness.Duration != exportStart.Add(-time.Hour).Sub(mustTime("2026-12-21T04:00:00Z")) {
		t.Fatalf("folded reminder = %+v, want one for 21 Dec with 1 missed slot and its lateness", folded)
	}
	if planner.Notice(&rw.Status, planner.ReminderID(mustTime("2026-12-14T04:00:00Z"))) != nil {
		t.Fatal("the reminder of 14 December ran separately")
	}
	if evs := h.events(); !hasEvent(evs, "Warning RemindersFolded", "1 earlier reminder slots") {
		t.Fatalf("events %v, want RemindersFolded", evs)
	}
}

// stepExecutor is a real (not read-only) executor for tests: it counts
// calls and can be told to fail as if the process died mid-action.
type stepExecutor struct {
	mu      sync.Mutex
	calls   map[string]int
	crashOn map[string]bool
	// startPersisted records, per action, whether the API server already
	// held the record of its start when the executor was called.
	startPersisted map[string]bool
}

var errCrash = errors.New("simulated crash")

func (e *stepExecutor) Execute(_ context.Context, rw *v1.RegionWithdrawal, a planner.Action) (executor.Result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls[a.ID]++
	if e.startPersisted != nil && e.calls[a.ID] == 1 {
		var stored v1.RegionWithdrawal
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(rw), &stored); err == nil {
			s := step(&stored, a.Step)
			e.startPersisted[a.ID] = s.StartedAt != nil && s.State == v1.StepRunning
		}
	}
	if e.crashOn[a.ID] {
		delete(e.crashOn, a.ID)
		return executor.Result{}, errCrash
	}
	return executor.Result{Done: true, Message: "did " + a.ID, Detail: executor.Detail{Notice: &executor.NoticeCounts{Sent: 2, Recipients: 2}}}, nil
}

func TestAStartIsRecordedBeforeItsSideEffects(t *testing.T) {
	h := newHarness(t, drainStart.Add(-time.Minute))
	h.regionApp()
	h.pakistan(func(s *v1.RegionWithdrawalSpec) { s.Notify, s.Export, s.DryRun = nil, nil, false })
	real := &stepExecutor{calls: map[string]int{}, crashOn: map[string]bool{"drain": true}, startPersisted: map[string]bool{}}
	h.r.Executors = executor.Set{v1.StepDrain: real, v1.StepRouting: real}

	h.clock.SetTime(drainStart)
	if _, err := h.r.Reconcile(h.ctx, reconcile.Request{NamespacedName: h.key}); !errors.Is(err, errCrash) {
		t.Fatalf("reconcile error = %v, want the simulated crash", err)
	}
	// The start was written before the executor ran.
	if !real.startPersisted["drain"] {
		t.Fatal("the executor ran before the start of the drain was written to the API server")
	}
	s := step(h.get(), v1.StepDrain)
	if s.State != v1.StepRunning || s.StartedAt == nil || !strings.Contains(s.LastError, "simulated crash") {
		t.Fatalf("drain = %+v, want Running with a recorded start and the error", s)
	}
	startedAt := s.StartedAt.Time

	// A new process carries the action on; it is not planned again.
	h.restart()
	h.r.Executors = executor.Set{v1.StepDrain: real, v1.StepRouting: real}
	h.at(drainStart.Add(time.Minute))
	s = step(h.get(), v1.StepDrain)
	if s.State != v1.StepSucceeded || !s.StartedAt.Time.Equal(startedAt) || s.DryRun {
		t.Fatalf("drain = %+v, want Succeeded with the original start %s", s, startedAt)
	}
	if real.calls["drain"] != 2 {
		t.Fatalf("drain executed %d times, want 2 (the crashed call and the carry-on)", real.calls["drain"])
	}
}

func TestInvalidScheduleOrZoneStallsWithoutRetrying(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(*v1.RegionWithdrawalSpec)
		wantField string
	}{
		{name: "cron hour 25", mutate: func(s *v1.RegionWithdrawalSpec) { s.Notify.Reminders.Schedule = "0 25 * * MON" }, wantField: "spec.notify.reminders.schedule"},
		{name: "unknown time zone", mutate: func(s *v1.RegionWithdrawalSpec) { s.TimeZone = "Mars/Olympus_Mons" }, wantField: "spec.timeZone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, beforeAnnouncement)
			h.regionApp()
			h.pakistan(tt.mutate)
			res, err := h.reconcile()
			if !errors.Is(err, reconcile.TerminalError(nil)) || res.RequeueAfter != 0 {
				t.Fatalf("reconcile = (%+v, %v), want a terminal error and no requeue", res, err)
			}
			rw := h.get()
			c := condition(rw, v1.ConditionStalled)
			if c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonInvalidSpec || !strings.Contains(c.Message, tt.wantField) {
				t.Fatalf("Stalled = %+v, want True/InvalidSpec naming %s", c, tt.wantField)
			}
			if rw.Status.Phase != v1.PhaseStalled || rw.Status.ObservedGeneration != rw.Generation {
				t.Fatalf("phase %s observedGeneration %d, want Stalled at %d", rw.Status.Phase, rw.Status.ObservedGeneration, rw.Generation)
			}
			if evs := h.events(); !hasEvent(evs, "Warning InvalidSpec", tt.wantField) {
				t.Fatalf("events %v, want InvalidSpec", evs)
			}
			_, _ = h.reconcile()
			if evs := h.events(); len(evs) != 0 {
				t.Fatalf("the same problem was reported again: %v", evs)
			}
			// Fixing the spec clears it.
			h.update(func(s *v1.RegionWithdrawalSpec) {
				s.TimeZone = "Asia/Karachi"
				s.Notify.Reminders.Schedule = "0 9 * * MON"
			})
			h.at(beforeAnnouncement)
			rw = h.get()
			if c := condition(rw, v1.ConditionStalled); c.Status != metav1.ConditionFalse || rw.Status.Phase != v1.PhaseScheduled {
				t.Fatalf("after the fix: Stalled %+v phase %s", c, rw.Status.Phase)
			}
		})
	}
}

func TestARealRunWithoutAnExecutorIsBlockedNotFaked(t *testing.T) {
	h := newHarness(t, exportStart)
	h.regionApp()
	h.pakistan(func(s *v1.RegionWithdrawalSpec) { s.Notify, s.DryRun = nil, false })
	h.at(exportStart)
	rw := h.get()
	s := step(rw, v1.StepExport)
	if s.State != v1.StepBlocked || s.StartedAt != nil || !strings.Contains(s.Message, "spec.dryRun") {
		t.Fatalf("export = %+v, want Blocked and not started", s)
	}
	if evs := h.events(); !hasEvent(evs, "Warning StepBlocked", "export") {
		t.Fatalf("events %v, want StepBlocked", evs)
	}
}

func TestTurningDryRunOffRunsRehearsedStepsForReal(t *testing.T) {
	h := newHarness(t, beforeAnnouncement)
	h.regionApp()
	h.pakistan()
	h.follow(firstReminder.Add(time.Hour))
	if n := planner.Notice(&h.get().Status, planner.NoticeIDAnnouncement); n == nil || !n.DryRun {
		t.Fatalf("announcement = %+v, want a rehearsal", n)
	}
	real := &stepExecutor{calls: map[string]int{}}
	h.r.Executors = executor.Set{v1.StepNotify: real, v1.StepExport: real, v1.StepDrain: real, v1.StepRouting: real}
	h.update(func(s *v1.RegionWithdrawalSpec) { s.DryRun = false })
	h.at(firstReminder.Add(2 * time.Hour))
	rw := h.get()
	n := planner.Notice(&rw.Status, planner.NoticeIDAnnouncement)
	if n == nil || n.DryRun || n.FinishedAt == nil || n.Sent != 2 || real.calls["notify/announcement"] != 1 {
		t.Fatalf("announcement = %+v (real calls %d), want sent for real", n, real.calls["notify/announcement"])
	}
	if evs := h.events(); !hasEvent(evs, "Normal DryRunReset") {
		t.Fatalf("events %v, want DryRunReset", evs)
	}
}

// specErrExecutor fails every action with a spec problem, as the notify
// executor does for a template that does not render.
type specErrExecutor struct{}

func (specErrExecutor) Execute(context.Context, *v1.RegionWithdrawal, planner.Action) (executor.Result, error) {
	return executor.Result{}, &planner.SpecError{Field: "spec.notify.templates.announcement.subject", Err: errors.New(`template: subject:1: function "shout" not defined`)}
}

func TestAnExecutorsSpecErrorStallsOnce(t *testing.T) {
	h := newHarness(t, announcementDue)
	h.regionApp()
	h.pakistan(func(s *v1.RegionWithdrawalSpec) { s.Export, s.Drain, s.Routing, s.DryRun = nil, nil, nil, false })
	h.r.Executors = executor.Set{v1.StepNotify: specErrExecutor{}}
	if _, err := h.reconcile(); !errors.Is(err, reconcile.TerminalError(nil)) {
		t.Fatalf("reconcile error %v, want terminal", err)
	}
	rw := h.get()
	if c := condition(rw, v1.ConditionStalled); c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonInvalidSpec || !strings.Contains(c.Message, "templates.announcement.subject") {
		t.Fatalf("Stalled = %+v, want InvalidSpec naming the template", c)
	}
	if c := condition(rw, v1.ConditionReady); c.Status != metav1.ConditionFalse {
		t.Fatalf("Ready = %+v, want False", c)
	}
	if evs := h.events(); !hasEvent(evs, "Warning InvalidSpec", "shout") {
		t.Fatalf("events %v, want InvalidSpec", evs)
	}
	_, _ = h.reconcile()
	if evs := h.events(); hasEvent(evs, "InvalidSpec") {
		t.Fatalf("the same problem was reported again: %v", evs)
	}
}

func TestARehearsalStallsOnATemplateThatDoesNotRender(t *testing.T) {
	h := newHarness(t, announcementDue)
	h.regionApp()
	h.pakistan(func(s *v1.RegionWithdrawalSpec) {
		s.Notify.Templates = &v1.NoticeTemplates{Reminder: &v1.NoticeTemplate{Subject: "{{.Region}} reminder", Text: "Dear {{.Recipient.Nickname}}"}}
	})
	if _, err := h.reconcile(); !errors.Is(err, reconcile.TerminalError(nil)) {
		t.Fatalf("reconcile error %v, want terminal", err)
	}
	rw := h.get()
	if c := condition(rw, v1.ConditionStalled); c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "spec.notify.templates") || !strings.Contains(c.Message, "Nickname") {
		t.Fatalf("Stalled = %+v, want the reminder template named", c)
	}
	if n := planner.Notice(&rw.Status, planner.NoticeIDAnnouncement); n != nil && n.FinishedAt != nil {
		t.Fatalf("the announcement was rehearsed as sent despite a broken reminder template: %+v", n)
	}
}

// TestNoCrossNamespaceRefusesANamespaceSelector: an operator started with
// --no-cross-namespace stalls a withdrawal that selects namespaces, before
// any step acts, and lets one that stays in its namespace run.
func TestNoCrossNamespaceRefusesANamespaceSelector(t *testing.T) {
	h := newHarness(t, announcementDue)
	h.regionApp()
	h.r.NoCrossNamespace = true
	h.pakistan(func(s *v1.RegionWithdrawalSpec) {
		s.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "tenant"}}
	})
	if _, err := h.reconcile(); !errors.Is(err, reconcile.TerminalError(nil)) {
		t.Fatalf("reconcile error %v, want terminal", err)
	}
	if c := condition(h.get(), v1.ConditionStalled); c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonInvalidSpec || !strings.Contains(c.Message, "--no-cross-namespace") {
		t.Fatalf("Stalled = %+v, want InvalidSpec naming the flag", c)
	}
	if len(h.calls.n) != 0 {
		t.Fatalf("actions ran for a refused spec: %v", h.calls.n)
	}
	h.update(func(s *v1.RegionWithdrawalSpec) { s.NamespaceSelector = nil })
	h.reconcile()
	if c := condition(h.get(), v1.ConditionStalled); c.Status != metav1.ConditionFalse {
		t.Fatalf("Stalled = %+v once namespaceSelector is gone, want False", c)
	}
}

// stuckExecutor waits for its context: a recipient source or receiver that
// never answers.
type stuckExecutor struct{}

func (stuckExecutor) Execute(ctx context.Context, _ *v1.RegionWithdrawal, _ planner.Action) (executor.Result, error) {
	<-ctx.Done()
	return executor.Result{}, ctx.Err()
}

// TestAStuckActionIsCutOff: one action that never returns would hold a
// worker every other withdrawal needs; it is cut off at ExecuteTimeout,
// recorded, and retried.
func TestAStuckActionIsCutOff(t *testing.T) {
	h := newHarness(t, announcementDue)
	h.regionApp()
	h.pakistan(func(s *v1.RegionWithdrawalSpec) { s.Export, s.Drain, s.Routing, s.DryRun = nil, nil, nil, false })
	h.r.Executors = executor.Set{v1.StepNotify: stuckExecutor{}}
	h.r.ExecuteTimeout = 200 * time.Millisecond
	done := make(chan error, 1)
	go func() {
		_, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "did not finish within 200ms") {
			t.Fatalf("reconcile error %v, want the action cut off", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the reconcile is still held by the stuck action")
	}
	if s := step(h.get(), v1.StepNotify); !strings.Contains(s.LastError, "did not finish within") {
		t.Fatalf("lastError %q", s.LastError)
	}
}

// TestAWithdrawalCreatedAfterItsCutoff: its announcement and final notice
// would say the service *will* end on a date already gone. They are not
// sent: status lists them as missed, DeadlineAtRisk says the cutoff was
// missed, a Warning Event says so, and with notify.afterCutoff one notice
// written for after the cutoff goes out instead.
func TestAWithdrawalCreatedAfterItsCutoff(t *testing.T) {
	for _, afterCutoff := range []bool{false, true} {
		h := newHarness(t, cutoff.Add(2*time.Hour))
		h.regionApp()
		h.pakistan(func(s *v1.RegionWithdrawalSpec) { s.Notify.AfterCutoff = afterCutoff })
		h.reconcile()
		rw := h.get()
		if rw.Status.Notify == nil || !slices.Equal(rw.Status.Notify.Missed, []string{"announcement", "final"}) {
			t.Fatalf("afterCutoff %v: status.notify = %+v, want both notices missed", afterCutoff, rw.Status.Notify)
		}
		for id := range h.calls.n {
			if id == "notify/announcement" || id == "notify/final" {
				t.Fatalf("afterCutoff %v: %s ran after the cutoff", afterCutoff, id)
			}
		}
		if _, sent := h.calls.n["notify/after-cutoff"]; sent != afterCutoff {
			t.Fatalf("afterCutoff %v: the after-cutoff notice ran: %v", afterCutoff, sent)
		}
		c := condition(rw, v1.ConditionDeadlineAtRisk)
		// The rehearsed steps finished in this reconcile, so the notices
		// are what is left of the cutoff's risk, until the after-cutoff
		// notice has told the customers.
		missedRisk := c.Status == metav1.ConditionTrue && c.Reason == v1.ReasonNoticesMissed && strings.Contains(c.Message, "announcement and final notice")
		if missedRisk == afterCutoff {
			t.Fatalf("afterCutoff %v: DeadlineAtRisk %+v", afterCutoff, c)
		}
		if !hasEvent(h.events(), "Warning NoticesMissed", "announcement and final notice") {
			t.Fatalf("afterCutoff %v: events %v, want a warning naming the missed notices", afterCutoff, h.events())
		}
		// The notify step ends Failed (docs/notify.md), and stays so.
		h.reconcile()
		if s := step(h.get(), v1.StepNotify); !afterCutoff && (s.State != v1.StepFailed || s.FinishedAt == nil || !strings.Contains(s.Message, "customers were not told")) {
			t.Fatalf("the notify step = %+v, want Failed, saying customers were not told", s)
		}
	}
}
