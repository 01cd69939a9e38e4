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

// The chart's admission policy stamps who changed the cutoff or the time
// zone, and to what, on the request that changed it; the controller puts
// the name in status.cutoff.changes[].by and the evidence ledger when the
// stamp names the cutoff it sees.
const (
	// AnnotationCutoffChangedBy is the user who last changed the cutoff
	// or the time zone.
	AnnotationCutoffChangedBy = "withdrawal.ops.dev/cutoff-changed-by"
	// AnnotationCutoffChangedTo is spec.cutoff and spec.timeZone as that
	// user set them, "<RFC 3339> <zone>".
	AnnotationCutoffChangedTo = "withdrawal.ops.dev/cutoff-changed-to"
)

// CutoffHistory is the cutoff a withdrawal was first planned for and
// every change to it since. Deadlines move: a government extends one, or
// brings it forward; customers told one date must hear that it moved.
type CutoffHistory struct {
	// original is the cutoff the controller first planned for.
	Original metav1.Time `json:"original"`

	// originalTimeZone is spec.timeZone at that time.
	// +kubebuilder:validation:MaxLength=64
	OriginalTimeZone string `json:"originalTimeZone"`

	// current is the cutoff the controller plans for now: spec.cutoff as
	// it last saw it.
	Current metav1.Time `json:"current"`

	// timeZone is spec.timeZone as the controller last saw it.
	// +kubebuilder:validation:MaxLength=64
	TimeZone string `json:"timeZone"`

	// promised is the cutoff customers were first told of: the one in
	// force when the first notice started. Unset until then.
	// +optional
	Promised *metav1.Time `json:"promised,omitempty"`

	// changeCount counts every change, including those trimmed from changes.
	// +optional
	ChangeCount int32 `json:"changeCount,omitempty"`

	// changes lists the changes, oldest first: the first and the latest
	// ones are kept when there are more than fit.
	// +optional
	// +listType=map
	// +listMapKey=seq
	// +kubebuilder:validation:MaxItems=16
	Changes []CutoffChange `json:"changes,omitempty"`

	// notifiedSeq is the latest change whose Rescheduled notice has
	// started: the changes after it that name a notice are still to be told.
	// +optional
	NotifiedSeq int32 `json:"notifiedSeq,omitempty"`

	// finalNoticeID is the notice ID of the final notice for the current
	// cutoff, when a change came after a final notice had gone out for
	// an earlier one; empty means "final".
	// +optional
	// +kubebuilder:validation:MaxLength=64
	FinalNoticeID string `json:"finalNoticeID,omitempty"`

	// drainRestores counts the drains undone because the cutoff moved
	// later (spec.drain.onPostpone: Restore). The evidence of the drain
	// that follows each is told apart by it.
	// +optional
	DrainRestores int32 `json:"drainRestores,omitempty"`

	// exportRound is the round of exports the export step is on: 0 for
	// the first, one more for each change that sent the verified exports
	// to be made again (spec.export.onPostpone: Reexport). Export Jobs
	// are labelled withdrawal.ops.dev/export-round with theirs.
	// +optional
	ExportRound int32 `json:"exportRound,omitempty"`
}

// DrainRestore is what a change of the cutoff does to a drain that had
// started.
// +kubebuilder:validation:Enum=Restore;Restoring;Restored
type DrainRestore string

const (
	// DrainRestorePending: the new timeline drains later, so the drained
	// workloads are to be restored, and drained again then.
	DrainRestorePending DrainRestore = "Restore"
	// DrainRestoreRunning: the workloads are being restored.
	DrainRestoreRunning DrainRestore = "Restoring"
	// DrainRestoreDone: the workloads were restored; the drain runs again
	// at its new time.
	DrainRestoreDone DrainRestore = "Restored"
)

// CutoffChange is one change of the cutoff or of the time zone.
type CutoffChange struct {
	// seq numbers the changes from 1.
	// +kubebuilder:validation:Minimum=1
	Seq int32 `json:"seq"`

	// from is the cutoff before the change.
	From metav1.Time `json:"from"`

	// fromTimeZone is spec.timeZone before the change.
	// +kubebuilder:validation:MaxLength=64
	FromTimeZone string `json:"fromTimeZone"`

	// to is the cutoff after the change.
	To metav1.Time `json:"to"`

	// toTimeZone is spec.timeZone after the change.
	// +kubebuilder:validation:MaxLength=64
	ToTimeZone string `json:"toTimeZone"`

	// observedAt is when the controller saw the change.
	ObservedAt metav1.Time `json:"observedAt"`

	// generation is the spec generation that made the change.
	// +optional
	Generation int64 `json:"generation,omitempty"`

	// by is who made the change, when the chart's admission policy
	// recorded it (the withdrawal.ops.dev/cutoff-changed-by annotation).
	// +optional
	// +kubebuilder:validation:MaxLength=256
	By string `json:"by,omitempty"`

	// noticeID is the Rescheduled notice that tells customers of the
	// change; empty when no customer had been told anything yet.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	NoticeID string `json:"noticeID,omitempty"`

	// effects says what the change did to the steps already run, such as
	// a routing switch that stays made until a cancel.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=512
	Effects []string `json:"effects,omitempty"`

	// drain is what the change does to a drain that had started, when it
	// restores one: Restore, then Restoring, then Restored. Empty when it
	// leaves the drain as it is.
	// +optional
	Drain DrainRestore `json:"drain,omitempty"`

	// drainRestoredAt is when that drain's workloads were restored.
	// +optional
	DrainRestoredAt *metav1.Time `json:"drainRestoredAt,omitempty"`

	// exportRound, when the change sent the verified exports to be made
	// again, is the round it started.
	// +optional
	ExportRound int32 `json:"exportRound,omitempty"`
}
