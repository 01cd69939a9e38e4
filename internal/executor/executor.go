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

// Package executor defines how the controller carries out the planner's
// actions: one Executor per step, behind one interface, so the reconciler
// does not know whether a step sends email, scales Deployments, or only
// records what it would do.
package executor

import (
	"context"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// Executor carries out the actions of one step.
//
// Execute is called for an action when it falls due and again on every
// reconcile until it reports Done, including after a crash at any point, so
// it must be idempotent: the same action with the same withdrawal converges
// on the same outcome, and side effects that already happened are detected,
// not repeated.
type Executor interface {
	Execute(ctx context.Context, rw *v1.RegionWithdrawal, a planner.Action) (Result, error)
}

// Result is what one call to Execute achieved. An executor reports through
// its Result only: it never writes the withdrawal's status itself. The
// controller records the Result in the entry of the action's step.
type Result struct {
	// Done is true when the action is finished, successfully or not.
	Done bool
	// Failed is true, with Done, when the action gave up; Message says why.
	Failed bool
	// Message says in a sentence what happened or what the action waits for.
	Message string
	// Plan is what the action touches, or would touch in a dry run.
	Plan *v1.StepPlan
	// Progress counts the action's work.
	Progress *v1.Progress
	// Detail is the step's own part of its status entry.
	Detail Detail
	// Irreversible lists what a revert could not undo.
	Irreversible []string
	// RequeueAfter asks to be called again after this long while not Done.
	RequeueAfter time.Duration
}

// Detail is what a step records of its own, beside the state every step
// has. An executor sets at most the field of its own step; nil fields leave
// the recorded detail as it is.
type Detail struct {
	Export  *v1.ExportStatus
	Drain   *v1.DrainStatus
	Routing *v1.RoutingStatus
	// Notice counts the recipients of a notice action.
	Notice *NoticeCounts
}

// NoticeCounts is how far a notice has gone out.
type NoticeCounts struct {
	Recipients, Sent, Failed int64
	// Excluded is how many recipients the notice's audience left out;
	// they are not among Recipients.
	Excluded int64
	// FailedSources are the recipient sources that could not be read, for
	// good, and why (status.notify.failedSources).
	FailedSources []string
}

// Pending is how many recipients are neither sent to nor given up on.
func (c NoticeCounts) Pending() int64 { return max(0, c.Recipients-c.Sent-c.Failed) }

// Set maps each step to its executor.
type Set map[v1.StepName]Executor

// For returns the executor of a step, and whether this build has one.
func (s Set) For(step v1.StepName) (Executor, bool) {
	e, ok := s[step]
	return e, ok && e != nil
}

// Finalizer is implemented by executors that hold something a deleted
// withdrawal must release.
type Finalizer interface {
	Finalize(ctx context.Context, rw *v1.RegionWithdrawal) error
}

// ReadOnly is implemented by executors that never change anything outside
// the withdrawal's status. For them the controller skips the status write
// that otherwise records an action as started before its side effects.
type ReadOnly interface {
	ReadOnly() bool
}

// IsReadOnly reports whether e declares itself read-only.
func IsReadOnly(e Executor) bool {
	ro, ok := e.(ReadOnly)
	return ok && ro.ReadOnly()
}

// SelfRecording is implemented by executors whose start action needs no
// record in status before it acts, because every object it changes carries
// the record itself, written in the same update as the change: which
// withdrawal changed it and where its original is kept (the routing switch:
// each route names its snapshot). A crash before the status says the step
// started leaves a change that the next attempt finds on the object, and a
// second replica writes the same change or loses on the object's
// resourceVersion. Such an executor must also be a Preparer whose Unprepare
// puts back what it changed: a withdrawal cancelled before its status
// recorded the start may still have been changed.
//
// For these the controller skips the status write before the action, so
// that at the cutoff the action's own write is the first request, and
// records the start in a second pass (see the controller).
type SelfRecording interface {
	Preparer
	SelfRecording() bool
}

// IsSelfRecording reports whether e declares itself self-recording.
func IsSelfRecording(e Executor) bool {
	sr, ok := e.(SelfRecording)
	return ok && sr.SelfRecording()
}

// Watch names a kind whose changes show an executor's progress, and how to
// find the withdrawals to reconcile when an object of that kind changes.
type Watch struct {
	// Object is an empty object of the kind, e.g. &batchv1.Job{}.
	Object client.Object
	// Map returns the withdrawals to reconcile for a changed object. Nil
	// means the withdrawal that controls the object (its owner reference).
	Map handler.MapFunc
	// Cache, when set, is the cache the objects are watched in, instead of
	// the manager's: a narrow one, for a kind the manager does not cache.
	Cache cache.Cache
}

// Preparer is implemented by executors that can ready their step before
// it is due, so that at the due time only the step's own writes are left
// (the routing switch: its notice backend deployed and Ready, so clients
// get 451 from the first second). The controller calls Prepare on every
// reconcile within PrepareLead of the due time, and once more just before
// it, until the step starts. Prepare must be idempotent and must change
// nothing a customer can observe; ready is false while it waits for
// something (pods becoming Ready), and message says what.
//
// Unprepare undoes what Prepare left running when the withdrawal is
// cancelled before the step started; it too must be idempotent.
type Preparer interface {
	PrepareLead() time.Duration
	Prepare(ctx context.Context, rw *v1.RegionWithdrawal) (ready bool, message string, err error)
	Unprepare(ctx context.Context, rw *v1.RegionWithdrawal) error
}

// Observer is implemented by executors whose step's record keeps changing
// after the step finished, by what others do (customers fetching their
// archives after the export). The controller calls Observe on every
// reconcile of a withdrawal whose step has started, and records the
// detail it returns like an action's; changed is false when there is
// nothing new to record.
type Observer interface {
	Observe(ctx context.Context, rw *v1.RegionWithdrawal) (d Detail, changed bool, err error)
}

// Watcher is implemented by executors whose progress shows in other
// objects (Jobs, Deployments, EndpointSlices): the controller watches what
// they name, so a running step moves on when its objects change, not on a
// timer.
type Watcher interface {
	Watches() []Watch
}

// SpecChecker is implemented by executors that can tell from the spec
// alone that their step could not run as written (an export Job template
// that sets the operator's own keys, say). The controller asks every one
// of them when it plans, so a bad spec stalls the withdrawal when it is
// applied, not when the step falls due days later.
type SpecChecker interface {
	CheckSpec(rw *v1.RegionWithdrawal) error
}

// SpecProber is implemented by executors that ask the API server whether
// it would accept what their step will create (a server-side dry run, as
// the withdrawal's ServiceAccount), before the step starts. A
// *planner.SpecError stalls the withdrawal until the spec changes; any
// other error is retried, and a tenant.DeniedError says which permission
// is missing.
type SpecProber interface {
	ProbeSpec(ctx context.Context, rw *v1.RegionWithdrawal) error
}

// RiskReporter is implemented by executors that can tell, from what they
// observe, that their step may miss its deadline (for example an export
// whose Jobs take longer than the time left). The controller adds these to
// the planner's risks in the DeadlineAtRisk condition.
type RiskReporter interface {
	Risks(rw *v1.RegionWithdrawal) []planner.Risk
}
