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

package plugin

import (
	"context"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
)

// TestReleaseLetsOnlyADeletedWithdrawalGo: release refuses a withdrawal
// that is not being deleted; on one that is, it prints why the operator is
// blocked and what is left behind, never removes the finalizer from a copy
// someone changed since, removes the operator's finalizer and no other,
// and the deletion finishes.
func TestReleaseLetsOnlyADeletedWithdrawalGo(t *testing.T) {
	const ns, elsewhere = "plugin-release", "plugin-release-jobs"
	setup(t, ns)
	ctx := context.Background()
	rw := get(t, ns)
	rw.Finalizers = []string{"example.com/other", finalizer}
	if err := env.Client.Update(ctx, rw); err != nil {
		t.Fatal(err)
	}
	setStatus(t, ns, func(st *v1.RegionWithdrawalStatus) {
		st.Phase = v1.PhaseInProgress
		st.Conditions = []metav1.Condition{{Type: v1.ConditionFinalizeBlocked, Status: metav1.ConditionTrue, Reason: v1.ReasonPermissionDenied,
			Message: "the deletion waits for the export step's cleanup, which failed: jobs is forbidden", LastTransitionTime: metav1.Now()}}
	})
	// What the cleanup would have removed: an export Job in another
	// namespace, and a restore record.
	uid := map[string]string{executor.LabelWithdrawalUID: string(rw.UID)}
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: elsewhere}}); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "export-acme", Namespace: elsewhere, Labels: uid},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "export", Image: "x"}}}}}}); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "route-record", Namespace: ns,
		Labels: map[string]string{executor.LabelWithdrawalUID: string(rw.UID), executor.LabelRecord: "route"}}}); err != nil {
		t.Fatal(err)
	}

	if _, err := run(t, ns, "release", "germany"); err == nil || !strings.Contains(err.Error(), "not being deleted") {
		t.Fatalf("release of a live withdrawal = %v, want a refusal", err)
	}
	if got := get(t, ns).Finalizers; !slices.Contains(got, finalizer) {
		t.Fatalf("the refusal removed the finalizer: %v", got)
	}
	if err := env.Client.Delete(ctx, get(t, ns)); err != nil {
		t.Fatal(err)
	}

	// A copy read before another writer changed the object: the patch's
	// test of the resourceVersion fails, and the finalizer stays.
	stale := get(t, ns)
	changed := stale.DeepCopy()
	changed.Annotations = map[string]string{"example.com/touched": "yes"}
	if err := env.Client.Update(ctx, changed); err != nil {
		t.Fatal(err)
	}
	if err := removeFinalizer(ctx, env.Client, stale); err == nil || !strings.Contains(err.Error(), "changed since it was read") {
		t.Fatalf("removeFinalizer on a stale copy = %v, want a refusal", err)
	}
	if got := get(t, ns).Finalizers; !slices.Contains(got, finalizer) {
		t.Fatalf("a stale patch removed the finalizer: %v", got)
	}

	out, err := run(t, ns, "release", "germany")
	if err != nil {
		t.Fatalf("release = %v\n%s", err, out)
	}
	for _, want := range []string{
		"The operator's cleanup is blocked (PermissionDenied): the deletion waits for the export step's cleanup, which failed: jobs is forbidden",
		"Left behind: export Job " + elsewhere + "/export-acme",
		"Kept: restore record configmap/route-record",
		"regionwithdrawal.withdrawal.ops.dev/germany released",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("release printed no %q:\n%s", want, out)
		}
	}
	got := get(t, ns)
	if !slices.Equal(got.Finalizers, []string{"example.com/other"}) {
		t.Fatalf("finalizers %v, want only the other writer's", got.Finalizers)
	}
	// The other writer lets go too: the deletion finishes.
	got.Finalizers = nil
	if err := env.Client.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(got), &v1.RegionWithdrawal{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get after release = %v, want NotFound", err)
	}
}
