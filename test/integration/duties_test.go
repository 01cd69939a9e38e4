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
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
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
	// A lead both writes and approves: the approver role and the author role.
	bind(t, ns, "lead-approver", "ClusterRole", "du-region-withdrawal-operator-approver", "lead")
	bind(t, ns, "lead-author", "ClusterRole", "du-region-withdrawal-operator-author", "lead")
	author, approver, canceller, lead := as(t, "author"), as(t, "approver"), as(t, "canceller"), as(t, "lead")

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
	// The approver and canceller roles patch; they have no update, which
	// sends the whole object.
	for who, c := range map[string]client.Client{"approver": approver, "canceller": canceller} {
		var got v1.RegionWithdrawal
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "pakistan"}, &got); err != nil {
			t.Fatal(err)
		}
		if err := c.Update(ctx, &got); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "cannot update resource") {
			t.Errorf("the %s's update was not refused by RBAC: %v", who, err)
		}
	}
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
		// An approver only approves, a canceller only cancels.
		{who: "the approver moves the cutoff", c: approver, patch: `{"spec":{"cutoff":"2027-01-30T00:00:00Z"}}`, refused: "changing spec.cutoff is an edit of the withdrawal"},
		{who: "the approver widens the selector and turns the rehearsal off", c: approver, patch: `{"spec":{"selector":{"matchLabels":{"tier":"all"}},"dryRun":false}}`, refused: "an approver only approves"},
		{who: "the canceller suspends", c: canceller, patch: `{"spec":{"suspend":true}}`, refused: "changing spec.suspend is an edit"},
		{who: "the canceller changes the time zone", c: canceller, patch: `{"spec":{"timeZone":"UTC"}}`, refused: "a canceller only cancels"},
		{who: "the author edits the timing", c: author, patch: `{"spec":{"drain":{"start":{"offset":"-2h"},"requireApproval":true}}}`},
		{who: "the lead, author and approver, edits", c: lead, patch: `{"spec":{"cutoff":"2027-01-30T00:00:00Z"}}`},
		{who: "the cluster's admin edits", c: env.Client, patch: `{"spec":{"dryRun":true}}`},
		{who: "the approver gives the reason a cancel would carry", c: approver, patch: `{"spec":{"cancelReason":"pending the court"}}`},
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

// TestEverySpecFieldIsAnEdit keeps the duties policy's list of the spec's
// fields whole: a field missing from it could be changed by an approver
// or a canceller alone.
func TestEverySpecFieldIsAnEdit(t *testing.T) {
	objs, err := testenv.RenderChart("du", "rwo-duties")
	if err != nil {
		t.Fatal(err)
	}
	var edited string
	for _, u := range objs {
		if u.GetKind() != "ValidatingAdmissionPolicy" || !strings.HasSuffix(u.GetName(), "-duties") {
			continue
		}
		vars, _, _ := unstructured.NestedSlice(u.Object, "spec", "variables")
		for _, v := range vars {
			if m := v.(map[string]any); m["name"] == "edited" {
				edited = m["expression"].(string)
			}
		}
	}
	if edited == "" {
		t.Fatal("the duties policy has no variable edited")
	}
	duties := map[string]bool{"approvals": true, "cancel": true, "cancelReason": true, "allowCancelAfterCutoff": true}
	spec := reflect.TypeFor[v1.RegionWithdrawalSpec]()
	for i := range spec.NumField() {
		name, _, _ := strings.Cut(spec.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		if listed := strings.Contains(edited, "'spec."+name+"'"); listed == duties[name] {
			t.Errorf("spec.%s: listed in the duties policy's edited fields: %t, a duty's own field: %t; every field but a duty's must be listed", name, listed, duties[name])
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
