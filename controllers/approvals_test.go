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

	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// TestAChangedSpecVoidsItsApprovals: the drain is approved; then its
// author widens the selector before it is due. The approval no longer
// holds: the drain waits, its state and an Event say why, and a new
// approval lets it run. Asking for one more approval does not void the
// others.
func TestAChangedSpecVoidsItsApprovals(t *testing.T) {
	h := newHarness(t, drainStart.Add(-2*time.Hour))
	h.regionApp()
	h.pakistan(func(s *v1.RegionWithdrawalSpec) {
		s.Notify, s.Export = nil, nil
		s.Drain.RequireApproval = true
	})
	h.update(func(s *v1.RegionWithdrawalSpec) { planner.Approve(s, "alice", v1.StepDrain) })
	h.at(drainStart.Add(-2 * time.Hour))
	approved := h.get()
	if approved.Status.SpecDigest == "" || approved.Status.SpecDigest != approved.Spec.Approvals[0].SpecDigest {
		t.Fatalf("status.specDigest %q, approval %+v: want the digest the approval names", approved.Status.SpecDigest, approved.Spec.Approvals)
	}

	// Asking for the routing's approval too leaves the drain's standing.
	h.update(func(s *v1.RegionWithdrawalSpec) { s.Routing.RequireApproval = true })
	h.at(drainStart.Add(-90 * time.Minute))
	if evs := h.events(); hasEvent(evs, v1.ReasonApprovalVoided) {
		t.Fatalf("raising requireApproval voided an approval: %v", evs)
	}

	h.update(func(s *v1.RegionWithdrawalSpec) { s.Selector.MatchLabels["tier"] = "everything" })
	h.at(drainStart.Add(-time.Hour))
	if evs := h.events(); !hasEvent(evs, "Warning "+v1.ReasonApprovalVoided, "drain (approved by alice)") {
		t.Fatalf("events %v, want ApprovalVoided naming the drain's approval", evs)
	}
	h.at(drainStart)
	rw := h.get()
	if s := step(rw, v1.StepDrain); s.State != v1.StepWaitingForApproval || s.StartedAt != nil ||
		!strings.Contains(s.Message, "approved by alice") || !strings.Contains(s.Message, "has changed") {
		t.Fatalf("drain = %+v, want WaitingForApproval saying the approval was voided", s)
	}
	if rw.Status.Phase != v1.PhaseWaitingForApproval {
		t.Fatalf("phase %s, want WaitingForApproval", rw.Status.Phase)
	}

	h.update(func(s *v1.RegionWithdrawalSpec) { planner.Approve(s, "bob", v1.StepDrain) })
	h.at(drainStart.Add(time.Minute))
	if s := step(h.get(), v1.StepDrain); s.StartedAt == nil {
		t.Fatalf("drain after approving the new spec = %+v, want started", s)
	}
}

// TestAnExportInFlightPausesWhenItsApprovalIsVoided: the export was
// approved and started for real; then its Job template changed. The
// export reads its spec as it goes, so it stops there: the Job's result
// is not taken, until the new spec is approved. The ledger records both
// approvals, with their approvers.
func TestAnExportInFlightPausesWhenItsApprovalIsVoided(t *testing.T) {
	h := newHarness(t, exportStart)
	h.regionApp()
	h.realExecutors()
	h.pakistan(func(s *v1.RegionWithdrawalSpec) {
		s.Notify, s.DryRun = nil, false
		s.Export.RequireApproval = true
	})
	// An approval names the spec as stored, with the API server's defaults.
	h.update(func(s *v1.RegionWithdrawalSpec) { planner.Approve(s, "alice", v1.StepExport) })
	h.at(exportStart)
	var jobs batchv1.JobList
	if err := h.c.List(h.ctx, &jobs, client.InNamespace(h.ns)); err != nil || len(jobs.Items) != 1 {
		t.Fatalf("export Jobs: %d (%v), want 1", len(jobs.Items), err)
	}

	h.update(func(s *v1.RegionWithdrawalSpec) {
		s.Export.JobTemplate.Spec.Template.Spec.Containers[0].Args = []string{"--to", "elsewhere"}
	})
	h.completeExportJob(&jobs.Items[0], `{"version":1,"location":"s3://exports/pk/`+h.ns+`.tar.gz.age","bytes":1,"sha256":"`+strings.Repeat("ab", 32)+`","encrypted":true}`)
	h.at(exportStart.Add(time.Minute))
	if s := step(h.get(), v1.StepExport); s.State != v1.StepRunning || !strings.HasPrefix(s.Message, "paused: approved by alice") {
		t.Fatalf("export = %+v, want Running and paused on the voided approval", s)
	}

	h.update(func(s *v1.RegionWithdrawalSpec) { planner.Approve(s, "bob", v1.StepExport) })
	h.at(exportStart.Add(2 * time.Minute))
	rw := h.get()
	if s := step(rw, v1.StepExport); s.State != v1.StepSucceeded {
		t.Fatalf("export after the new approval = %+v, want Succeeded", s)
	}
	var users []string
	for _, d := range h.evidence(rw).Decisions() {
		if a, ok := d.Event.(*evidence.Approved); ok {
			users = append(users, a.User+"@"+a.SpecDigest)
		}
	}
	if len(users) != 2 || !strings.HasPrefix(users[0], "alice@sha256:") || !strings.HasPrefix(users[1], "bob@sha256:") || users[0][6:] == users[1][4:] {
		t.Fatalf("approvals in the ledger %v, want alice's and bob's, for two digests", users)
	}
}

// TestTheInstallationRequiresApprovals: with --require-approval=drain a
// drain whose spec asks no approval waits for one all the same.
func TestTheInstallationRequiresApprovals(t *testing.T) {
	h := newHarness(t, drainStart)
	h.r.RequiredApprovals = []v1.StepName{v1.StepDrain, v1.StepRouting}
	h.regionApp()
	h.pakistan(func(s *v1.RegionWithdrawalSpec) { s.Notify, s.Export = nil, nil })
	h.at(drainStart)
	if s := step(h.get(), v1.StepDrain); s.State != v1.StepWaitingForApproval || s.StartedAt != nil {
		t.Fatalf("drain = %+v, want WaitingForApproval by the installation's rule", s)
	}
	h.update(func(s *v1.RegionWithdrawalSpec) { planner.Approve(s, "alice", v1.StepDrain) })
	h.at(drainStart.Add(time.Minute))
	if s := step(h.get(), v1.StepDrain); s.StartedAt == nil {
		t.Fatalf("drain after approval = %+v, want started", s)
	}
}
