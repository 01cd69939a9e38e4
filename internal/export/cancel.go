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

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// revert cancels the export: Jobs still running are deleted (their Pods
// with them), finished ones are kept with their verdicts, and verified
// artifacts stay where they are: data handed out cannot be taken back.
// Repeating it deletes nothing twice and reports the same.
func (e *Executor) revert(ctx context.Context, rw *v1.RegionWithdrawal) (executor.Result, error) {
	jobs, err := e.listJobs(ctx, rw)
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

// Finalize deletes the withdrawal's export Jobs in every namespace. Those
// in the withdrawal's own namespace would go with it anyway (owner
// reference); those elsewhere cannot have one.
func (e *Executor) Finalize(ctx context.Context, rw *v1.RegionWithdrawal) error {
	jobs, err := e.listJobs(ctx, rw)
	if err != nil {
		return err
	}
	for i := range jobs {
		if err := e.Client.Delete(ctx, &jobs[i], client.PropagationPolicy("Background")); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting export Job %s/%s: %w", jobs[i].Namespace, jobs[i].Name, err)
		}
	}
	return nil
}

// Watches wakes the withdrawal when one of its export Jobs changes. The
// Job names its withdrawal in annotations, since a Job in another
// namespace has no owner reference.
func (e *Executor) Watches() []executor.Watch {
	return []executor.Watch{{Object: &batchv1.Job{}, Map: MapJob}}
}

// MapJob maps an export Job to its withdrawal.
func MapJob(_ context.Context, obj client.Object) []reconcile.Request {
	ann := obj.GetAnnotations()
	if obj.GetLabels()[executor.LabelWithdrawalUID] == "" || ann[AnnotationWithdrawalName] == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ann[AnnotationWithdrawalNamespace], Name: ann[AnnotationWithdrawalName]}}}
}
