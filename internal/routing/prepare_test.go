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
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
)

// writes records the writes a client makes, by kind and verb.
type writes struct {
	mu  sync.Mutex
	all []string
}

func (w *writes) add(verb string, obj client.Object) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all = append(w.all, verb+" "+kindOf(obj))
}

func (w *writes) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.all
	w.all = nil
	return out
}

func kindOf(obj client.Object) string {
	switch obj.(type) {
	case *appsv1.Deployment:
		return "Deployment"
	case *corev1.Service:
		return "Service"
	case *corev1.ConfigMap:
		return "ConfigMap"
	}
	return obj.GetObjectKind().GroupVersionKind().Kind
}

// TestPrepareDeploysTheNoticeBackendAhead: before the switch the notice
// backend is deployed and waited for and the route snapshotted, no route
// is touched, and the switch then writes only the route. Cancelled before the
// switch, the backend is scaled to zero.
func TestPrepareDeploysTheNoticeBackendAhead(t *testing.T) {
	ctx := context.Background()
	const ns = "envtest-prepare"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	ing := ingress("chat")
	ing.Namespace = ns
	if err := env.Client.Create(ctx, ing); err != nil {
		t.Fatal(err)
	}
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: ns},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", TimeZone: "Asia/Karachi", Cutoff: metav1.Now(),
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"bes.example.com/region": "pk"}},
			Routing:  &v1.RoutingStep{Mode: v1.RoutingBlock451},
		},
	}
	if err := env.Client.Create(ctx, rw); err != nil {
		t.Fatal(err)
	}
	ww, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	w := &writes{}
	c := interceptor.NewClient(ww, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			w.add("create", obj)
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			w.add("update", obj)
			return c.Update(ctx, obj, opts...)
		},
	})
	e := &Executor{Client: c, Targets: &targets.Resolver{Reader: c, Mapper: env.Client.RESTMapper()}, NoticeBackendImage: "registry.example/rwo:test"}

	ready, msg, err := e.Prepare(ctx, rw)
	if err != nil || ready || !strings.Contains(msg, "not Ready yet") {
		t.Fatalf("Prepare = %v %q %v; want not ready yet", ready, msg, err)
	}
	if got := strings.Join(w.take(), ", "); got != "create ConfigMap, create Deployment, create Service" {
		t.Fatalf("preparing wrote %s; want the route's snapshot and the backend's Deployment and Service only", got)
	}
	var route networkingv1.Ingress
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ing), &route); err != nil || route.Annotations[AnnotationSnapshot] != "" || route.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name != "chat" {
		t.Fatalf("preparing touched the route: %+v, %v", route.Spec, err)
	}

	// Its pods become Ready (there is no kubelet here: the status says so).
	var dep appsv1.Deployment
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: NoticeBackendName(rw)}, &dep); err != nil {
		t.Fatal(err)
	}
	dep.Status.Replicas, dep.Status.ReadyReplicas = 2, 2
	if err := env.Client.Status().Update(ctx, &dep); err != nil {
		t.Fatal(err)
	}
	ready, msg, err = e.Prepare(ctx, rw)
	if err != nil || !ready || msg != "1 route snapshotted; notice backend ready (2 pods)" {
		t.Fatalf("Prepare = %v %q %v; want ready", ready, msg, err)
	}
	if got := w.take(); len(got) != 0 {
		t.Fatalf("preparing again wrote %v; want nothing", got)
	}

	// The switch: the route, nothing else.
	res, err := e.Execute(ctx, rw, planner.Action{ID: "routing", Kind: planner.ActionStart, Step: v1.StepRouting})
	if err != nil || !res.Done {
		t.Fatalf("switch: %+v, %v", res, err)
	}
	if got := strings.Join(w.take(), ", "); got != "update Ingress" {
		t.Fatalf("the switch wrote %s; want the route only", got)
	}

	// Cancelled before a switch, a prepared backend is scaled to zero.
	other := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Name: "second", Namespace: ns}, Spec: rw.Spec}
	if err := env.Client.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Prepare(ctx, other); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := e.Unprepare(ctx, other); err != nil {
			t.Fatal(err)
		}
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: NoticeBackendName(other)}, &dep); err != nil || *dep.Spec.Replicas != 0 {
		t.Fatalf("after Unprepare the backend has %v replicas (%v), want 0", dep.Spec.Replicas, err)
	}
}
