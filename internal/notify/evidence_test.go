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
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
)

// TestALedgerThatRefusesNeverResendsADeliveredBatch: the ledger is
// tampered with, so it refuses to append. The first batch goes out; its
// statements cannot be recorded, and it is not sent again: its deliveries
// are checkpointed and its statements kept. Nothing more goes out while
// the ledger refuses. Once it is restored, the kept statements go in
// first and the notice carries on: every recipient got it once, and the
// ledger holds one statement each.
func TestALedgerThatRefusesNeverResendsADeliveredBatch(t *testing.T) {
	const recipients, batch = 10, 4
	rcv := testsrv.NewWebhook([]byte(signingKey))
	defer rcv.Close()
	var csv strings.Builder
	csv.WriteString("id,name,email\n")
	for i := range recipients {
		fmt.Fprintf(&csv, "c%02d,Customer %d,c%02d@example.com\n", i, i, i)
	}
	f := newFixture(t, csv.String())
	rw := f.withdrawal(&v1.NotifyStep{Webhook: webhookChannel(rcv, rcv.Server.URL+"/notices",
		v1.DeliveryLimits{RatePerSecond: 100000, Concurrency: 4, MaxAttempts: 3})}, 1)

	// A ledger with one statement, then its shard rewritten.
	l, err := ledger.New(ledger.Options{Client: env.Client, Reader: env.Client, Namespace: f.ns, Key: evidenceKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(f.ctx, rw, &evidence.SpecRecorded{Header: evidence.Header{At: time.Now()}, Generation: 1, SpecSHA256: "00"}); err != nil {
		t.Fatal(err)
	}
	var shard corev1.ConfigMap
	key := client.ObjectKey{Namespace: f.ns, Name: ledger.ShardName(rw.UID, 0)}
	if err := env.Client.Get(f.ctx, key, &shard); err != nil {
		t.Fatal(err)
	}
	original := shard.Data[ledger.KeyState]
	shard.Data[ledger.KeyState] = `{"key":"planted"}`
	if err := env.Client.Update(f.ctx, &shard); err != nil {
		t.Fatal(err)
	}

	e := f.withEvidence(batch)
	if _, err := e.Execute(f.ctx, rw, announcement); err == nil || !strings.Contains(err.Error(), "kept") {
		t.Fatalf("the first call: %v, want the ledger's refusal, with the batch's statements kept", err)
	}
	sent, _ := rcv.Totals()
	if sent != batch {
		t.Fatalf("%d deliveries in the first call, want one batch (%d)", sent, batch)
	}
	var kept corev1.ConfigMapList
	if err := env.Client.List(f.ctx, &kept, client.InNamespace(f.ns), client.MatchingLabels{ledger.LabelKept: "true"}); err != nil || len(kept.Items) != 1 {
		t.Fatalf("%d ConfigMaps of kept statements (%v), want 1", len(kept.Items), err)
	}
	for range 3 {
		if _, err := e.Execute(f.ctx, rw, announcement); err == nil {
			t.Fatal("the notice went on while the ledger refused")
		}
	}
	if now, _ := rcv.Totals(); now != sent {
		t.Fatalf("%d deliveries while the ledger refused, want none after the first batch's %d", now-sent, sent)
	}

	// Restored, the ledger takes the kept statements, then the rest.
	if err := env.Client.Get(f.ctx, key, &shard); err != nil {
		t.Fatal(err)
	}
	shard.Data[ledger.KeyState] = original
	if err := env.Client.Update(f.ctx, &shard); err != nil {
		t.Fatal(err)
	}
	res := untilDone(t, f.ctx, e, rw, announcement)
	if res.Detail.Notice.Sent != recipients {
		t.Fatalf("after the ledger was restored: %s", res.Message)
	}
	keys := rcv.Keys()
	for i := range recipients {
		id := fmt.Sprintf("c%02d", i)
		if want := notify.IdempotencyKey(string(rw.IdentityKey()), "announcement", id); len(keys[id]) != 1 || keys[id][want] != 1 {
			t.Errorf("%s received %v, want the notice once", id, keys[id])
		}
	}
	r := f.evidence()
	if got := r.Counts()[evidence.KindNoticeDelivered]; got != recipients {
		t.Errorf("%d delivery statements, want %d", got, recipients)
	}
	if err := env.Client.List(f.ctx, &kept, client.InNamespace(f.ns), client.MatchingLabels{ledger.LabelKept: "true"}); err != nil || len(kept.Items) != 0 {
		t.Errorf("%d ConfigMaps of kept statements still waiting once appended (%v)", len(kept.Items), err)
	}
}
