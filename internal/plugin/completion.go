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
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// Shell completion. Cobra's `completion` command writes the script for
// kubectl-withdrawal; kubectl (1.26 and later) completes `kubectl withdrawal`
// through the kubectl_complete-withdrawal executable next to the plugin,
// which calls `kubectl-withdrawal __complete`. Both end up here.

// completionTimeout bounds the API call behind a completion, so that a
// slow or unreachable cluster costs a pause, not a hung shell.
const completionTimeout = 5 * time.Second

// withdrawals lists the withdrawals of the namespace (-n or the context's)
// whose names start with prefix, each described by its region and phase.
func (o *Options) withdrawals(ctx context.Context, prefix string) ([]v1.RegionWithdrawal, error) {
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	c, err := o.NewClient()
	if err != nil {
		return nil, err
	}
	ns, err := o.namespace()
	if err != nil {
		return nil, err
	}
	var list v1.RegionWithdrawalList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var out []v1.RegionWithdrawal
	for _, rw := range list.Items {
		if strings.HasPrefix(rw.Name, prefix) {
			out = append(out, rw)
		}
	}
	return out, nil
}

// completeName completes the first argument with a withdrawal's name and
// nothing after it.
func (o *Options) completeName(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	items, err := o.withdrawals(cmd.Context(), toComplete)
	if err != nil {
		cobra.CompErrorln(err.Error())
		return nil, cobra.ShellCompDirectiveError
	}
	out := make([]cobra.Completion, 0, len(items))
	for _, rw := range items {
		out = append(out, cobra.CompletionWithDesc(rw.Name, fmt.Sprintf("%s, %s", rw.Spec.Region, orDash(string(rw.Status.Phase)))))
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeApprove completes `approve NAME STEP`: the name, then the steps
// that require an approval and do not have one yet, each with its state.
func (o *Options) completeApprove(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	switch len(args) {
	case 0:
		return o.completeName(cmd, args, toComplete)
	case 1:
	default:
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
	defer cancel()
	rw, _, err := o.get(ctx, args[0])
	if apierrors.IsNotFound(err) {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	if err != nil {
		cobra.CompErrorln(err.Error())
		return nil, cobra.ShellCompDirectiveError
	}
	var out []cobra.Completion
	for _, step := range approvable(rw) {
		if strings.HasPrefix(string(step), toComplete) {
			out = append(out, cobra.CompletionWithDesc(string(step), "state "+orDash(string(stepState(rw, step)))))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// approvable lists the steps the spec requires an approval for and that
// are not approved for the spec as it is, in the order they run.
func approvable(rw *v1.RegionWithdrawal) []v1.StepName {
	s := rw.Spec
	required := map[v1.StepName]bool{
		v1.StepNotify:  s.Notify != nil && s.Notify.RequireApproval,
		v1.StepExport:  s.Export != nil && s.Export.RequireApproval,
		v1.StepDrain:   s.Drain != nil && s.Drain.RequireApproval,
		v1.StepRouting: s.Routing != nil && s.Routing.RequireApproval,
	}
	digest := planner.SpecDigest(&s)
	var out []v1.StepName
	for _, step := range v1.AllSteps {
		if a := planner.FindApproval(&s, step); required[step] && (a == nil || a.SpecDigest != digest) {
			out = append(out, step)
		}
	}
	return out
}

func stepState(rw *v1.RegionWithdrawal, step v1.StepName) v1.StepState {
	for _, s := range rw.Status.Steps {
		if s.Name == step {
			return s.State
		}
	}
	return ""
}
