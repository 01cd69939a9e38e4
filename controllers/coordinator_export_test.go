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
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/fleet"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

// TestAFleetMembersDrainWaitsForTheCoordinatorsExport runs a member against
// a second API server that stands for the coordinator's cluster: the
// member's drain, due, waits while the coordinator's export runs, and
// starts once the coordinator's status says it is verified. Without a
// coordinator to read, the member says so and does not wait.
func TestAFleetMembersDrainWaitsForTheCoordinatorsExport(t *testing.T) {
	core, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := core.Stop(); err != nil {
			t.Error(err)
		}
	}()

	h := newHarness(t, cutoff.Add(-800*time.Hour))
	h.realExecutors()
	h.r.FleetRole = v1.FleetMember
	coordinator := &fleet.Coordinator{Reader: core.Client, Name: "pk-core", Clock: h.clock}
	h.r.Coordinator = coordinator
	h.regionApp()
	real := func(s *v1.RegionWithdrawalSpec) { s.DryRun = false }
	member := h.pakistan(real)

	// The coordinator's copy, its export running.
	if err := core.Client.Create(h.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: h.ns}}); err != nil {
		t.Fatal(err)
	}
	theirs := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Name: member.Name, Namespace: h.ns}, Spec: *member.Spec.DeepCopy()}
	if err := core.Client.Create(h.ctx, theirs); err != nil {
		t.Fatal(err)
	}
	setExport := func(state v1.StepState) {
		t.Helper()
		theirs.Status.Steps = []v1.StepStatus{{Name: v1.StepExport, State: state, StartedAt: &metav1.Time{Time: exportStart},
			Export: &v1.ExportStatus{Verified: 3}}}
		if err := core.Client.Status().Update(h.ctx, theirs); err != nil {
			t.Fatal(err)
		}
	}
	setExport(v1.StepRunning)
	// read waits, bounded, for the member's background read of the
	// coordinator to come back with want.
	read := func(want v1.CoordinatorExportState) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if state, _, at := coordinator.Export(h.get()); at != nil && state == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the coordinator was not read as %s", want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	drain := func() v1.StepStatus {
		for _, s := range h.get().Status.Steps {
			if s.Name == v1.StepDrain {
				return s
			}
		}
		return v1.StepStatus{}
	}

	h.at(cutoff.Add(-800 * time.Hour))
	h.at(drainStart.Add(time.Minute)) // the drain is due; the first read starts
	read(v1.CoordinatorExportPending)
	h.at(drainStart.Add(2 * time.Minute))
	got := h.get()
	if s := drain(); s.StartedAt != nil || !strings.Contains(s.Message, "waiting for the coordinator's export to be verified: the coordinator's (pk-core) export of pakistan is Running") {
		t.Fatalf("the member's drain while the coordinator exports: started %v, %q", s.StartedAt, s.Message)
	}
	if ce := got.Status.Fleet.CoordinatorExport; ce == nil || ce.State != v1.CoordinatorExportPending || ce.ReadAt == nil {
		t.Fatalf("status.fleet.coordinatorExport %+v, want Pending, read", ce)
	}

	// Verified there: the member drains.
	setExport(v1.StepSucceeded)
	h.clock.Step(time.Minute)
	read(v1.CoordinatorExportVerified)
	h.at(drainStart.Add(4 * time.Minute))
	if s := drain(); s.StartedAt == nil {
		t.Fatalf("the member's drain did not start once the coordinator's export was verified: %q", s.Message)
	}
	if ce := h.get().Status.Fleet.CoordinatorExport; ce == nil || ce.State != v1.CoordinatorExportVerified || !strings.Contains(ce.Message, "verified (3 artifacts)") {
		t.Fatalf("status.fleet.coordinatorExport %+v, want Verified", ce)
	}

	// A member with no coordinator to read says so, and drains on time.
	alone := newHarness(t, cutoff.Add(-800*time.Hour))
	alone.realExecutors()
	alone.r.FleetRole = v1.FleetMember
	alone.regionApp()
	alone.pakistan(real)
	alone.at(cutoff.Add(-800 * time.Hour))
	alone.at(drainStart.Add(time.Minute))
	got = alone.get()
	if ce := got.Status.Fleet.CoordinatorExport; ce == nil || ce.State != v1.CoordinatorExportUnknown || !strings.Contains(ce.Message, "--fleet-coordinator-kubeconfig is not set") {
		t.Fatalf("status.fleet.coordinatorExport without a coordinator: %+v", ce)
	}
	for _, s := range got.Status.Steps {
		if s.Name == v1.StepDrain && s.StartedAt == nil {
			t.Fatalf("without a coordinator to read, the member's drain waited: %q", s.Message)
		}
	}
}
