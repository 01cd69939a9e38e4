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
	"strings"
	"testing"
	"time"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// preparingStep is a step executor that can be prepared: it becomes ready
// on the second Prepare, and counts every call.
type preparingStep struct {
	prepared, unprepared, started int
}

func (p *preparingStep) PrepareLead() time.Duration { return 10 * time.Minute }

func (p *preparingStep) Prepare(context.Context, *v1.RegionWithdrawal) (bool, string, error) {
	p.prepared++
	if p.prepared < 2 {
		return false, "backend deployed, not Ready yet", nil
	}
	return true, "backend ready", nil
}

func (p *preparingStep) Unprepare(context.Context, *v1.RegionWithdrawal) error {
	p.unprepared++
	return nil
}

func (p *preparingStep) Execute(_ context.Context, _ *v1.RegionWithdrawal, a planner.Action) (executor.Result, error) {
	p.started++
	return executor.Result{Done: true, Message: "switched"}, nil
}

// TestStepsArePreparedAhead: the controller wakes at the step's lead,
// prepares it until it is ready, once more just before the due time, and
// not in a rehearsal, before its approval or after a cancel (which undoes
// the preparation instead).
func TestStepsArePreparedAhead(t *testing.T) {
	lead := cutoff.Add(-10 * time.Minute)
	warm := cutoff.Add(-prepareWarmup)
	for _, tc := range []struct {
		name         string
		mutate       func(*v1.RegionWithdrawalSpec)
		approve      bool
		wantPrepared bool
	}{
		{name: "for real", wantPrepared: true},
		{name: "a rehearsal", mutate: func(s *v1.RegionWithdrawalSpec) { s.DryRun = true }},
		{name: "waiting for its approval", mutate: func(s *v1.RegionWithdrawalSpec) { s.Routing.RequireApproval = true }},
		{name: "approved", mutate: func(s *v1.RegionWithdrawalSpec) { s.Routing.RequireApproval = true }, approve: true, wantPrepared: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, lead.Add(-time.Hour))
			prep := &preparingStep{}
			h.r.Executors = executor.Set{v1.StepRouting: prep}
			h.pakistan(func(s *v1.RegionWithdrawalSpec) {
				s.DryRun, s.Notify, s.Export, s.Drain = false, nil, nil, nil
				if tc.mutate != nil {
					tc.mutate(s)
				}
			})
			if tc.approve {
				// The approval names the spec as stored, with its defaults.
				h.update(func(s *v1.RegionWithdrawalSpec) { planner.Approve(s, "alice", v1.StepRouting) })
			}
			res := h.at(lead.Add(-time.Hour))
			if !tc.wantPrepared {
				h.at(lead)
				h.at(warm)
				if prep.prepared != 0 {
					t.Fatalf("prepared %d times, want none", prep.prepared)
				}
				return
			}
			if want := time.Hour + requeueSkew; res.RequeueAfter != want {
				t.Fatalf("an hour before the lead, requeue after %s, want %s", res.RequeueAfter, want)
			}
			res = h.at(lead)
			if want := warm.Sub(lead) + requeueSkew; prep.prepared != 1 || res.RequeueAfter != want {
				t.Fatalf("at the lead: prepared %d times, requeue after %s; want once, then the warm-up in %s (the executor's watch wakes it sooner)", prep.prepared, res.RequeueAfter, want)
			}
			if msg := step(h.get(), v1.StepRouting).Message; !strings.Contains(msg, "not Ready yet") {
				t.Fatalf("step message %q does not say it is preparing", msg)
			}
			// Woken by the watch: what it waited for changed.
			res = h.at(lead.Add(time.Minute))
			if want := warm.Sub(lead.Add(time.Minute)) + requeueSkew; prep.prepared != 2 || res.RequeueAfter != want {
				t.Fatalf("ready: prepared %d times, requeue after %s; want twice, then at the warm-up in %s", prep.prepared, res.RequeueAfter, want)
			}
			if msg := step(h.get(), v1.StepRouting).Message; !strings.HasSuffix(msg, "; backend ready") {
				t.Fatalf("step message %q does not say it is ready", msg)
			}
			h.at(warm.Add(requeueSkew))
			if prep.prepared != 3 || prep.started != 0 {
				t.Fatalf("at the warm-up: prepared %d, started %d; want 3, 0", prep.prepared, prep.started)
			}
			h.at(cutoff)
			if prep.prepared != 3 || prep.started != 1 {
				t.Fatalf("at the cutoff: prepared %d, started %d; want 3 and 1", prep.prepared, prep.started)
			}
		})
	}
}

// TestCancelUndoesThePreparation: cancelled between its preparation and
// its due time, the step's preparation is undone and it never starts.
func TestCancelUndoesThePreparation(t *testing.T) {
	lead := cutoff.Add(-10 * time.Minute)
	h := newHarness(t, lead)
	prep := &preparingStep{}
	h.r.Executors = executor.Set{v1.StepRouting: prep}
	h.pakistan(func(s *v1.RegionWithdrawalSpec) { s.DryRun, s.Notify, s.Export, s.Drain = false, nil, nil, nil })
	h.at(lead)
	h.update(func(s *v1.RegionWithdrawalSpec) { s.Cancel = true })
	h.at(lead.Add(time.Minute))
	h.at(cutoff)
	if prep.unprepared == 0 || prep.started != 0 || prep.prepared != 1 {
		t.Fatalf("prepared %d, unprepared %d, started %d; want 1, at least 1, 0", prep.prepared, prep.unprepared, prep.started)
	}
}
