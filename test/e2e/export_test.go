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
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
)

// exportGate is a scheduling gate on the export Job pods: kwok only plays
// the kubelet for pods on its nodes, so a gated pod is completed by nobody
// but the test, which writes what the reference exporter would — its result
// as the termination message. The simulated cluster's Job controller does
// the rest.
const exportGate = "e2e.withdrawal.ops.dev/exporter"

// TestOperatorExportsBeforeItDrains runs the operator on the simulated
// cluster with an export whose first Job reports a malformed result: the
// export retries, verifies the second result, and only then does the drain
// start; at the cutoff the routes' rules are removed (mode Remove).
func TestOperatorExportsBeforeItDrains(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	ns := "export-e2e"
	createNamespace(t, c, ns)
	app(t, c, ns, "messaging", regionLabels)
	if err := c.Create(ctx, regionIngress(ns, "pk-edge", regionLabels)); err != nil {
		t.Fatal(err)
	}

	startOperator(t, "--watch-namespaces="+ns)

	offset := func(d time.Duration) v1.Moment { return v1.Moment{Offset: &metav1.Duration{Duration: d}} }
	zero := offset(0)
	cutoff := time.Now().Add(60 * time.Second).Truncate(time.Second)
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: ns},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Cutoff: metav1.NewTime(cutoff), TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: regionLabels},
			Export: &v1.ExportStep{Start: offset(-55 * time.Second), Deadline: offset(-30 * time.Second), Per: v1.ExportPerNamespace, MaxAttempts: 3,
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					SchedulingGates: []corev1.PodSchedulingGate{{Name: exportGate}}, RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "exporter", Image: "ghcr.io/ops-dev/region-withdrawal-operator:v0.1.0", Args: []string{"export", "--source=/data"}}},
				}}}}},
			Drain:   &v1.DrainStep{Start: offset(-30 * time.Second), Interval: &metav1.Duration{Duration: time.Second}, Timeout: &metav1.Duration{Duration: 25 * time.Second}},
			Routing: &v1.RoutingStep{At: &zero, Mode: v1.RoutingRemove},
		},
	}
	if err := c.Create(ctx, rw); err != nil {
		t.Fatal(err)
	}

	// Act as the exporter: complete each export pod once, the first with a
	// malformed result, the next ones with a valid one.
	completed := map[string]bool{}
	var exportVerifiedAt time.Time
	var got v1.RegionWithdrawal
	err := wait.PollUntilContextTimeout(ctx, 300*time.Millisecond, time.Until(cutoff)+60*time.Second, true, func(ctx context.Context) (bool, error) {
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(ns), client.HasLabels{executor.LabelWithdrawalUID}); err != nil {
			return false, err
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if completed[p.Name] || p.Status.Phase == corev1.PodSucceeded {
				continue
			}
			msg := fmt.Sprintf(`{"version":1,"location":"file:///exports/%s.tar.gz","bytes":4096,"sha256":"%s","encrypted":false}`, ns, strings.Repeat("cd", 32))
			if len(completed) == 0 {
				msg = `{"version":1,"location":"","bytes":0}` // what a broken exporter might write
			}
			now := metav1.Now()
			p.Status.Phase = corev1.PodSucceeded
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "exporter", Image: p.Spec.Containers[0].Image, ImageID: "sha256:" + strings.Repeat("ef", 32),
				ContainerID: "containerd://" + p.Name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 0, Reason: "Completed", Message: msg, StartedAt: now, FinishedAt: now}}}}
			if err := c.Status().Update(ctx, p); err != nil {
				continue // changed meanwhile; try again on the next poll
			}
			completed[p.Name] = true
		}
		if err := c.Get(ctx, client.ObjectKeyFromObject(rw), &got); err != nil {
			return false, err
		}
		for _, s := range got.Status.Steps {
			if s.Name == v1.StepExport && s.State == v1.StepSucceeded && exportVerifiedAt.IsZero() {
				exportVerifiedAt = time.Now()
			}
		}
		return got.Status.Phase == v1.PhaseCompleted, nil
	})
	if err != nil {
		t.Fatalf("the withdrawal did not complete: phase %s, steps %+v", got.Status.Phase, got.Status.Steps)
	}

	exp := stepOf(&got, v1.StepExport)
	if exp.Export == nil || len(exp.Export.Artifacts) != 1 || len(completed) != 2 {
		t.Fatalf("export = %+v with %d pods completed, want one artifact verified on the second attempt", exp.Export, len(completed))
	}
	dr := stepOf(&got, v1.StepDrain)
	if dr.StartedAt == nil || exp.FinishedAt == nil || dr.StartedAt.Before(exp.FinishedAt) {
		t.Fatalf("the drain started at %v, before the export was verified at %v", dr.StartedAt, exp.FinishedAt)
	}
	ing := &networkingv1.Ingress{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "pk-edge"}, ing); err != nil {
		t.Fatal(err)
	}
	for _, r := range ing.Spec.Rules {
		if r.HTTP != nil && len(r.HTTP.Paths) > 0 {
			t.Fatalf("mode Remove left paths on the Ingress: %+v", ing.Spec.Rules)
		}
	}
}
