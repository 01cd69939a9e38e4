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
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Moment is when a one-off action is due: an absolute instant, or an offset
// from the cutoff. Exactly one of the two is set.
// +kubebuilder:validation:XValidation:rule="has(self.at) != has(self.offset)",message="set exactly one of at or offset"
type Moment struct {
	// at is an absolute instant in RFC 3339, for example "2026-12-23T09:00:00+05:00".
	// It must not be after the cutoff.
	// +optional
	At *metav1.Time `json:"at,omitempty"`

	// offset is a duration relative to the cutoff, in Go duration syntax:
	// "-168h" is a week before the cutoff, "0s" is the cutoff itself.
	// It must not be positive: nothing in a withdrawal happens after the cutoff.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('0s')",message="offset must not be positive: it counts back from the cutoff, e.g. -48h"
	Offset *metav1.Duration `json:"offset,omitempty"`
}

// Resolve returns the instant the moment names, given the cutoff.
func (m Moment) Resolve(cutoff time.Time) time.Time {
	if m.At != nil {
		return m.At.Time
	}
	if m.Offset != nil {
		return cutoff.Add(m.Offset.Duration)
	}
	return cutoff
}

// ReminderSchedule sends reminders on a cron schedule in the region's time zone,
// from a start until the final notice.
type ReminderSchedule struct {
	// schedule is a cron expression with five fields (minute hour day-of-month
	// month day-of-week) or a descriptor such as "@weekly", evaluated in
	// spec.timeZone. For example "0 9 * * MON" is every Monday at 09:00 local time.
	// A local time that a daylight-saving change skips fires once at the next
	// valid instant; a local time that it repeats fires once.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Schedule string `json:"schedule"`

	// start is the earliest instant a reminder may fire. Defaults to the
	// announcement. Reminders never fire at or after the final notice.
	// +optional
	Start *Moment `json:"start,omitempty"`

	// audience is who the reminders go to: All (the default) or
	// Unfetched, the recipients who have not fetched their own archive
	// through the handoff link (spec.export.handoff) when the reminder
	// reaches them. Recipients without an archive of their own are never
	// left out.
	// +optional
	// +kubebuilder:default=All
	Audience NoticeAudience `json:"audience,omitempty"`
}

// NoticeAudience says which recipients a notice goes to.
// +kubebuilder:validation:Enum=All;Unfetched
type NoticeAudience string

const (
	// AudienceAll sends to every recipient.
	AudienceAll NoticeAudience = "All"
	// AudienceUnfetched leaves out the recipients who have fetched their
	// archive through the handoff link.
	AudienceUnfetched NoticeAudience = "Unfetched"
)
