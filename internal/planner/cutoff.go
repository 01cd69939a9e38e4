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
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// A deadline moves: a government extends it, brings it forward, or drops
// its demand. The planner plans every step not yet run from the spec as it
// is, so what this file adds is memory: the cutoff customers were told of,
// each change since, and a Rescheduled notice for each change that came
// after anyone was told anything.

// noticeIDRescheduled starts the notice ID of a change's Rescheduled
// notice; the change's sequence number follows, so a second change is a
// second notice under keys of its own, and a replay of one is not.
const noticeIDRescheduled = "rescheduled-"

// RescheduledID is the notice ID of the Rescheduled notice for change seq.
func RescheduledID(seq int32) string { return noticeIDRescheduled + strconv.Itoa(int(seq)) }

// IsRescheduledID says whether id is a Rescheduled notice's.
func IsRescheduledID(id string) bool {
	_, ok := rescheduledSeq(id)
	return ok
}

// rescheduledSeq is the change a Rescheduled notice ID names.
func rescheduledSeq(id string) (int32, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(id, noticeIDRescheduled))
	if err != nil || !strings.HasPrefix(id, noticeIDRescheduled) || n <= 0 {
		return 0, false
	}
	return int32(n), true
}

// maxCutoffChanges caps status.cutoff.changes; the first change and the
// latest ones are kept.
const maxCutoffChanges = 16

// ObserveCutoff records the cutoff and time zone spec asks for. The first
// time, they are the original; after that, a difference is a change: it is
// added to status.cutoff.changes with what it did to the steps already run,
// and with the Rescheduled notice that tells customers, when any customer
// was told anything. It returns the change, or nil. by is who made it, when
// known; tl is spec's timeline (nil: no step is re-planned). A withdrawal
// that has ended records nothing more: its ledger is sealed.
func ObserveCutoff(status *v1.RegionWithdrawalStatus, spec *v1.RegionWithdrawalSpec, tl *Timeline, generation int64, by string, now time.Time) *v1.CutoffChange {
	cutoff := metav1.NewTime(spec.Cutoff.UTC().Truncate(time.Second))
	h := status.Cutoff
	if h == nil {
		status.Cutoff = &v1.CutoffHistory{Original: cutoff, OriginalTimeZone: spec.TimeZone, Current: cutoff, TimeZone: spec.TimeZone}
		if told(status) {
			// Customers were told before this field existed: of this date.
			promised := cutoff
			status.Cutoff.Promised = &promised
		}
		return nil
	}
	if h.Current.Equal(&cutoff) && h.TimeZone == spec.TimeZone {
		return nil
	}
	if status.Phase == v1.PhaseCompleted || status.Phase == v1.PhaseCancelled {
		return nil
	}
	c := v1.CutoffChange{
		Seq: h.ChangeCount + 1, From: h.Current, FromTimeZone: h.TimeZone, To: cutoff, ToTimeZone: spec.TimeZone,
		ObservedAt: metav1.NewTime(now), Generation: generation, By: by,
	}
	// Customers who were told of the withdrawal hear of the change, unless
	// it is being cancelled (the cancellation notice says all), the new
	// date has passed already, or the routes have switched: the service
	// has stopped for them, and a notice saying it ends later would be
	// false until a cancel restores it.
	if told(status) && !spec.Cancel && now.Before(cutoff.Time) && !switched(status) {
		c.NoticeID = RescheduledID(c.Seq)
	}
	c.Effects = effects(status, spec, tl, &c, now)
	// Only the latest change may restore a drain: one an earlier change
	// asked for and that has not begun is superseded by this one's.
	for i := range h.Changes {
		if h.Changes[i].Drain == v1.DrainRestorePending {
			h.Changes[i].Drain = ""
		}
	}
	h.Changes = append(h.Changes, c)
	trimChanges(h)
	h.ChangeCount, h.Current, h.TimeZone = c.Seq, cutoff, spec.TimeZone
	return &c
}

// effects says what a change does to what already happened, and re-arms
// the final notice when one went out for an earlier date.
func effects(status *v1.RegionWithdrawalStatus, spec *v1.RegionWithdrawalSpec, tl *Timeline, c *v1.CutoffChange, now time.Time) []string {
	var out []string
	h := status.Cutoff
	show := func(t *metav1.Time) string { return t.UTC().Format(time.RFC3339) }
	if h.Promised != nil && c.To.Before(h.Promised) {
		out = append(out, fmt.Sprintf("customers were first told of %s: they get %s less notice than promised",
			show(h.Promised), h.Promised.Sub(c.To.Time).Round(time.Second)))
	}
	if n := Notice(status, FinalID(status)); n != nil && n.StartedAt != nil && c.NoticeID != "" {
		h.FinalNoticeID = fmt.Sprintf("final-%d", c.Seq)
		out = append(out, fmt.Sprintf("the final notice that went out at %s was for %s; a new final notice goes out for the new date", show(n.StartedAt), show(&c.From)))
	}
	for _, s := range status.Steps {
		if s.StartedAt == nil || s.DryRun {
			continue
		}
		switch {
		case s.Name == v1.StepExport && s.State == v1.StepSucceeded:
			out = append(out, exportEffect(status, spec, tl, &s, c, now))
		case s.Name == v1.StepDrain:
			out = append(out, drainEffect(status, spec, tl, &s, c, now))
		case s.Name == v1.StepRouting:
			out = append(out, fmt.Sprintf("the routes switched at %s stay switched, and customers are not told of the new date: only spec.cancel restores the routes", show(s.StartedAt)))
		}
	}
	return out
}

// trimChanges keeps the list within maxCutoffChanges: the first change
// stays, and of the others the oldest whose notice has started (or that
// needs none) goes first.
func trimChanges(h *v1.CutoffHistory) {
	for len(h.Changes) > maxCutoffChanges {
		drop := 1
		for i := 1; i < len(h.Changes)-1; i++ {
			if c := h.Changes[i]; c.NoticeID == "" || c.Seq <= h.NotifiedSeq {
				drop = i
				break
			}
		}
		h.Changes = append(h.Changes[:drop], h.Changes[drop+1:]...)
	}
}

// switched says whether the routes were switched for real.
func switched(status *v1.RegionWithdrawalStatus) bool {
	for _, s := range status.Steps {
		if s.Name == v1.StepRouting && s.StartedAt != nil && !s.DryRun {
			return true
		}
	}
	return false
}

// told says whether any customer was told anything of the withdrawal
// (or, in a rehearsal, would have been).
func told(status *v1.RegionWithdrawalStatus) bool {
	if status.Notify == nil {
		return false
	}
	for _, n := range status.Notify.Notices {
		if n.StartedAt != nil && n.Kind != v1.NoticeCancellation {
			return true
		}
	}
	return false
}

// FinalID is the notice ID of the final notice for the current cutoff.
func FinalID(status *v1.RegionWithdrawalStatus) string {
	if h := status.Cutoff; h != nil && h.FinalNoticeID != "" {
		return h.FinalNoticeID
	}
	return NoticeIDFinal
}

// PendingChange is the oldest change whose Rescheduled notice has not
// started, if any.
func PendingChange(status *v1.RegionWithdrawalStatus) *v1.CutoffChange {
	h := status.Cutoff
	if h == nil {
		return nil
	}
	for i := range h.Changes {
		if c := &h.Changes[i]; c.NoticeID != "" && c.Seq > h.NotifiedSeq {
			return c
		}
	}
	return nil
}

// Change returns the change a Rescheduled notice tells of, or for any
// other notice the latest change; nil when the cutoff never moved.
func Change(status *v1.RegionWithdrawalStatus, noticeID string) *v1.CutoffChange {
	h := status.Cutoff
	if h == nil || len(h.Changes) == 0 {
		return nil
	}
	if seq, ok := rescheduledSeq(noticeID); ok {
		for i := range h.Changes {
			if h.Changes[i].Seq == seq {
				return &h.Changes[i]
			}
		}
	}
	return &h.Changes[len(h.Changes)-1]
}

// CutoffMovedReason is the reason for the CutoffMoved condition, and
// whether the cutoff moved at all.
func CutoffMovedReason(h *v1.CutoffHistory) (string, bool) {
	if h == nil || len(h.Changes) == 0 {
		return "", false
	}
	last := h.Changes[len(h.Changes)-1]
	switch {
	case h.Promised != nil && h.Current.Before(h.Promised):
		return v1.ReasonNoticeShortened, true
	case last.To.Before(&last.From):
		return v1.ReasonBroughtForward, true
	case last.From.Equal(&last.To):
		return v1.ReasonTimeZoneChanged, true
	default:
		return v1.ReasonPostponed, true
	}
}
