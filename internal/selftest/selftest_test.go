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

package selftest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

// TestCheck runs the check against the API server, with the Deployment's
// status as its controller would write it at each point of a rollout.
func TestCheck(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	const ns = "selftest"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(env.Config)
	o := Options{Namespace: ns, Deployment: "rwo", GroupVersion: v1.GroupVersion.String(), Resource: "regionwithdrawals"}

	if _, err := Check(ctx, cs, o); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("no Deployment: %v; want not found", err)
	}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "rwo", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "rwo"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "rwo"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "manager", Image: "rwo:dev"}}},
			},
		},
	}
	if err := c.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	available := func(status corev1.ConditionStatus) []appsv1.DeploymentCondition {
		return []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: status, Reason: "MinimumReplicasAvailable", Message: "the reason"}}
	}
	for _, tc := range []struct {
		name    string
		status  appsv1.DeploymentStatus
		gv      string
		wantErr string
	}{
		{name: "not seen by its controller", status: appsv1.DeploymentStatus{}, wantErr: "has not seen the latest spec"},
		{name: "rolling out", status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 1, Conditions: available(corev1.ConditionTrue)}, wantErr: "1 of 2 pods updated"},
		{name: "an old pod left", status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 2, Conditions: available(corev1.ConditionTrue)}, wantErr: "1 old pods still running"},
		{name: "not available", status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, Conditions: available(corev1.ConditionFalse)}, wantErr: "not Available"},
		{name: "one pod of two available", status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 1, AvailableReplicas: 1, Conditions: available(corev1.ConditionTrue)}, wantErr: "1 of 2 pods available"},
		{name: "available, but the API is not served", gv: "withdrawal.ops.dev/v9", status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, Conditions: available(corev1.ConditionTrue)}, wantErr: "does not serve withdrawal.ops.dev/v9"},
		{name: "available and served", status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, Conditions: available(corev1.ConditionTrue)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dep.Status = tc.status
			if err := c.Status().Update(ctx, dep); err != nil {
				t.Fatal(err)
			}
			o := o
			if tc.gv != "" {
				o.GroupVersion = tc.gv
			}
			found, err := Check(ctx, cs, o)
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Check() = %q, %v; want an error containing %q", found, err, tc.wantErr)
			}
			if err == nil && !strings.Contains(found, "2/2 pods ready") {
				t.Fatalf("Check() = %q", found)
			}
		})
	}

	// The command: it passes as the check does, and fails with its reason.
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: env.Config.Host, CertificateAuthorityData: env.Config.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: env.Config.CertData, ClientKeyData: env.Config.KeyData}
	kc.Contexts["admin"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "admin"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", path)
	var out bytes.Buffer
	if err := Run(ctx, []string{"--namespace=" + ns, "--deployment=rwo", "--timeout=5s"}, &out); err != nil || !strings.HasPrefix(out.String(), "ok: ") {
		t.Fatalf("selftest: %v\n%s", err, out.String())
	}
	out.Reset()
	err := Run(ctx, []string{"--namespace=" + ns, "--deployment=other", "--timeout=1s", "--interval=200ms"}, &out)
	if err == nil || !strings.Contains(err.Error(), `"other" not found`) || !strings.Contains(out.String(), "waiting: ") {
		t.Fatalf("selftest of a missing Deployment: %v\n%s", err, out.String())
	}
}
