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
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/clockoffset"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
)

// fleetTimeout bounds the read of one cluster: an unreachable one is
// reported, not waited for.
const fleetTimeout = 10 * time.Second

func newFleetCommand(o *Options) *cobra.Command {
	cmd := &cobra.Command{Use: "fleet", Short: "One withdrawal across several clusters (docs/fleet.md)"}
	var contexts []string
	status := &cobra.Command{
		Use:   "status NAME",
		Short: "Each cluster's copy of a withdrawal, the worst first: role, phase, and when its routes were cut",
		Long: `fleet status reads the withdrawal NAME in each kubeconfig context (--contexts,
or every context of the kubeconfig) and prints one row per cluster, the worst
first: unreachable or missing, stalled, at risk, waiting, running, then done.
CUT AT is when that cluster's routes were switched (its routing status's
switchedAt, to the millisecond), and AFTER CUTOFF how long after the cutoff; the
last line gives the spread of the cut times. -n names the
namespace in every context; without it, each context's own.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.fleetStatus(cmd.Context(), args[0], contexts)
		},
	}
	cmd.PersistentFlags().StringSliceVar(&contexts, "contexts", nil, "kubeconfig contexts to read (default: every context)")
	cmd.AddCommand(status, newFleetEvidenceCommand(o, &contexts))
	return cmd
}

// fleetContexts is contexts, or every context of the kubeconfig.
func (o *Options) fleetContexts(contexts []string) ([]string, error) {
	if len(contexts) == 0 {
		raw, err := o.Flags.ToRawKubeConfigLoader().RawConfig()
		if err != nil {
			return nil, err
		}
		for c := range raw.Contexts {
			contexts = append(contexts, c)
		}
		slices.Sort(contexts)
	}
	if len(contexts) == 0 {
		return nil, fmt.Errorf("no kubeconfig contexts: name them with --contexts")
	}
	return contexts, nil
}

// fleetRow is one cluster's copy.
type fleetRow struct {
	context string
	rw      *v1.RegionWithdrawal
	err     error
}

// rank orders rows worst first.
func (r fleetRow) rank() int {
	if r.err != nil || r.rw == nil {
		return 0
	}
	st := &r.rw.Status
	if c := meta.FindStatusCondition(st.Conditions, v1.ConditionStalled); c != nil && c.Status == "True" || st.Phase == v1.PhaseStalled {
		return 1
	}
	if c := meta.FindStatusCondition(st.Conditions, v1.ConditionDeadlineAtRisk); c != nil && c.Status == "True" {
		return 2
	}
	switch st.Phase {
	case v1.PhaseWaitingForApproval, v1.PhaseSuspended:
		return 3
	case v1.PhaseInProgress, v1.PhaseCancelling:
		return 4
	case v1.PhaseCancelled, v1.PhaseCompleted:
		return 6
	}
	return 5
}

// cutAt is when the copy's routes were switched for real: to the
// microsecond when the routing status has it, else the step's finishedAt,
// to the second (precise says which).
func cutAt(rw *v1.RegionWithdrawal) (t *time.Time, precise bool) {
	for _, s := range rw.Status.Steps {
		if s.Name == v1.StepRouting && s.State == v1.StepSucceeded && !s.DryRun && s.FinishedAt != nil {
			if s.Routing != nil && s.Routing.SwitchedAt != nil {
				at := s.Routing.SwitchedAt.Time
				return &at, true
			}
			at := s.FinishedAt.Time
			return &at, false
		}
	}
	return nil, false
}

func (o *Options) fleetStatus(ctx context.Context, name string, contexts []string) error {
	contexts, err := o.fleetContexts(contexts)
	if err != nil {
		return err
	}
	rows := make([]fleetRow, len(contexts))
	var wg sync.WaitGroup
	for i, kc := range contexts {
		wg.Go(func() {
			rctx, cancel := context.WithTimeout(ctx, fleetTimeout)
			defer cancel()
			rw, err := o.readIn(rctx, kc, name)
			rows[i] = fleetRow{context: kc, rw: rw, err: err}
		})
	}
	wg.Wait()
	slices.SortStableFunc(rows, func(a, b fleetRow) int {
		if d := a.rank() - b.rank(); d != 0 {
			return d
		}
		return strings.Compare(a.context, b.context)
	})

	tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTEXT\tROLE\tPHASE\tREADY\tCUT AT\tAFTER CUTOFF\tCLOCK\tPROBLEM")
	var cuts []time.Time
	for _, r := range rows {
		if r.err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t%s\n", r.context, oneLine(r.err.Error(), 120))
			continue
		}
		st := &r.rw.Status
		role, clk := string(v1.FleetCoordinator), "-"
		if f := st.Fleet; f != nil {
			if f.Role != "" {
				role = string(f.Role)
			}
			if f.ClockOffset != nil {
				// To the millisecond: the measurement is no finer.
				clk = clockoffset.Signed(f.ClockOffset.Duration.Round(time.Millisecond))
				if f.ClockOffsetWithin != nil {
					clk += fmt.Sprintf(" ±%v", f.ClockOffsetWithin.Duration.Round(time.Millisecond))
				}
			}
		}
		phase, ready, problem := string(st.Phase), "-", ""
		if phase == "" {
			phase = "-"
		}
		if c := meta.FindStatusCondition(st.Conditions, v1.ConditionReady); c != nil {
			ready = string(c.Status)
			if c.Status != "True" {
				problem = c.Reason + ": " + c.Message
			}
		}
		if c := meta.FindStatusCondition(st.Conditions, v1.ConditionStalled); c != nil && c.Status == "True" {
			problem = c.Reason + ": " + c.Message
		}
		cut, after := "-", "-"
		if t, precise := cutAt(r.rw); t != nil {
			cuts = append(cuts, *t)
			cut, after = t.UTC().Format("2006-01-02 15:04:05 MST"), t.Sub(r.rw.Spec.Cutoff.Time).String()
			if precise {
				cut, after = t.UTC().Format("2006-01-02 15:04:05.000 MST"), t.Sub(r.rw.Spec.Cutoff.Time).Round(time.Millisecond).String()
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.context, role, phase, ready, cut, after, clk, oneLine(problem, 120))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	switch {
	case len(cuts) == 0:
		fmt.Fprintf(o.Out, "\nNo cluster has cut its routes yet (%d clusters).\n", len(rows))
	default:
		slices.SortFunc(cuts, func(a, b time.Time) int { return a.Compare(b) })
		fmt.Fprintf(o.Out, "\n%d of %d clusters have cut their routes; spread %s (first %s, last %s).\n", len(cuts), len(rows),
			cuts[len(cuts)-1].Sub(cuts[0]).Round(time.Millisecond), cuts[0].UTC().Format("15:04:05.000"), cuts[len(cuts)-1].UTC().Format("15:04:05.000"))
	}
	return nil
}

// readIn reads the withdrawal name in kubeconfig context kc.
func (o *Options) readIn(ctx context.Context, kc, name string) (*v1.RegionWithdrawal, error) {
	c, ns, err := o.NewClientFor(kc)
	if err != nil {
		return nil, err
	}
	var rw v1.RegionWithdrawal
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &rw); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("no withdrawal %s in namespace %s", name, ns)
		}
		return nil, err
	}
	return &rw, nil
}

// defaultClientFor builds a client for kubeconfig context kc, with the
// namespace -n names, or the context's own. The credential flags (--user,
// --token, --as, client certificates, --request-timeout) apply in every
// context; the flags that name one server or cluster do not.
func (o *Options) defaultClientFor(kc string) (client.Client, string, error) {
	f := genericclioptions.NewConfigFlags(false)
	g := o.Flags
	f.KubeConfig, f.Namespace, f.AuthInfoName, f.BearerToken = g.KubeConfig, g.Namespace, g.AuthInfoName, g.BearerToken
	f.Impersonate, f.ImpersonateUID, f.ImpersonateGroup, f.ImpersonateUserExtra = g.Impersonate, g.ImpersonateUID, g.ImpersonateGroup, g.ImpersonateUserExtra
	f.Username, f.Password, f.CertFile, f.KeyFile, f.Timeout = g.Username, g.Password, g.CertFile, g.KeyFile, g.Timeout
	f.Context = &kc
	cfg, err := f.ToRESTConfig()
	if err != nil {
		return nil, "", err
	}
	cfg = withRate(cfg)
	if cfg.Timeout == 0 {
		cfg.Timeout = fleetTimeout
	}
	ns, _, err := f.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	return c, ns, err
}
