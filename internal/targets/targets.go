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

// Package targets finds the objects that belong to a region: the namespaces
// a withdrawal searches and, in them, the workloads, Services, Ingresses and
// HTTPRoutes its selector matches.
package targets

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// Kinds of target objects, as shown in status.
const (
	KindNamespace   = "Namespace"
	KindDeployment  = "Deployment"
	KindStatefulSet = "StatefulSet"
	KindService     = "Service"
	KindIngress     = "Ingress"
	KindHTTPRoute   = "HTTPRoute"
)

// HTTPRouteGVK is Gateway API's HTTPRoute. It is read as unstructured so the
// operator works whether or not the Gateway API CRDs are installed.
var HTTPRouteGVK = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"}

// Set is what a withdrawal selects, each list sorted by namespace and name.
type Set struct {
	Namespaces   []string
	Deployments  []v1.ObjectReference
	StatefulSets []v1.ObjectReference
	Services     []v1.ObjectReference
	Ingresses    []v1.ObjectReference
	HTTPRoutes   []v1.ObjectReference
	// HTTPRoutesUnavailable is true when the HTTPRoute API is not installed.
	HTTPRoutesUnavailable bool
}

// Workloads returns the Deployments and StatefulSets.
func (s *Set) Workloads() []v1.ObjectReference {
	return append(slices.Clone(s.Deployments), s.StatefulSets...)
}

// Routes returns the Ingresses and HTTPRoutes.
func (s *Set) Routes() []v1.ObjectReference {
	return append(slices.Clone(s.Ingresses), s.HTTPRoutes...)
}

// routeAPICheckInterval is how long "the HTTPRoute API is not installed" is
// believed before the API server is asked again. Asking on every reconcile
// would make controller-runtime's REST mapper re-read discovery, under a
// lock, for every withdrawal that falls due at a cutoff.
const routeAPICheckInterval = time.Minute

// Resolver lists targets. Give it the manager's cached client, and call
// WarmUp at start-up so the first cutoff does not wait for informers.
type Resolver struct {
	Reader client.Reader
	// Clock defaults to the real clock.
	Clock clock.PassiveClock

	// Mapper answers whether the HTTPRoute API is installed; give it the
	// manager's REST mapper.
	Mapper meta.RESTMapper

	mu               sync.Mutex
	routesCheckedAt  time.Time
	routesMissingNow bool
}

// cachedKinds are the kinds Resolve reads through the cache.
func cachedKinds() []client.Object {
	return []client.Object{&corev1.Namespace{}, &appsv1.Deployment{}, &appsv1.StatefulSet{}, &corev1.Service{}, &networkingv1.Ingress{}}
}

// WarmUp starts the informers Resolve reads from when the manager starts.
func WarmUp(mgr manager.Manager) error {
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		for _, obj := range cachedKinds() {
			if _, err := mgr.GetCache().GetInformer(ctx, obj); err != nil {
				return fmt.Errorf("starting the %T informer: %w", obj, err)
			}
		}
		<-ctx.Done()
		return nil
	}))
}

func (r *Resolver) now() time.Time {
	if r.Clock == nil {
		// Not injected (a test building the struct by hand): the real clock,
		// as SetupWithManager defaults it.
		return clock.RealClock{}.Now()
	}
	return r.Clock.Now()
}

// routesMissing reports whether the HTTPRoute API is missing, asking the
// API server at most once per routeAPICheckInterval. The lock is held while
// asking, so that when many withdrawals fall due at once only one of them
// waits for discovery and the others reuse its answer.
func (r *Resolver) routesMissing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.routesCheckedAt.IsZero() && r.now().Sub(r.routesCheckedAt) < routeAPICheckInterval {
		return r.routesMissingNow
	}
	if r.Mapper == nil {
		return false // the list itself will tell
	}
	_, err := r.Mapper.RESTMapping(HTTPRouteGVK.GroupKind(), HTTPRouteGVK.Version)
	r.routesCheckedAt, r.routesMissingNow = r.now(), meta.IsNoMatchError(err)
	return r.routesMissingNow
}

func (r *Resolver) noteRoutesMissing() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.routesCheckedAt, r.routesMissingNow = r.now(), true
}

// Namespaces returns the namespaces a withdrawal searches.
func (r *Resolver) Namespaces(ctx context.Context, rw *v1.RegionWithdrawal) ([]string, error) {
	if rw.Spec.NamespaceSelector == nil {
		return []string{rw.Namespace}, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(rw.Spec.NamespaceSelector)
	if err != nil {
		return nil, fmt.Errorf("parsing spec.namespaceSelector: %w", err)
	}
	var list corev1.NamespaceList
	if err := r.Reader.List(ctx, &list, client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("listing namespaces: %w", err)
	}
	names := make([]string, 0, len(list.Items))
	for _, ns := range list.Items {
		names = append(names, ns.Name)
	}
	slices.Sort(names)
	return names, nil
}

// Resolve lists everything the withdrawal selects.
func (r *Resolver) Resolve(ctx context.Context, rw *v1.RegionWithdrawal) (*Set, error) {
	sel, err := metav1.LabelSelectorAsSelector(&rw.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("parsing spec.selector: %w", err)
	}
	nss, err := r.Namespaces(ctx, rw)
	if err != nil {
		return nil, err
	}
	set := &Set{Namespaces: nss, HTTPRoutesUnavailable: r.routesMissing()}
	for _, ns := range nss {
		if err := r.listInto(ctx, ns, sel, &appsv1.DeploymentList{}, KindDeployment, &set.Deployments); err != nil {
			return nil, err
		}
		if err := r.listInto(ctx, ns, sel, &appsv1.StatefulSetList{}, KindStatefulSet, &set.StatefulSets); err != nil {
			return nil, err
		}
		if err := r.listInto(ctx, ns, sel, &corev1.ServiceList{}, KindService, &set.Services); err != nil {
			return nil, err
		}
		if err := r.listInto(ctx, ns, sel, &networkingv1.IngressList{}, KindIngress, &set.Ingresses); err != nil {
			return nil, err
		}
		if set.HTTPRoutesUnavailable {
			continue
		}
		routes := &unstructured.UnstructuredList{}
		routes.SetGroupVersionKind(HTTPRouteGVK.GroupVersion().WithKind(HTTPRouteGVK.Kind + "List"))
		err := r.listInto(ctx, ns, sel, routes, KindHTTPRoute, &set.HTTPRoutes)
		switch {
		case meta.IsNoMatchError(err):
			set.HTTPRoutesUnavailable = true
			r.noteRoutesMissing()
		case err != nil:
			return nil, err
		}
	}
	for _, l := range [][]v1.ObjectReference{set.Deployments, set.StatefulSets, set.Services, set.Ingresses, set.HTTPRoutes} {
		slices.SortFunc(l, Compare)
	}
	return set, nil
}

func (r *Resolver) listInto(ctx context.Context, ns string, sel labels.Selector, list client.ObjectList, kind string, out *[]v1.ObjectReference) error {
	if err := r.Reader.List(ctx, list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return fmt.Errorf("listing %ss in %s: %w", kind, ns, err)
	}
	return meta.EachListItem(list, func(o runtime.Object) error {
		obj, ok := o.(client.Object)
		if !ok {
			return fmt.Errorf("unexpected %T in %s list", o, kind)
		}
		*out = append(*out, v1.ObjectReference{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName()})
		return nil
	})
}

// Compare orders references by namespace, kind and name.
func Compare(a, b v1.ObjectReference) int {
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	if c := strings.Compare(a.Kind, b.Kind); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}
