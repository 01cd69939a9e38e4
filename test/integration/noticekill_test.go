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

package integration

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
)

// TestANoticeSurvivesSIGKILLsOfTheOperator: the operator binary sends a
// notice to 20,000 recipients in four ConfigMaps, by webhook, with its
// evidence ledger on, and is killed with SIGKILL twice while it sends (at
// a delivery drawn from the receiver's count), and started again each
// time. Every recipient gets the notice under its one idempotency key;
// at most one batch is re-sent per kill; status counts every recipient
// sent; and the ledger verifies with one statement per recipient.
func TestANoticeSurvivesSIGKILLsOfTheOperator(t *testing.T) {
	const (
		ns, operatorNS = "notice-kill", "notice-kill-operator"
		recipients     = 20_000
		sources        = 4
		kills          = 2
	)
	ctx := context.Background()
	c := env.Client
	for _, n := range []string{ns, operatorNS} {
		mustCreate(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}})
	}
	rcv := testsrv.NewWebhook([]byte("whsec-kill-test"))
	defer rcv.Close()
	// The kills: the process is killed when the receiver has accepted
	// killAt deliveries; the test waits on killed.
	var killAt atomic.Int64
	killed := make(chan struct{}, kills)
	var pid atomic.Int64
	rcv.OnDelivery = func(n int) {
		if at := killAt.Load(); at > 0 && int64(n) >= at && killAt.CompareAndSwap(at, 0) {
			_ = syscall.Kill(int(pid.Load()), syscall.SIGKILL)
			killed <- struct{}{}
		}
	}
	mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook"}, StringData: map[string]string{"k": "whsec-kill-test"}})
	rw := tenantWithdrawal(ns, "pakistan", time.Hour)
	rw.Spec.Notify = &v1.NotifyStep{Announce: offset(-time.Hour), Final: offset(-30 * time.Minute),
		Webhook: &v1.WebhookChannel{URL: rcv.Server.URL + "/notices", CABundle: rcv.CAPEM(),
			SigningSecretRef: v1.SecretKeyReference{Name: "hook", Key: "k"},
			Limits:           v1.DeliveryLimits{RatePerSecond: 100000, Concurrency: 32, MaxAttempts: 3}}}
	for s := range sources {
		var b strings.Builder
		b.WriteString("id,name\n")
		for i := s * recipients / sources; i < (s+1)*recipients/sources; i++ {
			fmt.Fprintf(&b, "c%05d,Customer %d\n", i, i)
		}
		name := fmt.Sprintf("customers-%d", s)
		mustCreate(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string]string{"list.csv": b.String()}})
		rw.Spec.Notify.Recipients.ConfigMaps = append(rw.Spec.Notify.Recipients.ConfigMaps, v1.RecipientObjectRef{Name: name})
	}

	run := func() *operator {
		op := start(t, "--metrics-bind-address=0", "--health-probe-bind-address=0", "--egress-allow-cidrs=127.0.0.0/8",
			"--namespace="+operatorNS, "--watch-namespaces="+ns)
		pid.Store(int64(op.cmd.Process.Pid))
		return op
	}
	for k := range kills {
		total, _ := rcv.Totals()
		// The k-th kill falls in the k-th part of the list.
		killAt.Store(int64(total) + int64(recipients/(kills+1)) + int64(k*1000))
		op := run()
		if k == 0 {
			mustCreate(t, rw)
		}
		select {
		case <-killed:
		case <-time.After(2 * time.Minute):
			t.Fatalf("kill %d: the receiver never reached %d deliveries (%d so far)", k+1, killAt.Load(), func() int { n, _ := rcv.Totals(); return n }())
		}
		_ = op.cmd.Wait()
	}
	op := run()
	defer op.stop(t)

	var notice v1.NoticeStatus
	pollWithin(t, 2*time.Minute, "the announcement sent to every recipient", func() error {
		got := &v1.RegionWithdrawal{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(rw), got); err != nil {
			return err
		}
		rw = got
		if got.Status.Notify == nil {
			return fmt.Errorf("no notice in status yet")
		}
		for _, n := range got.Status.Notify.Notices {
			if n.Kind == v1.NoticeAnnouncement {
				notice = n
				if n.FinishedAt != nil {
					return nil
				}
				return fmt.Errorf("%d of %d sent", n.Sent, n.Recipients)
			}
		}
		return fmt.Errorf("no announcement in status yet")
	})
	if notice.Sent != recipients || notice.Recipients != recipients || notice.Failed != 0 {
		t.Errorf("status: %d of %d sent, %d failed; want all %d sent", notice.Sent, notice.Recipients, notice.Failed, recipients)
	}

	keys := rcv.Keys()
	resent := 0
	for i := range recipients {
		id := fmt.Sprintf("c%05d", i)
		want := notify.IdempotencyKey(string(rw.IdentityKey()), notice.ID, id)
		if len(keys[id]) != 1 || keys[id][want] == 0 {
			t.Fatalf("%s: keys %v, want only %s", id, keys[id], want)
		}
		resent += keys[id][want] - 1
	}
	t.Logf("%d deliveries re-sent after %d SIGKILLs", resent, kills)
	if resent > kills*notify.DefaultBatchSize {
		t.Errorf("%d deliveries re-sent after %d SIGKILLs, want at most one batch (%d) per kill", resent, kills, notify.DefaultBatchSize)
	}

	// Statements of other events (the plan, the steps) are in the ledger
	// too: one delivery statement per recipient is what is asked.
	pollWithin(t, time.Minute, "the ledger's checkpoint in status", func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(rw), rw); err != nil {
			return err
		}
		if rw.Status.Evidence == nil || rw.Status.Evidence.Statements < recipients {
			return fmt.Errorf("status.evidence %+v", rw.Status.Evidence)
		}
		return nil
	})
	contents, err := ledger.Read(ctx, c, operatorNS, rw.UID)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := contents.Bundle(nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := evidence.Verify(bundle, evidence.VerifyOptions{Key: rw.Status.Evidence.Key, AllowOpen: true})
	if err != nil {
		t.Fatalf("the ledger does not verify: %v", err)
	}
	byKey := map[string]int{}
	for _, d := range r.Deliveries() {
		byKey[d.IdempotencyKey]++
	}
	for k, n := range byKey {
		if n != 1 {
			t.Errorf("the ledger has %d statements of the delivery under key %s, want one", n, k)
		}
	}
	if len(byKey) != recipients {
		t.Errorf("the ledger records %d deliveries, want %d", len(byKey), recipients)
	}
}
