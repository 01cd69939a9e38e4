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
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
)

// Backend is the Service a switched route points at.
type Backend struct {
	Name string
	Port int32
	// Namespace is set when the Service is in another namespace than the
	// route: an HTTPRoute may name it there, where a ReferenceGrant allows
	// it to. An Ingress can only name a Service of its own namespace, so
	// for an Ingress it is always empty.
	Namespace string
}

// Switch rewrites a route's spec, in place, so it no longer serves the
// region. It is idempotent: switching a switched spec changes nothing.
//
// Ingress, Block451: every backend (the default one and each path's) points
// at the notice backend. Ingress, Remove: each rule keeps its host and loses
// its paths, and the default backend goes; an Ingress must name a rule or a
// default backend, so an Ingress with neither keeps one empty rule, which
// routes nothing. A host kept without paths still claims the host on the
// controller, so requests get a 404 rather than falling through to another
// Ingress.
//
// HTTPRoute, Block451: every rule forwards to the notice backend only, and
// its filters go, since a redirect, rewrite or mirror filter would keep
// sending traffic towards the region. HTTPRoute, Remove: the rules become
// an empty list (not an absent field, which the CRD defaults to a
// catch-all rule).
func Switch(kind string, spec map[string]any, mode v1.RoutingMode, b Backend) {
	switch kind {
	case targets.KindIngress:
		switchIngress(spec, mode, b)
	case targets.KindHTTPRoute:
		switchHTTPRoute(spec, mode, b)
	}
}

func switchIngress(spec map[string]any, mode v1.RoutingMode, b Backend) {
	backend := map[string]any{"service": map[string]any{"name": b.Name, "port": map[string]any{"number": int64(b.Port)}}}
	rules, _, _ := unstructured.NestedSlice(spec, "rules")
	if mode == v1.RoutingRemove {
		delete(spec, "defaultBackend")
		var kept []any
		for _, r := range rules {
			rule, _ := r.(map[string]any)
			host, _, _ := unstructured.NestedString(rule, "host")
			if host != "" {
				kept = append(kept, map[string]any{"host": host})
			}
		}
		if len(kept) == 0 {
			kept = []any{map[string]any{}}
		}
		spec["rules"] = kept
		return
	}
	if _, ok := spec["defaultBackend"]; ok {
		spec["defaultBackend"] = backend
	}
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		paths, _, _ := unstructured.NestedSlice(rule, "http", "paths")
		for _, p := range paths {
			if path, ok := p.(map[string]any); ok {
				path["backend"] = runtime.DeepCopyJSON(backend)
			}
		}
		if len(paths) > 0 {
			_ = unstructured.SetNestedSlice(rule, paths, "http", "paths")
		}
	}
	if rules != nil {
		spec["rules"] = rules
	}
}

func switchHTTPRoute(spec map[string]any, mode v1.RoutingMode, b Backend) {
	if mode == v1.RoutingRemove {
		spec["rules"] = []any{}
		return
	}
	rules, found, _ := unstructured.NestedSlice(spec, "rules")
	if !found {
		// The CRD's default: one catch-all rule.
		rules = []any{map[string]any{}}
	}
	for _, r := range rules {
		rule, ok := r.(map[string]any)
		if !ok {
			continue
		}
		delete(rule, "filters")
		ref := map[string]any{"group": "", "kind": "Service", "name": b.Name, "port": int64(b.Port)}
		if b.Namespace != "" {
			ref["namespace"] = b.Namespace
		}
		rule["backendRefs"] = []any{ref}
	}
	spec["rules"] = rules
}
