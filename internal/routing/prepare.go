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

package routing

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
)

// PrepareLead is how long before the switch the notice backend is
// deployed: long enough for its pods to be scheduled, pulled and Ready, so
// that clients get 451 from the switch's first second, not 502 or 503.
const PrepareLead = 10 * time.Minute

var (
	_ executor.Preparer      = (*Executor)(nil)
	_ executor.Watcher       = (*Executor)(nil)
	_ executor.SelfRecording = (*Executor)(nil)
)

// Watches implements executor.Watcher: the notice backend's Deployment,
// which the withdrawal owns, wakes it when its pods become Ready, so that
// a prepared step learns it without polling.
func (e *Executor) Watches() []executor.Watch {
	return []executor.Watch{{Object: &appsv1.Deployment{}}}
}

// PrepareLead implements executor.Preparer.
func (e *Executor) PrepareLead() time.Duration { return PrepareLead }

// Prepare readies the switch: it snapshots every selected route as it is
// now (the switch keeps a snapshot while the route's resourceVersion is
// unchanged, and takes it again otherwise), and with mode Block451 deploys
// the notice backend (and the Services that point other namespaces' routes
// at it) and reports ready once one of its pods is. No route is touched:
// clients are served as before.
func (e *Executor) Prepare(ctx context.Context, rw *v1.RegionWithdrawal) (bool, string, error) {
	spec := rw.Spec.Routing
	if spec == nil {
		return true, "", nil
	}
	set, err := e.Targets.Resolve(ctx, rw)
	if err != nil {
		return false, "", fmt.Errorf("resolving the routes: %w", err)
	}
	routes := set.Routes()
	results := make([]error, len(routes))
	e.parallel(len(routes), func(i int) { results[i] = e.snapshotAhead(ctx, rw, routes[i]) })
	var errs []error
	for _, err := range results {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return false, "", fmt.Errorf("snapshotting %d of %d routes ahead: %w", len(errs), len(routes), errs[0])
	}
	snapped := "1 route snapshotted"
	if len(routes) != 1 {
		snapped = fmt.Sprintf("%d routes snapshotted", len(routes))
	}
	if spec.Mode == v1.RoutingRemove || (spec.NoticeBackend != nil && spec.NoticeBackend.Service != nil) {
		return true, snapped, nil
	}
	if _, _, err := e.ensureNoticeBackends(ctx, rw, routes); err != nil {
		return false, "", err
	}
	var dep appsv1.Deployment
	err = e.Client.Get(ctx, client.ObjectKey{Namespace: rw.Namespace, Name: NoticeBackendName(rw)}, &dep)
	switch {
	case apierrors.IsNotFound(err):
		// Created a moment ago; the cache has not seen it yet.
		return false, snapped + "; notice backend deployed, not Ready yet", nil
	case err != nil:
		return false, "", err
	case dep.Status.ReadyReplicas == 0:
		return false, snapped + "; notice backend deployed, not Ready yet", nil
	}
	return true, fmt.Sprintf("%s; notice backend ready (%d pods)", snapped, dep.Status.ReadyReplicas), nil
}

// snapshotAhead snapshots one route before the switch, unless it is gone
// or already switched.
func (e *Executor) snapshotAhead(ctx context.Context, rw *v1.RegionWithdrawal, ref v1.ObjectReference) error {
	u, err := e.get(ctx, ref)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("%s %s/%s: %w", ref.Kind, ref.Namespace, ref.Name, err)
	}
	name := SnapshotName(rw, ref)
	if u.GetAnnotations()[AnnotationSnapshot] == name {
		return nil
	}
	if err := e.ensureSnapshot(ctx, rw, ref, u, name); err != nil {
		return fmt.Errorf("%s %s/%s: %w", ref.Kind, ref.Namespace, ref.Name, err)
	}
	return nil
}

// SelfRecording implements executor.SelfRecording: every route the switch
// changes names its snapshot in the same update (AnnotationSnapshot), so the
// switch needs no status record before it, and Unprepare puts back a switch
// the status never recorded.
func (e *Executor) SelfRecording() bool { return true }

// Unprepare undoes the preparation of a withdrawal cancelled before its
// status recorded the switch. Routes switched all the same (the process died,
// or the cancel came, between the switch and the record of it) are put back
// from their snapshots first. Then the notice backend is stopped: scaled to
// zero (the tenant's role may update Deployments, not delete them; deleting
// the withdrawal removes it with its owner). Nothing points at it, so no
// client notices.
func (e *Executor) Unprepare(ctx context.Context, rw *v1.RegionWithdrawal) error {
	if err := e.putBackUnrecorded(ctx, rw); err != nil {
		return err
	}
	var dep appsv1.Deployment
	err := e.Client.Get(ctx, client.ObjectKey{Namespace: rw.Namespace, Name: NoticeBackendName(rw)}, &dep)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return err
	case dep.Labels[LabelNoticeFor] != string(rw.UID) || (dep.Spec.Replicas != nil && *dep.Spec.Replicas == 0):
		return nil
	}
	dep.Spec.Replicas = ptr.To[int32](0)
	return e.Client.Update(ctx, &dep)
}

// putBackUnrecorded restores every route that carries this withdrawal's
// snapshot annotation, from its snapshot; one that does not was never
// switched (or is back already) and is left alone. A route deleted since is
// not recreated, as in a revert.
func (e *Executor) putBackUnrecorded(ctx context.Context, rw *v1.RegionWithdrawal) error {
	res, err := e.restore(ctx, rw)
	switch {
	case err != nil:
		return err
	case !res.Done:
		return fmt.Errorf("putting back switched routes: %s", res.Message)
	case res.Detail.Routing != nil && res.Detail.Routing.Restored > 0:
		log.FromContext(ctx).Info("Put back routes switched before the cancel was seen", "restored", res.Detail.Routing.Restored)
	}
	return nil
}
