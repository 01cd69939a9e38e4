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
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/config/samples"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

type createFlags struct {
	sample, cutoff, dryRun string
	rehearse               bool
	out                    *output
}

func newCreateCommand(o *Options) *cobra.Command {
	f := &createFlags{}
	cmd := &cobra.Command{
		Use:   "create --from-sample pakistan|minimal [--cutoff +30d|RFC3339]",
		Short: "Create a sample withdrawal, and every object it names, with a cutoff computed now",
		Long: `create applies one of the samples shipped with the operator (pakistan, the full
reference, or minimal) with its cutoff set when you run it: --cutoff +30d is
30 days from now (rounded up to the minute, written in the sample's time
zone; +72h and +90m work too), or give an RFC 3339 time. Every object the
sample names (its namespace, recipient lists, placeholder Secrets, the
export Job's ServiceAccount and claim) is created first, or left as it is
if it exists; each line says which, as kubectl does. -n puts all of it in
another namespace. The withdrawal is a rehearsal (spec.dryRun: true: it
records what each step would do and touches nothing) unless
--rehearse=false.

The Pakistan sample announces 30 days before its cutoff: with a cutoff
closer than that, the announcement (and any moment the sample counts back
further than the cutoff is away) is already due, and a warning says so.

The samples' hosts are example.com names and their Secrets placeholders:
replace them before anything real is sent.`,
		Example: `  kubectl withdrawal create --from-sample pakistan --cutoff +30d -n bes-pk
  kubectl withdrawal create --from-sample minimal --cutoff 2027-03-01T00:00:00+05:00 --dry-run=server
  kubectl withdrawal create --from-sample pakistan --dry-run=client -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.create(cmd.Context(), f, cmd.Flags().Changed("namespace"))
		},
	}
	cmd.Flags().StringVar(&f.sample, "from-sample", "", "the sample: pakistan or minimal")
	cmd.Flags().StringVar(&f.cutoff, "cutoff", "+30d", "the cutoff: +Nd, +Nh, +Nm from now, or an RFC 3339 time")
	cmd.Flags().BoolVar(&f.rehearse, "rehearse", true, "create the withdrawal as a rehearsal (spec.dryRun: true); false carries it out for real")
	cmd.Flags().StringVar(&f.dryRun, "dry-run", "none", "none, client (print what would be created, ask nothing) or server (the API server checks each object and keeps none)")
	_ = cmd.MarkFlagRequired("from-sample")
	_ = cmd.RegisterFlagCompletionFunc("from-sample", cobra.FixedCompletions([]string{"pakistan", "minimal"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("dry-run", cobra.FixedCompletions([]string{"none", "client", "server"}, cobra.ShellCompDirectiveNoFileComp))
	f.out = addOutputFlags(cmd, "")
	return cmd
}

func (o *Options) create(ctx context.Context, f *createFlags, namespaceSet bool) error {
	suffix, ok := map[string]string{"none": "", "client": " (dry run)", "server": " (server dry run)"}[f.dryRun]
	if !ok {
		return fmt.Errorf("--dry-run=%s: use none, client or server", f.dryRun)
	}
	printer, err := f.out.printer()
	if err != nil {
		return err
	}
	objs, err := sampleObjects(f.sample)
	if err != nil {
		return err
	}
	rw := objs[len(objs)-1]
	if err := o.dateSample(rw, f); err != nil {
		return err
	}
	if namespaceSet {
		ns, err := o.namespace()
		if err != nil {
			return err
		}
		for _, obj := range objs {
			if obj.GetKind() == "Namespace" {
				obj.SetName(ns)
			} else {
				obj.SetNamespace(ns)
			}
		}
	}
	// Each object as kubectl reports it: "configmap/x created", or the
	// object itself with -o.
	report := func(obj *unstructured.Unstructured, operation string) error {
		if printer != nil {
			return f.out.print(o.Out, printer, obj)
		}
		return (&printers.NamePrinter{Operation: operation + suffix}).PrintObj(obj, o.Out)
	}
	if f.dryRun == "client" {
		for _, obj := range objs {
			if err := report(obj, "created"); err != nil {
				return err
			}
		}
		return nil
	}
	c, err := o.NewClient()
	if err != nil {
		return err
	}
	var opts []client.CreateOption
	if f.dryRun == "server" {
		opts = append(opts, client.DryRunAll)
	}
	for _, obj := range objs {
		err := c.Create(ctx, obj, opts...)
		switch {
		case apierrors.IsAlreadyExists(err) && obj != rw:
			// Created by an earlier run, or by someone else: left as it
			// is. The withdrawal itself is not: it would be a different
			// one, with another cutoff.
			existing := &unstructured.Unstructured{}
			existing.SetGroupVersionKind(obj.GroupVersionKind())
			if err := c.Get(ctx, client.ObjectKeyFromObject(obj), existing); err != nil {
				return fmt.Errorf("reading %s %s: %w", obj.GetKind(), obj.GetName(), err)
			}
			err = report(existing, "unchanged")
		case f.dryRun == "server" && namespaceMissing(err):
			ns := obj.GetNamespace()
			return fmt.Errorf("--dry-run=server: namespace %s does not exist yet, and the API server checks objects only in a namespace that does: create it first (kubectl create namespace %s), or use --dry-run=client", ns, ns)
		case err != nil:
			return fmt.Errorf("creating %s %s: %w", obj.GetKind(), obj.GetName(), err)
		default:
			err = report(obj, "created")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// namespaceMissing reports whether err says an object's namespace does
// not exist.
func namespaceMissing(err error) bool {
	var status apierrors.APIStatus
	if !apierrors.IsNotFound(err) || !errors.As(err, &status) {
		return false
	}
	d := status.Status().Details
	return d != nil && d.Kind == "namespaces"
}

// dateSample sets the sample withdrawal's cutoff from --cutoff and the
// clock, and spec.dryRun unless --rehearse=false; it warns, on stderr,
// about every moment of the timeline that is due already.
func (o *Options) dateSample(rw *unstructured.Unstructured, f *createFlags) error {
	now := o.Clock.Now()
	cutoff, err := cutoffFrom(f.cutoff, now, rw)
	if err != nil {
		return err
	}
	if err := unstructured.SetNestedField(rw.Object, cutoff, "spec", "cutoff"); err != nil {
		return err
	}
	if f.rehearse {
		if err := unstructured.SetNestedField(rw.Object, true, "spec", "dryRun"); err != nil {
			return err
		}
	}
	var typed v1.RegionWithdrawal
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(rw.Object, &typed); err != nil {
		return fmt.Errorf("reading the sample %s: %w", f.sample, err)
	}
	tl, err := planner.Compile(&typed.Spec)
	if err != nil {
		return fmt.Errorf("the sample %s with --cutoff %s: %w", f.sample, f.cutoff, err)
	}
	fmt.Fprintf(o.ErrOut, "Cutoff %s (%s)\n", cutoff, timeLeft(tl.Cutoff.Sub(now)))
	if late := dueAlready(tl.Entries(), now); len(late) > 0 {
		fmt.Fprintf(o.ErrOut, "Warning: with this cutoff, moments of the sample's timeline are due already: %s. The operator runs them at once, late; a later --cutoff keeps the sample's timeline.\n", strings.Join(late, ", "))
	}
	return nil
}

// dueAlready names the timeline's moments before now, with a count for
// those that repeat ("3 × notify:reminder").
func dueAlready(entries []planner.Entry, now time.Time) []string {
	counts := map[string]int{}
	var names []string
	for _, e := range entries {
		if !e.At.Before(now) {
			continue
		}
		if counts[e.Name] == 0 {
			names = append(names, e.Name)
		}
		counts[e.Name]++
	}
	out := slices.Clone(names)
	for i, n := range names {
		if counts[n] > 1 {
			out[i] = fmt.Sprintf("%d × %s", counts[n], n)
		}
	}
	return out
}

// sampleObjects reads a sample: what it names first, the withdrawal last.
func sampleObjects(name string) ([]*unstructured.Unstructured, error) {
	main, err := samples.FS.ReadFile(name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no sample %q: there are pakistan and minimal", name)
	}
	support, err := samples.FS.ReadFile("support/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("the sample %q ships without what it names: %w", name, err)
	}
	objs, err := decodeAll(support)
	if err != nil {
		return nil, err
	}
	rws, err := decodeAll(main)
	if err != nil {
		return nil, err
	}
	if len(rws) != 1 || rws[0].GetKind() != "RegionWithdrawal" {
		return nil, fmt.Errorf("the sample %q is not one RegionWithdrawal", name)
	}
	return append(objs, rws[0]), nil
}

func decodeAll(b []byte) ([]*unstructured.Unstructured, error) {
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var out []*unstructured.Unstructured
	for {
		var obj map[string]any
		if err := d.Decode(&obj); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, err
		}
		if len(obj) > 0 {
			out = append(out, &unstructured.Unstructured{Object: obj})
		}
	}
}

// cutoffFrom reads --cutoff: +Nd, +Nh or +Nm from now, rounded up to the
// minute and written in the sample's time zone, or an RFC 3339 time.
func cutoffFrom(s string, now time.Time, rw *unstructured.Unstructured) (string, error) {
	rel, ok := strings.CutPrefix(s, "+")
	if !ok {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return "", fmt.Errorf("--cutoff %q: give +30d, +72h, +90m or an RFC 3339 time", s)
		}
		return t.Format(time.RFC3339), nil
	}
	unit := map[byte]time.Duration{'d': 24 * time.Hour, 'h': time.Hour, 'm': time.Minute}
	var n int
	var err error
	if len(rel) > 1 {
		n, err = strconv.Atoi(rel[:len(rel)-1])
	}
	u, known := unit[rel[len(rel)-1]]
	if len(rel) < 2 || err != nil || !known || n <= 0 {
		return "", fmt.Errorf("--cutoff %q: give +30d, +72h, +90m or an RFC 3339 time", s)
	}
	t := now.Add(time.Duration(n) * u).Truncate(time.Minute).Add(time.Minute)
	if tz, _, _ := unstructured.NestedString(rw.Object, "spec", "timeZone"); tz != "" {
		if loc, err := time.LoadLocation(tz); err == nil {
			t = t.In(loc)
		}
	}
	return t.Format(time.RFC3339), nil
}
