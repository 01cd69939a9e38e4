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
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/drain"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/routing"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
	"github.com/ops-dev/region-withdrawal-operator/internal/tenant"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
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
	cm := &corev1.ConfigMap{ObjectMeta: executor.RecordMeta(ctx, rw, "rwo-route-x", routing.RecordRoute)}
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

// restoreAs runs restore with the credentials in cfg, in ns.
func restoreAs(t *testing.T, cfg *rest.Config, ns string, extra ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	o := &Options{IOStreams: genericiooptions.IOStreams{Out: &out, ErrOut: &out}, Flags: genericclioptions.NewConfigFlags(true),
		Clock: clocktesting.NewFakeClock(beforeEverything)}
	o.NewClient = func() (client.WithWatch, error) {
		return client.NewWithWatch(cfg, client.Options{Scheme: scheme.New()})
	}
	o.NewClientAs = func(u string) (client.WithWatch, error) {
		as := rest.CopyConfig(cfg)
		as.Impersonate = rest.ImpersonationConfig{UserName: u}
		return client.NewWithWatch(as, client.Options{Scheme: scheme.New()})
	}
	cmd := newRootCommand(o)
	cmd.SetArgs(append([]string{"restore", "pakistan", "--namespace", ns}, extra...))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// forgeRouteRecord writes, in ns, a route record of the withdrawal with
// this UID that would point the victim's Ingress at the forger's Service.
// The victim's Ingress is marked as switched, under the record's name, as
// a withdrawal of its own namespace would have left it.
func forgeRouteRecord(t *testing.T, ns string, uid types.UID, serviceAccount string, victim *networkingv1.Ingress) *corev1.ConfigMap {
	t.Helper()
	victim.Annotations = map[string]string{routing.AnnotationSnapshot: "forged-route"}
	if err := env.Client.Update(context.Background(), victim); err != nil {
		t.Fatal(err)
	}
	spec := victim.Spec.DeepCopy()
	spec.Rules[0].HTTP.Paths[0].Backend.Service.Name = "forger"
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(spec)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "namespace": victim.Namespace, "name": victim.Name, "spec": m})
	if err != nil {
		t.Fatal(err)
	}
	rw := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pakistan", UID: uid}}
	meta := executor.RecordMeta(context.Background(), rw, "forged-route", routing.RecordRoute)
	meta.Annotations[routing.AnnotationRoute] = "Ingress " + victim.Namespace + "/" + victim.Name
	if serviceAccount != "" {
		meta.Annotations[executor.AnnotationServiceAccount] = serviceAccount
	}
	cm := &corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"object.json": string(raw)}}
	if err := env.Client.Create(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	return cm
}

func pkIngress(ns, name string) *networkingv1.Ingress {
	pathType := networkingv1.PathTypePrefix
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"bes.example.com/region": "pk"}},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: name + ".example.test", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pathType, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: name, Port: networkingv1.ServiceBackendPort{Number: 80}}}}},
		}}}}},
	}
}

// TestRestoreActsAsTheWithdrawalsServiceAccount drains as a tenant's
// ServiceAccount (by impersonation, as the operator does), deletes the
// withdrawal mid-drain, and restores. A route record forged to rewrite
// another namespace's Ingress is refused, because restore acts as the
// ServiceAccount the records name; someone who may not act as it is told
// so; and once the forgery is gone the restore puts everything back.
func TestRestoreActsAsTheWithdrawalsServiceAccount(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	ns, victimNS := "restore-as-sa", "restore-victim"
	for _, n := range []string{ns, victimNS} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	id := tenant.Identity{Namespace: ns, ServiceAccount: "region-withdrawal"}
	if err := testenv.GrantTenant(ctx, c, ns, id.ServiceAccount); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"bes.example.com/region": "pk"}
	deploy := func(name string, replicas int32) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}},
		}
	}
	api, web := deploy("api", 2), deploy("web", 3)
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "api"},
			MinReplicas: ptr.To[int32](2), MaxReplicas: 9},
	}
	bank := pkIngress(victimNS, "bank")
	for _, obj := range []client.Object{api, web, hpa, bank} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	originalHPA, originalBank := *hpa.Spec.DeepCopy(), *bank.Spec.DeepCopy()

	one := intstr.FromInt32(1)
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: ns},
		Spec: v1.RegionWithdrawalSpec{Region: "PK", Cutoff: metav1.NewTime(beforeEverything.Add(time.Hour)), TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: labels}, ServiceAccountName: id.ServiceAccount,
			Drain: &v1.DrainStep{Start: v1.Moment{Offset: &metav1.Duration{Duration: -time.Minute}}, MaxUnavailable: &one, Interval: &metav1.Duration{Duration: time.Hour}}},
	}
	if err := c.Create(ctx, rw); err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(beforeEverything)
	tenants := tenant.NewClients(env.Config, c, c, clk)
	tc := tenants.Client()
	drainer := drain.New(tc, tenants.Reader(), &targets.Resolver{Reader: tc, Mapper: c.RESTMapper(), Clock: clk}, clk, nil)
	asTenant := tenant.WithIdentity(ctx, id)
	res, err := drainer.Execute(asTenant, rw, planner.StartAction(v1.StepDrain, clk.Now()))
	if err != nil || res.Done {
		t.Fatalf("the first batch: %+v, %v; want one batch drained and the drain going on", res, err)
	}
	var drained []string
	for _, d := range []*appsv1.Deployment{api, web} {
		var got appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKeyFromObject(d), &got); err != nil {
			t.Fatal(err)
		}
		if *got.Spec.Replicas == 0 {
			drained = append(drained, d.Name)
		}
	}
	if len(drained) != 1 {
		t.Fatalf("drained %v after the first batch, want one Deployment", drained)
	}

	// Deleted mid-drain.
	rw.Status.Phase = v1.PhaseInProgress
	if err := drainer.Finalize(asTenant, rw); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, rw); err != nil {
		t.Fatal(err)
	}
	forged := forgeRouteRecord(t, ns, rw.UID, id.ServiceAccount, bank)

	t.Run("someone who may not act as the ServiceAccount is told so", func(t *testing.T) {
		if err := c.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reader"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"", v1.GroupVersion.Group}, Resources: []string{"configmaps", "regionwithdrawals"}, Verbs: []string{"get", "list"}}}}); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mallory"}}); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reader"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "reader"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "mallory"}}}); err != nil {
			t.Fatal(err)
		}
		tr, err := kubernetes.NewForConfigOrDie(env.Config).CoreV1().ServiceAccounts(ns).CreateToken(ctx, "mallory", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		mallory := &rest.Config{Host: env.Config.Host, BearerToken: tr.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAData: env.Config.CAData}}
		out, err := restoreAs(t, mallory, ns)
		if err == nil || !strings.Contains(err.Error(), "you need the impersonate verb") {
			t.Fatalf("restore as mallory: %v\n%s", err, out)
		}
	})
	t.Run("a forged record cannot reach another namespace", func(t *testing.T) {
		out, err := restoreAs(t, env.Config, ns)
		if err == nil || !strings.Contains(err.Error(), `"restore-victim"`) || !strings.Contains(err.Error(), "forbidden") {
			t.Fatalf("restore with a forged record: %v\n%s", err, out)
		}
		var got networkingv1.Ingress
		if err := c.Get(ctx, client.ObjectKeyFromObject(bank), &got); err != nil || !equality.Semantic.DeepEqual(got.Spec, originalBank) {
			t.Fatalf("the victim's Ingress after the forged restore: %+v (%v)", got.Spec, err)
		}
	})
	t.Run("without the forgery everything comes back", func(t *testing.T) {
		if err := c.Delete(ctx, forged); err != nil {
			t.Fatal(err)
		}
		out, err := restoreAs(t, env.Config, ns)
		if err != nil || !strings.Contains(out, "acting as ServiceAccount restore-as-sa/region-withdrawal") {
			t.Fatalf("restore: %v\n%s", err, out)
		}
		for _, d := range []*appsv1.Deployment{api, web} {
			var got appsv1.Deployment
			if err := c.Get(ctx, client.ObjectKeyFromObject(d), &got); err != nil || *got.Spec.Replicas != *d.Spec.Replicas {
				t.Errorf("%s has %v replicas after the restore (%v), want %d", d.Name, got.Spec.Replicas, err, *d.Spec.Replicas)
			}
		}
		var back autoscalingv2.HorizontalPodAutoscaler
		if err := c.Get(ctx, client.ObjectKeyFromObject(hpa), &back); err != nil || !equality.Semantic.DeepEqual(back.Spec, originalHPA) {
			t.Errorf("the HPA after the restore: %+v (%v), want %+v", back.Spec, err, originalHPA)
		}
		var records corev1.ConfigMapList
		if err := c.List(ctx, &records, client.InNamespace(ns), client.HasLabels{executor.LabelRecord}); err != nil || len(records.Items) != 0 {
			t.Errorf("%d records left after a full restore (%v)", len(records.Items), err)
		}
	})
}

// TestRestoreAsYouStaysInTheNamespace: records that name no ServiceAccount
// (an operator that acted as itself) are restored as the user, and a
// record pointing outside the withdrawal's namespace is refused.
func TestRestoreAsYouStaysInTheNamespace(t *testing.T) {
	ctx := context.Background()
	ns, victimNS := "restore-fenced", "restore-fenced-victim"
	for _, n := range []string{ns, victimNS} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	bank := pkIngress(victimNS, "bank")
	if err := env.Client.Create(ctx, bank); err != nil {
		t.Fatal(err)
	}
	forgeRouteRecord(t, ns, "uid-fenced", "", bank)
	out, err := restoreAs(t, env.Config, ns)
	if err == nil || !strings.Contains(err.Error(), "outside the withdrawal's namespace restore-fenced") {
		t.Fatalf("restore of a record pointing elsewhere: %v\n%s", err, out)
	}
	var got networkingv1.Ingress
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(bank), &got); err != nil || !equality.Semantic.DeepEqual(got.Spec, bank.Spec) {
		t.Fatalf("the victim's Ingress changed: %+v (%v)", got.Spec, err)
	}
}
