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

package routing

import (
	"context"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

func TestNoticeBackendOptionsValidate(t *testing.T) {
	pct := func(s string) *intstr.IntOrString { return ptr.To(intstr.FromString(s)) }
	n := func(i int32) *intstr.IntOrString { return ptr.To(intstr.FromInt32(i)) }
	for _, tc := range []struct {
		name    string
		opts    NoticeBackendOptions
		wantErr string
	}{
		{name: "the zero value"},
		{name: "three replicas, at least one available", opts: NoticeBackendOptions{Replicas: 3, MinAvailable: n(1)}},
		{name: "a percentage unavailable", opts: NoticeBackendOptions{MaxUnavailable: pct("50%")}},
		{name: "negative replicas", opts: NoticeBackendOptions{Replicas: -1}, wantErr: "at least one pod"},
		{name: "both budgets", opts: NoticeBackendOptions{MinAvailable: n(1), MaxUnavailable: n(1)}, wantErr: "not both"},
		{name: "a budget that is not a number", opts: NoticeBackendOptions{MinAvailable: pct("half")}, wantErr: "minAvailable"},
		{name: "a negative budget", opts: NoticeBackendOptions{MaxUnavailable: n(-1)}, wantErr: "maxUnavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestNoticeBackendBroughtUpToDate: a backend deployed with one set of
// settings is brought to the next (an upgrade of the operator with new
// chart values) by Observe: replicas, scheduling, resources, pull Secrets,
// the image, and a PodDisruptionBudget made, changed and removed; each
// step is accepted by the API server, a second call writes nothing, the
// rollout never takes a pod away before its successor is up, and the
// backend never goes to zero replicas.
func TestNoticeBackendBroughtUpToDate(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	const ns = "envtest-notice-update"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "notice-critical"}, Value: 1000}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	rw := blockingWithdrawal(t, ns)
	key := client.ObjectKey{Namespace: ns, Name: NoticeBackendName(rw)}

	e := &Executor{Client: c, NoticeBackendImage: "registry.example/rwo:v1"}
	if _, _, err := e.Observe(ctx, rw); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, key, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Fatalf("Observe created a notice backend before the switch made one: %v", err)
	}
	if err := e.deployNoticeBackend(ctx, rw, Backend{Name: key.Name, Port: 80}); err != nil {
		t.Fatal(err)
	}
	dep := getDeployment(t, key)
	if *dep.Spec.Replicas != DefaultNoticeBackendReplicas || dep.Spec.Template.Spec.PriorityClassName != "" {
		t.Fatalf("deployed with %d replicas, priority class %q; want the defaults", *dep.Spec.Replicas, dep.Spec.Template.Spec.PriorityClassName)
	}
	wantNoBudget(t, key)

	pct := func(s string) *intstr.IntOrString { return ptr.To(intstr.FromString(s)) }
	upgraded := NoticeBackendOptions{
		Replicas:          3,
		MinAvailable:      ptr.To(intstr.FromInt32(2)),
		PriorityClassName: "notice-critical",
		NodeSelector:      map[string]string{"node-role.example.com/edge": "true"},
		Tolerations:       []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "edge", Effect: corev1.TaintEffectNoSchedule}},
		Resources: &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
		},
		ImagePullSecrets:   []corev1.LocalObjectReference{{Name: "registry-creds"}},
		PodSecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
	}
	for _, step := range []struct {
		name  string
		opts  NoticeBackendOptions
		image string
		check func(t *testing.T, dep *appsv1.Deployment)
	}{
		{name: "new settings and a budget of two available", opts: upgraded, image: "registry.example/rwo:v2", check: func(t *testing.T, dep *appsv1.Deployment) {
			pod := dep.Spec.Template.Spec
			if *dep.Spec.Replicas != 3 || pod.PriorityClassName != "notice-critical" || pod.NodeSelector["node-role.example.com/edge"] != "true" ||
				len(pod.Tolerations) != 1 || pod.Tolerations[0].Key != "dedicated" || len(pod.ImagePullSecrets) != 1 || pod.ImagePullSecrets[0].Name != "registry-creds" {
				t.Errorf("not brought up to date: replicas %d, pod %+v", *dep.Spec.Replicas, pod)
			}
			ctr := pod.Containers[0]
			if ctr.Image != "registry.example/rwo:v2" || ctr.Resources.Limits.Memory().String() != "64Mi" || ctr.Resources.Requests.Cpu().String() != "50m" {
				t.Errorf("container not brought up to date: %s %+v", ctr.Image, ctr.Resources)
			}
			if pod.SecurityContext == nil || pod.SecurityContext.RunAsUser != nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
				t.Errorf("pod security context %+v; want non-root with no fixed UID", pod.SecurityContext)
			}
			if pdb := getBudget(t, key); pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntVal != 2 || pdb.Spec.MaxUnavailable != nil ||
				pdb.Spec.Selector.MatchLabels["app.kubernetes.io/instance"] != key.Name || !metav1.IsControlledBy(pdb, rw) {
				t.Errorf("budget %+v; want minAvailable 2 over the backend's pods, owned by the withdrawal", pdb.Spec)
			}
		}},
		{name: "the budget as a share unavailable", opts: withBudget(upgraded, nil, pct("50%")), image: "registry.example/rwo:v2", check: func(t *testing.T, dep *appsv1.Deployment) {
			if pdb := getBudget(t, key); pdb.Spec.MinAvailable != nil || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.StrVal != "50%" {
				t.Errorf("budget %+v; want maxUnavailable 50%% only", pdb.Spec)
			}
		}},
		{name: "no budget, one replica", opts: withBudget(NoticeBackendOptions{Replicas: 1}, nil, nil), image: "registry.example/rwo:v2", check: func(t *testing.T, dep *appsv1.Deployment) {
			if *dep.Spec.Replicas != 1 || dep.Spec.Template.Spec.PriorityClassName != "" || dep.Spec.Template.Spec.SecurityContext.RunAsUser == nil {
				t.Errorf("replicas %d, pod %+v; want one replica with the default pod", *dep.Spec.Replicas, dep.Spec.Template.Spec)
			}
			wantNoBudget(t, key)
		}},
	} {
		t.Run(step.name, func(t *testing.T) {
			// A new process with the new settings: what helm upgrade does.
			e := &Executor{Client: c, NoticeBackendImage: step.image}
			e.SetNoticeBackendOptions(step.opts)
			if _, changed, err := e.Observe(ctx, rw); err != nil || changed {
				t.Fatalf("Observe: changed %v, %v", changed, err)
			}
			dep := getDeployment(t, key)
			step.check(t, dep)
			if *dep.Spec.Replicas < 1 {
				t.Fatalf("the backend went to %d replicas", *dep.Spec.Replicas)
			}
			if ru := dep.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable.IntValue() != 0 || ru.MaxSurge.IntValue() != 1 {
				t.Fatalf("rollout %+v; want a new pod up before an old one goes", dep.Spec.Strategy)
			}
			// Idempotent: the same settings again write nothing.
			before := dep.ResourceVersion
			budgetBefore := budgetVersion(t, key)
			for range 2 {
				if _, _, err := e.Observe(ctx, rw); err != nil {
					t.Fatal(err)
				}
				if err := e.deployNoticeBackend(ctx, rw, Backend{Name: key.Name, Port: 80}); err != nil {
					t.Fatal(err)
				}
			}
			if after := getDeployment(t, key).ResourceVersion; after != before || budgetVersion(t, key) != budgetBefore {
				t.Fatalf("unchanged settings wrote the backend again: resourceVersion %s -> %s", before, after)
			}
		})
	}

	t.Run("a hand-made scale lasts until the settings change", func(t *testing.T) {
		dep := getDeployment(t, key)
		dep.Spec.Replicas = ptr.To[int32](4)
		if err := c.Update(ctx, dep); err != nil {
			t.Fatal(err)
		}
		e := &Executor{Client: c, NoticeBackendImage: "registry.example/rwo:v2"}
		e.SetNoticeBackendOptions(NoticeBackendOptions{Replicas: 1})
		if _, _, err := e.Observe(ctx, rw); err != nil {
			t.Fatal(err)
		}
		if got := *getDeployment(t, key).Spec.Replicas; got != 4 {
			t.Fatalf("Observe took the backend from 4 to %d replicas with unchanged settings", got)
		}
		e.SetNoticeBackendOptions(NoticeBackendOptions{Replicas: 2})
		if _, _, err := e.Observe(ctx, rw); err != nil {
			t.Fatal(err)
		}
		if got := *getDeployment(t, key).Spec.Replicas; got != 2 {
			t.Fatalf("new settings left %d replicas, want 2", got)
		}
	})

	t.Run("a stopped backend stays stopped until the switch needs it", func(t *testing.T) {
		dep := getDeployment(t, key)
		dep.Spec.Replicas = ptr.To[int32](0) // what Unprepare does on a cancel
		if err := c.Update(ctx, dep); err != nil {
			t.Fatal(err)
		}
		e := &Executor{Client: c, NoticeBackendImage: "registry.example/rwo:v3"}
		e.SetNoticeBackendOptions(NoticeBackendOptions{Replicas: 3})
		if _, _, err := e.Observe(ctx, rw); err != nil {
			t.Fatal(err)
		}
		dep = getDeployment(t, key)
		if *dep.Spec.Replicas != 0 || dep.Spec.Template.Spec.Containers[0].Image != "registry.example/rwo:v3" {
			t.Fatalf("replicas %d, image %s; want still stopped, with the new image", *dep.Spec.Replicas, dep.Spec.Template.Spec.Containers[0].Image)
		}
		if err := e.deployNoticeBackend(ctx, rw, Backend{Name: key.Name, Port: 80}); err != nil {
			t.Fatal(err)
		}
		if got := *getDeployment(t, key).Spec.Replicas; got != 3 {
			t.Fatalf("the switch left the backend at %d replicas, want 3", got)
		}
	})
}

// TestNoticeBackendBudgetRefusedDoesNotHoldUpTheSwitch: a withdrawal whose
// ServiceAccount may not write PodDisruptionBudgets still gets its notice
// backend (the switch is a legal deadline); Observe reports the budget
// until it can be written, and then records it.
func TestNoticeBackendBudgetRefusedDoesNotHoldUpTheSwitch(t *testing.T) {
	ctx := context.Background()
	const ns = "envtest-notice-no-budget"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	rw := blockingWithdrawal(t, ns)
	key := client.ObjectKey{Namespace: ns, Name: NoticeBackendName(rw)}
	withWatch, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	refuse := true
	c := interceptor.NewClient(withWatch, interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		if _, ok := obj.(*policyv1.PodDisruptionBudget); ok && refuse {
			return apierrors.NewForbidden(schema.GroupResource{Group: "policy", Resource: "poddisruptionbudgets"}, obj.GetName(), errors.New("RBAC: access denied"))
		}
		return c.Create(ctx, obj, opts...)
	}})
	e := &Executor{Client: c}
	e.SetNoticeBackendOptions(NoticeBackendOptions{MinAvailable: ptr.To(intstr.FromInt32(1))})
	if _, where, err := e.ensureNoticeBackends(ctx, rw, nil); err != nil || where != ns+"/"+key.Name+":80" {
		t.Fatalf("the budget held up the notice backend: %q, %v", where, err)
	}
	if dep := getDeployment(t, key); dep.Annotations[AnnotationNoticeBackendBudget] != "" {
		t.Fatalf("the Deployment records a budget that was refused: %v", dep.Annotations)
	}
	if _, _, err := e.Observe(ctx, rw); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "PodDisruptionBudget") {
		t.Fatalf("Observe: %v; want the refusal of the budget", err)
	}
	refuse = false
	if _, _, err := e.Observe(ctx, rw); err != nil {
		t.Fatal(err)
	}
	getBudget(t, key)
	if dep := getDeployment(t, key); dep.Annotations[AnnotationNoticeBackendBudget] == "" {
		t.Fatalf("the budget written is not recorded: %v", dep.Annotations)
	}
}

func blockingWithdrawal(t *testing.T, ns string) *v1.RegionWithdrawal {
	t.Helper()
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: ns},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", TimeZone: "Asia/Karachi", Cutoff: metav1.Now(),
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"bes.example.com/region": "pk"}},
			Routing:  &v1.RoutingStep{Mode: v1.RoutingBlock451},
		},
	}
	if err := env.Client.Create(context.Background(), rw); err != nil {
		t.Fatal(err)
	}
	return rw
}

func withBudget(o NoticeBackendOptions, minAvailable, maxUnavailable *intstr.IntOrString) NoticeBackendOptions {
	o.MinAvailable, o.MaxUnavailable = minAvailable, maxUnavailable
	return o
}

func getDeployment(t *testing.T, key client.ObjectKey) *appsv1.Deployment {
	t.Helper()
	var dep appsv1.Deployment
	if err := env.Client.Get(context.Background(), key, &dep); err != nil {
		t.Fatal(err)
	}
	return &dep
}

func getBudget(t *testing.T, key client.ObjectKey) *policyv1.PodDisruptionBudget {
	t.Helper()
	var pdb policyv1.PodDisruptionBudget
	if err := env.Client.Get(context.Background(), key, &pdb); err != nil {
		t.Fatalf("the notice backend's PodDisruptionBudget: %v", err)
	}
	return &pdb
}

func budgetVersion(t *testing.T, key client.ObjectKey) string {
	t.Helper()
	var pdb policyv1.PodDisruptionBudget
	if err := env.Client.Get(context.Background(), key, &pdb); err != nil {
		if apierrors.IsNotFound(err) {
			return ""
		}
		t.Fatal(err)
	}
	return pdb.ResourceVersion
}

func wantNoBudget(t *testing.T, key client.ObjectKey) {
	t.Helper()
	if err := env.Client.Get(context.Background(), key, &policyv1.PodDisruptionBudget{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a PodDisruptionBudget where the settings ask for none: %v", err)
	}
	if dep := getDeployment(t, key); dep.Annotations[AnnotationNoticeBackendBudget] != "none" {
		t.Fatalf("the Deployment does not record that it has no budget: %v", dep.Annotations)
	}
}
