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

package notify_test

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify"
)

// TestTheFinalizerKeepsNoticeRecordsOnlyForAWithdrawalThatGoesOn: a
// withdrawal deleted before it ended keeps its notice checkpoints, for the
// one created again; one that ended, and one whose records are under its
// UID (an earlier release began it, so nothing could take them over),
// deletes them; one refused for an ID another holds touches none.
func TestTheFinalizerKeepsNoticeRecordsOnlyForAWithdrawalThatGoesOn(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status v1.RegionWithdrawalStatus
		kept   bool
	}{
		{"deleted mid-withdrawal", v1.RegionWithdrawalStatus{Phase: v1.PhaseInProgress, Steps: []v1.StepStatus{{Name: v1.StepNotify}}}, true},
		{"completed", v1.RegionWithdrawalStatus{Phase: v1.PhaseCompleted, Steps: []v1.StepStatus{{Name: v1.StepNotify}}}, false},
		{"cancelled", v1.RegionWithdrawalStatus{Phase: v1.PhaseCancelled, Steps: []v1.StepStatus{{Name: v1.StepNotify}}}, false},
		{"begun by an earlier release", v1.RegionWithdrawalStatus{Phase: v1.PhaseInProgress, Steps: []v1.StepStatus{{Name: v1.StepNotify}}, IdentityKey: "legacy"}, false},
		{"refused for an ID another holds", v1.RegionWithdrawalStatus{Phase: v1.PhaseStalled}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			rw := f.withdrawal(&v1.NotifyStep{Webhook: &v1.WebhookChannel{SigningSecretRef: v1.SecretKeyReference{Name: "webhook-key", Key: "key"}}}, 1)
			rw.Status = tc.status
			rw.Status.IdentityKey = string(v1.IdentityKeyOf(rw.ID())) // as the controller records it
			if tc.status.IdentityKey == "legacy" {
				rw.Status.IdentityKey = string(rw.UID)
			}
			for i := range 2 {
				f.create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-notice-announcement-%d", rw.Name, i), Namespace: f.ns,
					Labels: map[string]string{executor.LabelWithdrawalUID: string(rw.IdentityKey()), notify.LabelNotice: "announcement", notify.LabelShard: fmt.Sprint(i)}}})
			}
			if err := notify.New(executorOptions(nil, 0)).Finalize(f.ctx, rw); err != nil {
				t.Fatal(err)
			}
			var left corev1.ConfigMapList
			if err := env.Client.List(f.ctx, &left, client.InNamespace(f.ns), client.MatchingLabels{executor.LabelWithdrawalUID: string(rw.IdentityKey())}); err != nil {
				t.Fatal(err)
			}
			if kept := len(left.Items) == 2; kept != tc.kept || (!tc.kept && len(left.Items) != 0) {
				t.Fatalf("%d of 2 notice checkpoints left, want kept=%v", len(left.Items), tc.kept)
			}
		})
	}
}
