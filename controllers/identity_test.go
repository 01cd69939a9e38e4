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
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
)

// TestAWithdrawalCreatedAgainMidNoticeSendsNothingTwice deletes a
// withdrawal while its announcement is a third of the way through and
// creates it again, as a GitOps tool that pruned and re-applied it would:
// the new object (a new UID) goes on from where the first stopped. Every
// customer gets the announcement once, under one idempotency key, which is
// the withdrawal's identity's and not either object's UID.
func TestAWithdrawalCreatedAgainMidNoticeSendsNothingTwice(t *testing.T) {
	const recipientCount = 3000
	h := newHarness(t, time.Now())
	key := []byte("recreate-test-key")
	rcv := testsrv.NewWebhook(key)
	defer rcv.Close()
	var csv strings.Builder
	csv.WriteString("id,name,email,webhook\n")
	for i := range recipientCount {
		fmt.Fprintf(&csv, "c%05d,Customer %d,,%s/hook\n", i, i, rcv.Server.URL)
	}
	h.create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "recipients", Namespace: h.ns}, Data: map[string]string{"list.csv": csv.String()}})
	h.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook-key", Namespace: h.ns}, Data: map[string][]byte{"k": key}})

	// Deleted once a few hundred have it: at 300 a second the notice
	// takes ten seconds, and each call of the executor sends for three.
	var delivered atomic.Int64
	deleteNow := make(chan struct{})
	rcv.OnDelivery = func(int) {
		if delivered.Add(1) == 400 {
			close(deleteNow)
		}
	}
	now := time.Now()
	withdrawal := func() *v1.RegionWithdrawal {
		return &v1.RegionWithdrawal{
			ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: h.ns},
			Spec: v1.RegionWithdrawalSpec{
				Region: "PK", Cutoff: metav1.NewTime(now.Add(2 * time.Hour).Truncate(time.Second)), TimeZone: "Asia/Karachi",
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{"bes.example.com/region": "pk"}},
				Notify: &v1.NotifyStep{
					Announce:   v1.Moment{At: ptr.To(metav1.NewTime(now.Add(-time.Minute).Truncate(time.Second)))},
					Final:      v1.Moment{Offset: &metav1.Duration{Duration: -time.Hour}},
					Recipients: v1.RecipientSources{ConfigMaps: []v1.RecipientObjectRef{{Name: "recipients", Format: v1.RecipientFormatCSV}}},
					Webhook: &v1.WebhookChannel{SigningSecretRef: v1.SecretKeyReference{Name: "hook-key", Key: "k"}, CABundle: rcv.CAPEM(),
						Limits: v1.DeliveryLimits{RatePerSecond: 300, Concurrency: 16, MaxAttempts: 5, Timeout: &metav1.Duration{Duration: 10 * time.Second}}},
				},
			},
		}
	}
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan struct{})
	go func() { defer close(done); runManager(t, ctx) }()
	defer func() { cancel(); <-done }()

	first := withdrawal()
	h.create(first)
	h.key = client.ObjectKeyFromObject(first)
	select {
	case <-deleteNow:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the announcement did not get going: %d deliveries", delivered.Load())
	}
	if err := h.c.Delete(h.ctx, first); err != nil {
		t.Fatal(err)
	}
	gone := func() bool {
		err := h.c.Get(h.ctx, h.key, &v1.RegionWithdrawal{})
		return apierrors.IsNotFound(err)
	}
	waitFor(t, h, &v1.RegionWithdrawalList{}, "the deleted withdrawal to go", gone)
	before := delivered.Load()
	if before >= recipientCount {
		t.Fatalf("all %d were told before the deletion finished; the test proved nothing", before)
	}

	// Its checkpoints outlived it: nothing owns them, so no garbage
	// collector can take them.
	identity := v1.IdentityKeyOf(h.ns + "/pakistan")
	shards := func() []corev1.ConfigMap {
		var cms corev1.ConfigMapList
		if err := h.c.List(h.ctx, &cms, client.InNamespace(h.ns), client.MatchingLabels{executor.LabelWithdrawalUID: string(identity)}); err != nil {
			t.Fatal(err)
		}
		return cms.Items
	}
	kept := shards()
	if len(kept) == 0 {
		t.Fatal("the deleted withdrawal's notice checkpoints went with it")
	}
	for _, cm := range kept {
		if len(cm.OwnerReferences) != 0 {
			t.Fatalf("kept checkpoint %s is still owned: %v", cm.Name, cm.OwnerReferences)
		}
	}

	second := withdrawal()
	h.create(second)
	finished := func() bool {
		got := &v1.RegionWithdrawal{}
		if err := h.c.Get(h.ctx, h.key, got); err != nil {
			return false
		}
		n := planner.Notice(&got.Status, planner.NoticeIDAnnouncement)
		return n != nil && n.FinishedAt != nil
	}
	waitFor(t, h, &v1.RegionWithdrawalList{}, "the announcement of the withdrawal created again to finish", finished)

	got := h.get()
	if got.UID == first.UID || got.Status.IdentityKey != string(identity) {
		t.Fatalf("created again: UID %s (first %s), identity key %q, want %q", got.UID, first.UID, got.Status.IdentityKey, identity)
	}
	keys := rcv.Keys()
	duplicates := 0
	for i := range recipientCount {
		id := fmt.Sprintf("c%05d", i)
		want := notify.IdempotencyKey(string(identity), planner.NoticeIDAnnouncement, id)
		if len(keys[id]) != 1 || keys[id][want] == 0 {
			t.Fatalf("%s got the announcement under keys %v, want only %s", id, keys[id], want)
		}
		duplicates += keys[id][want] - 1
	}
	// Each call checkpoints what it sent before it returns, and the
	// deletion is handled after the call in flight: nothing the first
	// object sent is sent again.
	if duplicates != 0 {
		t.Fatalf("%d customers were sent the announcement again after the withdrawal was created again", duplicates)
	}
	// The second object sent the rest only.
	if after := delivered.Load() - before; after != recipientCount-before {
		t.Fatalf("the second object delivered %d, want the %d the first had not", after, recipientCount-before)
	}
	t.Logf("%d delivered before the deletion, %d after the re-creation, 0 twice", before, recipientCount-before)
}

// TestTwoWithdrawalsCannotShareAnIdentity: a second withdrawal with the
// withdrawalID of one already in its namespace stalls, saying which, and
// goes on once that one is deleted; the ID cannot be changed.
func TestTwoWithdrawalsCannotShareAnIdentity(t *testing.T) {
	h := newHarness(t, beforeAnnouncement)
	h.regionApp()
	first := h.pakistan(func(s *v1.RegionWithdrawalSpec) { s.WithdrawalID = "pk-2026" })
	h.reconcile()
	if got := h.get(); got.Status.IdentityKey != string(v1.IdentityKeyOf(h.ns+"/pk-2026")) {
		t.Fatalf("status.identityKey %q, want the hash of %s/pk-2026", got.Status.IdentityKey, h.ns)
	}

	second := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Name: "pakistan-again", Namespace: h.ns}, Spec: *first.Spec.DeepCopy()}
	h.create(second)
	h.key = client.ObjectKeyFromObject(second)
	if _, err := h.reconcile(); err == nil {
		t.Fatal("a second withdrawal with the same withdrawalID was accepted")
	}
	got := h.get()
	stalled := meta.FindStatusCondition(got.Status.Conditions, v1.ConditionStalled)
	if stalled == nil || stalled.Status != metav1.ConditionTrue || !strings.Contains(stalled.Message, "withdrawal pakistan, created before this one, is withdrawal "+h.ns+"/pk-2026") {
		t.Fatalf("Stalled: %+v", stalled)
	}

	// An author in another namespace who names the same withdrawalID has
	// a withdrawal of its own: not stalled, and keyed apart, so that its
	// notices cannot take this one's idempotency keys at a receiver.
	other := newHarness(t, beforeAnnouncement)
	other.regionApp()
	other.pakistan(func(s *v1.RegionWithdrawalSpec) { s.WithdrawalID = "pk-2026" })
	if _, err := other.reconcile(); err != nil {
		t.Fatalf("the same withdrawalID in another namespace: %v", err)
	}
	if k, mine := other.get().Status.IdentityKey, string(v1.IdentityKeyOf(h.ns+"/pk-2026")); k == "" || k == mine {
		t.Fatalf("another namespace's withdrawal with the same withdrawalID has key %q, this one's %q", k, mine)
	}

	// The ID cannot be changed, so a copy cannot slip out from under it.
	err := h.c.Update(h.ctx, func() *v1.RegionWithdrawal { rw := got.DeepCopy(); rw.Spec.WithdrawalID = "pk-2027"; return rw }())
	if err == nil || !strings.Contains(err.Error(), "withdrawalID cannot be set, changed or removed") {
		t.Fatalf("changing withdrawalID: %v", err)
	}

	// The first one goes: the second goes on.
	h.key = client.ObjectKeyFromObject(first)
	if err := h.c.Delete(h.ctx, first); err != nil {
		t.Fatal(err)
	}
	h.reconcile() // its finalizer
	if err := h.c.Get(h.ctx, h.key, &v1.RegionWithdrawal{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the first withdrawal is still there: %v", err)
	}
	h.key = client.ObjectKeyFromObject(second)
	if _, err := h.reconcile(); err != nil {
		t.Fatalf("the second withdrawal after the first went: %v", err)
	}
	if c := meta.FindStatusCondition(h.get().Status.Conditions, v1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue {
		t.Fatalf("still stalled: %s", c.Message)
	}
}
