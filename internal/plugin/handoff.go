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
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ops-dev/region-withdrawal-operator/internal/handoff"
)

func newHandoffCommand(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "handoff",
		Short: "Manage customers' download links (spec.export.handoff)",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "revoke NAME CUSTOMER...",
		Short: "Revoke customers' download links: the endpoint stops serving them",
		Long: `revoke adds the customers to the withdrawal's revoked links (the
withdrawal.ops.dev/handoff-revoked annotation, a JSON array of customer
ids). The operator takes their links out of the index the handoff endpoint
serves, which then answers them 404, and later notices carry no link for
them. Use it for a link sent to the wrong address, or leaked. It is an
annotation, not spec: revoking voids no approval and needs none.

There is no un-revoke: a customer who should fetch again needs a new link,
which a new withdrawal UID gives. The change is a merge patch guarded by the
resourceVersion read; run it again if the withdrawal changed meanwhile.`,
		Args:              cobra.MinimumNArgs(2),
		ValidArgsFunction: o.completeName,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.revoke(cmd.Context(), args[0], args[1:])
		},
	})
	return cmd
}

func (o *Options) revoke(ctx context.Context, name string, customers []string) error {
	for _, c := range customers {
		if strings.TrimSpace(c) == "" {
			return fmt.Errorf("a customer id may not be empty")
		}
	}
	var revoked int
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		rw, c, err := o.get(ctx, name)
		if err != nil {
			return err
		}
		if rw.Spec.Export == nil || rw.Spec.Export.Handoff == nil {
			return fmt.Errorf("%s gives no download links (no spec.export.handoff): there is nothing to revoke", name)
		}
		value, err := handoff.Revoke(rw, customers...)
		if err != nil {
			return fmt.Errorf("%s: %w; fix or remove the annotation first", name, err)
		}
		orig := rw.DeepCopy()
		if rw.Annotations == nil {
			rw.Annotations = map[string]string{}
		}
		rw.Annotations[handoff.AnnotationRevoked] = value
		if err := c.Patch(ctx, rw, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
		set, _ := handoff.Revoked(rw)
		revoked = len(set)
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "regionwithdrawal/%s: links of %s revoked (%d revoked in all); the endpoint stops serving them once the operator has taken them out of its index\n",
		name, strings.Join(customers, ", "), revoked)
	return nil
}
