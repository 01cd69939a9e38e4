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
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

func newListCommand(o *Options) *cobra.Command {
	var all bool
	var out *output
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List withdrawals: region, phase, cutoff, next action (-A in every namespace)",
		Long: `list prints one line per withdrawal: its region, phase, cutoff (in the
region's time zone, as status shows it), the next action and when it is
due, and its age. -A lists every namespace's, with a NAMESPACE column;
-o wide adds the Ready and DeadlineAtRisk conditions; -o json, yaml, name,
jsonpath=... and go-template=... print the objects, as kubectl get does.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.list(cmd.Context(), all, out)
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "List the withdrawals of every namespace")
	out = addOutputFlags(cmd, "")
	return cmd
}

func (o *Options) list(ctx context.Context, all bool, out *output) error {
	printer, err := out.printer()
	if err != nil {
		return err
	}
	c, err := o.NewClient()
	if err != nil {
		return err
	}
	ns := ""
	if !all {
		if ns, err = o.namespace(); err != nil {
			return err
		}
	}
	var list v1.RegionWithdrawalList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return err
	}
	if printer != nil {
		return out.print(o.Out, printer, &list)
	}
	if len(list.Items) == 0 {
		if all {
			fmt.Fprintln(o.ErrOut, "No withdrawals found.")
		} else {
			fmt.Fprintf(o.ErrOut, "No withdrawals found in %s namespace.\n", ns)
		}
		return nil
	}
	return writeList(o.Out, list.Items, all, out.format() == "wide", o.Clock.Now())
}

// writeList prints the table kubectl users expect: NAMESPACE with -A, and
// with -o wide the Ready and DeadlineAtRisk conditions. The cutoff and the
// next action read as in status: in the region's time zone, with the time
// left.
func writeList(w io.Writer, items []v1.RegionWithdrawal, all, wide bool, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	header := "NAME\tREGION\tPHASE\tCUTOFF\tNEXT\tAGE"
	if all {
		header = "NAMESPACE\t" + header
	}
	if wide {
		header += "\tREADY\tDEADLINE"
	}
	fmt.Fprintln(tw, header)
	for _, rw := range items {
		loc, err := time.LoadLocation(rw.Spec.TimeZone)
		if err != nil {
			loc = time.UTC
		}
		next := "-"
		if a := rw.Status.NextAction; a != "" {
			next = oneLine(a, 40)
			if at := rw.Status.NextActionAt; at != nil {
				next += " " + timeLeft(at.Sub(now))
			}
		}
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", rw.Name, rw.Spec.Region, orDash(string(rw.Status.Phase)),
			rw.Spec.Cutoff.In(loc).Format("2006-01-02 15:04 MST"), next, duration.HumanDuration(now.Sub(rw.CreationTimestamp.Time)))
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
