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

package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// pageServer serves the benchmark's recipients as a paged HTTP source:
// pages of perObject JSON lines, the same customers as the ConfigMaps,
// each page made when asked (the benchmark keeps no copy of the list) and
// tagged with a strong ETag, which the content never changing makes its
// number enough for. It counts the pages it sent in full and those it
// answered 304 Not Modified.
type pageServer struct {
	n                 int
	full, notModified atomic.Int64
}

func (s *pageServer) pages() int { return (s.n + perObject - 1) / perObject }

func (s *pageServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || p < 0 || p >= s.pages() {
		http.NotFound(w, r)
		return
	}
	etag := fmt.Sprintf(`"bench-%d-%d"`, s.n, p)
	if r.Header.Get("If-None-Match") == etag {
		s.notModified.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	var b bytes.Buffer
	for i := p * perObject; i < min((p+1)*perObject, s.n); i++ {
		fmt.Fprintf(&b, `{"id":"cust-%06d","name":"Customer %d","email":"billing-%06d@example.com","locale":"%s"}`+"\n",
			i, i, i, []string{"ur-PK", "ur", "en-GB"}[i%3])
	}
	w.Header().Set("ETag", etag)
	if p+1 < s.pages() {
		w.Header().Set("Link", fmt.Sprintf(`</customers?page=%d>; rel="next"`, p+1))
	}
	s.full.Add(1)
	_, _ = w.Write(b.Bytes())
}

// httpFigures is what the phase with the paged HTTP source measured.
type httpFigures struct {
	figures
	calls, pages      int
	full, notModified int64
}

// runHTTPSource sends the notice of another withdrawal, whose recipients
// are the same customers read from the paged HTTP source, with the ledger
// on (in ConfigMaps).
func runHTTPSource(ctx context.Context, c client.Client, rw *v1.RegionWithdrawal, a planner.Action, n int, heap string, requests, delivered *atomic.Int64) (httpFigures, error) {
	srv := &pageServer{n: n}
	ts := httptest.NewTLSServer(srv)
	defer ts.Close()
	httpRW := rw.DeepCopy()
	httpRW.ObjectMeta = metav1.ObjectMeta{Name: "pakistan-http", Namespace: namespace}
	httpRW.Status = v1.RegionWithdrawalStatus{}
	httpRW.Spec.Notify.Recipients = v1.RecipientSources{HTTP: &v1.HTTPRecipientSource{URL: ts.URL + "/customers?page=0", CABundle: pemOf(ts)}}
	if err := c.Create(ctx, httpRW); err != nil {
		return httpFigures{}, err
	}
	l, err := ledger.New(ledger.Options{Client: c, Reader: c, Namespace: namespace, Key: evidenceKey})
	if err != nil {
		return httpFigures{}, err
	}
	f, calls, err := runBatched(ctx, c, httpRW, a, n, l, heap, requests, delivered)
	if err != nil {
		return httpFigures{}, err
	}
	f.name = "paged HTTP source, ledger on"
	return httpFigures{figures: f, calls: calls, pages: srv.pages(), full: srv.full.Load(), notModified: srv.notModified.Load()}, nil
}
