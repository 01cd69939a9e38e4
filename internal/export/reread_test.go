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

package export

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/export/result"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients/sources"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
)

// rereadFixture is an export whose one Job reported a manifest of n
// customers, each archive stored for real in a store that wants a token;
// the spec asks for every archive to be read back.
func rereadFixture(t *testing.T, n int, tamper func(store *testsrv.ObjectStore, path func(int) string)) (*fixture, *testsrv.ObjectStore) {
	t.Helper()
	store, err := testsrv.NewObjectStore("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	store.ReadToken = "read-token"
	path := func(i int) string { return fmt.Sprintf("/pk/cust-%04d.tar.gz.age", i) }
	var m bytes.Buffer
	for i := range n {
		body := bytes.Repeat([]byte{byte(i)}, 64+i%7)
		store.Put(path(i), body)
		sum := sha256.Sum256(body)
		if err := result.WriteEntry(&m, result.Entry{Customer: fmt.Sprintf("cust-%04d", i), Location: store.URL + path(i), Bytes: int64(len(body)),
			SHA256: hex.EncodeToString(sum[:]), Key: result.KeyCustomer}); err != nil {
			t.Fatal(err)
		}
	}
	if tamper != nil {
		tamper(store, path)
	}
	store.Put("/pk/manifest.jsonl", m.Bytes())
	sum := sha256.Sum256(m.Bytes())
	manifestResult := fmt.Sprintf(`{"version":1,"location":%q,"bytes":%d,"sha256":%q,"encrypted":false,"manifest":{"customers":%d,"exported":%d}}`,
		store.URL+"/pk/manifest.jsonl", m.Len(), hex.EncodeToString(sum[:]), n, n)

	f := newFixture(t, 0, func(e *v1.ExportStep) {
		e.Manifests = &v1.ExportManifestAccess{HeadersSecretRef: &v1.LocalObjectReference{Name: "store-read"}, Verify: v1.VerifyReread}
	})
	if err := env.Client.Create(f.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "store-read", Namespace: f.rw.Namespace},
		Data: map[string][]byte{"Authorization": []byte("Bearer read-token")}}); err != nil {
		t.Fatal(err)
	}
	loopback := egress.Loopback()
	loopback.AllowHTTP = true
	f.exec.HTTP = &sources.HTTPPager{Egress: loopback}
	f.execute()
	for _, j := range f.jobs() {
		f.finish(j, true, manifestResult, time.Minute)
	}
	return f, store
}

// TestRereadChecksEveryArchive: with verify: Reread the step reads every
// customer's archive back, a bounded batch per call, and only then calls
// itself done; until an archive has matched it is named nowhere.
func TestRereadChecksEveryArchive(t *testing.T) {
	const n = rereadBatch + 100
	f, _ := rereadFixture(t, n, nil)
	res := f.execute()
	if res.Done || f.status().CustomersReread != rereadBatch || f.status().Customers != n {
		t.Fatalf("first call: done %v, %d of %d read back (%s); want %d, not done", res.Done, f.status().CustomersReread, f.status().Customers, res.Message, rereadBatch)
	}
	arts, err := customerArtifacts(f)
	if err != nil || len(arts) != rereadBatch {
		t.Fatalf("Artifacts names %d archives (%v); want only the %d read back", len(arts), err, rereadBatch)
	}
	res = f.execute()
	if !res.Done || res.Failed || f.status().CustomersReread != n || !strings.Contains(res.Message, "each read back and matched") {
		t.Fatalf("second call: %+v, %d read back", res, f.status().CustomersReread)
	}
	arts, err = customerArtifacts(f)
	if err != nil || len(arts) != n || arts["cust-0007"].VerifiedAt == nil {
		t.Fatalf("Artifacts names %d archives (%v), want %d, each marked verified", len(arts), err, n)
	}
}

// TestRereadFailsOnATamperedArchive: an archive changed after the export
// (same size, other bytes) and one grown fail the step, naming them; the
// others still count.
func TestRereadFailsOnATamperedArchive(t *testing.T) {
	const n = 20
	f, _ := rereadFixture(t, n, func(store *testsrv.ObjectStore, path func(int) string) {
		b, _ := store.Get(path(3))
		store.Put(path(3), bytes.Repeat([]byte{0xff}, len(b)))
		b, _ = store.Get(path(11))
		store.Put(path(11), append(b, 'x'))
	})
	res := f.execute()
	if !res.Done || !res.Failed || !strings.Contains(res.Message, "2 customers") || !strings.Contains(res.Message, "cust-0003") || !strings.Contains(res.Message, "cust-0011: ") {
		t.Fatalf("result = %+v; want a failed step naming cust-0003 and cust-0011", res)
	}
	if got := f.status().CustomersReread; got != n-2 {
		t.Fatalf("%d read back and matched, want %d", got, n-2)
	}
	arts, err := customerArtifacts(f)
	if err != nil || len(arts) != n-2 {
		t.Fatalf("Artifacts names %d (%v), want %d", len(arts), err, n-2)
	}
	if _, ok := arts["cust-0003"]; ok {
		t.Fatal("a tampered archive is named in notices")
	}
}

// customerArtifacts is what Artifacts names of customers' own archives,
// without the targets' (the manifest itself is one).
func customerArtifacts(f *fixture) (map[string]v1.ExportArtifact, error) {
	arts, err := Artifacts(f.ctx, f.exec.reader(), f.rw)
	for k, a := range arts {
		if a.Recipient == "" {
			delete(arts, k)
		}
	}
	return arts, err
}
