//go:build e2e

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

package e2e

import (
	"math/rand/v2"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"
)

// The chaos suite runs the compressed Pakistan withdrawal with faults and
// checks the invariants after each run (invariants_test.go). `make test`
// runs the bounded form, TestChaosBounded; `make chaos` runs the full form
// (RWO_CHAOS=full): twenty SIGKILLs, the API server stopped for 30 s during
// the drain and at the cutoff, two replicas losing their leader during the
// notice and at the cutoff, and a webhook receiver flapping for a minute.

// full says whether the full chaos suite was asked for.
func full(t *testing.T) {
	if os.Getenv("RWO_CHAOS") != "full" {
		t.Skip("part of the full chaos suite: make chaos (RWO_CHAOS=full)")
	}
}

func newRand(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	t.Logf("chaos seed %d", seed)
	return rand.New(rand.NewPCG(seed, 7))
}

// killAt kills the operator with SIGKILL at each moment (in order) and
// starts it again after 0.5–3 s, as a kubelet would.
func killAt(w *world, rng *rand.Rand, moments []time.Time) {
	op := w.ops[0]
	for _, at := range moments {
		until(at)
		op.stop(syscall.SIGKILL)
		down := time.Duration(500+rng.IntN(2500)) * time.Millisecond
		w.t.Logf("chaos: operator killed %s before the cutoff; down for %s", w.cutoff.Sub(time.Now()).Round(time.Millisecond), down)
		time.Sleep(down)
		op.start()
	}
}

// randomMoments returns n moments spread at random over [from, to),
// sorted, one in each of n equal slices so that they cover the run.
func randomMoments(rng *rand.Rand, n int, from, to time.Time) []time.Time {
	span := to.Sub(from) / time.Duration(n)
	out := make([]time.Time, n)
	for i := range out {
		out[i] = from.Add(span*time.Duration(i) + time.Duration(rng.Int64N(int64(span))))
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// TestChaosBounded is the form `make test` runs: three SIGKILLs — two
// seconds into the announcement (while it is being sent), at a random
// moment after the drain, and one second before the cutoff — and the API
// server stopped for 30 s during the drain.
func TestChaosBounded(t *testing.T) {
	rng := newRand(t)
	runScenario(t, scenario{
		name: "chaos-bounded",
		// A kill just before the cutoff costs a restart and a cache sync.
		routingBound: 10 * time.Second,
		faults: func(w *world) {
			killAt(w, rng, []time.Time{w.announce.Add(2 * time.Second)})
			outage := w.drain.Add(5 * time.Second)
			w.stopAPIServer(outage, 30*time.Second)
			afterOutage := outage.Add(33 * time.Second)
			killAt(w, rng, randomMoments(rng, 1, afterOutage, w.cutoff.Add(-5*time.Second)))
			killAt(w, rng, []time.Time{w.cutoff.Add(-time.Second)})
		},
	})
}

// TestChaosTwentyKills kills the operator at twenty random moments across
// the run, from the first notice to just after the cutoff.
func TestChaosTwentyKills(t *testing.T) {
	full(t)
	rng := newRand(t)
	runScenario(t, scenario{
		name:         "chaos-kills",
		routingBound: 10 * time.Second,
		faults: func(w *world) {
			killAt(w, rng, randomMoments(rng, 20, w.created, w.cutoff.Add(5*time.Second)))
		},
	})
}

// TestChaosAPIServerDown stops the kube-apiserver for 30 s during the drain
// and again across the cutoff. The operator runs with leader election, as
// the chart installs it, so it loses its lease while the API server is
// down and exits; it is restarted, as a kubelet would.
func TestChaosAPIServerDown(t *testing.T) {
	full(t)
	const down = 30 * time.Second
	runScenario(t, scenario{
		name:             "chaos-apiserver",
		leaderElect:      true,
		selfExitsAllowed: true,
		// The API server is back 20 s after the cutoff (plus its start-up,
		// about 3 s). The operator exited when it could not renew its
		// lease; restarted, it waits out the lease it held (15 s, as
		// client-go's leader election cannot tell its predecessor is gone)
		// and syncs its cache. Measured: 41 s.
		routingBound: 20*time.Second + 3*time.Second + 15*time.Second + 10*time.Second,
		faults: func(w *world) {
			w.stopAPIServer(w.drain.Add(5*time.Second), down)
			w.stopAPIServer(w.cutoff.Add(-10*time.Second), down)
		},
	})
}

// TestChaosLeaderKilled runs two replicas with leader election and kills
// the leader with SIGKILL during the announcement and one second before the
// cutoff. The lease is not released, so the other replica takes over when
// it expires (15 s).
func TestChaosLeaderKilled(t *testing.T) {
	full(t)
	runScenario(t, scenario{
		name:     "chaos-leader",
		replicas: 2,
		// Lease expiry (15 s) plus the new leader's cache sync.
		routingBound: 25 * time.Second,
		faults: func(w *world) {
			for _, at := range []time.Time{w.announce.Add(2 * time.Second), w.cutoff.Add(-time.Second)} {
				until(at)
				op := w.leader()
				if op == nil {
					w.t.Errorf("no replica holds the lease %s before the cutoff", w.cutoff.Sub(time.Now()))
					return
				}
				op.stop(syscall.SIGKILL)
				w.t.Logf("chaos: leader %s killed %s before the cutoff", op.name, w.cutoff.Sub(time.Now()).Round(time.Millisecond))
				time.Sleep(2 * time.Second)
				op.start()
			}
		},
	})
}

// TestChaosWebhookFlaps makes the webhook receiver answer with errors and
// time out, alternately, for a minute from the announcement on. Every
// recipient must still get every notice, with one idempotency key.
func TestChaosWebhookFlaps(t *testing.T) {
	full(t)
	runScenario(t, scenario{
		name: "chaos-flap",
		// The backoff after a minute of failures reaches about a minute, so
		// the announcement needs time to finish before the final notice.
		lead:         240 * time.Second,
		flap:         time.Minute,
		routingBound: 5 * time.Second,
	})
}
