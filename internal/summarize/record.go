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

// Package summarize computes a RegionWithdrawal's status, and the Events
// that tell people how it changed, from what a reconcile learned: the spec,
// the status it started from, the planner's plan and the executors'
// results. Nothing here talks to the API server, so every rule is tested
// with plain tables (summarize_test.go). The controller calls, in order:
//
//	Prepare   once, before planning: forget a rehearsal, one entry per step
//	Record    for each executor result (or RecordError, Block)
//	Status    once, after the last plan: holds, phase, next action, conditions
//	Events    once: what changed between the old status and the new
//
// The planner's Record* helpers write what an action's start means; this
// package writes what the executors found and what it adds up to.
package summarize

import (
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/text"
)

// maxIrreversible caps status.irreversible.
const maxIrreversible = 16

// Prepare readies status for planning: when the spec runs for real it
// forgets what a dry run rehearsed, so the real run does it again; and it
// keeps one entry per configured step, with its due time.
func Prepare(st *v1.RegionWithdrawalStatus, spec *v1.RegionWithdrawalSpec, tl *planner.Timeline) {
	if !spec.DryRun {
		resetRehearsal(st)
	}
	syncStepEntries(st, tl)
}

// MaxStepMessage bounds a step's message and last error, which quote
// executors, receivers and the API server: however many steps and errors,
// status stays far below etcd's object limit.
const MaxStepMessage = 1024

// Record writes an executor's result for action a into status. Only the
// entry of a's step (and, for a notice, the notice's entry) changes; a
// finished action is recorded as finished at now.
func Record(st *v1.RegionWithdrawalStatus, a planner.Action, res executor.Result, now time.Time) {
	s := planner.StepStatus(st, a.Step)
	s.LastError = ""
	if res.Message != "" {
		s.Message = text.Truncate(res.Message, MaxStepMessage)
	}
	if res.Plan != nil {
		s.Plan = res.Plan
	}
	if res.Progress != nil {
		s.Progress = res.Progress
	}
	RecordDetail(st, a.Step, res.Detail)
	if a.Kind == planner.ActionNotice {
		if n := planner.Notice(st, a.NoticeID()); n != nil && res.Detail.Notice != nil {
			c := res.Detail.Notice
			n.Recipients, n.Sent, n.Failed, n.Pending, n.Excluded = c.Recipients, c.Sent, c.Failed, c.Pending(), c.Excluded
			planner.RecordFailedSources(st, c.FailedSources)
			if n.DryRun {
				n.Pending = 0 // a rehearsal sends nothing and leaves nothing to send
			}
		}
	}
	if !res.Done {
		return
	}
	switch a.Kind {
	case planner.ActionNotice:
		planner.RecordNoticeFinished(st, a.NoticeID(), now)
	case planner.ActionStart:
		state := v1.StepSucceeded
		if res.Failed {
			state = v1.StepFailed
		}
		planner.RecordStepFinished(st, a.Step, state, now)
	case planner.ActionRevert:
		if a.Step == v1.StepDrain && planner.RestoringDrain(st) {
			// Undone for a postponed cutoff: the step is Pending again.
			planner.RecordDrainRestored(st, res.Message, now)
			return
		}
		planner.RecordStepFinished(st, a.Step, v1.StepReverted, now)
		for _, what := range res.Irreversible {
			what = text.Truncate(what, MaxStepMessage)
			if !slices.Contains(st.Irreversible, what) && len(st.Irreversible) < maxIrreversible {
				st.Irreversible = append(st.Irreversible, what)
			}
		}
	}
}

// RecordDetail records a step's own detail from an executor's result. It
// keeps the detail of the step's own kind only: an executor cannot write
// another step's record.
func RecordDetail(st *v1.RegionWithdrawalStatus, step v1.StepName, d executor.Detail) {
	s := planner.StepStatus(st, step)
	switch {
	case step == v1.StepExport && d.Export != nil:
		s.Export = d.Export
	case step == v1.StepDrain && d.Drain != nil:
		s.Drain = d.Drain
	case step == v1.StepRouting && d.Routing != nil:
		s.Routing = d.Routing
	}
}

// RecordError records that carrying a on failed; the controller retries.
func RecordError(st *v1.RegionWithdrawalStatus, a planner.Action, err error) {
	planner.StepStatus(st, a.Step).LastError = text.Truncate(err.Error(), MaxStepMessage)
}

// Block records that a due step cannot start, and why.
func Block(st *v1.RegionWithdrawalStatus, step v1.StepName, msg string) {
	s := planner.StepStatus(st, step)
	s.State, s.Message = v1.StepBlocked, text.Truncate(msg, MaxStepMessage)
}

// syncStepEntries keeps one status entry per configured step, with its due
// time, and drops the entries of steps removed from the spec before they
// started.
func syncStepEntries(st *v1.RegionWithdrawalStatus, tl *planner.Timeline) {
	configured := tl.Steps()
	st.Steps = slices.DeleteFunc(st.Steps, func(s v1.StepStatus) bool {
		return !slices.Contains(configured, s.Name) && s.StartedAt == nil
	})
	for _, step := range configured {
		s := planner.StepStatus(st, step)
		if s.StartedAt == nil {
			due, _ := tl.StepDue(step)
			if s.DueAt == nil || !s.DueAt.Time.Equal(due) {
				t := metav1.NewTime(due)
				s.DueAt = &t
			}
		}
	}
	slices.SortStableFunc(st.Steps, func(a, b v1.StepStatus) int {
		return slices.Index(v1.AllSteps, a.Name) - slices.Index(v1.AllSteps, b.Name)
	})
}

// resetRehearsal forgets what a dry run did, so that the real run does it
// again for real. Events reports how many steps it reset.
func resetRehearsal(st *v1.RegionWithdrawalStatus) {
	for i := range st.Steps {
		s := &st.Steps[i]
		if s.DryRun {
			*s = v1.StepStatus{Name: s.Name, State: v1.StepPending, DueAt: s.DueAt}
		}
	}
	if st.Notify == nil {
		return
	}
	st.Notify.Notices = slices.DeleteFunc(st.Notify.Notices, func(ns v1.NoticeStatus) bool { return ns.DryRun })
	st.Notify.LastReminderSlot, st.Notify.RemindersSent = nil, 0
	for _, ns := range st.Notify.Notices {
		if ns.Kind == v1.NoticeReminder {
			st.Notify.RemindersSent++
			if st.Notify.LastReminderSlot == nil || st.Notify.LastReminderSlot.Before(&ns.ScheduledAt) {
				slot := ns.ScheduledAt
				st.Notify.LastReminderSlot = &slot
			}
		}
	}
}
