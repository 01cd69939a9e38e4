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
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// cleanupDouble is a test double of an executor whose cleanup fails
// until told otherwise.
type cleanupDouble struct{ fail atomic.Bool }

func (c *cleanupDouble) Execute(context.Context, *v1.RegionWithdrawal, planner.Action) (executor.Result, error) {
	return executor.Result{Done: true}, nil
}

func (c *cleanupDouble) Finalize(context.Context, *v1.RegionWithdrawal) error {
	if c.fail.Load() {
		return errors.New("the records cannot be listed")
	}
	return nil
}

// TestADeletionHeldUpSaysWhy: a cleanup that fails holds the deletion up
// with the FinalizeBlocked condition and one Event naming the step and the
// way out, is tried again later, and lets the object go once it succeeds.
// A step the withdrawal never had is not asked to clean up.
func TestADeletionHeldUpSaysWhy(t *testing.T) {
	h := newHarness(t, beforeAnnouncement)
	routing, export := &cleanupDouble{}, &cleanupDouble{}
	routing.fail.Store(true)
	export.fail.Store(true) // would hold the deletion up if it were asked
	h.r.Executors = executor.Set{v1.StepRouting: routing, v1.StepExport: export}
	h.pakistan(func(s *v1.RegionWithdrawalSpec) { s.Notify, s.Export, s.Drain = nil, nil, nil })
	h.reconcile()
	if err := h.c.Delete(h.ctx, h.get()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		res, err := h.reconcile()
		if err != nil || res.RequeueAfter != finalizeRetry {
			t.Fatalf("reconcile = %+v, %v; want a retry in %s", res, err, finalizeRetry)
		}
	}
	c := condition(h.get(), v1.ConditionFinalizeBlocked)
	if c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonFinalizeFailed ||
		!strings.Contains(c.Message, "routing step") || !strings.Contains(c.Message, "kubectl withdrawal release pakistan") {
		t.Fatalf("FinalizeBlocked = %+v, want True naming the routing step and the way out", c)
	}
	n := 0
	for _, e := range h.events() {
		if strings.Contains(e, "Warning FinalizeBlocked") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d FinalizeBlocked Events, want one for the one cause", n)
	}

	routing.fail.Store(false)
	if _, err := h.reconcile(); err != nil {
		t.Fatal(err)
	}
	if err := h.c.Get(h.ctx, h.key, &v1.RegionWithdrawal{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get after the cleanup succeeded = %v, want NotFound", err)
	}
}

// TestAWithdrawalInAProtectedNamespaceStalls: in kube-system, and in the
// installation's own namespace when withdrawals act as a default
// ServiceAccount, a withdrawal is refused before it does anything.
func TestAWithdrawalInAProtectedNamespaceStalls(t *testing.T) {
	for _, tc := range []struct {
		name      string
		own, dflt string
		refused   bool
	}{
		{name: "the operator's namespace, multi-tenant", own: "self", dflt: "region-withdrawal", refused: true},
		{name: "the operator's namespace, single-tenant", own: "self", refused: false},
		{name: "another namespace", own: "elsewhere", dflt: "region-withdrawal", refused: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, beforeAnnouncement)
			own := tc.own
			if own == "self" {
				own = h.ns
			}
			h.r.OwnNamespace, h.r.DefaultServiceAccount = own, tc.dflt
			h.pakistan()
			_, err := h.reconcile()
			c := condition(h.get(), v1.ConditionStalled)
			refused := errors.Is(err, reconcile.TerminalError(nil)) && c.Status == metav1.ConditionTrue && strings.Contains(c.Message, "operator's own namespace")
			if refused != tc.refused {
				t.Fatalf("reconcile = %v, Stalled %+v; want refused %v", err, c, tc.refused)
			}
		})
	}
	if why := (&RegionWithdrawalReconciler{}).protectedNamespace("kube-system"); !strings.Contains(why, "kube-system") {
		t.Fatalf("kube-system is not protected: %q", why)
	}
}

// TestAServiceAccountTheInstallationDoesNotNameStalls: with
// --service-accounts, a withdrawal naming another ServiceAccount is
// refused before anything is done, naming the ones it may use; one naming
// a listed ServiceAccount, or none, goes on.
func TestAServiceAccountTheInstallationDoesNotNameStalls(t *testing.T) {
	for _, tc := range []struct {
		name, sa string
		refused  bool
	}{
		{name: "an unlisted ServiceAccount", sa: "admin", refused: true},
		{name: "a listed ServiceAccount", sa: "exporter"},
		{name: "none: the default", sa: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, beforeAnnouncement)
			h.r.ServiceAccounts = []string{"region-withdrawal", "exporter"}
			h.pakistan(func(s *v1.RegionWithdrawalSpec) { s.ServiceAccountName = tc.sa })
			_, err := h.reconcile()
			c := condition(h.get(), v1.ConditionStalled)
			refused := errors.Is(err, reconcile.TerminalError(nil)) && c.Status == metav1.ConditionTrue &&
				strings.Contains(c.Message, "spec.serviceAccountName") && strings.Contains(c.Message, "region-withdrawal, exporter")
			if refused != tc.refused {
				t.Fatalf("reconcile = %v, Stalled %+v; want refused %v", err, c, tc.refused)
			}
		})
	}
}
