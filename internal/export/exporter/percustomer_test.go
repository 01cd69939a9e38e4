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

package exporter

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"sigs.k8s.io/yaml"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/export/result"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
)

// customers makes n customer directories under each of jobs sources, a
// key list per source, and returns each customer's identity. The customer
// named keyless has no key; ghost is listed without data.
func customers(t *testing.T, jobs, n int, keyless, ghost string) (sources, lists []string, ids map[string]*age.X25519Identity) {
	t.Helper()
	ids = map[string]*age.X25519Identity{}
	for j := range jobs {
		src := t.TempDir()
		var list strings.Builder
		list.WriteString("id,name,ageRecipient\n")
		for i := j * n / jobs; i < (j+1)*n/jobs; i++ {
			c := fmt.Sprintf("c-%05d", i)
			writeFile(t, filepath.Join(src, c, "orders.csv"), []byte("order,"+c+"\n"), 0o644)
			id, err := age.GenerateX25519Identity()
			if err != nil {
				t.Fatal(err)
			}
			ids[c] = id
			key := id.Recipient().String()
			if c == keyless {
				key = ""
			}
			fmt.Fprintf(&list, "%s,Customer %d,%s\n", c, i, key)
		}
		if j == 0 && ghost != "" {
			fmt.Fprintf(&list, "%s,Ghost,\n", ghost)
		}
		path := filepath.Join(t.TempDir(), "customers.csv")
		writeFile(t, path, []byte(list.String()), 0o644)
		sources, lists = append(sources, src), append(lists, path)
	}
	return sources, lists, ids
}

// TestEachCustomerGetsTheirOwnArchive exports 10,000 customers from four
// "Jobs" to a real HTTP object store: every archive opens with its
// customer's key and with no other, holds their data, and matches the
// manifest's SHA-256; the keyless customer and the one with no data are in
// the manifest, skipped, with the reason.
func TestEachCustomerGetsTheirOwnArchive(t *testing.T) {
	const n, jobs = 10000, 4
	store, err := testsrv.NewObjectStore("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sources, lists, ids := customers(t, jobs, n, "c-00007", "c-ghost")
	policy := egress.Loopback()
	policy.AllowHTTP = true

	seen := map[string]struct{}{}
	var exported, skipped int
	for j := range jobs {
		manifest := fmt.Sprintf("/pk/manifest-%d.jsonl", j)
		res, err := Run(context.Background(), Options{Source: sources[j], Destination: store.URL + "/pk/" + CustomerPlaceholder + ".tar.gz.age?X-Sig=secret",
			PerCustomer: true, Customers: lists[j], Manifest: store.URL + manifest, Egress: policy, Stderr: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		body, ok := store.Get(manifest)
		if !ok {
			t.Fatalf("job %d stored no manifest", j)
		}
		if sum := sha256.Sum256(body); res.Location != store.URL+manifest || res.SHA256 != hex.EncodeToString(sum[:]) || res.Bytes != int64(len(body)) {
			t.Fatalf("job %d result %+v does not describe its manifest", j, res)
		}
		lines := 0
		err = result.ReadManifest(bytes.NewReader(body), seen, func(e result.Entry) error {
			lines++
			if e.Skipped != "" {
				skipped++
				if want := map[string]string{"c-00007": "no age key", "c-ghost": "no data"}[e.Customer]; e.Skipped != want {
					t.Errorf("%s skipped for %q, want %q", e.Customer, e.Skipped, want)
				}
				return nil
			}
			exported++
			if strings.Contains(e.Location, "secret") || e.Key != result.KeyCustomer {
				t.Errorf("%s: location %q, key %q", e.Customer, e.Location, e.Key)
			}
			archive, ok := store.Get(strings.TrimPrefix(e.Location, store.URL))
			if !ok {
				return fmt.Errorf("%s: nothing stored at %s", e.Customer, e.Location)
			}
			if sum := sha256.Sum256(archive); hex.EncodeToString(sum[:]) != e.SHA256 || int64(len(archive)) != e.Bytes {
				t.Errorf("%s: stored archive does not match its manifest line", e.Customer)
			}
			r, err := age.Decrypt(bytes.NewReader(archive), ids[e.Customer])
			if err != nil {
				return fmt.Errorf("%s's archive does not open with their key: %w", e.Customer, err)
			}
			if got := extract(t, r); got["orders.csv"].size != int64(len("order,"+e.Customer+"\n")) {
				t.Errorf("%s's archive holds %v", e.Customer, got)
			}
			// Another customer's key opens nothing.
			other := ids[fmt.Sprintf("c-%05d", (lines*7919)%n)]
			if other != ids[e.Customer] {
				if _, err := age.Decrypt(bytes.NewReader(archive), other); err == nil {
					t.Errorf("%s's archive opens with another customer's key", e.Customer)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Manifest == nil || res.Manifest.Customers != lines {
			t.Errorf("job %d result counts %+v, manifest has %d lines", j, res.Manifest, lines)
		}
	}
	if exported != n-1 || skipped != 2 || len(seen) != n+1 {
		t.Errorf("%d exported, %d skipped, %d customers; want %d, 2, %d", exported, skipped, len(seen), n-1, n+1)
	}
}

// TestPerCustomerKeylessAndFailures: a keyless customer gets the
// provider's key only when asked; a stray file fails the export and leaves
// no manifest; each missing flag is a usage error.
func TestPerCustomerKeylessAndFailures(t *testing.T) {
	sources, lists, _ := customers(t, 1, 3, "c-00001", "")
	provider, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	o := Options{Source: sources[0], Destination: filepath.Join(out, CustomerPlaceholder+".tar.gz.age"), PerCustomer: true,
		Customers: lists[0], Manifest: filepath.Join(out, "manifest.jsonl"), AgeRecipients: []string{provider.Recipient().String()},
		ProviderKeyForKeyless: true, Stderr: io.Discard}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifest.Exported != 3 {
		t.Fatalf("exported %d of 3", res.Manifest.Exported)
	}
	f, err := os.Open(o.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := result.ReadManifest(f, nil, func(e result.Entry) error {
		if want := map[bool]string{true: result.KeyProvider, false: result.KeyCustomer}[e.Customer == "c-00001"]; e.Key != want {
			t.Errorf("%s encrypted to the %s key, want %s", e.Customer, e.Key, want)
		}
		if e.Customer == "c-00001" {
			b, err := os.ReadFile(e.Location)
			if err != nil {
				return err
			}
			if _, err := age.Decrypt(bytes.NewReader(b), provider); err != nil {
				t.Errorf("the keyless customer's archive does not open with the provider's key: %v", err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// Data that belongs to no customer fails the whole export: no
	// manifest, no result.
	os.Remove(o.Manifest)
	writeFile(t, filepath.Join(sources[0], "stray.txt"), []byte("whose?"), 0o644)
	if _, err := Run(context.Background(), o); !errors.Is(err, ErrArchive) || !strings.Contains(err.Error(), "stray.txt") {
		t.Errorf("a stray file in the source: %v, want ErrArchive naming it", err)
	}
	if _, err := os.Stat(o.Manifest); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed export left a manifest: %v", err)
	}
	for _, bad := range []Options{
		{Source: sources[0], Destination: filepath.Join(out, "all.tar.gz"), PerCustomer: true, Customers: lists[0], Manifest: o.Manifest},
		{Source: sources[0], Destination: o.Destination, PerCustomer: true, Customers: lists[0]},
		{Source: sources[0], Destination: o.Destination, PerCustomer: true, Manifest: o.Manifest},
		{Source: sources[0], Destination: o.Destination, PerCustomer: true, Customers: lists[0], Manifest: o.Manifest, ProviderKeyForKeyless: true},
	} {
		bad.Stderr = io.Discard
		if _, err := Run(context.Background(), bad); !errors.Is(err, ErrUsage) {
			t.Errorf("%+v: %v, want a usage error", bad, err)
		}
	}
}

// TestABadCustomerRowIsSkippedNotFatal: a customer listed twice and one
// whose key does not parse are skipped with the reason in the manifest
// (not given the provider's key: they meant one of their own); a record
// too malformed to name anyone is reported; every other customer is
// exported.
func TestABadCustomerRowIsSkippedNotFatal(t *testing.T) {
	sources, lists, ids := customers(t, 1, 4, "", "")
	list, err := os.ReadFile(lists[0])
	if err != nil {
		t.Fatal(err)
	}
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(list), ids["c-00002"].Recipient().String(), "age1notakey", 1) +
		"c-00001,Customer 1 again," + other.Recipient().String() + "\n" +
		"\"unterminated,quote\n"
	writeFile(t, lists[0], []byte(text), 0o644)
	provider, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	var stderr strings.Builder
	o := Options{Source: sources[0], Destination: filepath.Join(out, CustomerPlaceholder+".tar.gz.age"), PerCustomer: true,
		Customers: lists[0], Manifest: filepath.Join(out, "manifest.jsonl"), AgeRecipients: []string{provider.Recipient().String()},
		ProviderKeyForKeyless: true, Stderr: &stderr}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("Run = %v, want the export to complete for the others", err)
	}
	if res.Manifest.Customers != 4 || res.Manifest.Exported != 2 {
		t.Fatalf("manifest summary %+v, want 4 customers, 2 exported", res.Manifest)
	}
	f, err := os.Open(o.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	skipped := map[string]string{}
	if err := result.ReadManifest(f, nil, func(e result.Entry) error {
		if e.Skipped != "" {
			skipped[e.Customer] = e.Skipped
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(skipped["c-00001"], "more than once") || !strings.Contains(skipped["c-00002"], "does not parse") || len(skipped) != 2 {
		t.Errorf("skipped %v, want c-00001 (listed twice) and c-00002 (a bad key)", skipped)
	}
	if !strings.Contains(stderr.String(), "malformed record") {
		t.Errorf("stderr does not report the malformed record: %s", stderr.String())
	}
}

// BenchmarkPerCustomer exports 1,000 small customers, each to their own
// key, to a loopback HTTP object store: customers per second.
func BenchmarkPerCustomer(b *testing.B) {
	store, err := testsrv.NewObjectStore("127.0.0.1")
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	const n = 1000
	src, out := b.TempDir(), b.TempDir()
	var list strings.Builder
	list.WriteString("id,ageRecipient\n")
	for i := range n {
		c := fmt.Sprintf("c-%05d", i)
		if err := os.MkdirAll(filepath.Join(src, c), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, c, "orders.csv"), bytes.Repeat([]byte("order,"+c+"\n"), 100), 0o644); err != nil {
			b.Fatal(err)
		}
		id, err := age.GenerateX25519Identity()
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&list, "%s,%s\n", c, id.Recipient())
	}
	keys := filepath.Join(out, "customers.csv")
	if err := os.WriteFile(keys, []byte(list.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	policy := egress.Loopback()
	policy.AllowHTTP = true
	for b.Loop() {
		if _, err := Run(context.Background(), Options{Source: src, Destination: store.URL + "/pk/" + CustomerPlaceholder + ".tar.gz.age",
			PerCustomer: true, Customers: keys, Manifest: store.URL + "/pk/manifest.jsonl", Egress: policy, Stderr: io.Discard}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "customers/s")
}

// TestSampleExporterArgsParse reads the exporter's arguments out of every
// sample withdrawal: a sample that names a flag the exporter does not
// have would fail in every Job it starts.
func TestSampleExporterArgsParse(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var rw v1.RegionWithdrawal
		if err := yaml.Unmarshal(b, &rw); err != nil {
			t.Fatalf("%s: %v", filepath.Base(file), err)
		}
		if rw.Spec.Export == nil {
			continue
		}
		for _, c := range rw.Spec.Export.JobTemplate.Spec.Template.Spec.Containers {
			if len(c.Args) == 0 || c.Args[0] != Name {
				continue
			}
			found++
			if _, err := ParseFlags(c.Args[1:]); err != nil {
				t.Errorf("%s: container %s: %v", filepath.Base(file), c.Name, err)
			}
		}
	}
	if found == 0 {
		t.Fatal("no sample runs the reference exporter")
	}
}
