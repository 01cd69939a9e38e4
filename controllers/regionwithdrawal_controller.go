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
// the skeleton, regionwithdrawal_steps.go runs the planner's actions, and
// regionwithdrawal_status.go turns the outcome into conditions, a phase and
// Events.
package controllers

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/metrics"
)

// Finalizer lets executors release what they hold (such as set-aside
// autoscalers) before a withdrawal goes away.
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
	// RiskWindow is how early DeadlineAtRisk warns; zero means a day.
	RiskWindow time.Duration
	// MaxConcurrentReconciles bounds parallel reconciles; zero means 16.
	// Reconciles mostly wait on the API server, and at a cutoff every
	// withdrawal of a region falls due in the same second.
	MaxConcurrentReconciles int
	// MaxRetryDelay caps the backoff after a failed reconcile; zero means
	// DefaultMaxRetryDelay.
	MaxRetryDelay time.Duration
}

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
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes,verbs=get;list;watch

// Reconcile reads top to bottom: get, finalizer, keep a copy, patch status
// once on the way out, then plan and act.
func (r *RegionWithdrawalReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	log := ctrl.LoggerFrom(ctx)

	rw := &v1.RegionWithdrawal{}
	if err := r.Get(ctx, req.NamespacedName, rw); err != nil {
		if apierrors.IsNotFound(err) {
			r.Metrics.Forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}

	if !rw.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, rw)
	}
	if controllerutil.AddFinalizer(rw, Finalizer) {
		if err := r.Update(ctx, rw); err != nil {
			return ctrl.Result{}, err
		}
	}

	base := rw.DeepCopy()
	defer func() {
		// observedGeneration says "this status describes that spec"; a
		// transient failure leaves the old one, so kstatus keeps waiting.
		if retErr == nil || errors.Is(retErr, reconcile.TerminalError(nil)) {
			rw.Status.ObservedGeneration = rw.Generation
			setObservedGeneration(rw)
		}
		if equality.Semantic.DeepEqual(base.Status, rw.Status) {
			return
		}
		if err := r.Status().Patch(ctx, rw, client.MergeFrom(base)); err != nil {
			if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
				result, retErr = ctrl.Result{Requeue: true}, nil
				return
			}
			log.Error(err, "Failed to patch status")
			retErr = errors.Join(retErr, err)
		}
		r.Metrics.Observe(rw)
	}()

	return r.reconcileWithdrawal(ctx, rw, base)
}

// finalize lets executors that hold something release it, then lets the
// object go. What was done to the cluster stays done: deleting a withdrawal
// stops managing it, it does not cancel it (use spec.cancel for that).
func (r *RegionWithdrawalReconciler) finalize(ctx context.Context, rw *v1.RegionWithdrawal) error {
	if !controllerutil.ContainsFinalizer(rw, Finalizer) {
		return nil
	}
	for _, step := range v1.AllSteps {
		e, err := r.Executors.For(step)
		if err != nil {
			continue
		}
		if f, ok := e.(executor.Finalizer); ok {
			if err := f.Finalize(ctx, rw); err != nil {
				return err
			}
		}
	}
	controllerutil.RemoveFinalizer(rw, Finalizer)
	if err := r.Update(ctx, rw); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	r.Metrics.Forget(client.ObjectKeyFromObject(rw))
	return nil
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
		r.MaxConcurrentReconciles = 16
	}
	if r.MaxRetryDelay <= 0 {
		r.MaxRetryDelay = DefaultMaxRetryDelay
	}
	b := ctrl.NewControllerManagedBy(mgr).
		// Our own status patches do not bump the generation, so they do not
		// wake the controller: while nothing is due it does not reconcile.
		For(&v1.RegionWithdrawal{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.MaxConcurrentReconciles,
			// Per withdrawal only, without the default's shared token
			// bucket: retries of one withdrawal never delay another's.
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](50*time.Millisecond, r.MaxRetryDelay),
		}).
		Named("regionwithdrawal")
	for _, step := range v1.AllSteps {
		w, ok := r.Executors[step].(executor.Watcher)
		if !ok {
			continue
		}
		for _, watch := range w.Watches() {
			if watch.Map == nil {
				b = b.Owns(watch.Object)
			} else {
				b = b.Watches(watch.Object, handler.EnqueueRequestsFromMapFunc(watch.Map))
			}
		}
	}
	return b.Complete(r)
}

// event records an Event about rw. Notes never carry secrets: they are
// built from names, counts and times only.
func (r *RegionWithdrawalReconciler) event(rw *v1.RegionWithdrawal, warning bool, reason, action, note string, args ...any) {
	t := corev1.EventTypeNormal
	if warning {
		t = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(rw, nil, t, reason, action, note, args...)
}
