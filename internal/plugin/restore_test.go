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
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/drain"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/routing"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
)

// TestRestoreAfterTheWithdrawalIsGone drains a Deployment (its HPA set
// aside) and cuts an Ingress, then deletes the withdrawal before anything
// was undone. The records it kept have no owner, so they outlive it, and
// `restore` puts the replicas, the HPA and the route back exactly.
func TestRestoreAfterTheWithdrawalIsGone(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	ns := "restore-gone"
	labels := map[string]string{"bes.example.com/region": "pk"}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}},
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas: ptr.To[int32](2), MaxReplicas: 9},
	}
	pathType := networkingv1.PathTypePrefix
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "edge", Namespace: ns, Labels: labels},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "pk.example.test", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pathType, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}},
		}}}}},
	}
	for _, obj := range []client.Object{dep, hpa, ing} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	original := struct {
		hpa autoscalingv2.HorizontalPodAutoscalerSpec
		ing networkingv1.IngressSpec
	}{*hpa.Spec.DeepCopy(), *ing.Spec.DeepCopy()}

	zero := v1.Moment{Offset: &metav1.Duration{}}
	all := intstr.FromString("100%")
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: ns},
		Spec: v1.RegionWithdrawalSpec{Region: "PK", Cutoff: metav1.NewTime(beforeEverything.Add(time.Hour)), TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: labels},
			Drain:    &v1.DrainStep{Start: v1.Moment{Offset: &metav1.Duration{Duration: -time.Minute}}, MaxUnavailable: &all},
			Routing:  &v1.RoutingStep{At: &zero, Mode: v1.RoutingRemove}},
	}
	if err := c.Create(ctx, rw); err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(beforeEverything)
	resolver := &targets.Resolver{Reader: c, Mapper: c.RESTMapper(), Clock: clk}
	drainer, router := drain.New(c, c, resolver, clk, nil), routing.New(c, c, resolver, "")
	for _, run := range []struct {
		e    executor.Executor
		step v1.StepName
	}{{drainer, v1.StepDrain}, {router, v1.StepRouting}} {
		res, err := run.e.Execute(ctx, rw, planner.StartAction(run.step, clk.Now()))
		if err != nil || !res.Done || res.Failed {
			t.Fatalf("%s: %+v, %v", run.step, res, err)
		}
	}
	var got appsv1.Deployment
	if err := c.Get(ctx, client.ObjectKeyFromObject(dep), &got); err != nil || *got.Spec.Replicas != 0 {
		t.Fatalf("the drain did not scale web to zero: %v %v", got.Spec.Replicas, err)
	}

	// Deleted mid-withdrawal: Finalize keeps the records, and nothing owns them.
	rw.Status.Phase = v1.PhaseInProgress
	for _, f := range []executor.Finalizer{drainer, router} {
		if err := f.Finalize(ctx, rw); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Delete(ctx, rw); err != nil {
		t.Fatal(err)
	}
	var records corev1.ConfigMapList
	if err := c.List(ctx, &records, client.InNamespace(ns), client.HasLabels{executor.LabelRecord}); err != nil || len(records.Items) != 2 {
		t.Fatalf("%d records after the deletion (%v), want the HPA's and the route's", len(records.Items), err)
	}
	for _, cm := range records.Items {
		if len(cm.OwnerReferences) != 0 {
			t.Fatalf("record %s is owned by %v: the garbage collector would delete it with the withdrawal", cm.Name, cm.OwnerReferences)
		}
	}

	out, err := run(t, ns, "restore", "pakistan")
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if !strings.Contains(out, "restored") {
		t.Fatalf("restore said:\n%s", out)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(dep), &got); err != nil || *got.Spec.Replicas != 3 {
		t.Fatalf("web has %v replicas after the restore (%v), want 3", got.Spec.Replicas, err)
	}
	var back autoscalingv2.HorizontalPodAutoscaler
	if err := c.Get(ctx, client.ObjectKeyFromObject(hpa), &back); err != nil || !equality.Semantic.DeepEqual(back.Spec, original.hpa) {
		t.Fatalf("the HPA after the restore: %+v (%v), want %+v", back.Spec, err, original.hpa)
	}
	var route networkingv1.Ingress
	if err := c.Get(ctx, client.ObjectKeyFromObject(ing), &route); err != nil || !equality.Semantic.DeepEqual(route.Spec, original.ing) {
		t.Fatalf("the Ingress after the restore: %+v (%v), want %+v", route.Spec, err, original.ing)
	}
	if err := c.List(ctx, &records, client.InNamespace(ns), client.HasLabels{executor.LabelRecord}); err != nil || len(records.Items) != 0 {
		t.Fatalf("%d records left after a full restore (%v)", len(records.Items), err)
	}
	if out, err := run(t, ns, "restore", "pakistan"); err != nil || !strings.Contains(out, "nothing to restore") {
		t.Fatalf("a second restore: %v\n%s", err, out)
	}
}

// TestRestoreRefusesAWithdrawalThatExists: the operator restores one that
// exists, through cancel.
func TestRestoreRefusesAWithdrawalThatExists(t *testing.T) {
	setup(t, "restore-exists")
	if out, err := run(t, "restore-exists", "restore", "germany"); err == nil || !strings.Contains(err.Error(), "withdrawal cancel") {
		t.Fatalf("restore of an existing withdrawal: %v\n%s", err, out)
	}
}

// TestFinalizeDeletesSettledRecords: once a withdrawal completed, its
// records go with it.
func TestFinalizeDeletesSettledRecords(t *testing.T) {
	ctx := context.Background()
	ns := "restore-settled"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	rw := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Name: "done", Namespace: ns, UID: "uid-done"}, Status: v1.RegionWithdrawalStatus{Phase: v1.PhaseCompleted}}
	cm := &corev1.ConfigMap{ObjectMeta: executor.RecordMeta(rw, "rwo-route-x", routing.RecordRoute)}
	if err := env.Client.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	if err := routing.New(env.Client, env.Client, nil, "").Finalize(ctx, rw); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(cm), &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the record of a completed withdrawal is still there: %v", err)
	}
}
