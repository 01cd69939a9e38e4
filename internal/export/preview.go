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

package export

import (
	"fmt"
	"slices"
	"strings"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
)

// TargetsOf lists the export targets of the selection, sorted by key: one
// per namespace (the default), one per workload, or, for per: Once, one
// for the whole region, run in the withdrawal's own namespace.
func TargetsOf(rw *v1.RegionWithdrawal, set *targets.Set) []Target {
	var out []Target
	switch scope(rw) {
	case v1.ExportOnce:
		out = []Target{{Key: "Region/" + rw.Spec.Region, Namespace: rw.Namespace}}
	case v1.ExportPerWorkload:
		for _, w := range set.Workloads() {
			out = append(out, Target{Key: w.Kind + "/" + w.Namespace + "/" + w.Name, Namespace: w.Namespace, Name: w.Name})
		}
	default:
		for _, ns := range set.Namespaces {
			out = append(out, Target{Key: targets.KindNamespace + "/" + ns, Namespace: ns, Name: ns})
		}
	}
	slices.SortFunc(out, func(a, b Target) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Ref is the target as an object reference, for plans and status:
// Namespace/acme, Deployment acme/web, or Region PK.
func (t Target) Ref() v1.ObjectReference {
	parts := strings.SplitN(t.Key, "/", 3)
	ref := v1.ObjectReference{Kind: parts[0]}
	switch len(parts) {
	case 3:
		ref.Namespace, ref.Name = parts[1], parts[2]
	case 2:
		ref.Name = parts[1]
	}
	return ref
}

// Preview is what the export step would do with the selection.
func Preview(rw *v1.RegionWithdrawal, set *targets.Set) executor.Preview {
	ts := TargetsOf(rw, set)
	return previewOf(rw, ts)
}

// previewOf is the preview of exporting ts; the real run lists the
// targets that have Jobs too, so it passes its own.
func previewOf(rw *v1.RegionWithdrawal, ts []Target) executor.Preview {
	ex := rw.Spec.Export
	p := executor.Preview{Summary: fmt.Sprintf("run %d export Jobs (one per %s, %d at a time, up to %d attempts each) and verify each result",
		len(ts), strings.ToLower(string(scope(rw))), max(ex.Parallelism, 1), max(ex.MaxAttempts, 1))}
	if scope(rw) == v1.ExportOnce {
		p.Summary = fmt.Sprintf("run one export Job for region %s in namespace %s (up to %d attempts) and verify its result", rw.Spec.Region, rw.Namespace, max(ex.MaxAttempts, 1))
	}
	for _, t := range ts {
		p.Objects = append(p.Objects, t.Ref())
	}
	return p
}
