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
	"fmt"
	"slices"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
)

// The drain's record lives on each workload it scaled down, written in the
// same update that sets the replicas to zero: there is no instant at which
// a workload is scaled down and its original count is not recorded, and
// nothing to lose when the process dies before the status write.
const (
	// AnnotationOriginalReplicas is the replica count before the drain.
	AnnotationOriginalReplicas = "withdrawal.ops.dev/original-replicas"
	// AnnotationDrainedAt is when the workload's batch started, RFC 3339.
	// Every workload of one batch carries the same instant.
	AnnotationDrainedAt = "withdrawal.ops.dev/drained-at"
	// LabelDrainedBy carries the UID of the withdrawal that drained the
	// workload, so that cancel finds it even if the selector has changed.
	LabelDrainedBy = "withdrawal.ops.dev/drained-by"
)

// workload is a Deployment or a StatefulSet.
type workload struct {
	ref v1.ObjectReference
	obj client.Object
}

func newWorkload(kind string) client.Object {
	if kind == targets.KindStatefulSet {
		return &appsv1.StatefulSet{}
	}
	return &appsv1.Deployment{}
}

func (w workload) replicas() int32 {
	var r *int32
	switch o := w.obj.(type) {
	case *appsv1.Deployment:
		r = o.Spec.Replicas
	case *appsv1.StatefulSet:
		r = o.Spec.Replicas
	}
	if r == nil {
		return 1 // the API server's default
	}
	return *r
}

func (w workload) setReplicas(n int32) {
	switch o := w.obj.(type) {
	case *appsv1.Deployment:
		o.Spec.Replicas = &n
	case *appsv1.StatefulSet:
		o.Spec.Replicas = &n
	}
}

func (w workload) selector() *metav1.LabelSelector {
	switch o := w.obj.(type) {
	case *appsv1.Deployment:
		return o.Spec.Selector
	case *appsv1.StatefulSet:
		return o.Spec.Selector
	}
	return nil
}

// drainedBy reports whether the withdrawal with this UID drained w.
func (w workload) drainedBy(uid string) bool {
	return uid != "" && w.obj.GetLabels()[LabelDrainedBy] == uid
}

// drainedAt is when w's batch started, or zero.
func (w workload) drainedAt() time.Time {
	t, err := time.Parse(time.RFC3339Nano, w.obj.GetAnnotations()[AnnotationDrainedAt])
	if err != nil {
		return time.Time{}
	}
	return t
}

// original is the recorded replica count.
func (w workload) original() (int32, error) {
	s, ok := w.obj.GetAnnotations()[AnnotationOriginalReplicas]
	if !ok {
		return 0, fmt.Errorf("%s %s/%s has no %s annotation", w.ref.Kind, w.ref.Namespace, w.ref.Name, AnnotationOriginalReplicas)
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s %s/%s: annotation %s=%q is not a replica count", w.ref.Kind, w.ref.Namespace, w.ref.Name, AnnotationOriginalReplicas, s)
	}
	return int32(n), nil
}

// markDrained records the original count and scales to zero, in memory;
// the caller writes both in one update.
func (w workload) markDrained(uid string, batchAt time.Time) {
	labels := w.obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelDrainedBy] = uid
	w.obj.SetLabels(labels)
	ann := w.obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[AnnotationOriginalReplicas] = strconv.Itoa(int(w.replicas()))
	ann[AnnotationDrainedAt] = batchAt.UTC().Format(time.RFC3339Nano)
	w.obj.SetAnnotations(ann)
	w.setReplicas(0)
}

// restore sets the original count back and forgets the record, in memory.
func (w workload) restore() error {
	n, err := w.original()
	if err != nil {
		return err
	}
	w.setReplicas(n)
	labels := w.obj.GetLabels()
	delete(labels, LabelDrainedBy)
	w.obj.SetLabels(labels)
	ann := w.obj.GetAnnotations()
	delete(ann, AnnotationOriginalReplicas)
	delete(ann, AnnotationDrainedAt)
	w.obj.SetAnnotations(ann)
	return nil
}

// listDrained lists the workloads of a kind that the withdrawal with this
// UID drained, in every namespace. Whoever may not list them at the
// cluster scope (a restore acting as the withdrawal's ServiceAccount)
// finds them in the namespaces the withdrawal selects, its own at least.
func (e *Executor) listDrained(ctx context.Context, rw *v1.RegionWithdrawal, kind, uid string) ([]workload, error) {
	newList := func() client.ObjectList {
		if kind == targets.KindStatefulSet {
			return &appsv1.StatefulSetList{}
		}
		return &appsv1.DeploymentList{}
	}
	lists := []client.ObjectList{newList()}
	err := e.Client.List(ctx, lists[0], client.MatchingLabels{LabelDrainedBy: uid})
	if apierrors.IsForbidden(err) {
		lists, err = e.listDrainedIn(ctx, rw, newList, uid)
	}
	if err != nil {
		return nil, fmt.Errorf("listing drained %ss: %w", kind, err)
	}
	var ws []workload
	for _, list := range lists {
		err := meta.EachListItem(list, func(o runtime.Object) error {
			obj := o.(client.Object)
			ws = append(ws, workload{ref: v1.ObjectReference{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}, obj: obj})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return ws, nil
}

func (e *Executor) listDrainedIn(ctx context.Context, rw *v1.RegionWithdrawal, newList func() client.ObjectList, uid string) ([]client.ObjectList, error) {
	nss, err := e.Targets.Namespaces(ctx, rw)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(nss, rw.Namespace) {
		nss = append(nss, rw.Namespace)
	}
	var lists []client.ObjectList
	for _, ns := range nss {
		list := newList()
		if err := e.Client.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{LabelDrainedBy: uid}); err != nil {
			return nil, err
		}
		lists = append(lists, list)
	}
	return lists, nil
}

// maxConflictRetries bounds how often one write is retried after losing a
// race, typically with the workload's own controller updating its status.
const maxConflictRetries = 5

// update applies change to w and writes it, when change says there is
// something to write. On a conflict it reads the workload again from the
// API server (the cache may lag) and asks change again, so the decision is
// always made on the object the write replaces: an original count is never
// recorded from an object that is already drained.
func (e *Executor) update(ctx context.Context, w workload, change func(workload) bool) (bool, error) {
	for attempt := 0; ; attempt++ {
		if !change(w) {
			return false, nil
		}
		err := e.Client.Update(ctx, w.obj)
		if err == nil {
			return true, nil
		}
		if !apierrors.IsConflict(err) || attempt >= maxConflictRetries {
			return false, err
		}
		if err := e.apiReader().Get(ctx, client.ObjectKeyFromObject(w.obj), w.obj); err != nil {
			return false, err
		}
	}
}
