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

package handoff

import (
	"encoding/json"
	"fmt"
	"slices"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// AnnotationRevoked lists, as a JSON array, the customers whose links in a
// withdrawal are revoked (kubectl withdrawal handoff revoke): a link sent
// to the wrong address, or leaked. It is an annotation, not spec, so that
// revoking a link voids no approval and waits for none.
const AnnotationRevoked = "withdrawal.ops.dev/handoff-revoked"

// Revoked is the set of customers whose links in rw are revoked. An
// annotation that is not a JSON array of ids is an error, never an empty
// set: a revocation that cannot be read must not be taken for none.
func Revoked(rw *v1.RegionWithdrawal) (map[string]bool, error) {
	raw, ok := rw.Annotations[AnnotationRevoked]
	if !ok || raw == "" {
		return nil, nil
	}
	var ids []string
	if err := json.Unmarshal([]byte(raw), &ids); err != nil {
		return nil, fmt.Errorf("annotation %s is not a JSON array of customer ids: %w", AnnotationRevoked, err)
	}
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	return set, nil
}

// Revoke returns the annotation's value with customers added, sorted and
// without repeats.
func Revoke(rw *v1.RegionWithdrawal, customers ...string) (string, error) {
	set, err := Revoked(rw)
	if err != nil {
		return "", err
	}
	ids := make([]string, 0, len(set)+len(customers))
	for id := range set {
		ids = append(ids, id)
	}
	ids = append(ids, customers...)
	slices.Sort(ids)
	b, err := json.Marshal(slices.Compact(ids))
	return string(b), err
}
