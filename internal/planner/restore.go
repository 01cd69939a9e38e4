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
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// A cutoff moved later than a drain that had started: the region's
// customers keep their service until the new date. The drain is undone
// (the drain executor's revert: every workload back to its recorded
// replica count, every autoscaler back) and its step goes back to
// Pending, so it drains again at the new time, from a fresh snapshot of
// the replica counts. The change records the restore as it goes
// (Restore, Restoring, Restored), so that a process that dies mid-way
// carries it on, and a drain that runs again is not restored again.

// restoreDrainID is the ID of the action that restores a drain for a
// postponed cutoff. It is a revert of the drain: the executor does the
// same; the records differ.
const restoreDrainID = "restore/drain"

// RestoreDrainAction is the action that restores a drain for a postponed
// cutoff.
func RestoreDrainAction(due time.Time) Action {
	return Action{ID: restoreDrainID, Kind: ActionRevert, Step: v1.StepDrain, DueAt: due}
}

// drainEffect says what change c does to the drain s that had started,
// and marks c when it restores it.
func drainEffect(status *v1.RegionWithdrawalStatus, spec *v1.RegionWithdrawalSpec, tl *Timeline, s *v1.StepStatus, c *v1.CutoffChange, now time.Time) string {
	started := s.StartedAt.UTC().Format(time.RFC3339)
	later := tl != nil && tl.Drain != nil && tl.Drain.Start.After(now)
	switch {
	case s.State == v1.StepReverted:
		return fmt.Sprintf("the drain started at %s was reverted", started)
	case !later || spec.Cancel || switched(status):
		return fmt.Sprintf("the drain started at %s stays as it is: only spec.cancel restores the workloads", started)
	case spec.Drain != nil && spec.Drain.OnPostpone == v1.DrainOnPostponeKeep:
		return fmt.Sprintf("the drain started at %s stays (spec.drain.onPostpone: Keep), though the new timeline drains from %s: only spec.cancel restores the workloads",
			started, tl.Drain.Start.UTC().Format(time.RFC3339))
	}
	c.Drain = v1.DrainRestorePending
	return fmt.Sprintf("the drain started at %s is undone: its workloads go back to their recorded replica counts, and are drained again from %s",
		started, tl.Drain.Start.UTC().Format(time.RFC3339))
}

// drainRestoreDue is the restore a change asks for that has not begun,
// if the drain is still to restore.
func drainRestoreDue(status *v1.RegionWithdrawalStatus) bool {
	h := status.Cutoff
	if h == nil || len(h.Changes) == 0 || h.Changes[len(h.Changes)-1].Drain != v1.DrainRestorePending {
		return false
	}
	s := LookupStep(status, v1.StepDrain)
	return s.StartedAt != nil && !s.DryRun && s.State != v1.StepReverting && s.State != v1.StepReverted
}

// RestoringDrain says whether the drain step's revert is a restore for a
// postponed cutoff, not a cancel's.
func RestoringDrain(status *v1.RegionWithdrawalStatus) bool {
	if h := status.Cutoff; h != nil {
		for _, c := range h.Changes {
			if c.Drain == v1.DrainRestoreRunning {
				return true
			}
		}
	}
	return false
}

// recordDrainRestoreStarted marks the latest change's restore as begun.
func recordDrainRestoreStarted(status *v1.RegionWithdrawalStatus) {
	if h := status.Cutoff; h != nil && len(h.Changes) > 0 {
		if c := &h.Changes[len(h.Changes)-1]; c.Drain == v1.DrainRestorePending {
			c.Drain = v1.DrainRestoreRunning
		}
	}
}

// RecordDrainRestored records that the drain's workloads are restored:
// the change that asked says so, and the step is Pending again, to drain
// at its new time.
func RecordDrainRestored(status *v1.RegionWithdrawalStatus, message string, now time.Time) {
	h := status.Cutoff
	if h == nil {
		return
	}
	at := metav1.NewTime(now)
	for i := range h.Changes {
		// A change that came while the restore ran is served by it.
		if c := &h.Changes[i]; c.Drain == v1.DrainRestoreRunning || c.Drain == v1.DrainRestorePending {
			c.Drain, c.DrainRestoredAt = v1.DrainRestoreDone, &at
		}
	}
	h.DrainRestores++
	s := StepStatus(status, v1.StepDrain)
	// Its due time is the new timeline's, which the controller sets.
	*s = v1.StepStatus{Name: s.Name, State: v1.StepPending,
		Message: "undone for the postponed cutoff: " + message + "; drains again at its new start"}
}

// CutoffChangeOf is change seq in status's history, or nil.
func CutoffChangeOf(status *v1.RegionWithdrawalStatus, seq int32) *v1.CutoffChange {
	if h := status.Cutoff; h != nil {
		for i := range h.Changes {
			if h.Changes[i].Seq == seq {
				return &h.Changes[i]
			}
		}
	}
	return nil
}

// exportEffect says what change c does to the exports verified in s, and
// when spec.export.onPostpone asks for it and the new timeline exports
// later, sends them to be made again: the step is Pending once more, in a
// new export round, and keeps its artifacts, so customers keep their
// archives and links until the new ones are verified. Nothing is deleted
// or overwritten; the new round's Jobs and export IDs are its own.
func exportEffect(status *v1.RegionWithdrawalStatus, spec *v1.RegionWithdrawalSpec, tl *Timeline, s *v1.StepStatus, c *v1.CutoffChange, now time.Time) string {
	verified := s.FinishedAt.UTC().Format(time.RFC3339)
	later := tl != nil && tl.Export != nil && tl.Export.Start.After(now)
	switch {
	case !later || spec.Cancel || switched(status):
		return fmt.Sprintf("the exports verified at %s stay as they are", verified)
	case spec.Export == nil || spec.Export.OnPostpone != v1.ExportOnPostponeReexport:
		return fmt.Sprintf("the exports verified at %s stay as they are (spec.export.onPostpone: Keep), though the new timeline exports from %s",
			verified, tl.Export.Start.UTC().Format(time.RFC3339))
	}
	h := status.Cutoff
	h.ExportRound++
	c.ExportRound = h.ExportRound
	st := StepStatus(status, v1.StepExport)
	var kept *v1.ExportStatus
	if prev := st.Export; prev != nil {
		// What customers reach stays listed; the counts start again.
		kept = &v1.ExportStatus{Artifacts: prev.Artifacts, ArtifactConfigMaps: prev.ArtifactConfigMaps, Customers: prev.Customers}
	}
	msg := fmt.Sprintf("the exports verified at %s are made again from %s, as round %d (spec.export.onPostpone: Reexport); customers keep the archives they have until then",
		verified, tl.Export.Start.UTC().Format(time.RFC3339), h.ExportRound)
	// Its due time is the new timeline's, which the controller sets.
	*st = v1.StepStatus{Name: st.Name, State: v1.StepPending, Export: kept, Message: msg}
	return msg
}
