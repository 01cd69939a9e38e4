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
	"slices"
	"testing"
	"time"

	"k8s.io/utils/clock"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/clockoffset"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// measured is a clock-offset monitor that has measured m.
type measured clockoffset.Measurement

func (m measured) Latest() *clockoffset.Measurement { c := clockoffset.Measurement(m); return &c }

// TestAFleetMemberLeavesNotifyAndExportToTheCoordinator applies the same
// withdrawal (notify, export, drain, routing) to clusters in each role, as
// an engine would, with the role from the spec or from the installation.
// A member plans and rehearses only the drain and the routing switch,
// needs none of the notify Secrets (pk-webhook does not exist here), and
// keeps its spec as applied; a coordinator runs every step.
func TestAFleetMemberLeavesNotifyAndExportToTheCoordinator(t *testing.T) {
	cases := []struct {
		name         string
		installation v1.FleetRole
		spec         v1.FleetRole
		wantRole     v1.FleetRole
		wantSteps    []v1.StepName
	}{
		{name: "member by its spec", spec: v1.FleetMember, wantRole: v1.FleetMember, wantSteps: []v1.StepName{v1.StepDrain, v1.StepRouting}},
		{name: "member by the installation", installation: v1.FleetMember, wantRole: v1.FleetMember, wantSteps: []v1.StepName{v1.StepDrain, v1.StepRouting}},
		{name: "the spec's coordinator on a member installation", installation: v1.FleetMember, spec: v1.FleetCoordinator, wantRole: v1.FleetCoordinator,
			wantSteps: []v1.StepName{v1.StepNotify, v1.StepExport, v1.StepDrain, v1.StepRouting}},
		{name: "no fleet", wantSteps: []v1.StepName{v1.StepNotify, v1.StepExport, v1.StepDrain, v1.StepRouting}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, cutoff.Add(-800*time.Hour))
			h.r.FleetRole = tc.installation
			h.r.ClockOffsets = measured{Offset: -7 * time.Millisecond, Within: 4 * time.Millisecond, At: cutoff.Add(-800 * time.Hour)}
			h.regionApp()
			h.pakistan(func(s *v1.RegionWithdrawalSpec) {
				if tc.spec != "" {
					s.Fleet = &v1.FleetSpec{Role: tc.spec}
				}
			})
			for _, at := range []time.Time{cutoff.Add(-800 * time.Hour), cutoff.Add(-719 * time.Hour), cutoff.Add(-167 * time.Hour), cutoff.Add(-47 * time.Hour), cutoff.Add(time.Minute)} {
				h.at(at)
			}
			rw := h.get()
			var steps []v1.StepName
			for _, s := range rw.Status.Steps {
				steps = append(steps, s.Name)
			}
			if !slices.Equal(steps, tc.wantSteps) {
				t.Errorf("steps %v, want %v", steps, tc.wantSteps)
			}
			switch {
			case tc.wantRole == "" && rw.Status.Fleet != nil:
				t.Errorf("status.fleet %+v on a cluster with no fleet", rw.Status.Fleet)
			case tc.wantRole != "" && (rw.Status.Fleet == nil || rw.Status.Fleet.Role != tc.wantRole):
				t.Errorf("status.fleet %+v, want role %s", rw.Status.Fleet, tc.wantRole)
			case tc.wantRole != "" && (rw.Status.Fleet.ClockOffset == nil || rw.Status.Fleet.ClockOffset.Duration != -7*time.Millisecond):
				t.Errorf("status.fleet %+v does not report the clock offset measured", rw.Status.Fleet)
			}
			member := tc.wantRole == v1.FleetMember
			for id, n := range h.calls.n {
				if member && (id == "export" || len(id) > 7 && id[:7] == "notify/") && n.Load() > 0 {
					t.Errorf("a member ran %s", id)
				}
			}
			if h.calls.n["routing"] == nil || h.calls.n["drain"] == nil {
				t.Errorf("the drain or the routing switch was not rehearsed: %v", keysOf(h.calls.n))
			}
			if !member && h.calls.n["notify/announcement"] == nil {
				t.Errorf("a coordinator did not rehearse the announcement: %v", keysOf(h.calls.n))
			}
			if got, want := rw.Status.SpecDigest, planner.SpecDigest(&rw.Spec); got != want {
				t.Errorf("status.specDigest %s, want the applied spec's %s: an approval of what kubectl shows would not hold", got, want)
			}
			if rw.Spec.Notify == nil || rw.Spec.Export == nil {
				t.Errorf("the applied spec lost its notify or export: the controller wrote the spec it acts on")
			}
			if c := condition(rw, v1.ConditionStalled); c.Status == "True" {
				t.Errorf("Stalled: %s", c.Message)
			}
		})
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestTheAPIServersClockIsMeasured measures the real API server's clock,
// which runs on this machine's: the offset found is nought within the
// bound the measurement gives, and the bound is tight enough to matter.
func TestTheAPIServersClockIsMeasured(t *testing.T) {
	p, err := clockoffset.ForAPIServer(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	m, err := clockoffset.Measure(context.Background(), p, clock.RealClock{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Offset > m.Within+time.Millisecond || m.Offset < -m.Within-time.Millisecond || m.Within > 200*time.Millisecond {
		t.Errorf("measured %v against an API server on this machine's clock", m)
	}
	t.Logf("the API server's clock: %v", m)
}
