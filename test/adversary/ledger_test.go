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

package adversary

import (
	"bytes"
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
)

// TestTheLedgerIsWrittenByTheOperatorOnly: the operator, as the chart's
// ServiceAccount with the chart's RBAC, keeps a ledger in its namespace.
// The Internet-facing handoff endpoint, whose ServiceAccount may create
// and update ConfigMaps there (its fetch records), and a person granted
// every verb on ConfigMaps there, each try to rewrite a shard, delete it,
// plant the next shard and squat a shard's name: all refused. The handoff
// endpoint's own records are still its to write.
func TestTheLedgerIsWrittenByTheOperatorOnly(t *testing.T) {
	install(t)
	ctx := context.Background()
	operator := as(t, operatorSA)
	l, err := ledger.New(ledger.Options{Client: operator, Reader: operator, Namespace: operatorNS, Key: bytes.Repeat([]byte{9}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	rw := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Namespace: "shop-pk", Name: "pakistan", UID: types.UID("0b5e6c1d")}}
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	if err := l.Append(ctx, rw, &evidence.SpecRecorded{Header: evidence.Header{At: at}, Generation: 1, SpecSHA256: "00"},
		&evidence.Approved{Header: evidence.Header{At: at}, Step: "drain"}); err != nil {
		t.Fatalf("the operator, with the chart's RBAC, could not write its ledger: %v", err)
	}
	var shard corev1.ConfigMap
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: operatorNS, Name: ledger.ShardName(rw.UID, 0)}, &shard); err != nil {
		t.Fatal(err)
	}

	const person = "ops@example.com"
	grant(t, operatorNS, person, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"*"}})
	for _, who := range []string{handoffSA, person} {
		c := as(t, who)
		rewritten := shard.DeepCopy()
		rewritten.Data[ledger.KeyState] = `{"key":"planted"}`
		refused(t, who+" rewrites a shard", c.Update(ctx, rewritten), false)
		// The handoff endpoint may not delete ConfigMaps at all.
		refused(t, who+" deletes a shard", c.Delete(ctx, shard.DeepCopy()), who == handoffSA)
		next := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: ledger.ShardName(rw.UID, 1),
			Labels: shard.Labels}, Data: map[string]string{ledger.KeyState: "{}"}}
		refused(t, who+" plants the next shard", c.Create(ctx, next), false)
		squat := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: ledger.ShardName(rw.UID, 2)}}
		refused(t, who+" squats a shard's name, unlabelled", c.Create(ctx, squat), false)
		relabelled := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: "looks-harmless",
			Labels: map[string]string{ledger.LabelShard: "0"}}}
		refused(t, who+" creates a ConfigMap labelled as a shard", c.Create(ctx, relabelled), false)
		// Statements kept while the ledger refused them go in first at
		// the next append: planting some would put them in the ledger.
		kept := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: "evidence-kept-" + string(rw.UID) + "-0000000000000000-0",
			Labels: map[string]string{ledger.LabelKept: "true", executor.LabelWithdrawalUID: string(rw.UID)}}}
		refused(t, who+" plants statements kept for the next append", c.Create(ctx, kept), false)
	}
	// What the policy does not cover stays the handoff endpoint's.
	if err := as(t, handoffSA).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: "handoff-fetches-0b5e6c1d"}}); err != nil {
		t.Errorf("the handoff endpoint may no longer write its own records: %v", err)
	}
	// And the ledger is as the operator wrote it.
	contents, err := ledger.Read(ctx, operator, operatorNS, rw.UID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := contents.Bundle(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := evidence.Verify(b, evidence.VerifyOptions{Key: l.VerifierKey(), UID: string(rw.UID), AllowOpen: true}); err != nil || len(b.Statements) != 2 {
		t.Errorf("the ledger after the attacks: %d statements, %v", len(b.Statements), err)
	}
}

// TestOnlyTheOperatorWritesStatus: a withdrawal's status records which
// steps started (a started step is past its approval) and the ledger's
// head. A person granted update and patch on regionwithdrawals/status
// tries to mark the drain started and to plant another ledger head:
// refused. The operator's ServiceAccount writes it.
func TestOnlyTheOperatorWritesStatus(t *testing.T) {
	install(t)
	ctx := context.Background()
	const ns, person = "shop-status", "status-writer@example.com"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	rw := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pakistan"},
		Spec: v1.RegionWithdrawalSpec{Region: "PK", Cutoff: metav1.NewTime(time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC)), TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"bes.example.com/region": "pk"}},
			Drain:    &v1.DrainStep{Start: v1.Moment{Offset: &metav1.Duration{Duration: -time.Hour}}, RequireApproval: true}}}
	if err := env.Client.Create(ctx, rw); err != nil {
		t.Fatal(err)
	}
	grant(t, ns, person, rbacv1.PolicyRule{APIGroups: []string{v1.GroupVersion.Group}, Resources: []string{"regionwithdrawals", "regionwithdrawals/status"}, Verbs: []string{"get", "update", "patch"}})
	started := metav1.NewTime(time.Date(2026, 12, 29, 0, 0, 0, 0, time.UTC))
	for _, tc := range []struct {
		name  string
		patch func(*v1.RegionWithdrawal)
	}{
		{name: "marks the drain started, past its approval", patch: func(rw *v1.RegionWithdrawal) {
			rw.Status.Steps = []v1.StepStatus{{Name: v1.StepDrain, State: v1.StepRunning, StartedAt: &started}}
		}},
		{name: "plants another ledger head", patch: func(rw *v1.RegionWithdrawal) {
			rw.Status.Evidence = &v1.EvidenceStatus{Statements: 1, Checkpoint: "withdrawal.ops.dev/x\n1\nAAAA\n", Key: "forged"}
		}},
	} {
		var got v1.RegionWithdrawal
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rw), &got); err != nil {
			t.Fatal(err)
		}
		base := got.DeepCopy()
		tc.patch(&got)
		refused(t, "the status writer "+tc.name, as(t, person).Status().Patch(ctx, &got, client.MergeFrom(base)), false)
	}
	var got v1.RegionWithdrawal
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rw), &got); err != nil {
		t.Fatal(err)
	}
	base := got.DeepCopy()
	got.Status.Phase = v1.PhaseScheduled
	if err := as(t, operatorSA).Status().Patch(ctx, &got, client.MergeFrom(base)); err != nil {
		t.Errorf("the operator may not write status: %v", err)
	}
}
