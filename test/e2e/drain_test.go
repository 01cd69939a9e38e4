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
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/drain"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/summarize"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
)

// app creates a Deployment of 2 pods behind a Service.
func app(t *testing.T, c client.Client, ns, name string, labels map[string]string) {
	t.Helper()
	sel := map[string]string{"app": name}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec: corev1.PodSpec{
					// A short grace period: kwok deletes a terminating pod
					// when it has elapsed.
					TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers:                    []corev1.Container{{Name: "app", Image: "example.com/" + name, Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}},
				},
			},
		},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec:       corev1.ServiceSpec{Selector: sel, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	for _, o := range []client.Object{dep, svc} {
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
}

func replicas(t *testing.T, c client.Client, ns string, names []string) []int32 {
	t.Helper()
	out := make([]int32, 0, len(names))
	for _, n := range names {
		var d appsv1.Deployment
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: n}, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, *d.Spec.Replicas)
	}
	return out
}

func readyEndpoints(ctx context.Context, c client.Client, ns, svc string) (int, error) {
	var list discoveryv1.EndpointSliceList
	if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{discoveryv1.LabelServiceName: svc}); err != nil {
		return 0, err
	}
	n := 0
	for _, s := range list.Items {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				n++
			}
		}
	}
	return n, nil
}

func TestDrainBatchByBatchThenCancel(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	const ns = "drain-e2e"
	createNamespace(t, c, ns)
	names := []string{"chat", "files", "presence", "push"}
	for _, n := range names {
		app(t, c, ns, n, regionLabels)
	}
	app(t, c, ns, "billing", map[string]string{"bes.example.com/region": "global"})
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "push", Namespace: ns, Labels: map[string]string{"team": "push"}},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "push"},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 6,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](70)}}}},
		},
	}
	if err := c.Create(ctx, hpa.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	all := append(slices.Clone(names), "billing")
	eventually(t, "every Service to have 2 ready endpoints", func(ctx context.Context) (bool, error) {
		for _, n := range all {
			if r, err := readyEndpoints(ctx, c, ns, n); err != nil || r != 2 {
				return false, err
			}
		}
		return true, nil
	})

	clk := newFakeClock()
	spec := baseSpec(clk.Now().Add(48 * time.Hour))
	spec.Drain = &v1.DrainStep{
		Start:          v1.Moment{Offset: &metav1.Duration{Duration: -24 * time.Hour}},
		MaxUnavailable: ptr.To(intstr.FromInt32(2)),
		Interval:       &metav1.Duration{Duration: 10 * time.Minute},
		Timeout:        &metav1.Duration{Duration: time.Hour},
	}
	rw := createWithdrawal(t, c, ns, spec, v1.StepDrain, clk.Now())
	e := drain.New(c, c, &targets.Resolver{Reader: c, Mapper: c.RESTMapper(), Clock: clk}, clk, nil)
	execute := func(kind planner.ActionKind) executor.Result {
		t.Helper()
		res, err := e.Execute(ctx, rw, planner.Action{ID: "drain", Kind: kind, Step: v1.StepDrain})
		if err != nil {
			t.Fatalf("Execute %s: %v", kind, err)
		}
		summarize.RecordDetail(&rw.Status, v1.StepDrain, res.Detail) // as the controller records it
		return res
	}

	// Batch 1: two workloads, in their stable order.
	res := execute(planner.ActionStart)
	if got, want := replicas(t, c, ns, all), []int32{0, 0, 2, 2, 2}; !slices.Equal(got, want) {
		t.Fatalf("after batch 1 replicas %v, want %v", got, want)
	}
	if res.Done || res.RequeueAfter <= 0 || res.RequeueAfter > 10*time.Minute {
		t.Fatalf("after batch 1: %+v", res)
	}
	eventually(t, "the first batch's Services to lose their endpoints", func(ctx context.Context) (bool, error) {
		for _, n := range names[:2] {
			if r, err := readyEndpoints(ctx, c, ns, n); err != nil || r != 0 {
				return false, err
			}
		}
		return true, nil
	})
	// Within the interval nothing more is scaled down, however often the
	// executor runs.
	clk.Step(9 * time.Minute)
	for range 3 {
		execute(planner.ActionStart)
	}
	if got, want := replicas(t, c, ns, all), []int32{0, 0, 2, 2, 2}; !slices.Equal(got, want) {
		t.Fatalf("within the interval replicas %v, want %v", got, want)
	}
	if r, _ := readyEndpoints(ctx, c, ns, "presence"); r != 2 {
		t.Fatalf("presence has %d ready endpoints before its batch, want 2", r)
	}

	// Someone scales a drained workload back up: it is corrected.
	var chat appsv1.Deployment
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "chat"}, &chat); err != nil {
		t.Fatal(err)
	}
	chat.Spec.Replicas = ptr.To[int32](3)
	if err := c.Update(ctx, &chat); err != nil {
		t.Fatal(err)
	}
	execute(planner.ActionStart)
	if got := replicas(t, c, ns, []string{"chat"}); got[0] != 0 {
		t.Fatalf("chat scaled back up to 3 was not corrected: %d", got[0])
	}
	st := planner.StepStatus(&rw.Status, v1.StepDrain).Drain
	if st.Corrections != 1 {
		t.Fatalf("corrections %d, want 1: %+v", st.Corrections, st)
	}
	t.Logf("correction reported: %s", st.LastCorrection)

	// Batch 2 after the interval; the HPA aimed at push is set aside first.
	clk.Step(time.Minute)
	execute(planner.ActionStart)
	if got, want := replicas(t, c, ns, all), []int32{0, 0, 0, 0, 2}; !slices.Equal(got, want) {
		t.Fatalf("after batch 2 replicas %v, want %v", got, want)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(hpa), &autoscalingv2.HorizontalPodAutoscaler{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the HPA of push was not set aside: %v", err)
	}

	// The drain completes when the EndpointSlices are empty and the pods gone.
	var last executor.Result
	eventually(t, "the drain to complete", func(ctx context.Context) (bool, error) {
		last = execute(planner.ActionStart)
		if last.Failed {
			return false, fmt.Errorf("drain failed: %s", last.Message)
		}
		return last.Done, nil
	})
	t.Logf("drain done: %s", last.Message)
	for _, n := range names {
		if r, err := readyEndpoints(ctx, c, ns, n); err != nil || r != 0 {
			t.Fatalf("Service %s has %d ready endpoints after the drain (%v)", n, r, err)
		}
	}
	if r, _ := readyEndpoints(ctx, c, ns, "billing"); r != 2 {
		t.Fatalf("billing, not in the region, has %d ready endpoints, want 2", r)
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Labels["app"] != "billing" {
			t.Fatalf("pod %s of a drained workload is still there", p.Name)
		}
	}
	// The HPA controller ran all along: push is still at zero.
	if got := replicas(t, c, ns, []string{"push"}); got[0] != 0 {
		t.Fatalf("push was scaled back up to %d", got[0])
	}

	// Cancel: replica counts and the HPA come back exactly, and the pods
	// return to the EndpointSlices.
	// Like the controller, call again until done: a write may lose a race
	// with the Deployment controller and ask to be retried.
	eventually(t, "the revert to finish", func(ctx context.Context) (bool, error) {
		res := execute(planner.ActionRevert)
		if res.Failed {
			return false, fmt.Errorf("revert failed: %s", res.Message)
		}
		return res.Done, nil
	})
	if got, want := replicas(t, c, ns, all), []int32{2, 2, 2, 2, 2}; !slices.Equal(got, want) {
		t.Fatalf("after cancel replicas %v, want %v", got, want)
	}
	var back autoscalingv2.HorizontalPodAutoscaler
	if err := c.Get(ctx, client.ObjectKeyFromObject(hpa), &back); err != nil {
		t.Fatalf("HPA not restored: %v", err)
	}
	if !equality.Semantic.DeepEqual(back.Spec, hpa.Spec) || !equality.Semantic.DeepEqual(back.Labels, hpa.Labels) {
		t.Fatalf("restored HPA spec %+v, want %+v", back.Spec, hpa.Spec)
	}
	eventually(t, "every Service to have its endpoints back", func(ctx context.Context) (bool, error) {
		for _, n := range names {
			if r, err := readyEndpoints(ctx, c, ns, n); err != nil || r != 2 {
				return false, err
			}
		}
		return true, nil
	})
}
