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
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// maxSlotScan bounds every loop over schedule slots, so that a schedule that
// fires every minute after a year of downtime still plans in microseconds.
const maxSlotScan = 10000

// Recurrence is a cron schedule evaluated on the wall clock of a time zone.
//
// robfig/cron evaluates schedules in a location, but its handling of
// daylight-saving changes is not what a withdrawal needs. So the schedule is
// evaluated on a "naive" axis — the zone's wall-clock readings written as if
// they were UTC, where every day has 24 hours — and each naive slot is then
// mapped to a real instant:
//   - a wall-clock time that a spring-forward change skips maps to the instant
//     the clocks jump (the next valid instant), so it fires once;
//   - a wall-clock time that a fall-back change repeats maps to its first
//     occurrence only, so it fires once.
type Recurrence struct {
	expr     string
	schedule cron.Schedule
	loc      *time.Location
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ErrInvalidSchedule wraps every reason a cron expression is refused.
var ErrInvalidSchedule = errors.New("invalid cron schedule")

// ParseRecurrence parses a five-field cron expression or a descriptor such as
// "@weekly", to be evaluated in loc.
func ParseRecurrence(expr string, loc *time.Location) (*Recurrence, error) {
	trimmed := strings.TrimSpace(expr)
	switch {
	case trimmed == "":
		return nil, fmt.Errorf("%w: empty", ErrInvalidSchedule)
	case strings.HasPrefix(trimmed, "TZ=") || strings.HasPrefix(trimmed, "CRON_TZ="):
		return nil, fmt.Errorf("%w %q: set spec.timeZone instead of a TZ= prefix", ErrInvalidSchedule, expr)
	case strings.HasPrefix(trimmed, "@every"):
		return nil, fmt.Errorf("%w %q: @every is not anchored to the wall clock; use a cron expression such as \"0 9 * * *\"", ErrInvalidSchedule, expr)
	}
	s, err := cronParser.Parse(trimmed)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrInvalidSchedule, expr, err)
	}
	// The naive axis is UTC by construction; see the type comment.
	if spec, ok := s.(*cron.SpecSchedule); ok {
		spec.Location = time.UTC
	}
	return &Recurrence{expr: expr, schedule: s, loc: loc}, nil
}

// String returns the cron expression.
func (r *Recurrence) String() string { return r.expr }

// Next returns the first slot strictly after t, and false when the schedule
// has no slot in the next five years (for example "0 0 30 2 *").
func (r *Recurrence) Next(t time.Time) (time.Time, bool) {
	// Near a daylight-saving change, start a little before t on the naive
	// axis: after a fall-back the wall clock reads earlier than it did an hour
	// ago, and a slot in that repeated hour may still lie ahead of t in real
	// time. Elsewhere start at t, which keeps a minutely schedule cheap.
	cursor := naive(t, r.loc)
	_, offBefore := t.Add(-3 * time.Hour).In(r.loc).Zone()
	_, offAfter := t.Add(3 * time.Hour).In(r.loc).Zone()
	if offBefore != offAfter {
		cursor = cursor.Add(-3 * time.Hour)
	}
	for range maxSlotScan {
		n := r.schedule.Next(cursor)
		if n.IsZero() {
			return time.Time{}, false
		}
		if s := wallToInstant(n, r.loc); s.After(t) {
			return s, true
		}
		cursor = n
	}
	return time.Time{}, false
}

// Missed returns the slots in (after, upTo]: the latest of them and how many
// there are. count is capped at maxSlotScan; it is exact below that.
func (r *Recurrence) Missed(after, upTo time.Time) (latest time.Time, count int) {
	cursor := after
	for count < maxSlotScan {
		s, ok := r.Next(cursor)
		if !ok || s.After(upTo) {
			return latest, count
		}
		latest, count = s, count+1
		cursor = s
	}
	// Too many to walk one by one: find the latest directly by searching
	// backwards from upTo in widening windows.
	for back := time.Minute; ; back *= 2 {
		from := upTo.Add(-back)
		if !from.After(cursor) {
			from = cursor
		}
		s, ok := r.Next(from)
		if ok && !s.After(upTo) {
			latest = s
			for range maxSlotScan {
				nx, ok := r.Next(latest)
				if !ok || nx.After(upTo) {
					break
				}
				latest = nx
			}
			return latest, count
		}
		if !from.After(cursor) {
			return latest, count
		}
	}
}

// naive returns t's wall-clock reading in loc, labelled as UTC.
func naive(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// wallToInstant maps a naive wall-clock reading to the instant it names in
// loc: its first occurrence, or, when a daylight-saving change skips it, the
// instant the clocks jump.
func wallToInstant(n time.Time, loc *time.Location) time.Time {
	// Collect the UTC offsets in force around n; a zone changes offset at
	// most a few times a year, so a day either side sees every candidate.
	var offsets []int
	for _, probe := range []time.Duration{-26 * time.Hour, 0, 26 * time.Hour} {
		_, off := n.Add(probe).In(loc).Zone()
		seen := false
		for _, o := range offsets {
			seen = seen || o == off
		}
		if !seen {
			offsets = append(offsets, off)
		}
	}
	var best time.Time
	for _, off := range offsets {
		c := n.Add(-time.Duration(off) * time.Second)
		if naive(c, loc).Equal(n) && (best.IsZero() || c.Before(best)) {
			best = c
		}
	}
	if !best.IsZero() {
		return best
	}
	// n falls in a gap. Between the instant that would read n under the
	// later (larger) offset and the one under the earlier offset lies the
	// jump; find its first second by bisection.
	lo, hi := n.Add(-26*time.Hour), n.Add(26*time.Hour)
	for _, off := range offsets {
		c := n.Add(-time.Duration(off) * time.Second)
		if naive(c, loc).Before(n) && c.After(lo) {
			lo = c
		}
		if naive(c, loc).After(n) && c.Before(hi) {
			hi = c
		}
	}
	for hi.Sub(lo) > time.Second {
		mid := lo.Add(hi.Sub(lo) / 2).Truncate(time.Second)
		if !mid.After(lo) {
			break
		}
		if naive(mid, loc).Before(n) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}
