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

package planner

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// SpecDigest is the digest an approval names (status.specDigest): SHA-256
// over the spec's JSON without the fields that steer the withdrawal rather
// than say what it does. Approvals, suspend, dryRun and cancel are left out
// so that approving, pausing, rehearsing or calling off does not void an
// approval; the steps' requireApproval so that asking for one more approval
// does not void the others. Everything else is in: the selectors, the
// cutoff and time zone, each step's timing, templates and recipients
// sources, the ServiceAccount the steps act as.
//
// Go's encoding/json writes struct fields in declaration order and map keys
// sorted, so one spec has one digest in every process built from these
// types. A client built from older types that drops a newer field computes
// another digest, and its approval is refused as void: the safe way round.
func SpecDigest(spec *v1.RegionWithdrawalSpec) string {
	s := spec.DeepCopy()
	s.Approvals, s.Suspend, s.DryRun = nil, false, false
	s.Cancel, s.CancelReason, s.AllowCancelAfterCutoff = false, "", false
	if s.Notify != nil {
		s.Notify.RequireApproval = false
	}
	if s.Export != nil {
		s.Export.RequireApproval = false
	}
	if s.Drain != nil {
		s.Drain.RequireApproval = false
	}
	if s.Routing != nil {
		s.Routing.RequireApproval = false
	}
	b, err := json.Marshal(s)
	if err != nil {
		// A spec of plain fields always marshals; should it not, no
		// approval can name this digest.
		return "unmarshalable:" + err.Error()
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// FindApproval returns spec's approval of step, or nil.
func FindApproval(spec *v1.RegionWithdrawalSpec, step v1.StepName) *v1.Approval {
	for i := range spec.Approvals {
		if spec.Approvals[i].Step == step {
			return &spec.Approvals[i]
		}
	}
	return nil
}

// Approval says whether step may run as far as approvals go, and when not,
// why: not approved, or approved for a spec that has changed since.
func (tl *Timeline) Approval(spec *v1.RegionWithdrawalSpec, step v1.StepName) (ok bool, why string) {
	if !tl.RequiresApproval(step) {
		return true, ""
	}
	a := FindApproval(spec, step)
	switch {
	case a == nil:
		return false, fmt.Sprintf("add %q to spec.approvals for spec digest %s (kubectl withdrawal approve)", step, tl.SpecDigest)
	case a.SpecDigest != tl.SpecDigest:
		return false, fmt.Sprintf("approved by %s for spec digest %s, and the spec has changed since (now %s), which voids the approval: approve %q again", a.By, a.SpecDigest, tl.SpecDigest, step)
	}
	return true, ""
}

// RequireApproval makes steps wait for an approval whatever the spec says:
// the installation's --require-approval, which no author can turn off.
func (tl *Timeline) RequireApproval(steps ...v1.StepName) {
	for _, s := range steps {
		if _, configured := tl.StepDue(s); configured {
			tl.requireApproval[s] = true
		}
	}
}

// Approve records in spec that by approves step for spec as it is now,
// replacing an earlier approval of the step, and returns the entry.
func Approve(spec *v1.RegionWithdrawalSpec, by string, step v1.StepName) v1.Approval {
	a := v1.Approval{Step: step, By: by, SpecDigest: SpecDigest(spec)}
	spec.Approvals = slices.DeleteFunc(spec.Approvals, func(x v1.Approval) bool { return x.Step == step })
	spec.Approvals = append(spec.Approvals, a)
	return a
}
