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

package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

func TestMetrics(t *testing.T) {
	cutoff := time.Date(2026, 12, 29, 19, 0, 0, 0, time.UTC)
	dayBeforeCutoff := cutoff.Add(-24 * time.Hour)
	clk := clocktesting.NewFakeClock(dayBeforeCutoff)
	m := New(clk)
	reg := prometheus.NewRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bes-system", Name: "pakistan"},
		Spec:       v1.RegionWithdrawalSpec{Region: "PK", Cutoff: metav1.NewTime(cutoff)},
		Status: v1.RegionWithdrawalStatus{Steps: []v1.StepStatus{
			{Name: v1.StepDrain, State: v1.StepRunning},
			{Name: v1.StepRouting, State: v1.StepPending},
		}},
	}
	m.Observe(rw)
	m.ObserveLateness(v1.StepRouting, "Start", 120*time.Millisecond)

	want := `
# HELP region_withdrawal_seconds_until_cutoff Seconds from now until the withdrawal's legal cutoff; negative once it has passed.
# TYPE region_withdrawal_seconds_until_cutoff gauge
region_withdrawal_seconds_until_cutoff{name="pakistan",namespace="bes-system",region="PK"} 86400
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "region_withdrawal_seconds_until_cutoff"); err != nil {
		t.Fatal(err)
	}
	// The gauge follows the clock between reconciles.
	clk.Step(25 * time.Hour)
	want = strings.Replace(want, "} 86400", "} -3600", 1)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "region_withdrawal_seconds_until_cutoff"); err != nil {
		t.Fatal(err)
	}
	if v := testutil.ToFloat64(m.stepState.WithLabelValues("bes-system", "pakistan", "drain", "Running")); v != 1 {
		t.Fatalf("drain Running = %v, want 1", v)
	}
	if v := testutil.ToFloat64(m.stepState.WithLabelValues("bes-system", "pakistan", "drain", "Pending")); v != 0 {
		t.Fatalf("drain Pending = %v, want 0", v)
	}
	if n := testutil.CollectAndCount(m.lateness); n != 1 {
		t.Fatalf("%d lateness series, want 1", n)
	}

	// Stalled: one series per withdrawal, carrying the current reason.
	if v := testutil.ToFloat64(m.stalled.WithLabelValues("bes-system", "pakistan", "")); v != 0 {
		t.Fatalf("stalled = %v before any Stalled condition, want 0", v)
	}
	meta.SetStatusCondition(&rw.Status.Conditions, metav1.Condition{Type: v1.ConditionStalled, Status: metav1.ConditionTrue, Reason: "PermissionDenied"})
	m.Observe(rw)
	if n := testutil.CollectAndCount(m.stalled); n != 1 {
		t.Fatalf("%d stalled series, want 1", n)
	}
	if v := testutil.ToFloat64(m.stalled.WithLabelValues("bes-system", "pakistan", "PermissionDenied")); v != 1 {
		t.Fatalf("stalled{reason=PermissionDenied} = %v, want 1", v)
	}

	// Handoff: who has fetched, while the withdrawal asks for links.
	rw.Spec.Export = &v1.ExportStep{Handoff: &v1.ExportHandoff{}}
	rw.Status.Steps = append(rw.Status.Steps, v1.StepStatus{Name: v1.StepExport, State: v1.StepSucceeded,
		Export: &v1.ExportStatus{Handoff: &v1.HandoffStatus{Links: 10, Fetched: 7, NotFetched: 3}}})
	m.Observe(rw)
	if f, nf := testutil.ToFloat64(m.handoff.WithLabelValues("bes-system", "pakistan", "fetched")), testutil.ToFloat64(m.handoff.WithLabelValues("bes-system", "pakistan", "not_fetched")); f != 7 || nf != 3 {
		t.Fatalf("handoff customers fetched %v, not fetched %v; want 7, 3", f, nf)
	}
	rw.Spec.Export.Handoff = nil
	m.Observe(rw)
	if n := testutil.CollectAndCount(m.handoff); n != 0 {
		t.Fatalf("%d handoff series once the withdrawal asks for no links, want 0", n)
	}

	// The ledger's bytes in etcd, from status.
	rw.Status.Evidence = &v1.EvidenceStatus{Statements: 1000, StoredBytes: 340_000}
	m.Observe(rw)
	if v := testutil.ToFloat64(m.evidence.WithLabelValues("bes-system", "pakistan")); v != 340_000 {
		t.Fatalf("evidence stored bytes = %v, want 340000", v)
	}

	m.Forget(types.NamespacedName{Namespace: "bes-system", Name: "pakistan"})
	if n := testutil.CollectAndCount(m.evidence); n != 0 {
		t.Fatalf("%d evidence series after Forget, want 0", n)
	}
	if n := testutil.CollectAndCount(m.stepState); n != 0 {
		t.Fatalf("%d step-state series after Forget, want 0", n)
	}
	if n := testutil.CollectAndCount(m.stalled); n != 0 {
		t.Fatalf("%d stalled series after Forget, want 0", n)
	}
	if n := testutil.CollectAndCount(m, "region_withdrawal_seconds_until_cutoff"); n != 0 {
		t.Fatalf("%d cutoff series after Forget, want 0", n)
	}
}
