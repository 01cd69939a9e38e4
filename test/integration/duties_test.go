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

package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// TestApprovingAndCancellingAreSeparateDuties installs the chart's
// admission policy and has an author, an approver and a canceller each try
// the others' changes.
func TestApprovingAndCancellingAreSeparateDuties(t *testing.T) {
	const ns = "duties"
	ctx := context.Background()
	mustCreate(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	// Only the duties policy: the records policy (test/adversary) would
	// refuse the status writes of this package's other tests, which act
	// as the admin rather than the operator's ServiceAccount.
	installChartObjects(t, "du", "rwo-duties", func(u *unstructured.Unstructured) bool {
		switch u.GetKind() {
		case "ClusterRole":
			return true
		case "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
			return strings.HasSuffix(u.GetName(), "-duties")
		}
		return false
	})
	// The policy covers every namespace: remove it so that the other tests'
	// withdrawals are written without it.
	t.Cleanup(func() {
		for _, kind := range []string{"ValidatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy"} {
			u := &unstructured.Unstructured{}
			u.SetAPIVersion("admissionregistration.k8s.io/v1")
			u.SetKind(kind)
			u.SetName("du-region-withdrawal-operator-duties")
			if err := env.Client.Delete(context.Background(), u); err != nil {
				t.Errorf("deleting the %s: %v", kind, err)
			}
		}
	})
	mustCreate(t, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "author"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{v1.GroupVersion.Group}, Resources: []string{"regionwithdrawals"}, Verbs: []string{"get", "list", "create", "update", "patch"}}}})
	bind(t, ns, "author", "Role", "author", "author")
	bind(t, ns, "approver", "ClusterRole", "du-region-withdrawal-operator-approver", "approver")
	bind(t, ns, "canceller", "ClusterRole", "du-region-withdrawal-operator-canceller", "canceller")
	author, approver, canceller := as(t, "author"), as(t, "approver"), as(t, "canceller")

	rw := tenantWithdrawal(ns, "pakistan", 30*24*time.Hour)
	rw.Spec.Drain = &v1.DrainStep{Start: offset(-time.Hour), RequireApproval: true}
	if err := author.Create(ctx, rw); err != nil {
		t.Fatalf("the author could not create a withdrawal: %v", err)
	}
	patch := func(c client.Client, p string) error {
		return c.Patch(ctx, &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pakistan"}}, client.RawPatch("application/merge-patch+json", []byte(p)))
	}
	// The policy is enforced once the API server has loaded it: wait for
	// the author's first approval to be refused.
	poll(t, "the admission policy refuses the author's approval", func() error {
		err := patch(author, approval("author"))
		if err == nil {
			_ = patch(env.Client, `{"spec":{"approvals":null}}`)
			return fmt.Errorf("the author approved the drain")
		}
		if !strings.Contains(err.Error(), "needs the approve verb") {
			return fmt.Errorf("refused for another reason: %v", err)
		}
		return nil
	})
	for _, tc := range []struct {
		who     string
		c       client.Client
		patch   string
		refused string // what the refusal says; empty when allowed
	}{
		{who: "the approver approves", c: approver, patch: approval("approver")},
		{who: "the author edits the rest", c: author, patch: `{"spec":{"cancelReason":"court order"}}`},
		{who: "the author cancels", c: author, patch: `{"spec":{"cancel":true}}`, refused: "needs the cancel verb"},
		{who: "the approver cancels", c: approver, patch: `{"spec":{"cancel":true}}`, refused: "needs the cancel verb"},
		{who: "the author picks a stronger ServiceAccount", c: author, patch: `{"spec":{"serviceAccountName":"admin"}}`, refused: "needs the impersonate verb"},
		{who: "the canceller cancels", c: canceller, patch: `{"spec":{"cancel":true}}`},
	} {
		err := patch(tc.c, tc.patch)
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.who, err)
		case tc.refused != "" && err == nil:
			t.Errorf("%s: allowed", tc.who)
		case tc.refused != "" && !strings.Contains(err.Error(), tc.refused):
			t.Errorf("%s: refused without saying %q: %v", tc.who, tc.refused, err)
		}
	}
}

// approval is a merge patch that approves the drain in by's name.
func approval(by string) string {
	return `{"spec":{"approvals":[{"step":"drain","by":"` + by + `","specDigest":"sha256:` + strings.Repeat("0", 64) + `"}]}}`
}

func bind(t *testing.T, ns, name, kind, role, user string) {
	t.Helper()
	mustCreate(t, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: role},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}})
}

// as returns a client that acts as user.
func as(t *testing.T, user string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
