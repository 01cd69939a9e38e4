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

// RoutingStatus is the detail of the routing step. The snapshots that
// cancel restores from are ConfigMaps owned by the withdrawal, one per
// route, named from a hash of the route's kind, namespace and name; each
// switched route carries the annotation withdrawal.ops.dev/routing-snapshot
// naming its snapshot.
type RoutingStatus struct {
	// routes is how many Ingresses and HTTPRoutes the step covers.
	// +optional
	Routes int32 `json:"routes,omitempty"`

	// switched is how many of them no longer serve the region.
	// +optional
	Switched int32 `json:"switched,omitempty"`

	// switchedAt is when the last of them was switched, to the microsecond
	// by the operator's clock as it sent the change (the step's finishedAt
	// keeps whole seconds): what `kubectl withdrawal fleet status` compares
	// across clusters.
	// +optional
	SwitchedAt *metav1.MicroTime `json:"switchedAt,omitempty"`

	// restored is how many of them a cancel restored from their snapshots.
	// +optional
	Restored int32 `json:"restored,omitempty"`

	// httpRoutesUnavailable is true when the Gateway API's HTTPRoute is not
	// installed, so only Ingresses were handled.
	// +optional
	HTTPRoutesUnavailable bool `json:"httpRoutesUnavailable,omitempty"`

	// noticeBackend is the Service the routes point at in mode Block451,
	// as namespace/name:port.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	NoticeBackend string `json:"noticeBackend,omitempty"`

	// snapshots lists the first snapshot ConfigMaps, in the withdrawal's namespace.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=253
	Snapshots []string `json:"snapshots,omitempty"`

	// problems lists the first routes that could not be switched or restored, and why.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	// +kubebuilder:validation:items:MaxLength=512
	Problems []string `json:"problems,omitempty"`
}
