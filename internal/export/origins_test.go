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

// The installation's allow-list of store origins, against a real API
// server: what an exporter Job reports and what its manifest lists is
// refused outside the list, and nothing is read from (the headers, a
// credential, sent to) a host outside it.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/export/result"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients/sources"
)

func mustOrigins(t *testing.T, list string) *Origins {
	t.Helper()
	o, err := ParseOrigins(list)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestAResultOutsideTheAllowedOriginsIsAFailedExport: a Job that reports
// its archive at a host outside the list is a failed attempt whose reason
// names the location and the list, and nothing is verified; the retry
// that reports it under an allowed origin is verified. A verdict recorded
// before the list was set no longer counts once it is.
func TestAResultOutsideTheAllowedOriginsIsAFailedExport(t *testing.T) {
	f := newFixture(t, 0, func(e *v1.ExportStep) { e.Per = v1.ExportOnce; e.MaxAttempts = 2 })
	f.exec.AllowedOrigins = mustOrigins(t, "https://objects.example.com,s3://exports-bucket")
	const key = "Region/PK"
	f.execute()
	f.finish(f.jobFor(key, 1), true, resultJSON("https://evil.example/x", "acme", 42), time.Minute)

	res := f.execute()
	want := `export location "https://evil.example/x" is not under an allowed store origin (--export-allowed-origins: https://objects.example.com, s3://exports-bucket)`
	st := f.status()
	if res.Done || st.Verified != 0 || len(st.Failures) != 1 || !strings.Contains(st.Failures[0].Reason, want) {
		t.Fatalf("result %+v, status %+v; want one failed attempt saying %s, nothing verified", res, st, want)
	}
	first := f.jobFor(key, 1)
	if got := first.Annotations[AnnotationFailure]; !strings.Contains(got, want) {
		t.Fatalf("the Job's failure = %q, want it to say %s", got, want)
	}
	if r, ok := first.Annotations[AnnotationResult]; ok {
		t.Fatalf("the refused Job carries a result: %s", r)
	}
	if len(st.Artifacts) != 0 {
		t.Fatalf("a refused location is an artifact: %+v", st.Artifacts)
	}

	f.finish(f.jobFor(key, 2), true, resultJSON("s3://exports-bucket/pk/a.tar.gz.age", "acme", 42), time.Minute)
	res = f.execute()
	if st := f.status(); !res.Done || res.Failed || st.Verified != 1 || len(st.Artifacts) != 1 || st.Artifacts[0].Location != "s3://exports-bucket/pk/a.tar.gz.age" {
		t.Fatalf("after a retry under an allowed origin: %+v, status %+v", res, st)
	}

	// The list changes: the recorded verdict no longer counts, and with no
	// attempt left the export fails, naming why.
	f.exec.AllowedOrigins = mustOrigins(t, "https://objects.example.com")
	res = f.execute()
	if !res.Done || !res.Failed || !strings.Contains(res.Message, "s3://exports-bucket/pk/a.tar.gz.age") || !strings.Contains(res.Message, "not under an allowed store origin") {
		t.Fatalf("after the list changed: %+v; want failed, naming the location", res)
	}
	if f.status().Verified != 0 {
		t.Fatalf("still verified: %+v", f.status())
	}
}

// TestALocalPathNeedsFileInTheList: locations without a scheme are local
// files, allowed only when the list has file://.
func TestALocalPathNeedsFileInTheList(t *testing.T) {
	for _, tc := range []struct {
		list     string
		verified bool
	}{
		{list: "https://objects.example.com", verified: false},
		{list: "https://objects.example.com,file://", verified: true},
	} {
		t.Run(tc.list, func(t *testing.T) {
			f := newFixture(t, 0, func(e *v1.ExportStep) { e.Per = v1.ExportOnce; e.MaxAttempts = 1 })
			f.exec.AllowedOrigins = mustOrigins(t, tc.list)
			f.execute()
			f.finish(f.jobFor("Region/PK", 1), true, resultJSON("/exports/home.tar.gz", "", 99), time.Minute)
			res := f.execute()
			if got := !res.Failed && f.status().Verified == 1; got != tc.verified || !res.Done {
				t.Fatalf("result %+v; want verified %v", res, tc.verified)
			}
			if !tc.verified && !strings.Contains(res.Message, `"/exports/home.tar.gz" is not under an allowed store origin`) {
				t.Fatalf("message %q does not name the path", res.Message)
			}
		})
	}
}

// countingStore serves objects and counts every request it gets.
type countingStore struct {
	*httptest.Server
	requests atomic.Int32
	mu       sync.Mutex
	objects  map[string][]byte
}

func newCountingStore(t *testing.T) *countingStore {
	s := &countingStore{objects: map[string][]byte{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		b, ok := s.objects[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *countingStore) put(path string, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[path] = b
}

// manifestOf writes a manifest of n customers whose archives are at base,
// and returns it with the result that names it at manifestURL.
func manifestOf(t *testing.T, base, manifestURL string, n int) ([]byte, string) {
	t.Helper()
	var m bytes.Buffer
	for i := range n {
		if err := result.WriteEntry(&m, result.Entry{Customer: fmt.Sprintf("cust-%d", i), Location: fmt.Sprintf("%s/pk/cust-%d.tar.gz.age", base, i),
			Bytes: 5, SHA256: validHash, Key: result.KeyCustomer}); err != nil {
			t.Fatal(err)
		}
	}
	sum := sha256.Sum256(m.Bytes())
	return m.Bytes(), fmt.Sprintf(`{"version":1,"location":%q,"bytes":%d,"sha256":%q,"encrypted":false,"manifest":{"customers":%d,"exported":%d}}`,
		manifestURL, m.Len(), hex.EncodeToString(sum[:]), n, n)
}

// manifestFixture is an export whose manifests are read with a token from
// a Secret, over plain http on loopback.
func manifestFixture(t *testing.T, verify v1.ArchiveVerification) *fixture {
	t.Helper()
	f := newFixture(t, 0, func(e *v1.ExportStep) {
		e.Per, e.MaxAttempts = v1.ExportOnce, 1
		e.Manifests = &v1.ExportManifestAccess{HeadersSecretRef: &v1.LocalObjectReference{Name: "store-read"}, Verify: verify}
	})
	if err := env.Client.Create(f.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "store-read", Namespace: f.rw.Namespace},
		Data: map[string][]byte{"Authorization": []byte("Bearer read-token")}}); err != nil {
		t.Fatal(err)
	}
	loopback := egress.Loopback()
	loopback.AllowHTTP = true
	f.exec.HTTP = &sources.HTTPPager{Egress: loopback}
	return f
}

// TestAManifestOutsideTheAllowedOriginsIsNeverRead: the Job reports a
// manifest on a host outside the list. The export fails naming it, and no
// request (with the token or without) reaches that host.
func TestAManifestOutsideTheAllowedOriginsIsNeverRead(t *testing.T) {
	foreign := newCountingStore(t)
	m, manifestResult := manifestOf(t, foreign.URL, foreign.URL+"/pk/manifest.jsonl", 3)
	foreign.put("/pk/manifest.jsonl", m)

	f := manifestFixture(t, v1.VerifyDigest)
	f.exec.AllowedOrigins = mustOrigins(t, "https://objects.example.com")
	f.execute()
	f.finish(f.jobFor("Region/PK", 1), true, manifestResult, time.Minute)
	res := f.execute()
	want := fmt.Sprintf(`export location %q is not under an allowed store origin (--export-allowed-origins: https://objects.example.com)`, foreign.URL+"/pk/manifest.jsonl")
	if !res.Done || !res.Failed || !strings.Contains(res.Message, want) {
		t.Fatalf("result %+v; want failed saying %s", res, want)
	}
	if n := foreign.requests.Load(); n != 0 {
		t.Fatalf("%d requests reached the host outside the list, want none", n)
	}
	if st := f.status(); st.Verified != 0 || st.ManifestsRead != 0 || st.Customers != 0 {
		t.Fatalf("status %+v; want nothing verified or read", st)
	}
}

// TestAManifestListingArchivesOutsideTheAllowedOriginsIsRefused: the
// manifest is on an allowed store, and lists archives on a host outside
// the list. The export fails naming one, no customer's archive is
// recorded, and nothing is asked of that host.
func TestAManifestListingArchivesOutsideTheAllowedOriginsIsRefused(t *testing.T) {
	store, foreign := newCountingStore(t), newCountingStore(t)
	m, manifestResult := manifestOf(t, foreign.URL, store.URL+"/pk/manifest.jsonl", 3)
	store.put("/pk/manifest.jsonl", m)

	f := manifestFixture(t, v1.VerifyDigest)
	f.exec.AllowedOrigins = mustOrigins(t, store.URL)
	f.execute()
	f.finish(f.jobFor("Region/PK", 1), true, manifestResult, time.Minute)
	res := f.execute()
	if !res.Done || !res.Failed || !strings.Contains(res.Message, foreign.URL+"/pk/cust-0.tar.gz.age") || !strings.Contains(res.Message, "not under an allowed store origin") {
		t.Fatalf("result %+v; want failed naming %s", res, foreign.URL+"/pk/cust-0.tar.gz.age")
	}
	if n := store.requests.Load(); n != 1 {
		t.Fatalf("%d requests to the manifest's store, want 1", n)
	}
	if n := foreign.requests.Load(); n != 0 {
		t.Fatalf("%d requests reached the host outside the list, want none", n)
	}
	arts, err := customerArtifacts(f)
	if err != nil || len(arts) != 0 {
		t.Fatalf("customers' archives recorded: %v (%v)", arts, err)
	}
}

// TestNoArchiveIsReadBackOutsideTheAllowedOrigins: customers' archives
// recorded while their host was allowed are not read back once it is not:
// the export fails naming one before any request, so the headers go
// nowhere.
func TestNoArchiveIsReadBackOutsideTheAllowedOrigins(t *testing.T) {
	store, archives := newCountingStore(t), newCountingStore(t)
	m, manifestResult := manifestOf(t, archives.URL, store.URL+"/pk/manifest.jsonl", 3)
	store.put("/pk/manifest.jsonl", m)

	f := manifestFixture(t, v1.VerifyReread)
	f.exec.AllowedOrigins = mustOrigins(t, store.URL+","+archives.URL)
	f.execute()
	f.finish(f.jobFor("Region/PK", 1), true, manifestResult, time.Minute)
	// The archives are not there yet: recorded, but not read back.
	if _, err := f.exec.Execute(f.ctx, f.rw, startAction); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("reading back archives that are not there: %v, want a 404", err)
	}
	asked := archives.requests.Load()
	if asked == 0 {
		t.Fatal("the archives were not asked for")
	}
	// As the status write after the manifest was read would say.
	f.status().ManifestsRead, f.status().Customers = 1, 3

	f.exec.AllowedOrigins = mustOrigins(t, store.URL)
	res := f.execute()
	if !res.Done || !res.Failed || !strings.Contains(res.Message, archives.URL+"/pk/cust-") || !strings.Contains(res.Message, "not under an allowed store origin") {
		t.Fatalf("result %+v; want failed naming an archive on %s", res, archives.URL)
	}
	if n := archives.requests.Load(); n != asked {
		t.Fatalf("%d more requests reached the host outside the list, want none", n-asked)
	}
	if f.status().CustomersReread != 0 {
		t.Fatalf("%d archives counted as read back", f.status().CustomersReread)
	}
}
