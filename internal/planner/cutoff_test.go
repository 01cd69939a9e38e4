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
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// moveCutoff changes the spec's cutoff at now, as a person editing the
// withdrawal would, and lets the controller's first look record it.
func (w *world) moveCutoff(to, now time.Time) *v1.CutoffChange {
	w.t.Helper()
	w.spec.Cutoff = metav1.NewTime(to)
	tl, err := Compile(w.spec)
	if err != nil {
		w.t.Fatalf("Compile after moving the cutoff to %s: %v", to, err)
	}
	w.tl = tl
	return ObserveCutoff(&w.status, w.spec, w.tl, 2, "", now)
}

// ranAt returns when id ran, and whether it did.
func (w *world) ranAt(id string) (time.Time, bool) {
	for _, r := range w.ran {
		if r.id == id {
			return r.at, true
		}
	}
	return time.Time{}, false
}

func (w *world) count(prefix string) int {
	n := 0
	for _, r := range w.ran {
		if strings.HasPrefix(r.id, prefix) {
			n++
		}
	}
	return n
}

func TestCutoffChanges(t *testing.T) {
	month := 31 * 24 * time.Hour
	later := cutoff.Add(month) // 30 January: extended by a month
	cases := []struct {
		name     string
		changeAt time.Time
		to       time.Time
		// notice is the Rescheduled notice the change gets, "" for none.
		notice   string
		reason   string
		effect   string
		finalID  string
		reruns   []string // steps that must not run a second time
		finalDue time.Time
		routing  time.Time
	}{
		{name: "before anyone was told", changeAt: beforeAnnouncement, to: later,
			reason: v1.ReasonPostponed, finalID: "final", finalDue: later.Add(-24 * time.Hour), routing: later},
		{name: "after the announcement", changeAt: announcementDue.Add(time.Hour), to: later, notice: "rescheduled-1",
			reason: v1.ReasonPostponed, finalID: "final", finalDue: later.Add(-24 * time.Hour), routing: later},
		{name: "after the export", changeAt: exportDeadline, to: later, notice: "rescheduled-1",
			reason: v1.ReasonPostponed, effect: "exports verified", finalID: "final", reruns: []string{"export"},
			finalDue: later.Add(-24 * time.Hour), routing: later},
		{name: "after the drain", changeAt: drainStart.Add(time.Hour), to: later, notice: "rescheduled-1",
			reason: v1.ReasonPostponed, effect: "is undone: its workloads go back to their recorded replica counts, and are drained again from 2027-01-27T19:00:00Z",
			finalID: "final", reruns: []string{"export"}, finalDue: later.Add(-24 * time.Hour), routing: later},
		{name: "after the final notice", changeAt: finalNoticeDue.Add(time.Hour), to: later, notice: "rescheduled-1",
			reason: v1.ReasonPostponed, effect: "a new final notice goes out", finalID: "final-1", reruns: []string{"export"},
			finalDue: later.Add(-24 * time.Hour), routing: later},
		{name: "after the switch", changeAt: cutoff.Add(time.Hour), to: later,
			reason: v1.ReasonPostponed, effect: "routes switched", finalID: "final", reruns: []string{"export", "drain", "routing"},
			finalDue: finalNoticeDue, routing: cutoff},
		{name: "brought forward after the announcement", changeAt: announcementDue.Add(time.Hour), to: cutoff.Add(-7 * 24 * time.Hour), notice: "rescheduled-1",
			reason: v1.ReasonNoticeShortened, effect: "168h0m0s less notice than promised", finalID: "final",
			finalDue: cutoff.Add(-8 * 24 * time.Hour), routing: cutoff.Add(-7 * 24 * time.Hour)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, pakistanSpec())
			if tc.changeAt.After(beforeAnnouncement) {
				w.runUntilIdle(beforeAnnouncement, tc.changeAt)
			}
			c := w.moveCutoff(tc.to, tc.changeAt)
			if c == nil {
				t.Fatal("the change was not recorded")
			}
			if c.NoticeID != tc.notice {
				t.Errorf("the change's notice is %q, want %q", c.NoticeID, tc.notice)
			}
			if tc.effect != "" && !slices.ContainsFunc(c.Effects, func(e string) bool { return strings.Contains(e, tc.effect) }) {
				t.Errorf("effects %q do not say %q", c.Effects, tc.effect)
			}
			if reason, _ := CutoffMovedReason(w.status.Cutoff); reason != tc.reason {
				t.Errorf("reason %s, want %s", reason, tc.reason)
			}
			w.runUntilIdle(tc.changeAt, tc.to.Add(time.Hour))

			if tc.notice != "" {
				at, ok := w.ranAt("notify/" + tc.notice)
				if !ok || !at.Equal(tc.changeAt) {
					t.Errorf("%s ran at %s (%v), want at once, %s", tc.notice, at, ok, tc.changeAt)
				}
			}
			if n := w.count("notify/rescheduled-"); n != min(1, len(tc.notice)) {
				t.Errorf("%d Rescheduled notices ran, want %d: %v", n, min(1, len(tc.notice)), w.ranIDs())
			}
			if got := FinalID(&w.status); got != tc.finalID {
				t.Errorf("final notice ID %s, want %s", got, tc.finalID)
			}
			if at, ok := w.ranAt("notify/" + tc.finalID); !ok || !at.Equal(tc.finalDue) {
				t.Errorf("notify/%s ran at %s (%v), want %s: %v", tc.finalID, at, ok, tc.finalDue, w.ranIDs())
			}
			if at, ok := w.ranAt("routing"); !ok || !at.Equal(tc.routing) {
				t.Errorf("routing ran at %s (%v), want %s", at, ok, tc.routing)
			}
			for _, step := range tc.reruns {
				if at, _ := w.ranAt(step); !at.Before(tc.changeAt) {
					t.Errorf("%s ran at %s, after the change at %s", step, at, tc.changeAt)
				}
			}
			// No reminder tells the old date after the change: every
			// reminder after it ran after the Rescheduled notice.
			for _, r := range w.ran {
				if strings.HasPrefix(r.id, "notify/reminder-") && r.at.After(tc.changeAt) && !r.act.DueAt.Before(tc.to) {
					t.Errorf("reminder %s is due at or after the new cutoff", r.id)
				}
			}
			if s := LookupStep(&w.status, v1.StepNotify); s.State != v1.StepSucceeded {
				t.Errorf("notify ended %s, want Succeeded", s.State)
			}
		})
	}
}

// A drain that started is restored when the cutoff moves later than its
// new start, once, and runs again at that start; with onPostpone: Keep, or
// when the new timeline drains at once, it stays.
func TestPostponedDrainIsRestoredAndRunsAgain(t *testing.T) {
	later := cutoff.Add(31 * 24 * time.Hour)
	changeAt := drainStart.Add(time.Hour)
	t.Run("Restore", func(t *testing.T) {
		w := newWorld(t, pakistanSpec())
		w.runUntilIdle(beforeAnnouncement, changeAt)
		if c := w.moveCutoff(later, changeAt); c.Drain != v1.DrainRestorePending {
			t.Fatalf("the change leaves the drain %q, want it restored", c.Drain)
		}
		// Suspended, the restore waits like anything new.
		w.spec.Suspend = true
		if p := w.plan(changeAt); len(p.Due) != 0 || !slices.ContainsFunc(p.Held, func(h Hold) bool { return h.Action.ID == "restore/drain" && h.Reason == HoldSuspended }) {
			t.Fatalf("suspended: due %v, held %v; want the restore held", p.Due, p.Held)
		}
		w.spec.Suspend = false
		p := w.plan(changeAt)
		if !slices.ContainsFunc(p.Due, func(a Action) bool { return a.ID == "restore/drain" && a.Kind == ActionRevert }) {
			t.Fatalf("due %v, want the drain restored at once", p.Due)
		}
		// The process dies after the restore started: it is carried on
		// from status, as a restore.
		RecordStarted(&w.status, RestoreDrainAction(changeAt), changeAt, false)
		if s := LookupStep(&w.status, v1.StepDrain); s.State != v1.StepReverting || !RestoringDrain(&w.status) {
			t.Fatalf("drain %s, restoring %v", s.State, RestoringDrain(&w.status))
		}
		if in := InFlight(&w.status); !slices.ContainsFunc(in, func(a Action) bool { return a.Step == v1.StepDrain && a.Kind == ActionRevert }) {
			t.Fatalf("in flight %v, want the drain's revert carried on", in)
		}
		w.run(RestoreDrainAction(changeAt), changeAt)
		w.runUntilIdle(changeAt, later.Add(time.Hour))
		if at, ok := w.ranAt("drain"); !ok || !at.Equal(later.Add(-48*time.Hour)) {
			t.Errorf("the drain ran again at %s (%v), want at its new start %s: %v", at, ok, later.Add(-48*time.Hour), w.ranIDs())
		}
		if n := w.count("restore/drain"); n != 1 {
			t.Errorf("the drain was restored %d times, want once: %v", n, w.ranIDs())
		}
		h := w.status.Cutoff
		if c := h.Changes[len(h.Changes)-1]; c.Drain != v1.DrainRestoreDone || c.DrainRestoredAt == nil || h.DrainRestores != 1 {
			t.Errorf("history %+v", h)
		}
		if s := LookupStep(&w.status, v1.StepDrain); s.State != v1.StepSucceeded {
			t.Errorf("the drain ended %s", s.State)
		}
	})
	t.Run("Keep", func(t *testing.T) {
		spec := pakistanSpec()
		spec.Drain.OnPostpone = v1.DrainOnPostponeKeep
		w := newWorld(t, spec)
		w.runUntilIdle(beforeAnnouncement, changeAt)
		c := w.moveCutoff(later, changeAt)
		if c.Drain != "" || !slices.ContainsFunc(c.Effects, func(e string) bool { return strings.Contains(e, "stays (spec.drain.onPostpone: Keep)") }) {
			t.Fatalf("change %+v", c)
		}
		w.runUntilIdle(changeAt, later.Add(time.Hour))
		if n := w.count("restore/drain"); n != 0 || w.count("drain") != 1 {
			t.Errorf("ran %v, want the drain once and no restore", w.ranIDs())
		}
	})
	t.Run("the new timeline drains at once", func(t *testing.T) {
		w := newWorld(t, pakistanSpec())
		w.runUntilIdle(beforeAnnouncement, changeAt)
		c := w.moveCutoff(cutoff.Add(30*time.Minute), changeAt) // drains from half an hour ago
		if c.Drain != "" || !slices.ContainsFunc(c.Effects, func(e string) bool { return strings.Contains(e, "only spec.cancel restores the workloads") }) {
			t.Fatalf("change %+v", c)
		}
		w.runUntilIdle(changeAt, cutoff.Add(48*time.Hour))
		if n := w.count("restore/drain"); n != 0 {
			t.Errorf("ran %v, want no restore", w.ranIDs())
		}
	})
}

// Extended, then brought back to the date first announced: two notices,
// each naming its own change, and customers get all the notice promised.
func TestCutoffMovedAndMovedBack(t *testing.T) {
	w := newWorld(t, pakistanSpec())
	first := announcementDue.Add(time.Hour)
	w.runUntilIdle(beforeAnnouncement, first)
	later := cutoff.Add(31 * 24 * time.Hour)
	w.moveCutoff(later, first)
	w.runUntilIdle(first, secondReminder.Add(time.Hour))
	back := secondReminder.Add(2 * time.Hour)
	c := w.moveCutoff(cutoff, back)
	if c.Seq != 2 || c.NoticeID != "rescheduled-2" || !c.From.Time.Equal(later) || !c.To.Time.Equal(cutoff) {
		t.Fatalf("second change %+v", c)
	}
	w.runUntilIdle(back, cutoff.Add(time.Hour))
	for _, id := range []string{"notify/rescheduled-1", "notify/rescheduled-2"} {
		if _, ok := w.ranAt(id); !ok {
			t.Errorf("%s did not run: %v", id, w.ranIDs())
		}
	}
	if reason, _ := CutoffMovedReason(w.status.Cutoff); reason != v1.ReasonBroughtForward {
		t.Errorf("reason %s, want BroughtForward: no notice lost against the first announcement", reason)
	}
	if h := w.status.Cutoff; !h.Original.Time.Equal(cutoff) || !h.Promised.Time.Equal(cutoff) || h.ChangeCount != 2 || h.NotifiedSeq != 2 {
		t.Errorf("history %+v", h)
	}
	if at, ok := w.ranAt("notify/final"); !ok || !at.Equal(finalNoticeDue) {
		t.Errorf("final ran at %s (%v), want %s", at, ok, finalNoticeDue)
	}
	if at, ok := w.ranAt("routing"); !ok || !at.Equal(cutoff) {
		t.Errorf("routing ran at %s, want the original cutoff", at)
	}
}

// A change made while another change's notice is still going out waits
// for it, and the first notice keeps telling of its own change.
func TestSecondChangeWaitsForTheFirstNotice(t *testing.T) {
	w := newWorld(t, pakistanSpec())
	at := announcementDue.Add(time.Hour)
	w.runUntilIdle(beforeAnnouncement, at)
	w.moveCutoff(cutoff.Add(7*24*time.Hour), at)
	p := w.plan(at)
	if len(p.Due) != 1 || p.Due[0].NoticeID() != "rescheduled-1" || p.Due[0].Notice != v1.NoticeRescheduled {
		t.Fatalf("due %+v, want the Rescheduled notice alone", p.Due)
	}
	RecordStarted(&w.status, p.Due[0], at, false) // in flight
	w.moveCutoff(cutoff.Add(14*24*time.Hour), at.Add(time.Minute))
	p = w.plan(at.Add(time.Minute))
	if len(p.Due) != 0 || len(p.Held) != 1 || p.Held[0].Reason != HoldNoticeInFlight || p.Held[0].Action.NoticeID() != "rescheduled-2" {
		t.Fatalf("due %+v held %+v, want rescheduled-2 held for the notice in flight", p.Due, p.Held)
	}
	if c := Change(&w.status, "rescheduled-1"); c == nil || c.Seq != 1 {
		t.Errorf("rescheduled-1 tells of change %+v, want change 1", c)
	}
	if c := Change(&w.status, "reminder-x"); c == nil || c.Seq != 2 {
		t.Errorf("other notices tell of change %+v, want the latest", c)
	}
}

func TestCutoffHistoryIsBounded(t *testing.T) {
	w := newWorld(t, pakistanSpec())
	w.runUntilIdle(beforeAnnouncement, announcementDue.Add(time.Hour))
	now := announcementDue.Add(time.Hour)
	for i := range 40 {
		now = now.Add(time.Minute)
		w.moveCutoff(cutoff.Add(time.Duration(i+1)*time.Hour), now)
		w.step(now)
	}
	h := w.status.Cutoff
	if len(h.Changes) > maxCutoffChanges || h.ChangeCount != 40 || h.Changes[0].Seq != 1 || h.Changes[len(h.Changes)-1].Seq != 40 {
		t.Errorf("history keeps %d changes (first %d, last %d), count %d", len(h.Changes), h.Changes[0].Seq, h.Changes[len(h.Changes)-1].Seq, h.ChangeCount)
	}
	if n := len(w.status.Notify.Notices); n > maxNotices {
		t.Errorf("%d notices in status, more than %d", n, maxNotices)
	}
	if n := w.count("notify/rescheduled-"); n != 40 {
		t.Errorf("%d Rescheduled notices ran, want one per change", n)
	}
}

// Verified exports are made again when the cutoff moves later than their
// new start and spec.export.onPostpone asks for it: in a new round, once
// per change, at the new start, before the drain, which waits for them.
// Customers keep the artifacts they were given meanwhile. Without it, or
// when the new timeline exports at once, they stay.
func TestPostponedExportIsMadeAgain(t *testing.T) {
	later := cutoff.Add(31 * 24 * time.Hour)
	changeAt := exportDeadline.Add(time.Hour)
	reexport := func() *v1.RegionWithdrawalSpec {
		spec := pakistanSpec()
		spec.Export.OnPostpone = v1.ExportOnPostponeReexport
		return spec
	}
	t.Run("Reexport", func(t *testing.T) {
		w := newWorld(t, reexport())
		w.runUntilIdle(beforeAnnouncement, changeAt)
		artifact := v1.ExportArtifact{Target: "Namespace/acme", Location: "https://store.example/a"}
		StepStatus(&w.status, v1.StepExport).Export = &v1.ExportStatus{Verified: 1, Targets: 1, Artifacts: []v1.ExportArtifact{artifact}}
		c := w.moveCutoff(later, changeAt)
		if c.ExportRound != 1 || w.status.Cutoff.ExportRound != 1 {
			t.Fatalf("the change's export round %d, status %d; want round 1", c.ExportRound, w.status.Cutoff.ExportRound)
		}
		if !slices.ContainsFunc(c.Effects, func(e string) bool {
			return strings.Contains(e, "are made again from 2027-01-22T19:00:00Z, as round 1")
		}) {
			t.Errorf("effects %q do not say the exports are made again", c.Effects)
		}
		s := LookupStep(&w.status, v1.StepExport)
		if s.State != v1.StepPending || s.Export == nil || len(s.Export.Artifacts) != 1 || s.Export.Verified != 0 {
			t.Fatalf("export step after the change: %+v; want Pending, its artifact kept, nothing counted verified", s)
		}
		// Each round runs under its own ID in this record, so that an
		// action planned twice otherwise is still caught.
		rename := func(round string) {
			for i := range w.ran {
				if w.ran[i].id == "export" {
					w.ran[i].id = "export/" + round
				}
			}
		}
		rename("round-0")
		// Postponed again, by another month, after the second round was
		// verified and before the drain: a third round.
		changeAt2 := later.Add(-71 * time.Hour)
		w.runUntilIdle(changeAt, changeAt2)
		newStart := later.Add(-168 * time.Hour)
		if at, ok := w.ranAt("export"); !ok || !at.Equal(newStart) {
			t.Fatalf("the export ran again at %s (%v), want at its new start %s: %v", at, ok, newStart, w.ranIDs())
		}
		if _, ok := w.ranAt("drain"); ok {
			t.Fatalf("the drain ran before %s: %v", changeAt2, w.ranIDs())
		}
		rename("round-1")
		latest := later.Add(31 * 24 * time.Hour)
		if c := w.moveCutoff(latest, changeAt2); c.ExportRound != 2 {
			t.Fatalf("a second postponement made export round %d, want 2", c.ExportRound)
		}
		w.runUntilIdle(changeAt2, latest.Add(time.Hour))
		at, ok := w.ranAt("export")
		if !ok || !at.Equal(latest.Add(-168*time.Hour)) {
			t.Fatalf("the third round ran at %s (%v), want %s: %v", at, ok, latest.Add(-168*time.Hour), w.ranIDs())
		}
		if d, ok := w.ranAt("drain"); !ok || !d.After(at) {
			t.Errorf("the drain ran at %s (%v), not after the last export at %s", d, ok, at)
		}
	})
	t.Run("Keep", func(t *testing.T) {
		w := newWorld(t, pakistanSpec())
		w.runUntilIdle(beforeAnnouncement, changeAt)
		c := w.moveCutoff(later, changeAt)
		if c.ExportRound != 0 || LookupStep(&w.status, v1.StepExport).State != v1.StepSucceeded {
			t.Fatalf("without onPostpone the exports were sent to be made again: %+v", c)
		}
		if !slices.ContainsFunc(c.Effects, func(e string) bool { return strings.Contains(e, "onPostpone: Keep") }) {
			t.Errorf("effects %q do not say how to make them again", c.Effects)
		}
	})
	t.Run("the new start has passed", func(t *testing.T) {
		w := newWorld(t, reexport())
		w.runUntilIdle(beforeAnnouncement, changeAt)
		if c := w.moveCutoff(cutoff.Add(time.Hour), changeAt); c.ExportRound != 0 || LookupStep(&w.status, v1.StepExport).State != v1.StepSucceeded {
			t.Fatalf("a postponement by an hour, whose export start is long past, made the exports again: %+v", c)
		}
	})
}
