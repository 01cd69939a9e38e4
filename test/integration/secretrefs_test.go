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
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// TestNamingASecretNeedsReadingIt installs the chart's secret-refs
// admission policy and has an author who may read two Secrets of the
// namespace name others in a withdrawal: the webhook's signing key, the
// HTTP recipient source's headers (which go to a URL the author chose),
// the recipient lists. Each is refused, naming the Secret; what the author
// may read is accepted; a reference left as it was is not checked again,
// so someone without Secret rights may still edit the rest.
func TestNamingASecretNeedsReadingIt(t *testing.T) {
	const ns = "secret-refs"
	ctx := context.Background()
	mustCreate(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	installChartObjects(t, "sr", "rwo-secret-refs", func(u *unstructured.Unstructured) bool {
		return strings.HasPrefix(u.GetKind(), "ValidatingAdmissionPolicy") && strings.HasSuffix(u.GetName(), "-secret-refs")
	})
	t.Cleanup(func() {
		for _, kind := range []string{"ValidatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy"} {
			u := &unstructured.Unstructured{}
			u.SetAPIVersion("admissionregistration.k8s.io/v1")
			u.SetKind(kind)
			u.SetName("sr-region-withdrawal-operator-secret-refs")
			if err := env.Client.Delete(context.Background(), u); err != nil {
				t.Errorf("deleting the %s: %v", kind, err)
			}
		}
	})
	for _, name := range []string{"mine", "mine-too", "theirs", "r1", "r2", "r3"} {
		mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: map[string]string{"k": "v"}})
	}
	mustCreate(t, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "writer"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{v1.GroupVersion.Group}, Resources: []string{"regionwithdrawals"}, Verbs: []string{"get", "list", "create", "update", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}, ResourceNames: []string{"mine", "mine-too", "r1", "r2", "r3"}},
	}})
	bind(t, ns, "writer", "Role", "writer", "writer")
	mustCreate(t, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "editor"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{v1.GroupVersion.Group}, Resources: []string{"regionwithdrawals"}, Verbs: []string{"get", "patch"}},
	}})
	bind(t, ns, "editor", "Role", "editor", "editor")
	writer, editor := as(t, "writer"), as(t, "editor")

	withWebhook := func(name, key string) *v1.RegionWithdrawal {
		rw := tenantWithdrawal(ns, name, 30*24*time.Hour)
		rw.Spec.Notify = &v1.NotifyStep{Announce: offset(-72 * time.Hour), Final: offset(-24 * time.Hour),
			Recipients: v1.RecipientSources{ConfigMaps: []v1.RecipientObjectRef{{Name: "list"}}},
			Webhook:    &v1.WebhookChannel{URL: "https://customer.example.com/hook", SigningSecretRef: v1.SecretKeyReference{Name: key, Key: "k"}}}
		return rw
	}
	// The policy is enforced once the API server has loaded it.
	poll(t, "the policy refuses a signing key the writer may not read", func() error {
		err := writer.Create(ctx, withWebhook("probe", "theirs"))
		if err == nil {
			_ = env.Client.Delete(ctx, withWebhook("probe", "theirs"))
			return fmt.Errorf("created")
		}
		if !strings.Contains(err.Error(), "spec.notify.webhook.signingSecretRef names Secret theirs") {
			return fmt.Errorf("refused for another reason: %v", err)
		}
		return nil
	})
	if err := writer.Create(ctx, withWebhook("pakistan", "mine")); err != nil {
		t.Fatalf("the writer could not name a Secret they may read: %v", err)
	}
	patch := func(c client.Client, p string) error {
		return c.Patch(ctx, &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pakistan"}}, client.RawPatch("application/merge-patch+json", []byte(p)))
	}
	for _, tc := range []struct {
		what    string
		c       client.Client
		patch   string
		refused string
	}{
		{what: "headers from another's Secret, sent to a URL of the writer's", c: writer,
			patch:   `{"spec":{"notify":{"recipients":{"http":{"url":"https://collector.example.com/","headersSecretRef":{"name":"theirs"}}}}}}`,
			refused: "spec.notify.recipients.http.headersSecretRef names Secret theirs"},
		{what: "SMTP credentials from another's Secret", c: writer,
			patch:   `{"spec":{"notify":{"email":{"host":"smtp.example.com","from":"n@example.com","credentialsSecretRef":{"name":"theirs"}}}}}`,
			refused: "spec.notify.email.credentialsSecretRef names Secret theirs"},
		{what: "recipients from another's Secret", c: writer,
			patch: `{"spec":{"notify":{"recipients":{"secrets":[{"name":"mine"},{"name":"theirs"}]}}}}`, refused: "needs get on each"},
		{what: "three recipient Secrets at once", c: writer,
			patch: `{"spec":{"notify":{"recipients":{"secrets":[{"name":"r1"},{"name":"r2"},{"name":"r3"}]}}}}`, refused: "adds 3 Secrets at once"},
		{what: "recipients from two Secrets the writer may read", c: writer,
			patch: `{"spec":{"notify":{"recipients":{"secrets":[{"name":"r1"},{"name":"r2"}]}}}}`},
		{what: "a third, later", c: writer,
			patch: `{"spec":{"notify":{"recipients":{"secrets":[{"name":"r1"},{"name":"r2"},{"name":"r3"}]}}}}`},
		{what: "another signing key the writer may read", c: writer, patch: `{"spec":{"notify":{"webhook":{"signingSecretRef":{"name":"mine-too","key":"k"}}}}}`},
		{what: "the rest edited by someone who may read no Secret", c: editor, patch: `{"spec":{"suspend":true}}`},
		{what: "the same signing key named again by someone who may read no Secret", c: editor, patch: `{"spec":{"notify":{"webhook":{"signingSecretRef":{"name":"mine-too","key":"k"}}}}}`},
		{what: "another's signing key by someone who may read no Secret", c: editor, patch: `{"spec":{"notify":{"webhook":{"signingSecretRef":{"name":"mine","key":"k"}}}}}`,
			refused: "signingSecretRef names Secret mine"},
		{what: "the cluster's admin names any", c: env.Client, patch: `{"spec":{"notify":{"webhook":{"signingSecretRef":{"name":"theirs","key":"k"}}}}}`},
	} {
		err := patch(tc.c, tc.patch)
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.what, err)
		case tc.refused != "" && err == nil:
			t.Errorf("%s: allowed", tc.what)
		case tc.refused != "" && !strings.Contains(err.Error(), tc.refused):
			t.Errorf("%s: refused without saying %q: %v", tc.what, tc.refused, err)
		}
	}
}
