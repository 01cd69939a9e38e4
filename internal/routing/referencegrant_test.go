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
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

// TestRoutesOfOtherNamespacesReachTheNoticeBackend checks, on an API server
// serving the Gateway API's ReferenceGrant CRD, that HTTPRoutes of other
// namespaces are pointed at the backend in the withdrawal's namespace under
// a ReferenceGrant that names exactly them and it, that the grant only
// grows, that Ingresses of other namespaces get an ExternalName Service
// under the cluster's domain instead, and that a grant of someone else's is
// not taken over.
func TestRoutesOfOtherNamespacesReachTheNoticeBackend(t *testing.T) {
	ctx := context.Background()
	crd, err := testenv.GatewayAPICRD("referencegrants")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: []string{crd}, ErrorIfPathMissing: true}); err != nil {
		t.Fatal(err)
	}
	// A client made after the install, whose mapper knows the new kind.
	c, err := client.New(env.Config, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	const home, edge, edge2, legacy = "grant-home", "grant-edge", "grant-edge2", "grant-legacy"
	for _, ns := range []string{home, edge, edge2, legacy} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: home},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", TimeZone: "Asia/Karachi", Cutoff: metav1.Now(),
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"bes.example.com/region": "pk"}},
			Routing:  &v1.RoutingStep{Mode: v1.RoutingBlock451},
		},
	}
	if err := c.Create(ctx, rw); err != nil {
		t.Fatal(err)
	}
	e := &Executor{Client: c, NoticeBackendImage: "registry.example/rwo:test", ClusterDomain: "corp.internal"}
	route := func(ns string) v1.ObjectReference {
		return v1.ObjectReference{Kind: targets.KindHTTPRoute, Namespace: ns, Name: "pk-route"}
	}
	ing := v1.ObjectReference{Kind: targets.KindIngress, Namespace: legacy, Name: "pk-edge"}

	backends, _, err := e.ensureNoticeBackends(ctx, rw, []v1.ObjectReference{route(edge), ing, route(home)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := backends.For(route(edge)), (Backend{Name: "rwo-notice-pakistan", Port: 80, Namespace: home}); got != want {
		t.Errorf("an HTTPRoute of another namespace is pointed at %+v, want %+v", got, want)
	}
	if got, want := backends.For(route(home)), (Backend{Name: "rwo-notice-pakistan", Port: 80}); got != want {
		t.Errorf("an HTTPRoute of the withdrawal's namespace is pointed at %+v, want %+v", got, want)
	}
	if got, want := backends.For(ing), (Backend{Name: "rwo-notice-pakistan", Port: 80}); got != want {
		t.Errorf("an Ingress of another namespace is pointed at %+v, want %+v (its own namespace's ExternalName)", got, want)
	}
	grantFrom := func() []string {
		t.Helper()
		g := &unstructured.Unstructured{}
		g.SetGroupVersionKind(ReferenceGrantGVK)
		if err := c.Get(ctx, client.ObjectKey{Namespace: home, Name: "rwo-notice-pakistan"}, g); err != nil {
			t.Fatalf("the ReferenceGrant: %v", err)
		}
		to, _, _ := unstructured.NestedSlice(g.Object, "spec", "to")
		if len(to) != 1 || to[0].(map[string]any)["name"] != "rwo-notice-pakistan" || to[0].(map[string]any)["kind"] != "Service" {
			t.Fatalf("the grant is to %v, want the notice backend Service only", to)
		}
		if refs := g.GetOwnerReferences(); len(refs) != 1 || refs[0].UID != rw.UID {
			t.Fatalf("the grant is owned by %v, want the withdrawal", refs)
		}
		var from []string
		items, _, _ := unstructured.NestedSlice(g.Object, "spec", "from")
		for _, f := range items {
			m := f.(map[string]any)
			if m["kind"] != "HTTPRoute" || m["group"] != "gateway.networking.k8s.io" {
				t.Fatalf("the grant is from %v, want HTTPRoutes only", m)
			}
			from = append(from, m["namespace"].(string))
		}
		return from
	}
	if got := grantFrom(); !slices.Equal(got, []string{edge}) {
		t.Errorf("the grant is from %v, want [%s]", got, edge)
	}
	// No ExternalName Service where the grant serves; one, under the
	// cluster's domain, where an Ingress needs it.
	var svc corev1.Service
	if err := c.Get(ctx, client.ObjectKey{Namespace: edge, Name: "rwo-notice-pakistan"}, &svc); err == nil {
		t.Errorf("an ExternalName Service was made in %s, whose routes are HTTPRoutes under the grant", edge)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: legacy, Name: "rwo-notice-pakistan"}, &svc); err != nil {
		t.Fatalf("the Ingress's ExternalName Service: %v", err)
	}
	if want := "rwo-notice-pakistan." + home + ".svc.corp.internal"; svc.Spec.ExternalName != want {
		t.Errorf("the ExternalName Service names %q, want %q", svc.Spec.ExternalName, want)
	}

	// A later switch that finds routes of another namespace, and not the
	// first one's, grows the grant: a route switched earlier keeps its.
	if _, _, err := e.ensureNoticeBackends(ctx, rw, []v1.ObjectReference{route(edge2)}); err != nil {
		t.Fatal(err)
	}
	if got := grantFrom(); !slices.Equal(got, []string{edge, edge2}) {
		t.Errorf("the grant is from %v, want [%s %s]", got, edge, edge2)
	}

	// Someone else's grant of the same name is not taken over.
	other := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: home, UID: "someone-else"}, Spec: rw.Spec}
	if _, err := e.grantRoutes(ctx, other, Backend{Name: "rwo-notice-pakistan", Port: 80}, []string{edge}); err == nil || !strings.Contains(err.Error(), "not made by this withdrawal") {
		t.Fatalf("took over a ReferenceGrant made for another withdrawal: %v", err)
	}
}

// TestWithoutTheReferenceGrantAPIRoutesGetExternalNames checks the
// fallback where the Gateway API's ReferenceGrant is not installed: every
// route of another namespace gets an ExternalName Service, and the status
// says why. The API's absence is the fake client's answer (a double).
func TestWithoutTheReferenceGrantAPIRoutesGetExternalNames(t *testing.T) {
	ctx := context.Background()
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: "bes-pk", UID: "u1"},
		Spec:       v1.RegionWithdrawalSpec{Routing: &v1.RoutingStep{Mode: v1.RoutingBlock451, NoticeBackend: &v1.NoticeBackend{Service: &v1.ServiceReference{Name: "notice", Port: 8080}}}},
	}
	c := fake.NewClientBuilder().WithScheme(testenv.Scheme()).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if obj.GetObjectKind().GroupVersionKind() == ReferenceGrantGVK {
				return &meta.NoKindMatchError{GroupKind: ReferenceGrantGVK.GroupKind(), SearchedVersions: []string{ReferenceGrantGVK.Version}}
			}
			return c.Get(ctx, key, obj, opts...)
		},
	}).Build()
	e := &Executor{Client: c}
	r := v1.ObjectReference{Kind: targets.KindHTTPRoute, Namespace: "edge", Name: "pk-route"}
	backends, _, err := e.ensureNoticeBackends(ctx, rw, []v1.ObjectReference{r})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := backends.For(r), (Backend{Name: "rwo-notice-pakistan", Port: 8080}); got != want {
		t.Errorf("the HTTPRoute is pointed at %+v, want %+v", got, want)
	}
	if !strings.Contains(backends.note, "ReferenceGrant API (Gateway API) is not installed") {
		t.Errorf("the step's message would not say why: %q", backends.note)
	}
	var svc corev1.Service
	if err := c.Get(ctx, client.ObjectKey{Namespace: "edge", Name: "rwo-notice-pakistan"}, &svc); err != nil || svc.Spec.ExternalName != "notice.bes-pk.svc.cluster.local" {
		t.Fatalf("the ExternalName Service: %v %+v", err, svc.Spec)
	}
}
