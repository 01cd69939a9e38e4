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
	"slices"
	"strings"
	"time"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// DefaultRiskWindow is how long before a due time a missing approval, a
// suspension or an unfinished earlier step raises DeadlineAtRisk.
const DefaultRiskWindow = 24 * time.Hour

// ActionKind says what an action does.
type ActionKind string

const (
	// ActionNotice sends one notice to every recipient.
	ActionNotice ActionKind = "Notice"
	// ActionStart starts a one-off step: export, drain or routing.
	ActionStart ActionKind = "Start"
	// ActionRevert undoes what a step did, for a cancel.
	ActionRevert ActionKind = "Revert"
)

// Action is one thing to do now.
type Action struct {
	// ID is unique within a withdrawal and stable across reconciles: it names
	// the action in status, Events and idempotency keys.
	ID     string
	Kind   ActionKind
	Step   v1.StepName
	Notice v1.NoticeKind
	// DueAt is the instant the action fell due: for a reminder, its latest
	// missed slot.
	DueAt time.Time
	// Lateness is how long after DueAt the plan was made.
	Lateness time.Duration
	// MissedSlots counts earlier reminder slots folded into this one.
	MissedSlots int
}

// Name is the short name shown as status.nextAction, e.g. "notify:reminder".
func (a Action) Name() string {
	switch a.Kind {
	case ActionNotice:
		return string(a.Step) + ":" + strings.ToLower(string(a.Notice))
	case ActionRevert:
		return "revert:" + string(a.Step)
	default:
		return string(a.Step)
	}
}

// HoldReason says why a due action does not run.
type HoldReason string

const (
	// HoldSuspended: spec.suspend is true.
	HoldSuspended HoldReason = "Suspended"
	// HoldApproval: the step requires an approval that spec.approvals lacks.
	HoldApproval HoldReason = "WaitingForApproval"
	// HoldExport: the step would make data unreachable and the export is
	// not verified yet.
	HoldExport HoldReason = "WaitingForExport"
	// HoldNoticeInFlight: another notice is still being sent; notices go
	// out one at a time, in order.
	HoldNoticeInFlight HoldReason = "NoticeInFlight"
	// HoldCancelRefused: cancel after the cutoff without the override.
	HoldCancelRefused HoldReason = "CancelRefused"
	// HoldInvalidSpec: the step's part of the spec cannot be carried out
	// (a step-scoped SpecError); it waits for the spec to change.
	HoldInvalidSpec HoldReason = "InvalidSpec"
)

// Hold is a due action that waits.
type Hold struct {
	Action  Action
	Reason  HoldReason
	Message string
}

// Risk is something that may make the withdrawal miss its cutoff or a step
// miss its deadline.
type Risk struct {
	Step    v1.StepName
	Reason  string
	Message string
}

// Plan is what to do now and when to look again.
type Plan struct {
	// Due are the actions to run now, in order.
	Due []Action
	// Held are due actions that wait, and why.
	Held []Hold
	// Next is the earliest action not yet due; nil when none is left.
	Next *Action
	// WakeAt is when to plan again, always after now; zero when only a
	// change to the object can bring new work.
	WakeAt time.Time
	// Risks raise DeadlineAtRisk.
	Risks []Risk
	// Cancelling is true while a cancel is being carried out.
	Cancelling bool
	// CancelRefused is true when cancel was asked for after the cutoff.
	CancelRefused bool
	// MissedNotices are the notices the cutoff passed before they started;
	// they are not sent (RecordNoticesMissed).
	MissedNotices []string
}

// Input is everything a plan depends on.
type Input struct {
	Timeline *Timeline
	Spec     *v1.RegionWithdrawalSpec
	Status   *v1.RegionWithdrawalStatus
	Now      time.Time
	// RiskWindow defaults to DefaultRiskWindow.
	RiskWindow time.Duration
	// Blocked are the steps a step-scoped SpecError holds back, with why.
	Blocked map[v1.StepName]string
	// ExportElsewhere, when not empty, holds the drain of a fleet member
	// whose export the coordinator makes: why it still waits for it.
	ExportElsewhere string
}

// Make plans. It is pure: the same input gives the same plan.
func Make(in Input) Plan {
	p := &planning{in: in, status: in.Status}
	if p.status == nil {
		p.status = &v1.RegionWithdrawalStatus{}
	}
	if p.in.RiskWindow <= 0 {
		p.in.RiskWindow = DefaultRiskWindow
	}
	if in.Spec.Cancel {
		if !in.Now.Before(in.Timeline.Cutoff) && !in.Spec.AllowCancelAfterCutoff && !CancelAccepted(p.status) {
			p.plan.CancelRefused = true
			p.plan.Held = append(p.plan.Held, Hold{
				Action: Action{ID: "cancel", Kind: ActionRevert, DueAt: in.Now},
				Reason: HoldCancelRefused,
				Message: fmt.Sprintf("the cutoff %s has passed; set spec.allowCancelAfterCutoff to reverse a completed withdrawal",
					in.Timeline.Cutoff.Format(time.RFC3339)),
			})
		} else {
			p.cancel()
			return p.finish()
		}
	}
	p.notify()
	p.oneOff(v1.StepExport)
	if drainRestoreDue(p.status) {
		// The cutoff moved later than the drain that started: undo it
		// now (unless suspended: nothing new starts then, a restore
		// neither); the step drains again at its new time.
		p.schedule(RestoreDrainAction(in.Now), func(a Action) *Hold {
			if in.Spec.Suspend {
				return &Hold{Action: a, Reason: HoldSuspended, Message: "spec.suspend is true"}
			}
			return nil
		})
	}
	p.oneOff(v1.StepDrain)
	p.oneOff(v1.StepRouting)
	p.risks()
	return p.finish()
}

type planning struct {
	in     Input
	status *v1.RegionWithdrawalStatus
	plan   Plan
	// future are actions not yet due, for Next and WakeAt.
	future []Action
	// wakes are extra instants to plan again at, such as risk thresholds.
	wakes []time.Time
}

func (p *planning) step(name v1.StepName) *v1.StepStatus {
	for i := range p.status.Steps {
		if p.status.Steps[i].Name == name {
			return &p.status.Steps[i]
		}
	}
	return nil
}

func (p *planning) started(name v1.StepName) bool {
	s := p.step(name)
	return s != nil && s.StartedAt != nil
}

func (p *planning) succeeded(name v1.StepName) bool {
	s := p.step(name)
	return s != nil && s.State == v1.StepSucceeded
}

func (p *planning) approved(name v1.StepName) bool {
	ok, _ := p.in.Timeline.Approval(p.in.Spec, name)
	return ok
}

func (p *planning) notice(id string) *v1.NoticeStatus {
	if p.status.Notify == nil {
		return nil
	}
	for i := range p.status.Notify.Notices {
		if p.status.Notify.Notices[i].ID == id {
			return &p.status.Notify.Notices[i]
		}
	}
	return nil
}

func (p *planning) noticeStarted(id string) bool {
	n := p.notice(id)
	return n != nil && n.StartedAt != nil
}

func (p *planning) noticeInFlight() bool {
	if p.status.Notify == nil {
		return false
	}
	for _, n := range p.status.Notify.Notices {
		if n.StartedAt != nil && n.FinishedAt == nil {
			return true
		}
	}
	return false
}

// due sorts an action into due now or future.
func (p *planning) schedule(a Action, gate func(Action) *Hold) {
	if p.in.Now.Before(a.DueAt) {
		p.future = append(p.future, a)
		return
	}
	a.Lateness = p.in.Now.Sub(a.DueAt)
	if h := gate(a); h != nil {
		p.plan.Held = append(p.plan.Held, *h)
		return
	}
	p.plan.Due = append(p.plan.Due, a)
}

// Notice IDs. Reminder IDs carry their slot in UTC, so that a reminder's
// idempotency keys differ from every other reminder's.
const (
	NoticeIDAnnouncement = "announcement"
	NoticeIDFinal        = "final"
	NoticeIDCancellation = "cancellation"
	NoticeIDAfterCutoff  = "after-cutoff"
)

// ReminderID is the notice ID of the reminder for one slot.
func ReminderID(slot time.Time) string {
	return "reminder-" + slot.UTC().Format("20060102t1504z")
}

func (p *planning) notify() {
	nt := p.in.Timeline.Notify
	if nt == nil {
		return
	}
	inFlight := p.noticeInFlight()
	gate := func(a Action) *Hold {
		if h := p.commonGate(a); h != nil {
			return h
		}
		if inFlight {
			return &Hold{Action: a, Reason: HoldNoticeInFlight, Message: "waiting for the notice being sent to finish"}
		}
		return nil
	}
	// A notice not started by the cutoff is not sent after it: it would
	// announce a date already gone. It is recorded as missed, and
	// notify.afterCutoff sends one notice written for after the cutoff.
	afterCutoff := !p.in.Now.Before(p.in.Timeline.Cutoff)
	announced := p.notice(NoticeIDAnnouncement)
	if announced == nil || announced.StartedAt == nil {
		if afterCutoff {
			p.missed(gate, NoticeIDAnnouncement, NoticeIDFinal)
			return
		}
		p.schedule(NoticeAction(v1.NoticeAnnouncement, NoticeIDAnnouncement, nt.Announce), gate)
		// Reminders and the final notice follow the announcement: until it
		// has started they are neither due nor next. A final notice that
		// fell due meanwhile goes out right after it.
		return
	}
	// A change of the cutoff after customers were told is told before
	// anything else: a reminder must not be the first to show a new date.
	// Not after the cutoff, when the new date has gone too.
	if c := PendingChange(p.status); c != nil && !afterCutoff {
		p.schedule(NoticeAction(v1.NoticeRescheduled, c.NoticeID, c.ObservedAt.Time), gate)
		return
	}
	finalID := FinalID(p.status)
	if p.noticeStarted(finalID) {
		return
	}
	if nt.Reminders != nil && p.in.Now.Before(nt.Final) {
		// Slots at or before the latest handled slot, before the reminders'
		// start, or before the announcement actually went out never fire.
		after := nt.ReminderStart.Add(-time.Nanosecond)
		if s := p.status.Notify.LastReminderSlot; s != nil && s.After(after) {
			after = s.Time
		}
		if announced.StartedAt.After(after) {
			after = announced.StartedAt.Time
		}
		upTo := p.in.Now
		if latest, n := nt.Reminders.Missed(after, upTo); n > 0 {
			a := NoticeAction(v1.NoticeReminder, ReminderID(latest), latest)
			a.MissedSlots = n - 1
			p.schedule(a, gate)
		}
		from := after
		if p.in.Now.After(from) {
			from = p.in.Now
		}
		if next, ok := nt.Reminders.Next(from); ok && next.Before(nt.Final) {
			p.future = append(p.future, NoticeAction(v1.NoticeReminder, ReminderID(next), next))
		}
	}
	// Reminders are only looked at before the final notice is due: once it
	// is, the reminders still missed are not worth sending, since the final
	// notice says everything they would.
	if afterCutoff {
		p.missed(gate, finalID)
		return
	}
	p.schedule(NoticeAction(v1.NoticeFinal, finalID, nt.Final), gate)
}

// missed records notices the cutoff passed before they started, says so
// loudly, and schedules the after-cutoff notice when the spec asks for it.
func (p *planning) missed(gate func(Action) *Hold, ids ...string) {
	p.plan.MissedNotices = append(p.plan.MissedNotices, ids...)
	instead := "; set spec.notify.afterCutoff to send one notice written for after the cutoff"
	if p.in.Spec.Notify != nil && p.in.Spec.Notify.AfterCutoff {
		instead = "; the after-cutoff notice goes out instead"
		if !p.noticeStarted(NoticeIDAfterCutoff) {
			p.schedule(NoticeAction(v1.NoticeAfterCutoff, NoticeIDAfterCutoff, p.in.Timeline.Cutoff), gate)
		}
		if n := p.notice(NoticeIDAfterCutoff); n != nil && n.FinishedAt != nil {
			return // customers have been told, late but truly
		}
	}
	p.risk(v1.StepNotify, v1.ReasonNoticesMissed, "the cutoff %s passed before the %s notice could be sent; it is not sent now, since it would announce a date already gone%s",
		p.show(p.in.Timeline.Cutoff), strings.Join(ids, " and "), instead)
}

// commonGate holds an action for suspend or a missing approval. The notify
// step's approval gates its first notice only.
func (p *planning) commonGate(a Action) *Hold {
	if why, ok := p.in.Blocked[a.Step]; ok {
		return &Hold{Action: a, Reason: HoldInvalidSpec, Message: why}
	}
	if p.in.Spec.Suspend {
		return &Hold{Action: a, Reason: HoldSuspended, Message: "spec.suspend is true"}
	}
	if ok, why := p.in.Timeline.Approval(p.in.Spec, a.Step); !ok && !p.started(a.Step) {
		return &Hold{Action: a, Reason: HoldApproval, Message: why}
	}
	return nil
}

func (p *planning) oneOff(step v1.StepName) {
	due, ok := p.in.Timeline.StepDue(step)
	if !ok || p.started(step) {
		return
	}
	p.schedule(StartAction(step, due), func(a Action) *Hold {
		if h := p.commonGate(a); h != nil {
			return h
		}
		// Draining makes customer data unreachable through the service, so
		// it waits for a verified export. Routing does not: the cutoff is a
		// legal deadline, and exports read the data where it lies, not
		// through the routes.
		if step == v1.StepDrain && p.in.Timeline.Export != nil && !p.succeeded(v1.StepExport) {
			return &Hold{Action: a, Reason: HoldExport, Message: "waiting for the export to be verified"}
		}
		if step == v1.StepDrain && p.in.ExportElsewhere != "" {
			return &Hold{Action: a, Reason: HoldExport, Message: p.in.ExportElsewhere}
		}
		return nil
	})
}

func (p *planning) cancel() {
	p.plan.Cancelling = true
	pending := false
	for _, step := range slices.Backward(v1.AllSteps) {
		s := p.step(step)
		if s == nil || s.StartedAt == nil || s.State == v1.StepReverted {
			continue
		}
		pending = true
		if s.State == v1.StepReverting {
			continue // the controller carries an unfinished revert on
		}
		p.plan.Due = append(p.plan.Due, RevertAction(step, p.in.Now))
	}
	// Customers who were told of the withdrawal are told it is off, once
	// every step is reverted (so the notice is true when it arrives).
	if p.in.Timeline.Notify == nil || pending || p.noticeStarted(NoticeIDCancellation) || !p.anyNoticeStarted() {
		return
	}
	p.plan.Due = append(p.plan.Due, NoticeAction(v1.NoticeCancellation, NoticeIDCancellation, p.in.Now))
}

func (p *planning) anyNoticeStarted() bool {
	if p.status.Notify == nil {
		return false
	}
	for _, n := range p.status.Notify.Notices {
		if n.StartedAt != nil && n.Kind != v1.NoticeCancellation {
			return true
		}
	}
	return false
}

func (p *planning) risks() {
	tl, now, window := p.in.Timeline, p.in.Now, p.in.RiskWindow
	if now.Before(tl.Cutoff) {
		p.wakes = append(p.wakes, tl.Cutoff)
	}
	p.cutoffMissed()
	atRisk := func(step v1.StepName, due time.Time) bool {
		threshold := due.Add(-window)
		if now.Before(threshold) {
			p.wakes = append(p.wakes, threshold)
			return false
		}
		return true
	}
	for _, step := range tl.Steps() {
		if p.started(step) {
			continue
		}
		due, _ := tl.StepDue(step)
		switch {
		case !p.approved(step) && atRisk(step, due):
			_, why := tl.Approval(p.in.Spec, step)
			p.risk(step, v1.ReasonApprovalMissing, "%s is due at %s and is not approved: %s", step, p.show(due), why)
		case p.in.Spec.Suspend && atRisk(step, due):
			p.risk(step, v1.ReasonSuspended, "%s is due at %s and the withdrawal is suspended", step, p.show(due))
		}
	}
	if e := tl.Export; e != nil && !p.succeeded(v1.StepExport) {
		if now.Before(e.Deadline) {
			p.wakes = append(p.wakes, e.Deadline)
		} else {
			p.risk(v1.StepExport, v1.ReasonStepBehind, "the export is not verified and its deadline %s has passed", p.show(e.Deadline))
		}
	}
	if d := tl.Drain; d != nil && !p.succeeded(v1.StepDrain) {
		if s := p.step(v1.StepDrain); s != nil && s.StartedAt != nil && d.Timeout > 0 {
			end := s.StartedAt.Add(d.Timeout)
			if now.Before(end) {
				p.wakes = append(p.wakes, end)
			} else {
				p.risk(v1.StepDrain, v1.ReasonStepBehind, "the drain started at %s and has not finished within its timeout of %s", p.show(s.StartedAt.Time), d.Timeout)
			}
		}
		// A drain that started is judged by its own timeout, not by the
		// routing switch: finishing a few seconds after the routes went
		// over, within its timeout, misses nothing. One that has not even
		// started by then is behind.
		if tl.Routing != nil && !p.started(v1.StepDrain) {
			if !now.Before(tl.Routing.Start) {
				p.risk(v1.StepDrain, v1.ReasonStepBehind, "routing fell due at %s and the drain has not started", p.show(tl.Routing.Start))
			} else {
				p.wakes = append(p.wakes, tl.Routing.Start)
			}
		}
	}
}

// CutoffTolerance is how long after the cutoff the routing switch may
// take before DeadlineAtRisk says CutoffMissed: the switch starts in the
// cutoff's second and is a few API calls.
const CutoffTolerance = 10 * time.Second

// cutoffMissed puts first, for DeadlineAtRisk's reason, a routing switch
// not made within CutoffTolerance of the cutoff: the legal deadline, and
// the one that matters, was missed. The other steps late on their own
// timelines say so with their own reasons (StepBehind); a withdrawal
// without a routing step has no switch to miss.
func (p *planning) cutoffMissed() {
	tl := p.in.Timeline
	if tl.Routing == nil || p.succeeded(v1.StepRouting) {
		return
	}
	if by := tl.Cutoff.Add(CutoffTolerance); p.in.Now.Before(by) {
		p.wakes = append(p.wakes, by)
		return
	}
	r := Risk{Step: v1.StepRouting, Reason: v1.ReasonCutoffMissed,
		Message: fmt.Sprintf("the cutoff %s has passed and the routes have not been switched", p.show(tl.Cutoff))}
	p.plan.Risks = append([]Risk{r}, p.plan.Risks...)
}

func (p *planning) risk(step v1.StepName, reason, format string, args ...any) {
	p.plan.Risks = append(p.plan.Risks, Risk{Step: step, Reason: reason, Message: fmt.Sprintf(format, args...)})
}

// show formats an instant in the region's time zone, as people read it.
func (p *planning) show(t time.Time) string {
	return t.In(p.in.Timeline.Location).Format("2006-01-02 15:04 MST")
}

func (p *planning) finish() Plan {
	slices.SortStableFunc(p.future, func(a, b Action) int { return a.DueAt.Compare(b.DueAt) })
	if len(p.future) > 0 {
		next := p.future[0]
		p.plan.Next = &next
		p.wakes = append(p.wakes, next.DueAt)
	}
	for _, w := range p.wakes {
		if w.After(p.in.Now) && (p.plan.WakeAt.IsZero() || w.Before(p.plan.WakeAt)) {
			p.plan.WakeAt = w
		}
	}
	return p.plan
}
