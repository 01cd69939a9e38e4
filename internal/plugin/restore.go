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
	authorizationv1 "k8s.io/api/authorization/v1"
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
	"github.com/ops-dev/region-withdrawal-operator/internal/tenant"
)

// restoreFlags are restore's own flags.
type restoreFlags struct {
	asRecorded          bool
	allowCrossNamespace bool
}

func newRestoreCommand(o *Options) *cobra.Command {
	f := &restoreFlags{}
	cmd := &cobra.Command{
		Use:   "restore NAME",
		Short: "Put back what a deleted withdrawal changed: routes, replica counts, autoscalers",
		Long: `restore puts back what a withdrawal changed, from the records it kept, after
the withdrawal itself was deleted before its changes were undone: each route
from its snapshot, each drained Deployment and StatefulSet to its recorded
replica count, each set-aside HorizontalPodAutoscaler. The records are deleted
once everything is back. For a withdrawal that still exists, use cancel.

Records are data in the withdrawal's namespace, and whoever may write
ConfigMaps there could forge one. So restore acts as the ServiceAccount the
withdrawal acted as (named in the records; you need the impersonate verb on
it), and writes only where that ServiceAccount may. Records that name none
were written by an operator acting as itself: restore then acts as you, and
only in the withdrawal's own namespace unless --allow-cross-namespace.`,
		Args: cobra.ExactArgs(1),
		// The withdrawal is gone, so there is no name to offer.
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.restore(cmd.Context(), args[0], f)
		},
	}
	cmd.Flags().BoolVar(&f.asRecorded, "as-recorded", true, "act as the ServiceAccount the records name; false acts as you, fenced to the withdrawal's namespace")
	cmd.Flags().BoolVar(&f.allowCrossNamespace, "allow-cross-namespace", false, "when acting as you, also write to namespaces other than the withdrawal's, as the records say")
	return cmd
}

func (o *Options) restore(ctx context.Context, name string, f *restoreFlags) error {
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
	owners, err := recordOwners(ctx, c, ns, name)
	if err != nil {
		return err
	}
	if len(owners) == 0 {
		fmt.Fprintf(o.Out, "nothing to restore: no records of regionwithdrawal %s/%s\n", ns, name)
		return nil
	}
	var problems []string
	for _, owner := range owners {
		actor, err := o.restorer(ctx, c, ns, owner, f)
		if err != nil {
			return err
		}
		more, err := o.restoreOne(ctx, actor, ns, name, owner.uid)
		if err != nil {
			return err
		}
		problems = append(problems, more...)
	}
	if len(problems) > 0 {
		return fmt.Errorf("not everything could be restored; the records are kept: %s", strings.Join(problems, "; "))
	}
	fmt.Fprintf(o.Out, "regionwithdrawal/%s: restored; its records are deleted\n", name)
	return nil
}

// restorer is the client that restores owner's records: one acting as the
// ServiceAccount the records name, or the user's own, fenced to ns.
func (o *Options) restorer(ctx context.Context, c client.Client, ns string, owner recordOwner, f *restoreFlags) (client.Client, error) {
	if owner.serviceAccount != "" && f.asRecorded {
		id := tenant.Identity{Namespace: ns, ServiceAccount: owner.serviceAccount}
		if err := mayImpersonate(ctx, c, id); err != nil {
			return nil, err
		}
		fmt.Fprintf(o.Out, "acting as ServiceAccount %s/%s, as the withdrawal did\n", ns, owner.serviceAccount)
		return o.NewClientAs(id.UserName())
	}
	if f.allowCrossNamespace {
		return c, nil
	}
	return &namespaceFence{Client: c, namespace: ns}, nil
}

// mayImpersonate asks the API server whether the user may act as id, so
// that one who may not is told why, and what to do, before anything is
// tried.
func mayImpersonate(ctx context.Context, c client.Client, id tenant.Identity) error {
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "serviceaccounts", Namespace: id.Namespace, Name: id.ServiceAccount}}}
	if err := c.Create(ctx, review); err != nil {
		return fmt.Errorf("asking whether you may act as ServiceAccount %s/%s: %w", id.Namespace, id.ServiceAccount, err)
	}
	if !review.Status.Allowed {
		return fmt.Errorf("restore acts as ServiceAccount %s/%s, as the withdrawal did, so that it writes only where the withdrawal could: you need the impersonate verb on it, or --as-recorded=false to act as yourself in namespace %s only",
			id.Namespace, id.ServiceAccount, id.Namespace)
	}
	return nil
}

// restoreOne restores what the withdrawal with this UID changed, newest
// step first, and deletes its records once all of it is back. It returns
// what could not be restored.
func (o *Options) restoreOne(ctx context.Context, c client.Client, ns, name string, uid types.UID) ([]string, error) {
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
	gone := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: uid}}
	var problems []string
	for _, s := range steps {
		res, err := s.e.Execute(ctx, gone, planner.RevertAction(v1.StepName(s.name), o.Clock.Now()))
		if err != nil {
			return nil, fmt.Errorf("restoring the %s step of %s/%s (uid %s): %w", s.name, ns, name, uid, err)
		}
		fmt.Fprintf(o.Out, "%s: %s\n", s.name, res.Message)
		if !res.Done || len(res.Irreversible) > 0 {
			problems = append(problems, res.Irreversible...)
			if len(res.Irreversible) == 0 {
				problems = append(problems, s.name+": "+res.Message)
			}
		}
	}
	if len(problems) > 0 {
		return problems, nil // keep the records for another try
	}
	for _, s := range steps {
		if err := executor.DeleteRecords(ctx, c, c, ns, uid, s.kind); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// recordOwner is a withdrawal that left restore records, and the
// ServiceAccount it wrote them as (empty: the operator's own identity).
type recordOwner struct {
	uid            types.UID
	serviceAccount string
}

// recordOwners lists the withdrawals named name whose restore records are
// in ns: a name reused over time may have left several.
func recordOwners(ctx context.Context, c client.Client, ns, name string) ([]recordOwner, error) {
	var list corev1.ConfigMapList
	if err := c.List(ctx, &list, client.InNamespace(ns), client.HasLabels{executor.LabelRecord}); err != nil {
		return nil, fmt.Errorf("listing restore records in %s: %w", ns, err)
	}
	var owners []recordOwner
	for _, cm := range list.Items {
		uid := types.UID(cm.Labels[executor.LabelWithdrawalUID])
		if cm.Annotations[executor.AnnotationWithdrawal] != ns+"/"+name || uid == "" {
			continue
		}
		sa := cm.Annotations[executor.AnnotationServiceAccount]
		i := slices.IndexFunc(owners, func(o recordOwner) bool { return o.uid == uid })
		switch {
		case i < 0:
			owners = append(owners, recordOwner{uid: uid, serviceAccount: sa})
		case owners[i].serviceAccount == "":
			// One record naming a ServiceAccount is enough to act as it: a
			// record without one must not lift the fence for the rest.
			owners[i].serviceAccount = sa
		}
	}
	return owners, nil
}
