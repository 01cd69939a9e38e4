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

package export

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

func TestPodPolicy(t *testing.T) {
	policy := PodPolicy{ServiceAccount: "exporter", Secrets: map[string]bool{"store-token": true}}
	exporter := func(mutate ...func(*corev1.PodSpec)) *corev1.PodSpec {
		s := &corev1.PodSpec{
			Containers: []corev1.Container{{Name: "exporter", Image: "x",
				Env: []corev1.EnvVar{{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "store-token"}, Key: "token"}}}}}},
			Volumes: []corev1.Volume{
				{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
				{Name: "scratch"},
			},
		}
		for _, m := range mutate {
			m(s)
		}
		return s
	}
	secretVolume := func(name string) corev1.Volume {
		return corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: name}}}
	}
	for _, tc := range []struct {
		name   string
		policy PodPolicy
		spec   *corev1.PodSpec
		says   string // empty: allowed
	}{
		{name: "the exporter as the installation runs it", policy: policy, spec: exporter()},
		{name: "naming the exporter ServiceAccount", policy: policy, spec: exporter(func(s *corev1.PodSpec) { s.ServiceAccountName = "exporter" })},
		{name: "a stronger ServiceAccount", policy: policy, spec: exporter(func(s *corev1.PodSpec) { s.ServiceAccountName = "admin" }),
			says: `runs as ServiceAccount "admin", and export pods run as "exporter"`},
		{name: "a stronger ServiceAccount by the old field", policy: policy, spec: exporter(func(s *corev1.PodSpec) { s.DeprecatedServiceAccount = "admin" }),
			says: `names ServiceAccount "admin" in serviceAccount`},
		{name: "an API token", policy: policy, spec: exporter(func(s *corev1.PodSpec) { s.AutomountServiceAccountToken = ptr.To(true) }),
			says: "mounts an API token"},
		{name: "an API token the installation allows", policy: PodPolicy{AllowToken: true}, spec: exporter(func(s *corev1.PodSpec) { s.AutomountServiceAccountToken = ptr.To(true) })},
		{name: "a projected token", policy: policy, spec: exporter(func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "tok", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}})
		}), says: `projected volume "tok" holds an API token`},
		{name: "the node's filesystem", policy: policy, spec: exporter(func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}})
		}), says: `volume "root" is a hostPath volume`},
		{name: "a CSI driver not listed", policy: policy, spec: exporter(func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "vault", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "secrets-store.csi.k8s.io"}}})
		}), says: `volume "vault" is a csi volume`},
		{name: "a CSI driver listed", policy: PodPolicy{VolumeKinds: append(DefaultVolumeKinds, "csi")}, spec: exporter(func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "vault", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "secrets-store.csi.k8s.io"}}})
		})},
		{name: "another Secret mounted", policy: policy, spec: exporter(func(s *corev1.PodSpec) { s.Volumes = append(s.Volumes, secretVolume("db-password")) }),
			says: `volume s reads Secret "db-password"; export pods may read store-token`},
		{name: "another Secret projected", policy: policy, spec: exporter(func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "db-password"}}}}}}})
		}), says: `projected volume p reads Secret "db-password"`},
		{name: "another Secret in the environment of an init container", policy: policy, spec: exporter(func(s *corev1.PodSpec) {
			s.InitContainers = []corev1.Container{{Name: "peek", EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "db-password"}}}}}}
		}), says: `init container peek's envFrom reads Secret "db-password"`},
		{name: "no Secret at all", policy: PodPolicy{Secrets: map[string]bool{}}, spec: exporter(),
			says: "export pods may read none"},
		{name: "any Secret when none is named", policy: PodPolicy{}, spec: exporter(func(s *corev1.PodSpec) { s.Volumes = append(s.Volumes, secretVolume("db-password")) })},
		{name: "the host's network", policy: PodPolicy{}, spec: exporter(func(s *corev1.PodSpec) { s.HostNetwork = true }), says: "host's network"},
		{name: "a privileged container", policy: PodPolicy{}, spec: exporter(func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
		}), says: `container "exporter" is privileged`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.Check(tc.spec)
			switch {
			case tc.says == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.says != "" && err == nil:
				t.Fatal("allowed")
			case tc.says != "" && (!strings.Contains(err.Error(), tc.says) || !errors.Is(err, ErrInvalidTemplate)):
				t.Fatalf("refused without saying %q: %v", tc.says, err)
			}
		})
	}

	t.Run("Apply runs the pod as the exporter without a token", func(t *testing.T) {
		s := exporter()
		policy.Apply(s)
		if s.ServiceAccountName != "exporter" || s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
			t.Fatalf("after Apply: ServiceAccount %q, automount %v", s.ServiceAccountName, s.AutomountServiceAccountToken)
		}
		s = exporter()
		PodPolicy{AllowToken: true}.Apply(s)
		if s.ServiceAccountName != "" || s.AutomountServiceAccountToken != nil {
			t.Fatalf("a policy that allows a token and names no ServiceAccount changed the pod: %q, %v", s.ServiceAccountName, s.AutomountServiceAccountToken)
		}
	})
}

// TestAMissingExporterServiceAccountIsASpecError: a Job whose pods would
// run as a ServiceAccount the namespace lacks would never get a Pod.
func TestAMissingExporterServiceAccountIsASpecError(t *testing.T) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "has", Name: "exporter"}}
	e := &Executor{APIReader: fake.NewClientBuilder().WithObjects(sa).Build(), Pods: PodPolicy{ServiceAccount: "exporter"}}
	if problem, err := e.exportServiceAccountMissing(context.Background(), "has"); problem != nil || err != nil {
		t.Fatalf("with the ServiceAccount there: %v, %v", problem, err)
	}
	problem, err := e.exportServiceAccountMissing(context.Background(), "lacks")
	if err != nil || problem == nil || !planner.IsSpecError(problem) || !strings.Contains(problem.Error(), "namespace lacks does not have") {
		t.Fatalf("without it: %v, %v", problem, err)
	}
}
