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

// Package planner turns a RegionWithdrawal's spec and status and the current
// instant into the actions due now and the instant to look again. It does no
// I/O and reads no clock, so every rule of the timeline is tested with fixed
// instants.
package planner

import (
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// SpecError is a spec the planner cannot carry out: what the API server's
// validation cannot check, such as a cron expression or a time-zone name.
// The controller reports it as Stalled; retrying does not help.
type SpecError struct {
	// Field is the JSON path of the offending field, e.g. "spec.timeZone".
	Field string
	// Err says what is wrong.
	Err error
	// Step, when set, is the one step the error holds back (a notice
	// template that cannot render, an export Job template the API server
	// refuses): that step waits for the spec to change while the others go
	// on, so that no author's mistake in one step keeps the routes open
	// past the cutoff. Empty: the whole withdrawal waits.
	Step v1.StepName
}

func (e *SpecError) Error() string { return fmt.Sprintf("%s: %v", e.Field, e.Err) }
func (e *SpecError) Unwrap() error { return e.Err }

// StepSpecError returns the step-scoped SpecError err is or wraps, if any.
func StepSpecError(err error) (*SpecError, bool) {
	var se *SpecError
	if errors.As(err, &se) && se.Step != "" {
		return se, true
	}
	return nil, false
}

// IsSpecError reports whether err is, or wraps, a SpecError.
func IsSpecError(err error) bool {
	var se *SpecError
	return errors.As(err, &se)
}

// Timeline is a spec resolved into instants.
type Timeline struct {
	Cutoff   time.Time
	Location *time.Location

	// Notify is nil when the spec has no notify step; so are the others.
	Notify  *NotifyTimes
	Export  *ExportTimes
	Drain   *StepTimes
	Routing *StepTimes

	// SpecDigest is SpecDigest(spec): what an approval must name to hold.
	SpecDigest string

	requireApproval map[v1.StepName]bool
}

// NotifyTimes are the notify step's instants.
type NotifyTimes struct {
	Announce time.Time
	Final    time.Time
	// Reminders is nil when no reminders are configured.
	Reminders *Recurrence
	// ReminderStart is the earliest instant a reminder may fire.
	ReminderStart time.Time
}

// ExportTimes are the export step's instants.
type ExportTimes struct {
	Start    time.Time
	Deadline time.Time
}

// StepTimes holds the instant a one-off step falls due.
type StepTimes struct {
	Start time.Time
	// Timeout, when set, bounds how long the step may run.
	Timeout time.Duration
}

// Compile resolves spec into a Timeline, checking what CEL cannot: the time
// zone, the cron expression, the label selectors, and (again, since a spec
// may come from somewhere other than the API server) the order of the steps.
func Compile(spec *v1.RegionWithdrawalSpec) (*Timeline, error) {
	if spec == nil {
		return nil, &SpecError{Field: "spec", Err: errors.New("missing")}
	}
	if spec.TimeZone == "" || spec.TimeZone == "Local" {
		return nil, &SpecError{Field: "spec.timeZone", Err: fmt.Errorf("%q is not an IANA time zone such as Asia/Karachi", spec.TimeZone)}
	}
	loc, err := time.LoadLocation(spec.TimeZone)
	if err != nil {
		return nil, &SpecError{Field: "spec.timeZone", Err: fmt.Errorf("unknown time zone %q: use an IANA name such as Asia/Karachi", spec.TimeZone)}
	}
	if spec.Cutoff.IsZero() {
		return nil, &SpecError{Field: "spec.cutoff", Err: errors.New("missing")}
	}
	if _, err := metav1.LabelSelectorAsSelector(&spec.Selector); err != nil {
		return nil, &SpecError{Field: "spec.selector", Err: err}
	}
	if spec.NamespaceSelector != nil {
		if _, err := metav1.LabelSelectorAsSelector(spec.NamespaceSelector); err != nil {
			return nil, &SpecError{Field: "spec.namespaceSelector", Err: err}
		}
	}
	cutoff := spec.Cutoff.Time.UTC()
	tl := &Timeline{Cutoff: cutoff, Location: loc, SpecDigest: SpecDigest(spec), requireApproval: map[v1.StepName]bool{}}
	if spec.Notify == nil && spec.Export == nil && spec.Drain == nil && spec.Routing == nil {
		return nil, &SpecError{Field: "spec", Err: errors.New("configure at least one step: notify, export, drain or routing")}
	}

	notBefore := func(field string, t time.Time) error {
		if t.After(cutoff) {
			return &SpecError{Field: field, Err: fmt.Errorf("%s is after the cutoff %s", t.Format(time.RFC3339), cutoff.Format(time.RFC3339))}
		}
		return nil
	}

	if n := spec.Notify; n != nil {
		nt, err := compileNotify(n, cutoff, loc, notBefore)
		if err != nil {
			return nil, err
		}
		tl.Notify = nt
		tl.requireApproval[v1.StepNotify] = n.RequireApproval
	}
	if e := spec.Export; e != nil {
		et := &ExportTimes{Start: e.Start.Resolve(cutoff).UTC(), Deadline: e.Deadline.Resolve(cutoff).UTC()}
		if err := notBefore("spec.export.deadline", et.Deadline); err != nil {
			return nil, err
		}
		if !et.Start.Before(et.Deadline) {
			return nil, &SpecError{Field: "spec.export.start", Err: errors.New("must be before export.deadline")}
		}
		tl.Export = et
		tl.requireApproval[v1.StepExport] = e.RequireApproval
	}
	if d := spec.Drain; d != nil {
		dt := &StepTimes{Start: d.Start.Resolve(cutoff).UTC()}
		if d.Timeout != nil {
			dt.Timeout = d.Timeout.Duration
		}
		if err := notBefore("spec.drain.start", dt.Start); err != nil {
			return nil, err
		}
		if tl.Export != nil && tl.Export.Deadline.After(dt.Start) {
			return nil, &SpecError{Field: "spec.export.deadline", Err: errors.New("must not be after drain.start: the drain only touches exported data")}
		}
		tl.Drain = dt
		tl.requireApproval[v1.StepDrain] = d.RequireApproval
	}
	if r := spec.Routing; r != nil {
		rt := &StepTimes{Start: cutoff}
		if r.At != nil {
			rt.Start = r.At.Resolve(cutoff).UTC()
		}
		if err := notBefore("spec.routing.at", rt.Start); err != nil {
			return nil, err
		}
		if tl.Drain != nil && tl.Drain.Start.After(rt.Start) {
			return nil, &SpecError{Field: "spec.drain.start", Err: errors.New("must not be after routing.at")}
		}
		tl.Routing = rt
		tl.requireApproval[v1.StepRouting] = r.RequireApproval
	}
	return tl, nil
}

// compileNotify resolves the notices' moments and the reminder schedule.
func compileNotify(n *v1.NotifyStep, cutoff time.Time, loc *time.Location, notBefore func(string, time.Time) error) (*NotifyTimes, error) {
	nt := &NotifyTimes{Announce: n.Announce.Resolve(cutoff).UTC(), Final: n.Final.Resolve(cutoff).UTC()}
	if err := notBefore("spec.notify.final", nt.Final); err != nil {
		return nil, err
	}
	if !nt.Announce.Before(nt.Final) {
		return nil, &SpecError{Field: "spec.notify.announce", Err: errors.New("must be before notify.final")}
	}
	r := n.Reminders
	if r == nil {
		return nt, nil
	}
	rec, err := ParseRecurrence(r.Schedule, loc)
	if err != nil {
		return nil, &SpecError{Field: "spec.notify.reminders.schedule", Err: err}
	}
	nt.Reminders = rec
	nt.ReminderStart = nt.Announce
	if r.Start != nil {
		nt.ReminderStart = r.Start.Resolve(cutoff).UTC()
	}
	if !nt.ReminderStart.Before(nt.Final) {
		return nil, &SpecError{Field: "spec.notify.reminders.start", Err: errors.New("must be before notify.final")}
	}
	return nt, nil
}

// CheckReminderSpacing refuses reminders closer together than min: a
// minutely schedule over a month would be tens of thousands of notices to
// every customer, and as many checkpoint series.
func (tl *Timeline) CheckReminderSpacing(min time.Duration) error {
	nt := tl.Notify
	if nt == nil || nt.Reminders == nil {
		return nil
	}
	gap, at, ok := closestReminders(nt.Reminders, nt.ReminderStart, nt.Final)
	if !ok || gap >= min {
		return nil
	}
	return &SpecError{Field: "spec.notify.reminders.schedule", Err: fmt.Errorf(
		"fires %s apart (at %s): reminders must be at least %s apart (the operator's --min-reminder-spacing)",
		gap, at.In(nt.Reminders.loc).Format(time.RFC3339), min)}
}

// maxReminderChecks bounds how many firings closestReminders looks at:
// a cron expression repeats within a year, and the gaps that matter show
// in its first firings.
const maxReminderChecks = 500

// closestReminders returns the smallest gap between two consecutive
// firings of rec in [from, to), among its first maxReminderChecks, and
// when the second of them is.
func closestReminders(rec *Recurrence, from, to time.Time) (gap time.Duration, at time.Time, ok bool) {
	prev, ok := rec.Next(from.Add(-time.Nanosecond))
	if !ok || !prev.Before(to) {
		return 0, time.Time{}, false
	}
	found := false
	for range maxReminderChecks {
		next, ok := rec.Next(prev)
		if !ok || !next.Before(to) {
			break
		}
		if d := next.Sub(prev); !found || d < gap {
			gap, at, found = d, next, true
		}
		prev = next
	}
	return gap, at, found
}

// StepDue returns when a configured step first falls due, and false for a
// step the spec does not configure.
func (tl *Timeline) StepDue(step v1.StepName) (time.Time, bool) {
	switch step {
	case v1.StepNotify:
		if tl.Notify != nil {
			return tl.Notify.Announce, true
		}
	case v1.StepExport:
		if tl.Export != nil {
			return tl.Export.Start, true
		}
	case v1.StepDrain:
		if tl.Drain != nil {
			return tl.Drain.Start, true
		}
	case v1.StepRouting:
		if tl.Routing != nil {
			return tl.Routing.Start, true
		}
	}
	return time.Time{}, false
}

// Steps returns the configured steps in the order they run.
func (tl *Timeline) Steps() []v1.StepName {
	var out []v1.StepName
	for _, s := range v1.AllSteps {
		if _, ok := tl.StepDue(s); ok {
			out = append(out, s)
		}
	}
	return out
}

// RequiresApproval reports whether step waits for spec.approvals.
func (tl *Timeline) RequiresApproval(step v1.StepName) bool { return tl.requireApproval[step] }
