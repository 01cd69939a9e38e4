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
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// The functions in this file write what happened into status. They are the
// other half of the planner: Make reads exactly these fields to decide that
// an action has run, so an action recorded here is never planned again.

// maxNotices caps status.notify.notices; the oldest finished reminders go
// first. LastReminderSlot keeps reminders from repeating whatever is trimmed.
const maxNotices = 16

// LookupStep returns a copy of the status entry of step (an empty, pending
// one if there is none). It never changes status: executors read their
// step's record through it.
func LookupStep(status *v1.RegionWithdrawalStatus, step v1.StepName) v1.StepStatus {
	for _, s := range status.Steps {
		if s.Name == step {
			return s
		}
	}
	return v1.StepStatus{Name: step, State: v1.StepPending}
}

// StepStatus returns the status entry of step, creating it if needed.
func StepStatus(status *v1.RegionWithdrawalStatus, step v1.StepName) *v1.StepStatus {
	for i := range status.Steps {
		if status.Steps[i].Name == step {
			return &status.Steps[i]
		}
	}
	status.Steps = append(status.Steps, v1.StepStatus{Name: step, State: v1.StepPending})
	return &status.Steps[len(status.Steps)-1]
}

// Notice returns the status entry of a notice, or nil.
func Notice(status *v1.RegionWithdrawalStatus, id string) *v1.NoticeStatus {
	if status.Notify == nil {
		return nil
	}
	for i := range status.Notify.Notices {
		if status.Notify.Notices[i].ID == id {
			return &status.Notify.Notices[i]
		}
	}
	return nil
}

// RecordStarted records that a is starting at now. The controller persists
// this before it performs any side effect of a, so a crash afterwards resumes
// the action instead of planning it again.
func RecordStarted(status *v1.RegionWithdrawalStatus, a Action, now time.Time, dryRun bool) {
	started := metav1.NewTime(now)
	lateness := &metav1.Duration{Duration: a.Lateness}
	switch a.Kind {
	case ActionNotice:
		if status.Notify == nil {
			status.Notify = &v1.NotifyStatus{}
		}
		id := a.NoticeID()
		n := Notice(status, id)
		if n == nil {
			status.Notify.Notices = append(status.Notify.Notices, v1.NoticeStatus{ID: id})
			n = &status.Notify.Notices[len(status.Notify.Notices)-1]
		}
		n.Kind, n.ScheduledAt, n.StartedAt, n.Lateness = a.Notice, metav1.NewTime(a.DueAt), &started, lateness
		n.MissedSlots, n.DryRun, n.FinishedAt = int32(min(a.MissedSlots, 1<<30)), dryRun, nil
		if a.Notice == v1.NoticeReminder {
			slot := metav1.NewTime(a.DueAt)
			status.Notify.LastReminderSlot = &slot
			status.Notify.RemindersSent++
		}
		if h := status.Cutoff; h != nil && a.Notice != v1.NoticeCancellation {
			if h.Promised == nil {
				promised := h.Current
				h.Promised = &promised
			}
			if seq, ok := rescheduledSeq(id); ok && a.Notice == v1.NoticeRescheduled && seq > h.NotifiedSeq {
				h.NotifiedSeq = seq
			}
		}
		trimNotices(status.Notify)
		s := StepStatus(status, v1.StepNotify)
		switch {
		case a.Notice == v1.NoticeCancellation:
		case s.StartedAt == nil:
			due := metav1.NewTime(a.DueAt)
			s.DueAt, s.StartedAt, s.Lateness, s.State, s.DryRun = &due, &started, lateness, v1.StepRunning, dryRun
		case s.FinishedAt != nil:
			// The cutoff moved after the final notice: the step has more
			// to send (the Rescheduled notice, reminders, a new final).
			s.State, s.FinishedAt, s.Message = v1.StepRunning, nil, ""
		}
	case ActionStart:
		s := StepStatus(status, a.Step)
		due := metav1.NewTime(a.DueAt)
		s.DueAt, s.StartedAt, s.Lateness, s.State, s.DryRun = &due, &started, lateness, v1.StepRunning, dryRun
		s.FinishedAt, s.LastError = nil, ""
	case ActionRevert:
		s := StepStatus(status, a.Step)
		s.State, s.Message = v1.StepReverting, "reverting for cancel"
		if a.ID == restoreDrainID {
			recordDrainRestoreStarted(status)
			s.Message = "restoring for the postponed cutoff"
		}
	}
}

// RecordNoticeFinished records that every recipient of a notice was sent to
// or recorded as failed. The final notice finishes the notify step.
func RecordNoticeFinished(status *v1.RegionWithdrawalStatus, id string, now time.Time) {
	n := Notice(status, id)
	if n == nil || n.FinishedAt != nil {
		return
	}
	finished := metav1.NewTime(now)
	n.FinishedAt = &finished
	// A final notice for a date the cutoff has since moved from does not
	// end the step: the new date's final notice will.
	if (n.Kind == v1.NoticeFinal && id == FinalID(status)) || n.Kind == v1.NoticeAfterCutoff {
		s := StepStatus(status, v1.StepNotify)
		if s.State != v1.StepRunning {
			return
		}
		s.State, s.FinishedAt = v1.StepSucceeded, &finished
		if failed := status.Notify.FailedSources; len(failed) > 0 {
			s.State = v1.StepFailed
			s.Message = "the recipients of a source that could not be read were not notified: " + strings.Join(failed, "; ")
		}
	}
}

// maxFailedSources bounds status.notify.failedSources.
const maxFailedSources = 8

// RecordFailedSources adds the recipient sources a notice could not read,
// for good: the notify step ends Failed once its last notice is sent.
func RecordFailedSources(status *v1.RegionWithdrawalStatus, failed []string) {
	if len(failed) == 0 {
		return
	}
	if status.Notify == nil {
		status.Notify = &v1.NotifyStatus{}
	}
	for _, f := range failed {
		if !slices.Contains(status.Notify.FailedSources, f) && len(status.Notify.FailedSources) < maxFailedSources {
			status.Notify.FailedSources = append(status.Notify.FailedSources, f)
		}
	}
}

// RecordNoticesMissed records the notices the cutoff passed before they
// started. Without notify.afterCutoff, nothing more will be sent: once no
// notice is in flight, the notify step ends as failed, saying which
// notices customers never got. With it, the after-cutoff notice ends the
// step (RecordNoticeFinished).
func RecordNoticesMissed(status *v1.RegionWithdrawalStatus, spec *v1.RegionWithdrawalSpec, ids []string, now time.Time) {
	if len(ids) == 0 {
		return
	}
	if status.Notify == nil {
		status.Notify = &v1.NotifyStatus{}
	}
	for _, id := range ids {
		if !slices.Contains(status.Notify.Missed, id) {
			status.Notify.Missed = append(status.Notify.Missed, id)
		}
	}
	if spec.Notify != nil && spec.Notify.AfterCutoff {
		return
	}
	for _, n := range status.Notify.Notices {
		if n.StartedAt != nil && n.FinishedAt == nil {
			return
		}
	}
	s := StepStatus(status, v1.StepNotify)
	if s.FinishedAt != nil {
		return
	}
	finished := metav1.NewTime(now)
	s.State, s.FinishedAt = v1.StepFailed, &finished
	s.Message = "the cutoff passed before the " + strings.Join(status.Notify.Missed, " and ") + " notice could be sent; customers were not told"
}

// RecordStepFinished records that a started step ended in state.
func RecordStepFinished(status *v1.RegionWithdrawalStatus, step v1.StepName, state v1.StepState, now time.Time) {
	s := StepStatus(status, step)
	finished := metav1.NewTime(now)
	s.State, s.FinishedAt = state, &finished
}

// trimNotices keeps the list within maxNotices by dropping the oldest
// finished reminders, then the oldest finished Rescheduled notices
// (status.cutoff.notifiedSeq says which changes were told).
func trimNotices(ns *v1.NotifyStatus) {
	for _, kinds := range [][]v1.NoticeKind{{v1.NoticeReminder}, {v1.NoticeRescheduled}} {
		trimNoticesOf(ns, kinds)
	}
}

func trimNoticesOf(ns *v1.NotifyStatus, kinds []v1.NoticeKind) {
	for len(ns.Notices) > maxNotices {
		oldest := -1
		for i, n := range ns.Notices {
			if !slices.Contains(kinds, n.Kind) || n.FinishedAt == nil {
				continue
			}
			if oldest < 0 || n.ScheduledAt.Before(&ns.Notices[oldest].ScheduledAt) {
				oldest = i
			}
		}
		if oldest < 0 {
			return
		}
		ns.Notices = append(ns.Notices[:oldest], ns.Notices[oldest+1:]...)
	}
}

// RecordCancelAccepted marks every configured step that never started as
// Cancelled. A step in that state tells the planner the cancel was accepted,
// so that it is carried through even if it finishes after the cutoff.
func RecordCancelAccepted(status *v1.RegionWithdrawalStatus, tl *Timeline, now time.Time) {
	for _, step := range tl.Steps() {
		s := StepStatus(status, step)
		if s.StartedAt == nil && s.State != v1.StepCancelled {
			finished := metav1.NewTime(now)
			s.State, s.FinishedAt, s.Message = v1.StepCancelled, &finished, "cancelled before it started"
		}
	}
}

// CancelAccepted reports whether a cancel has already been accepted.
func CancelAccepted(status *v1.RegionWithdrawalStatus) bool {
	if status.Phase == v1.PhaseCancelling || status.Phase == v1.PhaseCancelled {
		return true
	}
	for _, s := range status.Steps {
		if s.State == v1.StepCancelled || s.State == v1.StepReverted {
			return true
		}
	}
	return false
}
