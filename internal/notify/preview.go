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

package notify

import (
	"fmt"
	"strings"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients/sources"
)

// Preview is who the notices would reach, from a read of the recipient
// sources (sum). The rehearsal and `kubectl withdrawal plan` show it.
func Preview(rw *v1.RegionWithdrawal, sum *sources.Summary) executor.Preview {
	p := executor.Preview{
		Recipients: sum.Recipients,
		Summary:    fmt.Sprintf("send each notice to %d recipients by %s", sum.Recipients, strings.Join(Channels(rw), " and ")),
	}
	var notes []string
	if sum.ProblemCount > 0 {
		notes = append(notes, fmt.Sprintf("%d records skipped (first: %s)", sum.ProblemCount, sum.Problems[0]))
	}
	if sum.DuplicateCount > 0 {
		notes = append(notes, fmt.Sprintf("%d duplicate ids (first: %s)", sum.DuplicateCount, sum.Duplicates[0]))
	}
	if len(sum.Unread) > 0 {
		notes = append(notes, "counted at send time: "+strings.Join(sum.Unread, ", "))
	}
	if n := rw.Spec.Notify; n.Reminders != nil && n.Reminders.Audience == v1.AudienceUnfetched {
		notes = append(notes, "reminders leave out the customers who have fetched their archive by then")
	}
	if rw.Spec.Export != nil && rw.Spec.Export.Handoff != nil {
		notes = append(notes, "each customer with their own encrypted archive gets a personal download link, expiring "+
			rw.Spec.Export.Handoff.HandoffExpiry(rw.Spec.Cutoff.Time).UTC().Format("2006-01-02 15:04 UTC")+" (or sooner, if the installation caps links' lifetime)")
	}
	p.Note = strings.Join(notes, "; ")
	return p
}

// Channels names the channels the withdrawal notifies by.
func Channels(rw *v1.RegionWithdrawal) []string {
	var out []string
	if rw.Spec.Notify.Webhook != nil {
		out = append(out, "webhook")
	}
	if rw.Spec.Notify.Email != nil {
		out = append(out, "email")
	}
	return out
}
