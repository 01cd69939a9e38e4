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
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
)

// TestALedgerCutShortStallsTheWithdrawal: someone who can write the
// installation's namespace deletes a withdrawal's ledger. A restarted
// operator checks the ledger against the head the status recorded, finds
// it cut short, appends nothing, and says so: Stalled and Ready False with
// reason EvidenceTampered, and a Warning Event, while the status counts
// nothing new. Put back, the ledger takes appends again and Stalled clears.
func TestALedgerCutShortStallsTheWithdrawal(t *testing.T) {
	h := newHarness(t, exportStart)
	h.regionApp()
	h.realExecutors()
	rw := h.pakistan(func(s *v1.RegionWithdrawalSpec) { s.Notify, s.Export, s.Drain, s.DryRun = nil, nil, nil, false })
	h.at(exportStart)
	head := h.get().Status.Evidence
	if head == nil || head.Statements < 1 || head.Key != h.ledger.VerifierKey() || head.Fingerprint == "" {
		t.Fatalf("status.evidence = %+v, want the ledger's head", head)
	}

	var shards corev1.ConfigMapList
	if err := h.c.List(h.ctx, &shards, client.InNamespace(h.ns), ledger.Selector(rw.UID)); err != nil || len(shards.Items) == 0 {
		t.Fatalf("%d shards: %v", len(shards.Items), err)
	}
	for i := range shards.Items {
		if err := h.c.Delete(h.ctx, &shards.Items[i]); err != nil {
			t.Fatal(err)
		}
	}
	h.restart()
	h.realExecutors()
	h.update(func(s *v1.RegionWithdrawalSpec) { s.CancelReason = "a new generation, to record" })
	before := h.get()
	_, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key})
	if !errors.Is(err, ledger.ErrTampered) {
		t.Fatalf("reconcile over a ledger cut short: %v, want ErrTampered", err)
	}
	after := h.get()
	if c := condition(after, v1.ConditionStalled); c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonEvidenceTampered {
		t.Errorf("Stalled = %+v, want True, EvidenceTampered", c)
	}
	if c := condition(after, v1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != v1.ReasonEvidenceTampered {
		t.Errorf("Ready = %+v, want False, EvidenceTampered", c)
	}
	if !hasEvent(h.events(), "Warning", v1.ReasonEvidenceTampered, "shards were removed or cut short") {
		t.Error("no EvidenceTampered Warning Event")
	}
	if after.Status.ObservedGeneration != before.Status.ObservedGeneration || *after.Status.Evidence != *before.Status.Evidence {
		t.Errorf("the status moved on over a broken ledger: generation %d→%d, evidence %+v→%+v",
			before.Status.ObservedGeneration, after.Status.ObservedGeneration, before.Status.Evidence, after.Status.Evidence)
	}
	var left corev1.ConfigMapList
	if err := h.c.List(h.ctx, &left, client.InNamespace(h.ns), ledger.Selector(rw.UID)); err != nil || len(left.Items) != 0 {
		t.Errorf("%d shards written over the cut (%v), want none", len(left.Items), err)
	}

	// The shards are put back (from a copy, say): the next reconcile
	// records the new generation and Stalled clears.
	for i := range shards.Items {
		cm := shards.Items[i].DeepCopy()
		cm.ResourceVersion, cm.UID = "", ""
		h.create(cm)
	}
	if _, err := h.reconcile(); err != nil {
		t.Fatal(err)
	}
	if c := condition(h.get(), v1.ConditionStalled); c.Status != metav1.ConditionFalse {
		t.Errorf("Stalled = %+v after the restore, want False", c)
	}
}
