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
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/routing"
	"github.com/ops-dev/region-withdrawal-operator/internal/steps"
)

// writeLog records the writes (every request but GET, LIST and WATCH) that
// go through a client, as "VERB path".
type writeLog struct {
	mu     sync.Mutex
	writes []string
}

func (l *writeLog) RoundTrip(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		if req.Method != http.MethodGet {
			l.mu.Lock()
			l.writes = append(l.writes, req.Method+" "+req.URL.Path)
			l.mu.Unlock()
		}
		return rt.RoundTrip(req)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// take returns the writes logged since the last take.
func (l *writeLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.writes
	l.writes = nil
	return w
}

// loggedExecutors wires the real executors, the reconciler and the
// evidence ledger to a client whose writes are logged, as realExecutors
// does with the plain one.
func (h *harness) loggedExecutors() *writeLog {
	h.t.Helper()
	log := &writeLog{}
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(log.RoundTrip)
	c, err := client.New(cfg, client.Options{Scheme: env.Client.Scheme(), Mapper: env.Client.RESTMapper()})
	if err != nil {
		h.t.Fatal(err)
	}
	if h.ledger == nil {
		if h.ledger, err = ledger.New(ledger.Options{Client: c, Reader: c, Namespace: h.ns, Key: []byte("an evidence key of 32 bytes.....")}); err != nil {
			h.t.Fatal(err)
		}
	}
	h.r.Client, h.r.APIReader, h.r.Evidence = c, c, h.ledger
	h.r.Executors, _ = steps.New(steps.Options{Client: c, APIReader: c, Mapper: c.RESTMapper(), Clock: h.clock, Recorder: h.rec, Evidence: h.ledger})
	return log
}

// routingAtCutoff is the Pakistan sample for real with only its routing
// step, prepared ten minutes before the cutoff (snapshot taken, notice
// backend deployed), so that at the cutoff only the switch is left.
func (h *harness) routingAtCutoff() *writeLog {
	h.t.Helper()
	h.regionApp()
	log := h.loggedExecutors()
	h.pakistan(func(s *v1.RegionWithdrawalSpec) { s.Notify, s.Export, s.Drain, s.DryRun = nil, nil, nil, false })
	h.at(cutoff.Add(-10 * time.Minute))
	if s := step(h.get(), v1.StepRouting); s.StartedAt != nil {
		h.t.Fatalf("routing started before the cutoff: %+v", s)
	}
	log.take()
	return log
}

func (h *harness) ingress() *networkingv1.Ingress {
	h.t.Helper()
	ing := &networkingv1.Ingress{}
	if err := h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: "pk-edge"}, ing); err != nil {
		h.t.Fatal(err)
	}
	return ing
}

func switchedToNotice(ing *networkingv1.Ingress) bool {
	return strings.HasPrefix(ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name, "rwo-notice-") && ing.Annotations[routing.AnnotationSnapshot] != ""
}

// TestTheCutoffIsTheRouteWriteThenItsRecord: at the cutoff the reconcile's
// only write is the route's (the first pass); the status, the evidence and
// the Events follow in a second pass at low priority, which records the
// times of the first and does not write the route again.
func TestTheCutoffIsTheRouteWriteThenItsRecord(t *testing.T) {
	h := newHarness(t, cutoff.Add(-time.Hour))
	log := h.routingAtCutoff()

	switchAt := cutoff.Add(requeueSkew)
	h.clock.SetTime(switchAt)
	res, err := h.reconcile()
	if err != nil {
		t.Fatal(err)
	}
	writes := log.take()
	if want := "PUT /apis/networking.k8s.io/v1/namespaces/" + h.ns + "/ingresses/pk-edge"; !slices.Equal(writes, []string{want}) {
		t.Fatalf("the first pass wrote %q; want only %q", writes, want)
	}
	if !switchedToNotice(h.ingress()) {
		t.Fatalf("the Ingress is not switched: %+v", h.ingress())
	}
	if res.Priority == nil || *res.Priority != handler.LowPriority || res.RequeueAfter <= 0 {
		t.Fatalf("first pass result %+v; want a requeue at low priority", res)
	}
	if s := step(h.get(), v1.StepRouting); s.StartedAt != nil {
		t.Fatalf("the first pass recorded %+v; want nothing written", s)
	}

	// The second pass, three seconds later, records the switch as it was.
	h.clock.SetTime(cutoff.Add(3 * time.Second))
	res, err = h.reconcile()
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range log.take() {
		if strings.Contains(w, "/ingresses/") {
			t.Errorf("the second pass wrote the route again: %s", w)
		}
	}
	if res.Priority == nil || *res.Priority != 0 {
		t.Errorf("second pass result %+v; want the normal priority back", res)
	}
	rw := h.get()
	s := step(rw, v1.StepRouting)
	if s.State != v1.StepSucceeded || s.StartedAt == nil || !s.StartedAt.Time.Equal(switchAt.Truncate(time.Second)) ||
		s.FinishedAt == nil || !s.FinishedAt.Time.Equal(switchAt.Truncate(time.Second)) || s.Lateness == nil || s.Lateness.Duration != requeueSkew {
		t.Fatalf("routing = %+v; want Succeeded, started and finished at the first pass (%s), lateness %s", s, switchAt, requeueSkew)
	}
	if rw.Status.Phase != v1.PhaseCompleted {
		t.Errorf("phase %s, want Completed", rw.Status.Phase)
	}
	switched := h.evidence(rw).RoutingStopped()
	if len(switched) != 1 || !switched[0].At.Equal(switchAt.Truncate(time.Second)) {
		t.Errorf("the evidence says routing stopped %+v; want once, at the first pass (%s)", switched, switchAt.Truncate(time.Second))
	}
}

// TestACrashBetweenThePassesLosesNothing: the process dies after the route
// write and before its record. The next process finds the route switched,
// records it with its own time, and does not switch it again.
func TestACrashBetweenThePassesLosesNothing(t *testing.T) {
	h := newHarness(t, cutoff.Add(-time.Hour))
	log := h.routingAtCutoff()
	h.clock.SetTime(cutoff.Add(requeueSkew))
	if _, err := h.reconcile(); err != nil {
		t.Fatal(err)
	}
	switched := h.ingress()
	if !switchedToNotice(switched) {
		t.Fatal("the first pass did not switch the Ingress")
	}

	h.restart()
	log = h.loggedExecutors()
	later := cutoff.Add(5 * time.Second)
	h.clock.SetTime(later)
	// The new process has no first pass to go on: it makes its own, which
	// finds the route switched and writes nothing, then the second.
	if _, err := h.reconcile(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.reconcile(); err != nil {
		t.Fatal(err)
	}
	for _, w := range log.take() {
		if strings.Contains(w, "/ingresses/") {
			t.Errorf("the route was written again after the crash: %s", w)
		}
	}
	if h.ingress().ResourceVersion != switched.ResourceVersion {
		t.Error("the route changed after the crash")
	}
	rw := h.get()
	if s := step(rw, v1.StepRouting); s.State != v1.StepSucceeded || s.StartedAt == nil || !s.StartedAt.Time.Equal(later) {
		t.Fatalf("routing = %+v; want Succeeded, started at the restarted process's time %s", s, later)
	}
	if got := h.evidence(rw).Counts()[evidence.KindRoutingSwitched]; got != 1 {
		t.Errorf("%d routing-switched statements, want 1", got)
	}
}

// TestACancelBetweenThePassesPutsTheRoutesBack: a cancel (allowed after the
// cutoff) that arrives after the route write and before its record, in
// the same process or after a crash, puts the route back: the status never
// said the switch started, and the routes say it did.
func TestACancelBetweenThePassesPutsTheRoutesBack(t *testing.T) {
	for _, crash := range []bool{false, true} {
		name := "same process"
		if crash {
			name = "after a crash"
		}
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, cutoff.Add(-time.Hour))
			h.routingAtCutoff()
			original := h.ingress()
			h.clock.SetTime(cutoff.Add(requeueSkew))
			if _, err := h.reconcile(); err != nil {
				t.Fatal(err)
			}
			if !switchedToNotice(h.ingress()) {
				t.Fatal("the first pass did not switch the Ingress")
			}
			h.update(func(s *v1.RegionWithdrawalSpec) { s.Cancel, s.AllowCancelAfterCutoff = true, true })
			if crash {
				h.restart()
				h.loggedExecutors()
			}
			h.clock.SetTime(cutoff.Add(2 * time.Second))
			if _, err := h.reconcile(); err != nil {
				t.Fatal(err)
			}
			back := h.ingress()
			if back.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name != original.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name ||
				back.Annotations[routing.AnnotationSnapshot] != "" {
				t.Fatalf("after the cancel the Ingress is %+v %v; want it back as it was", back.Spec, back.Annotations)
			}
			if rw := h.get(); rw.Status.Phase != v1.PhaseCancelled {
				t.Fatalf("phase %s, want Cancelled", rw.Status.Phase)
			}
		})
	}
}

// TestASecondPassWaitsForRunningFirstPasses: a second pass is held back
// while another withdrawal's first pass runs, for secondPassMaxWait at
// most, and not at all when none runs.
func TestASecondPassWaitsForRunningFirstPasses(t *testing.T) {
	var f firstPasses
	now := cutoff
	a := &v1.RegionWithdrawal{}
	a.Namespace, a.Name, a.UID = "ns", "a", "uid-a"
	key := client.ObjectKeyFromObject(a)

	f.begin()
	f.end(a, now, map[string]firstPass{"routing": {started: now, finished: now, done: true}})
	if f.holdSecond(key, now) {
		t.Fatal("held back with no first pass running")
	}
	f.begin() // another withdrawal's first pass
	if !f.holdSecond(key, now.Add(time.Second)) {
		t.Fatal("not held back while a first pass runs")
	}
	if f.holdSecond(key, now.Add(secondPassMaxWait)) {
		t.Fatalf("held back for more than %s", secondPassMaxWait)
	}
	if f.holdSecond(client.ObjectKey{Namespace: "ns", Name: "b"}, now) {
		t.Fatal("a withdrawal without a first pass was held back")
	}
	f.end(&v1.RegionWithdrawal{}, now, nil)
	if f.holdSecond(key, now.Add(time.Second)) {
		t.Fatal("held back after every first pass ended")
	}
	if got := f.take(a); !got["routing"].done {
		t.Fatalf("took %+v, want the first pass's record", got)
	}
	if got := f.take(a); got != nil {
		t.Fatalf("took %+v a second time", got)
	}
}
