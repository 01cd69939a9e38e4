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

// ExportStatus is the detail of the export step. It is a summary derived
// on every reconcile from the export Jobs, which are the record: each Job
// carries its target, its attempt number and, once judged, its verified
// result or the reason it failed, in annotations.
type ExportStatus struct {
	// targets is how many targets (namespaces, workloads, or the one
	// region-wide export) the step exports.
	// +optional
	Targets int32 `json:"targets,omitempty"`

	// verified is how many targets have a verified artifact.
	// +optional
	Verified int32 `json:"verified,omitempty"`

	// running is how many export Jobs are running now.
	// +optional
	Running int32 `json:"running,omitempty"`

	// failed is how many targets gave up: their attempts or the deadline ran out.
	// +optional
	Failed int32 `json:"failed,omitempty"`

	// jobs is how many export Jobs were created, all attempts counted.
	// +optional
	Jobs int32 `json:"jobs,omitempty"`

	// bytes is the total size of the verified artifacts.
	// +optional
	Bytes int64 `json:"bytes,omitempty"`

	// artifacts lists the verified artifacts, sorted by target, while there
	// are at most 50 of them; with more, the first 50 are listed here and
	// every one is in artifactConfigMaps.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	Artifacts []ExportArtifact `json:"artifacts,omitempty"`

	// artifactConfigMaps names the ConfigMaps, owned by the withdrawal in
	// its namespace, that hold every verified artifact when there are more
	// than fit in artifacts. Each key is a target's hash and each value an
	// artifact in JSON.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	ArtifactConfigMaps []string `json:"artifactConfigMaps,omitempty"`

	// artifactsInConfigMaps is how many artifacts the ConfigMaps are known
	// to hold; when it is behind verified, they are brought up to date.
	// +optional
	ArtifactsInConfigMaps int32 `json:"artifactsInConfigMaps,omitempty"`

	// manifestsRead is how many per-customer manifests have been read and
	// their customers' archives recorded in artifactConfigMaps.
	// +optional
	ManifestsRead int32 `json:"manifestsRead,omitempty"`

	// customers is how many customers have their own verified archive,
	// from the manifests read.
	// +optional
	Customers int32 `json:"customers,omitempty"`

	// customersSkipped is how many customers the manifests read list
	// without an archive, each with its reason there: no age key, no data,
	// or a row of the customer list that was listed twice or whose key did
	// not parse. An ExportCustomersSkipped Event says so.
	// +optional
	CustomersSkipped int32 `json:"customersSkipped,omitempty"`

	// customersReread is how many customers' own archives the controller
	// has read back from the store and found to match their manifest
	// entry, with spec.export.manifests.verify: Reread.
	// +optional
	CustomersReread int32 `json:"customersReread,omitempty"`

	// handoff counts the customers' download links and who has used them,
	// when spec.export.handoff is set.
	// +optional
	Handoff *HandoffStatus `json:"handoff,omitempty"`

	// failures lists the first targets that gave up, or whose latest attempt
	// failed, and why.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	Failures []ExportFailure `json:"failures,omitempty"`

	// meanJobDuration is the mean run time of the export Jobs that succeeded.
	// +optional
	MeanJobDuration *metav1.Duration `json:"meanJobDuration,omitempty"`

	// maxJobDuration is the longest run time of the export Jobs that succeeded.
	// +optional
	MaxJobDuration *metav1.Duration `json:"maxJobDuration,omitempty"`

	// estimatedFinish is when, from the observed Job durations, the targets
	// left and the parallelism, the last export should be verified.
	// +optional
	EstimatedFinish *metav1.Time `json:"estimatedFinish,omitempty"`

	// deadline is the instant spec.export.deadline resolves to.
	// +optional
	Deadline *metav1.Time `json:"deadline,omitempty"`

	// atRisk is true when estimatedFinish is after the deadline. The
	// controller raises the DeadlineAtRisk condition from it.
	// +optional
	AtRisk bool `json:"atRisk,omitempty"`

	// atRiskMessage says, with numbers, why the export is at risk.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	AtRiskMessage string `json:"atRiskMessage,omitempty"`
}

// HandoffStatus counts the customers' download links and their fetches.
type HandoffStatus struct {
	// links is how many customers have a download link: one for each
	// customer with their own verified archive.
	Links int32 `json:"links"`

	// fetched is how many of them have fetched their archive at least once.
	Fetched int32 `json:"fetched"`

	// notFetched is how many have not, yet.
	NotFetched int32 `json:"notFetched"`

	// lastFetchAt is the latest fetch recorded.
	// +optional
	LastFetchAt *metav1.Time `json:"lastFetchAt,omitempty"`

	// expiresAt is when the links stop working.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
}

// ExportArtifact is one verified export.
type ExportArtifact struct {
	// target is what the artifact holds, such as "Namespace/acme" or
	// "Deployment/acme/web".
	// +kubebuilder:validation:MaxLength=512
	Target string `json:"target"`

	// job is the namespace/name of the Job that produced it.
	// +optional
	// +kubebuilder:validation:MaxLength=320
	Job string `json:"job,omitempty"`

	// location is where the artifact is stored (a path or a URL without
	// its query string).
	// +kubebuilder:validation:MaxLength=1536
	Location string `json:"location"`

	// bytes is the size of the stored object.
	Bytes int64 `json:"bytes"`

	// sha256 is the hex SHA-256 of the stored object (the ciphertext when
	// encrypted).
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{64}$`
	SHA256 string `json:"sha256"`

	// recipient is the customer the artifact belongs to, if the exporter
	// named one.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Recipient string `json:"recipient,omitempty"`

	// encrypted is true when the stored object is encrypted with age.
	// +optional
	Encrypted bool `json:"encrypted,omitempty"`

	// verifiedAt is when the controller verified the result.
	// +optional
	VerifiedAt *metav1.Time `json:"verifiedAt,omitempty"`

	// round is the export round that made it (status.cutoff.exportRound):
	// 0 for the first.
	// +optional
	Round int32 `json:"round,omitempty"`
}

// ExportFailure says why a target's export failed.
type ExportFailure struct {
	// target is what the export covers.
	// +kubebuilder:validation:MaxLength=512
	Target string `json:"target"`

	// attempts is how many Jobs the target has had.
	Attempts int32 `json:"attempts"`

	// gaveUp is true when no further attempt will be made.
	// +optional
	GaveUp bool `json:"gaveUp,omitempty"`

	// reason is why the latest attempt failed.
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason"`
}
