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
	"strconv"
	"time"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// Entry is one dated line of a withdrawal's timeline, for people: what
// happens when, and what it waits for.
type Entry struct {
	At   time.Time
	Name string
	Step v1.StepName
	// Note says what the entry waits for or means, e.g. "requires approval".
	Note string
}

// maxListedReminders caps the reminder slots Entries lists; the rest are
// summarised in one entry. The operator refuses reminders closer than an
// hour, so a real schedule stays far below it; the cap keeps an offline
// plan of a minutely one from listing tens of thousands.
const maxListedReminders = 10000

// Entries lists the whole timeline in order, as the planner will run it
// with nothing late: every notice (each reminder slot), every step, the
// export deadline and the cutoff.
func (tl *Timeline) Entries() []Entry {
	var out []Entry
	approval := func(step v1.StepName) string {
		if tl.RequiresApproval(step) {
			return "requires approval: add \"" + string(step) + "\" to spec.approvals"
		}
		return ""
	}
	if n := tl.Notify; n != nil {
		out = append(out, Entry{At: n.Announce, Name: "notify:announcement", Step: v1.StepNotify, Note: approval(v1.StepNotify)})
		if n.Reminders != nil {
			cursor, listed := n.ReminderStart.Add(-time.Nanosecond), 0
			if cursor.Before(n.Announce) {
				cursor = n.Announce
			}
			for {
				next, ok := n.Reminders.Next(cursor)
				if !ok || !next.Before(n.Final) {
					break
				}
				if listed == maxListedReminders {
					_, rest := n.Reminders.Missed(cursor, n.Final.Add(-time.Nanosecond))
					out = append(out, Entry{At: next, Name: "notify:reminder", Step: v1.StepNotify, Note: "and more reminders: " + itoa(rest) + " in all from here to the final notice"})
					break
				}
				out = append(out, Entry{At: next, Name: "notify:reminder", Step: v1.StepNotify, Note: "cron " + n.Reminders.String()})
				listed++
				cursor = next
			}
		}
		out = append(out, Entry{At: n.Final, Name: "notify:final", Step: v1.StepNotify})
	}
	if e := tl.Export; e != nil {
		out = append(out, Entry{At: e.Start, Name: "export", Step: v1.StepExport, Note: approval(v1.StepExport)})
		out = append(out, Entry{At: e.Deadline, Name: "export:deadline", Step: v1.StepExport, Note: "every export verified by now"})
	}
	if d := tl.Drain; d != nil {
		note := approval(v1.StepDrain)
		if tl.Export != nil {
			note = join(note, "waits for verified exports")
		}
		out = append(out, Entry{At: d.Start, Name: "drain", Step: v1.StepDrain, Note: note})
	}
	if r := tl.Routing; r != nil {
		out = append(out, Entry{At: r.Start, Name: "routing", Step: v1.StepRouting, Note: join(approval(v1.StepRouting), "runs at its time even if earlier steps are late")})
	}
	out = append(out, Entry{At: tl.Cutoff, Name: "cutoff", Note: "the legal deadline"})
	slices.SortStableFunc(out, func(a, b Entry) int { return a.At.Compare(b.At) })
	return out
}

func join(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// itoa writes a slot count, which Missed caps at maxSlotScan.
func itoa(n int) string {
	if n >= maxSlotScan {
		return "at least " + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}
