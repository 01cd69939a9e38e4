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

package drain

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// Watches wakes a draining withdrawal when its workloads, their pods or
// its Services' EndpointSlices change, so the drain moves on when a pod is
// gone rather than on a timer. Pods are watched as metadata only: the drain
// needs their labels and deletion timestamps, and a full Pod cache would
// cost the operator far more memory.
func (e *Executor) Watches() []executor.Watch {
	pod := &metav1.PartialObjectMetadata{}
	pod.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Pod"))
	return []executor.Watch{
		{Object: &appsv1.Deployment{}, Map: e.mapSelected},
		{Object: &appsv1.StatefulSet{}, Map: e.mapSelected},
		{Object: &discoveryv1.EndpointSlice{}, Map: e.mapNamespace},
		{Object: pod, Map: e.mapNamespace},
	}
}

// active reports whether a withdrawal's drain is in flight: only those
// care about changes, and mapping only to them keeps a busy cluster's pod
// churn from waking every withdrawal.
func active(rw *v1.RegionWithdrawal) bool {
	if rw.Spec.Drain == nil {
		return false
	}
	s := planner.LookupStep(&rw.Status, v1.StepDrain)
	return s.State == v1.StepRunning || s.State == v1.StepReverting
}

func (e *Executor) mapSelected(ctx context.Context, obj client.Object) []reconcile.Request {
	return e.mapWith(ctx, obj, true)
}

func (e *Executor) mapNamespace(ctx context.Context, obj client.Object) []reconcile.Request {
	return e.mapWith(ctx, obj, false)
}

func (e *Executor) mapWith(ctx context.Context, obj client.Object, matchLabels bool) []reconcile.Request {
	var list v1.RegionWithdrawalList
	if err := e.Client.List(ctx, &list); err != nil {
		return nil
	}
	var nsLabels labels.Set
	var out []reconcile.Request
	for i := range list.Items {
		rw := &list.Items[i]
		if !active(rw) {
			continue
		}
		drainedByThis := obj.GetLabels()[LabelDrainedBy] == string(rw.UID)
		if !drainedByThis {
			if matchLabels {
				sel, err := metav1.LabelSelectorAsSelector(&rw.Spec.Selector)
				if err != nil || !sel.Matches(labels.Set(obj.GetLabels())) {
					continue
				}
			}
			if rw.Spec.NamespaceSelector == nil {
				if rw.Namespace != obj.GetNamespace() {
					continue
				}
			} else {
				if nsLabels == nil {
					var ns corev1.Namespace
					if err := e.Client.Get(ctx, client.ObjectKey{Name: obj.GetNamespace()}, &ns); err != nil {
						continue
					}
					nsLabels = labels.Set(ns.Labels)
				}
				sel, err := metav1.LabelSelectorAsSelector(rw.Spec.NamespaceSelector)
				if err != nil || !sel.Matches(nsLabels) {
					continue
				}
			}
		}
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: rw.Namespace, Name: rw.Name}})
	}
	return out
}
