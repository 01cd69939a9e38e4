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
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

var _ executor.Observer = (*Executor)(nil)

// ReasonHandoffRevocationInvalid (Event): the withdrawal's
// withdrawal.ops.dev/handoff-revoked annotation is not a JSON array of
// customer ids, so no revocation in it is applied.
const ReasonHandoffRevocationInvalid = "HandoffRevocationInvalid"

// Observe publishes the withdrawal's handoff links for the endpoint, and
// counts who has fetched their archive through their link. Customers fetch after the step finished, so the count is taken on
// every reconcile (the fetch records' watch wakes one), not by Execute.
func (e *Executor) Observe(ctx context.Context, rw *v1.RegionWithdrawal) (executor.Detail, bool, error) {
	if e.Handoff == nil {
		return executor.Detail{}, false, nil
	}
	if !handoff.Enabled(rw) {
		// No links asked for (any more): the endpoint serves none.
		return executor.Detail{}, false, e.Handoff.RemoveLinks(ctx, rw.UID)
	}
	s := planner.LookupStep(&rw.Status, v1.StepExport)
	if s.Export == nil || s.DryRun {
		return executor.Detail{}, false, nil
	}
	// A revocation that cannot be read is not taken for none: the index is
	// not published again until it is fixed, and whoever wrote it is told
	// where they look.
	if _, err := handoff.Revoked(rw); err != nil {
		if e.Recorder != nil {
			e.Recorder.Eventf(rw, nil, corev1.EventTypeWarning, ReasonHandoffRevocationInvalid, "Revoke",
				"%v; the links are served as they were until it is fixed (kubectl withdrawal handoff revoke writes it)", err)
		}
		return executor.Detail{}, false, fmt.Errorf("publishing the handoff links: %w", err)
	}
	// The endpoint serves the links the operator publishes for it.
	if err := e.Handoff.PublishLinks(ctx, rw, func() (map[string]v1.ExportArtifact, error) { return Artifacts(ctx, e.APIReader, rw) }); err != nil {
		return executor.Detail{}, false, fmt.Errorf("publishing the handoff links: %w", err)
	}
	links := Linked(rw, s.Export)
	if links == 0 {
		return executor.Detail{}, false, nil
	}
	fs, err := e.Handoff.Fetches(ctx, rw)
	if err != nil {
		return executor.Detail{}, false, fmt.Errorf("counting fetches: %w", err)
	}
	h := e.Handoff.Count(rw, links, fs)
	if equality.Semantic.DeepEqual(h, s.Export.Handoff) {
		return executor.Detail{}, false, nil
	}
	st := s.Export.DeepCopy()
	st.Handoff = h
	return executor.Detail{Export: st}, true, nil
}

// Linked is how many customers have a handoff link: those with their own
// archive from a manifest (always encrypted; read back and matched, when
// the spec asks for that), and those a target's export names with an
// encrypted archive (as far as status lists them).
func Linked(rw *v1.RegionWithdrawal, st *v1.ExportStatus) int32 {
	n := st.Customers
	if Rereads(rw) {
		n = st.CustomersReread
	}
	for _, a := range st.Artifacts {
		if handoff.Linkable(a.Recipient, a) {
			n++
		}
	}
	return n
}
