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

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
)

// Watches wakes the withdrawal when one of its export Jobs changes. The
// Job names its withdrawal in annotations, since a Job in another
// namespace has no owner reference.
func (e *Executor) Watches() []executor.Watch {
	return append([]executor.Watch{{Object: &batchv1.Job{}, Map: MapJob}}, e.Handoff.Watch()...)
}

// MapJob maps an export Job to its withdrawal.
func MapJob(_ context.Context, obj client.Object) []reconcile.Request {
	ann := obj.GetAnnotations()
	if obj.GetLabels()[executor.LabelWithdrawalUID] == "" || ann[AnnotationWithdrawalName] == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ann[AnnotationWithdrawalNamespace], Name: ann[AnnotationWithdrawalName]}}}
}
