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

package planner

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// The Pakistan timeline: cutoff 30 December 00:00 PKT (UTC+5).
var (
	cutoff             = utc("2026-12-29T19:00:00Z")
	beforeAnnouncement = utc("2026-11-29T18:00:00Z")
	announcementDue    = utc("2026-11-29T19:00:00Z") // cutoff - 720h
	firstReminder      = utc("2026-11-30T04:00:00Z") // Monday 09:00 PKT
	secondReminder     = utc("2026-12-07T04:00:00Z")
	thirdReminder      = utc("2026-12-14T04:00:00Z")
	fourthReminder     = utc("2026-12-21T04:00:00Z")
	lastReminder       = utc("2026-12-28T04:00:00Z")
	exportStart        = utc("2026-12-22T19:00:00Z") // cutoff - 168h
	exportDeadline     = utc("2026-12-26T19:00:00Z") // cutoff - 72h
	drainStart         = utc("2026-12-27T19:00:00Z") // cutoff - 48h
	finalNoticeDue     = utc("2026-12-28T19:00:00Z") // cutoff - 24h
	justBeforeCutoff   = cutoff.Add(-time.Second)
)

func offset(d time.Duration) v1.Moment { return v1.Moment{Offset: &metav1.Duration{Duration: d}} }

func pakistanSpec() *v1.RegionWithdrawalSpec {
	return &v1.RegionWithdrawalSpec{
		Region:   "PK",
		Cutoff:   metav1.NewTime(cutoff),
		TimeZone: "Asia/Karachi",
		Selector: metav1.LabelSelector{MatchLabels: map[string]string{"bes.example.com/region": "pk"}},
		Notify: &v1.NotifyStep{
			Announce:  offset(-720 * time.Hour),
			Reminders: &v1.ReminderSchedule{Schedule: "0 9 * * MON"},
			Final:     offset(-24 * time.Hour),
		},
		Export:  &v1.ExportStep{Start: offset(-168 * time.Hour), Deadline: offset(-72 * time.Hour)},
		Drain:   &v1.DrainStep{Start: offset(-48 * time.Hour), Timeout: &metav1.Duration{Duration: 6 * time.Hour}},
		Routing: &v1.RoutingStep{At: ptr(offset(0))},
	}
}

func ptr[T any](v T) *T { return &v }

// world plays the controller against the planner: it plans, records every
// due action as started and (as a dry run would) finished at once, and moves
// the clock to the next wake-up.
type world struct {
	t      *testing.T
	spec   *v1.RegionWithdrawalSpec
	status v1.RegionWithdrawalStatus
	tl     *Timeline
	// ran is every action run, in order, with the instant it ran.
	ran []ranAction
	// wake is the wake-up of the latest plan.
	wake time.Time
}

type ranAction struct {
	id  string
	at  time.Time
	act Action
}

func newWorld(t *testing.T, spec *v1.RegionWithdrawalSpec) *world {
	t.Helper()
	tl, err := Compile(spec)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	w := &world{t: t, spec: spec, tl: tl}
	ObserveCutoff(&w.status, spec, nil, 1, "", time.Time{}) // the controller's first look
	return w
}

func (w *world) plan(now time.Time) Plan {
	return Make(Input{Timeline: w.tl, Spec: w.spec, Status: &w.status, Now: now})
}

// step plans at now and runs what is due, finishing each action at once,
// and plans again until nothing more is due, as the controller does when its
// own status update triggers the next reconcile. It returns the first plan;
// the last one's wake-up is in w.wake.
func (w *world) step(now time.Time) Plan {
	first := w.plan(now)
	p := first
	for range 20 {
		if len(p.Due) == 0 {
			break
		}
		for _, a := range p.Due {
			w.run(a, now)
		}
		if p.Cancelling {
			RecordCancelAccepted(&w.status, w.tl, now)
		}
		p = w.plan(now)
	}
	w.wake = p.WakeAt
	return first
}

func (w *world) run(a Action, now time.Time) {
	for _, r := range w.ran {
		if r.id == a.ID {
			w.t.Fatalf("%s planned twice: at %s and %s", a.ID, r.at, now)
		}
	}
	w.ran = append(w.ran, ranAction{id: a.ID, at: now, act: a})
	RecordStarted(&w.status, a, now, false)
	switch {
	case a.Kind == ActionNotice:
		RecordNoticeFinished(&w.status, a.NoticeID(), now)
	case a.Kind == ActionStart:
		RecordStepFinished(&w.status, a.Step, v1.StepSucceeded, now)
	case a.Kind == ActionRevert && RestoringDrain(&w.status):
		RecordDrainRestored(&w.status, "restored", now)
		// The drain runs again: under its own ID in this record, so that
		// an action planned twice otherwise is still caught.
		for i := range w.ran {
			if w.ran[i].id == "drain" {
				w.ran[i].id = "drain/before-restore"
			}
		}
	case a.Kind == ActionRevert:
		RecordStepFinished(&w.status, a.Step, v1.StepReverted, now)
	}
}

// runUntilIdle follows wake-ups from now until nothing is left or until limit.
func (w *world) runUntilIdle(now, limit time.Time) time.Time {
	for range 1000 {
		w.step(now)
		if w.wake.IsZero() || w.wake.After(limit) {
			return now
		}
		if !w.wake.After(now) {
			w.t.Fatalf("wake-up %s is not after now %s", w.wake, now)
		}
		now = w.wake
	}
	w.t.Fatal("timeline did not settle in 1000 wake-ups")
	return now
}

func (w *world) ranIDs() []string {
	var ids []string
	for _, r := range w.ran {
		ids = append(ids, r.id)
	}
	return ids
}

func TestPakistanTimelineRunsEveryActionOnceAtItsTime(t *testing.T) {
	w := newWorld(t, pakistanSpec())
	w.runUntilIdle(beforeAnnouncement, cutoff.Add(time.Hour))

	want := []struct {
		id string
		at time.Time
	}{
		{"notify/announcement", announcementDue},
		{"notify/" + ReminderID(firstReminder), firstReminder},
		{"notify/" + ReminderID(secondReminder), secondReminder},
		{"notify/" + ReminderID(thirdReminder), thirdReminder},
		{"notify/" + ReminderID(fourthReminder), fourthReminder},
		{"export", exportStart},
		{"drain", drainStart},
		{"notify/" + ReminderID(lastReminder), lastReminder},
		{"notify/final", finalNoticeDue},
		{"routing", cutoff},
	}
	if len(w.ran) != len(want) {
		t.Fatalf("ran %v, want %d actions", w.ranIDs(), len(want))
	}
	for i, r := range w.ran {
		if r.id != want[i].id || !r.at.Equal(want[i].at) {
			t.Errorf("action %d: ran %s at %s, want %s at %s", i, r.id, r.at, want[i].id, want[i].at)
		}
		if r.act.Lateness != 0 {
			t.Errorf("%s ran %s late with no downtime", r.id, r.act.Lateness)
		}
	}
	if p := w.plan(cutoff.Add(time.Hour)); len(p.Due) != 0 || p.Next != nil || !p.WakeAt.IsZero() || len(p.Risks) != 0 {
		t.Errorf("after the cutoff the plan should be empty, got %+v", p)
	}
	for _, s := range w.status.Steps {
		if s.State != v1.StepSucceeded {
			t.Errorf("step %s is %s, want Succeeded", s.Name, s.State)
		}
	}
}

func TestNextWakeUpIsTheNextDueTime(t *testing.T) {
	tests := []struct {
		name     string
		now      time.Time
		prepare  func(w *world)
		wantNext string
		wantWake time.Time
	}{
		{
			name:     "before anything: the announcement",
			now:      beforeAnnouncement,
			wantNext: "notify:announcement",
			wantWake: announcementDue,
		},
		{
			name:     "after the announcement: the first Monday reminder at 09:00 PKT",
			now:      announcementDue.Add(time.Minute),
			prepare:  func(w *world) { w.step(announcementDue) },
			wantNext: "notify:reminder",
			wantWake: firstReminder,
		},
		{
			name: "after the last reminder: the final notice",
			now:  lastReminder.Add(time.Minute),
			prepare: func(w *world) {
				w.runUntilIdle(beforeAnnouncement, lastReminder)
			},
			wantNext: "notify:final",
			wantWake: finalNoticeDue,
		},
		{
			name:     "just before the cutoff: routing, one second away",
			now:      justBeforeCutoff,
			prepare:  func(w *world) { w.runUntilIdle(beforeAnnouncement, justBeforeCutoff) },
			wantNext: "routing",
			wantWake: cutoff,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, pakistanSpec())
			if tt.prepare != nil {
				tt.prepare(w)
			}
			p := w.plan(tt.now)
			if p.Next == nil || p.Next.Name() != tt.wantNext {
				t.Fatalf("Next = %+v, want %s", p.Next, tt.wantNext)
			}
			if !p.WakeAt.Equal(tt.wantWake) {
				t.Fatalf("WakeAt = %s, want %s", p.WakeAt, tt.wantWake)
			}
		})
	}
}

func TestDowntime(t *testing.T) {
	t.Run("missed reminders run once, as the latest slot, with lateness and the count folded", func(t *testing.T) {
		w := newWorld(t, pakistanSpec())
		w.runUntilIdle(beforeAnnouncement, firstReminder) // announcement and first reminder ran
		back := thirdReminder.Add(90 * time.Minute)       // down through the second and third
		p := w.step(back)
		if len(p.Due) != 1 || p.Due[0].ID != "notify/"+ReminderID(thirdReminder) {
			t.Fatalf("due = %+v, want one reminder for the third slot", p.Due)
		}
		if p.Due[0].MissedSlots != 1 || p.Due[0].Lateness != 90*time.Minute {
			t.Fatalf("missed %d, lateness %s; want 1 and 1h30m", p.Due[0].MissedSlots, p.Due[0].Lateness)
		}
		if p := w.plan(back.Add(time.Minute)); len(p.Due) != 0 {
			t.Fatalf("after running it, %+v is due again", p.Due)
		}
	})

	t.Run("down through the cutoff: routing runs at once, the final notice is missed, drain waits for export", func(t *testing.T) {
		w := newWorld(t, pakistanSpec())
		w.runUntilIdle(beforeAnnouncement, fourthReminder)
		back := cutoff.Add(5 * time.Minute)
		p := w.step(back)
		var ids []string
		for _, a := range p.Due {
			ids = append(ids, a.ID)
		}
		// A final notice after the cutoff would announce a date already
		// gone: it is missed, and said to be.
		if want := []string{"export", "routing"}; !slices.Equal(ids, want) {
			t.Fatalf("due = %v, want %v", ids, want)
		}
		if !slices.Equal(p.MissedNotices, []string{NoticeIDFinal}) || !hasRisk(p, v1.StepNotify, v1.ReasonNoticesMissed) {
			t.Fatalf("missed %v, risks %+v; want the final notice missed, and said so", p.MissedNotices, p.Risks)
		}
		if p.Risks[0].Reason != v1.ReasonCutoffMissed {
			t.Fatalf("first risk %+v, want CutoffMissed, loudest", p.Risks[0])
		}
		if len(p.Held) != 1 || p.Held[0].Action.ID != "drain" || p.Held[0].Reason != HoldExport {
			t.Fatalf("held = %+v, want drain waiting for export", p.Held)
		}
		routing := p.Due[1]
		if routing.Lateness != 5*time.Minute {
			t.Fatalf("routing lateness %s, want 5m", routing.Lateness)
		}
		if !hasRisk(p, v1.StepExport, v1.ReasonStepBehind) || !hasRisk(p, v1.StepDrain, v1.ReasonStepBehind) {
			t.Fatalf("risks = %+v, want export and drain behind", p.Risks)
		}
	})

	t.Run("the announcement and final notice both missed: announcement first, final right after", func(t *testing.T) {
		w := newWorld(t, pakistanSpec())
		back := finalNoticeDue.Add(time.Hour)
		w.step(back)
		if want := []string{"notify/announcement", "export", "notify/final", "drain"}; !slices.Equal(w.ranIDs(), want) {
			t.Fatalf("ran %v, want %v", w.ranIDs(), want)
		}
		for _, id := range w.ranIDs() {
			if strings.Contains(id, "reminder") {
				t.Fatalf("a reminder ran after the final notice fell due: %v", w.ranIDs())
			}
		}
	})
}

func hasRisk(p Plan, step v1.StepName, reason string) bool {
	for _, r := range p.Risks {
		if r.Step == step && r.Reason == reason {
			return true
		}
	}
	return false
}

func TestGates(t *testing.T) {
	t.Run("drain waits for a verified export, then runs", func(t *testing.T) {
		w := newWorld(t, pakistanSpec())
		w.runUntilIdle(beforeAnnouncement, fourthReminder)
		// The export started but has not been verified.
		w.status.Steps = append(w.status.Steps, v1.StepStatus{Name: v1.StepExport, State: v1.StepRunning, StartedAt: ptr(metav1.NewTime(exportStart))})
		p := w.plan(drainStart)
		if len(p.Due) != 0 || len(p.Held) != 1 || p.Held[0].Reason != HoldExport {
			t.Fatalf("due %+v held %+v, want drain held for export", p.Due, p.Held)
		}
		RecordStepFinished(&w.status, v1.StepExport, v1.StepSucceeded, drainStart.Add(time.Minute))
		p = w.plan(drainStart.Add(time.Minute))
		if len(p.Due) != 1 || p.Due[0].ID != "drain" || p.Due[0].Lateness != time.Minute {
			t.Fatalf("due %+v, want drain one minute late", p.Due)
		}
	})

	t.Run("routing runs at the cutoff even when the export failed", func(t *testing.T) {
		w := newWorld(t, pakistanSpec())
		w.status.Steps = append(w.status.Steps, v1.StepStatus{Name: v1.StepExport, State: v1.StepFailed, StartedAt: ptr(metav1.NewTime(exportStart))})
		p := w.plan(cutoff)
		if !slices.ContainsFunc(p.Due, func(a Action) bool { return a.ID == "routing" }) {
			t.Fatalf("due %+v, want routing", p.Due)
		}
	})

	t.Run("an unapproved step waits, says so a day ahead, and runs once approved", func(t *testing.T) {
		spec := pakistanSpec()
		spec.Drain.RequireApproval = true
		w := newWorld(t, spec)
		w.runUntilIdle(beforeAnnouncement, exportDeadline)
		dayBefore := drainStart.Add(-DefaultRiskWindow)
		if p := w.plan(dayBefore.Add(-time.Second)); hasRisk(p, v1.StepDrain, v1.ReasonApprovalMissing) || !p.WakeAt.Equal(dayBefore) {
			t.Fatalf("a day and a second before: risks %+v wake %s; want no risk and a wake-up at %s", p.Risks, p.WakeAt, dayBefore)
		}
		if p := w.plan(dayBefore); !hasRisk(p, v1.StepDrain, v1.ReasonApprovalMissing) {
			t.Fatalf("a day before: risks %+v, want ApprovalMissing", p.Risks)
		}
		p := w.plan(drainStart)
		if len(p.Due) != 0 || len(p.Held) != 1 || p.Held[0].Reason != HoldApproval {
			t.Fatalf("due %+v held %+v, want drain waiting for approval", p.Due, p.Held)
		}
		Approve(spec, "alice", v1.StepDrain)
		p = w.plan(drainStart.Add(time.Hour))
		if len(p.Due) != 1 || p.Due[0].ID != "drain" {
			t.Fatalf("after approval due %+v, want drain", p.Due)
		}
	})

	t.Run("the notify approval gates the first notice only", func(t *testing.T) {
		spec := pakistanSpec()
		spec.Notify.RequireApproval = true
		w := newWorld(t, spec)
		if p := w.plan(announcementDue); len(p.Held) != 1 || p.Held[0].Reason != HoldApproval {
			t.Fatalf("held %+v, want the announcement waiting for approval", p.Held)
		}
		Approve(spec, "alice", v1.StepNotify)
		w.step(announcementDue)
		spec.Approvals = nil // withdrawing the approval does not stop notices already under way
		if p := w.plan(firstReminder); len(p.Due) != 1 {
			t.Fatalf("due %+v, want the first reminder", p.Due)
		}
	})

	t.Run("one notice at a time: a reminder waits while the announcement is in flight", func(t *testing.T) {
		w := newWorld(t, pakistanSpec())
		p := w.plan(announcementDue)
		RecordStarted(&w.status, p.Due[0], announcementDue, false) // started, not finished
		p = w.plan(firstReminder)
		if len(p.Due) != 0 || len(p.Held) != 1 || p.Held[0].Reason != HoldNoticeInFlight {
			t.Fatalf("due %+v held %+v, want the reminder held", p.Due, p.Held)
		}
		RecordNoticeFinished(&w.status, NoticeIDAnnouncement, firstReminder.Add(time.Minute))
		if p = w.plan(firstReminder.Add(time.Minute)); len(p.Due) != 1 || p.Due[0].Notice != v1.NoticeReminder {
			t.Fatalf("due %+v, want the reminder", p.Due)
		}
	})
}

func TestSuspend(t *testing.T) {
	spec := pakistanSpec()
	w := newWorld(t, spec)
	w.runUntilIdle(beforeAnnouncement, fourthReminder)
	spec.Suspend = true
	p := w.step(exportStart.Add(time.Hour))
	if len(p.Due) != 0 || len(p.Held) != 1 || p.Held[0].Reason != HoldSuspended {
		t.Fatalf("suspended: due %+v held %+v, want export held", p.Due, p.Held)
	}
	if !hasRisk(p, v1.StepExport, v1.ReasonSuspended) {
		t.Fatalf("suspended past a due step: risks %+v, want Suspended", p.Risks)
	}
	spec.Suspend = false
	p = w.step(exportStart.Add(2 * time.Hour))
	if len(p.Due) != 1 || p.Due[0].ID != "export" || p.Due[0].Lateness != 2*time.Hour {
		t.Fatalf("resumed: due %+v, want export two hours late", p.Due)
	}
}

func TestCancel(t *testing.T) {
	t.Run("before the cutoff: started steps revert newest first, then the cancellation notice", func(t *testing.T) {
		spec := pakistanSpec()
		w := newWorld(t, spec)
		w.runUntilIdle(beforeAnnouncement, drainStart)
		spec.Cancel = true
		before := len(w.ran)
		if p := w.step(drainStart.Add(time.Hour)); !p.Cancelling {
			t.Fatalf("plan %+v, want Cancelling", p)
		}
		// The cancellation notice goes out once every step is reverted.
		if want := []string{"revert/drain", "revert/export", "revert/notify", "notify/cancellation"}; !slices.Equal(w.ranIDs()[before:], want) {
			t.Fatalf("ran %v, want %v", w.ranIDs()[before:], want)
		}
		if s := StepStatus(&w.status, v1.StepRouting); s.State != v1.StepCancelled {
			t.Fatalf("routing is %s, want Cancelled", s.State)
		}
		if p := w.plan(cutoff); len(p.Due) != 0 || !p.WakeAt.IsZero() {
			t.Fatalf("after cancel, routing must not run: due %+v wake %s", p.Due, p.WakeAt)
		}
	})

	t.Run("before any notice: no cancellation notice", func(t *testing.T) {
		spec := pakistanSpec()
		spec.Cancel = true
		w := newWorld(t, spec)
		if p := w.step(beforeAnnouncement); len(p.Due) != 0 {
			t.Fatalf("due %+v, want nothing", p.Due)
		}
	})

	t.Run("after the cutoff it is refused without the override", func(t *testing.T) {
		spec := pakistanSpec()
		w := newWorld(t, spec)
		w.runUntilIdle(beforeAnnouncement, cutoff)
		spec.Cancel = true
		p := w.plan(cutoff.Add(time.Hour))
		if !p.CancelRefused || p.Cancelling || len(p.Due) != 0 {
			t.Fatalf("plan %+v, want cancel refused", p)
		}
		spec.AllowCancelAfterCutoff = true
		if p = w.plan(cutoff.Add(time.Hour)); !p.Cancelling || len(p.Due) != 4 || p.Due[0].ID != "revert/routing" {
			t.Fatalf("with override: due %+v, want four reverts starting with routing", p.Due)
		}
	})
}

func TestCompileReportsTheField(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(s *v1.RegionWithdrawalSpec)
		wantField string
	}{
		{name: "unknown time zone", mutate: func(s *v1.RegionWithdrawalSpec) { s.TimeZone = "Asia/Atlantis" }, wantField: "spec.timeZone"},
		{name: "Local is not a region's zone", mutate: func(s *v1.RegionWithdrawalSpec) { s.TimeZone = "Local" }, wantField: "spec.timeZone"},
		{name: "bad cron", mutate: func(s *v1.RegionWithdrawalSpec) { s.Notify.Reminders.Schedule = "0 25 * * *" }, wantField: "spec.notify.reminders.schedule"},
		{name: "@every", mutate: func(s *v1.RegionWithdrawalSpec) { s.Notify.Reminders.Schedule = "@every 1h" }, wantField: "spec.notify.reminders.schedule"},
		{name: "bad selector", mutate: func(s *v1.RegionWithdrawalSpec) {
			s.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}
		}, wantField: "spec.selector"},
		{name: "final after the cutoff", mutate: func(s *v1.RegionWithdrawalSpec) {
			s.Notify.Final = v1.Moment{At: ptr(metav1.NewTime(cutoff.Add(time.Hour)))}
		}, wantField: "spec.notify.final"},
		{name: "export deadline after drain", mutate: func(s *v1.RegionWithdrawalSpec) { s.Export.Deadline = offset(-time.Hour) }, wantField: "spec.export.deadline"},
		{name: "no step", mutate: func(s *v1.RegionWithdrawalSpec) { s.Notify, s.Export, s.Drain, s.Routing = nil, nil, nil, nil }, wantField: "spec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := pakistanSpec()
			tt.mutate(spec)
			_, err := Compile(spec)
			var se *SpecError
			if !errors.As(err, &se) || se.Field != tt.wantField {
				t.Fatalf("Compile error = %v, want a SpecError on %s", err, tt.wantField)
			}
		})
	}
}

func TestDSTInTheRegionsZone(t *testing.T) {
	// A region on Europe/Berlin with daily reminders at 02:30 local, across
	// both 2026 transitions.
	spec := &v1.RegionWithdrawalSpec{
		Region: "DE", TimeZone: "Europe/Berlin",
		Cutoff: metav1.NewTime(utc("2026-10-27T12:00:00Z")),
		Notify: &v1.NotifyStep{
			Announce:  v1.Moment{At: ptr(metav1.NewTime(utc("2026-03-27T12:00:00Z")))},
			Reminders: &v1.ReminderSchedule{Schedule: "30 2 * * *"},
			Final:     offset(-time.Hour),
		},
	}
	w := newWorld(t, spec)
	w.runUntilIdle(utc("2026-03-27T12:00:00Z"), utc("2026-10-27T00:00:00Z"))
	count := map[string]int{}
	for _, r := range w.ran {
		count[naive(r.at, w.tl.Location).Format("2006-01-02")]++
	}
	for day, want := range map[string]int{"2026-03-29": 1, "2026-10-25": 1, "2026-10-26": 1} {
		if count[day] != want {
			t.Errorf("%s: %d reminders, want %d", day, count[day], want)
		}
	}
	for _, r := range w.ran {
		if strings.Contains(r.id, ReminderID(berlinSpringJump)) && !r.at.Equal(berlinSpringJump) {
			t.Errorf("the skipped 02:30 fired at %s, want the jump %s", r.at, berlinSpringJump)
		}
	}
	if !slices.Contains(w.ranIDs(), "notify/"+ReminderID(berlinSpringJump)) {
		t.Errorf("no reminder at the spring-forward jump %s", berlinSpringJump)
	}
	if !slices.Contains(w.ranIDs(), "notify/"+ReminderID(utc("2026-10-25T00:30:00Z"))) {
		t.Errorf("the repeated 02:30 did not fire at its first occurrence")
	}
	_ = berlinFallBackEdge
}

// TestCreatedAfterTheCutoff: nothing that would announce a date already
// gone is sent; the notices are recorded as missed, the condition says the
// cutoff passed, and with afterCutoff one notice written for it goes out.
func TestCreatedAfterTheCutoff(t *testing.T) {
	late := cutoff.Add(time.Hour)
	for _, afterCutoff := range []bool{false, true} {
		spec := pakistanSpec()
		spec.Notify.AfterCutoff = afterCutoff
		tl, err := Compile(spec)
		if err != nil {
			t.Fatal(err)
		}
		st := &v1.RegionWithdrawalStatus{}
		p := Make(Input{Timeline: tl, Spec: spec, Status: st, Now: late})
		for _, a := range p.Due {
			if a.Notice == v1.NoticeAnnouncement || a.Notice == v1.NoticeFinal || a.Notice == v1.NoticeReminder {
				t.Fatalf("afterCutoff %v: %s is due after the cutoff", afterCutoff, a.ID)
			}
		}
		if !slices.Equal(p.MissedNotices, []string{NoticeIDAnnouncement, NoticeIDFinal}) {
			t.Fatalf("missed %v", p.MissedNotices)
		}
		if len(p.Risks) == 0 || p.Risks[0].Reason != v1.ReasonCutoffMissed || !hasRisk(p, v1.StepNotify, v1.ReasonNoticesMissed) {
			t.Fatalf("risks %+v, want CutoffMissed first and NoticesMissed", p.Risks)
		}
		hasAfter := slices.ContainsFunc(p.Due, func(a Action) bool { return a.Notice == v1.NoticeAfterCutoff })
		if hasAfter != afterCutoff {
			t.Fatalf("afterCutoff %v: after-cutoff notice due %v", afterCutoff, hasAfter)
		}
		RecordNoticesMissed(st, spec, p.MissedNotices, late)
		s := LookupStep(st, v1.StepNotify)
		if !slices.Equal(st.Notify.Missed, []string{NoticeIDAnnouncement, NoticeIDFinal}) {
			t.Fatalf("status.notify.missed = %v", st.Notify.Missed)
		}
		if afterCutoff && s.State == v1.StepFailed || !afterCutoff && (s.State != v1.StepFailed || !strings.Contains(s.Message, "announcement and final")) {
			t.Fatalf("afterCutoff %v: notify step %s %q", afterCutoff, s.State, s.Message)
		}
	}
}

// TestTheSwitchIsCarriedOnFirst: when the drain, a notice and the routing
// switch run at once (all due at the cutoff), the switch is carried on
// first, after any revert.
func TestTheSwitchIsCarriedOnFirst(t *testing.T) {
	at := metav1.NewTime(time.Date(2026, 12, 29, 19, 0, 0, 0, time.UTC))
	status := &v1.RegionWithdrawalStatus{Notify: &v1.NotifyStatus{Notices: []v1.NoticeStatus{
		{ID: "final", Kind: v1.NoticeFinal, ScheduledAt: at, StartedAt: &at},
	}}}
	for _, step := range []v1.StepName{v1.StepDrain, v1.StepRouting} {
		s := StepStatus(status, step)
		s.State, s.StartedAt, s.DueAt = v1.StepRunning, &at, &at
	}
	var got []string
	for _, a := range InFlight(status) {
		got = append(got, a.ID)
	}
	if len(got) != 3 || got[0] != StartAction(v1.StepRouting, at.Time).ID || got[2] != StartAction(v1.StepDrain, at.Time).ID {
		t.Fatalf("in flight %q; want the routing switch, the notice, then the drain", got)
	}

	StepStatus(status, v1.StepExport).State = v1.StepReverting
	if first := InFlight(status)[0]; first.Kind != ActionRevert || first.Step != v1.StepExport {
		t.Fatalf("first in flight %+v; want the revert", first)
	}
}

// TestDeadlineAtRiskMeansWhatItSays: CutoffMissed only when the routes
// have not switched within CutoffTolerance of the cutoff; a drain or an
// export late on its own timeline says so as StepBehind; and all going to
// plan, a drain finishing just after the switch, raises nothing.
func TestDeadlineAtRiskMeansWhatItSays(t *testing.T) {
	at := func(ts time.Time) *metav1.Time { m := metav1.NewTime(ts); return &m }
	exportDone := v1.StepStatus{Name: v1.StepExport, State: v1.StepSucceeded, StartedAt: at(exportStart), FinishedAt: at(exportStart.Add(time.Hour))}
	// A drain started an hour before the cutoff, well within its 6 h
	// timeout (it waited for the export, say).
	drainRunning := v1.StepStatus{Name: v1.StepDrain, State: v1.StepRunning, StartedAt: at(cutoff.Add(-time.Hour))}
	drainDone := v1.StepStatus{Name: v1.StepDrain, State: v1.StepSucceeded, StartedAt: at(drainStart), FinishedAt: at(cutoff.Add(3 * time.Second))}
	switched := v1.StepStatus{Name: v1.StepRouting, State: v1.StepSucceeded, StartedAt: at(cutoff), FinishedAt: at(cutoff.Add(time.Second))}
	for _, tt := range []struct {
		name  string
		now   time.Time
		steps []v1.StepStatus
		want  map[v1.StepName]string // step: reason; nothing else may be raised
	}{
		{name: "switched, the drain finishing within its timeout", now: cutoff.Add(2 * time.Second),
			steps: []v1.StepStatus{exportDone, drainRunning, switched}},
		{name: "switched and drained", now: cutoff.Add(time.Minute),
			steps: []v1.StepStatus{exportDone, drainDone, switched}},
		{name: "not switched yet, within the tolerance", now: cutoff.Add(CutoffTolerance - time.Second),
			steps: []v1.StepStatus{exportDone, drainDone}},
		{name: "not switched past the tolerance", now: cutoff.Add(CutoffTolerance),
			steps: []v1.StepStatus{exportDone, drainDone}, want: map[v1.StepName]string{v1.StepRouting: v1.ReasonCutoffMissed}},
		{name: "switched, the drain past its timeout", now: cutoff.Add(5 * time.Hour),
			steps: []v1.StepStatus{exportDone, drainRunning, switched}, want: map[v1.StepName]string{v1.StepDrain: v1.ReasonStepBehind}},
		{name: "switched, the drain not started", now: cutoff.Add(time.Minute),
			steps: []v1.StepStatus{{Name: v1.StepExport, State: v1.StepRunning, StartedAt: at(exportStart)}, switched},
			want:  map[v1.StepName]string{v1.StepDrain: v1.ReasonStepBehind, v1.StepExport: v1.ReasonStepBehind}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := pakistanSpec()
			spec.Notify = nil
			tl, err := Compile(spec)
			if err != nil {
				t.Fatal(err)
			}
			p := Make(Input{Timeline: tl, Spec: spec, Status: &v1.RegionWithdrawalStatus{Steps: tt.steps}, Now: tt.now})
			got := map[v1.StepName]string{}
			for _, r := range p.Risks {
				if _, dup := got[r.Step]; !dup {
					got[r.Step] = r.Reason
				}
			}
			if !maps.Equal(got, tt.want) {
				t.Fatalf("risks %+v, want %v", p.Risks, tt.want)
			}
		})
	}
}
