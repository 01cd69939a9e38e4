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
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/export"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff"
	"github.com/ops-dev/region-withdrawal-operator/internal/metrics"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
)

// TestFetchesShowInStatus runs the controller in a real manager with the
// fetch records' own cache: each fetch the endpoint records wakes the
// withdrawal through the watch (nothing else is due, so nothing else
// would), status counts fetched and not fetched, and Events mark the
// first fetch and the last.
func TestFetchesShowInStatus(t *testing.T) {
	const customers = 3
	h := newHarness(t, drainStart.Add(-time.Hour))
	ctx := h.ctx
	records := h.ns + "-handoff"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: records}}); err != nil {
		t.Fatal(err)
	}
	rw := h.pakistan(func(s *v1.RegionWithdrawalSpec) {
		s.DryRun, s.Notify, s.Drain, s.Routing = false, nil, nil, nil
		s.Export.Handoff = &v1.ExportHandoff{}
	})
	// The export step finished: each customer has their own archive.
	done := metav1.NewTime(exportStart.Add(time.Hour))
	st := &v1.ExportStatus{Targets: customers, Verified: customers}
	for i := range customers {
		id := fmt.Sprintf("c-%d", i)
		st.Artifacts = append(st.Artifacts, v1.ExportArtifact{Target: "Namespace/" + id, Recipient: id, Location: "https://store.example/" + id, SHA256: strings.Repeat("a", 64), Encrypted: true})
	}
	rw.Status.Steps = []v1.StepStatus{{Name: v1.StepExport, State: v1.StepSucceeded, StartedAt: &done, FinishedAt: &done, Export: st}}
	if err := env.Client.Status().Update(ctx, rw); err != nil {
		t.Fatal(err)
	}

	cache, err := handoff.NewRecordsCache(env.Config, scheme.New(), records)
	if err != nil {
		t.Fatal(err)
	}
	exports := export.New(env.Client, env.Client, h.clock)
	exports.Handoff = &handoff.Service{Links: handoff.Links{BaseURL: "https://export.example", Key: handoff.Key(strings.Repeat("k", 32))},
		Reader: cache, Namespace: records, Records: cache}
	startManager(t, &RegionWithdrawalReconciler{Clock: h.clock, Executors: executor.Set{v1.StepExport: exports}, Rehearsal: h.calls, Metrics: metrics.New(h.clock)}, cache)

	counts := func(fetched int32) func() bool {
		return func() bool {
			e := step(h.get(), v1.StepExport).Export
			return e != nil && e.Handoff != nil && e.Handoff.Links == customers && e.Handoff.Fetched == fetched && e.Handoff.NotFetched == customers-fetched
		}
	}
	waitFor(t, h, &v1.RegionWithdrawalList{}, "status to count 3 links, none fetched", counts(0))
	if h := step(h.get(), v1.StepExport).Export.Handoff; h.ExpiresAt == nil || !h.ExpiresAt.Time.Equal(cutoff.Add(v1.DefaultHandoffExpiresAfter)) {
		t.Fatalf("expiresAt = %v, want the cutoff plus 30 days", h.ExpiresAt)
	}

	rec := &handoff.Recorder{Client: env.Client, Namespace: records}
	w := handoff.Withdrawal{UID: rw.UID, Namespace: rw.Namespace, Name: rw.Name}
	for i := range customers {
		if err := rec.Record(ctx, w, fmt.Sprintf("c-%d", i), h.clock.Now()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, h, &v1.RegionWithdrawalList{}, fmt.Sprintf("status to count %d fetched", i+1), counts(int32(i+1)))
	}
	waitFor(t, h, &eventsv1.EventList{}, "ArchivesFetched Events for the first fetch and for all", func() bool {
		var list eventsv1.EventList
		if err := h.c.List(h.ctx, &list, client.InNamespace(h.ns)); err != nil {
			return false
		}
		var first, all bool
		for _, e := range list.Items {
			first = first || e.Reason == v1.ReasonArchivesFetched && strings.HasPrefix(e.Note, "1 of 3 customers")
			all = all || e.Reason == v1.ReasonArchivesFetched && e.Note == "all 3 customers have fetched their archive"
		}
		return first && all
	})
}
