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

// Package controllers holds the RegionWithdrawal reconciler: this file is
// the skeleton (read, finalize, write status once), and
// regionwithdrawal_steps.go plans and runs the planner's actions through
// the executors. What status and Events say is worked out by
// internal/summarize, without an API server.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff"
	"github.com/ops-dev/region-withdrawal-operator/internal/metrics"
	"github.com/ops-dev/region-withdrawal-operator/internal/summarize"
	"github.com/ops-dev/region-withdrawal-operator/internal/tenant"
	"github.com/ops-dev/region-withdrawal-operator/internal/text"
)

// Finalizer lets executors clean up what would outlive a deleted
// withdrawal: export Jobs in other namespaces, which no owner reference can
// remove, and the restore records once nothing is left to restore.
const Finalizer = "withdrawal.ops.dev/finalizer"

// requeueSkew is added to every wake-up so that rounding in the workqueue's
// delay does not wake the controller a hair before the action is due. Go's
// timers never fire early, so it can be small: every withdrawal of a region
// waits it out at the cutoff. (The CronJob controller adds 100 ms; a wake-up
// that comes too early costs one spare reconcile, not a missed action.)
const requeueSkew = 10 * time.Millisecond

// RegionWithdrawalReconciler carries out RegionWithdrawals.
type RegionWithdrawalReconciler struct {
	client.Client
	// APIReader reads uncached, for one-off lookups of targets and recipients.
	APIReader client.Reader
	Recorder  events.EventRecorder
	// Clock is the only source of time; tests inject a fake one.
	Clock clock.PassiveClock
	// Executors carry out steps for real; a step without one cannot run
	// except as a rehearsal.
	Executors executor.Set
	// Rehearsal carries out every step of a dry run.
	Rehearsal executor.Executor
	Metrics   *metrics.Metrics
	// FleetRole is the role of a withdrawal that does not set
	// spec.fleet.role (--fleet-role): empty means Coordinator.
	FleetRole v1.FleetRole
	// ClockOffsets, when set, is the measurement of the API server's clock
	// against ours that a copy in a fleet reports.
	ClockOffsets ClockOffsets
	// Coordinator, on a fleet member, tells whether the coordinator's
	// export is verified (fleet.Coordinator); nil: not known, and a
	// member's drain does not wait for it.
	Coordinator CoordinatorExports
	// RiskWindow is how early DeadlineAtRisk warns; zero means a day.
	RiskWindow time.Duration
	// MaxConcurrentReconciles bounds parallel reconciles; zero means
	// DefaultMaxConcurrentReconciles.
	// Reconciles mostly wait on the API server, and at a cutoff every
	// withdrawal of a region falls due in the same second.
	MaxConcurrentReconciles int
	// MaxRetryDelay caps the backoff after a failed reconcile; zero means
	// DefaultMaxRetryDelay.
	MaxRetryDelay time.Duration
	// DefaultServiceAccount is who a withdrawal without
	// spec.serviceAccountName acts as. Empty: such a withdrawal's executors
	// act as the operator itself (single-tenant installations only).
	DefaultServiceAccount string
	// ServiceAccounts, when set, are the only ServiceAccount names a
	// withdrawal may act as (the default among them): the ones the
	// operator's RBAC lets it impersonate. A withdrawal naming another
	// stalls with a message rather than failing on every call.
	ServiceAccounts []string
	// NoCrossNamespace refuses spec.namespaceSelector: every withdrawal acts
	// in its own namespace only.
	NoCrossNamespace bool
	// OwnNamespace is the installation's namespace. With a
	// DefaultServiceAccount, a withdrawal there is refused: it could act
	// as the operator's own ServiceAccount, or the handoff endpoint's.
	OwnNamespace string
	// MinReminderSpacing is the least time between two reminders; zero
	// means DefaultMinReminderSpacing.
	MinReminderSpacing time.Duration
	// ExecuteTimeout bounds one executor call; zero means
	// DefaultExecuteTimeout. One slow recipient source or receiver must
	// not hold a worker that every other withdrawal needs.
	ExecuteTimeout time.Duration
	// RequiredApprovals are steps that wait for an approval whatever a
	// withdrawal's spec says (--require-approval).
	RequiredApprovals []v1.StepName
	// Evidence, when set, is the evidence ledger: what each reconcile
	// counts as done is appended to it before the status says so.
	Evidence *ledger.Ledger

	// firstPasses is what first passes did, for their second passes
	// (regionwithdrawal_firstpass.go).
	firstPasses firstPasses
}

// DefaultMaxConcurrentReconciles is how many withdrawals are reconciled at
// once. A cutoff makes every withdrawal of a region due in the same second,
// and a first pass (regionwithdrawal_firstpass.go) is one route write, so a
// worker per withdrawal due lets every switch go out at once. With 64, 200
// withdrawals switched in four waves, and the last route write was about
// 1.5x later (docs/benchmarks.md); goroutines cost little, and the client's
// budget (--kube-api-qps, --kube-api-burst) and the API server's priority
// and fairness still bound what reaches the server.
const DefaultMaxConcurrentReconciles = 128

// DefaultExecuteTimeout bounds one executor call.
const DefaultExecuteTimeout = 2 * time.Minute

// DefaultMinReminderSpacing keeps reminders at least an hour apart.
const DefaultMinReminderSpacing = time.Hour

// DefaultMaxRetryDelay caps the per-withdrawal retry backoff. The
// controller-runtime default grows to 1000 s, so after a 30 s API server
// outage the next attempt could come minutes later, past a cutoff; capped,
// the first attempt after the API server returns is at most this late.
const DefaultMaxRetryDelay = 5 * time.Second

// +kubebuilder:rbac:groups=withdrawal.ops.dev,resources=regionwithdrawals,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=withdrawal.ops.dev,resources=regionwithdrawals/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=withdrawal.ops.dev,resources=regionwithdrawals/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch
// The executors act as each withdrawal's ServiceAccount (internal/tenant):
// the operator may impersonate ServiceAccounts, and asks the API server
// whether one may read what the cache holds.
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=impersonate
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes,verbs=get;list;watch

// conflictRequeue is how soon a reconcile whose status write lost to
// another writer plans again, from that writer's status.
const conflictRequeue = 100 * time.Millisecond

// Reconcile reads top to bottom: get, finalizer, plan and act, then write
// status once on the way out.
func (r *RegionWithdrawalReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if r.firstPasses.holdSecond(req.NamespacedName, r.Clock.Now()) {
		return heldSecondPass(), nil
	}
	rw := &v1.RegionWithdrawal{}
	if err := r.Get(ctx, req.NamespacedName, rw); err != nil {
		if apierrors.IsNotFound(err) {
			r.Metrics.Forget(req.NamespacedName)
			r.firstPasses.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}

	// From here on the executors act as the withdrawal's ServiceAccount.
	if id, ok := tenant.Of(rw, r.DefaultServiceAccount); ok {
		ctx = tenant.WithIdentity(ctx, id)
	}
	if !rw.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, rw)
	}
	if controllerutil.AddFinalizer(rw, Finalizer) {
		if err := r.Update(ctx, rw); err != nil {
			return ctrl.Result{}, err
		}
	}

	written := rw.DeepCopy()
	actInRole(rw, r.FleetRole, r.ClockOffsets)
	// Its records are kept under this key from the first reconcile on.
	rw.Status.IdentityKey = string(rw.IdentityKey())
	result, written, err := r.reconcileWithdrawal(ctx, rw, written)
	if errors.Is(err, errFirstPass) {
		// Nothing is written in a first pass: its second pass writes it.
		return result, nil
	}
	result, err = r.patchStatus(ctx, written, rw, result, err)
	// A due time is never background work, whatever the priority of the
	// request that asked for this reconcile (a second pass, the start-up
	// list): the next wake-up, or retry, comes at the normal priority.
	result.Priority = new(0)
	return result, err
}

// patchStatus writes rw's status, if it differs from what written holds
// (the status as last written, by this reconcile or before it).
// observedGeneration says "this status describes that spec": only a
// reconcile that succeeded (or found the spec unusable) stamps it, so a
// transient failure leaves the old one and kstatus keeps waiting.
func (r *RegionWithdrawalReconciler) patchStatus(ctx context.Context, written, rw *v1.RegionWithdrawal, result ctrl.Result, err error) (ctrl.Result, error) {
	if err == nil || errors.Is(err, reconcile.TerminalError(nil)) {
		summarize.Observed(&rw.Status, rw.Generation)
	}
	defer r.Metrics.Observe(rw)
	if equality.Semantic.DeepEqual(written.Status, rw.Status) {
		return result, err
	}
	perr := r.Status().Patch(ctx, rw, client.MergeFrom(written))
	switch {
	case perr == nil:
		return result, err
	case apierrors.IsNotFound(perr):
		return ctrl.Result{}, err // deleted meanwhile: nothing left to write
	case apierrors.IsConflict(perr):
		// Another writer got there first: plan again from its status.
		return ctrl.Result{RequeueAfter: conflictRequeue}, err
	default:
		ctrl.LoggerFrom(ctx).Error(perr, "Failed to patch status")
		return result, errors.Join(err, perr)
	}
}

// finalizeRetry is how soon a deletion held up by a cleanup that failed is
// tried again. A fix (a Role granted, say) does not wake the controller.
const finalizeRetry = 30 * time.Second

// finalize lets executors that hold something release it, then lets the
// object go. What was done to the cluster stays done: deleting a withdrawal
// stops managing it, it does not cancel it (use spec.cancel for that). A
// cleanup that fails holds the deletion up, says why in the FinalizeBlocked
// condition and an Event, and is tried again; `kubectl withdrawal release`
// lets the object go without it.
func (r *RegionWithdrawalReconciler) finalize(ctx context.Context, rw *v1.RegionWithdrawal) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(rw, Finalizer) {
		return ctrl.Result{}, nil
	}
	for _, step := range v1.AllSteps {
		if !hasStep(rw, step) {
			continue // nothing of a step it never had to clean up
		}
		e, _ := r.Executors.For(step)
		if f, ok := e.(executor.Finalizer); ok {
			if err := f.Finalize(ctx, rw); err != nil {
				return r.finalizeBlocked(ctx, rw, step, err)
			}
		}
	}
	r.sealDeleted(ctx, rw)
	if !executor.NothingToRestore(rw) && anyStepStarted(rw) {
		r.Recorder.Eventf(rw, nil, corev1.EventTypeWarning, v1.ReasonRecordsKept, "Delete",
			"deleted before its changes were undone; the route and autoscaler records are kept: `kubectl withdrawal restore %s -n %s` puts them back", rw.Name, rw.Namespace)
	}
	controllerutil.RemoveFinalizer(rw, Finalizer)
	if err := r.Update(ctx, rw); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	r.Metrics.Forget(client.ObjectKeyFromObject(rw))
	return ctrl.Result{}, nil
}

// hasStep says whether the withdrawal has, or had, step: in its spec now,
// or in its status from before a change.
func hasStep(rw *v1.RegionWithdrawal, step v1.StepName) bool {
	for _, s := range rw.Status.Steps {
		if s.Name == step {
			return true
		}
	}
	switch step {
	case v1.StepNotify:
		return rw.Spec.Notify != nil
	case v1.StepExport:
		return rw.Spec.Export != nil
	case v1.StepDrain:
		return rw.Spec.Drain != nil
	case v1.StepRouting:
		return rw.Spec.Routing != nil
	}
	return false
}

// finalizeBlocked says, in the FinalizeBlocked condition and (once per
// cause) an Event, why the deletion is held up, and tries again later.
func (r *RegionWithdrawalReconciler) finalizeBlocked(ctx context.Context, rw *v1.RegionWithdrawal, step v1.StepName, err error) (ctrl.Result, error) {
	ctrl.LoggerFrom(ctx).Error(err, "Cleaning up a deleted withdrawal failed; it is tried again", "step", step)
	reason := v1.ReasonFinalizeFailed
	if _, denied := tenant.AsDenied(err); denied {
		reason = v1.ReasonPermissionDenied
	}
	msg := fmt.Sprintf("the deletion waits for the %s step's cleanup, which failed: %v. Fix that and it goes on by itself; "+
		"or `kubectl withdrawal release %s -n %s` lets the withdrawal go and leaves what the cleanup would have removed",
		step, err, rw.Name, rw.Namespace)
	before := rw.DeepCopy()
	if meta.SetStatusCondition(&rw.Status.Conditions, metav1.Condition{Type: v1.ConditionFinalizeBlocked, Status: metav1.ConditionTrue,
		Reason: reason, Message: text.Truncate(msg, summarize.MaxStepMessage), ObservedGeneration: rw.Generation}) {
		r.Recorder.Eventf(rw, nil, corev1.EventTypeWarning, v1.ReasonFinalizeBlocked, "Delete", "%s", text.Truncate(msg, summarize.MaxStepMessage))
		if perr := r.Status().Patch(ctx, rw, client.MergeFrom(before)); perr != nil && !apierrors.IsNotFound(perr) {
			return ctrl.Result{}, errors.Join(err, perr)
		}
	}
	return ctrl.Result{RequeueAfter: finalizeRetry}, nil
}

// sealDeleted seals the ledger of a withdrawal deleted before it ended,
// so that its ledger says it ends there. It does not hold up the deletion:
// a ledger that cannot be sealed (found tampered, say) stays open, and
// verify says so; an Event says why.
func (r *RegionWithdrawalReconciler) sealDeleted(ctx context.Context, rw *v1.RegionWithdrawal) {
	if r.Evidence == nil || rw.Spec.DryRun || ended(rw.Status.Phase) || rw.Status.Evidence == nil {
		return
	}
	err := r.Evidence.Append(ctx, rw, &evidence.LedgerSealed{Header: evidence.Header{At: r.Clock.Now()}, Reason: evidence.SealDeleted})
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Failed to seal the evidence ledger of a deleted withdrawal")
		r.Recorder.Eventf(rw, nil, corev1.EventTypeWarning, v1.ReasonEvidenceNotSealed, "Delete",
			"deleted, but its evidence ledger could not be sealed and stays open: %v", err)
	}
	r.Evidence.Forget(rw.UID)
}

func anyStepStarted(rw *v1.RegionWithdrawal) bool {
	for _, s := range rw.Status.Steps {
		if s.StartedAt != nil && !s.DryRun && s.Name != v1.StepNotify {
			return true
		}
	}
	return false
}

// SetupWithManager registers the controller, defaulting what was not injected.
func (r *RegionWithdrawalReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder("region-withdrawal-controller")
	}
	if r.Metrics == nil {
		r.Metrics = metrics.New(r.Clock)
	}
	if r.MaxConcurrentReconciles == 0 {
		r.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
	if r.MaxRetryDelay <= 0 {
		r.MaxRetryDelay = DefaultMaxRetryDelay
	}
	b := ctrl.NewControllerManagedBy(mgr).
		// Our own status patches do not bump the generation, so they do not
		// wake the controller: while nothing is due it does not reconcile.
		// A revoked handoff link (an annotation) wakes it, to take the link
		// out of the endpoint's index at once.
		For(&v1.RegionWithdrawal{}, builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, revokedChanged))).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.MaxConcurrentReconciles,
			// Per withdrawal only, without the default's shared token
			// bucket: retries of one withdrawal never delay another's.
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](50*time.Millisecond, r.MaxRetryDelay),
		}).
		// A withdrawal waiting for another with its ID to go.
		Watches(&v1.RegionWithdrawal{}, handler.EnqueueRequestsFromMapFunc(r.identityReleased), builder.WithPredicates(onDelete)).
		Named("regionwithdrawal")
	for _, step := range v1.AllSteps {
		w, ok := r.Executors[step].(executor.Watcher)
		if !ok {
			continue
		}
		for _, watch := range w.Watches() {
			switch {
			case watch.Cache != nil:
				b = b.WatchesRawSource(source.Kind(watch.Cache, watch.Object, handler.EnqueueRequestsFromMapFunc(watch.Map)))
			case watch.Map == nil:
				b = b.Owns(watch.Object)
			default:
				b = b.Watches(watch.Object, handler.EnqueueRequestsFromMapFunc(watch.Map))
			}
		}
	}
	return b.Complete(r)
}

// publish records the Events that the change from old to rw's new status
// calls for, and sets the new status. Notes never carry secrets: they are
// built from names, counts, times and executors' messages only.
func (r *RegionWithdrawalReconciler) publish(rw *v1.RegionWithdrawal, old, updated *v1.RegionWithdrawalStatus, in summarize.Input) {
	for _, e := range summarize.Events(old, updated, in) {
		t := corev1.EventTypeNormal
		if e.Warning {
			t = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(rw, nil, t, e.Reason, e.Action, "%s", e.Note)
	}
	rw.Status = *updated
}

// revokedChanged passes an update that changes the withdrawal's revoked
// handoff links.
var revokedChanged = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetAnnotations()[handoff.AnnotationRevoked] != e.ObjectNew.GetAnnotations()[handoff.AnnotationRevoked]
	},
}
