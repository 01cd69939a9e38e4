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
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

var (
	fuzzZones     = []string{"Asia/Karachi", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC", "Asia/Kathmandu", "Nowhere/Atlantis"}
	fuzzSchedules = []string{"0 9 * * MON", "* * * * *", "30 2 * * *", "*/20 2 * * *", "0 * * * *", "@daily", "0 0 30 2 *", "bad cron", "@every 1h", "0 9 1 * *"}
)

// FuzzPlan drives random timelines through random histories: clock jumps
// (downtime), suspends, approvals, cancels, and notices left in flight. The
// planner must never panic, never wake up in the past, never plan an action
// that already ran, never drain before a verified export, and never run a
// step before it is due.
//
//	go test ./internal/planner -run '^$' -fuzz FuzzPlan -fuzztime 60s
func FuzzPlan(f *testing.F) {
	f.Add(int16(-720), int16(-24), int16(-168), int16(-72), int16(-48), int16(0), uint8(0), uint8(0), uint8(0), int32(-800), []byte{1, 2, 3, 200, 4, 5, 255, 9})
	f.Add(int16(-10), int16(-1), int16(-8), int16(-4), int16(-3), int16(-1), uint8(1), uint8(1), uint8(0xff), int32(-20), []byte{0, 0, 1, 1, 2, 250, 7})
	f.Add(int16(-200), int16(-2), int16(-5), int16(-3), int16(-2), int16(0), uint8(2), uint8(1), uint8(0x0f), int32(-5000), []byte{255, 255, 255})
	f.Fuzz(func(t *testing.T, announceH, finalH, exportStartH, exportDeadlineH, drainH, routingH int16, zone, sched, flags uint8, startH int32, history []byte) {
		cut := utc("2026-12-29T19:00:00Z").Add(time.Duration(int64(startH)%1000) * time.Minute)
		hours := func(h int16) *metav1.Duration {
			return &metav1.Duration{Duration: -time.Duration(abs(int64(h))%5000) * time.Hour}
		}
		spec := &v1.RegionWithdrawalSpec{
			Region:   "PK",
			Cutoff:   metav1.NewTime(cut),
			TimeZone: fuzzZones[int(zone)%len(fuzzZones)],
		}
		if flags&1 == 0 {
			spec.Notify = &v1.NotifyStep{
				Announce:        v1.Moment{Offset: hours(announceH)},
				Final:           v1.Moment{Offset: hours(finalH)},
				RequireApproval: flags&16 != 0,
			}
			if flags&2 == 0 {
				spec.Notify.Reminders = &v1.ReminderSchedule{Schedule: fuzzSchedules[int(sched)%len(fuzzSchedules)]}
			}
		}
		if flags&4 == 0 {
			spec.Export = &v1.ExportStep{Start: v1.Moment{Offset: hours(exportStartH)}, Deadline: v1.Moment{Offset: hours(exportDeadlineH)}}
		}
		if flags&8 == 0 {
			spec.Drain = &v1.DrainStep{Start: v1.Moment{Offset: hours(drainH)}, RequireApproval: flags&32 != 0, Timeout: &metav1.Duration{Duration: time.Hour}}
		}
		spec.Routing = &v1.RoutingStep{At: &v1.Moment{Offset: hours(routingH)}, RequireApproval: flags&64 != 0}

		tl, err := Compile(spec)
		if err != nil {
			if !IsSpecError(err) {
				t.Fatalf("Compile returned a %T, not a SpecError: %v", err, err)
			}
			return
		}
		var status v1.RegionWithdrawalStatus
		ran := map[string]time.Time{}
		now := cut.Add(-time.Duration(abs(int64(startH))%10000) * time.Hour)
		for i, b := range history {
			switch b % 16 {
			case 13:
				spec.Suspend = !spec.Suspend
			case 14:
				for _, s := range v1.AllSteps {
					Approve(spec, "alice", s)
				}
			case 15:
				spec.Cancel = true
				spec.AllowCancelAfterCutoff = flags&128 != 0
			}
			p := Make(Input{Timeline: tl, Spec: spec, Status: &status, Now: now})
			if !p.WakeAt.IsZero() && !p.WakeAt.After(now) {
				t.Fatalf("wake-up %s is not after now %s", p.WakeAt, now)
			}
			if p.Next != nil && !p.Next.DueAt.After(now) {
				t.Fatalf("next action %s at %s is not in the future of %s", p.Next.ID, p.Next.DueAt, now)
			}
			seen := map[string]bool{}
			for _, a := range p.Due {
				if seen[a.ID] {
					t.Fatalf("%s is due twice in one plan", a.ID)
				}
				seen[a.ID] = true
				if at, ok := ran[a.ID]; ok {
					t.Fatalf("%s planned again at %s; it ran at %s", a.ID, now, at)
				}
				if a.DueAt.After(now) {
					t.Fatalf("%s due at %s planned early at %s", a.ID, a.DueAt, now)
				}
				if a.Kind == ActionStart && a.Step == v1.StepDrain && tl.Export != nil {
					if s := StepStatus(&status, v1.StepExport); s.State != v1.StepSucceeded {
						t.Fatalf("drain planned while the export is %s", s.State)
					}
				}
				if a.Kind != ActionRevert && a.Notice != v1.NoticeCancellation && spec.Suspend && !p.Cancelling {
					t.Fatalf("%s planned while suspended", a.ID)
				}
				ran[a.ID] = now
				RecordStarted(&status, a, now, false)
				// Leave some actions in flight, to be finished later.
				if (b>>4)&1 == 0 || i == len(history)-1 {
					finish(&status, a, now)
				}
			}
			if p.Cancelling {
				RecordCancelAccepted(&status, tl, now)
			}
			// Finish whatever is in flight now and then.
			if (b>>5)&1 == 1 {
				finishAll(&status, now)
			}
			// Move on: to the wake-up, or jump (downtime).
			switch {
			case b>>6 == 3:
				now = now.Add(time.Duration(b) * 37 * time.Hour)
			case !p.WakeAt.IsZero():
				now = p.WakeAt
			default:
				now = now.Add(time.Duration(b) * time.Minute)
			}
		}
	})
}

func finish(status *v1.RegionWithdrawalStatus, a Action, now time.Time) {
	switch a.Kind {
	case ActionNotice:
		RecordNoticeFinished(status, a.NoticeID(), now)
	case ActionStart:
		RecordStepFinished(status, a.Step, v1.StepSucceeded, now)
	case ActionRevert:
		RecordStepFinished(status, a.Step, v1.StepReverted, now)
	}
}

func finishAll(status *v1.RegionWithdrawalStatus, now time.Time) {
	if status.Notify != nil {
		for _, n := range status.Notify.Notices {
			if n.StartedAt != nil && n.FinishedAt == nil {
				RecordNoticeFinished(status, n.ID, now)
			}
		}
	}
	for _, s := range status.Steps {
		switch {
		case s.State == v1.StepRunning && s.Name != v1.StepNotify:
			RecordStepFinished(status, s.Name, v1.StepSucceeded, now)
		case s.State == v1.StepReverting:
			RecordStepFinished(status, s.Name, v1.StepReverted, now)
		}
	}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
