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
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ops-dev/region-withdrawal-operator/config/samples"
)

type createFlags struct {
	sample, cutoff, dryRun string
	rehearse               bool
}

func newCreateCommand(o *Options) *cobra.Command {
	f := &createFlags{}
	cmd := &cobra.Command{
		Use:   "create --from-sample NAME --cutoff +30d",
		Short: "Create a sample withdrawal, and what it names, with a cutoff computed now",
		Long: `create applies one of the samples shipped with the operator (pakistan, the full
reference, or minimal) with its cutoff set when you run it: --cutoff +30d is
30 days from now (rounded up to the minute, written in the sample's time
zone), or give an RFC 3339 time. The objects the sample names (its
namespace, recipient lists, placeholder Secrets) are created beside it, or
left as they are if they exist. -n puts all of it in another namespace.
The withdrawal is a rehearsal (spec.dryRun: true: it records what each step
would do and touches nothing) unless --rehearse=false.

The samples' hosts are example.com names and their Secrets placeholders:
replace them before anything real is sent.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.create(cmd.Context(), f, cmd.Flags().Changed("namespace"))
		},
	}
	cmd.Flags().StringVar(&f.sample, "from-sample", "", "the sample: pakistan or minimal")
	cmd.Flags().StringVar(&f.cutoff, "cutoff", "+30d", "the cutoff: +Nd, +Nh, +Nm from now, or an RFC 3339 time")
	cmd.Flags().BoolVar(&f.rehearse, "rehearse", true, "create the withdrawal as a rehearsal (spec.dryRun: true); false carries it out for real")
	cmd.Flags().StringVar(&f.dryRun, "dry-run", "none", "none, client (print what would be created) or server (ask the API server to check it, create nothing)")
	_ = cmd.MarkFlagRequired("from-sample")
	return cmd
}

func (o *Options) create(ctx context.Context, f *createFlags, namespaceSet bool) error {
	objs, err := sampleObjects(f.sample)
	if err != nil {
		return err
	}
	rw := objs[len(objs)-1]
	cutoff, err := cutoffFrom(f.cutoff, o.Clock.Now(), rw)
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
	switch f.dryRun {
	case "client":
		for _, obj := range objs {
			b, err := yaml.Marshal(obj.Object)
			if err != nil {
				return err
			}
			fmt.Fprintf(o.Out, "---\n%s", b)
		}
		return nil
	case "none", "server":
	default:
		return fmt.Errorf("--dry-run=%s: use none, client or server", f.dryRun)
	}
	c, err := o.NewClient()
	if err != nil {
		return err
	}
	var opts []client.CreateOption
	suffix := ""
	if f.dryRun == "server" {
		opts, suffix = append(opts, client.DryRunAll), " (server dry run)"
	}
	for i, obj := range objs {
		kind := strings.ToLower(obj.GetKind())
		if i == len(objs)-1 {
			kind = "regionwithdrawal.withdrawal.ops.dev"
		}
		err := c.Create(ctx, obj, opts...)
		switch {
		case apierrors.IsAlreadyExists(err) && i < len(objs)-1:
			fmt.Fprintf(o.Out, "%s/%s unchanged (it exists)\n", kind, obj.GetName())
		case err != nil:
			return fmt.Errorf("creating %s/%s: %w", kind, obj.GetName(), err)
		case i == len(objs)-1:
			fmt.Fprintf(o.Out, "%s/%s created, cutoff %s%s\n", kind, obj.GetName(), cutoff, suffix)
		default:
			fmt.Fprintf(o.Out, "%s/%s created%s\n", kind, obj.GetName(), suffix)
		}
	}
	return nil
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
