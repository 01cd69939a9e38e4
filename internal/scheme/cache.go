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

package scheme

import (
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// CacheOptions is the cache of a process that watches the namespaces in
// watchNamespaces (comma-separated), or every namespace when it is empty:
// the manager and the handoff endpoint take the same flag.
func CacheOptions(watchNamespaces string) cache.Options {
	opts := cache.Options{}
	if watchNamespaces == "" {
		return opts
	}
	opts.DefaultNamespaces = map[string]cache.Config{}
	for _, ns := range strings.Split(watchNamespaces, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return opts
}
