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

package controllers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/steps"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
)

// TestANoticeGoesOutInTheReconcileThatStartsIt: the reconcile at the
// announcement's due time records its start and sends its first batch (here
// the whole notice) before it returns, and the evidence of each delivery is
// in the ledger by then; the reconcile before it sends nothing.
func TestANoticeGoesOutInTheReconcileThatStartsIt(t *testing.T) {
	announce := announcementDue
	h := newHarness(t, announce.Add(-time.Minute))
	key := []byte("notice-due-key")
	rcv := testsrv.NewWebhook(key)
	defer rcv.Close()
	const n = 40
	var csv strings.Builder
	csv.WriteString("id,name,email,webhook\n")
	for i := range n {
		fmt.Fprintf(&csv, "c%02d,Customer %d,,%s/hook\n", i, i, rcv.Server.URL)
	}
	h.create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "recipients", Namespace: h.ns}, Data: map[string]string{"list.csv": csv.String()}})
	h.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook-key", Namespace: h.ns}, Data: map[string][]byte{"k": key}})
	l, err := ledger.New(ledger.Options{Client: env.Client, Reader: env.Client, Namespace: h.ns, Key: []byte("the notice-due test's ledger key")})
	if err != nil {
		t.Fatal(err)
	}
	h.ledger, h.r.Evidence = l, l
	h.r.Executors, _ = steps.New(steps.Options{Client: env.Client, APIReader: env.Client, Mapper: env.Client.RESTMapper(), Clock: h.clock, Recorder: h.rec,
		Egress: egress.Loopback(), Evidence: l})
	h.pakistan(func(s *v1.RegionWithdrawalSpec) {
		s.DryRun, s.Export, s.Drain, s.Routing = false, nil, nil, nil
		s.Notify.Reminders = nil
		s.Notify.Recipients = v1.RecipientSources{ConfigMaps: []v1.RecipientObjectRef{{Name: "recipients", Format: v1.RecipientFormatCSV}}}
		s.Notify.Webhook = &v1.WebhookChannel{SigningSecretRef: v1.SecretKeyReference{Name: "hook-key", Key: "k"}, CABundle: rcv.CAPEM(),
			Limits: v1.DeliveryLimits{RatePerSecond: 1000, Concurrency: 8, MaxAttempts: 3}}
	})

	h.at(announce.Add(-time.Second))
	if total, _ := rcv.Totals(); total != 0 {
		t.Fatalf("%d deliveries before the announcement was due", total)
	}

	h.at(announce)
	// (The receiver finds the signatures stale: they carry the fake
	// clock's time. Signatures are tested where the clock is real.)
	if total, _ := rcv.Totals(); total != n {
		t.Fatalf("the reconcile at the due time delivered %d, want all %d", total, n)
	}
	rw := h.get()
	notice := planner.Notice(&rw.Status, planner.NoticeIDAnnouncement)
	if notice == nil || notice.Sent != n || notice.FinishedAt == nil {
		t.Fatalf("announcement status %+v, want %d sent and finished", notice, n)
	}
	r := h.evidence(rw)
	if got := r.Counts()[evidence.KindNoticeDelivered]; got != n {
		t.Errorf("%d deliveries in the ledger, want %d", got, n)
	}
}
