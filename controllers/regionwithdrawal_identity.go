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

package controllers

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// checkIdentity refuses a withdrawal whose ID (namespace/withdrawalID) an
// older withdrawal in its namespace already has: both would notify the
// same customers under the same keys, each counting the other's deliveries
// as its own. The older one, still being deleted or not, keeps it; the
// newer goes on once it is gone (identityReleased wakes it). err is a
// failure to list, tried again.
func (r *RegionWithdrawalReconciler) checkIdentity(ctx context.Context, rw *v1.RegionWithdrawal) (specErr, err error) {
	var list v1.RegionWithdrawalList
	if err := r.List(ctx, &list, client.InNamespace(rw.Namespace)); err != nil {
		return nil, fmt.Errorf("listing the withdrawals of namespace %s: %w", rw.Namespace, err)
	}
	for i := range list.Items {
		other := &list.Items[i]
		if other.UID == rw.UID || other.ID() != rw.ID() || !other.HoldsIDBefore(rw) {
			continue
		}
		return &planner.SpecError{Field: "spec.withdrawalID", Err: fmt.Errorf("withdrawal %s, created before this one, is withdrawal %s already; "+
			"two objects with one identity would notify the same customers under the same keys. Give this one another spec.withdrawalID, "+
			"or delete %s and this one goes on from where it stopped", other.Name, rw.ID(), other.Name)}, nil
	}
	return nil, nil
}

// identityReleased maps a deleted withdrawal to the others in its namespace
// that share its ID: one of them was waiting for it to go.
func (r *RegionWithdrawalReconciler) identityReleased(ctx context.Context, obj client.Object) []reconcile.Request {
	gone, ok := obj.(*v1.RegionWithdrawal)
	if !ok {
		return nil
	}
	var list v1.RegionWithdrawalList
	if err := r.List(ctx, &list, client.InNamespace(gone.Namespace)); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if other := &list.Items[i]; other.UID != gone.UID && other.ID() == gone.ID() {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(other)})
		}
	}
	return reqs
}

// onDelete passes delete events only.
var onDelete = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	UpdateFunc:  func(event.UpdateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return true },
	GenericFunc: func(event.GenericEvent) bool { return false },
}
