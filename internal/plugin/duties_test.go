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

package plugin

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

// TestApproverAndCancellerUseThePluginUnderThePolicy: with the chart's
// duties admission policy, which lets an approver change nothing of the
// spec but spec.approvals (and a canceller nothing but the cancel
// fields), kubectl withdrawal approve and cancel work for a user bound
// only to the approver or canceller ClusterRole. They send a merge patch
// of what they change: an Update would send the spec back re-encoded
// (the drain's defaulted "1m" interval as "1m0s"), which the policy
// counts as an edit.
func TestApproverAndCancellerUseThePluginUnderThePolicy(t *testing.T) {
	const ns = "plugin-duties"
	ctx := context.Background()
	setup(t, ns)
	objs, err := testenv.RenderChart("pd", "rwo-plugin-duties")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range objs {
		keep := (u.GetKind() == "ClusterRole" && (strings.HasSuffix(u.GetName(), "-approver") || strings.HasSuffix(u.GetName(), "-canceller"))) ||
			(strings.HasPrefix(u.GetKind(), "ValidatingAdmissionPolicy") && strings.HasSuffix(u.GetName(), "-duties"))
		if !keep {
			continue
		}
		if err := env.Client.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), u) })
	}
	for user, role := range map[string]string{"approver": "pd-region-withdrawal-operator-approver", "canceller": "pd-region-withdrawal-operator-canceller"} {
		if err := env.Client.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: user},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}); err != nil {
			t.Fatal(err)
		}
	}
	if d := get(t, ns).Spec.Drain; d == nil || d.Interval == nil {
		t.Fatal("the sample's drain has no defaulted interval: the test would not show the re-encoding")
	}

	// The policy is in force once an approver's edit is refused.
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		rw := get(t, ns)
		orig := rw.DeepCopy()
		rw.Spec.Suspend = true
		err := asUser(t, "approver").Patch(ctx, rw, client.MergeFrom(orig))
		if err == nil {
			orig.Spec.Suspend = true
			return false, env.Client.Patch(ctx, orig, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"suspend":null}}`)))
		}
		return strings.Contains(err.Error(), "an approver only approves"), nil
	}); err != nil {
		t.Fatalf("the duties policy never refused an approver's edit: %v", err)
	}

	if out, err := runAs(t, "approver", ns, "approve", "germany", "drain"); err != nil {
		t.Fatalf("kubectl withdrawal approve as the approver: %v\n%s", err, out)
	}
	if a := get(t, ns).Spec.Approvals; len(a) != 1 || a[0].By != "approver" || a[0].Step != v1.StepDrain {
		t.Fatalf("approvals after approve: %+v", a)
	}
	if out, err := runAs(t, "canceller", ns, "cancel", "germany", "--reason", "the order was withdrawn"); err != nil {
		t.Fatalf("kubectl withdrawal cancel as the canceller: %v\n%s", err, out)
	}
	if s := get(t, ns).Spec; !s.Cancel || s.CancelReason != "the order was withdrawn" {
		t.Fatalf("after cancel: cancel %t, reason %q", s.Cancel, s.CancelReason)
	}
	// And the approver still may not suspend through the plugin.
	if out, err := runAs(t, "approver", ns, "suspend", "germany"); err == nil || !strings.Contains(err.Error(), "an approver only approves") {
		t.Errorf("kubectl withdrawal suspend as the approver: %v\n%s", err, out)
	}
}

// asUser is an API client that acts as user.
func asUser(t *testing.T, user string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// runAs is run with user's credentials.
func runAs(t *testing.T, user, ns string, args ...string) (string, error) {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	return runWith(t, cfg, ns, args...)
}

// TestRevokeALink: kubectl withdrawal handoff revoke adds customers to the
// withdrawal's revoked links, keeps those revoked before, and refuses a
// withdrawal that gives no links.
func TestRevokeALink(t *testing.T) {
	const ns = "plugin-revoke"
	ctx := context.Background()
	setup(t, ns)
	if out, err := run(t, ns, "handoff", "revoke", "germany", "c1"); err == nil || !strings.Contains(err.Error(), "gives no download links") {
		t.Fatalf("revoke without spec.export.handoff: %v\n%s", err, out)
	}
	rw := get(t, ns)
	orig := rw.DeepCopy()
	rw.Spec.Export = &v1.ExportStep{Start: v1.Moment{Offset: &metav1.Duration{Duration: -48 * time.Hour}}, Deadline: v1.Moment{Offset: &metav1.Duration{Duration: -24 * time.Hour}},
		Handoff: &v1.ExportHandoff{}}
	rw.Spec.Export.JobTemplate.Spec.Template.Spec.Containers = []corev1.Container{{Name: "exporter", Image: "exporter"}}
	if err := env.Client.Patch(ctx, rw, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"c2"}, {"c1", "c2"}} {
		if out, err := run(t, ns, append([]string{"handoff", "revoke", "germany"}, args...)...); err != nil || !strings.Contains(out, "revoked") {
			t.Fatalf("revoke %v: %v\n%s", args, err, out)
		}
	}
	if got := get(t, ns).Annotations[handoff.AnnotationRevoked]; got != `["c1","c2"]` {
		t.Fatalf("revoked links %s, want [\"c1\",\"c2\"]", got)
	}
}
