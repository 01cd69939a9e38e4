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
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

// TestIngressRestoredExactlyOnAPIServer switches Ingresses as the API
// server stores them (with its defaults) in both modes, checks that the API
// server accepts the switched specs, and that cancel restores each spec
// exactly.
func TestIngressRestoredExactlyOnAPIServer(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	for _, tc := range []struct {
		name string
		ns   string
		mode v1.RoutingMode
		ing  func(ns string) *networkingv1.Ingress
	}{
		{name: "Block451 with rules and TLS", ns: "envtest-451", mode: v1.RoutingBlock451, ing: func(ns string) *networkingv1.Ingress {
			i := ingress("chat")
			i.Namespace = ns
			i.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"chat.pk.example.com"}, SecretName: "tls"}}
			return i
		}},
		{name: "Remove with rules", ns: "envtest-remove", mode: v1.RoutingRemove, ing: func(ns string) *networkingv1.Ingress {
			i := ingress("chat")
			i.Namespace = ns
			return i
		}},
		{name: "Remove of a default backend only", ns: "envtest-remove-default", mode: v1.RoutingRemove, ing: func(ns string) *networkingv1.Ingress {
			i := ingress("chat")
			i.Namespace = ns
			i.Spec.Rules = nil
			i.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "chat", Port: networkingv1.ServiceBackendPort{Number: 80}}}
			return i
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tc.ns}}); err != nil {
				t.Fatal(err)
			}
			ing := tc.ing(tc.ns)
			if err := c.Create(ctx, ing); err != nil {
				t.Fatal(err)
			}
			var original networkingv1.Ingress
			if err := c.Get(ctx, client.ObjectKeyFromObject(ing), &original); err != nil {
				t.Fatal(err)
			}
			rw := &v1.RegionWithdrawal{
				ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: tc.ns},
				Spec: v1.RegionWithdrawalSpec{
					Region: "PK", TimeZone: "Asia/Karachi", Cutoff: metav1.Now(),
					Selector: metav1.LabelSelector{MatchLabels: map[string]string{"bes.example.com/region": "pk"}},
					Routing:  &v1.RoutingStep{Mode: tc.mode, NoticeBackend: &v1.NoticeBackend{Service: &v1.ServiceReference{Name: "notice", Port: 8080}}},
				},
			}
			if err := c.Create(ctx, rw); err != nil {
				t.Fatal(err)
			}
			switchedAt := time.Date(2026, 12, 29, 19, 0, 0, 123456789, time.UTC)
			e := &Executor{Client: c, Targets: &targets.Resolver{Reader: c, Mapper: c.RESTMapper()}, Clock: clocktesting.NewFakeClock(switchedAt)}
			res, err := e.Execute(ctx, rw, planner.Action{ID: "routing", Kind: planner.ActionStart, Step: v1.StepRouting})
			if err != nil || !res.Done {
				t.Fatalf("switch: %+v, %v", res, err)
			}
			// The cut to the sub-second, and the same when the step is
			// carried out again later (a second pass, a restart).
			if got := res.Detail.Routing.SwitchedAt; got == nil || !got.Time.Equal(switchedAt) {
				t.Fatalf("switchedAt %v, want %v", got, switchedAt)
			}
			e.Clock = clocktesting.NewFakeClock(switchedAt.Add(time.Minute))
			again, err := e.Execute(ctx, rw, planner.Action{ID: "routing", Kind: planner.ActionStart, Step: v1.StepRouting})
			if err != nil || !again.Done || again.Detail.Routing.SwitchedAt == nil || !again.Detail.Routing.SwitchedAt.Time.Equal(switchedAt) {
				t.Fatalf("switched again: %+v, %v; want the first switch's time %v", again.Detail.Routing, err, switchedAt)
			}
			// The route is the tenant's to write: a switch time later than
			// now is not taken.
			var forged networkingv1.Ingress
			if err := c.Get(ctx, client.ObjectKeyFromObject(ing), &forged); err != nil {
				t.Fatal(err)
			}
			forged.Annotations[AnnotationSwitchedAt] = switchedAt.Add(time.Hour).Format(time.RFC3339Nano)
			if err := c.Update(ctx, &forged); err != nil {
				t.Fatal(err)
			}
			if res, err := e.Execute(ctx, rw, planner.Action{ID: "routing", Kind: planner.ActionStart, Step: v1.StepRouting}); err != nil || res.Detail.Routing.SwitchedAt != nil {
				t.Fatalf("a forged switch time was taken: %+v, %v", res.Detail.Routing, err)
			}
			var switched networkingv1.Ingress
			if err := c.Get(ctx, client.ObjectKeyFromObject(ing), &switched); err != nil {
				t.Fatal(err)
			}
			if equality.Semantic.DeepEqual(switched.Spec, original.Spec) {
				t.Fatalf("the Ingress was not switched")
			}
			if tc.mode == v1.RoutingBlock451 && switched.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name != "notice" {
				t.Fatalf("switched to %+v", switched.Spec.Rules[0].HTTP.Paths[0].Backend)
			}
			if tc.mode == v1.RoutingRemove && (switched.Spec.DefaultBackend != nil || slicesHavePaths(switched.Spec.Rules)) {
				t.Fatalf("rules not removed: %+v", switched.Spec)
			}
			res, err = e.Execute(ctx, rw, planner.Action{ID: "revert/routing", Kind: planner.ActionRevert, Step: v1.StepRouting})
			if err != nil || !res.Done {
				t.Fatalf("revert: %+v, %v", res, err)
			}
			var back networkingv1.Ingress
			if err := c.Get(ctx, client.ObjectKeyFromObject(ing), &back); err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(back.Spec, original.Spec) {
				t.Fatalf("restored spec\n%+v\nwant\n%+v", back.Spec, original.Spec)
			}
			if !equality.Semantic.DeepEqual(back.Annotations, original.Annotations) || !equality.Semantic.DeepEqual(back.Labels, original.Labels) {
				t.Fatalf("restored metadata %v %v, want %v %v", back.Labels, back.Annotations, original.Labels, original.Annotations)
			}
		})
	}
}

func slicesHavePaths(rules []networkingv1.IngressRule) bool {
	for _, r := range rules {
		if r.HTTP != nil {
			return true
		}
	}
	return false
}

// TestNoticeBackendDeployedOnce checks the deployed notice backend is
// accepted by the API server and that a second run adopts it.
func TestNoticeBackendDeployedOnce(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	const ns = "envtest-notice"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
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
	if err := c.Create(ctx, rw); err != nil {
		t.Fatal(err)
	}
	e := &Executor{Client: c, NoticeBackendImage: "registry.example/rwo:test"}
	for range 2 {
		backends, where, err := e.ensureNoticeBackends(ctx, rw, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := ns + "/rwo-notice-pakistan:80"; where != want || backends.For(v1.ObjectReference{Kind: "Ingress", Namespace: ns}).Name != "rwo-notice-pakistan" {
			t.Fatalf("backend %s %v, want %s", where, backends, want)
		}
	}
	// A Service of the same name that someone else made is not taken over.
	other := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: ns, UID: "someone-else"}, Spec: rw.Spec}
	if _, _, err := e.ensureNoticeBackends(ctx, other, nil); err == nil {
		t.Fatal("adopted a notice backend made for another withdrawal")
	}
}

// TestASwitchTheStatusNeverRecordedIsPutBack: the switch is self-recording
// (the controller records its start after it), so a withdrawal cancelled,
// or cancelled and deleted, before its status said the switch started must
// still get its routes back, from the snapshots the routes name.
func TestASwitchTheStatusNeverRecordedIsPutBack(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	for _, tc := range []struct {
		name, ns string
		undo     func(e *Executor, rw *v1.RegionWithdrawal) error
	}{
		{name: "cancelled: Unprepare", ns: "envtest-unrecorded-cancel", undo: func(e *Executor, rw *v1.RegionWithdrawal) error {
			return e.Unprepare(ctx, rw)
		}},
		{name: "cancelled and deleted: Finalize", ns: "envtest-unrecorded-delete", undo: func(e *Executor, rw *v1.RegionWithdrawal) error {
			rw.Status.Phase = v1.PhaseCancelled
			return e.Finalize(ctx, rw)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tc.ns}}); err != nil {
				t.Fatal(err)
			}
			ing := ingress("chat")
			ing.Namespace = tc.ns
			if err := c.Create(ctx, ing); err != nil {
				t.Fatal(err)
			}
			var original networkingv1.Ingress
			if err := c.Get(ctx, client.ObjectKeyFromObject(ing), &original); err != nil {
				t.Fatal(err)
			}
			rw := &v1.RegionWithdrawal{
				ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: tc.ns},
				Spec: v1.RegionWithdrawalSpec{
					Region: "PK", TimeZone: "Asia/Karachi", Cutoff: metav1.Now(), Cancel: true, AllowCancelAfterCutoff: true,
					Selector: metav1.LabelSelector{MatchLabels: map[string]string{"bes.example.com/region": "pk"}},
					Routing:  &v1.RoutingStep{Mode: v1.RoutingRemove},
				},
			}
			if err := c.Create(ctx, rw); err != nil {
				t.Fatal(err)
			}
			e := &Executor{Client: c, Targets: &targets.Resolver{Reader: c, Mapper: c.RESTMapper()}}
			if !e.SelfRecording() {
				t.Fatal("the routing executor does not say it is self-recording")
			}
			if res, err := e.Execute(ctx, rw, planner.Action{ID: "routing", Kind: planner.ActionStart, Step: v1.StepRouting}); err != nil || !res.Done {
				t.Fatalf("switch: %+v, %v", res, err)
			}
			// The status says nothing of it: the routing step never started.
			if err := tc.undo(e, rw); err != nil {
				t.Fatal(err)
			}
			var back networkingv1.Ingress
			if err := c.Get(ctx, client.ObjectKeyFromObject(ing), &back); err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(back.Spec, original.Spec) || back.Annotations[AnnotationSnapshot] != "" {
				t.Fatalf("route after the undo: %+v %v; want the original %+v without the snapshot's name", back.Spec, back.Annotations, original.Spec)
			}
			// Undoing again changes nothing (it is idempotent).
			if err := tc.undo(e, rw); err != nil {
				t.Fatal(err)
			}
			var again networkingv1.Ingress
			if err := c.Get(ctx, client.ObjectKeyFromObject(ing), &again); err != nil || again.ResourceVersion != back.ResourceVersion {
				t.Fatalf("a second undo wrote the route again (%v)", err)
			}
		})
	}
}
