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

package targets

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

func names(refs []v1.ObjectReference) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Namespace+"/"+r.Name)
	}
	return out
}

func TestResolveFollowsBothSelectors(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	for _, ns := range []struct {
		name   string
		region string
	}{{"pk-east", "pk"}, {"pk-west", "pk"}, {"in-north", "in"}} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns.name, Labels: map[string]string{"bes.example.com/country": ns.region}}}); err != nil {
			t.Fatal(err)
		}
		for _, app := range []struct {
			name   string
			labels map[string]string
		}{{"messaging", map[string]string{"bes.example.com/region": "pk"}}, {"billing", map[string]string{"bes.example.com/region": "global"}}} {
			one := int32(1)
			if err := c.Create(ctx, &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: app.name, Namespace: ns.name, Labels: app.labels},
				Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app.name}},
					Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app.name}},
						Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}},
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Namespace: "pk-east", Name: "pk"},
		Spec: v1.RegionWithdrawalSpec{
			Selector:          metav1.LabelSelector{MatchLabels: map[string]string{"bes.example.com/region": "pk"}},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"bes.example.com/country": "pk"}},
		},
	}
	r := &Resolver{Reader: c, Mapper: c.RESTMapper()}
	set, err := r.Resolve(ctx, rw)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"pk-east", "pk-west"}; !slices.Equal(set.Namespaces, want) {
		t.Fatalf("namespaces %v, want %v", set.Namespaces, want)
	}
	if want := []string{"pk-east/messaging", "pk-west/messaging"}; !slices.Equal(names(set.Deployments), want) {
		t.Fatalf("deployments %v, want %v", names(set.Deployments), want)
	}

	// Without a namespace selector only the withdrawal's namespace counts.
	rw.Spec.NamespaceSelector = nil
	if set, err = r.Resolve(ctx, rw); err != nil {
		t.Fatal(err)
	}
	if want := []string{"pk-east/messaging"}; !slices.Equal(names(set.Deployments), want) {
		t.Fatalf("deployments %v, want %v", names(set.Deployments), want)
	}
}

func TestHTTPRouteAPIMissingThenInstalled(t *testing.T) {
	ctx := context.Background()
	c, err := client.New(env.Config, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "routes"}}); err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 29, 19, 0, 0, 0, time.UTC))
	r := &Resolver{Reader: c, Mapper: c.RESTMapper(), Clock: clk}
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Namespace: "routes", Name: "pk"},
		Spec:       v1.RegionWithdrawalSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"bes.example.com/region": "pk"}}},
	}
	set, err := r.Resolve(ctx, rw)
	if err != nil || !set.HTTPRoutesUnavailable {
		t.Fatalf("without the Gateway API: %+v, %v; want HTTPRoutesUnavailable and no error", set, err)
	}

	// Install a minimal HTTPRoute CRD and one route of the region.
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "httproutes.gateway.networking.k8s.io",
			// *.k8s.io groups need this; the real Gateway API CRDs carry it too.
			Annotations: map[string]string{"api-approved.kubernetes.io": "https://github.com/kubernetes-sigs/gateway-api/pull/3328"}},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "gateway.networking.k8s.io", Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "httproutes", Singular: "httproute", Kind: "HTTPRoute", ListKind: "HTTPRouteList"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: ptrTo(true)}}}},
		},
	}
	scheme := testenv.Scheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	admin, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(ctx, crd); err != nil {
		t.Fatal(err)
	}
	route := &unstructured.Unstructured{}
	route.SetGroupVersionKind(HTTPRouteGVK)
	route.SetNamespace("routes")
	route.SetName("pk-edge")
	route.SetLabels(map[string]string{"bes.example.com/region": "pk"})
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		return admin.Create(ctx, route) == nil, nil
	}); err != nil {
		t.Fatalf("the HTTPRoute CRD never became usable: %v", err)
	}

	// Within the check interval the missing API is believed...
	if set, err = r.Resolve(ctx, rw); err != nil || !set.HTTPRoutesUnavailable {
		t.Fatalf("within the interval: %+v, %v; want still unavailable", set, err)
	}
	// ...after it, the API server is asked again and the route is found.
	clk.Step(routeAPICheckInterval)
	if set, err = r.Resolve(ctx, rw); err != nil || set.HTTPRoutesUnavailable || len(set.HTTPRoutes) != 1 || set.HTTPRoutes[0].Name != "pk-edge" {
		t.Fatalf("after the interval: %+v, %v; want the pk-edge route", set, err)
	}
}

func ptrTo[T any](v T) *T { return &v }
