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

package plugin

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/text"
)

// writeStatus prints a withdrawal's status for people: the time left to the
// cutoff, the phase, the next action, each step, the notices with their
// counts, and the conditions that need attention.
func writeStatus(w io.Writer, rw *v1.RegionWithdrawal, now time.Time) error {
	loc, err := time.LoadLocation(rw.Spec.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	show := func(t *metav1.Time) string {
		if t == nil {
			return "-"
		}
		return t.In(loc).Format("2006-01-02 15:04 MST")
	}
	st := rw.Status
	fmt.Fprintf(w, "%s/%s: region %s, cutoff %s (%s)\n", rw.Namespace, rw.Name, rw.Spec.Region, show(&rw.Spec.Cutoff), timeLeft(rw.Spec.Cutoff.Sub(now)))
	if h := st.Cutoff; h != nil && h.ChangeCount > 0 {
		fmt.Fprintf(w, "Cutoff moved from %s to %s (%d changes", show(&h.Original), show(&h.Current), h.ChangeCount)
		if h.Promised != nil && !h.Promised.Equal(&h.Current) {
			fmt.Fprintf(w, "; customers were first told of %s", show(h.Promised))
		}
		fmt.Fprintln(w, "; kubectl withdrawal plan lists them)")
	}
	fmt.Fprintf(w, "Phase: %s", orDash(string(st.Phase)))
	if rw.Spec.DryRun {
		fmt.Fprint(w, " (dry run)")
	}
	fmt.Fprintln(w)
	if st.NextAction != "" {
		next := ""
		if st.NextActionAt != nil {
			next = fmt.Sprintf(" (%s)", timeLeft(st.NextActionAt.Sub(now)))
		}
		fmt.Fprintf(w, "Next:  %s at %s%s\n", st.NextAction, show(st.NextActionAt), next)
	}
	if st.ObservedGeneration != rw.Generation {
		fmt.Fprintf(w, "(the controller has not seen the latest spec yet: generation %d, observed %d)\n", rw.Generation, st.ObservedGeneration)
	}

	fmt.Fprintln(w)
	if err := writeSteps(w, st, show); err != nil {
		return err
	}
	if err := writeNotices(w, st, show); err != nil {
		return err
	}
	for _, s := range st.Steps {
		if e := s.Export; s.Name == v1.StepExport && e != nil && e.ManifestsRead > 0 {
			fmt.Fprintf(w, "\nExports: %d of %d verified; %d customers have their own archive (from %d manifests)\n", e.Verified, e.Targets, e.Customers, e.ManifestsRead)
		}
		if h := s.Export; s.Name == v1.StepExport && h != nil && h.Handoff != nil {
			writeHandoff(w, h.Handoff, show)
		}
	}

	var attention []string
	for _, c := range st.Conditions {
		abnormal := (c.Type == v1.ConditionReady && c.Status == metav1.ConditionFalse) ||
			(c.Type != v1.ConditionReady && c.Status == metav1.ConditionTrue)
		if abnormal {
			attention = append(attention, fmt.Sprintf("%s=%s (%s): %s", c.Type, c.Status, c.Reason, oneLine(c.Message, 200)))
		}
	}
	if len(attention) > 0 {
		fmt.Fprintln(w, "\nConditions:")
		for _, a := range attention {
			fmt.Fprintf(w, "  %s\n", a)
		}
	}
	if len(st.Irreversible) > 0 {
		fmt.Fprintln(w, "\nCould not be undone:")
		for _, i := range st.Irreversible {
			fmt.Fprintf(w, "  - %s\n", i)
		}
	}
	return nil
}

// writeHandoff says who has fetched their archive through their link.
func writeHandoff(w io.Writer, h *v1.HandoffStatus, show func(*metav1.Time) string) {
	fmt.Fprintf(w, "Handoff links: %d; FETCHED %d, NOT FETCHED %d", h.Links, h.Fetched, h.NotFetched)
	if h.LastFetchAt != nil {
		fmt.Fprintf(w, "; last fetch %s", show(h.LastFetchAt))
	}
	if h.ExpiresAt != nil {
		fmt.Fprintf(w, "; links expire %s", show(h.ExpiresAt))
	}
	fmt.Fprintln(w)
}

// timeLeft says how far away d is, to the minute: "in 3d 4h 5m", or "5m
// ago" once it has passed.
func timeLeft(d time.Duration) string {
	if d > -time.Minute && d < time.Minute {
		return "now"
	}
	past := d < 0
	if past {
		d = -d
	}
	d = d.Truncate(time.Minute)
	days, hours, minutes := int64(d/(24*time.Hour)), int64(d%(24*time.Hour)/time.Hour), int64(d%time.Hour/time.Minute)
	var parts []string
	if days > 0 {
		parts = append(parts, fmt.Sprintf("%dd", days))
	}
	if hours > 0 || days > 0 {
		parts = append(parts, fmt.Sprintf("%dh", hours))
	}
	parts = append(parts, fmt.Sprintf("%dm", minutes))
	if past {
		return strings.Join(parts, " ") + " ago"
	}
	return "in " + strings.Join(parts, " ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine puts s on one line of at most n bytes, cut at a character
// (text.Truncate, which marks the cut with "…"). Line breaks and tabs
// become single spaces: either would break a table's columns.
func oneLine(s string, n int) string {
	return text.Truncate(strings.Join(strings.Fields(s), " "), n)
}

// writeSteps prints one line per step.
func writeSteps(w io.Writer, st v1.RegionWithdrawalStatus, show func(*metav1.Time) string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tSTATE\tDUE\tSTARTED\tFINISHED\tLATE\tPROGRESS\tMESSAGE")
	for _, s := range st.Steps {
		late, progress := "-", "-"
		if s.Lateness != nil && s.Lateness.Duration > 0 {
			late = s.Lateness.Duration.Round(time.Second).String()
		}
		if s.Progress != nil {
			progress = fmt.Sprintf("%d/%d", s.Progress.Done, s.Progress.Total)
		}
		state := string(s.State)
		if s.DryRun {
			state += " (dry run)"
		}
		msg := s.Message
		if s.LastError != "" {
			msg = "error: " + s.LastError
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, state, show(s.DueAt), show(s.StartedAt), show(s.FinishedAt), late, progress, oneLine(msg, 100))
	}
	return tw.Flush()
}

// writeNotices prints one line per notice, with how many recipients it was
// sent to, failed for and has still to reach, then the notices missed.
func writeNotices(w io.Writer, st v1.RegionWithdrawalStatus, show func(*metav1.Time) string) error {
	if st.Notify == nil || (len(st.Notify.Notices) == 0 && len(st.Notify.Missed) == 0) {
		return nil
	}
	fmt.Fprintln(w)
	if len(st.Notify.Notices) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NOTICE\tSCHEDULED\tRECIPIENTS\tSENT\tFAILED\tPENDING\tSTATE")
		for _, n := range st.Notify.Notices {
			state := "sending"
			switch {
			case n.FinishedAt != nil && n.DryRun:
				state = "rehearsed"
			case n.FinishedAt != nil:
				state = "finished"
			}
			if n.MissedSlots > 0 {
				state += fmt.Sprintf(" (%d missed slots folded in)", n.MissedSlots)
			}
			if n.Excluded > 0 {
				why := "fetched"
				if n.Kind == v1.NoticeRescheduled || n.Kind == v1.NoticeCancellation {
					why = "told nothing"
				}
				state += fmt.Sprintf(" (%d left out: %s)", n.Excluded, why)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", n.ID, show(&n.ScheduledAt), n.Recipients, n.Sent, n.Failed, n.Pending, state)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(st.Notify.Missed) > 0 {
		fmt.Fprintf(w, "Missed (due after the cutoff, not sent): %s\n", strings.Join(st.Notify.Missed, ", "))
	}
	return nil
}
