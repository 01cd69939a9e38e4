//go:build e2e

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

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
)

// TestDrainUndoneWhenTheDeadlineIsExtended: the drain has run for date A
// when the deadline is extended to B, whose timeline drains later. The
// operator restores every workload to the replica count it had, says so in
// status, an Event and the ledger, and drains them again at B's drain
// start; the routes switch at B; the ledger verifies and tells the drain
// for A, its undoing, and the drain for B apart.
func TestDrainUndoneWhenTheDeadlineIsExtended(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	const ns = "postpone-drain"
	createNamespace(t, c, ns)
	for _, name := range scenarioApps {
		app(t, c, ns, name, regionLabels)
	}
	if err := c.Create(ctx, regionIngress(ns, "pk-edge", regionLabels)); err != nil {
		t.Fatal(err)
	}
	startNamedOperator(t, "operator", "--watch-namespaces="+ns, "--namespace="+ns, "--evidence-key-secret="+evidenceKeySecret)

	// A is 30 s away and drains from 20 s before it; B is 50 s later.
	dateA := time.Now().Add(30 * time.Second).Truncate(time.Second)
	dateB := dateA.Add(50 * time.Second)
	drainFor := func(cutoff time.Time) time.Time { return cutoff.Add(-20 * time.Second) }
	at := func(d time.Duration) v1.Moment { return v1.Moment{Offset: &metav1.Duration{Duration: d}} }
	zero, two := at(0), intstr.FromInt32(2)
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: ns},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Cutoff: metav1.NewTime(dateA), TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: regionLabels},
			Drain:    &v1.DrainStep{Start: at(-20 * time.Second), MaxUnavailable: &two, Interval: &metav1.Duration{Duration: 2 * time.Second}},
			Routing:  &v1.RoutingStep{At: &zero, Mode: v1.RoutingBlock451},
		},
	}
	if err := c.Create(ctx, rw); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(rw)
	waitFor := func(what string, within time.Duration, cond func(*v1.RegionWithdrawal) bool) *v1.RegionWithdrawal {
		t.Helper()
		return awaitWithdrawal(t, c, key, what, within, cond)
	}
	replicas := func() map[string]int32 {
		t.Helper()
		out := map[string]int32{}
		for _, name := range scenarioApps {
			var d appsv1.Deployment
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d); err != nil {
				t.Fatal(err)
			}
			out[name] = *d.Spec.Replicas
		}
		return out
	}
	allAt := func(n int32) bool {
		for _, r := range replicas() {
			if r != n {
				return false
			}
		}
		return true
	}

	// Drained for A.
	first := waitFor("the drain for A", time.Until(dateA.Add(-3*time.Second)), func(rw *v1.RegionWithdrawal) bool {
		return stepOf(rw, v1.StepDrain).State == v1.StepSucceeded
	})
	if !allAt(0) {
		t.Fatalf("the drain for A finished with replicas %v", replicas())
	}
	drainedAt := stepOf(first, v1.StepDrain).StartedAt.Time

	// The deadline is extended to B before A's routing switch.
	var cur v1.RegionWithdrawal
	if err := c.Get(ctx, key, &cur); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(cur.DeepCopy())
	cur.Spec.Cutoff = metav1.NewTime(dateB)
	if err := c.Patch(ctx, &cur, patch); err != nil {
		t.Fatal(err)
	}
	if !time.Now().Before(dateA) {
		t.Fatalf("extended %s after A: the test ran too slowly to say anything", time.Since(dateA))
	}
	restored := waitFor("the drain undone", 30*time.Second, func(rw *v1.RegionWithdrawal) bool {
		h := rw.Status.Cutoff
		return h != nil && h.DrainRestores == 1 && stepOf(rw, v1.StepDrain).State == v1.StepPending
	})
	if got := replicas(); !allAt(2) {
		t.Errorf("after the drain was undone the replicas are %v, want 2 each as before it", got)
	}
	if !time.Now().Before(drainFor(dateB)) {
		t.Fatalf("the drain was undone after B's drain start: the test ran too slowly to say anything")
	}
	change := restored.Status.Cutoff.Changes[len(restored.Status.Cutoff.Changes)-1]
	if change.Drain != v1.DrainRestoreDone || change.DrainRestoredAt == nil ||
		!strings.Contains(strings.Join(change.Effects, "; "), "is undone: its workloads go back to their recorded replica counts") {
		t.Errorf("the change %+v", change)
	}
	if st := stepOf(restored, v1.StepRouting); st.StartedAt != nil {
		t.Errorf("the routes switched at %s, before B", st.StartedAt)
	}
	var events corev1.EventList
	if err := c.List(ctx, &events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var restoredEvents []string
	for _, e := range events.Items {
		if e.Reason == v1.ReasonDrainRestored {
			restoredEvents = append(restoredEvents, e.Message)
		}
	}
	if !strings.Contains(strings.Join(restoredEvents, "\n"), "drains again at its new start ("+drainFor(dateB).UTC().Format(time.RFC3339)+")") {
		t.Fatalf("DrainRestored Events %q, want one saying when it drains again", restoredEvents)
	}

	// Drained again for B, and switched at B.
	done := waitFor("the withdrawal for B", time.Until(dateB.Add(30*time.Second)), func(rw *v1.RegionWithdrawal) bool {
		return rw.Status.Phase == v1.PhaseCompleted
	})
	again := stepOf(done, v1.StepDrain)
	if again.State != v1.StepSucceeded || again.StartedAt == nil || again.StartedAt.Time.Before(drainFor(dateB)) {
		t.Errorf("the drain for B: %+v, want it started at %s or after", again, drainFor(dateB))
	}
	if !allAt(0) {
		t.Errorf("after B the replicas are %v, want 0", replicas())
	}
	if st := stepOf(done, v1.StepRouting); st.StartedAt == nil || st.StartedAt.Time.Before(dateB) {
		t.Errorf("the routes switched at %v, want at B %s", st.StartedAt, dateB)
	}

	// The ledger tells the drain for A, its undoing and the drain for B.
	done = waitFor("the sealed ledger", 30*time.Second, func(rw *v1.RegionWithdrawal) bool {
		return rw.Status.Evidence != nil && rw.Status.Evidence.Sealed
	})
	r, _ := verifyLedger(t, c, done)
	var story []string
	for _, e := range r.Entries {
		switch ev := e.Event.(type) {
		case *evidence.DrainFinished:
			story = append(story, "drained"+map[bool]string{true: " again", false: ""}[ev.Round == 1])
		case *evidence.CutoffChanged:
			story = append(story, "moved")
		case *evidence.DrainRestored:
			story = append(story, "restored")
		case *evidence.RoutingSwitched:
			story = append(story, "switched")
		}
	}
	if want := "drained; moved; restored; drained again; switched"; strings.Join(story, "; ") != want {
		t.Errorf("the ledger tells %q, want %q", strings.Join(story, "; "), want)
	}
	t.Logf("drained at %s for A; extended to B; restored to %d replicas each (%q); drained again at %s; switched at %s; the ledger tells %q",
		drainedAt.UTC().Format(time.RFC3339), 2, restoredEvents[len(restoredEvents)-1], again.StartedAt.UTC().Format(time.RFC3339), stepOf(done, v1.StepRouting).StartedAt.UTC().Format(time.RFC3339), story)
}
