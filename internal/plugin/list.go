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
	"runtime/debug"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
)

// Version is the plugin's version, set at build time with
// -ldflags "-X github.com/ops-dev/region-withdrawal-operator/internal/plugin.Version=v1.2.3";
// empty, the module version the binary was built from.
var Version string

func newVersionCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(o.Out, "kubectl-withdrawal %s\n", version())
			return nil
		},
	}
}

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func newListCommand(o *Options) *cobra.Command {
	var all bool
	printFlags := genericclioptions.NewPrintFlags("").WithTypeSetter(scheme.New())
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List withdrawals: phase, cutoff and next action (-A in every namespace)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.list(cmd.Context(), all, printFlags)
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "List the withdrawals of every namespace")
	printFlags.AddFlags(cmd)
	return cmd
}

func (o *Options) list(ctx context.Context, all bool, printFlags *genericclioptions.PrintFlags) error {
	c, err := o.NewClient()
	if err != nil {
		return err
	}
	var opts []client.ListOption
	if !all {
		ns, err := o.namespace()
		if err != nil {
			return err
		}
		opts = append(opts, client.InNamespace(ns))
	}
	var list v1.RegionWithdrawalList
	if err := c.List(ctx, &list, opts...); err != nil {
		return err
	}
	format := ""
	if printFlags.OutputFormat != nil {
		format = *printFlags.OutputFormat
	}
	if format != "" && format != "wide" {
		p, err := printFlags.ToPrinter()
		if err != nil {
			return err
		}
		if format == "name" {
			for i := range list.Items {
				if err := p.PrintObj(&list.Items[i], o.Out); err != nil {
					return err
				}
			}
			return nil
		}
		return p.PrintObj(&list, o.Out)
	}
	if len(list.Items) == 0 {
		fmt.Fprintln(o.ErrOut, "No withdrawals found.")
		return nil
	}
	return writeList(o.Out, list.Items, all, format == "wide", o.Clock.Now())
}

// writeList prints the table kubectl users expect: NAMESPACE with -A, and
// with -o wide the Ready and DeadlineAtRisk reasons.
func writeList(out interface{ Write([]byte) (int, error) }, items []v1.RegionWithdrawal, all, wide bool, now time.Time) error {
	tw := tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)
	header := "NAME\tREGION\tPHASE\tCUTOFF\tNEXT\tAGE"
	if all {
		header = "NAMESPACE\t" + header
	}
	if wide {
		header += "\tREADY\tDEADLINE"
	}
	fmt.Fprintln(tw, header)
	for _, rw := range items {
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", rw.Name, rw.Spec.Region, orDash(string(rw.Status.Phase)),
			rw.Spec.Cutoff.UTC().Format(time.RFC3339), orDash(oneLine(rw.Status.NextAction, 40)), duration.HumanDuration(now.Sub(rw.CreationTimestamp.Time)))
		if all {
			row = rw.Namespace + "\t" + row
		}
		if wide {
			row += "\t" + conditionReason(&rw, v1.ConditionReady) + "\t" + conditionReason(&rw, v1.ConditionDeadlineAtRisk)
		}
		fmt.Fprintln(tw, row)
	}
	return tw.Flush()
}

func conditionReason(rw *v1.RegionWithdrawal, typ string) string {
	c := meta.FindStatusCondition(rw.Status.Conditions, typ)
	if c == nil {
		return "-"
	}
	return fmt.Sprintf("%s/%s", c.Status, c.Reason)
}
