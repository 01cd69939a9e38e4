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

package tenant

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// authorizer answers SubjectAccessReviews from a set of allowed
// "verb resource namespace" strings and counts the reviews.
type authorizer struct {
	allowed map[string]bool
	reviews int
}

func (a *authorizer) create(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
	sar, ok := obj.(*authorizationv1.SubjectAccessReview)
	if !ok {
		return c.Create(ctx, obj, opts...)
	}
	a.reviews++
	r := sar.Spec.ResourceAttributes
	sar.Status.Allowed = a.allowed[r.Verb+" "+r.Resource+" "+r.Namespace]
	return nil
}

func newRouter(t *testing.T, a *authorizer, objs ...client.Object) (client.Client, *clocktesting.FakeClock) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(appsv1.SchemeGroupVersion.WithKind("Deployment"), meta.RESTScopeNamespace)
	own := fake.NewClientBuilder().WithScheme(scheme).WithRESTMapper(mapper).WithObjects(objs...).
		WithInterceptorFuncs(interceptor.Funcs{Create: a.create}).Build()
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	return NewClients(nil, own, own, clk).Client(), clk
}

func deploy(ns, name string) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

var shop = Identity{Namespace: "shop", ServiceAccount: "region-withdrawal"}

func TestReadsAreTheServiceAccounts(t *testing.T) {
	a := &authorizer{allowed: map[string]bool{"list deployments shop": true, "get deployments shop": true}}
	c, _ := newRouter(t, a, deploy("shop", "web"), deploy("kube-system", "coredns"))
	ctx := WithIdentity(context.Background(), shop)

	t.Run("in a namespace it may read", func(t *testing.T) {
		var got appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web"}, &got); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("in a namespace it may not", func(t *testing.T) {
		var got appsv1.DeploymentList
		err := c.List(ctx, &got, client.InNamespace("kube-system"))
		d, ok := AsDenied(err)
		if !ok {
			t.Fatalf("listing kube-system's Deployments: %v, want a DeniedError", err)
		}
		for _, want := range []string{`"system:serviceaccount:shop:region-withdrawal"`, "list", `"deployments"`, `"kube-system"`, "shop/region-withdrawal"} {
			if !strings.Contains(d.Error(), want) {
				t.Errorf("the denial does not name %s: %s", want, d.Error())
			}
		}
	})
	t.Run("across namespaces it sees only its own", func(t *testing.T) {
		var got appsv1.DeploymentList
		if err := c.List(ctx, &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Items) != 1 || got.Items[0].Namespace != "shop" {
			t.Errorf("listed %+v, want only shop/web", got.Items)
		}
	})
	t.Run("without an identity it is the operator", func(t *testing.T) {
		var got appsv1.DeploymentList
		if err := c.List(context.Background(), &got); err != nil || len(got.Items) != 2 {
			t.Errorf("listed %d, %v; want both Deployments", len(got.Items), err)
		}
		if err := c.List(AsOperator(ctx), &got); err != nil || len(got.Items) != 2 {
			t.Errorf("as the operator: listed %d, %v; want both Deployments", len(got.Items), err)
		}
	})
}

func TestAnswersAreReusedForAWhile(t *testing.T) {
	a := &authorizer{allowed: map[string]bool{"get deployments shop": true}}
	c, clk := newRouter(t, a, deploy("shop", "web"))
	ctx := WithIdentity(context.Background(), shop)
	get := func() error {
		return c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web"}, &appsv1.Deployment{})
	}
	for range 3 {
		if err := get(); err != nil {
			t.Fatal(err)
		}
	}
	if a.reviews != 1 {
		t.Errorf("%d reviews for three reads within %s, want 1", a.reviews, decisionTTL)
	}
	// RBAC changed: the grant is gone. The next read after the TTL sees it.
	a.allowed = map[string]bool{}
	clk.Step(decisionTTL + time.Second)
	if _, denied := AsDenied(get()); !denied {
		t.Error("a revoked grant still allowed the read after the TTL")
	}
}

func TestIdentity(t *testing.T) {
	if got := shop.UserName(); got != "system:serviceaccount:shop:region-withdrawal" {
		t.Errorf("UserName %q", got)
	}
	if _, ok := FromContext(context.Background()); ok {
		t.Error("an empty context carries an identity")
	}
	if _, ok := FromContext(AsOperator(WithIdentity(context.Background(), shop))); ok {
		t.Error("AsOperator kept the identity")
	}
}
