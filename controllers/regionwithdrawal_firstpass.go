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

// The cutoff in two passes.
//
// At a cutoff every withdrawal of a region falls due in the same second, and
// what a client observes is each withdrawal's route write; everything else
// the reconcile writes (the start record, the evidence, the status, the
// Events) only delays the next withdrawal's route write, since they share
// the workers and the client's budget. So a reconcile whose due actions are
// all carried out by self-recording executors (executor.SelfRecording: the
// routing switch, whose routes carry their own record) runs in two passes:
//
//  1. the first pass carries those actions out and writes nothing else: no
//     start record before them (the objects carry it), no status after.
//     It remembers, in this process, when each action started and
//     finished, and asks for the second pass at low priority, which the
//     workqueue hands out only once no withdrawal is waiting for its first;
//  2. the second pass is an ordinary reconcile. It plans again, as after a
//     crash, starts the same actions with the remembered times, finds them
//     done (the executors are idempotent, and read the objects from the
//     cache), and records them: evidence, status and Events. It waits while
//     any first pass is still running (for secondPassMaxWait at most), so
//     that its writes do not slow the last route writes, nor the watch
//     events that carry them to ingress controllers.
//
// If the process dies between the two passes, the next one does the second
// pass with its own times (it finds the routes switched), and a cancel seen
// by then puts the routes back (the executor's Unprepare). Nothing but
// timestamps is kept in memory.

import (
	"context"
	"errors"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// errFirstPass tells Reconcile that the reconcile was a first pass, which
// writes nothing.
var errFirstPass = errors.New("first pass: recorded by the second")

const (
	// firstPassDelay is how long the second pass waits at the least. The
	// low priority already puts it behind every withdrawal due now.
	firstPassDelay = requeueSkew
	// secondPassRecheck is how soon a second pass held back by a running
	// first pass looks again. Holding it costs no request, but each look
	// is a reconcile while the first passes need the CPU; and the last
	// route writes' watch events reach ingress controllers meanwhile.
	secondPassRecheck = 250 * time.Millisecond
	// secondPassMaxWait bounds how long running first passes hold a second
	// pass back, so that first passes in a row never starve the records.
	secondPassMaxWait = 5 * time.Second
)

// firstPass is what a first pass did with one action.
type firstPass struct {
	started, finished time.Time
	// done is whether the executor reported the action done.
	done bool
}

// firstPasses holds, per withdrawal, the actions its first pass carried
// out and the second has not recorded yet. It is safe for concurrent use.
type firstPasses struct {
	mu sync.Mutex
	by map[types.NamespacedName]firstPassed
	// running is how many first passes are carrying out their actions.
	running int
}

// firstPassed is what one withdrawal's first pass did, by action ID.
type firstPassed struct {
	uid     types.UID
	at      time.Time
	actions map[string]firstPass
}

func (f *firstPasses) begin() {
	f.mu.Lock()
	f.running++
	f.mu.Unlock()
}

// end records what the first pass of rw did, at now.
func (f *firstPasses) end(rw *v1.RegionWithdrawal, now time.Time, actions map[string]firstPass) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running--
	if f.by == nil {
		f.by = map[types.NamespacedName]firstPassed{}
	}
	f.by[types.NamespacedName{Namespace: rw.Namespace, Name: rw.Name}] = firstPassed{uid: rw.UID, at: now, actions: actions}
}

// holdSecond reports whether the second pass of key should wait: other
// first passes are running, and it has not waited secondPassMaxWait yet.
func (f *firstPasses) holdSecond(key types.NamespacedName, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.by[key]
	return ok && f.running > 0 && now.Sub(p.at) < secondPassMaxWait
}

// take returns what the first pass of rw did, and forgets it: the
// reconcile that takes it records it, or plans something else instead.
func (f *firstPasses) take(rw *v1.RegionWithdrawal) map[string]firstPass {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := types.NamespacedName{Namespace: rw.Namespace, Name: rw.Name}
	p, ok := f.by[key]
	delete(f.by, key)
	if !ok || p.uid != rw.UID {
		return nil
	}
	return p.actions
}

// forget drops what a deleted withdrawal's first pass did.
func (f *firstPasses) forget(key types.NamespacedName) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.by, key)
}

// actFirst is the first pass: it carries out the started actions with
// their executors, once each, and remembers when. Their results are not
// recorded: the second pass runs them again and records what it finds.
func (r *RegionWithdrawalReconciler) actFirst(ctx context.Context, rw *v1.RegionWithdrawal, started []planner.Action, now time.Time) ctrl.Result {
	r.firstPasses.begin()
	ran := make(map[string]firstPass, len(started))
	for _, a := range started {
		e, _, ok := r.executorFor(rw, a)
		if !ok {
			continue
		}
		res, err := r.execute(ctx, e, rw, a)
		if err != nil {
			// The second pass meets it again and records it.
			ctrl.LoggerFrom(ctx).V(1).Info("First pass of an action failed", "action", a.ID, "error", err.Error())
		}
		ran[a.ID] = firstPass{started: now, finished: r.Clock.Now(), done: err == nil && res.Done}
	}
	r.firstPasses.end(rw, r.Clock.Now(), ran)
	return ctrl.Result{RequeueAfter: firstPassDelay, Priority: new(handler.LowPriority)}
}

// heldSecondPass is the result of a second pass held back while first
// passes run.
func heldSecondPass() ctrl.Result {
	return ctrl.Result{RequeueAfter: secondPassRecheck, Priority: new(handler.LowPriority)}
}
