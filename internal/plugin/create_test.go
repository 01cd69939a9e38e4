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
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// TestCreateFromSample applies each sample with a cutoff 30 days from the
// (fake) now: the real API server accepts the withdrawal and everything
// it names, a second run leaves those as they are, and a client dry run
// creates nothing.
func TestCreateFromSample(t *testing.T) {
	ctx := context.Background()
	out, err := run(t, "sample-dry", "create", "--from-sample", "pakistan", "--cutoff", "+30d", "--dry-run=client")
	if err != nil || !strings.Contains(out, "kind: RegionWithdrawal") || !strings.Contains(out, "namespace: sample-dry") {
		t.Fatalf("dry run = %v\n%s", err, out)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "sample-dry"}, &corev1.Namespace{}); err == nil {
		t.Fatal("the client dry run created the namespace")
	}

	for _, sample := range []string{"pakistan", "minimal"} {
		ns := "sample-" + sample
		out, err := run(t, ns, "create", "--from-sample", sample, "--cutoff", "+30d")
		if err != nil {
			t.Fatalf("%s: %v\n%s", sample, err, out)
		}
		rw := &v1.RegionWithdrawal{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: sample}, rw); err != nil {
			t.Fatalf("%s: %v\n%s", sample, err, out)
		}
		if !rw.Spec.DryRun {
			t.Errorf("%s: created for real, want a rehearsal by default", sample)
		}
		want := beforeEverything.Add(30 * 24 * time.Hour)
		if got := rw.Spec.Cutoff.Time; got.Before(want) || got.After(want.Add(time.Minute)) {
			t.Errorf("%s: cutoff %s, want 30 days from now (%s), to the minute", sample, got, want)
		}
		if sample == "pakistan" {
			for _, name := range []string{"pk-recipients-0", "pk-recipients-1"} {
				if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &corev1.ConfigMap{}); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
			for _, name := range []string{"pk-webhook-signing", "pk-smtp-credentials", "pk-export-destination", "pk-export-read"} {
				if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &corev1.Secret{}); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
		}
		if err := env.Client.Delete(ctx, rw); err != nil {
			t.Fatal(err)
		}
		out, err = run(t, ns, "create", "--from-sample", sample, "--cutoff", "2027-03-01T00:00:00+05:00")
		if err != nil || !strings.Contains(out, "unchanged") || !strings.Contains(out, "cutoff 2027-03-01T00:00:00+05:00") {
			t.Fatalf("%s again: %v\n%s", sample, err, out)
		}
	}
	for _, bad := range []string{"30d", "+30x", "+d", "tomorrow"} {
		if _, err := run(t, "sample-bad", "create", "--from-sample", "minimal", "--cutoff", bad, "--dry-run=client"); err == nil {
			t.Errorf("--cutoff %s was accepted", bad)
		}
	}
	if _, err := run(t, "sample-bad", "create", "--from-sample", "nosuch", "--dry-run=client"); err == nil {
		t.Error("an unknown sample was accepted")
	}
}
