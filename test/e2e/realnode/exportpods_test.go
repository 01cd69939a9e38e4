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

package realnode

import (
	"context"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
)

// storeTokenSecret is the Secret the export pods read the object store's
// token from: the one Secret the installation lets them read.
const storeTokenSecret = "pk-export-token"

// exportPodsAreHeldToTheInstallationsPolicy is an author's attempt, in the
// tenant's namespace, to have the export Job's pod read a Secret the
// installation did not name (the database password next to the app) and
// run as the withdrawal's own ServiceAccount, which may scale the
// namespace: the withdrawal stalls with InvalidSpec naming both, and no
// Job, and so no pod, is ever made.
func exportPodsAreHeldToTheInstallationsPolicy(t *testing.T, c client.Client) {
	t.Helper()
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "messaging-db", Namespace: tenantNS},
		Data: map[string][]byte{"password": []byte("hunter2")}}); err != nil {
		t.Fatal(err)
	}
	at := func(d time.Duration) v1.Moment { return v1.Moment{Offset: &metav1.Duration{Duration: d}} }
	peek := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "peek", Namespace: tenantNS},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Cutoff: metav1.NewTime(time.Now().Add(24 * time.Hour).Truncate(time.Second)), TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: regionLabels},
			Export: &v1.ExportStep{Start: at(-23 * time.Hour), Deadline: at(-time.Hour),
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever, ServiceAccountName: "region-withdrawal", SecurityContext: restrictedPod(),
					Containers: []corev1.Container{{Name: "exporter", Image: operatorImage, ImagePullPolicy: corev1.PullIfNotPresent,
						Args: []string{"export", "--source=/db", "--destination=http://" + regionHost + "/loot"}, SecurityContext: restrictedContainer(),
						VolumeMounts: []corev1.VolumeMount{{Name: "db", MountPath: "/db", ReadOnly: true}}}},
					Volumes: []corev1.Volume{{Name: "db", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "messaging-db"}}}},
				}}}}},
		},
	}
	if err := c.Create(ctx, peek); err != nil {
		t.Fatal(err)
	}
	var got v1.RegionWithdrawal
	var stalled *metav1.Condition
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(peek), &got); err != nil {
			return false, nil
		}
		stalled = meta.FindStatusCondition(got.Status.Conditions, v1.ConditionStalled)
		return stalled != nil && stalled.Status == metav1.ConditionTrue, nil
	}); err != nil {
		dump(t, tenantNS)
		t.Fatalf("the withdrawal whose export reads another Secret did not stall: %+v", got.Status.Conditions)
	}
	for _, want := range []string{v1.ReasonInvalidSpec, `reads Secret "messaging-db"`, `runs as ServiceAccount "region-withdrawal"`} {
		if !strings.Contains(stalled.Reason+" "+stalled.Message, want) {
			t.Errorf("the Stalled condition does not say %q: %s: %s", want, stalled.Reason, stalled.Message)
		}
	}
	var jobs batchv1.JobList
	if err := c.List(ctx, &jobs, client.InNamespace(tenantNS), client.MatchingLabels{executor.LabelWithdrawalUID: string(got.UID)}); err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 0 {
		t.Fatalf("%d export Jobs were made from the refused template", len(jobs.Items))
	}
	t.Logf("refused: %s", stalled.Message)
	if err := c.Delete(ctx, peek); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		return apierrors.IsNotFound(c.Get(ctx, client.ObjectKeyFromObject(peek), &v1.RegionWithdrawal{})), nil
	}); err != nil {
		t.Fatalf("the refused withdrawal was not deleted: %v", err)
	}
}

// checkExportPod: the export Job's pod really ran as the installation's
// exporter ServiceAccount, with no API token mounted, and read the one
// Secret it may (the store took the archive only with that token).
func checkExportPod(t *testing.T, c client.Client, rw *v1.RegionWithdrawal) {
	t.Helper()
	var pods corev1.PodList
	if err := c.List(context.Background(), &pods, client.InNamespace(tenantNS), client.MatchingLabels{executor.LabelWithdrawalUID: string(rw.UID)}); err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, p := range pods.Items {
		if p.Labels["app.kubernetes.io/name"] == "notice-backend" || p.Spec.NodeName == "" {
			continue
		}
		if len(p.Spec.Containers) == 0 || p.Spec.Containers[0].Name != "exporter" {
			continue
		}
		ran++
		if p.Spec.ServiceAccountName != "region-withdrawal-exporter" {
			t.Errorf("export pod %s ran as ServiceAccount %q, want region-withdrawal-exporter", p.Name, p.Spec.ServiceAccountName)
		}
		if a := p.Spec.AutomountServiceAccountToken; a == nil || *a {
			t.Errorf("export pod %s may mount an API token: automountServiceAccountToken %v", p.Name, a)
		}
		for _, v := range p.Spec.Volumes {
			if v.Projected != nil {
				t.Errorf("export pod %s has a projected volume %s (an API token?)", p.Name, v.Name)
			}
		}
		if p.Status.Phase != corev1.PodSucceeded {
			t.Errorf("export pod %s ended %s", p.Name, p.Status.Phase)
		}
	}
	if ran == 0 {
		t.Fatal("no export pod ran on the node")
	}
}
