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
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
	"github.com/ops-dev/region-withdrawal-operator/internal/summarize"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
)

func asMap(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSwitch(t *testing.T) {
	notice := Backend{Name: "notice", Port: 80}
	to := `{"service":{"name":"notice","port":{"number":80}}}`
	for _, tc := range []struct {
		name string
		kind string
		mode v1.RoutingMode
		spec string
		want string
		// to is the backend, notice when empty.
		to Backend
	}{
		{name: "ingress 451: every path and the default backend", kind: targets.KindIngress, mode: v1.RoutingBlock451,
			spec: `{"defaultBackend":{"resource":{"kind":"Bucket","name":"b"}},"rules":[{"host":"pk.example.com","http":{"paths":[{"path":"/","pathType":"Prefix","backend":{"service":{"name":"chat","port":{"name":"http"}}}},{"path":"/api","pathType":"Prefix","backend":{"service":{"name":"api","port":{"number":8080}}}}]}}]}`,
			want: `{"defaultBackend":` + to + `,"rules":[{"host":"pk.example.com","http":{"paths":[{"path":"/","pathType":"Prefix","backend":` + to + `},{"path":"/api","pathType":"Prefix","backend":` + to + `}]}}]}`},
		{name: "ingress remove keeps hosts without paths", kind: targets.KindIngress, mode: v1.RoutingRemove,
			spec: `{"defaultBackend":{"service":{"name":"chat","port":{"number":80}}},"rules":[{"host":"pk.example.com","http":{"paths":[{"path":"/","pathType":"Prefix","backend":{"service":{"name":"chat","port":{"number":80}}}}]}},{"http":{"paths":[]}}]}`,
			want: `{"rules":[{"host":"pk.example.com"}]}`},
		{name: "ingress remove of a default backend only leaves one empty rule", kind: targets.KindIngress, mode: v1.RoutingRemove,
			spec: `{"defaultBackend":{"service":{"name":"chat","port":{"number":80}}}}`,
			want: `{"rules":[{}]}`},
		{name: "httproute 451 drops filters and splits", kind: targets.KindHTTPRoute, mode: v1.RoutingBlock451,
			spec: `{"parentRefs":[{"name":"gw"}],"rules":[{"matches":[{"path":{"type":"PathPrefix","value":"/"}}],"filters":[{"type":"RequestMirror"}],"backendRefs":[{"name":"a","port":80,"weight":9},{"name":"b","port":80,"weight":1}]}]}`,
			want: `{"parentRefs":[{"name":"gw"}],"rules":[{"matches":[{"path":{"type":"PathPrefix","value":"/"}}],"backendRefs":[{"group":"","kind":"Service","name":"notice","port":80}]}]}`},
		{name: "httproute 451 without rules gets a catch-all", kind: targets.KindHTTPRoute, mode: v1.RoutingBlock451,
			spec: `{"parentRefs":[{"name":"gw"}]}`,
			want: `{"parentRefs":[{"name":"gw"}],"rules":[{"backendRefs":[{"group":"","kind":"Service","name":"notice","port":80}]}]}`},
		{name: "httproute 451 names a backend of another namespace", kind: targets.KindHTTPRoute, mode: v1.RoutingBlock451,
			to:   Backend{Name: "rwo-notice-pakistan", Port: 80, Namespace: "bes-pk"},
			spec: `{"parentRefs":[{"name":"gw","namespace":"edge"}],"rules":[{"backendRefs":[{"name":"a","port":80}]}]}`,
			want: `{"parentRefs":[{"name":"gw","namespace":"edge"}],"rules":[{"backendRefs":[{"group":"","kind":"Service","name":"rwo-notice-pakistan","namespace":"bes-pk","port":80}]}]}`},
		{name: "ingress 451 never names another namespace", kind: targets.KindIngress, mode: v1.RoutingBlock451,
			to:   Backend{Name: "rwo-notice-pakistan", Port: 80, Namespace: "bes-pk"},
			spec: `{"defaultBackend":{"service":{"name":"chat","port":{"number":80}}}}`,
			want: `{"defaultBackend":{"service":{"name":"rwo-notice-pakistan","port":{"number":80}}}}`},
		{name: "httproute remove", kind: targets.KindHTTPRoute, mode: v1.RoutingRemove,
			spec: `{"parentRefs":[{"name":"gw"}],"rules":[{"backendRefs":[{"name":"a","port":80}]}]}`,
			want: `{"parentRefs":[{"name":"gw"}],"rules":[]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.to
			if b == (Backend{}) {
				b = notice
			}
			spec := asMap(t, tc.spec)
			Switch(tc.kind, spec, tc.mode, b)
			got, _ := json.Marshal(spec)
			if !equality.Semantic.DeepEqual(asMap(t, string(got)), asMap(t, tc.want)) {
				t.Fatalf("switched to\n%s\nwant\n%s", got, tc.want)
			}
			// Idempotent.
			again := runtime.DeepCopyJSON(spec)
			Switch(tc.kind, again, tc.mode, b)
			if !equality.Semantic.DeepEqual(again, spec) {
				t.Fatalf("a second switch changed the spec")
			}
		})
	}
}

func ingress(name string) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "pk", Labels: map[string]string{"bes.example.com/region": "pk"}, Annotations: map[string]string{"nginx.ingress.kubernetes.io/rewrite-target": "/"}},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("nginx"),
			Rules: []networkingv1.IngressRule{{Host: name + ".pk.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix),
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "chat", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}},
		},
	}
}

func withdrawal(mode v1.RoutingMode) *v1.RegionWithdrawal {
	return &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: "pk", UID: "uid-1"},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Selector: metav1.LabelSelector{MatchLabels: map[string]string{"bes.example.com/region": "pk"}},
			Routing: &v1.RoutingStep{Mode: mode, NoticeBackend: &v1.NoticeBackend{Service: &v1.ServiceReference{Name: "notice", Port: 80}}},
		},
	}
}

func run(t *testing.T, e *Executor, rw *v1.RegionWithdrawal, kind planner.ActionKind) string {
	t.Helper()
	res, err := e.Execute(context.Background(), rw, planner.Action{ID: "routing", Kind: kind, Step: v1.StepRouting})
	if err != nil {
		t.Fatal(err)
	}
	summarize.RecordDetail(&rw.Status, v1.StepRouting, res.Detail)
	if !res.Done || res.Failed {
		t.Fatalf("%s: %+v", kind, res)
	}
	return res.Message
}

func TestSnapshotSurvivesCrashAndIsNeverRetaken(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(ingress("chat")).Build()
	e := &Executor{Client: c, Targets: &targets.Resolver{Reader: c, Mapper: c.RESTMapper()}}
	rw := withdrawal(v1.RoutingBlock451)
	ctx := context.Background()
	key := client.ObjectKey{Namespace: "pk", Name: "chat"}
	var original networkingv1.Ingress
	if err := c.Get(ctx, key, &original); err != nil {
		t.Fatal(err)
	}

	msg := run(t, e, rw, planner.ActionStart)
	if !strings.Contains(msg, "1/1 routes") || !strings.Contains(msg, "HTTPRoute API (Gateway API) is not installed") {
		t.Fatalf("message %q", msg)
	}
	var switched networkingv1.Ingress
	if err := c.Get(ctx, key, &switched); err != nil {
		t.Fatal(err)
	}
	if got := switched.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name; got != "notice" {
		t.Fatalf("backend %q, want notice", got)
	}
	if switched.Annotations[AnnotationSnapshot] != SnapshotName(rw, v1.ObjectReference{Kind: "Ingress", Namespace: "pk", Name: "chat"}) {
		t.Fatalf("annotations %v", switched.Annotations)
	}
	// Running again (a retry, a second replica) neither changes the route
	// nor the snapshot.
	run(t, e, rw, planner.ActionStart)
	var again networkingv1.Ingress
	if err := c.Get(ctx, key, &again); err != nil {
		t.Fatal(err)
	}
	if again.ResourceVersion != switched.ResourceVersion {
		t.Fatalf("a second switch wrote the route again")
	}

	// Cancel: the spec is the original again, and the marker is gone.
	run(t, e, rw, planner.ActionRevert)
	var back networkingv1.Ingress
	if err := c.Get(ctx, key, &back); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(back.Spec, original.Spec) || !equality.Semantic.DeepEqual(back.Annotations, original.Annotations) {
		t.Fatalf("restored\n%+v\nwant\n%+v", back, original)
	}
	if st := planner.StepStatus(&rw.Status, v1.StepRouting).Routing; st.Restored != 1 {
		t.Fatalf("status %+v", st)
	}
}

func TestCrashBetweenSnapshotAndSwitchKeepsTheFirstSnapshot(t *testing.T) {
	ing := ingress("chat")
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(ing).Build()
	e := &Executor{Client: c, Targets: &targets.Resolver{Reader: c, Mapper: c.RESTMapper()}}
	rw := withdrawal(v1.RoutingRemove)
	ctx := context.Background()
	ref := v1.ObjectReference{Kind: targets.KindIngress, Namespace: "pk", Name: "chat"}
	u, err := e.get(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	// The snapshot was taken, then the process died before the switch;
	// a new one switches.
	died := &Executor{Client: c, Targets: e.Targets}
	if err := died.ensureSnapshot(ctx, rw, ref, u, SnapshotName(rw, ref)); err != nil {
		t.Fatal(err)
	}
	run(t, e, rw, planner.ActionStart)
	var switched networkingv1.Ingress
	if err := c.Get(ctx, client.ObjectKeyFromObject(ing), &switched); err != nil {
		t.Fatal(err)
	}
	if len(switched.Spec.Rules) != 1 || switched.Spec.Rules[0].HTTP != nil {
		t.Fatalf("rules not removed: %+v", switched.Spec.Rules)
	}
	run(t, e, rw, planner.ActionRevert)
	var back networkingv1.Ingress
	if err := c.Get(ctx, client.ObjectKeyFromObject(ing), &back); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(back.Spec, ing.Spec) {
		t.Fatalf("restored %+v, want %+v", back.Spec, ing.Spec)
	}
}

// TestASnapshotTakenAheadFollowsTheRoute: a route snapshotted ahead of the
// switch and edited afterwards is snapshotted again at the switch, so a
// cancel restores the edit, not what the route was at the preparation.
// Unedited, the switch writes the route alone.
func TestASnapshotTakenAheadFollowsTheRoute(t *testing.T) {
	for _, edited := range []bool{false, true} {
		t.Run(fmt.Sprintf("edited=%v", edited), func(t *testing.T) {
			ing := ingress("chat")
			c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(ing).Build()
			var writes []string
			counted := interceptor.NewClient(c, interceptor.Funcs{
				Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
					writes = append(writes, "create "+obj.GetName())
					return c.Create(ctx, obj, opts...)
				},
				Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
					writes = append(writes, "update "+obj.GetName())
					return c.Update(ctx, obj, opts...)
				},
			})
			e := &Executor{Client: counted, Targets: &targets.Resolver{Reader: counted, Mapper: c.RESTMapper()}}
			rw := withdrawal(v1.RoutingRemove)
			ctx := context.Background()
			if ready, _, err := e.Prepare(ctx, rw); err != nil || !ready {
				t.Fatalf("Prepare: %v %v", ready, err)
			}
			want := ing.Spec.DeepCopy()
			if edited {
				var now networkingv1.Ingress
				if err := c.Get(ctx, client.ObjectKeyFromObject(ing), &now); err != nil {
					t.Fatal(err)
				}
				now.Spec.Rules[0].Host = "chat2.pk.example.com"
				if err := c.Update(ctx, &now); err != nil {
					t.Fatal(err)
				}
				want = now.Spec.DeepCopy()
			}
			writes = nil
			run(t, e, rw, planner.ActionStart)
			snap := SnapshotName(rw, v1.ObjectReference{Kind: targets.KindIngress, Namespace: "pk", Name: "chat"})
			wantWrites := []string{"update chat"}
			if edited {
				wantWrites = []string{"create " + snap, "update " + snap, "update chat"}
			}
			if !equality.Semantic.DeepEqual(writes, wantWrites) {
				t.Fatalf("the switch wrote %v, want %v", writes, wantWrites)
			}
			run(t, e, rw, planner.ActionRevert)
			var back networkingv1.Ingress
			if err := c.Get(ctx, client.ObjectKeyFromObject(ing), &back); err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(back.Spec, *want) {
				t.Fatalf("restored %+v, want %+v", back.Spec, *want)
			}
		})
	}
}
