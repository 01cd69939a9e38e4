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
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/metrics"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
)

// waitFor re-checks cond every time a watch on list (in the test
// namespace) sees a change, for at most 30 seconds. It awaits what the
// controller writes; it does not time anything.
func waitFor(t *testing.T, h *harness, list client.ObjectList, what string, cond func() bool) {
	t.Helper()
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
	defer cancel()
	w, err := wc.Watch(ctx, list, client.InNamespace(h.ns))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for !cond() {
		select {
		case <-w.ResultChan():
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// startManager runs r in a real manager, with any extra runnables (a
// cache of its own, say), until the test ends.
func startManager(t *testing.T, r *RegionWithdrawalReconciler, extra ...manager.Runnable) {
	t.Helper()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 scheme.New(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range extra {
		if err := mgr.Add(run); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
}

// TestManagerReactsToSpecChangesAndRecordsEvents runs the controller in a
// real manager: a spec change (an approval) wakes it through its watch, and
// its Events reach the API server.
func TestManagerReactsToSpecChangesAndRecordsEvents(t *testing.T) {
	h := newHarness(t, drainStart.Add(time.Minute))
	h.regionApp()

	startManager(t, &RegionWithdrawalReconciler{Clock: h.clock, Executors: executor.Set{}, Rehearsal: h.calls, Metrics: metrics.New(h.clock)})

	h.pakistan(func(s *v1.RegionWithdrawalSpec) {
		s.Notify, s.Export = nil, nil
		s.Drain.RequireApproval = true
	})
	waitFor(t, h, &v1.RegionWithdrawalList{}, "the drain to wait for approval", func() bool {
		return step(h.get(), v1.StepDrain).State == v1.StepWaitingForApproval
	})
	h.update(func(s *v1.RegionWithdrawalSpec) { planner.Approve(s, "alice", v1.StepDrain) })
	waitFor(t, h, &v1.RegionWithdrawalList{}, "the approved drain to finish", func() bool {
		return step(h.get(), v1.StepDrain).State == v1.StepSucceeded
	})
	waitFor(t, h, &eventsv1.EventList{}, "WaitingForApproval and DryRunPlanned Events in the API server", func() bool {
		var list eventsv1.EventList
		if err := h.c.List(h.ctx, &list, client.InNamespace(h.ns)); err != nil {
			return false
		}
		var waiting, planned bool
		for _, e := range list.Items {
			if e.Regarding.Name != "pakistan" || e.Regarding.Kind != "RegionWithdrawal" {
				continue
			}
			waiting = waiting || e.Reason == v1.ReasonWaitingForApproval && e.Type == "Warning"
			planned = planned || e.Reason == v1.ReasonDryRunPlanned && strings.Contains(e.Note, "drain")
		}
		return waiting && planned
	})
}
