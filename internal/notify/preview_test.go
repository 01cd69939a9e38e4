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
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients/sources"
)

// TestPreviewSaysWhoIsLeftOut: the rehearsal and the plan say that the
// reminders skip who has fetched, and when the links expire.
func TestPreviewSaysWhoIsLeftOut(t *testing.T) {
	rw := &v1.RegionWithdrawal{Spec: v1.RegionWithdrawalSpec{
		Cutoff: metav1.NewTime(time.Date(2026, 12, 29, 19, 0, 0, 0, time.UTC)),
		Notify: &v1.NotifyStep{Webhook: &v1.WebhookChannel{}, Reminders: &v1.ReminderSchedule{Schedule: "@weekly", Audience: v1.AudienceUnfetched}},
		Export: &v1.ExportStep{Handoff: &v1.ExportHandoff{ExpiresAfter: &metav1.Duration{Duration: 48 * time.Hour}}},
	}}
	note := Preview(rw, &sources.Summary{Recipients: 3}).Note
	for _, want := range []string{"reminders leave out the customers who have fetched", "personal download link, expiring 2026-12-31 19:00 UTC"} {
		if !strings.Contains(note, want) {
			t.Errorf("note %q lacks %q", note, want)
		}
	}
	rw.Spec.Notify.Reminders.Audience, rw.Spec.Export = v1.AudienceAll, nil
	if note := Preview(rw, &sources.Summary{Recipients: 3}).Note; note != "" {
		t.Errorf("without handoff the note is %q, want none", note)
	}
}
