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

package notify

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
)

// A withdrawal's notice checkpoints are kept under its identity key, not
// its UID, so that the same withdrawal created again (a GitOps tool that
// pruned and re-applied it, a restore from backup) finds whom its notices
// reached and goes on from there. The object owns them, so they go with
// it once it has ended; deleted before that, it lets them go first (Keep),
// and the next object with its identity takes them over (Adopt).

// shards lists every checkpoint shard kept under rw's identity key.
func (s *Store) shards(ctx context.Context, rw *v1.RegionWithdrawal) ([]corev1.ConfigMap, error) {
	var list corev1.ConfigMapList
	if err := s.Reader.List(ctx, &list, client.InNamespace(rw.Namespace),
		client.MatchingLabels{executor.LabelWithdrawalUID: string(rw.IdentityKey())}, client.HasLabels{LabelNotice}); err != nil {
		return nil, fmt.Errorf("listing notice checkpoints: %w", err)
	}
	return list.Items, nil
}

// Keep takes rw's ownership off its notice checkpoints, so that they
// outlive it: deleting rw then leaves them for the next withdrawal with
// its identity. It returns how many shards it kept.
func (s *Store) Keep(ctx context.Context, rw *v1.RegionWithdrawal) (int, error) {
	items, err := s.shards(ctx, rw)
	if err != nil {
		return 0, err
	}
	kept := 0
	for i := range items {
		cm := &items[i]
		refs := cm.GetOwnerReferences()
		var rest []metav1.OwnerReference
		for _, ref := range refs {
			if ref.UID != rw.UID {
				rest = append(rest, ref)
			}
		}
		if len(rest) != len(refs) {
			cm.SetOwnerReferences(rest)
			// With the resourceVersion read: a conflict is tried again
			// by the finalizer, not written over.
			if err := s.Client.Update(ctx, cm); err != nil && !apierrors.IsNotFound(err) {
				return kept, fmt.Errorf("keeping the notice checkpoint %s: %w", cm.Name, err)
			}
		}
		kept++
	}
	return kept, nil
}

// Adopt makes rw the owner of the notice checkpoints kept under its
// identity key that nothing owns: those a withdrawal with its identity
// left behind when it was deleted.
func (s *Store) Adopt(ctx context.Context, rw *v1.RegionWithdrawal) (int, error) {
	items, err := s.shards(ctx, rw)
	if err != nil {
		return 0, err
	}
	adopted := 0
	for i := range items {
		cm := &items[i]
		if metav1.GetControllerOf(cm) != nil {
			continue
		}
		if err := controllerutil.SetControllerReference(rw, cm, s.Client.Scheme()); err != nil {
			return adopted, fmt.Errorf("adopting the notice checkpoint %s: %w", cm.Name, err)
		}
		if err := s.Client.Update(ctx, cm); err != nil && !apierrors.IsNotFound(err) {
			return adopted, fmt.Errorf("adopting the notice checkpoint %s: %w", cm.Name, err)
		}
		adopted++
	}
	return adopted, nil
}

// Finalize keeps the notice checkpoints of a withdrawal deleted before it
// ended (see Keep): created again, it sends nothing twice. One that ended
// lets them go with it.
func (e *Executor) Finalize(ctx context.Context, rw *v1.RegionWithdrawal) error {
	e.forget(rw, "")
	if rw.Status.Phase == v1.PhaseCompleted || rw.Status.Phase == v1.PhaseCancelled || rw.Spec.DryRun {
		return nil
	}
	n, err := e.store.Keep(ctx, rw)
	if err != nil {
		return err
	}
	if n > 0 && e.o.Recorder != nil {
		e.o.Recorder.Eventf(rw, nil, corev1.EventTypeNormal, ReasonNoticeRecordsKept, "Delete",
			"deleted before it ended: its %d notice checkpoints are kept, so that withdrawal %s created again goes on from where it stopped "+
				"and sends nothing twice; `kubectl delete configmaps -n %s -l %s=%s` removes them",
			n, rw.ID(), rw.Namespace, executor.LabelWithdrawalUID, rw.IdentityKey())
	}
	return nil
}
