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

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// DrainStatus is the detail of the drain step. It is a summary for people:
// the record that cancel restores from lives on each drained workload (the
// annotations withdrawal.ops.dev/original-replicas and drained-at) and, for
// HorizontalPodAutoscalers, in ConfigMaps owned by the withdrawal, so that
// it survives a crash between a change and the next status write.
type DrainStatus struct {
	// workloads is how many Deployments and StatefulSets the drain covers.
	// +optional
	Workloads int32 `json:"workloads,omitempty"`

	// drained is how many of them are scaled to zero.
	// +optional
	Drained int32 `json:"drained,omitempty"`

	// batchSize is how many workloads one batch scales down.
	// +optional
	BatchSize int32 `json:"batchSize,omitempty"`

	// lastBatchAt is when the latest batch was scaled down.
	// +optional
	LastBatchAt *metav1.Time `json:"lastBatchAt,omitempty"`

	// nextBatchAt is when the next batch is due, while one is.
	// +optional
	NextBatchAt *metav1.Time `json:"nextBatchAt,omitempty"`

	// remainingPods counts the pods of drained workloads that still exist,
	// terminating or not.
	// +optional
	RemainingPods int32 `json:"remainingPods,omitempty"`

	// readyEndpoints counts the ready endpoints left in the selected
	// Services' EndpointSlices.
	// +optional
	ReadyEndpoints int32 `json:"readyEndpoints,omitempty"`

	// autoscalersSetAside counts the HorizontalPodAutoscalers recorded and
	// removed because they target a drained workload.
	// +optional
	AutoscalersSetAside int32 `json:"autoscalersSetAside,omitempty"`

	// corrections counts the times another actor scaled a drained workload
	// back up and the drain scaled it down again.
	// +optional
	Corrections int32 `json:"corrections,omitempty"`

	// lastCorrection says which workload was last scaled back up, by how
	// much, and when the drain corrected it.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	LastCorrection string `json:"lastCorrection,omitempty"`

	// blockedBy lists the first things the drain waits for, such as a pod
	// stuck terminating or a Service with ready endpoints.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	// +kubebuilder:validation:items:MaxLength=512
	BlockedBy []string `json:"blockedBy,omitempty"`
}
