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

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// Finalize deletes the withdrawal's export Jobs in every namespace, and
// its handoff link index. Those
// in the withdrawal's own namespace would go with it anyway (owner
// reference); those elsewhere cannot have one. It reads as the
// withdrawal's ServiceAccount, uncached.
func (e *Executor) Finalize(ctx context.Context, rw *v1.RegionWithdrawal) error {
	if planner.LookupStep(&rw.Status, v1.StepExport).StartedAt == nil && Round(rw) == 0 {
		// Jobs are made only after the start is recorded: none to delete.
		// (A later round waiting for its start has the earlier rounds'.)
		return nil
	}
	jobs, err := e.recordedJobs(ctx, rw)
	if err != nil {
		return err
	}
	for i := range jobs {
		if err := e.Client.Delete(ctx, &jobs[i], client.PropagationPolicy("Background")); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting export Job %s/%s: %w", jobs[i].Namespace, jobs[i].Name, err)
		}
	}
	// The links go with the withdrawal: the endpoint serves what the
	// index holds.
	if err := e.Handoff.RemoveLinks(ctx, rw.UID); err != nil {
		return fmt.Errorf("deleting the handoff link index: %w", err)
	}
	return nil
}
