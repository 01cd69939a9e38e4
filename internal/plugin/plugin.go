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

// Package plugin is the `kubectl withdrawal` plugin: list, create from a
// sample, plan, follow, approve, suspend, resume, cancel, restore and
// release RegionWithdrawals, export their evidence, give customers their
// webhook keys and revoke their download links, with kubectl's own
// connection flags
// (--kubeconfig, --context, -n) and output flags (-o).
package plugin

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/tiles"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/s3store"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
)

// Options are shared by every subcommand.
type Options struct {
	genericiooptions.IOStreams
	Flags *genericclioptions.ConfigFlags
	// Clock is the source of "now" for plans; tests inject a fake one.
	Clock clock.PassiveClock
	// NewClient builds the client; tests inject one for envtest.
	NewClient func() (client.WithWatch, error)
	// NewClientAs builds a client that impersonates user (restore acts as
	// the ServiceAccount a withdrawal acted as); tests inject one too.
	NewClientAs func(user string) (client.WithWatch, error)
	// NewClientFor builds a client for a kubeconfig context, and names the
	// namespace to read there (fleet status).
	NewClientFor func(kubeContext string) (client.Client, string, error)
	// S3 reaches the object store a ledger kept as tiles is in
	// (--s3-endpoint, --s3-region, --s3-path-style; credentials from the
	// environment); OpenTiles opens one, and tests inject it.
	S3        s3store.Config
	OpenTiles func(location string) (tiles.Store, error)
}

// NewCommand returns the root command.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams, Flags: genericclioptions.NewConfigFlags(true), Clock: clock.RealClock{}}
	o.NewClient = o.defaultClient
	o.NewClientAs = o.defaultClientAs
	o.NewClientFor = o.defaultClientFor
	o.OpenTiles = o.defaultOpenTiles
	return newRootCommand(o)
}

// newRootCommand builds the command tree around o, which every subcommand
// shares.
func newRootCommand(o *Options) *cobra.Command {
	root := &cobra.Command{
		Use:   "kubectl-withdrawal",
		Short: "Plan, watch and steer RegionWithdrawals",
		Long: `kubectl withdrawal plans, watches and steers RegionWithdrawals.

  kubectl withdrawal list -A                   every withdrawal: phase, cutoff, next action
  kubectl withdrawal create --from-sample pakistan --cutoff +30d   try a sample, dated from today
  kubectl withdrawal plan -f pakistan.yaml     the dated timeline, offline
  kubectl withdrawal plan pakistan             ...and what each step would touch in the cluster
  kubectl withdrawal status pakistan -w        progress and the next action, as it changes, until it ends
  kubectl withdrawal approve pakistan drain    let a step that requires approval run
  kubectl withdrawal suspend|resume pakistan   pause or go on
  kubectl withdrawal cancel pakistan           reverse what can be reversed
  kubectl withdrawal restore pakistan          put back what a deleted withdrawal changed
  kubectl withdrawal release pakistan          let a deleted withdrawal go when its cleanup cannot finish
  kubectl withdrawal evidence export pakistan  the signed evidence ledger, to verify offline
  kubectl withdrawal fleet status pakistan     each cluster's copy, the worst first (--contexts a,b,c)
  kubectl withdrawal webhook-key pakistan c1   the key customer c1 verifies its notices with
  kubectl withdrawal handoff revoke pakistan c1  stop serving customer c1's download link
  kubectl withdrawal version                   the plugin's version, and the API versions the cluster serves

Commands that print a withdrawal take kubectl's -o: json, yaml, name,
jsonpath=..., go-template=... (and wide for list).`,
		SilenceUsage: true,
	}
	o.Flags.AddFlags(root.PersistentFlags())
	root.AddCommand(newPlanCommand(o), newStatusCommand(o), newApproveCommand(o),
		newSetCommand(o, "suspend", "suspended", "Pause a withdrawal: nothing new starts", func(s *v1.RegionWithdrawalSpec) { s.Suspend = true }),
		newSetCommand(o, "resume", "resumed", "Resume a suspended withdrawal; what fell due meanwhile runs once", func(s *v1.RegionWithdrawalSpec) { s.Suspend = false }),
		newCancelCommand(o), newRestoreCommand(o), newEvidenceCommand(o), newWebhookKeyCommand(o), newReleaseCommand(o),
		newListCommand(o), newVersionCommand(o), newCreateCommand(o), newHandoffCommand(o), newFleetCommand(o))
	return root
}

func (o *Options) defaultClient() (client.WithWatch, error) {
	cfg, err := o.Flags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	return client.NewWithWatch(withRate(cfg), client.Options{Scheme: scheme.New()})
}

// withRate lifts client-go's default client-side limit (5 requests a
// second, bursts of 10), which would make an export of a ledger of a
// million statements (a thousand shards, each read twice) take minutes of
// waiting; the API server's own priority and fairness protects it.
func withRate(cfg *rest.Config) *rest.Config {
	if cfg.QPS == 0 && cfg.Burst == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	return cfg
}

func (o *Options) defaultClientAs(user string) (client.WithWatch, error) {
	cfg, err := o.Flags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	cfg = withRate(cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	return client.NewWithWatch(cfg, client.Options{Scheme: scheme.New()})
}

// namespace is -n, or the kubeconfig context's namespace.
func (o *Options) namespace() (string, error) {
	ns, _, err := o.Flags.ToRawKubeConfigLoader().Namespace()
	return ns, err
}

func (o *Options) get(ctx context.Context, name string) (*v1.RegionWithdrawal, client.WithWatch, error) {
	c, err := o.NewClient()
	if err != nil {
		return nil, nil, err
	}
	ns, err := o.namespace()
	if err != nil {
		return nil, nil, err
	}
	rw := &v1.RegionWithdrawal{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, rw); err != nil {
		return nil, nil, err
	}
	return rw, c, nil
}

// update changes a withdrawal's spec, retrying on conflicts.
func (o *Options) update(ctx context.Context, name string, mutate func(*v1.RegionWithdrawalSpec) error) (*v1.RegionWithdrawal, error) {
	var out *v1.RegionWithdrawal
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		rw, c, err := o.get(ctx, name)
		if err != nil {
			return err
		}
		orig := rw.DeepCopy()
		if err := mutate(&rw.Spec); err != nil {
			return err
		}
		// A merge patch of what changed, guarded by the resourceVersion
		// read: an Update would send the whole spec back re-encoded ("1h"
		// becomes "1h0m0s"), which the duties admission policy counts as
		// an edit when an approver or a canceller sends it.
		if err := c.Patch(ctx, rw, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
		out = rw
		return nil
	})
	return out, err
}

func newApproveCommand(o *Options) *cobra.Command {
	var reviewed string
	var out *output
	cmd := &cobra.Command{
		Use:   "approve NAME STEP",
		Short: "Approve a step that requires approval (notify, export, drain, routing), for the spec as it is",
		Long: `Approve a step that requires approval, for the spec as it is now.

The approval names you (as the API server knows you) and the spec's digest.
A later change to what the steps act on (selectors, cutoff, timing,
templates, recipients sources) voids it until the step is approved again.
Pass --spec-digest with the digest 'kubectl withdrawal plan' showed you to
approve only the spec you reviewed.`,
		Args: cobra.ExactArgs(2),
		// Completes the name, then the steps still waiting for an approval.
		ValidArgsFunction: o.completeApprove,
		RunE: func(cmd *cobra.Command, args []string) error {
			step := v1.StepName(args[1])
			if !slices.Contains(v1.AllSteps, step) {
				return fmt.Errorf("unknown step %q: use one of notify, export, drain, routing", args[1])
			}
			printer, err := out.printer()
			if err != nil {
				return err
			}
			me, err := o.whoAmI(cmd.Context())
			if err != nil {
				return err
			}
			var approved v1.Approval
			rw, err := o.update(cmd.Context(), args[0], func(s *v1.RegionWithdrawalSpec) error {
				digest := planner.SpecDigest(s)
				if reviewed != "" && reviewed != digest {
					return fmt.Errorf("the spec has changed since the plan you reviewed: its digest is %s, not %s; review it again (kubectl withdrawal plan %s)", digest, reviewed, args[0])
				}
				approved = planner.Approve(s, me, step)
				return nil
			})
			if err != nil {
				return err
			}
			if printer != nil {
				return out.print(o.Out, printer, rw)
			}
			fmt.Fprintf(o.Out, "regionwithdrawal/%s: %s approved by %s for spec digest %s\n", rw.Name, step, approved.By, approved.SpecDigest)
			return nil
		},
	}
	cmd.Flags().StringVar(&reviewed, "spec-digest", "", "Approve only if the spec's digest is this one (the one 'kubectl withdrawal plan' showed)")
	out = addOutputFlags(cmd, "")
	return cmd
}

// whoAmI asks the API server who the plugin's credentials are: the name
// an approval must carry to pass the chart's admission policy.
func (o *Options) whoAmI(ctx context.Context) (string, error) {
	c, err := o.NewClient()
	if err != nil {
		return "", err
	}
	review := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, review); err != nil {
		return "", fmt.Errorf("asking the API server who you are (an approval names its approver): %w", err)
	}
	return review.Status.UserInfo.Username, nil
}

func newSetCommand(o *Options, verb, done, short string, mutate func(*v1.RegionWithdrawalSpec)) *cobra.Command {
	var out *output
	cmd := &cobra.Command{
		Use:               verb + " NAME",
		Short:             short,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeName,
		RunE: func(cmd *cobra.Command, args []string) error {
			printer, err := out.printer()
			if err != nil {
				return err
			}
			rw, err := o.update(cmd.Context(), args[0], func(s *v1.RegionWithdrawalSpec) error { mutate(s); return nil })
			if err != nil {
				return err
			}
			if printer != nil {
				return out.print(o.Out, printer, rw)
			}
			fmt.Fprintf(o.Out, "regionwithdrawal/%s: %s\n", rw.Name, done)
			return nil
		},
	}
	out = addOutputFlags(cmd, "")
	return cmd
}

func newCancelCommand(o *Options) *cobra.Command {
	var reason string
	var afterCutoff bool
	var out *output
	cmd := &cobra.Command{
		Use:               "cancel NAME",
		Short:             "Cancel a withdrawal: restore routes and replicas, tell customers; cannot be undone",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeName,
		RunE: func(cmd *cobra.Command, args []string) error {
			printer, err := out.printer()
			if err != nil {
				return err
			}
			rw, err := o.update(cmd.Context(), args[0], func(s *v1.RegionWithdrawalSpec) error {
				s.Cancel = true
				if reason != "" {
					s.CancelReason = reason
				}
				if afterCutoff {
					s.AllowCancelAfterCutoff = true
				}
				return nil
			})
			if err != nil {
				return err
			}
			if printer != nil {
				return out.print(o.Out, printer, rw)
			}
			fmt.Fprintf(o.Out, "regionwithdrawal/%s: cancel requested; `kubectl withdrawal status %s` shows what was reversed\n", rw.Name, rw.Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "Why, shown in the cancellation notice and in status")
	cmd.Flags().BoolVar(&afterCutoff, "after-cutoff", false, "Also reverse a withdrawal whose cutoff has passed")
	out = addOutputFlags(cmd, "")
	return cmd
}

func newStatusCommand(o *Options) *cobra.Command {
	var watch bool
	var out *output
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show a withdrawal's progress and next action (-w to follow it until it ends)",
		Long: `status shows a withdrawal's time left to the cutoff, its phase and next
action, each step, the notices and the conditions that need attention.
-o prints the object instead, as kubectl get does.

With -w it prints the status again on every change, until the withdrawal
ends (Completed or Cancelled, for its spec as it is), is deleted, or you
interrupt it. A watch the API server closes, or answers with 410 Gone,
is resumed from a fresh list: no change is missed.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: o.completeName,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			printer, err := out.printer()
			if err != nil {
				return err
			}
			show := func(rw *v1.RegionWithdrawal) error {
				if printer != nil {
					return out.print(o.Out, printer, rw)
				}
				return writeStatus(o.Out, rw, o.Clock.Now())
			}
			rw, c, err := o.get(ctx, args[0])
			if err != nil {
				return err
			}
			if err := show(rw); err != nil || !watch {
				return err
			}
			if ended(rw) {
				fmt.Fprintf(o.ErrOut, "regionwithdrawal/%s has ended (%s): nothing more to follow\n", rw.Name, rw.Status.Phase)
				return nil
			}
			if printer == nil {
				// A blank line between one status and the next.
				text := show
				show = func(rw *v1.RegionWithdrawal) error { fmt.Fprintln(o.Out); return text(rw) }
			}
			return o.follow(ctx, nameListWatch(c, rw.Namespace, rw.Name), rw, show)
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "Print the status again on every change, until the withdrawal ends or is deleted")
	out = addOutputFlags(cmd, "")
	return cmd
}

// ended reports whether a withdrawal has nothing more to do: Completed or
// Cancelled, for the spec as it is. A spec changed since (a cancel after
// completion, say) may start it again, so a phase the controller set for
// an older generation does not count.
func ended(rw *v1.RegionWithdrawal) bool {
	return (rw.Status.Phase == v1.PhaseCompleted || rw.Status.Phase == v1.PhaseCancelled) &&
		rw.Status.ObservedGeneration == rw.Generation
}

// follow calls show on every change of rw through lw until rw ends, is
// deleted, or ctx is done. client-go's UntilWithSync lists and watches
// through an informer, whose reflector resumes a watch the server closes
// from the last resourceVersion it saw, and lists afresh after a 410 Gone:
// no change is missed, however long the wait.
func (o *Options) follow(ctx context.Context, lw cache.ListerWatcher, rw *v1.RegionWithdrawal, show func(*v1.RegionWithdrawal) error) error {
	last := rw.ResourceVersion
	deleted := func() { fmt.Fprintf(o.ErrOut, "regionwithdrawal/%s deleted\n", rw.Name) }
	// Deleted between the get and the first list, it would never send an
	// event: nothing to follow.
	gone := func(store cache.Store) (bool, error) {
		_, exists, err := store.GetByKey(rw.Namespace + "/" + rw.Name)
		if err == nil && !exists {
			deleted()
		}
		return !exists, err
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &v1.RegionWithdrawal{}, gone, func(ev watch.Event) (bool, error) {
		next, ok := ev.Object.(*v1.RegionWithdrawal)
		switch {
		case !ok:
			return false, nil
		case ev.Type == watch.Deleted:
			deleted()
			return true, nil
		case next.ResourceVersion == last:
			return false, nil // the list's copy of what was shown already
		}
		last = next.ResourceVersion
		if err := show(next); err != nil {
			return false, err
		}
		return ended(next), nil
	})
	if errors.Is(err, context.Canceled) || wait.Interrupted(err) {
		return nil // interrupted
	}
	return err
}

// nameListWatch lists and watches one withdrawal by name.
func nameListWatch(c client.WithWatch, ns, name string) *cache.ListWatch {
	only := func(raw metav1.ListOptions) *client.ListOptions {
		return &client.ListOptions{Namespace: ns, FieldSelector: fields.OneTermEqualSelector("metadata.name", name), Raw: &raw}
	}
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			list := &v1.RegionWithdrawalList{}
			return list, c.List(ctx, list, only(opts))
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return c.Watch(ctx, &v1.RegionWithdrawalList{}, only(opts))
		},
	}
}

// CompletionHelper reports whether the binary was started as
// kubectl_complete-withdrawal (a link to kubectl-withdrawal), the name
// kubectl looks for on PATH to complete a plugin's arguments.
func CompletionHelper(argv0 string) bool {
	name := strings.TrimSuffix(filepath.Base(argv0), ".exe")
	return name == "kubectl_complete-withdrawal"
}

// Main runs the plugin with the process's streams.
func Main() int {
	cmd := NewCommand(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	if CompletionHelper(os.Args[0]) {
		// kubectl (1.26 and later) completes `kubectl withdrawal ...` by
		// running kubectl_complete-withdrawal with the words typed so far.
		cmd.SetArgs(append([]string{cobra.ShellCompRequestCmd}, os.Args[1:]...))
	}
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		return 1
	}
	return 0
}

// defaultOpenTiles opens the object store at location (s3://bucket/prefix)
// with --s3-* and the credentials in the environment.
func (o *Options) defaultOpenTiles(location string) (tiles.Store, error) {
	c, err := o.S3.Client(nil, nil)
	if err != nil {
		return nil, err
	}
	return s3store.NewBucket(c, location)
}

// bindS3Flags adds --s3-endpoint, --s3-region and --s3-path-style to cmd
// and its subcommands: how to reach a ledger kept as tiles.
func (o *Options) bindS3Flags(cmd *cobra.Command) {
	fs := flag.NewFlagSet(cmd.Name(), flag.ContinueOnError)
	o.S3.BindFlags(fs)
	cmd.PersistentFlags().AddGoFlagSet(fs)
}

// tileOpener is how the plugin reads ledgers kept as tiles.
func (o *Options) tileOpener() ledger.ReadOption {
	return ledger.WithTileOpener(func(location string) (tiles.Store, error) {
		if o.OpenTiles == nil {
			return nil, ledger.ErrNoTileStore
		}
		return o.OpenTiles(location)
	})
}
