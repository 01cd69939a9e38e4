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
	"slices"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/drain"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/routing"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
)

func newRestoreCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "restore NAME",
		Short: "Put back what a deleted withdrawal changed: routes, replica counts, autoscalers",
		Long: `restore puts back what a withdrawal changed, from the records it kept, after
the withdrawal itself was deleted before its changes were undone: each route
from its snapshot, each drained Deployment and StatefulSet to its recorded
replica count, each set-aside HorizontalPodAutoscaler. It acts with your own
permissions, so it touches only what you may. The records are deleted once
everything is back. For a withdrawal that still exists, use cancel.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.restore(cmd.Context(), args[0])
		},
	}
}

func (o *Options) restore(ctx context.Context, name string) error {
	c, err := o.NewClient()
	if err != nil {
		return err
	}
	ns, err := o.namespace()
	if err != nil {
		return err
	}
	var rw v1.RegionWithdrawal
	switch err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &rw); {
	case err == nil && rw.DeletionTimestamp.IsZero():
		return fmt.Errorf("regionwithdrawal %s/%s still exists: use `kubectl withdrawal cancel %s`, and the operator restores it", ns, name, name)
	case err != nil && !apierrors.IsNotFound(err):
		return err
	}
	uids, err := recordOwners(ctx, c, ns, name)
	if err != nil {
		return err
	}
	if len(uids) == 0 {
		fmt.Fprintf(o.Out, "nothing to restore: no records of regionwithdrawal %s/%s\n", ns, name)
		return nil
	}
	resolver := &targets.Resolver{Reader: c, Mapper: c.RESTMapper(), Clock: o.Clock}
	steps := []struct {
		name string
		kind string
		e    executor.Executor
	}{
		// Routes first: traffic goes back to the workloads, which come
		// back next (as a cancel does, newest step first).
		{"routing", routing.RecordRoute, routing.New(c, c, resolver, "")},
		{"drain", drain.RecordAutoscaler, drain.New(c, c, resolver, o.Clock, nil)},
	}
	var problems []string
	for _, uid := range uids {
		gone := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: uid}}
		clean := true
		for _, s := range steps {
			res, err := s.e.Execute(ctx, gone, planner.RevertAction(v1.StepName(s.name), o.Clock.Now()))
			if err != nil {
				return fmt.Errorf("restoring the %s step of %s/%s (uid %s): %w", s.name, ns, name, uid, err)
			}
			fmt.Fprintf(o.Out, "%s: %s\n", s.name, res.Message)
			if !res.Done || len(res.Irreversible) > 0 {
				clean = false
				problems = append(problems, res.Irreversible...)
			}
		}
		if !clean {
			continue // keep the records for another try
		}
		for _, s := range steps {
			if err := executor.DeleteRecords(ctx, c, ns, uid, s.kind); err != nil {
				return err
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("not everything could be restored; the records are kept: %s", strings.Join(problems, "; "))
	}
	fmt.Fprintf(o.Out, "regionwithdrawal/%s: restored; its records are deleted\n", name)
	return nil
}

// recordOwners lists the UIDs of the withdrawals named name whose restore
// records are in ns: a name reused over time may have left several.
func recordOwners(ctx context.Context, c client.Client, ns, name string) ([]types.UID, error) {
	var list corev1.ConfigMapList
	if err := c.List(ctx, &list, client.InNamespace(ns), client.HasLabels{executor.LabelRecord}); err != nil {
		return nil, fmt.Errorf("listing restore records in %s: %w", ns, err)
	}
	var uids []types.UID
	for _, cm := range list.Items {
		uid := types.UID(cm.Labels[executor.LabelWithdrawalUID])
		if cm.Annotations[executor.AnnotationWithdrawal] == ns+"/"+name && uid != "" && !slices.Contains(uids, uid) {
			uids = append(uids, uid)
		}
	}
	return uids, nil
}
