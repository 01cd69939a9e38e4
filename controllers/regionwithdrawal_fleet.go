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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/clockoffset"
)

// ClockOffsets gives the latest measurement of the API server's clock
// against the operator's (clockoffset.Monitor).
type ClockOffsets interface {
	Latest() *clockoffset.Measurement
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
