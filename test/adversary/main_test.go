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

// Package adversary holds the attacks: each test acts as one actor of the
// trust model (docs/security.md), with the least rights it needs, on a
// real API server with RBAC on and the chart's RBAC and admission policies
// installed, and shows the attempt refused or detected. One test per
// attack; the threat table in docs/security.md names them.
package adversary

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

var env *testenv.Env

// The installation every attack meets: the chart's release "rwo" in
// operatorNS, with the handoff endpoint on, and its identities.
const (
	operatorNS = "rwo-system"
	operatorSA = "system:serviceaccount:" + operatorNS + ":rwo-region-withdrawal-operator"
	handoffSA  = "system:serviceaccount:" + operatorNS + ":rwo-region-withdrawal-operator-handoff"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, &env))
}

// installed is set once the chart's objects are in.
var installed bool

// install creates the chart's RBAC and admission policies, once, and
// waits until the policies are enforced.
func install(t *testing.T) {
	t.Helper()
	if installed {
		return
	}
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNS}}); err != nil {
		t.Fatal(err)
	}
	objs, err := testenv.RenderChart("rwo", operatorNS, "--set", "handoff.enabled=true", "--set", "handoff.publicURL=https://handoff.example.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range objs {
		switch u.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding":
			if err := env.Client.Create(ctx, u); err != nil {
				t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
			}
		}
	}
	// The API server enforces a policy once it has loaded it: wait until
	// an admin's write of a shard name is refused.
	probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: "evidence-probe"}}
	poll(t, "the records policy is enforced", func() error {
		err := env.Client.Create(ctx, probe.DeepCopy(), client.DryRunAll)
		if err == nil {
			return fmt.Errorf("an admin may still create %s", probe.Name)
		}
		if !strings.Contains(err.Error(), "written by the operator only") {
			return fmt.Errorf("refused for another reason: %w", err)
		}
		return nil
	})
	installed = true
}

// as returns a client that acts as user (a ServiceAccount's username, or
// a person's), with only that user's rights.
func as(t *testing.T, user string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	if strings.HasPrefix(user, "system:serviceaccount:") {
		ns := strings.Split(user, ":")[2]
		cfg.Impersonate.Groups = []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
	}
	c, err := client.New(cfg, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// grant gives user a Role of rules in ns.
func grant(t *testing.T, ns, user string, rules ...rbacv1.PolicyRule) {
	t.Helper()
	ctx := context.Background()
	name := "grant-" + strings.NewReplacer(":", "-", "@", "-", ".", "-").Replace(user)
	if err := env.Client.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: rules}); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}); err != nil {
		t.Fatal(err)
	}
}

// poll retries f until it returns nil or 30 seconds pass: it waits for the
// API server to load a policy, which no watch tells.
func poll(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// refused fails unless err is the records policy's refusal, or, when
// rbacSuffices, any refusal (the actor's RBAC already denies the verb).
func refused(t *testing.T, what string, err error, rbacSuffices bool) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: allowed", what)
	case rbacSuffices && apierrors.IsForbidden(err):
	case !strings.Contains(err.Error(), "written by the operator only"):
		t.Errorf("%s: refused, but not by the records policy: %v", what, err)
	}
}
