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
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"

	"github.com/ops-dev/region-withdrawal-operator/internal/stats"
)

// tracer is a diagnostic (-trace): a loopback reverse proxy in front of the
// API server that the operator is pointed at instead, which records when
// each of the operator's requests arrived and when its response was
// written. It adds a loopback hop to every request, so figures taken with
// it are not the reference ones.
type tracer struct {
	srv        *http.Server
	kubeconfig string

	mu   sync.Mutex
	reqs []traced
}

type traced struct {
	what       string // verb and resource, e.g. "PATCH regionwithdrawals/status"
	namespace  string
	start, end time.Time
}

func startTracer(cfg *rest.Config, dir string) (*tracer, error) {
	target, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, err
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &tracer{kubeconfig: dir + "/trace-kubeconfig.yaml"}
	proxy := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target); r.Out.Host = target.Host },
		Transport:     rt,
		FlushInterval: -1, // watches stream
	}
	t.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		proxy.ServeHTTP(w, r)
		if r.URL.Query().Get("watch") == "true" {
			return
		}
		ns, what := describe(r)
		t.mu.Lock()
		t.reqs = append(t.reqs, traced{what: what, namespace: ns, start: start, end: time.Now()})
		t.mu.Unlock()
	})}
	go func() { _ = t.srv.Serve(l) }()
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: trace, cluster: {server: "http://%s"}}]
contexts: [{name: trace, context: {cluster: trace, user: trace}}]
users: [{name: trace, user: {}}]
current-context: trace
`, l.Addr())
	if err := os.WriteFile(t.kubeconfig, []byte(kubeconfig), 0o600); err != nil {
		_ = t.srv.Close()
		return nil, err
	}
	return t, nil
}

func (t *tracer) close() { _ = t.srv.Close() }

// describe turns /apis/G/V/namespaces/NS/RESOURCE/NAME/SUB into NS and
// "VERB RESOURCE/SUB".
func describe(r *http.Request) (string, string) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) > 0 && parts[0] == "apis" && len(parts) >= 3 {
		parts = parts[3:]
	} else if len(parts) >= 2 && parts[0] == "api" {
		parts = parts[2:]
	} else {
		return "", r.Method + " " + r.URL.Path
	}
	ns := ""
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) > 2 {
		ns, parts = parts[1], parts[2:]
	}
	resource := ""
	if len(parts) > 0 {
		resource = parts[0]
	}
	if len(parts) > 2 {
		resource += "/" + parts[2]
	}
	return ns, r.Method + " " + resource
}

// report prints, for the requests made between from and to, how many of
// each kind there were and how long the API server took to answer them,
// how many were made per second, and per withdrawal namespace the time
// from the due instant to each step of its reconcile.
func (t *tracer) report(from, to time.Time) {
	t.mu.Lock()
	reqs := slices.Clone(t.reqs)
	t.mu.Unlock()
	var in []traced
	for _, r := range reqs {
		if !r.start.Before(from) && r.start.Before(to) {
			in = append(in, r)
		}
	}
	fmt.Printf("trace: %d requests from the operator between the due time and %s later\n", len(in), to.Sub(from).Round(time.Millisecond))
	byWhat := map[string][]time.Duration{}
	for _, r := range in {
		byWhat[r.what] = append(byWhat[r.what], r.end.Sub(r.start))
	}
	kinds := make([]string, 0, len(byWhat))
	for k := range byWhat {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Printf("trace:   %-40s %4d, API server time %s\n", k, len(byWhat[k]), stats.Summary(byWhat[k]))
	}
	perSecond := map[int]int{}
	last := 0
	for _, r := range in {
		s := int(r.start.Sub(from) / time.Second)
		perSecond[s]++
		last = max(last, s)
	}
	var rate []string
	for s := 0; s <= last; s++ {
		rate = append(rate, fmt.Sprint(perSecond[s]))
	}
	fmt.Printf("trace: requests started in each second after the due time: %s\n", strings.Join(rate, " "))

	// Per withdrawal: when its first request after the due time was sent
	// (the status patch that records the start), when the Ingress update
	// was sent and answered.
	first, putStart, putEnd := map[string]time.Time{}, map[string]time.Time{}, map[string]time.Time{}
	for _, r := range in {
		if !strings.HasPrefix(r.namespace, duePrefix) {
			continue
		}
		if _, ok := first[r.namespace]; !ok {
			first[r.namespace] = r.start
		}
		if r.what == "PUT ingresses" {
			putStart[r.namespace], putEnd[r.namespace] = r.start, r.end
		}
	}
	since := func(m map[string]time.Time) []time.Duration {
		var out []time.Duration
		for _, t := range m {
			out = append(out, t.Sub(from))
		}
		return out
	}
	fmt.Printf("trace: due → first request of the withdrawal's reconcile arrives: %s\n", stats.Summary(since(first)))
	fmt.Printf("trace: due → its Ingress update arrives:                         %s\n", stats.Summary(since(putStart)))
	fmt.Printf("trace: due → its Ingress update answered:                        %s\n", stats.Summary(since(putEnd)))
}
