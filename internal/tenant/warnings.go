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
	"sync"
)

// Warnings collects the warnings the API server sends with the answers to
// requests made with a context from CollectWarnings. A server-side dry run
// of an export Job is answered with the Pod Security warnings its pods
// would be refused for.
type Warnings struct {
	mu   sync.Mutex
	list []string
}

// List returns the warnings collected so far.
func (w *Warnings) List() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.list...)
}

type warningsKey struct{}

// CollectWarnings returns a context whose impersonated requests' warnings
// are collected in the returned Warnings.
func CollectWarnings(ctx context.Context) (context.Context, *Warnings) {
	w := &Warnings{}
	return context.WithValue(ctx, warningsKey{}, w), w
}

// warningCollector hands a warning to the Warnings of its request's
// context, and drops it otherwise.
type warningCollector struct{}

func (warningCollector) HandleWarningHeaderWithContext(ctx context.Context, code int, _ string, text string) {
	if w, ok := ctx.Value(warningsKey{}).(*Warnings); ok && code == 299 {
		w.mu.Lock()
		w.list = append(w.list, text)
		w.mu.Unlock()
	}
}
