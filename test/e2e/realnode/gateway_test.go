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

package realnode

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/ociimage"
	"github.com/ops-dev/region-withdrawal-operator/internal/routing"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
)

// The edge namespace serves the region's second host name through an
// HTTPRoute attached to Traefik's Gateway (hack/real-node.sh); the
// withdrawal that switches it lives in tenantNS, where its notice backend
// runs, so the route must name the backend across namespaces.
const (
	edgeNS   = "bes-pk-edge"
	edgeHost = "pk-gw.example.test"
	// gateway is Traefik's one Gateway on the real node.
	gatewayNS, gatewayName = "kube-system", "rwo-gateway"
)

var (
	edgeLabels = map[string]string{"bes.example.com/region": "pk-gw"}
	// edgeNamespaceLabels select edgeNS for the edge withdrawal.
	edgeNamespaceLabels = map[string]string{"bes.example.com/edge": "pk"}
)

// deployEdgeApp runs the sample app in edgeNS (made before the operator is
// installed, since it watches it) behind an HTTPRoute for
// edgeHost, and lets the withdrawal's ServiceAccount (tenantNS's default)
// act there, as docs/security.md tells a user selecting other namespaces
// to: the tenant role bound in edgeNS, and reading namespaces.
func deployEdgeApp(t *testing.T, c client.Client) {
	t.Helper()
	ctx := context.Background()
	app := map[string]string{"app": "messaging-edge"}
	sa := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: tenantNS, Name: "region-withdrawal"}
	route := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{
			"parentRefs": []any{map[string]any{"name": gatewayName, "namespace": gatewayNS}},
			"hostnames":  []any{edgeHost},
			"rules":      []any{map[string]any{"backendRefs": []any{map[string]any{"name": "messaging", "port": int64(80)}}}},
		},
	}}
	route.SetGroupVersionKind(targets.HTTPRouteGVK)
	route.SetNamespace(edgeNS)
	route.SetName("pk-route")
	route.SetLabels(edgeLabels)
	for _, o := range []client.Object{
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "messaging", Namespace: edgeNS, Labels: app},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](1),
				Selector: &metav1.LabelSelector{MatchLabels: app},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: app},
					Spec: corev1.PodSpec{
						SecurityContext: restrictedPod(),
						Containers: []corev1.Container{{
							Name: "app", Image: ociimage.SampleAppRef, ImagePullPolicy: corev1.PullNever,
							Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
							ReadinessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}, PeriodSeconds: 1},
							SecurityContext: restrictedContainer(),
						}},
					},
				},
			},
		},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "messaging", Namespace: edgeNS},
			Spec: corev1.ServiceSpec{Selector: app,
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
		},
		route,
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "pk-withdrawal", Namespace: edgeNS},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "rwo-region-withdrawal-operator-tenant"},
			Subjects:   []rbacv1.Subject{sa},
		},
		&rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: "pk-withdrawal-namespaces"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list"}}},
		},
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "pk-withdrawal-namespaces"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "pk-withdrawal-namespaces"},
			Subjects:   []rbacv1.Subject{sa},
		},
	} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	edge := newIngressClient()
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 90*time.Second, true, func(context.Context) (bool, error) {
		r := edge.getHost(edgeHost)
		return r.status == http.StatusOK && strings.HasPrefix(r.body, "region PK served by"), nil
	}); err != nil {
		dump(t, edgeNS)
		t.Fatalf("the app never answered 200 through the Gateway's HTTPRoute: last %+v", edge.getHost(edgeHost))
	}
}

// edgeWithdrawal switches only the edge namespace's HTTPRoute, at cutoff.
func edgeWithdrawal(cutoff time.Time) *v1.RegionWithdrawal {
	zero := v1.Moment{Offset: &metav1.Duration{}}
	return &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan-edge", Namespace: tenantNS},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Cutoff: metav1.NewTime(cutoff), TimeZone: "Asia/Karachi",
			Selector:          metav1.LabelSelector{MatchLabels: edgeLabels},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: edgeNamespaceLabels},
			Routing:           &v1.RoutingStep{At: &zero, Mode: v1.RoutingBlock451, NoticeBackend: &v1.NoticeBackend{BlockedBy: blockedBy}},
		},
	}
}

// checkEdgeRoute: once the edge withdrawal completes, a client of edgeHost
// gets 451 through Traefik's Gateway from the notice backend in tenantNS,
// which the HTTPRoute names across namespaces under the withdrawal's
// ReferenceGrant, and no ExternalName Service was made in edgeNS.
func checkEdgeRoute(t *testing.T, c client.Client, rw *v1.RegionWithdrawal) {
	t.Helper()
	ctx := context.Background()
	var got v1.RegionWithdrawal
	if err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		return c.Get(ctx, client.ObjectKeyFromObject(rw), &got) == nil && got.Status.Phase == v1.PhaseCompleted, nil
	}); err != nil {
		dump(t, edgeNS)
		t.Fatalf("the edge withdrawal did not complete: phase %s, steps %+v, conditions %+v", got.Status.Phase, got.Status.Steps, got.Status.Conditions)
	}
	backend := routing.NoticeBackendName(rw)

	route := &unstructured.Unstructured{}
	route.SetGroupVersionKind(targets.HTTPRouteGVK)
	if err := c.Get(ctx, client.ObjectKey{Namespace: edgeNS, Name: "pk-route"}, route); err != nil {
		t.Fatal(err)
	}
	rules, _, _ := unstructured.NestedSlice(route.Object, "spec", "rules")
	for _, r := range rules {
		refs, _, _ := unstructured.NestedSlice(r.(map[string]any), "backendRefs")
		if len(refs) != 1 || refs[0].(map[string]any)["name"] != backend || refs[0].(map[string]any)["namespace"] != tenantNS {
			t.Fatalf("the switched HTTPRoute's rule names %v, want %s/%s", refs, tenantNS, backend)
		}
	}
	grant := &unstructured.Unstructured{}
	grant.SetGroupVersionKind(routing.ReferenceGrantGVK)
	if err := c.Get(ctx, client.ObjectKey{Namespace: tenantNS, Name: backend}, grant); err != nil {
		t.Fatalf("the withdrawal's ReferenceGrant: %v", err)
	}
	var svc corev1.Service
	if err := c.Get(ctx, client.ObjectKey{Namespace: edgeNS, Name: backend}, &svc); err == nil {
		t.Errorf("an ExternalName Service %s/%s was made, though the HTTPRoute names the backend under a ReferenceGrant", edgeNS, backend)
	}

	// Traefik follows the cross-namespace reference only under the grant;
	// the answer is the notice backend's, as the customer sees it.
	edge := newIngressClient()
	var last answer
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		last = edge.getHost(edgeHost)
		return last.status == http.StatusUnavailableForLegalReasons, nil
	}); err != nil {
		dump(t, edgeNS)
		t.Fatalf("a client of %s never got 451 through the Gateway: last %+v", edgeHost, last)
	}
	if !strings.Contains(last.link, blockedBy) {
		t.Errorf("the 451 through the Gateway links %q, want the blocking order %s", last.link, blockedBy)
	}
	t.Logf("an HTTPRoute of %s names the notice backend in %s under ReferenceGrant %s/%s; its clients get 451 through Traefik's Gateway", edgeNS, tenantNS, tenantNS, backend)
}
