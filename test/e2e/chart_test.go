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
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

var policyPDB = schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"}

// TestHelmInstallIntoARestrictedNamespace installs the chart with the real
// helm into the simulated cluster, in a namespace that enforces the
// restricted Pod Security Standard, and waits for the operator Deployment
// to become available there.
func TestHelmInstallIntoARestrictedNamespace(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	ns := "rwo-system"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}}}); err != nil {
		t.Fatal(err)
	}
	// The namespace really enforces the standard: a plain pod is refused.
	plain := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: ns},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if err := c.Create(ctx, plain, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "violates PodSecurity") {
		t.Fatalf("a pod without a security context was not refused: %v", err)
	}
	createNamespace(t, c, "tenant-pk")
	helmHome := t.TempDir()
	helm := func(args ...string) {
		t.Helper()
		cmd := exec.Command(filepath.Join(testenv.RepoRoot(), "bin", "helm"), append(args, "--kubeconfig", kwok.Kubeconfig)...)
		cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+helmHome, "HELM_CONFIG_HOME="+helmHome, "HELM_DATA_HOME="+helmHome)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("helm %v: %v\n%s", args, err, out)
		}
	}
	// TestMain installed the CRD with kubectl, as a release that shipped it
	// in crds/ leaves it: the release takes it over (chart README,
	// Upgrading), and leaves it on uninstall (crds.keep) for the tests after.
	helm("install", "rwo", filepath.Join(testenv.RepoRoot(), "charts", "region-withdrawal-operator"),
		"--namespace", ns, "--take-ownership", "--set", "watchNamespaces={tenant-pk}", "--set", "tenancy.namespaces={tenant-pk}", "--set", "replicaCount=2",
		// The admission policies are cluster-wide, and the other tests on
		// this cluster write status as the admin, not as the chart's
		// ServiceAccount: the real-node test and test/adversary run them.
		// The admission webhook's pods are simulated here and answer
		// nothing; the real-node test runs it.
		"--set", "admissionPolicy.enabled=false", "--set", "admissionWebhook.enabled=false")
	t.Cleanup(func() { helm("uninstall", "rwo", "--namespace", ns, "--wait") })

	dep := &appsv1.Deployment{}
	if err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rwo-region-withdrawal-operator"}, dep); err != nil {
			return false, nil
		}
		return dep.Status.AvailableReplicas == 2, nil
	}); err != nil {
		var events corev1.EventList
		_ = c.List(ctx, &events, client.InNamespace(ns))
		for _, e := range events.Items {
			t.Logf("event: %s %s: %s", e.InvolvedObject.Name, e.Reason, e.Message)
		}
		t.Fatalf("the operator Deployment did not become available in a restricted namespace: %+v", dep.Status)
	}

	// Every object the chart renders exists.
	for _, obj := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rwo-region-withdrawal-operator"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rwo-region-withdrawal-operator-metrics"}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "rwo-region-withdrawal-operator-manager"}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "rwo-region-withdrawal-operator-manager"}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-pk", Name: "rwo-region-withdrawal-operator-manager"}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-pk", Name: "rwo-region-withdrawal-operator-manager"}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rwo-region-withdrawal-operator-leader-election"}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "rwo-region-withdrawal-operator-metrics-reader"}},
	} {
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Errorf("%T %s: %v", obj, obj.GetName(), err)
		}
	}
	pdb := &metav1.PartialObjectMetadata{}
	pdb.SetGroupVersionKind(policyPDB)
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rwo-region-withdrawal-operator"}, pdb); err != nil {
		t.Errorf("PodDisruptionBudget for two replicas: %v", err)
	}
}
