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

// Package routing stops routing a region's traffic at the cutoff: each
// selected Ingress and Gateway API HTTPRoute is snapshotted, then pointed at
// the HTTP 451 notice backend (mode Block451) or stripped of its rules (mode
// Remove). Cancel puts every spec back exactly as the snapshot holds it.
package routing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
)

// The operator itself only watches what it routes; the withdrawal's
// ServiceAccount makes every change (config/rbac/tenant_role.yaml).
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes,verbs=get;list;watch
// The withdrawal's ReferenceGrant is read uncached (it is unstructured),
// after a SubjectAccessReview for the withdrawal's ServiceAccount, and
// written by impersonating it.
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=referencegrants,verbs=get
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch

const (
	// AnnotationSnapshot marks a route this operator switched and names the
	// ConfigMap holding its original. It is written in the same update as
	// the switch, so a route is never modified without it.
	AnnotationSnapshot = "withdrawal.ops.dev/routing-snapshot"
	// AnnotationSwitchedAt is, on a switched route, when the operator sent
	// the switch (RFC 3339 with nanoseconds, its clock), written in the
	// same update: status and the fleet view read the cut to the
	// millisecond from it, the same however often the step is replayed.
	AnnotationSwitchedAt = "withdrawal.ops.dev/switched-at"
	// executor.LabelRecord says what a record ConfigMap holds.
	// AnnotationRoute names, on a snapshot, the route it holds.
	AnnotationRoute = "withdrawal.ops.dev/route"
	// RecordRoute is the executor.LabelRecord value of a route snapshot.
	RecordRoute = "route"
	// snapshotKey is the ConfigMap key of the snapshot's JSON.
	snapshotKey = "object.json"

	// DefaultNoticeBackendImage runs the operator binary's notice-backend
	// subcommand.
	DefaultNoticeBackendImage = "ghcr.io/ops-dev/region-withdrawal-operator:v0.1.0"
	// defaultWorkers is how many routes are switched at once. At the
	// cutoff every route is due in the same second.
	defaultWorkers = 32
	// retrySoon is how soon a route that lost a race is tried again.
	retrySoon = 200 * time.Millisecond
	maxListed = 20
)

// Executor switches and restores a withdrawal's routes.
type Executor struct {
	// Client reads through the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads the snapshot ConfigMaps. Defaults to Client.
	APIReader client.Reader
	// Targets resolves the routes a withdrawal selects.
	Targets *targets.Resolver
	// NoticeBackendImage is the image of the notice backend the step
	// deploys; it must contain the operator binary. Defaults to
	// DefaultNoticeBackendImage.
	NoticeBackendImage string
	// Workers is how many routes are switched at once; default 32.
	Workers int
	// ClusterDomain is the cluster's DNS domain, under which an
	// ExternalName Service names the notice backend; DefaultClusterDomain
	// when empty.
	ClusterDomain string
	// Clock stamps each switch (AnnotationSwitchedAt); the real clock when
	// nil.
	Clock clock.PassiveClock

	// snapshotted remembers, by snapshot name, the route resourceVersion
	// each snapshot this process wrote or checked holds, so that a switch
	// after the preparation writes only the route. A new process checks
	// the snapshot again.
	snapshotted sync.Map
}

var _ executor.Executor = (*Executor)(nil)

// New returns a routing executor.
func New(c client.Client, apiReader client.Reader, resolver *targets.Resolver, noticeBackendImage string) *Executor {
	return &Executor{Client: c, APIReader: apiReader, Targets: resolver, NoticeBackendImage: noticeBackendImage}
}

// DefaultClusterDomain is the DNS domain of most clusters' Services.
const DefaultClusterDomain = "cluster.local"

func (e *Executor) clusterDomain() string {
	if e.ClusterDomain == "" {
		return DefaultClusterDomain
	}
	return e.ClusterDomain
}

func (e *Executor) apiReader() client.Reader {
	if e.APIReader != nil {
		return e.APIReader
	}
	return e.Client
}

// Execute switches the routes (ActionStart) or restores them (ActionRevert).
func (e *Executor) Execute(ctx context.Context, rw *v1.RegionWithdrawal, a planner.Action) (executor.Result, error) {
	return executor.Dispatch(ctx, rw, a, v1.StepRouting, executor.Actions{Start: e.cut, Revert: e.restore})
}

// Preview is what the routing step would do with the selection. The real
// run, the rehearsal and `kubectl withdrawal plan` all show it.
func Preview(rw *v1.RegionWithdrawal, set *targets.Set) executor.Preview {
	how := "point them at the HTTP 451 notice backend"
	if rw.Spec.Routing.Mode == v1.RoutingRemove {
		how = "remove their rules"
	}
	p := executor.Preview{
		Objects: set.Routes(),
		Summary: fmt.Sprintf("snapshot %d Ingresses and %d HTTPRoutes, then %s", len(set.Ingresses), len(set.HTTPRoutes), how),
	}
	if set.HTTPRoutesUnavailable {
		p.Note = "the HTTPRoute API (Gateway API) is not installed, so only Ingresses are handled"
	}
	return p
}

// SnapshotName is the ConfigMap that holds a route's original: derived from
// the withdrawal and the route, so that every attempt finds the first one's
// snapshot instead of taking another of an already switched route.
func SnapshotName(rw *v1.RegionWithdrawal, ref v1.ObjectReference) string {
	sum := sha256.Sum256([]byte(string(rw.UID) + "/" + ref.Kind + "/" + ref.Namespace + "/" + ref.Name))
	return "rwo-route-" + hex.EncodeToString(sum[:])[:20]
}

// snapshot is what a route snapshot holds.
type snapshot struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Namespace  string            `json:"namespace"`
	Name       string            `json:"name"`
	Labels     map[string]string `json:"labels,omitempty"`
	// Annotations are kept for the record; restore puts back the spec and
	// removes only the operator's own annotation.
	Annotations map[string]string `json:"annotations,omitempty"`
	Spec        map[string]any    `json:"spec"`
	// ResourceVersion is the route's when the snapshot was taken: a
	// snapshot taken ahead of the switch holds the route as switched only
	// while the route still has it.
	ResourceVersion string `json:"resourceVersion,omitempty"`
}

func gvkOf(kind string) (string, string) {
	if kind == targets.KindHTTPRoute {
		return targets.HTTPRouteGVK.GroupVersion().String(), targets.KindHTTPRoute
	}
	return networkingv1.SchemeGroupVersion.String(), targets.KindIngress
}

// get reads a route as unstructured. Ingresses are read typed, through the
// same informer the resolver uses, and converted, so that the cache does
// not hold every Ingress twice.
func (e *Executor) get(ctx context.Context, ref v1.ObjectReference) (*unstructured.Unstructured, error) {
	return e.getFrom(ctx, e.Client, ref)
}

func (e *Executor) getFrom(ctx context.Context, r client.Reader, ref v1.ObjectReference) (*unstructured.Unstructured, error) {
	key := client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}
	u := &unstructured.Unstructured{}
	apiVersion, kind := gvkOf(ref.Kind)
	if ref.Kind == targets.KindIngress {
		var ing networkingv1.Ingress
		if err := r.Get(ctx, key, &ing); err != nil {
			return nil, err
		}
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&ing)
		if err != nil {
			return nil, err
		}
		u.Object = m
	} else {
		u.SetAPIVersion(apiVersion)
		u.SetKind(kind)
		if err := r.Get(ctx, key, u); err != nil {
			return nil, err
		}
	}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	return u, nil
}

func specOf(u *unstructured.Unstructured) map[string]any {
	spec, _, _ := unstructured.NestedMap(u.Object, "spec")
	if spec == nil {
		spec = map[string]any{}
	}
	return spec
}

// outcome of one route.
type outcome struct {
	ref      v1.ObjectReference
	snapshot string
	done     bool
	retry    bool
	problem  string
	// switchedAt is when the route was switched, if known.
	switchedAt time.Time
}

// cut switches every selected route; it is done when all are switched.
func (e *Executor) cut(ctx context.Context, rw *v1.RegionWithdrawal) (executor.Result, error) {
	spec := rw.Spec.Routing
	if spec == nil {
		return executor.Result{Done: true, Failed: true, Message: "spec.routing is not set"}, nil
	}
	mode := spec.Mode
	if mode == "" {
		mode = v1.RoutingBlock451
	}
	set, err := e.Targets.Resolve(ctx, rw)
	if err != nil {
		return executor.Result{}, fmt.Errorf("resolving the routes: %w", err)
	}
	routes := set.Routes()
	st := &v1.RoutingStatus{Routes: int32(len(routes)), HTTPRoutesUnavailable: set.HTTPRoutesUnavailable}

	var backends noticeBackends
	if mode == v1.RoutingBlock451 {
		var where string
		backends, where, err = e.ensureNoticeBackends(ctx, rw, routes)
		if err != nil {
			return executor.Result{}, err
		}
		st.NoticeBackend = where
	}

	outcomes := e.each(routes, func(ref v1.ObjectReference) outcome {
		return e.switchOne(ctx, rw, ref, mode, backends.For(ref))
	})
	retry := false
	var last time.Time
	for _, o := range outcomes {
		if o.switchedAt.After(last) {
			last = o.switchedAt
		}
		if o.done {
			st.Switched++
			if len(st.Snapshots) < maxListed {
				st.Snapshots = append(st.Snapshots, o.snapshot)
			}
		}
		retry = retry || o.retry
		if o.problem != "" && len(st.Problems) < 10 {
			st.Problems = append(st.Problems, o.problem)
		}
	}
	if !last.IsZero() {
		st.SwitchedAt = &metav1.MicroTime{Time: last}
	}
	how := "now point at the notice backend " + st.NoticeBackend + " (HTTP 451)"
	if mode == v1.RoutingRemove {
		how = "have had their rules removed"
	}
	msg := fmt.Sprintf("%d/%d routes (%d Ingresses, %d HTTPRoutes) %s; snapshots in ConfigMaps of %s", st.Switched, st.Routes, len(set.Ingresses), len(set.HTTPRoutes), how, rw.Namespace)
	if set.HTTPRoutesUnavailable {
		msg += "; the HTTPRoute API (Gateway API) is not installed, so only Ingresses were handled"
	}
	if backends.note != "" {
		msg += "; " + backends.note
	}
	res := executor.Result{
		Detail:   executor.Detail{Routing: st},
		Progress: &v1.Progress{Done: int64(st.Switched), Total: int64(st.Routes)},
		Plan:     Preview(rw, set).Plan(),
	}
	switch {
	case int(st.Switched) == len(routes):
		res.Done, res.Message = true, msg
	case retry:
		res.Message, res.RequeueAfter = msg+"; retrying the rest", retrySoon
	default:
		res.Message, res.RequeueAfter = msg+"; problems: "+strings.Join(st.Problems, "; "), 5*time.Second
	}
	return res, nil
}

func (e *Executor) workers() int {
	if e.Workers <= 0 {
		return defaultWorkers
	}
	return e.Workers
}

// each runs fn on every route with a bounded number of workers, keeping order.
func (e *Executor) each(refs []v1.ObjectReference, fn func(v1.ObjectReference) outcome) []outcome {
	out := make([]outcome, len(refs))
	e.parallel(len(refs), func(i int) { out[i] = fn(refs[i]) })
	return out
}

// parallel runs fn(0) to fn(n-1) on up to Workers goroutines.
func (e *Executor) parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(e.workers(), n) {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// switchOne snapshots one route, unless it was snapshotted before, and
// switches it. The order makes a crash at any point harmless: a snapshot
// without a switch is found (AlreadyExists) and kept; a switch always
// carries the annotation naming its snapshot; a route carrying the
// annotation is never snapshotted again, so no snapshot ever holds a
// switched spec.
func (e *Executor) switchOne(ctx context.Context, rw *v1.RegionWithdrawal, ref v1.ObjectReference, mode v1.RoutingMode, b Backend) outcome {
	// A route changed since it was read (an ingress controller writing its
	// status) is read again from the API server and switched at once: at
	// the cutoff a retry on the next reconcile would cost the most.
	var o outcome
	for attempt, r := 0, client.Reader(e.Client); attempt < 3; attempt, r = attempt+1, e.apiReader() {
		if o = e.switchFrom(ctx, r, rw, ref, mode, b); !o.retry {
			break
		}
	}
	return o
}

func (e *Executor) switchFrom(ctx context.Context, r client.Reader, rw *v1.RegionWithdrawal, ref v1.ObjectReference, mode v1.RoutingMode, b Backend) outcome {
	o := outcome{ref: ref, snapshot: SnapshotName(rw, ref)}
	fail := func(what string, err error) outcome {
		if apierrors.IsConflict(err) {
			o.retry = true
		}
		o.problem = fmt.Sprintf("%s %s/%s: %s: %v", ref.Kind, ref.Namespace, ref.Name, what, err)
		return o
	}
	u, err := e.getFrom(ctx, r, ref)
	if apierrors.IsNotFound(err) {
		// Deleted since it was listed: it routes nothing.
		o.done = true
		return o
	}
	if err != nil {
		return fail("reading", err)
	}
	ann := u.GetAnnotations()
	if ann[AnnotationSnapshot] != o.snapshot {
		if err := e.ensureSnapshot(ctx, rw, ref, u, o.snapshot); err != nil {
			return fail("taking the snapshot", err)
		}
	}
	spec := specOf(u)
	before := runtime.DeepCopyJSON(spec)
	Switch(ref.Kind, spec, mode, b)
	if ann[AnnotationSnapshot] == o.snapshot && equality.Semantic.DeepEqual(before, spec) {
		o.done = true
		o.switchedAt = e.switchedAt(rw, ann[AnnotationSwitchedAt])
		return o
	}
	if ann == nil {
		ann = map[string]string{}
	}
	at := e.now()
	ann[AnnotationSnapshot] = o.snapshot
	ann[AnnotationSwitchedAt] = at.UTC().Format(time.RFC3339Nano)
	u.SetAnnotations(ann)
	if err := unstructured.SetNestedMap(u.Object, spec, "spec"); err != nil {
		return fail("switching", err)
	}
	// The update carries the resourceVersion read: a route changed since
	// is read again rather than overwritten.
	if err := e.Client.Update(ctx, u); err != nil {
		return fail("switching", err)
	}
	o.done, o.switchedAt = true, at
	return o
}

// switchedAt reads a switched route's AnnotationSwitchedAt. A route is the
// tenant's to write, so the time is taken only within what the operator
// knows of the switch: not before the routing step started (to the second
// its status keeps), not after now. Zero otherwise.
func (e *Executor) switchedAt(rw *v1.RegionWithdrawal, value string) time.Time {
	at, err := time.Parse(time.RFC3339Nano, value)
	if err != nil || at.After(e.now()) {
		return time.Time{}
	}
	for _, s := range rw.Status.Steps {
		if s.Name == v1.StepRouting && s.StartedAt != nil && at.Before(s.StartedAt.Time.Truncate(time.Second)) {
			return time.Time{}
		}
	}
	return at
}

func (e *Executor) now() time.Time {
	if e.Clock == nil {
		return clock.RealClock{}.Now()
	}
	return e.Clock.Now()
}

// ensureSnapshot makes sure the snapshot ConfigMap name holds the route as
// it is now, before its switch. One taken ahead of the switch (Prepare) is
// kept while the route's resourceVersion is the one it holds; when the
// route has changed since, the snapshot is taken again from the route as
// the API server has it. The switch that follows carries the resourceVersion
// of what it read, so the route switched is the route snapshotted.
func (e *Executor) ensureSnapshot(ctx context.Context, rw *v1.RegionWithdrawal, ref v1.ObjectReference, u *unstructured.Unstructured, name string) error {
	if held, ok := e.snapshotted.Load(name); ok && held == u.GetResourceVersion() {
		return nil
	}
	cm, err := snapshotOf(ctx, rw, ref, u, name)
	if err != nil {
		return err
	}
	err = e.Client.Create(ctx, cm)
	switch {
	case err == nil:
		e.snapshotted.Store(name, u.GetResourceVersion())
		return nil
	case apierrors.IsAlreadyExists(err):
		return e.refreshSnapshot(ctx, rw, ref, name)
	}
	return err
}

// refreshSnapshot brings an existing snapshot up to date with the route as
// the API server has it now, never with a cached copy: another replica, or
// a cache behind the API server, may hold an older version of the route
// than the snapshot does. A route that already carries the snapshot's
// annotation is switched, and its snapshot is the original: it is kept.
func (e *Executor) refreshSnapshot(ctx context.Context, rw *v1.RegionWithdrawal, ref v1.ObjectReference, name string) error {
	live, err := e.getFrom(ctx, e.apiReader(), ref)
	if err != nil {
		return err
	}
	if live.GetAnnotations()[AnnotationSnapshot] == name {
		return nil
	}
	var cm corev1.ConfigMap
	if err := e.apiReader().Get(ctx, client.ObjectKey{Namespace: rw.Namespace, Name: name}, &cm); err != nil {
		return err
	}
	var held snapshot
	if err := json.Unmarshal([]byte(cm.Data[snapshotKey]), &held); err != nil || held.ResourceVersion != live.GetResourceVersion() {
		want, err := snapshotOf(ctx, rw, ref, live, name)
		if err != nil {
			return err
		}
		cm.Data = want.Data
		if err := e.Client.Update(ctx, &cm); err != nil {
			return err
		}
	}
	e.snapshotted.Store(name, live.GetResourceVersion())
	return nil
}

// snapshotOf is the snapshot ConfigMap of route u.
func snapshotOf(ctx context.Context, rw *v1.RegionWithdrawal, ref v1.ObjectReference, u *unstructured.Unstructured, name string) (*corev1.ConfigMap, error) {
	ann := u.GetAnnotations()
	delete(ann, AnnotationSnapshot)
	delete(ann, AnnotationSwitchedAt)
	snap := snapshot{APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Namespace: ref.Namespace, Name: ref.Name,
		Labels: u.GetLabels(), Annotations: ann, Spec: specOf(u), ResourceVersion: u.GetResourceVersion()}
	raw, err := json.Marshal(snap)
	if err != nil {
		return nil, err
	}
	meta := executor.RecordMeta(ctx, rw, name, RecordRoute)
	meta.Annotations[AnnotationRoute] = ref.Kind + " " + ref.Namespace + "/" + ref.Name
	return &corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{snapshotKey: string(raw)}}, nil
}

// restore puts every snapshotted route's spec back. It goes by the
// snapshots, not the selector, so routes that no longer match are restored
// too.
func (e *Executor) restore(ctx context.Context, rw *v1.RegionWithdrawal) (executor.Result, error) {
	var list corev1.ConfigMapList
	if err := e.apiReader().List(ctx, &list, client.InNamespace(rw.Namespace),
		client.MatchingLabels{executor.LabelWithdrawalUID: string(rw.UID), executor.LabelRecord: RecordRoute}); err != nil {
		return executor.Result{}, fmt.Errorf("listing route snapshots: %w", err)
	}
	st := &v1.RoutingStatus{Routes: int32(len(list.Items))}
	if prev := planner.LookupStep(&rw.Status, v1.StepRouting).Routing; prev != nil {
		st.NoticeBackend, st.HTTPRoutesUnavailable = prev.NoticeBackend, prev.HTTPRoutesUnavailable
	}
	var problems []string
	retry := false
	for i := range list.Items {
		cm := &list.Items[i]
		restored, err := e.restoreOne(ctx, cm)
		switch {
		case err == nil:
			if restored {
				st.Restored++
			}
		case apierrors.IsConflict(err):
			retry = true
		case errors.Is(err, errGone):
			problems = append(problems, err.Error())
		case meta.IsNoMatchError(err):
			problems = append(problems, fmt.Sprintf("%s: the route's API is not installed any more", cm.Annotations[AnnotationRoute]))
		default:
			return executor.Result{}, fmt.Errorf("restoring from %s: %w", cm.Name, err)
		}
	}
	st.Problems = problems[:min(len(problems), 10)]
	msg := fmt.Sprintf("restored %d routes from %d snapshots", st.Restored, len(list.Items))
	if retry {
		return executor.Result{Message: msg + "; some changed meanwhile, retrying", RequeueAfter: retrySoon, Detail: executor.Detail{Routing: st}}, nil
	}
	res := executor.Result{Done: true, Message: msg, Detail: executor.Detail{Routing: st}}
	if len(problems) > 0 {
		res.Message += "; could not restore: " + strings.Join(st.Problems, "; ")
		res.Irreversible = []string{fmt.Sprintf("routing: %d routes could not be restored (see status.steps[routing].routing.problems)", len(problems))}
	}
	return res, nil
}

var errGone = errors.New("deleted since the snapshot; not recreated")

// restoreOne restores one route. It reports false, without error, for a
// route that does not carry its snapshot's annotation: it was restored
// already, or the process died after the snapshot and before the switch,
// and either way its spec is the original.
func (e *Executor) restoreOne(ctx context.Context, cm *corev1.ConfigMap) (bool, error) {
	var snap snapshot
	if err := json.Unmarshal([]byte(cm.Data[snapshotKey]), &snap); err != nil {
		return false, fmt.Errorf("decoding the snapshot %s: %w", cm.Name, err)
	}
	ref := v1.ObjectReference{Kind: snap.Kind, Namespace: snap.Namespace, Name: snap.Name}
	u, err := e.get(ctx, ref)
	if apierrors.IsNotFound(err) {
		return false, fmt.Errorf("%s %s/%s: %w", ref.Kind, ref.Namespace, ref.Name, errGone)
	}
	if err != nil {
		return false, err
	}
	ann := u.GetAnnotations()
	if ann[AnnotationSnapshot] != cm.Name {
		return false, nil
	}
	// Spec and the removal of the markers in one update: a crash after it
	// leaves a route that is not restored twice.
	delete(ann, AnnotationSnapshot)
	delete(ann, AnnotationSwitchedAt)
	u.SetAnnotations(ann)
	if snap.Spec == nil {
		snap.Spec = map[string]any{}
	}
	if err := unstructured.SetNestedMap(u.Object, snap.Spec, "spec"); err != nil {
		return false, err
	}
	if err := e.Client.Update(ctx, u); err != nil {
		return false, err
	}
	return true, nil
}

var _ executor.Finalizer = (*Executor)(nil)

// Finalize runs when the withdrawal is deleted. Once its changes are
// settled (completed, or cancelled and restored) the route snapshots go;
// until then they stay, so that `kubectl withdrawal restore` can still put
// the routes back after the withdrawal is gone. A cancelled withdrawal's
// routes are put back first if any still carries its snapshot's name: a
// switch its status never recorded (see SelfRecording) must not lose its
// original with the snapshot.
func (e *Executor) Finalize(ctx context.Context, rw *v1.RegionWithdrawal) error {
	if !executor.NothingToRestore(rw) {
		return nil
	}
	if rw.Status.Phase == v1.PhaseCancelled {
		if err := e.putBackUnrecorded(ctx, rw); err != nil {
			return err
		}
	}
	return executor.DeleteRecords(ctx, e.apiReader(), e.Client, rw.Namespace, rw.UID, RecordRoute)
}
