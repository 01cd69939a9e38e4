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
	"encoding/json"
	"fmt"
	"slices"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// finalizer is the operator's finalizer (controllers.Finalizer; the plugin
// does not import the controller).
const finalizer = "withdrawal.ops.dev/finalizer"

func newReleaseCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "release NAME",
		Short: "Let a deleted withdrawal go when its cleanup cannot finish",
		Long: `release removes the operator's finalizer from a withdrawal that is being
deleted and whose cleanup failed (its FinalizeBlocked condition says why),
so that the deletion finishes without it. What the cleanup would have
removed is left behind: export Jobs in other namespaces, and the route and
autoscaler records (which 'kubectl withdrawal restore' reads). Fix the cause
instead when you can: the operator goes on by itself.

It refuses a withdrawal that is not being deleted, and removes only the
operator's finalizer, with a patch that fails if the object changed since
it was read.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.release(cmd.Context(), args[0])
		},
	}
}

func (o *Options) release(ctx context.Context, name string) error {
	rw, c, err := o.get(ctx, name)
	if err != nil {
		return err
	}
	i := slices.Index(rw.Finalizers, finalizer)
	switch {
	case rw.DeletionTimestamp.IsZero():
		return fmt.Errorf("%s is not being deleted: delete it first (kubectl delete regionwithdrawal %s -n %s); release only lets go of one whose cleanup cannot finish", name, name, rw.Namespace)
	case i < 0:
		fmt.Fprintf(o.Out, "%s holds no finalizer of the operator's; its deletion does not wait for it\n", name)
		return nil
	}
	if c := meta.FindStatusCondition(rw.Status.Conditions, v1.ConditionFinalizeBlocked); c != nil {
		fmt.Fprintf(o.ErrOut, "The operator's cleanup is blocked (%s): %s\n", c.Reason, c.Message)
	}
	fmt.Fprintf(o.ErrOut, "Left behind: export Jobs outside %s, and the route and autoscaler records labelled withdrawal.ops.dev/withdrawal-uid=%s\n", rw.Namespace, rw.UID)
	// A JSON patch that tests the resourceVersion and the finalizer at its
	// index: it fails rather than remove another writer's finalizer.
	patch, err := json.Marshal([]map[string]any{
		{"op": "test", "path": "/metadata/resourceVersion", "value": rw.ResourceVersion},
		{"op": "test", "path": fmt.Sprintf("/metadata/finalizers/%d", i), "value": finalizer},
		{"op": "remove", "path": fmt.Sprintf("/metadata/finalizers/%d", i)},
	})
	if err != nil {
		return err
	}
	if err := c.Patch(ctx, rw, client.RawPatch(types.JSONPatchType, patch)); err != nil {
		return fmt.Errorf("removing the finalizer (run it again if the withdrawal changed meanwhile): %w", err)
	}
	fmt.Fprintf(o.Out, "regionwithdrawal.withdrawal.ops.dev/%s released\n", name)
	return nil
}
