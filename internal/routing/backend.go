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
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
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

// ensureNoticeBackends makes sure a notice backend Service exists for the
// routes of every namespace, and returns it per namespace plus a
// description for status. The step's own backend (or the one the user
// names) lives in the withdrawal's namespace; an Ingress or HTTPRoute can
// only name a Service of its own namespace (HTTPRoute's cross-namespace
// references need a ReferenceGrant the user would have to write), so other
// namespaces get an ExternalName Service that points at it.
//
// The switch does not wait for the backend's pods to be ready: the cutoff
// is a legal deadline, and a few seconds of 503 from an unready backend are
// better than serving the region after it.
func (e *Executor) ensureNoticeBackends(ctx context.Context, rw *v1.RegionWithdrawal, routes []v1.ObjectReference) (map[string]Backend, string, error) {
	var home Backend
	if nb := rw.Spec.Routing.NoticeBackend; nb != nil && nb.Service != nil {
		home = Backend{Name: nb.Service.Name, Port: nb.Service.Port}
		if home.Port == 0 {
			home.Port = 80
		}
	} else {
		home = Backend{Name: NoticeBackendName(rw), Port: 80}
		if err := e.deployNoticeBackend(ctx, rw, home); err != nil {
			return nil, "", err
		}
	}
	out := map[string]Backend{rw.Namespace: home}
	var namespaces []string
	for _, r := range routes {
		if r.Namespace != rw.Namespace && !slices.Contains(namespaces, r.Namespace) {
			namespaces = append(namespaces, r.Namespace)
		}
	}
	// One Service per namespace, created in parallel: at the cutoff each
	// sequential write would delay every route.
	errs := make([]error, len(namespaces))
	var wg sync.WaitGroup
	sem := make(chan struct{}, e.workers())
	for i, ns := range namespaces {
		out[ns] = Backend{Name: NoticeBackendName(rw), Port: home.Port}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = e.externalName(ctx, rw, ns, home)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, "", err
	}
	return out, fmt.Sprintf("%s/%s:%d", rw.Namespace, home.Name, home.Port), nil
}

// externalName points a Service in ns at the notice backend in the
// withdrawal's namespace.
func (e *Executor) externalName(ctx context.Context, rw *v1.RegionWithdrawal, ns string, home Backend) error {
	{
		b := Backend{Name: NoticeBackendName(rw), Port: home.Port}
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: b.Name, Namespace: ns, Labels: map[string]string{LabelNoticeFor: string(rw.UID)}},
			Spec: corev1.ServiceSpec{
				Type:         corev1.ServiceTypeExternalName,
				ExternalName: fmt.Sprintf("%s.%s.svc.cluster.local", home.Name, rw.Namespace),
				Ports:        []corev1.ServicePort{{Name: "http", Port: home.Port}},
			},
		}
		return e.createOrAdopt(ctx, svc, rw)
	}
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

func (e *Executor) deployNoticeBackend(ctx context.Context, rw *v1.RegionWithdrawal, b Backend) error {
	image := e.NoticeBackendImage
	if image == "" {
		image = DefaultNoticeBackendImage
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
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken: ptr.To(false),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						RunAsUser:      ptr.To[int64](65532),
						RunAsGroup:     ptr.To[int64](65532),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:           "notice-backend",
						Image:          image,
						Args:           NoticeBackendArgs(rw),
						Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: noticePort}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}},
						LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}},
					}},
				},
			},
		},
	}
	if err := e.createOrAdopt(ctx, dep, rw); err != nil {
		return err
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: b.Name, Namespace: rw.Namespace, Labels: labels, OwnerReferences: owner},
		Spec: corev1.ServiceSpec{
			Selector: selector,
			Ports:    []corev1.ServicePort{{Name: "http", Port: b.Port, TargetPort: intstr.FromString("http")}},
		},
	}
	return e.createOrAdopt(ctx, svc, rw)
}
