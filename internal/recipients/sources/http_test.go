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

package sources_test

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients/sources"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
)

func TestNextLink(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   string
	}{
		{name: "none"},
		{name: "next only", values: []string{`<https://a.example/p2>; rel="next"`}, want: "https://a.example/p2"},
		{name: "among others", values: []string{`<https://a.example/p1>; rel="prev", <https://a.example/p3?x=1,2>; rel="next"`}, want: "https://a.example/p3?x=1,2"},
		{name: "unquoted and several rels", values: []string{`</p4>; rel=next`, `</p9>; rel="last"`}, want: "/p4"},
		{name: "last only", values: []string{`<https://a.example/p9>; rel="last"`}},
	}
	for _, tt := range tests {
		if got := sources.NextLink(tt.values); got != tt.want {
			t.Errorf("%s: NextLink = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestPagedHTTPSource reads three pages of JSON lines over TLS with a
// header from a Secret, plus a ConfigMap, and reports a malformed line and
// a duplicate id.
func TestPagedHTTPSource(t *testing.T) {
	pages := []string{
		`{"id":"h1","email":"h1@example.com","plan":"gold"}` + "\n" + `{"id":"h2","webhook":"https://hooks.example/h2"}` + "\n",
		`{"id":"h3","email":"h3@example.com"}` + "\n" + `not json` + "\n",
		`{"id":"c1","email":"dup@example.com"}` + "\n" + `{"id":"h4","email":"h4@example.com","timeZone":"Asia/Karachi"}` + "\n",
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t0ken" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		var page int
		fmt.Sscanf(r.URL.Query().Get("page"), "%d", &page)
		if page < 1 || page > len(pages) {
			http.NotFound(w, r)
			return
		}
		if page < len(pages) {
			w.Header().Set("Link", fmt.Sprintf(`</customers?page=%d>; rel="next", </customers?page=1>; rel="first"`, page+1))
		}
		fmt.Fprint(w, pages[page-1])
	}))
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	rw := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Name: "pk", Namespace: "ns"}, Spec: v1.RegionWithdrawalSpec{
		Notify: &v1.NotifyStep{Recipients: v1.RecipientSources{
			ConfigMaps: []v1.RecipientObjectRef{{Name: "cm"}},
			HTTP:       &v1.HTTPRecipientSource{URL: srv.URL + "/customers?page=1", HeadersSecretRef: &v1.LocalObjectReference{Name: "hdr"}, CABundle: ca},
		}},
	}}
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "ns"}, Data: map[string]string{"a.csv": "id,email\nc1,c1@example.com\n"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hdr", Namespace: "ns"}, Data: map[string][]byte{"Authorization": []byte("Bearer t0ken")}},
	).Build()

	var ids []string
	sum, err := (&sources.Objects{Reader: c, HTTP: &sources.HTTPPager{Egress: egress.Loopback()}}).Each(context.Background(), rw, func(r recipients.Recipient) error {
		ids = append(ids, r.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ids, ","); got != "c1,h1,h2,h3,h4" {
		t.Errorf("recipients %s, want c1,h1,h2,h3,h4", got)
	}
	if sum.ProblemCount != 1 || !strings.Contains(sum.Problems[0].String(), "page 2 line 2") {
		t.Errorf("problems %v, want the bad line on page 2", sum.Problems)
	}
	if sum.DuplicateCount != 1 || sum.Duplicates[0] != "c1" {
		t.Errorf("duplicates %v, want c1", sum.Duplicates)
	}

	// Without the CA bundle the source is not trusted; without the header
	// it refuses. Either is an error, not an empty list.
	for name, mutate := range map[string]func(*v1.HTTPRecipientSource){
		"untrusted":  func(s *v1.HTTPRecipientSource) { s.CABundle = nil },
		"no headers": func(s *v1.HTTPRecipientSource) { s.HeadersSecretRef = nil },
	} {
		bad := rw.DeepCopy()
		mutate(bad.Spec.Notify.Recipients.HTTP)
		_, err := (&sources.Objects{Reader: c, HTTP: &sources.HTTPPager{Egress: egress.Loopback()}}).Each(context.Background(), bad, func(recipients.Recipient) error { return nil })
		if !errors.Is(err, sources.ErrHTTPSource) {
			t.Errorf("%s: err = %v, want ErrHTTPSource", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "t0ken") {
			t.Errorf("%s: the error shows the header value", name)
		}
	}
}

// TestHTTPSourceStaysOnItsOrigin serves a first page whose redirect, or
// whose next-page link, points at a second server (another origin on
// loopback, standing in for anywhere else). The headers, which carry a
// token, must never reach it, and the read fails with a clear reason.
func TestHTTPSourceStaysOnItsOrigin(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		fmt.Fprintln(w, `{"id":"x","email":"x@example.com"}`)
	}))
	defer other.Close()
	for _, tt := range []struct {
		name  string
		serve func(w http.ResponseWriter, r *http.Request)
	}{
		{"a redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
		}},
		{"a next-page link", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "<"+other.URL+"/page2>; rel=\"next\"")
			fmt.Fprintln(w, `{"id":"c1","email":"c1@example.com"}`)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(tt.serve))
			defer srv.Close()
			// Both servers are trusted and allowed: only the origin rule stops it.
			ca := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}),
				pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Certificate().Raw})...)
			pager := &sources.HTTPPager{Egress: egress.Loopback()}
			err := pager.Pages(context.Background(), &v1.HTTPRecipientSource{URL: srv.URL + "/customers", CABundle: ca}, map[string]string{"Authorization": "Bearer t0ken"},
				func(int, string, io.Reader) error { return nil })
			if !errors.Is(err, egress.ErrRefused) || !strings.Contains(err.Error(), "origin") {
				t.Fatalf("Pages = %v, want a refusal naming the origin", err)
			}
			if n := elsewhere.Load(); n != 0 {
				t.Fatalf("the other origin was asked %d times", n)
			}
		})
	}
}

// TestHTTPSourceRefusesInternalAddresses reads from a real listener on
// loopback with the default policy: nothing is dialled.
func TestHTTPSourceRefusesInternalAddresses(t *testing.T) {
	var asked atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { asked.Add(1) }))
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	for _, url := range []string{srv.URL + "/customers", strings.Replace(srv.URL, "https://", "http://", 1) + "/customers"} {
		err := (&sources.HTTPPager{}).Pages(context.Background(), &v1.HTTPRecipientSource{URL: url, CABundle: ca}, nil,
			func(int, string, io.Reader) error { return nil })
		if !errors.Is(err, egress.ErrRefused) {
			t.Fatalf("Pages(%s) = %v, want refused", url, err)
		}
	}
	if n := asked.Load(); n != 0 {
		t.Fatalf("the listener was asked %d times", n)
	}
}

// TestAPageOverTheCapFailsTheRead: the cap used to end the list quietly,
// so a 100 MiB source passed for its first 64 MiB.
func TestAPageOverTheCapFailsTheRead(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for i := range 40000 {
			fmt.Fprintf(w, "{\"id\":\"c%05d\"}\n", i)
		}
	}))
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	pager := &sources.HTTPPager{Egress: egress.Loopback(), MaxPageBytes: 256 << 10}
	read := 0
	err := pager.Pages(context.Background(), &v1.HTTPRecipientSource{URL: srv.URL + "/customers", CABundle: ca}, nil, func(_ int, source string, body io.Reader) error {
		_, err := recipients.Parse(body, v1.RecipientFormatJSONLines, source, func(recipients.Recipient) error { read++; return nil })
		return err
	})
	if !errors.Is(err, sources.ErrPageTooLarge) {
		t.Fatalf("Pages = %v after %d recipients, want ErrPageTooLarge", err, read)
	}
}
