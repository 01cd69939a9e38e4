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
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// revert cancels the export: Jobs still running are deleted (their Pods
// with them), finished ones are kept with their verdicts, and verified
// artifacts stay where they are: data handed out cannot be taken back.
// Repeating it deletes nothing twice and reports the same.
func (e *Executor) revert(ctx context.Context, rw *v1.RegionWithdrawal) (executor.Result, error) {
	jobs, err := e.recordedJobs(ctx, rw)
	if err != nil {
		return executor.Result{}, err
	}
	deleted, verified := 0, 0
	for i := range jobs {
		job := &jobs[i]
		if _, ok := job.Annotations[AnnotationResult]; ok {
			verified++
			continue
		}
		if isFinished(job) || job.DeletionTimestamp != nil {
			continue
		}
		if err := e.Client.Delete(ctx, job, client.PropagationPolicy("Background")); err != nil && !apierrors.IsNotFound(err) {
			return executor.Result{}, fmt.Errorf("deleting export Job %s/%s: %w", job.Namespace, job.Name, err)
		}
		deleted++
	}
	res := executor.Result{Done: true, Message: fmt.Sprintf("cancelled %d running export Jobs; %d verified artifacts are kept", deleted, verified)}
	if prev := planner.LookupStep(&rw.Status, v1.StepExport).Export; prev != nil {
		st := prev.DeepCopy()
		st.Running = 0
		st.AtRisk, st.AtRiskMessage, st.EstimatedFinish = false, "", nil
		res.Detail.Export = st
	}
	if verified > 0 {
		res.Irreversible = []string{fmt.Sprintf("exports already taken: %d artifacts", verified)}
	}
	return res, nil
}
