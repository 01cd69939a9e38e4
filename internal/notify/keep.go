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
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
)

// A withdrawal's notice checkpoints are kept under its identity key, not
// its UID, and no object owns them, so that the same withdrawal created
// again (a GitOps tool that pruned and re-applied it, a restore from
// backup) finds whom its notices reached and goes on from there. No owner
// reference means no garbage collector racing the finalizer (a foreground
// deletion deletes dependents before the finalizer has run), and no shard
// a replica that still thinks it leads writes after the finalizer with an
// owner about to go. The finalizer deletes them once the withdrawal has
// ended (Finalize).

// shards lists every checkpoint shard kept under rw's identity key.
func (s *Store) shards(ctx context.Context, rw *v1.RegionWithdrawal) ([]corev1.ConfigMap, error) {
	var list corev1.ConfigMapList
	if err := s.Reader.List(ctx, &list, client.InNamespace(rw.Namespace),
		client.MatchingLabels{executor.LabelWithdrawalUID: string(rw.IdentityKey())}, client.HasLabels{LabelNotice}); err != nil {
		return nil, fmt.Errorf("listing notice checkpoints: %w", err)
	}
	return list.Items, nil
}

// Delete deletes every notice checkpoint kept under rw's identity key,
// each as it was read. It returns how many it deleted.
func (s *Store) Delete(ctx context.Context, rw *v1.RegionWithdrawal) (int, error) {
	items, err := s.shards(ctx, rw)
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range items {
		cm := &items[i]
		err := s.Client.Delete(ctx, cm, client.Preconditions{UID: &cm.UID, ResourceVersion: &cm.ResourceVersion})
		if err != nil && !apierrors.IsNotFound(err) {
			return n, fmt.Errorf("deleting the notice checkpoint %s: %w", cm.Name, err)
		}
		n++
	}
	return n, nil
}

// Finalize deletes the notice checkpoints of a withdrawal that has ended,
// and of one whose records are kept under its UID (an earlier release
// began it: nothing created again could take them over). A withdrawal
// deleted before it ended keeps them, for the withdrawal created again
// with its ID to go on without sending anything twice. One refused for
// an ID another holds (it never planned a step) has none of its own.
func (e *Executor) Finalize(ctx context.Context, rw *v1.RegionWithdrawal) error {
	e.forget(rw, "")
	if rw.Spec.DryRun || len(rw.Status.Steps) == 0 {
		return nil
	}
	ended := rw.Status.Phase == v1.PhaseCompleted || rw.Status.Phase == v1.PhaseCancelled
	if ended || rw.IdentityKey() != v1.IdentityKeyOf(rw.ID()) {
		_, err := e.store.Delete(ctx, rw)
		return err
	}
	// They are left as they are: no object owns them.
	kept, err := e.store.shards(ctx, rw)
	if err != nil {
		return err
	}
	if n := len(kept); n > 0 && e.o.Recorder != nil {
		e.o.Recorder.Eventf(rw, nil, corev1.EventTypeNormal, ReasonNoticeRecordsKept, "Delete",
			"deleted before it ended: its %d notice checkpoints are kept, so that withdrawal %s created again goes on from where it stopped "+
				"and sends nothing twice; `kubectl delete configmaps -n %s -l %s=%s` removes them",
			n, rw.ID(), rw.Namespace, executor.LabelWithdrawalUID, rw.IdentityKey())
	}
	return nil
}
