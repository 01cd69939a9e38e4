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
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// Version is the plugin's version, set at build time with
// -ldflags "-X github.com/ops-dev/region-withdrawal-operator/internal/plugin.Version=v1.2.3";
// empty, the module version the binary was built from (go install
// ...@v1.2.3), else the commit (go build in a work tree), else "(devel)".
// hack/krew sets it for releases.
var Version string

func newVersionCommand(o *Options) *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version, and the RegionWithdrawal API versions the cluster serves",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(o.Out, "kubectl-withdrawal %s\n", version())
			if clientOnly {
				return nil
			}
			served, err := o.servedVersions()
			switch {
			case meta.IsNoMatchError(err):
				fmt.Fprintf(o.Out, "server: the RegionWithdrawal API (%s) is not installed\n", v1.GroupVersion.Group)
			case err != nil:
				// The plugin's version is what was asked for; the
				// cluster's is a bonus.
				fmt.Fprintf(o.ErrOut, "server: not reachable: %v\n", err)
			default:
				fmt.Fprintf(o.Out, "server: RegionWithdrawal %s\n", strings.Join(served, ", "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "Print the plugin's version only; do not ask the cluster")
	return cmd
}

// servedVersions lists the group/versions of RegionWithdrawal the API
// server serves, the preferred first.
func (o *Options) servedVersions() ([]string, error) {
	c, err := o.NewClient()
	if err != nil {
		return nil, err
	}
	ms, err := c.RESTMapper().RESTMappings(v1.GroupVersion.WithKind("RegionWithdrawal").GroupKind())
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.GroupVersionKind.GroupVersion().String())
	}
	return out, nil
}

func version() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	// A build from a work tree with no tag: the commit it was built from.
	var rev, dirty string
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision" && len(s.Value) >= 12:
			rev = s.Value[:12]
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev == "" {
		return "(devel)"
	}
	return "(devel) " + rev + dirty
}

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
