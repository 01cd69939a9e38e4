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
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// The tests run the real planner (it is pure too) on a two-step
// withdrawal: drain an hour before the cutoff, routing at the cutoff.

var (
	cutoff     = time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC)
	drainDue   = cutoff.Add(-time.Hour)
	beforeAll  = drainDue.Add(-time.Hour)
	afterDrain = drainDue.Add(time.Minute)
)

func spec(mutate ...func(*v1.RegionWithdrawalSpec)) *v1.RegionWithdrawalSpec {
	at := func(d time.Duration) v1.Moment { return v1.Moment{Offset: &metav1.Duration{Duration: d}} }
	zero := at(0)
	s := &v1.RegionWithdrawalSpec{
		Region: "PK", Cutoff: metav1.NewTime(cutoff), TimeZone: "Asia/Karachi",
		Selector: metav1.LabelSelector{MatchLabels: map[string]string{"region": "pk"}},
		Drain:    &v1.DrainStep{Start: at(-time.Hour)},
		Routing:  &v1.RoutingStep{At: &zero},
	}
	for _, m := range mutate {
		m(s)
	}
	return s
}

// summary runs the controller's sequence on st at now: Prepare, plan,
// Status. It returns the input too, for Events.
func summary(t *testing.T, sp *v1.RegionWithdrawalSpec, st *v1.RegionWithdrawalStatus, now time.Time) (*v1.RegionWithdrawalStatus, Input) {
	t.Helper()
	tl, err := planner.Compile(sp)
	if err != nil {
		t.Fatal(err)
	}
	work := st.DeepCopy()
	Prepare(work, sp, tl)
	plan := planner.Make(planner.Input{Timeline: tl, Spec: sp, Status: work, Now: now})
	if plan.Cancelling {
		planner.RecordCancelAccepted(work, tl, now)
		plan = planner.Make(planner.Input{Timeline: tl, Spec: sp, Status: work, Now: now})
	}
	in := Input{Spec: sp, Timeline: tl, Plan: plan}
	return Status(work, in), in
}

func started(t time.Time) *metav1.Time { m := metav1.NewTime(t); return &m }

func condition(st *v1.RegionWithdrawalStatus, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(st.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

func TestStatus(t *testing.T) {
	drainRunning := &v1.RegionWithdrawalStatus{Steps: []v1.StepStatus{{Name: v1.StepDrain, State: v1.StepRunning, StartedAt: started(drainDue)}}}
	allDone := &v1.RegionWithdrawalStatus{Steps: []v1.StepStatus{
		{Name: v1.StepDrain, State: v1.StepSucceeded, StartedAt: started(drainDue), FinishedAt: started(drainDue)},
		{Name: v1.StepRouting, State: v1.StepSucceeded, StartedAt: started(cutoff), FinishedAt: started(cutoff)},
	}}
	tests := []struct {
		name       string
		spec       *v1.RegionWithdrawalSpec
		status     *v1.RegionWithdrawalStatus
		now        time.Time
		wantPhase  v1.Phase
		wantReady  string // "True/Reason" or "False/Reason"
		wantNext   string
		wantDrain  v1.StepState
		wantInMsgs string
	}{
		{name: "nothing due yet", spec: spec(), status: &v1.RegionWithdrawalStatus{}, now: beforeAll,
			wantPhase: v1.PhaseScheduled, wantReady: "True/Scheduled", wantNext: "drain", wantDrain: v1.StepPending, wantInMsgs: "next: drain at 2026-12-29T23:00:00Z"},
		{name: "a step waits for its approval", spec: spec(func(s *v1.RegionWithdrawalSpec) { s.Drain.RequireApproval = true }), status: &v1.RegionWithdrawalStatus{}, now: afterDrain,
			wantPhase: v1.PhaseWaitingForApproval, wantReady: "True/WaitingForApproval", wantNext: "drain (WaitingForApproval)", wantDrain: v1.StepWaitingForApproval, wantInMsgs: "waiting for approval of: drain"},
		{name: "a step runs", spec: spec(), status: drainRunning, now: afterDrain,
			wantPhase: v1.PhaseInProgress, wantReady: "False/StepRunning", wantNext: "routing", wantDrain: v1.StepRunning, wantInMsgs: "a step is running"},
		{name: "suspended", spec: spec(func(s *v1.RegionWithdrawalSpec) { s.Suspend = true }), status: &v1.RegionWithdrawalStatus{}, now: afterDrain,
			wantPhase: v1.PhaseSuspended, wantReady: "True/Suspended", wantNext: "drain (Suspended)", wantDrain: v1.StepPending, wantInMsgs: "spec.suspend is true"},
		{name: "every step finished", spec: spec(), status: allDone, now: cutoff.Add(time.Minute),
			wantPhase: v1.PhaseCompleted, wantReady: "True/Completed", wantDrain: v1.StepSucceeded, wantInMsgs: "every step has finished"},
		{name: "a cancel before anything started", spec: spec(func(s *v1.RegionWithdrawalSpec) { s.Cancel = true }), status: &v1.RegionWithdrawalStatus{}, now: beforeAll,
			wantPhase: v1.PhaseCancelled, wantReady: "True/Cancelled", wantDrain: v1.StepCancelled, wantInMsgs: "status.irreversible lists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := summary(t, tt.spec, tt.status, tt.now)
			if got.Phase != tt.wantPhase {
				t.Errorf("phase %s, want %s", got.Phase, tt.wantPhase)
			}
			ready := condition(got, v1.ConditionReady)
			if s := fmt.Sprintf("%s/%s", ready.Status, ready.Reason); s != tt.wantReady || !strings.Contains(ready.Message, tt.wantInMsgs) {
				t.Errorf("Ready %s %q, want %s containing %q", s, ready.Message, tt.wantReady, tt.wantInMsgs)
			}
			if got.NextAction != tt.wantNext {
				t.Errorf("nextAction %q, want %q", got.NextAction, tt.wantNext)
			}
			if s := planner.LookupStep(got, v1.StepDrain); s.State != tt.wantDrain {
				t.Errorf("drain %s, want %s", s.State, tt.wantDrain)
			}
			for _, typ := range []string{v1.ConditionReady, v1.ConditionReconciling, v1.ConditionStalled, v1.ConditionDeadlineAtRisk} {
				if c := condition(got, typ); c.Type == "" {
					t.Errorf("no %s condition", typ)
				}
			}
		})
	}
}

func TestStatusDoesNotChangeItsInput(t *testing.T) {
	st := &v1.RegionWithdrawalStatus{}
	tl, _ := planner.Compile(spec())
	Prepare(st, spec(), tl)
	before := st.DeepCopy()
	_ = Status(st, Input{Spec: spec(), Timeline: tl, Plan: planner.Make(planner.Input{Timeline: tl, Spec: spec(), Status: st, Now: afterDrain})})
	if fmt.Sprint(before) != fmt.Sprint(st) {
		t.Fatalf("Status changed its input:\n%v\n%v", before, st)
	}
}

func TestConditionsKeepTheLastObservedGenerationUntilStamped(t *testing.T) {
	st := &v1.RegionWithdrawalStatus{ObservedGeneration: 3}
	got, _ := summary(t, spec(), st, beforeAll)
	for _, c := range got.Conditions {
		if c.ObservedGeneration != 3 {
			t.Fatalf("%s carries generation %d before the reconcile succeeded, want 3", c.Type, c.ObservedGeneration)
		}
	}
	Observed(got, 4)
	for _, c := range got.Conditions {
		if c.ObservedGeneration != 4 || got.ObservedGeneration != 4 {
			t.Fatalf("%s carries generation %d after Observed(4)", c.Type, c.ObservedGeneration)
		}
	}
}

func TestStalled(t *testing.T) {
	t.Run("a spec an executor cannot use, then fixed", func(t *testing.T) {
		sp := spec()
		tl, _ := planner.Compile(sp)
		st := &v1.RegionWithdrawalStatus{}
		Prepare(st, sp, tl)
		in := Input{Spec: sp, Timeline: tl, Plan: planner.Make(planner.Input{Timeline: tl, Spec: sp, Status: st, Now: beforeAll}),
			SpecErr: fmt.Errorf("drain: %w", &planner.SpecError{Field: "spec.drain", Err: errors.New("bad")})}
		got := Status(st, in)
		if c := condition(got, v1.ConditionStalled); c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonInvalidSpec || !strings.Contains(c.Message, "spec.drain") {
			t.Fatalf("Stalled %+v", c)
		}
		if c := condition(got, v1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != v1.ReasonInvalidSpec {
			t.Fatalf("Ready %+v, want False repeating Stalled", c)
		}
		in.SpecErr = nil
		if c := condition(Status(got, in), v1.ConditionStalled); c.Status != metav1.ConditionFalse {
			t.Fatalf("Stalled %+v after the fix, want False", c)
		}
	})
	t.Run("a permission the ServiceAccount lacks, then granted", func(t *testing.T) {
		sp := spec()
		tl, _ := planner.Compile(sp)
		st := &v1.RegionWithdrawalStatus{}
		Prepare(st, sp, tl)
		in := Input{Spec: sp, Timeline: tl, Plan: planner.Make(planner.Input{Timeline: tl, Spec: sp, Status: st, Now: beforeAll}),
			Denied: errors.New(`deployments.apps is forbidden: User "system:serviceaccount:shop:rw" cannot list resource "deployments"`)}
		got := Status(st, in)
		if c := condition(got, v1.ConditionStalled); c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonPermissionDenied || !strings.Contains(c.Message, "cannot list") {
			t.Fatalf("Stalled %+v, want PermissionDenied quoting the denial", c)
		}
		evs := Events(st, got, in)
		if !slices.ContainsFunc(evs, func(e Event) bool {
			return e.Warning && e.Reason == v1.ReasonPermissionDenied && e.Action == "Authorize"
		}) {
			t.Errorf("Events %+v, want a PermissionDenied warning", evs)
		}
		in.Denied = nil
		if c := condition(Status(got, in), v1.ConditionStalled); c.Status != metav1.ConditionFalse {
			t.Fatalf("Stalled %+v once granted, want False", c)
		}
	})
	t.Run("a spec that does not compile", func(t *testing.T) {
		got := Invalid(&v1.RegionWithdrawalStatus{NextAction: "drain"}, "spec.timeZone: unknown")
		if got.Phase != v1.PhaseStalled || got.NextAction != "" || condition(got, v1.ConditionStalled).Status != metav1.ConditionTrue ||
			condition(got, v1.ConditionReconciling).Status != metav1.ConditionFalse {
			t.Fatalf("Invalid = %+v", got)
		}
	})
	t.Run("a cancel after the cutoff", func(t *testing.T) {
		got, _ := summary(t, spec(func(s *v1.RegionWithdrawalSpec) { s.Cancel = true }), &v1.RegionWithdrawalStatus{}, cutoff.Add(time.Hour))
		if c := condition(got, v1.ConditionStalled); c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonCancelRefused {
			t.Fatalf("Stalled %+v, want CancelRefused", c)
		}
	})
}

// TestLongMessagesAreCut: an executor's message or error quotes receivers
// and the API server; status keeps at most MaxStepMessage bytes of each,
// cut on a character boundary.
func TestLongMessagesAreCut(t *testing.T) {
	st := &v1.RegionWithdrawalStatus{}
	drain := planner.StartAction(v1.StepDrain, drainDue)
	planner.RecordStarted(st, drain, drainDue, false)
	long := strings.Repeat("déjà ", 300000) // 1.8 MB, two-byte characters
	RecordError(st, drain, errors.New(long))
	Record(st, planner.RevertAction(v1.StepDrain, afterDrain), executor.Result{Done: true, Message: long, Irreversible: []string{long}}, afterDrain)
	RecordError(st, drain, errors.New(long))
	s := planner.LookupStep(st, v1.StepDrain)
	for what, got := range map[string]string{"message": s.Message, "lastError": s.LastError, "irreversible": st.Irreversible[0]} {
		if len(got) > MaxStepMessage || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
			t.Errorf("%s: %d bytes, valid UTF-8 %v; want at most %d, cut visibly", what, len(got), utf8.ValidString(got), MaxStepMessage)
		}
	}
}

func TestRecord(t *testing.T) {
	st := &v1.RegionWithdrawalStatus{}
	drain := planner.StartAction(v1.StepDrain, drainDue)
	planner.RecordStarted(st, drain, drainDue, false)

	// A detail of another step's kind is not the drain's to write.
	Record(st, drain, executor.Result{Message: "draining", Detail: executor.Detail{Routing: &v1.RoutingStatus{Routes: 9}, Drain: &v1.DrainStatus{Workloads: 3}}}, afterDrain)
	s := planner.LookupStep(st, v1.StepDrain)
	if s.Routing != nil || s.Drain == nil || s.Drain.Workloads != 3 || s.State != v1.StepRunning || s.Message != "draining" {
		t.Fatalf("drain after a progress result: %+v", s)
	}
	Record(st, drain, executor.Result{Done: true, Failed: true, Message: "timed out"}, afterDrain)
	if s := planner.LookupStep(st, v1.StepDrain); s.State != v1.StepFailed || s.FinishedAt == nil || s.Drain.Workloads != 3 {
		t.Fatalf("drain after a failed result: %+v", s)
	}

	notice := planner.NoticeAction(v1.NoticeAnnouncement, planner.NoticeIDAnnouncement, beforeAll)
	planner.RecordStarted(st, notice, beforeAll, false)
	Record(st, notice, executor.Result{Detail: executor.Detail{Notice: &executor.NoticeCounts{Recipients: 10, Sent: 6, Failed: 1}}}, beforeAll)
	if n := planner.Notice(st, planner.NoticeIDAnnouncement); n.Sent != 6 || n.Failed != 1 || n.Pending != 3 || n.FinishedAt != nil {
		t.Fatalf("notice %+v, want 6 sent, 1 failed, 3 pending", n)
	}

	revert := planner.RevertAction(v1.StepDrain, cutoff)
	planner.RecordStarted(st, revert, cutoff, false)
	for range 2 {
		Record(st, revert, executor.Result{Done: true, Irreversible: []string{"drain: 1 workload"}}, cutoff)
	}
	if len(st.Irreversible) != 1 || planner.LookupStep(st, v1.StepDrain).State != v1.StepReverted {
		t.Fatalf("after a revert recorded twice: irreversible %v, drain %s", st.Irreversible, planner.LookupStep(st, v1.StepDrain).State)
	}
}

func TestEvents(t *testing.T) {
	late := &metav1.Duration{Duration: 2 * time.Hour}
	tests := []struct {
		name string
		spec *v1.RegionWithdrawalSpec
		// old is the status the reconcile read; act changes a copy as the
		// reconcile's actions would.
		old     *v1.RegionWithdrawalStatus
		act     func(st *v1.RegionWithdrawalStatus)
		now     time.Time
		results map[string]Result
		want    []string // "Type Reason: note substring", in order
	}{
		{name: "a reconcile that changes nothing says nothing", spec: spec(),
			old: func() *v1.RegionWithdrawalStatus {
				s, _ := summary(t, spec(), &v1.RegionWithdrawalStatus{Phase: v1.PhaseScheduled}, beforeAll)
				return s
			}(),
			now: beforeAll},
		{name: "scheduled", spec: spec(), old: &v1.RegionWithdrawalStatus{}, now: beforeAll,
			want: []string{"Normal Scheduled: scheduled: drain at 2026-12-29T23:00:00Z"}},
		{name: "a step starts and finishes on time", spec: spec(), old: &v1.RegionWithdrawalStatus{Phase: v1.PhaseScheduled}, now: afterDrain,
			act: func(st *v1.RegionWithdrawalStatus) {
				a := planner.StartAction(v1.StepDrain, drainDue)
				planner.RecordStarted(st, a, afterDrain, false)
				Record(st, a, executor.Result{Done: true, Message: "recorded message"}, afterDrain)
			},
			results: map[string]Result{"drain": {Message: "3/3 workloads scaled to zero"}},
			// One Event: at the cutoff every request counts.
			want: []string{"Normal StepSucceeded: drain started and finished: 3/3 workloads scaled to zero"}},
		{name: "a step that starts late and finishes says it was late", spec: spec(), old: &v1.RegionWithdrawalStatus{Phase: v1.PhaseScheduled}, now: afterDrain,
			act: func(st *v1.RegionWithdrawalStatus) {
				a := planner.StartAction(v1.StepDrain, drainDue)
				a.Lateness = late.Duration
				planner.RecordStarted(st, a, afterDrain, false)
				Record(st, a, executor.Result{Done: true, Message: "recorded message"}, afterDrain)
			},
			results: map[string]Result{"drain": {Message: "3/3 workloads scaled to zero"}},
			want:    []string{"Warning StepLate: drain started 2h0m0s after it was due", "Normal StepSucceeded: drain finished: 3/3 workloads scaled to zero"}},
		{name: "a step that starts in one reconcile and finishes in another gets both Events", spec: spec(), old: &v1.RegionWithdrawalStatus{Phase: v1.PhaseScheduled}, now: afterDrain,
			act: func(st *v1.RegionWithdrawalStatus) {
				planner.RecordStarted(st, planner.StartAction(v1.StepDrain, drainDue), afterDrain, false)
			},
			want: []string{"Normal StepStarted: drain started"}},
		{name: "a rehearsal on time says only what it planned", spec: spec(func(s *v1.RegionWithdrawalSpec) { s.DryRun = true }), old: &v1.RegionWithdrawalStatus{Phase: v1.PhaseScheduled}, now: afterDrain,
			act: func(st *v1.RegionWithdrawalStatus) {
				a := planner.StartAction(v1.StepDrain, drainDue)
				planner.RecordStarted(st, a, afterDrain, true)
				Record(st, a, executor.Result{Done: true, Message: "would scale 3"}, afterDrain)
			},
			want: []string{"Normal DryRunPlanned: drain: would scale 3"}},
		{name: "a late rehearsal says it was late", spec: spec(func(s *v1.RegionWithdrawalSpec) { s.DryRun = true }), old: &v1.RegionWithdrawalStatus{Phase: v1.PhaseScheduled}, now: afterDrain,
			act: func(st *v1.RegionWithdrawalStatus) {
				a := planner.StartAction(v1.StepDrain, drainDue)
				a.Lateness = late.Duration
				planner.RecordStarted(st, a, afterDrain, true)
			},
			want: []string{"Warning StepLate: drain (dry run) started 2h0m0s after it was due"}},
		{name: "a folded reminder and a finished notice", spec: spec(), old: &v1.RegionWithdrawalStatus{Phase: v1.PhaseInProgress}, now: beforeAll,
			act: func(st *v1.RegionWithdrawalStatus) {
				a := planner.NoticeAction(v1.NoticeReminder, planner.ReminderID(beforeAll), beforeAll)
				a.Lateness, a.MissedSlots = late.Duration, 2
				planner.RecordStarted(st, a, beforeAll, false)
				Record(st, a, executor.Result{Done: true, Detail: executor.Detail{Notice: &executor.NoticeCounts{Recipients: 5, Sent: 4, Failed: 1}}}, beforeAll)
			},
			want: []string{"Warning RemindersFolded: 2 earlier reminder slots", "Warning StepSucceeded: finished: 4 sent, 1 failed of 5 recipients"}},
		{name: "a step that cannot start is reported once", spec: spec(), now: afterDrain,
			old: &v1.RegionWithdrawalStatus{Phase: v1.PhaseScheduled, Steps: []v1.StepStatus{{Name: v1.StepDrain, State: v1.StepBlocked, Message: "no executor"}}},
			act: func(st *v1.RegionWithdrawalStatus) { Block(st, v1.StepDrain, "no executor") }},
		{name: "a step that cannot start", spec: spec(), old: &v1.RegionWithdrawalStatus{Phase: v1.PhaseScheduled}, now: afterDrain,
			act:  func(st *v1.RegionWithdrawalStatus) { Block(st, v1.StepDrain, "no executor") },
			want: []string{"Warning StepBlocked: drain: no executor"}},
		{name: "waiting for approval", spec: spec(func(s *v1.RegionWithdrawalSpec) { s.Drain.RequireApproval = true }), old: &v1.RegionWithdrawalStatus{Phase: v1.PhaseScheduled}, now: afterDrain,
			want: []string{"Warning WaitingForApproval: drain is due and waits for approval", "Warning DeadlineAtRisk"}},
		{name: "dry run turned off", spec: spec(), now: beforeAll,
			old:  &v1.RegionWithdrawalStatus{Phase: v1.PhaseScheduled, Steps: []v1.StepStatus{{Name: v1.StepDrain, State: v1.StepSucceeded, DryRun: true, StartedAt: started(beforeAll)}}},
			want: []string{"Normal DryRunReset: dryRun is off: 1 rehearsed steps will run for real"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl, err := planner.Compile(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			work := tt.old.DeepCopy()
			Prepare(work, tt.spec, tl)
			if tt.act != nil {
				tt.act(work)
			}
			in := Input{Spec: tt.spec, Timeline: tl, Plan: planner.Make(planner.Input{Timeline: tl, Spec: tt.spec, Status: work, Now: tt.now}), Results: tt.results}
			var got []string
			for _, e := range Events(tt.old, Status(work, in), in) {
				typ := "Normal"
				if e.Warning {
					typ = "Warning"
				}
				got = append(got, fmt.Sprintf("%s %s: %s", typ, e.Reason, e.Note))
			}
			if !matches(got, tt.want) {
				t.Fatalf("events:\n  %s\nwant, in order:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

// matches reports whether got holds an event for each of want, in order,
// and nothing else. A want is "Type Reason" optionally followed by ": " and
// a substring of the note.
func matches(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i, w := range want {
		head, note, _ := strings.Cut(w, ": ")
		if !strings.HasPrefix(got[i], head) || !strings.Contains(got[i], note) {
			return false
		}
	}
	return true
}
