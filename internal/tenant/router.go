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

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// router is the executors' client. With an identity in the context it
// writes as that identity and reads from the cache only what the identity
// could read; without one it is the operator's own client.
type router struct {
	client.Client // the operator's own; Scheme, RESTMapper and the rest
	clients       *Clients
}

func (r *router) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if id, ok := FromContext(ctx); ok {
		if err := r.clients.authorize(ctx, id, "get", obj, key.Namespace, key.Name); err != nil {
			return err
		}
	}
	return r.Client.Get(ctx, key, obj, opts...)
}

// List of a namespaced kind across all namespaces keeps only the items of
// namespaces the identity may list in, when it may not list cluster-wide:
// what the withdrawal cannot see, it cannot have changed.
func (r *router) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	id, ok := FromContext(ctx)
	if !ok {
		return r.Client.List(ctx, list, opts...)
	}
	lo := (&client.ListOptions{}).ApplyOptions(opts)
	err := r.clients.authorize(ctx, id, "list", list, lo.Namespace, "")
	if err == nil {
		return r.Client.List(ctx, list, opts...)
	}
	if _, namespaced, rerr := r.clients.resourceOf(list); rerr != nil || !namespaced || lo.Namespace != "" {
		return err
	}
	if err := r.Client.List(ctx, list, opts...); err != nil {
		return err
	}
	return r.keepVisible(ctx, id, list)
}

func (r *router) keepVisible(ctx context.Context, id Identity, list client.ObjectList) error {
	items, err := meta.ExtractList(list)
	if err != nil {
		return err
	}
	kept := items[:0]
	for _, item := range items {
		o, ok := item.(client.Object)
		if !ok {
			continue
		}
		err := r.clients.authorize(ctx, id, "list", list, o.GetNamespace(), "")
		if _, denied := AsDenied(err); denied {
			continue
		}
		if err != nil {
			return err
		}
		kept = append(kept, item)
	}
	return meta.SetList(list, kept)
}

// as returns the client for ctx's identity: an impersonating one, or the
// operator's own.
func (r *router) as(ctx context.Context) (client.Client, Identity, error) {
	id, ok := FromContext(ctx)
	if !ok {
		return r.Client, id, nil
	}
	c, err := r.clients.impersonating(id)
	return c, id, err
}

func (r *router) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	c, id, err := r.as(ctx)
	if err != nil {
		return err
	}
	return denied(id, c.Create(ctx, obj, opts...))
}

func (r *router) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	c, id, err := r.as(ctx)
	if err != nil {
		return err
	}
	return denied(id, c.Update(ctx, obj, opts...))
}

func (r *router) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	c, id, err := r.as(ctx)
	if err != nil {
		return err
	}
	return denied(id, c.Patch(ctx, obj, patch, opts...))
}

func (r *router) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	c, id, err := r.as(ctx)
	if err != nil {
		return err
	}
	return denied(id, c.Apply(ctx, obj, opts...))
}

func (r *router) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	c, id, err := r.as(ctx)
	if err != nil {
		return err
	}
	return denied(id, c.Delete(ctx, obj, opts...))
}

func (r *router) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	c, id, err := r.as(ctx)
	if err != nil {
		return err
	}
	return denied(id, c.DeleteAllOf(ctx, obj, opts...))
}

func (r *router) Status() client.SubResourceWriter { return r.SubResource("status") }

func (r *router) SubResource(name string) client.SubResourceClient {
	return &subResource{r: r, name: name}
}

// subResource routes a sub-resource call like any other: by the identity
// in its context.
type subResource struct {
	r    *router
	name string
}

func (s *subResource) Get(ctx context.Context, obj, sub client.Object, opts ...client.SubResourceGetOption) error {
	c, id, err := s.r.as(ctx)
	if err != nil {
		return err
	}
	return denied(id, c.SubResource(s.name).Get(ctx, obj, sub, opts...))
}

func (s *subResource) Create(ctx context.Context, obj, sub client.Object, opts ...client.SubResourceCreateOption) error {
	c, id, err := s.r.as(ctx)
	if err != nil {
		return err
	}
	return denied(id, c.SubResource(s.name).Create(ctx, obj, sub, opts...))
}

func (s *subResource) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	c, id, err := s.r.as(ctx)
	if err != nil {
		return err
	}
	return denied(id, c.SubResource(s.name).Update(ctx, obj, opts...))
}

func (s *subResource) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	c, id, err := s.r.as(ctx)
	if err != nil {
		return err
	}
	return denied(id, c.SubResource(s.name).Patch(ctx, obj, patch, opts...))
}

func (s *subResource) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
	c, id, err := s.r.as(ctx)
	if err != nil {
		return err
	}
	return denied(id, c.SubResource(s.name).Apply(ctx, obj, opts...))
}

// apiRouter is the executors' uncached reader: it reads as ctx's identity,
// or as the operator without one.
type apiRouter struct {
	clients *Clients
}

func (a *apiRouter) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	id, ok := FromContext(ctx)
	if !ok {
		return a.clients.ownAPI.Get(ctx, key, obj, opts...)
	}
	c, err := a.clients.impersonating(id)
	if err != nil {
		return err
	}
	return denied(id, c.Get(ctx, key, obj, opts...))
}

func (a *apiRouter) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	id, ok := FromContext(ctx)
	if !ok {
		return a.clients.ownAPI.List(ctx, list, opts...)
	}
	c, err := a.clients.impersonating(id)
	if err != nil {
		return err
	}
	return denied(id, c.List(ctx, list, opts...))
}
