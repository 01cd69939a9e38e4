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

package summarize

import (
	"fmt"
	"strings"
	"time"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// cutoffCondition sets CutoffMoved once the cutoff has moved: True, with
// the latest change, whom it is told to, and what it could not undo.
func cutoffCondition(st *v1.RegionWithdrawalStatus, set func(string, bool, string, string)) {
	h := st.Cutoff
	reason, moved := planner.CutoffMovedReason(h)
	if !moved {
		return
	}
	last := h.Changes[len(h.Changes)-1]
	msg := ChangeMessage(h, last)
	if reason == v1.ReasonNoticeShortened && last.To.Before(h.Promised) {
		// The latest change is not the one that shortened the notice.
		msg = fmt.Sprintf("the cutoff %s is %s earlier than the %s customers were first told of; ", showUTC(h.Current.Time),
			h.Promised.Sub(h.Current.Time).Round(time.Second), showUTC(h.Promised.Time)) + msg
	}
	set(v1.ConditionCutoffMoved, true, reason, msg)
}

// ChangeMessage says what one change of the cutoff was and did.
func ChangeMessage(h *v1.CutoffHistory, c v1.CutoffChange) string {
	var b strings.Builder
	fmt.Fprintf(&b, "the cutoff moved from %s to %s", ShowIn(c.From.Time, c.FromTimeZone), ShowIn(c.To.Time, c.ToTimeZone))
	if c.By != "" {
		fmt.Fprintf(&b, " (by %s)", c.By)
	}
	fmt.Fprintf(&b, " at %s, change %d", showUTC(c.ObservedAt.Time), c.Seq)
	if c.NoticeID != "" {
		fmt.Fprintf(&b, "; customers already told get the Rescheduled notice %s", c.NoticeID)
	} else {
		b.WriteString("; no customer had been told anything, so no Rescheduled notice is sent")
	}
	for _, e := range c.Effects {
		b.WriteString("; ")
		b.WriteString(e)
	}
	switch c.Drain {
	case v1.DrainRestoreRunning:
		b.WriteString("; the drained workloads are being restored")
	case v1.DrainRestoreDone:
		if c.DrainRestoredAt != nil {
			fmt.Fprintf(&b, "; the drained workloads were restored at %s", showUTC(c.DrainRestoredAt.Time))
		}
	}
	return b.String()
}

// cutoffEvents says, for each change since old, what it was: a Warning
// when customers get less notice than they were first promised.
func cutoffEvents(old, new *v1.RegionWithdrawalStatus) []Event {
	h := new.Cutoff
	if h == nil {
		return nil
	}
	seen := int32(0)
	if old.Cutoff != nil {
		seen = old.Cutoff.ChangeCount
	}
	var out []Event
	for _, c := range h.Changes {
		if c.Seq <= seen {
			continue
		}
		e := Event{Reason: v1.ReasonPostponed, Action: "Reschedule", Note: ChangeMessage(h, c)}
		switch {
		case h.Promised != nil && c.To.Before(h.Promised):
			e.Warning, e.Reason = true, v1.ReasonNoticeShortened
		case c.To.Before(&c.From):
			e.Reason = v1.ReasonBroughtForward
		case c.To.Equal(&c.From):
			e.Reason = v1.ReasonTimeZoneChanged
		}
		out = append(out, e)
	}
	return out
}

// ShowIn writes t as people in zone read it, with UTC beside it.
func ShowIn(t time.Time, zone string) string {
	if loc, err := time.LoadLocation(zone); err == nil && zone != "" {
		return t.In(loc).Format("2006-01-02 15:04 MST") + " (" + showUTC(t) + ")"
	}
	return showUTC(t)
}

func showUTC(t time.Time) string { return t.UTC().Format(time.RFC3339) }
