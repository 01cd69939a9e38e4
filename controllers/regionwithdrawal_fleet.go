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
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/clockoffset"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/text"
)

// ClockOffsets gives the latest measurement of the API server's clock
// against the operator's (clockoffset.Monitor).
type ClockOffsets interface {
	Latest() *clockoffset.Measurement
}

// CoordinatorExports tells a fleet member what is known of the
// coordinator's export of a withdrawal's copy, without waiting.
type CoordinatorExports interface {
	Export(rw *v1.RegionWithdrawal) (state v1.CoordinatorExportState, message string, readAt *time.Time)
}

// coordinatorRecheck is how soon a member held for the coordinator's
// export looks again.
const coordinatorRecheck = 10 * time.Second

// exportElsewhere holds a fleet member's drain until the coordinator's
// export is verified, as a coordinator's own drain waits for its export:
// the member's copy has no export step (actInRole set it aside; written
// has the spec as applied), so the gate is the coordinator's. It records
// what it knows in status.fleet.coordinatorExport and returns why the
// drain waits, or "". It reads nothing before the drain is due, and never
// waits for the coordinator's cluster.
func (r *RegionWithdrawalReconciler) exportElsewhere(rw, written *v1.RegionWithdrawal, tl *planner.Timeline, w *run) string {
	f := rw.Status.Fleet
	if f == nil || f.Role != v1.FleetMember || written.Spec.Export == nil || rw.Spec.Drain == nil || rw.Spec.DryRun {
		if f != nil {
			f.CoordinatorExport = nil
		}
		return ""
	}
	for _, s := range rw.Status.Steps {
		if s.Name == v1.StepDrain && s.StartedAt != nil {
			return "" // the gate was passed
		}
	}
	if r.Coordinator == nil {
		f.CoordinatorExport = &v1.CoordinatorExportStatus{State: v1.CoordinatorExportUnknown,
			Message: "no coordinator to read (the installation's --fleet-coordinator-kubeconfig is not set): this member's drain does not wait for the coordinator's export"}
		return ""
	}
	due, ok := tl.StepDue(v1.StepDrain)
	if !ok || r.Clock.Now().Before(due) {
		return ""
	}
	state, msg, at := r.Coordinator.Export(rw)
	st := &v1.CoordinatorExportStatus{State: state, Message: text.Truncate(msg, 1024)}
	if at != nil {
		st.ReadAt = &metav1.Time{Time: at.Truncate(time.Second)}
	}
	f.CoordinatorExport = st
	if state == v1.CoordinatorExportVerified {
		return ""
	}
	if at == nil {
		w.wake(time.Second) // the first read is on its way
	} else {
		w.wake(coordinatorRecheck)
	}
	return "waiting for the coordinator's export to be verified: " + msg
}

// FleetRoleOf is the role rw acts in on this cluster: its own
// spec.fleet.role, else the installation's (empty: Coordinator).
func FleetRoleOf(rw *v1.RegionWithdrawal, installation v1.FleetRole) v1.FleetRole {
	if f := rw.Spec.Fleet; f != nil && f.Role != "" {
		return f.Role
	}
	if installation == "" {
		return v1.FleetCoordinator
	}
	return installation
}

// actInRole makes rw, in memory, what this cluster carries out. A member
// leaves notify and export to the coordinator: customers are global and
// hear once, from one copy, and their data is exported once. So the
// planner, the status and the executors see a withdrawal of drain and
// routing only, on the same timeline, and a member needs none of the
// notify or export Secrets. The object itself is never written with this
// spec: the controller writes only status and finalizers (which it adds
// before this). status.fleet.role says which role applied; a withdrawal
// on one cluster, with no fleet anywhere, gets no status.fleet.
func actInRole(rw *v1.RegionWithdrawal, installation v1.FleetRole, clocks ClockOffsets) {
	role := FleetRoleOf(rw, installation)
	if rw.Spec.Fleet == nil && installation == "" && rw.Status.Fleet == nil {
		return
	}
	if rw.Status.Fleet == nil {
		rw.Status.Fleet = &v1.FleetStatus{}
	}
	rw.Status.Fleet.Role = role
	if clocks != nil {
		if m := clocks.Latest(); m != nil {
			f := rw.Status.Fleet
			f.ClockOffset, f.ClockOffsetWithin = &metav1.Duration{Duration: m.Offset}, &metav1.Duration{Duration: m.Within}
			f.ClockMeasuredAt = &metav1.Time{Time: m.At}
		}
	}
	if role == v1.FleetMember {
		rw.Spec.Notify, rw.Spec.Export = nil, nil
	}
}
