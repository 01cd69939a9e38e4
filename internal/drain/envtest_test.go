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

package drain

import (
	"context"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/summarize"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

// TestAutoscalerSetAsideAndRestoredOnAPIServer: the API server defaults
// an HPA's behavior; the record keeps what it stored, so cancel brings back
// the same spec. An HPA recreated during the drain (a GitOps tool) is set
// aside again without overwriting the first record.
func TestAutoscalerSetAsideAndRestoredOnAPIServer(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	const ns = "envtest-hpa"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	d := deployment("chat", 3)
	d.Namespace = ns
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "chat", Namespace: ns, Labels: map[string]string{"team": "chat"}, Annotations: map[string]string{"note": "keep"}},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "chat"},
			MinReplicas:    ptr.To[int32](3), MaxReplicas: 9,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](60)}}}},
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](600)}},
		},
	}
	for _, o := range []client.Object{d, hpa} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	var stored autoscalingv2.HorizontalPodAutoscaler
	if err := c.Get(ctx, client.ObjectKeyFromObject(hpa), &stored); err != nil {
		t.Fatal(err)
	}
	rw := withdrawal(intstr.FromString("100%"))
	rw.Namespace, rw.UID = ns, ""
	rw.Spec.TimeZone, rw.Spec.Cutoff = "Asia/Karachi", metav1.Time{Time: drainStarts.Add(48 * time.Hour)}
	rw.Spec.Drain.Start = v1.Moment{Offset: &metav1.Duration{Duration: -24 * time.Hour}}
	status := rw.Status
	if err := c.Create(ctx, rw); err != nil {
		t.Fatal(err)
	}
	rw.Status = status
	clk := clocktesting.NewFakeClock(drainStarts)
	e := &Executor{Client: c, Targets: &targets.Resolver{Reader: c, Mapper: c.RESTMapper(), Clock: clk}, Clock: clk}
	run := func(kind planner.ActionKind) {
		t.Helper()
		res, err := e.Execute(ctx, rw, planner.Action{ID: "drain", Kind: kind, Step: v1.StepDrain})
		if err != nil {
			t.Fatal(err)
		}
		summarize.RecordDetail(&rw.Status, v1.StepDrain, res.Detail)
	}
	run(planner.ActionStart)
	if err := c.Get(ctx, client.ObjectKeyFromObject(hpa), &autoscalingv2.HorizontalPodAutoscaler{}); !apierrors.IsNotFound(err) {
		t.Fatalf("HPA still there: %v", err)
	}
	var drained appsv1.Deployment
	if err := c.Get(ctx, client.ObjectKeyFromObject(d), &drained); err != nil {
		t.Fatal(err)
	}
	if *drained.Spec.Replicas != 0 || drained.Annotations[AnnotationOriginalReplicas] != "3" {
		t.Fatalf("deployment after the drain: replicas %d, annotations %v", *drained.Spec.Replicas, drained.Annotations)
	}

	// A GitOps tool recreates the HPA with other values: it goes again, and
	// the record from before the drain stays.
	again := hpa.DeepCopy()
	again.ResourceVersion, again.UID = "", ""
	again.Spec.MinReplicas = ptr.To[int32](5)
	if err := c.Create(ctx, again); err != nil {
		t.Fatal(err)
	}
	run(planner.ActionStart)
	if err := c.Get(ctx, client.ObjectKeyFromObject(hpa), &autoscalingv2.HorizontalPodAutoscaler{}); !apierrors.IsNotFound(err) {
		t.Fatalf("recreated HPA not set aside: %v", err)
	}

	run(planner.ActionRevert)
	var back autoscalingv2.HorizontalPodAutoscaler
	if err := c.Get(ctx, client.ObjectKeyFromObject(hpa), &back); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(back.Spec, stored.Spec) || !equality.Semantic.DeepEqual(back.Labels, stored.Labels) || !equality.Semantic.DeepEqual(back.Annotations, stored.Annotations) {
		t.Fatalf("restored HPA\n%+v\nwant\n%+v", back.Spec, stored.Spec)
	}
	var restored appsv1.Deployment
	if err := c.Get(ctx, client.ObjectKeyFromObject(d), &restored); err != nil {
		t.Fatal(err)
	}
	if *restored.Spec.Replicas != 3 {
		t.Fatalf("replicas after cancel %d, want 3", *restored.Spec.Replicas)
	}
}
