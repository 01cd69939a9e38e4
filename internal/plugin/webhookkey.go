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
	"fmt"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ops-dev/region-withdrawal-operator/internal/notify/webhook"
)

func newWebhookKeyCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "webhook-key NAME RECIPIENT",
		Short: "Print the key a recipient verifies its webhook notices with, under keyPerRecipient",
		Long: `webhook-key prints the signing key of one recipient's webhook notices, for a
withdrawal whose spec.notify.webhook.keyPerRecipient is true: derived from the
channel's signing Secret and the recipient's id, written as Standard Webhooks
secrets are (whsec_ and base64), one line per key of the Secret. Hand it to
that customer alone: it verifies their notices and signs no one else's.

It reads the signing Secret, so you need get on it.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.webhookKey(cmd.Context(), args[0], args[1])
		},
	}
}

func (o *Options) webhookKey(ctx context.Context, name, recipient string) error {
	rw, c, err := o.get(ctx, name)
	if err != nil {
		return err
	}
	if rw.Spec.Notify == nil || rw.Spec.Notify.Webhook == nil {
		return fmt.Errorf("%s has no webhook channel", name)
	}
	wh := rw.Spec.Notify.Webhook
	if !wh.KeyPerRecipient {
		return fmt.Errorf("%s signs every recipient's notices with the channel's key (spec.notify.webhook.keyPerRecipient is false): there is no key of %q's own", name, recipient)
	}
	var s corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: rw.Namespace, Name: wh.SigningSecretRef.Name}, &s); err != nil {
		return fmt.Errorf("reading the signing Secret: %w", err)
	}
	keys, err := webhook.ParseKeys(s.Data[wh.SigningSecretRef.Key])
	if err != nil {
		return fmt.Errorf("the signing Secret %s key %q: %w", wh.SigningSecretRef.Name, wh.SigningSecretRef.Key, err)
	}
	for _, k := range webhook.RecipientKeys(keys, recipient) {
		fmt.Fprintln(o.Out, webhook.FormatKey(k))
	}
	return nil
}
