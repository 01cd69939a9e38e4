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
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/metrics"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
	"github.com/ops-dev/region-withdrawal-operator/internal/steps"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
)

// runManager runs the controller with the real notify executor in a
// manager of its own until stop is closed or ctx ends.
func runManager(t *testing.T, ctx context.Context) {
	t.Helper()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 scheme.New(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.RealClock{}
	r := &RegionWithdrawalReconciler{
		Clock: clk, Metrics: metrics.New(clk),
	}
	r.Executors, r.Rehearsal = steps.New(steps.Options{Egress: egress.Loopback(), Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Mapper: mgr.GetRESTMapper(), Clock: clk})
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	if err := mgr.Start(ctx); err != nil {
		t.Errorf("manager: %v", err)
	}
}

// TestManagerStoppedDuringALargeNotice stops the manager at random points
// while it sends a notice to 10,000 recipients, and starts a new one each
// time: afterwards every recipient has the notice, and a recipient that got
// it twice got it with the same idempotency key.
func TestManagerStoppedDuringALargeNotice(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 10,000 notices")
	}
	const recipientCount = 10000
	h := newHarness(t, time.Now())
	key := []byte("crash-test-key")
	rcv := testsrv.NewWebhook(key)
	defer rcv.Close()

	// Two ConfigMaps of recipients, as large lists span several objects.
	for part := range 2 {
		var csv strings.Builder
		csv.WriteString("id,name,email,webhook\n")
		for i := part * recipientCount / 2; i < (part+1)*recipientCount/2; i++ {
			fmt.Fprintf(&csv, "c%05d,Customer %d,,%s/hook\n", i, i, rcv.Server.URL)
		}
		h.create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("recipients-%d", part), Namespace: h.ns}, Data: map[string]string{"list.csv": csv.String()}})
	}
	h.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook-key", Namespace: h.ns}, Data: map[string][]byte{"k": key}})

	// Stop the manager after a random number of deliveries, three times.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var crashAt [3]int64
	for i := range crashAt {
		crashAt[i] = int64(1000 + i*3000 + rng.IntN(2500))
	}
	var delivered atomic.Int64
	stop := make(chan struct{}, 1)
	rcv.OnDelivery = func(n int) {
		d := delivered.Add(1)
		for _, at := range crashAt {
			if d == at {
				select {
				case stop <- struct{}{}:
				default:
				}
			}
		}
	}

	now := time.Now()
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: h.ns},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Cutoff: metav1.NewTime(now.Add(2 * time.Hour).Truncate(time.Second)), TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"bes.example.com/region": "pk"}},
			Notify: &v1.NotifyStep{
				Announce:   v1.Moment{At: ptr.To(metav1.NewTime(now.Add(-time.Minute).Truncate(time.Second)))},
				Final:      v1.Moment{Offset: &metav1.Duration{Duration: -time.Hour}},
				Recipients: v1.RecipientSources{ConfigMaps: []v1.RecipientObjectRef{{Name: "recipients-0", Format: v1.RecipientFormatCSV}, {Name: "recipients-1", Format: v1.RecipientFormatCSV}}},
				Webhook: &v1.WebhookChannel{SigningSecretRef: v1.SecretKeyReference{Name: "hook-key", Key: "k"}, CABundle: rcv.CAPEM(),
					Limits: v1.DeliveryLimits{RatePerSecond: 20000, Concurrency: 32, MaxAttempts: 5, Timeout: &metav1.Duration{Duration: 10 * time.Second}}},
			},
		},
	}
	h.create(rw)
	h.key = client.ObjectKeyFromObject(rw)

	finished := func() bool {
		got := &v1.RegionWithdrawal{}
		if err := h.c.Get(h.ctx, client.ObjectKeyFromObject(rw), got); err != nil {
			return false
		}
		n := planner.Notice(&got.Status, planner.NoticeIDAnnouncement)
		return n != nil && n.FinishedAt != nil
	}
	deadline := time.Now().Add(3 * time.Minute)
	restarts := 0
	for !finished() {
		if time.Now().After(deadline) {
			t.Fatalf("the announcement did not finish; %d deliveries, %d restarts", delivered.Load(), restarts)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); runManager(t, ctx) }()
		// Run until a crash point is hit or the notice is finished; a
		// watch on the withdrawal would serve as well, but the crash
		// points come from the receiver, so the loop waits on both.
		for running := true; running; {
			select {
			case <-stop:
				running = false
				restarts++
			case <-time.After(250 * time.Millisecond):
				running = !finished() && time.Now().Before(deadline)
			}
		}
		cancel()
		<-done
	}

	got := h.get()
	n := planner.Notice(&got.Status, planner.NoticeIDAnnouncement)
	if n.Sent != recipientCount || n.Failed != 0 || n.Pending != 0 {
		t.Fatalf("announcement counts: sent %d failed %d pending %d, want %d/0/0", n.Sent, n.Failed, n.Pending, recipientCount)
	}
	keys := rcv.Keys()
	duplicates := 0
	for i := range recipientCount {
		id := fmt.Sprintf("c%05d", i)
		ks := keys[id]
		if len(ks) == 0 {
			t.Fatalf("recipient %s never got the announcement", id)
		}
		if len(ks) != 1 {
			t.Fatalf("recipient %s got the announcement under %d idempotency keys", id, len(ks))
		}
		for _, count := range ks {
			duplicates += count - 1
		}
	}
	if _, bad := rcv.Totals(); bad != 0 {
		t.Fatalf("%d deliveries with a bad signature", bad)
	}
	t.Logf("%d restarts, %d deliveries for %d recipients (%d duplicates, all under the first key)", restarts, delivered.Load(), recipientCount, duplicates)
	if restarts == 0 {
		t.Fatal("the manager was never stopped mid-notice; the test proved nothing")
	}
}
