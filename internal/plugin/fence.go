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

package plugin

import (
	"context"
	"fmt"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// namespaceFence refuses every write outside one namespace: a restore
// acting as its user must not let a record (data anyone who writes
// ConfigMaps in the withdrawal's namespace could forge) point it at
// another namespace's objects.
type namespaceFence struct {
	client.Client
	namespace string
}

func (f *namespaceFence) check(obj client.Object) error {
	if obj.GetNamespace() == f.namespace {
		return nil
	}
	return fmt.Errorf("a record asks to change %s %s/%s, outside the withdrawal's namespace %s: restore acting as you writes only there (pass --allow-cross-namespace if you trust the records)",
		kindOf(obj), obj.GetNamespace(), obj.GetName(), f.namespace)
}

func kindOf(obj client.Object) string {
	if k := obj.GetObjectKind().GroupVersionKind().Kind; k != "" {
		return k
	}
	t := fmt.Sprintf("%T", obj)
	return t[strings.LastIndex(t, ".")+1:]
}

func (f *namespaceFence) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if err := f.check(obj); err != nil {
		return err
	}
	return f.Client.Create(ctx, obj, opts...)
}

func (f *namespaceFence) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	if err := f.check(obj); err != nil {
		return err
	}
	return f.Client.Update(ctx, obj, opts...)
}

func (f *namespaceFence) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	if err := f.check(obj); err != nil {
		return err
	}
	return f.Client.Patch(ctx, obj, patch, opts...)
}

func (f *namespaceFence) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	if err := f.check(obj); err != nil {
		return err
	}
	return f.Client.Delete(ctx, obj, opts...)
}
