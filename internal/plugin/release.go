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
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
)

// finalizer is the operator's finalizer (controllers.Finalizer; the plugin
// does not import the controller).
const finalizer = "withdrawal.ops.dev/finalizer"

func newReleaseCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "release NAME",
		Short: "Remove the operator's finalizer from a deleted withdrawal whose cleanup cannot finish",
		Long: `release removes the operator's finalizer (withdrawal.ops.dev/finalizer) from
a withdrawal that is being deleted and whose cleanup failed, so that the
deletion finishes without it. It prints why the operator is blocked (the
FinalizeBlocked condition) and what is left behind: the export Jobs in other
namespaces, which the cleanup would have deleted, and the restore records
('kubectl withdrawal restore' reads them; once a withdrawal has completed or
been cancelled, the cleanup would have deleted them too). Fix the cause
instead when you can: the operator then goes on by itself.

It refuses a withdrawal that is not being deleted. It removes only the
operator's finalizer, with a JSON patch that first tests the object's
resourceVersion: if anyone changed the withdrawal since it was read, the
patch fails and nothing is removed; run it again to see the new state.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeName,
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
	switch {
	case rw.DeletionTimestamp.IsZero():
		return fmt.Errorf("%s is not being deleted: release only lets go of a deleted withdrawal whose cleanup cannot finish (kubectl delete regionwithdrawal %s -n %s deletes it; the operator cleans up after it)", name, name, rw.Namespace)
	case !slices.Contains(rw.Finalizers, finalizer):
		fmt.Fprintf(o.Out, "%s holds no finalizer of the operator's; its deletion does not wait for it\n", name)
		return nil
	}
	if blocked := meta.FindStatusCondition(rw.Status.Conditions, v1.ConditionFinalizeBlocked); blocked != nil && blocked.Status == metav1.ConditionTrue {
		fmt.Fprintf(o.ErrOut, "The operator's cleanup is blocked (%s): %s\n", blocked.Reason, blocked.Message)
	} else {
		fmt.Fprintln(o.ErrOut, "The operator has not said its cleanup is blocked (no FinalizeBlocked condition): it may still be running.")
	}
	o.warnLeftBehind(ctx, c, rw)
	if err := removeFinalizer(ctx, c, rw); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "regionwithdrawal.withdrawal.ops.dev/%s released\n", name)
	return nil
}

// removeFinalizer removes the operator's finalizer from rw as it was read:
// a JSON patch that tests the resourceVersion (so it fails if anyone wrote
// the object since, rather than act on a state nobody saw) and the
// finalizer at its index (so it removes that one and no other writer's).
func removeFinalizer(ctx context.Context, c client.Client, rw *v1.RegionWithdrawal) error {
	i := slices.Index(rw.Finalizers, finalizer)
	if i < 0 {
		return nil
	}
	patch, err := json.Marshal([]map[string]any{
		{"op": "test", "path": "/metadata/resourceVersion", "value": rw.ResourceVersion},
		{"op": "test", "path": fmt.Sprintf("/metadata/finalizers/%d", i), "value": finalizer},
		{"op": "remove", "path": fmt.Sprintf("/metadata/finalizers/%d", i)},
	})
	if err != nil {
		return err
	}
	if err := c.Patch(ctx, rw, client.RawPatch(types.JSONPatchType, patch)); err != nil {
		if apierrors.IsInvalid(err) || apierrors.IsConflict(err) {
			return fmt.Errorf("%s changed since it was read, so its finalizer was left in place; run release again to see it as it is now: %w", rw.Name, err)
		}
		return fmt.Errorf("removing the finalizer of %s: %w", rw.Name, err)
	}
	return nil
}

// warnLeftBehind says what the operator's cleanup would have removed and
// release leaves: the export Jobs outside the withdrawal's namespace (those
// inside go with it, by owner reference) and the restore records. What it
// may not list, it names by label.
func (o *Options) warnLeftBehind(ctx context.Context, c client.Client, rw *v1.RegionWithdrawal) {
	uid := client.MatchingLabels{executor.LabelWithdrawalUID: string(rw.UID)}
	selector := fmt.Sprintf("%s=%s", executor.LabelWithdrawalUID, rw.UID)
	var jobs batchv1.JobList
	if err := c.List(ctx, &jobs, uid); err != nil {
		fmt.Fprintf(o.ErrOut, "Left behind: the export Jobs outside %s (you may not list them: %v; kubectl get jobs -A -l %s)\n", rw.Namespace, err, selector)
	} else {
		for _, j := range jobs.Items {
			if j.Namespace != rw.Namespace {
				fmt.Fprintf(o.ErrOut, "Left behind: export Job %s/%s (kubectl delete job -n %s %s)\n", j.Namespace, j.Name, j.Namespace, j.Name)
			}
		}
	}
	var records corev1.ConfigMapList
	if err := c.List(ctx, &records, client.InNamespace(rw.Namespace), uid, client.HasLabels{executor.LabelRecord}); err != nil {
		fmt.Fprintf(o.ErrOut, "Left behind: the restore records in %s (you may not list them: %v; kubectl get configmaps -n %s -l %s)\n", rw.Namespace, err, rw.Namespace, selector)
		return
	}
	for _, r := range records.Items {
		if executor.NothingToRestore(rw) {
			fmt.Fprintf(o.ErrOut, "Left behind: restore record configmap/%s, with nothing left to restore (kubectl delete configmap -n %s %s)\n", r.Name, r.Namespace, r.Name)
		} else {
			fmt.Fprintf(o.ErrOut, "Kept: restore record configmap/%s (kubectl withdrawal restore %s -n %s puts back what it holds)\n", r.Name, rw.Name, rw.Namespace)
		}
	}
}
