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

package executor

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/tenant"
)

// What every step's executor shares: the label and owner reference on what
// it creates, the size of the plan it reports, the dispatch it starts
// with, and how it answers a lost race.

// LabelWithdrawalUID carries the UID of the withdrawal that created an
// object (an export Job, a record ConfigMap, a notice backend): a new
// withdrawal of the same name never mistakes an old one's objects for its
// own.
const LabelWithdrawalUID = "withdrawal.ops.dev/withdrawal-uid"

// OwnerReference makes rw the controller of an object created in its own
// namespace, so the object goes when the withdrawal does. (Owner
// references cannot cross namespaces; objects elsewhere carry
// LabelWithdrawalUID and are cleaned up by a Finalizer.)
func OwnerReference(rw *v1.RegionWithdrawal) metav1.OwnerReference {
	return *metav1.NewControllerRef(rw, v1.GroupVersion.WithKind("RegionWithdrawal"))
}

// MaxPlanned caps the objects a step's plan lists; its ObjectCount stays
// exact.
const MaxPlanned = 100

// NewPlan is the plan of a step that touches objs.
func NewPlan(objs []v1.ObjectReference, summary string) *v1.StepPlan {
	return &v1.StepPlan{ObjectCount: int32(len(objs)), Objects: objs[:min(len(objs), MaxPlanned)], Summary: summary}
}

// Actions are what carry out a step's two kinds of action.
type Actions struct {
	Start  func(ctx context.Context, rw *v1.RegionWithdrawal) (Result, error)
	Revert func(ctx context.Context, rw *v1.RegionWithdrawal) (Result, error)
}

// Dispatch runs the function of a's kind, after checking that a is an
// action of step: the switch every step's Execute starts with.
func Dispatch(ctx context.Context, rw *v1.RegionWithdrawal, a planner.Action, step v1.StepName, do Actions) (Result, error) {
	var fn func(context.Context, *v1.RegionWithdrawal) (Result, error)
	switch {
	case a.Step != step:
	case a.Kind == planner.ActionStart:
		fn = do.Start
	case a.Kind == planner.ActionRevert:
		fn = do.Revert
	}
	if fn == nil {
		return Result{}, fmt.Errorf("%s: unexpected action %s", step, a.ID)
	}
	return fn(ctx, rw)
}

// RetryOrFail turns a lost race (a conflict: the object changed since it
// was read) into a result that asks for a quick retry, and any other error
// into one the controller backs off on. what says what was being done.
func RetryOrFail(err error, retryAfter time.Duration, what string) (Result, error) {
	if apierrors.IsConflict(err) {
		return Result{Message: what + ": the object changed meanwhile; trying again", RequeueAfter: retryAfter}, nil
	}
	return Result{}, fmt.Errorf("%s: %w", what, err)
}

// Preview is what a step would touch, worked out from the targets a
// withdrawal selects. Each step package has one Preview function; the real
// run, the rehearsal and `kubectl withdrawal plan` all call it, so a
// rehearsal cannot drift from the run it rehearses.
type Preview struct {
	Objects []v1.ObjectReference
	// Recipients counts who a notice would reach.
	Recipients int64
	// Summary says what the step does, as an imperative: "scale 3
	// Deployments to zero, ...".
	Summary string
	// Note is something to know, such as an API that is not installed.
	Note string
}

// Plan is the preview as a step's plan in status.
func (p Preview) Plan() *v1.StepPlan {
	plan := NewPlan(p.Objects, p.Summary)
	if p.Note != "" {
		plan.Summary += "; " + p.Note
	}
	plan.Recipients = p.Recipients
	return plan
}

// LabelRecord marks a ConfigMap that holds what a restore needs (a route's
// original, a set-aside HPA); its value says which kind of record.
const LabelRecord = "withdrawal.ops.dev/record"

// AnnotationWithdrawal names, as namespace/name, the withdrawal a restore
// record belongs to: `kubectl withdrawal restore NAME` finds the records by
// it after the withdrawal is gone.
const AnnotationWithdrawal = "withdrawal.ops.dev/withdrawal"

// AnnotationServiceAccount names the ServiceAccount (of the record's
// namespace) the withdrawal acted as when it wrote a restore record:
// `kubectl withdrawal restore` acts as it too, so a restore writes only
// where the withdrawal could have.
const AnnotationServiceAccount = "withdrawal.ops.dev/service-account"

// RecordMeta is the metadata of a restore record of the given kind, made
// by the identity in ctx. It has no owner reference on purpose: a record
// must outlive a withdrawal deleted before its changes were undone, or
// they could never be. DeleteRecords removes the records once nothing is
// left to restore.
func RecordMeta(ctx context.Context, rw *v1.RegionWithdrawal, name, kind string) metav1.ObjectMeta {
	m := metav1.ObjectMeta{
		Name: name, Namespace: rw.Namespace,
		Labels:      map[string]string{LabelWithdrawalUID: string(rw.UID), LabelRecord: kind},
		Annotations: map[string]string{AnnotationWithdrawal: rw.Namespace + "/" + rw.Name},
	}
	if id, ok := tenant.FromContext(ctx); ok {
		m.Annotations[AnnotationServiceAccount] = id.ServiceAccount
	}
	return m
}

// NothingToRestore reports whether a withdrawal's changes are settled, so
// its restore records may go: it completed (the region is withdrawn for
// good) or its cancel finished (everything was put back).
func NothingToRestore(rw *v1.RegionWithdrawal) bool {
	return rw.Status.Phase == v1.PhaseCompleted || rw.Status.Phase == v1.PhaseCancelled
}

// DeleteRecords deletes a withdrawal's restore records of one kind. It
// lists them through r, which should read uncached as the withdrawal's
// ServiceAccount: the operator itself may neither list nor cache
// ConfigMaps in its tenants' namespaces.
func DeleteRecords(ctx context.Context, r client.Reader, c client.Writer, namespace string, uid types.UID, kind string) error {
	var list corev1.ConfigMapList
	if err := r.List(ctx, &list, client.InNamespace(namespace), client.MatchingLabels{LabelWithdrawalUID: string(uid), LabelRecord: kind}); err != nil {
		return fmt.Errorf("listing the %s records: %w", kind, err)
	}
	for i := range list.Items {
		if err := c.Delete(ctx, &list.Items[i]); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting the %s record %s: %w", kind, list.Items[i].Name, err)
		}
	}
	return nil
}
