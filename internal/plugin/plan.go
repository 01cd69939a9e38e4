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
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/drain"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/export"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients/sources"
	"github.com/ops-dev/region-withdrawal-operator/internal/routing"
	"github.com/ops-dev/region-withdrawal-operator/internal/summarize"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
)

// Plan is what `plan` prints: the timeline, and, against a cluster, what
// each step would touch.
type Plan struct {
	Name      string    `json:"name"`
	Namespace string    `json:"namespace,omitempty"`
	Region    string    `json:"region"`
	TimeZone  string    `json:"timeZone"`
	Cutoff    time.Time `json:"cutoff"`
	// SpecDigest is what an approval of this plan names.
	SpecDigest string        `json:"specDigest"`
	Timeline   []PlanEntry   `json:"timeline"`
	Steps      []StepTargets `json:"steps,omitempty"`
	Blockers   []string      `json:"blockers,omitempty"`
	Offline    bool          `json:"offline"`
	// CutoffHistory is where the cutoff was first set and each time it
	// moved, from the withdrawal's status; nil before the controller saw it.
	CutoffHistory *v1.CutoffHistory `json:"cutoffHistory,omitempty"`
}

// PlanEntry is one dated line of the timeline.
type PlanEntry struct {
	Local  string    `json:"local"`
	UTC    time.Time `json:"utc"`
	Action string    `json:"action"`
	Note   string    `json:"note,omitempty"`
}

// StepTargets is what one step would touch.
type StepTargets struct {
	Step       v1.StepName          `json:"step"`
	Objects    []v1.ObjectReference `json:"objects,omitempty"`
	Recipients int64                `json:"recipients,omitempty"`
	// Summary says what the step would do to them.
	Summary string `json:"summary,omitempty"`
	Note    string `json:"note,omitempty"`
}

func newPlanCommand(o *Options) *cobra.Command {
	var (
		file, format string
		all          bool
	)
	cmd := &cobra.Command{
		Use:   "plan [NAME | -f FILE]",
		Short: "Show the dated timeline in the region's time zone and UTC, and what each step would touch",
		Long: `plan shows the dated timeline of a withdrawal in the region's time zone and
in UTC, what each step waits for, and — against a cluster — every object each
step would touch. With -f it reads a YAML file and needs no cluster.`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: o.completeName,
		RunE: func(cmd *cobra.Command, args []string) error {
			var (
				rw  *v1.RegionWithdrawal
				c   client.Client
				err error
			)
			switch {
			case file != "" && len(args) == 0:
				rw, err = readFile(file)
			case file == "" && len(args) == 1:
				rw, c, err = o.get(cmd.Context(), args[0])
			default:
				return fmt.Errorf("give either a name or -f FILE")
			}
			if err != nil {
				return err
			}
			p, err := BuildPlan(cmd.Context(), rw, c, o.Clock.Now())
			if err != nil {
				return err
			}
			switch format {
			case "":
				return WritePlan(o.Out, p, all)
			case "json":
				enc := json.NewEncoder(o.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(p)
			}
			b, err := yaml.Marshal(p)
			if err != nil {
				return err
			}
			_, err = o.Out.Write(b)
			return err
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "A YAML file with one RegionWithdrawal; no cluster needed")
	cmd.Flags().BoolVar(&all, "all", false, "List every reminder in the text output; -o json and -o yaml always list them all")
	// A plan is not an API object: json and yaml are all it has.
	cmd.Flags().StringVarP(&format, "output", "o", "", "Output format: json or yaml (default: text)")
	cmd.PreRunE = func(*cobra.Command, []string) error {
		if format != "" && format != "json" && format != "yaml" {
			return fmt.Errorf("unknown output format %q: a plan prints as json or yaml", format)
		}
		return nil
	}
	return cmd
}

func readFile(path string) (*v1.RegionWithdrawal, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	rw := &v1.RegionWithdrawal{}
	if err := yaml.UnmarshalStrict(b, rw); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if rw.Kind != "RegionWithdrawal" {
		return nil, fmt.Errorf("%s holds a %q, not a RegionWithdrawal", path, rw.Kind)
	}
	return rw, nil
}

// BuildPlan compiles rw's timeline and, when c is not nil, resolves what each
// step would touch. now only decides which blockers to mention.
func BuildPlan(ctx context.Context, rw *v1.RegionWithdrawal, c client.Client, now time.Time) (*Plan, error) {
	tl, err := planner.Compile(&rw.Spec)
	if err != nil {
		return nil, err
	}
	p := &Plan{Name: rw.Name, Namespace: rw.Namespace, Region: rw.Spec.Region, TimeZone: rw.Spec.TimeZone, Cutoff: tl.Cutoff, SpecDigest: tl.SpecDigest, Offline: c == nil,
		CutoffHistory: rw.Status.Cutoff}
	for _, e := range tl.Entries() {
		p.Timeline = append(p.Timeline, PlanEntry{Local: e.At.In(tl.Location).Format("2006-01-02 15:04 MST Mon"), UTC: e.At.UTC(), Action: e.Name, Note: e.Note})
	}
	if rw.Spec.Suspend {
		p.Blockers = append(p.Blockers, "the withdrawal is suspended: nothing starts until `kubectl withdrawal resume`")
	}
	if rw.Spec.DryRun {
		p.Blockers = append(p.Blockers, "dryRun is true: every step is a rehearsal and touches nothing")
	}
	for _, s := range tl.Steps() {
		if ok, why := tl.Approval(&rw.Spec, s); !ok {
			p.Blockers = append(p.Blockers, fmt.Sprintf("%s is not approved: %s; kubectl withdrawal approve %s %s --spec-digest %s", s, why, rw.Name, s, tl.SpecDigest))
		}
	}
	if !now.Before(tl.Cutoff) {
		p.Blockers = append(p.Blockers, "the cutoff has passed")
	}
	if c == nil {
		return p, nil
	}
	set, err := (&targets.Resolver{Reader: c, Mapper: c.RESTMapper()}).Resolve(ctx, rw)
	if err != nil {
		return nil, err
	}
	// Each step's own Preview says what it would touch: the same code the
	// rehearsal and the real run use.
	if rw.Spec.Notify != nil {
		sum, err := (&sources.Objects{Reader: c}).Each(ctx, rw, func(recipients.Recipient) error { return nil })
		if err != nil {
			p.Steps = append(p.Steps, StepTargets{Step: v1.StepNotify, Note: err.Error()})
		} else {
			p.Steps = append(p.Steps, stepTargets(v1.StepNotify, notify.Preview(rw, sum)))
		}
	}
	if rw.Spec.Export != nil {
		p.Steps = append(p.Steps, stepTargets(v1.StepExport, export.Preview(rw, set)))
	}
	if rw.Spec.Drain != nil {
		p.Steps = append(p.Steps, stepTargets(v1.StepDrain, drain.Preview(rw, set)))
	}
	if rw.Spec.Routing != nil {
		p.Steps = append(p.Steps, stepTargets(v1.StepRouting, routing.Preview(rw, set)))
	}
	return p, nil
}

func stepTargets(step v1.StepName, p executor.Preview) StepTargets {
	return StepTargets{Step: step, Objects: p.Objects, Recipients: p.Recipients, Summary: p.Summary, Note: p.Note}
}

// shownReminders is how many reminders the text plan lists before it
// sums up the rest; the JSON and YAML plans list them all.
const shownReminders = 60

// WritePlan prints p for people: with all false, reminders past the
// sixtieth are summed up in one line.
func WritePlan(w io.Writer, p *Plan, all bool) error {
	where := p.Name
	if p.Namespace != "" {
		where = p.Namespace + "/" + p.Name
	}
	loc, _ := time.LoadLocation(p.TimeZone)
	fmt.Fprintf(w, "RegionWithdrawal %s: region %s, cutoff %s (%s UTC), time zone %s\n",
		where, p.Region, p.Cutoff.In(loc).Format("2006-01-02 15:04 MST"), p.Cutoff.UTC().Format("2006-01-02 15:04"), p.TimeZone)
	// The digest an approval of what follows names (approve --spec-digest).
	fmt.Fprintf(w, "Spec digest %s\n\n", p.SpecDigest)
	if h := p.CutoffHistory; h != nil && h.ChangeCount > 0 {
		writeCutoffHistory(w, h)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "WHEN (%s)\tWHEN (UTC)\tACTION\tNOTE\n", p.TimeZone)
	total := 0
	for _, e := range p.Timeline {
		if e.Action == "notify:reminder" {
			total++
		}
	}
	reminders := 0
	for _, e := range p.Timeline {
		if e.Action == "notify:reminder" && !all {
			if reminders++; reminders > shownReminders {
				if reminders == shownReminders+1 {
					fmt.Fprintf(tw, "%s\t%s\t%s\tand %d more reminders to the final notice (--all lists them)\n",
						e.Local, e.UTC.Format("2006-01-02 15:04"), e.Action, total-shownReminders)
				}
				continue
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Local, e.UTC.Format("2006-01-02 15:04"), e.Action, e.Note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(p.Blockers) > 0 {
		fmt.Fprintln(w, "\nWhat would hold it:")
		for _, b := range p.Blockers {
			fmt.Fprintf(w, "  - %s\n", b)
		}
	}
	if p.Offline {
		fmt.Fprintln(w, "\nObjects each step would touch: run `kubectl withdrawal plan NAME` against the cluster to see them.")
		return nil
	}
	fmt.Fprintln(w, "\nObjects each step would touch:")
	for _, s := range p.Steps {
		var parts []string
		if s.Step == v1.StepNotify {
			parts = append(parts, fmt.Sprintf("%d recipients", s.Recipients))
		}
		for _, o := range s.Objects {
			ref := o.Kind + " " + o.Name
			if o.Namespace != "" {
				ref = o.Kind + " " + o.Namespace + "/" + o.Name
			}
			parts = append(parts, ref)
		}
		if len(parts) == 0 {
			parts = append(parts, "nothing matches the selectors")
		}
		fmt.Fprintf(w, "  %s: %s\n", s.Step, strings.Join(parts, ", "))
		if s.Summary != "" {
			fmt.Fprintf(w, "    would: %s\n", s.Summary)
		}
		if s.Note != "" {
			fmt.Fprintf(w, "    note: %s\n", s.Note)
		}
	}
	return nil
}

// writeCutoffHistory lists where the cutoff was first set, what customers
// were promised, and each change with what it did.
func writeCutoffHistory(w io.Writer, h *v1.CutoffHistory) {
	fmt.Fprintf(w, "Cutoff history: first set for %s", summarize.ShowIn(h.Original.Time, h.OriginalTimeZone))
	if h.Promised != nil {
		fmt.Fprintf(w, "; customers were first told of %s", summarize.ShowIn(h.Promised.Time, h.OriginalTimeZone))
	}
	fmt.Fprintf(w, "; %d changes\n", h.ChangeCount)
	if shown := int32(len(h.Changes)); shown < h.ChangeCount {
		fmt.Fprintf(w, "  (%d older changes are no longer kept in status; the evidence ledger has every one)\n", h.ChangeCount-shown)
	}
	for _, c := range h.Changes {
		fmt.Fprintf(w, "  %d. %s\n", c.Seq, summarize.ChangeMessage(h, c))
	}
	fmt.Fprintln(w)
}
