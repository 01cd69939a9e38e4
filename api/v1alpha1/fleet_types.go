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

package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FleetSpec is a withdrawal's part when the same object is applied to
// several clusters by a multi-cluster engine.
type FleetSpec struct {
	// role is what this copy does. Coordinator (what a withdrawal on one
	// cluster is) runs every step. Member leaves the customer-facing steps,
	// notify and export, to the coordinator's copy, since customers are
	// global and must hear once, and drains and switches this cluster's
	// routes on the same timeline. Unset, the installation's --fleet-role
	// (chart value fleet.role) decides, so one spec serves every cluster.
	// +optional
	Role FleetRole `json:"role,omitempty"`
}

// FleetRole is what a copy of a withdrawal does in a fleet.
// +kubebuilder:validation:Enum=Coordinator;Member
type FleetRole string

const (
	// FleetCoordinator runs every step.
	FleetCoordinator FleetRole = "Coordinator"
	// FleetMember drains and switches routes only.
	FleetMember FleetRole = "Member"
)

// FleetStatus is this copy's part in a fleet.
type FleetStatus struct {
	// role is the role this copy acts in: spec.fleet.role, or the
	// installation's.
	// +optional
	Role FleetRole `json:"role,omitempty"`

	// clockOffset is the cluster's API server clock minus the operator's,
	// as last measured: every cluster cuts at the cutoff by its own clock,
	// so a cluster whose clock is off cuts off by as much.
	// +optional
	ClockOffset *metav1.Duration `json:"clockOffset,omitempty"`

	// clockOffsetWithin bounds the error of clockOffset, either way.
	// +optional
	ClockOffsetWithin *metav1.Duration `json:"clockOffsetWithin,omitempty"`

	// clockMeasuredAt is when clockOffset was measured.
	// +optional
	ClockMeasuredAt *metav1.Time `json:"clockMeasuredAt,omitempty"`

	// coordinatorExport is, on a member whose spec has an export step, the
	// coordinator's export as this member last read it: the member's
	// drain waits until it is Verified, as a coordinator's waits for its
	// own. Read from the coordinator's cluster with the installation's
	// --fleet-coordinator-kubeconfig; without one, Unknown, and the drain
	// does not wait.
	// +optional
	CoordinatorExport *CoordinatorExportStatus `json:"coordinatorExport,omitempty"`

	// members is filled in by a multi-cluster engine that aggregates the
	// copies' status on its control plane (the Karmada customization in
	// config/fleet): each cluster's role, phase and cut time. The operator
	// itself never writes it.
	// +optional
	// +listType=map
	// +listMapKey=cluster
	// +kubebuilder:validation:MaxItems=256
	Members []FleetMemberStatus `json:"members,omitempty"`
}

// CoordinatorExportStatus is the coordinator's export, as a member read it.
type CoordinatorExportStatus struct {
	// state is Verified (the coordinator's export step succeeded),
	// Pending (it has not, or the coordinator has no such withdrawal) or
	// Unknown (not read: no coordinator configured, or it could not be
	// reached; message says which).
	// +kubebuilder:validation:Enum=Verified;Pending;Unknown
	State CoordinatorExportState `json:"state"`

	// message says what was read, or why nothing was.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// readAt is when it was last read.
	// +optional
	ReadAt *metav1.Time `json:"readAt,omitempty"`
}

// CoordinatorExportState is what a member knows of the coordinator's export.
type CoordinatorExportState string

const (
	CoordinatorExportVerified CoordinatorExportState = "Verified"
	CoordinatorExportPending  CoordinatorExportState = "Pending"
	CoordinatorExportUnknown  CoordinatorExportState = "Unknown"
)

// FleetMemberStatus is one cluster's copy, as an engine reports it.
type FleetMemberStatus struct {
	// cluster is the engine's name for the cluster.
	// +kubebuilder:validation:MaxLength=253
	Cluster string `json:"cluster"`

	// role is the copy's status.fleet.role there.
	// +optional
	Role FleetRole `json:"role,omitempty"`

	// phase is the copy's status.phase there.
	// +optional
	Phase Phase `json:"phase,omitempty"`

	// cutAt is when that cluster's routes were switched: its routing
	// step's finishedAt.
	// +optional
	CutAt *metav1.Time `json:"cutAt,omitempty"`

	// clockOffset is the copy's status.fleet.clockOffset there.
	// +optional
	ClockOffset *metav1.Duration `json:"clockOffset,omitempty"`

	// ready is the copy's Ready condition status there.
	// +optional
	// +kubebuilder:validation:MaxLength=16
	Ready string `json:"ready,omitempty"`
}
