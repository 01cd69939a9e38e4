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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff"
)

// TestTheLinkIndexIsWrittenByTheOperatorOnly: the link index tells the
// Internet-facing handoff endpoint where to send each customer. The
// operator publishes it with the chart's RBAC; the endpoint, whose
// ServiceAccount may create and update ConfigMaps in the release namespace
// (its fetch records), tries to point a customer's link at another host,
// plant an index for a withdrawal, and squat an index shard's name: all
// refused by the records admission policy. It may read the index, and
// nothing of the tenants': no withdrawal, no tenant ConfigMap.
func TestTheLinkIndexIsWrittenByTheOperatorOnly(t *testing.T) {
	install(t)
	ctx := context.Background()
	key := handoff.Key(bytes.Repeat([]byte{5}, 32))
	operator, endpoint := as(t, operatorSA), as(t, handoffSA)
	rw := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Namespace: "shop-pk", Name: "pakistan", UID: types.UID("9a1d0c")},
		Spec: v1.RegionWithdrawalSpec{Cutoff: metav1.NewTime(time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC)),
			Export: &v1.ExportStep{Handoff: &v1.ExportHandoff{}}}}
	publisher := &handoff.Publisher{Client: operator, Reader: operator, Namespace: operatorNS, Key: key}
	arts := map[string]v1.ExportArtifact{"acme": {Recipient: "acme", Location: "https://store.example/pk/acme.tar.gz.age", Encrypted: true}}
	if err := publisher.Publish(ctx, rw, func() (map[string]v1.ExportArtifact, error) { return arts, nil }); err != nil {
		t.Fatalf("the operator, with the chart's RBAC, could not publish the link index: %v", err)
	}
	var shard corev1.ConfigMap
	if err := endpoint.Get(ctx, client.ObjectKey{Namespace: operatorNS, Name: handoff.IndexName(rw.UID, 0)}, &shard); err != nil {
		t.Fatalf("the endpoint cannot read the index it serves: %v", err)
	}

	elsewhere := shard.DeepCopy()
	for k := range elsewhere.Data {
		elsewhere.Data[k] = `{"` + key.Token(rw.UID, "acme") + `":{"c":"00","l":"https://attacker.example/acme.tar.gz.age"}}`
	}
	refused(t, "the endpoint points a customer's link elsewhere", endpoint.Update(ctx, elsewhere), false)
	planted := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: handoff.IndexName("f00d", 0),
		Labels: map[string]string{handoff.LabelIndex: "f00d"}}}
	refused(t, "the endpoint plants an index", endpoint.Create(ctx, planted), false)
	squat := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: handoff.IndexName(rw.UID, 1)}}
	refused(t, "the endpoint squats an index shard's name, unlabelled", endpoint.Create(ctx, squat), false)
	relabelled := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: "looks-harmless",
		Labels: map[string]string{handoff.LabelIndex: string(rw.UID)}}}
	refused(t, "the endpoint creates a ConfigMap labelled as an index", endpoint.Create(ctx, relabelled), false)

	// Nothing of the tenants' is the endpoint's to read.
	refused(t, "the endpoint lists a tenant's ConfigMaps", endpoint.List(ctx, &corev1.ConfigMapList{}, client.InNamespace("shop-pk")), true)
	refused(t, "the endpoint lists withdrawals", endpoint.List(ctx, &v1.RegionWithdrawalList{}), true)

	// The index is as the operator published it, and the operator removes it.
	var after corev1.ConfigMap
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(&shard), &after); err != nil || after.ResourceVersion != shard.ResourceVersion {
		t.Errorf("the index changed under the attacks: %v", err)
	}
	if err := publisher.Remove(ctx, rw.UID); err != nil {
		t.Errorf("the operator could not remove the index: %v", err)
	}
}
