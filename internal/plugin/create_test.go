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
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// TestCreateFromSample applies each sample in a fresh namespace with a
// cutoff 30 days from the (fake) now: the real API server accepts the
// withdrawal, as its CRD validates it, and every object the sample names is
// there; a second run leaves those as they are.
func TestCreateFromSample(t *testing.T) {
	ctx := context.Background()
	for _, sample := range []string{"pakistan", "minimal"} {
		t.Run(sample, func(t *testing.T) {
			ns := "sample-" + sample
			out, err := run(t, ns, "create", "--from-sample", sample, "--cutoff", "+30d")
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			// Everything the sample names, created before the withdrawal.
			want := map[string]client.Object{"namespace/" + ns: &corev1.Namespace{}}
			if sample == "pakistan" {
				for _, name := range []string{"pk-recipients-0", "pk-recipients-1"} {
					want["configmap/"+name] = &corev1.ConfigMap{}
				}
				for _, name := range []string{"region-withdrawal-webhook", "region-withdrawal-smtp", "region-withdrawal-export", "region-withdrawal-headers"} {
					want["secret/"+name] = &corev1.Secret{}
				}
				want["serviceaccount/region-withdrawal-exporter"] = &corev1.ServiceAccount{}
				want["persistentvolumeclaim/customer-data"] = &corev1.PersistentVolumeClaim{}
			}
			for ref, obj := range want {
				kind, name, _ := strings.Cut(ref, "/")
				key := client.ObjectKey{Namespace: ns, Name: name}
				if kind == "namespace" {
					key = client.ObjectKey{Name: name}
				}
				if err := env.Client.Get(ctx, key, obj); err != nil {
					t.Errorf("%s: %v", ref, err)
				}
				if !strings.Contains(out, ref+" created\n") {
					t.Errorf("no %q in:\n%s", ref+" created", out)
				}
			}
			if !strings.HasSuffix(out, "regionwithdrawal.withdrawal.ops.dev/"+sample+" created\n") {
				t.Errorf("the withdrawal is not created last:\n%s", out)
			}
			rw := &v1.RegionWithdrawal{}
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: sample}, rw); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !rw.Spec.DryRun {
				t.Errorf("created for real, want a rehearsal by default")
			}
			cutoff := beforeEverything.Add(30 * 24 * time.Hour)
			if got := rw.Spec.Cutoff.Time; got.Before(cutoff) || got.After(cutoff.Add(time.Minute)) {
				t.Errorf("cutoff %s, want 30 days from now (%s), to the minute", got, cutoff)
			}
			// The sample's own moments all fall after now: the
			// announcement 30 days ahead is not late.
			tl, err := planner.Compile(&rw.Spec)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range tl.Entries() {
				if e.At.Before(beforeEverything) {
					t.Errorf("%s is due %s, before now (%s)", e.Name, e.At, beforeEverything)
				}
			}
			if strings.Contains(out, "Warning") {
				t.Errorf("a warning with the default cutoff:\n%s", out)
			}

			// Again, with another cutoff: what the sample names is left as
			// it is, the withdrawal (deleted meanwhile) created anew.
			if err := env.Client.Delete(ctx, rw); err != nil {
				t.Fatal(err)
			}
			out, err = run(t, ns, "create", "--from-sample", sample, "--cutoff", "2027-03-01T00:00:00+05:00")
			if err != nil || !strings.Contains(out, "namespace/"+ns+" unchanged\n") || !strings.Contains(out, "Cutoff 2027-03-01T00:00:00+05:00") {
				t.Fatalf("again: %v\n%s", err, out)
			}
			// A withdrawal that exists is not overwritten.
			if out, err := run(t, ns, "create", "--from-sample", sample); err == nil || !strings.Contains(err.Error(), "already exists") {
				t.Fatalf("over an existing withdrawal: %v\n%s", err, out)
			}
		})
	}
}

// TestCreateFromSampleDryRun: --dry-run=client -o yaml prints every object,
// dated, and creates nothing; --dry-run=server has the API server check
// them in an existing namespace and keeps none, and says what to do in one
// that does not exist.
func TestCreateFromSampleDryRun(t *testing.T) {
	ctx := context.Background()
	out, err := run(t, "sample-dry", "create", "--from-sample", "pakistan", "--cutoff", "+72h", "--dry-run=client", "-o", "yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	yamlOut := out[strings.Index(out, "apiVersion:"):] // after the notes on stderr
	var kinds []string
	d := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(yamlOut), 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := d.Decode(&obj.Object); err != nil {
			break
		}
		if obj.GetKind() != "Namespace" && obj.GetNamespace() != "sample-dry" {
			t.Errorf("%s %s in namespace %q, want sample-dry", obj.GetKind(), obj.GetName(), obj.GetNamespace())
		}
		if obj.GetKind() == "RegionWithdrawal" {
			cutoff, _, _ := unstructured.NestedString(obj.Object, "spec", "cutoff")
			if want := beforeEverything.Add(72*time.Hour + time.Minute).In(karachi(t)).Format(time.RFC3339); cutoff != want {
				t.Errorf("cutoff %s, want %s", cutoff, want)
			}
		}
		kinds = append(kinds, obj.GetKind())
	}
	if len(kinds) != 10 || kinds[0] != "Namespace" || kinds[len(kinds)-1] != "RegionWithdrawal" {
		t.Fatalf("printed %v, want 10 objects, the namespace first, the withdrawal last:\n%s", kinds, out)
	}
	// 72 hours ahead, the announcement and most of the sample's timeline
	// are due already: the warning says so.
	if !strings.Contains(out, "due already: notify:announcement, 4 × notify:reminder, export.") {
		t.Errorf("no warning of what is due already:\n%s", out)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "sample-dry"}, &corev1.Namespace{}); err == nil {
		t.Fatal("the client dry run created the namespace")
	}

	out, err = run(t, "sample-dry", "create", "--from-sample", "minimal", "--dry-run=server")
	if err == nil || !strings.Contains(err.Error(), "namespace sample-dry does not exist yet") {
		t.Fatalf("server dry run in a namespace that does not exist: %v\n%s", err, out)
	}
	setup(t, "sample-dry-server")
	out, err = run(t, "sample-dry-server", "create", "--from-sample", "pakistan", "--dry-run=server")
	if err != nil || !strings.Contains(out, "namespace/sample-dry-server unchanged (server dry run)\n") ||
		!strings.Contains(out, "secret/region-withdrawal-smtp created (server dry run)\n") ||
		!strings.HasSuffix(out, "regionwithdrawal.withdrawal.ops.dev/pakistan created (server dry run)\n") {
		t.Fatalf("server dry run: %v\n%s", err, out)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "sample-dry-server", Name: "pakistan"}, &v1.RegionWithdrawal{}); err == nil {
		t.Fatal("the server dry run created the withdrawal")
	}
}

// TestCreateRefusesBadInput: a cutoff or sample that does not exist is an
// error before anything is asked of the cluster.
func TestCreateRefusesBadInput(t *testing.T) {
	for _, bad := range []string{"30d", "+30x", "+d", "+0d", "tomorrow"} {
		if _, err := run(t, "sample-bad", "create", "--from-sample", "minimal", "--cutoff", bad, "--dry-run=client"); err == nil {
			t.Errorf("--cutoff %s was accepted", bad)
		}
	}
	for _, args := range [][]string{
		{"create", "--from-sample", "nosuch", "--dry-run=client"},
		{"create", "--from-sample", "minimal", "--dry-run=maybe"},
		{"create", "--from-sample", "minimal", "-o", "bogus"},
	} {
		if _, err := run(t, "sample-bad", args...); err == nil {
			t.Errorf("%v was accepted", args)
		}
	}
}

func karachi(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Karachi")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
