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
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"weak"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
)

const (
	// noticePort is the port the notice backend listens on in its pod.
	noticePort = 8080
	// LabelNoticeFor marks the notice backend objects of a withdrawal.
	LabelNoticeFor = "withdrawal.ops.dev/notice-for"
)

// NoticeBackendName is the name of the Deployment and Service the step
// deploys: a DNS label, as a Service name must be.
func NoticeBackendName(rw *v1.RegionWithdrawal) string {
	n := "rwo-notice-" + rw.Name
	if len(n) <= 63 && !strings.Contains(n, ".") {
		return n
	}
	sum := sha256.Sum256([]byte(rw.Namespace + "/" + rw.Name))
	return "rwo-notice-" + hex.EncodeToString(sum[:])[:16]
}

// NoticeBackendArgs are the container arguments of the notice backend.
func NoticeBackendArgs(rw *v1.RegionWithdrawal) []string {
	args := []string{"notice-backend", fmt.Sprintf("--listen=:%d", noticePort), "--region=" + rw.Spec.Region,
		"--cutoff=" + rw.Spec.Cutoff.UTC().Format(time.RFC3339)}
	if nb := rw.Spec.Routing.NoticeBackend; nb != nil {
		if nb.BlockedBy != "" {
			args = append(args, "--blocked-by="+nb.BlockedBy)
		}
		if nb.Message != "" {
			args = append(args, "--message="+nb.Message)
		}
	}
	return args
}

// noticeBackends says which notice backend each route is pointed at.
type noticeBackends struct {
	// home is the backend in the withdrawal's namespace, homeNamespace.
	home          Backend
	homeNamespace string
	// external holds, per other namespace, the ExternalName Service its
	// routes are pointed at: every Ingress there, and every HTTPRoute
	// there when the ReferenceGrant API is not installed.
	external map[string]Backend
	// granted: HTTPRoutes of other namespaces name home across namespaces,
	// as the withdrawal's ReferenceGrant allows them to.
	granted bool
	// note, when set, says why HTTPRoutes of other namespaces go through
	// ExternalName Services, for the step's message.
	note string
}

// For is the backend the route ref is pointed at.
func (n noticeBackends) For(ref v1.ObjectReference) Backend {
	switch {
	case ref.Namespace == n.homeNamespace:
		return n.home
	case ref.Kind == targets.KindHTTPRoute && n.granted:
		b := n.home
		b.Namespace = n.homeNamespace
		return b
	default:
		return n.external[ref.Namespace]
	}
}

// ensureNoticeBackends makes sure every route can reach a notice backend,
// and returns which one each route is pointed at plus a description for
// status. The step's own backend (or the one the user names) lives in the
// withdrawal's namespace. An HTTPRoute of another namespace names it there,
// under a ReferenceGrant the step writes in the withdrawal's namespace
// (the Gateway API's way; implementations need not follow an ExternalName
// Service, and Traefik does not unless told to). An Ingress can only name
// a Service of its own namespace, so other namespaces' Ingresses (and
// HTTPRoutes, where the ReferenceGrant API is not installed) get an
// ExternalName Service there that points at it, by its name under the
// cluster's DNS domain.
//
// The switch does not wait for the backend's pods to be ready: the cutoff
// is a legal deadline, and a few seconds of 503 from an unready backend are
// better than serving the region after it.
func (e *Executor) ensureNoticeBackends(ctx context.Context, rw *v1.RegionWithdrawal, routes []v1.ObjectReference) (noticeBackends, string, error) {
	var home Backend
	if nb := rw.Spec.Routing.NoticeBackend; nb != nil && nb.Service != nil {
		home = Backend{Name: nb.Service.Name, Port: nb.Service.Port}
		if home.Port == 0 {
			home.Port = 80
		}
	} else {
		home = Backend{Name: NoticeBackendName(rw), Port: 80}
		if err := e.deployNoticeBackend(ctx, rw, home); err != nil {
			return noticeBackends{}, "", err
		}
	}
	out := noticeBackends{home: home, homeNamespace: rw.Namespace, external: map[string]Backend{}}
	where := fmt.Sprintf("%s/%s:%d", rw.Namespace, home.Name, home.Port)
	var routeNamespaces []string
	for _, r := range routes {
		if r.Namespace != rw.Namespace && r.Kind == targets.KindHTTPRoute && !slices.Contains(routeNamespaces, r.Namespace) {
			routeNamespaces = append(routeNamespaces, r.Namespace)
		}
	}
	if len(routeNamespaces) > 0 {
		granted, err := e.grantRoutes(ctx, rw, home, routeNamespaces)
		if err != nil {
			return noticeBackends{}, "", err
		}
		out.granted = granted
		if !granted {
			out.note = "the ReferenceGrant API (Gateway API) is not installed, so HTTPRoutes of other namespaces reach the notice backend through ExternalName Services"
		}
	}
	var namespaces []string
	for _, r := range routes {
		if r.Namespace != rw.Namespace && out.For(r) == (Backend{}) && !slices.Contains(namespaces, r.Namespace) {
			namespaces = append(namespaces, r.Namespace)
		}
	}
	// One Service per namespace, created in parallel: at the cutoff each
	// sequential write would delay every route.
	errs := make([]error, len(namespaces))
	var wg sync.WaitGroup
	sem := make(chan struct{}, e.workers())
	for i, ns := range namespaces {
		out.external[ns] = Backend{Name: NoticeBackendName(rw), Port: home.Port}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = e.externalName(ctx, rw, ns, home)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return noticeBackends{}, "", err
	}
	return out, where, nil
}

// externalName points a Service in ns at the notice backend in the
// withdrawal's namespace.
func (e *Executor) externalName(ctx context.Context, rw *v1.RegionWithdrawal, ns string, home Backend) error {
	b := Backend{Name: NoticeBackendName(rw), Port: home.Port}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: b.Name, Namespace: ns, Labels: map[string]string{LabelNoticeFor: string(rw.UID)}},
		Spec: corev1.ServiceSpec{
			Type:         corev1.ServiceTypeExternalName,
			ExternalName: fmt.Sprintf("%s.%s.svc.%s", home.Name, rw.Namespace, e.clusterDomain()),
			Ports:        []corev1.ServicePort{{Name: "http", Port: home.Port}},
		},
	}
	return e.createOrAdopt(ctx, svc, rw)
}

// ReferenceGrantGVK is the Gateway API kind that lets routes of other
// namespaces name a Service: v1beta1, which every release of the standard
// channel since v0.6 serves.
var ReferenceGrantGVK = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1beta1", Kind: "ReferenceGrant"}

// grantRoutes makes sure the withdrawal's ReferenceGrant, in its own
// namespace and named as its notice backend, lets the HTTPRoutes of every
// namespace in namespaces name the backend Service home, and that one only.
// It only ever adds namespaces: a route switched earlier keeps its grant.
// It reports false, and writes nothing, when the ReferenceGrant API is not
// installed. The grant belongs to the withdrawal, and goes with it.
func (e *Executor) grantRoutes(ctx context.Context, rw *v1.RegionWithdrawal, home Backend, namespaces []string) (bool, error) {
	key := client.ObjectKey{Namespace: rw.Namespace, Name: NoticeBackendName(rw)}
	existing := &unstructured.Unstructured{}
	existing.SetGroupVersionKind(ReferenceGrantGVK)
	err := e.Client.Get(ctx, key, existing)
	switch {
	case meta.IsNoMatchError(err):
		return false, nil
	case apierrors.IsNotFound(err):
		existing = nil
	case err != nil:
		return false, fmt.Errorf("reading ReferenceGrant %s: %w", key, err)
	case existing.GetLabels()[LabelNoticeFor] != string(rw.UID):
		return false, fmt.Errorf("ReferenceGrant %s exists and was not made by this withdrawal; rename it or name a notice backend in spec.routing.noticeBackend.service", key)
	}
	from := map[string]bool{}
	if existing != nil {
		have, _, _ := unstructured.NestedSlice(existing.Object, "spec", "from")
		for _, f := range have {
			if m, ok := f.(map[string]any); ok {
				if ns, _ := m["namespace"].(string); ns != "" {
					from[ns] = true
				}
			}
		}
	}
	grown := false
	for _, ns := range namespaces {
		if !from[ns] {
			from[ns], grown = true, true
		}
	}
	if existing != nil && !grown {
		return true, nil
	}
	var fromList []any
	for _, ns := range slices.Sorted(maps.Keys(from)) {
		fromList = append(fromList, map[string]any{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": ns})
	}
	grant := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{
			"from": fromList,
			"to":   []any{map[string]any{"group": "", "kind": "Service", "name": home.Name}},
		},
	}}
	grant.SetGroupVersionKind(ReferenceGrantGVK)
	grant.SetNamespace(key.Namespace)
	grant.SetName(key.Name)
	grant.SetLabels(map[string]string{LabelNoticeFor: string(rw.UID)})
	grant.SetOwnerReferences([]metav1.OwnerReference{executor.OwnerReference(rw)})
	if existing == nil {
		err = e.Client.Create(ctx, grant)
	} else {
		// resourceVersion makes the write conditional: a grant changed
		// meanwhile is read again on the next attempt.
		grant.SetResourceVersion(existing.GetResourceVersion())
		err = e.Client.Update(ctx, grant)
	}
	if err != nil {
		return false, fmt.Errorf("writing ReferenceGrant %s: %w", key, err)
	}
	return true, nil
}

// createOrAdopt makes sure obj exists; an existing object is fine if it is
// ours (the preparation or an earlier attempt made it) and an error if it
// belongs to someone else, whose Service the routes must not be pointed
// at. It reads first, from the cache: once the step was prepared, the
// switch at the cutoff writes nothing here.
func (e *Executor) createOrAdopt(ctx context.Context, obj client.Object, rw *v1.RegionWithdrawal) error {
	existing := obj.DeepCopyObject().(client.Object)
	err := e.Client.Get(ctx, client.ObjectKeyFromObject(obj), existing)
	if apierrors.IsNotFound(err) {
		err = e.Client.Create(ctx, obj)
		if err == nil {
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %T %s/%s: %w", obj, obj.GetNamespace(), obj.GetName(), err)
		}
		// Made meanwhile, and not in the cache yet.
		err = e.apiReader().Get(ctx, client.ObjectKeyFromObject(obj), existing)
	}
	if err != nil {
		return fmt.Errorf("reading %T %s/%s: %w", obj, obj.GetNamespace(), obj.GetName(), err)
	}
	if existing.GetLabels()[LabelNoticeFor] != string(rw.UID) {
		return fmt.Errorf("%T %s/%s exists and was not made by this withdrawal; rename it or name a notice backend in spec.routing.noticeBackend.service", obj, obj.GetNamespace(), obj.GetName())
	}
	return nil
}

// NoticeBackendOptions are the installation's settings for the notice
// backends the step deploys (the chart's noticeBackend values, passed as
// the operator's --notice-backend-* flags). The zero value is the backend
// as it always was: two replicas, small requests, no budget.
type NoticeBackendOptions struct {
	// Replicas of each backend; DefaultNoticeBackendReplicas when 0. Never
	// fewer than one: a backend at zero answers nobody.
	Replicas int32
	// MinAvailable or MaxUnavailable, at most one of them, gives each
	// backend a PodDisruptionBudget; neither, none.
	MinAvailable, MaxUnavailable *intstr.IntOrString
	// PriorityClassName of the backend's pods.
	PriorityClassName string
	// NodeSelector of the backend's pods.
	NodeSelector map[string]string
	// Tolerations of the backend's pods.
	Tolerations []corev1.Toleration
	// Resources of the backend's container; DefaultNoticeBackendResources
	// when nil.
	Resources *corev1.ResourceRequirements
	// ImagePullSecrets of the backend's pods: Secrets of the withdrawal's
	// namespace, where the backend runs.
	ImagePullSecrets []corev1.LocalObjectReference
	// PodSecurityContext of the backend's pods; the restricted one
	// (non-root, UID and GID 65532, seccomp RuntimeDefault) when nil. An
	// empty one leaves the UID to the platform (OpenShift's SCCs).
	PodSecurityContext *corev1.PodSecurityContext
}

// DefaultNoticeBackendReplicas is how many pods a notice backend runs
// unless told otherwise: one may be evicted or rescheduled while the other
// answers.
const DefaultNoticeBackendReplicas = 2

// DefaultNoticeBackendResources are the backend container's requests
// unless told otherwise: it answers every request with the same page.
func DefaultNoticeBackendResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}}
}

// Validate reports settings the API server would refuse, or that would
// leave a backend that serves nobody.
func (o NoticeBackendOptions) Validate() error {
	var errs []error
	if o.Replicas < 0 {
		errs = append(errs, fmt.Errorf("replicas %d: a notice backend needs at least one pod", o.Replicas))
	}
	if o.MinAvailable != nil && o.MaxUnavailable != nil {
		errs = append(errs, errors.New("a PodDisruptionBudget takes minAvailable or maxUnavailable, not both"))
	}
	for name, v := range map[string]*intstr.IntOrString{"minAvailable": o.MinAvailable, "maxUnavailable": o.MaxUnavailable} {
		if v == nil {
			continue
		}
		if _, err := intstr.GetScaledValueFromIntOrPercent(v, 100, true); err != nil || (v.Type == intstr.Int && v.IntVal < 0) {
			errs = append(errs, fmt.Errorf("%s %q: want a count or a percentage such as 50%%", name, v.String()))
		}
	}
	return errors.Join(errs...)
}

// noticeBackendOptions holds each Executor's NoticeBackendOptions. It is
// keyed weakly, so an Executor that is gone takes its entry with it.
var noticeBackendOptions sync.Map // weak.Pointer[Executor] -> NoticeBackendOptions

// SetNoticeBackendOptions sets the settings the notice backends this
// Executor deploys are made with, and that it brings the existing ones to
// (see Observe). Call it before the Executor is used.
func (e *Executor) SetNoticeBackendOptions(o NoticeBackendOptions) {
	key := weak.Make(e)
	if _, loaded := noticeBackendOptions.Swap(key, o); !loaded {
		runtime.AddCleanup(e, func(k weak.Pointer[Executor]) { noticeBackendOptions.Delete(k) }, key)
	}
}

// NoticeBackendOptions returns the settings set by SetNoticeBackendOptions.
func (e *Executor) NoticeBackendOptions() NoticeBackendOptions {
	o, _ := noticeBackendOptions.Load(weak.Make(e))
	opts, _ := o.(NoticeBackendOptions)
	return opts
}

const (
	// AnnotationNoticeBackendSpec, on a notice backend's Deployment, is a
	// digest of the Deployment the current settings make. A Deployment
	// whose digest differs is brought up to date; one whose digest matches
	// is left alone, so a scale by hand lasts until the settings change.
	AnnotationNoticeBackendSpec = "withdrawal.ops.dev/notice-backend-spec"
	// AnnotationNoticeBackendBudget, on the same Deployment, is a digest of
	// the PodDisruptionBudget the current settings make ("none" for none),
	// written once the budget is so.
	AnnotationNoticeBackendBudget = "withdrawal.ops.dev/notice-backend-budget"
)

// noticeBackend is what the settings make of a withdrawal's backend.
type noticeBackend struct {
	deployment *appsv1.Deployment
	// budget is nil when the settings ask for none.
	budget               *policyv1.PodDisruptionBudget
	specHash, budgetHash string
}

// noticeBackendStopDelay is how long, in seconds, a notice backend's pod
// goes on answering after it is told to stop.
const noticeBackendStopDelay = 5

func (e *Executor) noticeBackendFor(rw *v1.RegionWithdrawal, b Backend) noticeBackend {
	o := e.NoticeBackendOptions()
	image := e.NoticeBackendImage
	if image == "" {
		image = DefaultNoticeBackendImage
	}
	replicas := o.Replicas
	if replicas <= 0 {
		replicas = DefaultNoticeBackendReplicas
	}
	resources := DefaultNoticeBackendResources()
	if o.Resources != nil {
		resources = *o.Resources.DeepCopy()
	}
	podSecurity := &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To[int64](65532),
		RunAsGroup:     ptr.To[int64](65532),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	if o.PodSecurityContext != nil {
		podSecurity = o.PodSecurityContext.DeepCopy()
	}
	labels := map[string]string{
		"app.kubernetes.io/name":       "notice-backend",
		"app.kubernetes.io/instance":   b.Name,
		"app.kubernetes.io/managed-by": "region-withdrawal-operator",
		LabelNoticeFor:                 string(rw.UID),
	}
	selector := map[string]string{"app.kubernetes.io/name": "notice-backend", "app.kubernetes.io/instance": b.Name}
	owner := []metav1.OwnerReference{executor.OwnerReference(rw)}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: b.Name, Namespace: rw.Namespace, Labels: labels, OwnerReferences: owner},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			// A new pod is Ready before an old one goes: an update of the
			// settings never leaves fewer pods answering than asked for.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxUnavailable: ptr.To(intstr.FromInt32(0)), MaxSurge: ptr.To(intstr.FromInt32(1))}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken: ptr.To(false),
					SecurityContext:              podSecurity,
					PriorityClassName:            o.PriorityClassName,
					NodeSelector:                 o.NodeSelector,
					Tolerations:                  o.Tolerations,
					ImagePullSecrets:             o.ImagePullSecrets,
					Containers: []corev1.Container{{
						Name:           "notice-backend",
						Image:          image,
						Args:           NoticeBackendArgs(rw),
						Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: noticePort}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}},
						LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}},
						// A pod leaving (a rollout, a drain) keeps answering
						// while ingress controllers drop its endpoint; the
						// server stops taking connections at SIGTERM, so without
						// the pause a request routed on stale endpoints fails.
						Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: noticeBackendStopDelay}}},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
						Resources: resources,
					}},
				},
			},
		},
	}
	nb := noticeBackend{deployment: dep, specHash: digest(dep.Labels, dep.Spec), budgetHash: "none"}
	if o.MinAvailable != nil || o.MaxUnavailable != nil {
		nb.budget = &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: b.Name, Namespace: rw.Namespace, Labels: labels, OwnerReferences: owner},
			Spec: policyv1.PodDisruptionBudgetSpec{
				Selector:       &metav1.LabelSelector{MatchLabels: selector},
				MinAvailable:   o.MinAvailable,
				MaxUnavailable: o.MaxUnavailable,
			},
		}
		nb.budgetHash = digest(nb.budget.Labels, nb.budget.Spec)
	}
	return nb
}

// digest is a short digest of what the settings make of an object.
func digest(parts ...any) string {
	b, err := json.Marshal(parts)
	if err != nil {
		panic(fmt.Sprintf("digesting a notice backend: %v", err)) // plain API structs always marshal
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:16]
}

// settingsError is a failure to bring a running backend to the current
// settings: its PodDisruptionBudget, or its Deployment while it still
// serves with the settings it has.
type settingsError struct {
	what string
	err  error
}

func (e *settingsError) Error() string { return e.what + ": " + e.err.Error() }
func (e *settingsError) Unwrap() error { return e.err }

// deployNoticeBackend makes sure the withdrawal's notice backend runs as
// the settings say: its Deployment, its Service, and its
// PodDisruptionBudget. Settings that cannot be applied to a backend that
// runs (a budget the withdrawal's ServiceAccount may not write, an update
// that lost a race) do not hold up the switch, a legal deadline: they are
// logged, and Observe applies them once the switch is done.
func (e *Executor) deployNoticeBackend(ctx context.Context, rw *v1.RegionWithdrawal, b Backend) error {
	nb := e.noticeBackendFor(rw, b)
	err := e.syncNoticeBackend(ctx, rw, nb, true)
	var se *settingsError
	if errors.As(err, &se) {
		log.FromContext(ctx).Error(err, "The notice backend runs, but not quite as its settings say", "deployment", klog.KObj(nb.deployment))
		err = nil
	}
	if err != nil {
		return err
	}
	dep := nb.deployment
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: b.Name, Namespace: rw.Namespace, Labels: dep.Labels, OwnerReferences: dep.OwnerReferences},
		Spec: corev1.ServiceSpec{
			Selector: dep.Spec.Selector.MatchLabels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: b.Port, TargetPort: intstr.FromString("http")}},
		},
	}
	return e.createOrAdopt(ctx, svc, rw)
}

var _ executor.Observer = (*Executor)(nil)

// Observe implements executor.Observer: once the switch has started, it
// brings the withdrawal's notice backend to the installation's current
// settings (replicas, budget, scheduling, resources, image), which change
// when the operator is upgraded or its chart values are. It never creates
// a backend that is gone, and leaves one that was stopped (scaled to zero
// by a cancel) stopped. It changes nothing in status.
func (e *Executor) Observe(ctx context.Context, rw *v1.RegionWithdrawal) (executor.Detail, bool, error) {
	spec := rw.Spec.Routing
	if spec == nil || spec.Mode == v1.RoutingRemove || (spec.NoticeBackend != nil && spec.NoticeBackend.Service != nil) {
		return executor.Detail{}, false, nil
	}
	nb := e.noticeBackendFor(rw, Backend{Name: NoticeBackendName(rw), Port: 80})
	return executor.Detail{}, false, e.syncNoticeBackend(ctx, rw, nb, false)
}

// syncNoticeBackend brings the backend's Deployment and budget to nb. It
// reads the Deployment from the cache, and does nothing more while the
// Deployment's digests match nb's: on every reconcile after the first it
// costs one cached read. create says whether a missing Deployment is
// created (the preparation and the switch) or left missing (Observe);
// without it, a Deployment at zero replicas stays there.
//
// The budget is written before the Deployment records its digest: if the
// process dies between the two, the next call finds the digest stale and
// writes the budget again, which is then a no-op.
func (e *Executor) syncNoticeBackend(ctx context.Context, rw *v1.RegionWithdrawal, nb noticeBackend, create bool) error {
	want := nb.deployment
	var dep appsv1.Deployment
	err := e.Client.Get(ctx, client.ObjectKeyFromObject(want), &dep)
	if apierrors.IsNotFound(err) {
		if !create {
			return nil
		}
		// A new backend: its budget first, so that the Deployment is made
		// with both digests in one write.
		fresh := want.DeepCopy()
		fresh.Annotations = map[string]string{AnnotationNoticeBackendSpec: nb.specHash}
		var budgetErr error
		if nb.budget == nil {
			fresh.Annotations[AnnotationNoticeBackendBudget] = nb.budgetHash
		} else if budgetErr = e.syncNoticeBudget(ctx, rw, nb.budget, want); budgetErr != nil {
			budgetErr = &settingsError{what: "the notice backend's PodDisruptionBudget", err: budgetErr}
		} else {
			fresh.Annotations[AnnotationNoticeBackendBudget] = nb.budgetHash
		}
		err = e.Client.Create(ctx, fresh)
		switch {
		case err == nil:
			return budgetErr
		case apierrors.IsAlreadyExists(err):
			// Made meanwhile, and not in the cache yet.
			err = e.apiReader().Get(ctx, client.ObjectKeyFromObject(want), &dep)
		default:
			return fmt.Errorf("creating Deployment %s/%s: %w", want.Namespace, want.Name, err)
		}
	}
	if err != nil {
		return fmt.Errorf("reading Deployment %s/%s: %w", want.Namespace, want.Name, err)
	}
	if dep.Labels[LabelNoticeFor] != string(rw.UID) {
		return fmt.Errorf("%T %s/%s exists and was not made by this withdrawal; rename it or name a notice backend in spec.routing.noticeBackend.service", want, want.Namespace, want.Name)
	}

	stopped := dep.Spec.Replicas != nil && *dep.Spec.Replicas == 0
	specStale := dep.Annotations[AnnotationNoticeBackendSpec] != nb.specHash || (create && stopped)
	budgetStale := dep.Annotations[AnnotationNoticeBackendBudget] != nb.budgetHash
	var budgetErr error
	if budgetStale {
		if budgetErr = e.syncNoticeBudget(ctx, rw, nb.budget, want); budgetErr != nil {
			budgetErr = &settingsError{what: "the notice backend's PodDisruptionBudget", err: budgetErr}
		}
	}
	if !specStale && (!budgetStale || budgetErr != nil) {
		return budgetErr
	}
	updated := dep.DeepCopy()
	if updated.Annotations == nil {
		updated.Annotations = map[string]string{}
	}
	if specStale {
		maps.Copy(updated.Labels, want.Labels)
		updated.Spec.Replicas = want.Spec.Replicas
		if stopped && !create {
			// Stopped on purpose (a cancel before the switch): an upgrade
			// does not start it again.
			updated.Spec.Replicas = ptr.To[int32](0)
		}
		updated.Spec.Strategy = want.Spec.Strategy
		updated.Spec.Template = want.Spec.Template
		updated.Annotations[AnnotationNoticeBackendSpec] = nb.specHash
	}
	if budgetStale && budgetErr == nil {
		updated.Annotations[AnnotationNoticeBackendBudget] = nb.budgetHash
	}
	if err := e.Client.Update(ctx, updated); err != nil {
		err = fmt.Errorf("updating Deployment %s/%s: %w", want.Namespace, want.Name, err)
		if stopped {
			return err // it serves nobody until this succeeds
		}
		// It serves, with the settings it had.
		return errors.Join(&settingsError{what: "the notice backend's settings", err: err}, budgetErr)
	}
	if specStale {
		log.FromContext(ctx).Info("Brought the notice backend up to date", "deployment", klog.KObj(updated), "replicas", *updated.Spec.Replicas)
	}
	return budgetErr
}

// syncNoticeBudget makes the backend's PodDisruptionBudget want, or
// deletes the one this withdrawal made when want is nil. It reads
// uncached: it runs only when the settings changed, and the operator then
// needs no watch on every budget of the cluster.
func (e *Executor) syncNoticeBudget(ctx context.Context, rw *v1.RegionWithdrawal, want *policyv1.PodDisruptionBudget, dep *appsv1.Deployment) error {
	var cur policyv1.PodDisruptionBudget
	err := e.apiReader().Get(ctx, client.ObjectKeyFromObject(dep), &cur)
	switch {
	case apierrors.IsNotFound(err):
		if want == nil {
			return nil
		}
		if err := e.Client.Create(ctx, want.DeepCopy()); err != nil {
			return fmt.Errorf("creating PodDisruptionBudget %s/%s: %w", dep.Namespace, dep.Name, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("reading PodDisruptionBudget %s/%s: %w", dep.Namespace, dep.Name, err)
	case cur.Labels[LabelNoticeFor] != string(rw.UID):
		return fmt.Errorf("PodDisruptionBudget %s/%s exists and was not made by this withdrawal", dep.Namespace, dep.Name)
	case want == nil:
		err := e.Client.Delete(ctx, &cur, client.Preconditions{UID: &cur.UID})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting PodDisruptionBudget %s/%s: %w", dep.Namespace, dep.Name, err)
		}
		return nil
	}
	if equality.Semantic.DeepEqual(cur.Spec.Selector, want.Spec.Selector) && equality.Semantic.DeepEqual(cur.Spec.MinAvailable, want.Spec.MinAvailable) &&
		equality.Semantic.DeepEqual(cur.Spec.MaxUnavailable, want.Spec.MaxUnavailable) {
		return nil
	}
	cur.Spec.Selector, cur.Spec.MinAvailable, cur.Spec.MaxUnavailable = want.Spec.Selector, want.Spec.MinAvailable, want.Spec.MaxUnavailable
	maps.Copy(cur.Labels, want.Labels)
	if err := e.Client.Update(ctx, &cur); err != nil {
		return fmt.Errorf("updating PodDisruptionBudget %s/%s: %w", dep.Namespace, dep.Name, err)
	}
	return nil
}
