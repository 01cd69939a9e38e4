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
	"bytes"
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/webhook"
)

// TestWebhookKeyPrintsTheRecipientsOwnKey: the key printed for c1 is the
// one the sender signs c1's notices with, differs from c2's, and is
// refused when the withdrawal signs with one key for all.
func TestWebhookKeyPrintsTheRecipientsOwnKey(t *testing.T) {
	const ns = "plugin-webhook-key"
	setup(t, ns)
	secret := "whsec_" + "c2VjcmV0LWtleS1vZi10aGUtY2hhbm5lbA=="
	if err := env.Client.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hooks", Namespace: ns},
		Data: map[string][]byte{"key": []byte(secret)}}); err != nil {
		t.Fatal(err)
	}
	rw := get(t, ns)
	rw.Spec.Notify.Webhook = &v1.WebhookChannel{URL: "https://hooks.example.com/", SigningSecretRef: v1.SecretKeyReference{Name: "hooks", Key: "key"}}
	if err := env.Client.Update(context.Background(), rw); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, ns, "webhook-key", "germany", "c1"); err == nil || !strings.Contains(err.Error(), "keyPerRecipient is false") {
		t.Fatalf("webhook-key without keyPerRecipient = %v, want a refusal", err)
	}
	rw = get(t, ns)
	rw.Spec.Notify.Webhook.KeyPerRecipient = true
	if err := env.Client.Update(context.Background(), rw); err != nil {
		t.Fatal(err)
	}
	c1, err := run(t, ns, "webhook-key", "germany", "c1")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := run(t, ns, "webhook-key", "germany", "c2")
	if err != nil {
		t.Fatal(err)
	}
	channelKeys, err := webhook.ParseKeys([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	want := webhook.FormatKey(webhook.RecipientKeys(channelKeys, "c1")[0])
	if strings.TrimSpace(c1) != want || c1 == c2 || bytes.Contains([]byte(c1), []byte(secret)) {
		t.Fatalf("c1's key %q, c2's %q; want %q, different from c2's and from the channel's", c1, c2, want)
	}
}
