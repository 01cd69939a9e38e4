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

// NoticeKind is one kind of customer notice.
// +kubebuilder:validation:Enum=Announcement;Reminder;Final;Cancellation;AfterCutoff;Rescheduled
type NoticeKind string

const (
	// NoticeAnnouncement is the first notice.
	NoticeAnnouncement NoticeKind = "Announcement"
	// NoticeReminder is sent on the reminder schedule.
	NoticeReminder NoticeKind = "Reminder"
	// NoticeFinal is the last notice before the cutoff.
	NoticeFinal NoticeKind = "Final"
	// NoticeCancellation tells customers the withdrawal was called off.
	NoticeCancellation NoticeKind = "Cancellation"
	// NoticeAfterCutoff is sent once after the cutoff, when notify.afterCutoff
	// is set and a notice could not go out before it: what happened and
	// how to get the data.
	NoticeAfterCutoff NoticeKind = "AfterCutoff"
	// NoticeRescheduled tells customers already told of the withdrawal that
	// its cutoff moved: from which date to which. One goes out per change.
	NoticeRescheduled NoticeKind = "Rescheduled"
)

// NoticeStatus is the delivery state of one notice.
type NoticeStatus struct {
	// id identifies the notice; it is part of every recipient's idempotency key.
	ID string `json:"id"`

	// kind of the notice.
	Kind NoticeKind `json:"kind"`

	// scheduledAt is the slot the notice was due in.
	ScheduledAt metav1.Time `json:"scheduledAt"`

	// startedAt is when sending started.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// finishedAt is when every recipient was sent to or recorded as failed.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`

	// lateness is how long after scheduledAt sending started.
	// +optional
	Lateness *metav1.Duration `json:"lateness,omitempty"`

	// missedSlots counts the earlier slots of a schedule that fell inside the
	// same downtime and were folded into this one notice.
	// +optional
	MissedSlots int32 `json:"missedSlots,omitempty"`

	// dryRun is true when the notice was only rendered, not sent.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`

	// recipients is how many recipients the notice goes to.
	// +optional
	Recipients int64 `json:"recipients,omitempty"`

	// sent is how many recipients have the notice.
	// +optional
	Sent int64 `json:"sent,omitempty"`

	// failed is how many recipients could not be sent to; the reasons are
	// in the ConfigMaps labelled with this notice (see docs/notify.md).
	// +optional
	Failed int64 `json:"failed,omitempty"`

	// pending is how many recipients have neither been sent to nor recorded
	// as failed yet.
	// +optional
	Pending int64 `json:"pending,omitempty"`

	// excluded is how many recipients the notice's audience left out:
	// with audience Unfetched, those who had fetched their archive before
	// the notice reached them; for a Rescheduled or Cancellation notice,
	// those no earlier notice had tried to reach. They are not counted in
	// recipients.
	// +optional
	Excluded int64 `json:"excluded,omitempty"`
}

// NotifyStatus is the state of the notify step's notices.
type NotifyStatus struct {
	// lastReminderSlot is the latest reminder slot handled, sent or folded
	// into a later one. Reminders at or before it never fire again.
	// +optional
	LastReminderSlot *metav1.Time `json:"lastReminderSlot,omitempty"`

	// remindersSent counts reminder notices started.
	// +optional
	RemindersSent int32 `json:"remindersSent,omitempty"`

	// missed lists the notices the cutoff passed before they started (the
	// announcement, the final notice): they are not sent afterwards, since
	// they would announce a date already gone.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=2
	Missed []string `json:"missed,omitempty"`

	// notices lists the announcement, the final and cancellation notices and
	// the most recent reminders.
	// +optional
	// +listType=map
	// +listMapKey=id
	// +kubebuilder:validation:MaxItems=16
	Notices []NoticeStatus `json:"notices,omitempty"`

	// failedSources lists the recipient sources a notice could not read
	// for a reason retrying cannot fix (the egress policy refuses where the
	// source leads, such as a redirect or a next page on another origin).
	// The recipients of the other sources are still notified; those of a
	// failed source are not, and the notify step ends Failed saying so.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=1024
	FailedSources []string `json:"failedSources,omitempty"`
}
