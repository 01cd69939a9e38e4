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
	"fmt"
	"strings"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// decisionTTL is how long a SubjectAccessReview's answer is reused. RBAC
// changes are seen within it; at a cutoff, when every withdrawal of a
// region acts in the same second, one review serves them all.
const decisionTTL = 10 * time.Second

// maxCached bounds the impersonating clients and decisions kept; past it
// the cache starts again.
const maxCached = 4096

// Clients hands out the clients the executors use. It is safe for
// concurrent use.
type Clients struct {
	own    client.Client
	ownAPI client.Reader
	config *rest.Config
	clock  clock.PassiveClock

	mu        sync.Mutex
	clients   map[Identity]client.Client
	decisions map[decisionKey]decision
}

type decisionKey struct {
	user, verb, group, resource, namespace, name string
}

type decision struct {
	allowed bool
	reason  string
	expires time.Time
}

// NewClients returns the clients that act as the identity in their call's
// context. own is the manager's client (cached reads), ownAPI its uncached
// reader, and config the operator's own REST config, which impersonating
// clients are made from.
func NewClients(config *rest.Config, own client.Client, ownAPI client.Reader, clk clock.PassiveClock) *Clients {
	return &Clients{own: own, ownAPI: ownAPI, config: config, clock: clk,
		clients: map[Identity]client.Client{}, decisions: map[decisionKey]decision{}}
}

// Client reads from the cache, once a SubjectAccessReview allows it, and
// writes by impersonation.
func (c *Clients) Client() client.Client { return &router{Client: c.own, clients: c} }

// Reader reads uncached, by impersonation.
func (c *Clients) Reader() client.Reader { return &apiRouter{clients: c} }

// impersonating returns the client that acts as id, made once.
func (c *Clients) impersonating(id Identity) (client.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[id]; ok {
		return cl, nil
	}
	cfg := rest.CopyConfig(c.config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: id.UserName()}
	cfg.WarningHandlerWithContext = warningCollector{}
	cl, err := client.New(cfg, client.Options{Scheme: c.own.Scheme(), Mapper: c.own.RESTMapper()})
	if err != nil {
		return nil, fmt.Errorf("a client acting as %s: %w", id.UserName(), err)
	}
	if len(c.clients) >= maxCached {
		c.clients = map[Identity]client.Client{}
	}
	c.clients[id] = cl
	return cl, nil
}

// authorize asks whether id may verb the objects of obj's kind in
// namespace (cluster-wide when empty), by name when name is set. It
// answers with the Forbidden error the API server would have given.
func (c *Clients) authorize(ctx context.Context, id Identity, verb string, obj runtime.Object, namespace, name string) error {
	gvr, namespaced, err := c.resourceOf(obj)
	if err != nil {
		return err
	}
	if !namespaced {
		namespace = ""
	}
	key := decisionKey{user: id.UserName(), verb: verb, group: gvr.Group, resource: gvr.Resource, namespace: namespace, name: name}
	now := c.clock.Now()
	c.mu.Lock()
	d, ok := c.decisions[key]
	c.mu.Unlock()
	if !ok || now.After(d.expires) {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: id.UserName(), Groups: id.Groups(),
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Group: gvr.Group, Resource: gvr.Resource, Namespace: namespace, Name: name},
		}}
		if err := c.own.Create(ctx, sar); err != nil {
			return fmt.Errorf("asking whether %s may %s %s: %w", id.UserName(), verb, gvr.Resource, err)
		}
		d = decision{allowed: sar.Status.Allowed, reason: sar.Status.Reason, expires: now.Add(decisionTTL)}
		c.mu.Lock()
		if len(c.decisions) >= maxCached {
			c.decisions = map[decisionKey]decision{}
		}
		c.decisions[key] = d
		c.mu.Unlock()
	}
	if d.allowed {
		return nil
	}
	return &DeniedError{Identity: id, Err: forbidden(id, verb, gvr, namespace, name)}
}

// forbidden is the error the API server gives a request RBAC refuses.
func forbidden(id Identity, verb string, gvr schema.GroupVersionResource, namespace, name string) error {
	where := "at the cluster scope"
	if namespace != "" {
		where = fmt.Sprintf("in the namespace %q", namespace)
	}
	return apierrors.NewForbidden(gvr.GroupResource(), name,
		fmt.Errorf("User %q cannot %s resource %q in API group %q %s", id.UserName(), verb, gvr.Resource, gvr.Group, where))
}

// resourceOf maps an object or a list to its resource.
func (c *Clients) resourceOf(obj runtime.Object) (schema.GroupVersionResource, bool, error) {
	gvk, err := c.own.GroupVersionKindFor(obj)
	if err != nil {
		return schema.GroupVersionResource{}, false, err
	}
	if meta.IsListType(obj) {
		gvk.Kind = strings.TrimSuffix(gvk.Kind, "List")
	}
	m, err := c.own.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return schema.GroupVersionResource{}, false, err
	}
	return m.Resource, m.Scope.Name() == meta.RESTScopeNameNamespace, nil
}
