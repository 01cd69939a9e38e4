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

package handoff

// The handoff endpoint (package handoff/endpoint runs it as the "handoff"
// subcommand of the operator's binary, in its own Deployment and with its
// own narrow role) reads withdrawals and their export records, and writes
// only fetch records in its own namespace.
//
// A GET of a live link records the fetch (see Recorder) and then
// redirects to the archive with 303 See Other. The archives are encrypted
// to each customer's own key, so their locations need not be secret; the
// link is what knows who fetched and when it stops working. With the
// installation's allow-list of store origins set (Server.AllowedOrigins),
// a link to an archive outside it is answered 502 Bad Gateway, logged
// and not recorded: the endpoint never sends a customer elsewhere.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/export/origins"
	"github.com/ops-dev/region-withdrawal-operator/internal/metrics"
)

// Server answers link requests and keeps the index of live links.
type Server struct {
	// Withdrawals reads the withdrawals (the manager's cache).
	Withdrawals client.Reader
	// Artifacts reads a withdrawal's verified exports by customer id
	// (export.Artifacts, uncached: the records can be large).
	Artifacts func(ctx context.Context, rw *v1.RegionWithdrawal) (map[string]v1.ExportArtifact, error)
	Key       Key
	Recorder  *Recorder
	Clock     clock.PassiveClock
	// AllowedOrigins, when set (and not empty), are the only store origins
	// a link sends its customer to (--export-allowed-origins, the same
	// list the export step checks): a link to an archive anywhere else is
	// answered 502 and logged, and nothing is recorded. Nil allows all.
	AllowedOrigins *origins.Origins

	requests *prometheus.CounterVec
	ready    atomic.Bool

	// reconciling serialises Reconcile: IndexAll and the index controller
	// both call it, and a slower run must not put back older links.
	reconciling sync.Mutex

	mu     sync.RWMutex
	tokens map[string]*link
	byRW   map[types.NamespacedName]*indexed
}

// link is one customer's live link.
type link struct {
	w        Withdrawal
	customer string
	location string
	expires  time.Time
}

// indexed is what the index holds of one withdrawal.
type indexed struct {
	fingerprint string
	tokens      []string
}

// NewServer readies s, whose exported fields are set, to serve; reg, when set,
// gets its request counter.
func NewServer(s *Server, reg prometheus.Registerer) *Server {
	if s.Clock == nil {
		s.Clock = clock.RealClock{}
	}
	s.requests = metrics.HandoffRequests(reg)
	s.tokens = map[string]*link{}
	s.byRW = map[types.NamespacedName]*indexed{}
	return s
}

// Links is how many live links the index holds.
func (s *Server) Links() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.tokens)
}

// Reconcile brings the index up to date with one withdrawal.
func (s *Server) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	s.reconciling.Lock()
	defer s.reconciling.Unlock()
	var rw v1.RegionWithdrawal
	err := s.Withdrawals.Get(ctx, req.NamespacedName, &rw)
	if apierrors.IsNotFound(err) || (err == nil && (rw.Spec.Export == nil || rw.Spec.Export.Handoff == nil)) {
		s.set(req.NamespacedName, "", nil)
		return ctrl.Result{}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	fp := fingerprint(&rw)
	s.mu.RLock()
	cur := s.byRW[req.NamespacedName]
	s.mu.RUnlock()
	if cur != nil && cur.fingerprint == fp {
		return ctrl.Result{}, nil
	}
	arts, err := s.Artifacts(ctx, &rw)
	if err != nil {
		return ctrl.Result{}, err
	}
	w := Withdrawal{UID: rw.UID, Namespace: rw.Namespace, Name: rw.Name}
	expires := rw.Spec.Export.Handoff.HandoffExpiry(rw.Spec.Cutoff.Time)
	links := make(map[string]*link, len(arts))
	for id, a := range arts {
		if a.Recipient == "" || a.Recipient != id {
			continue // a target's export, not a customer's own
		}
		links[s.Key.Token(rw.UID, id)] = &link{w: w, customer: id, location: a.Location, expires: expires}
	}
	s.set(req.NamespacedName, fp, links)
	return ctrl.Result{}, nil
}

// set replaces what the index holds of one withdrawal.
func (s *Server) set(key types.NamespacedName, fp string, links map[string]*link) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.byRW[key]; old != nil {
		for _, t := range old.tokens {
			delete(s.tokens, t)
		}
		delete(s.byRW, key)
	}
	if links == nil {
		return
	}
	ix := &indexed{fingerprint: fp, tokens: make([]string, 0, len(links))}
	for t, l := range links {
		s.tokens[t] = l
		ix.tokens = append(ix.tokens, t)
	}
	s.byRW[key] = ix
}

// fingerprint changes whenever the withdrawal's links could: its UID, its
// links' expiry, or what its export step has verified.
func fingerprint(rw *v1.RegionWithdrawal) string {
	fp := fmt.Sprintf("%s/%s", rw.UID, rw.Spec.Export.Handoff.HandoffExpiry(rw.Spec.Cutoff.Time).Format(time.RFC3339))
	for _, st := range rw.Status.Steps {
		if e := st.Export; st.Name == v1.StepExport && e != nil {
			fp += fmt.Sprintf("/%d/%d/%d/%d/%d/%d", e.Verified, len(e.Artifacts), e.ArtifactsInConfigMaps, e.ManifestsRead, e.Customers, e.CustomersReread)
		}
	}
	return fp
}

// IndexAll indexes every withdrawal there is, and then reports ready: a
// replica that has not indexed them would answer 404 to live links.
func (s *Server) IndexAll(ctx context.Context) error {
	var list v1.RegionWithdrawalList
	if err := s.Withdrawals.List(ctx, &list); err != nil {
		return err
	}
	for i := range list.Items {
		rw := &list.Items[i]
		// One withdrawal whose records cannot be read now must not keep
		// every other customer's link down: the index controller tries it
		// again, as it does any failed reconcile.
		if _, err := s.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: rw.Namespace, Name: rw.Name}}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Could not index a withdrawal's links yet", "withdrawal", klog.KObj(rw))
		}
	}
	s.ready.Store(true)
	return nil
}

// Ready is the readiness check: nil once IndexAll has run.
func (s *Server) Ready(*http.Request) error {
	if !s.ready.Load() {
		return fmt.Errorf("the links are not indexed yet")
	}
	return nil
}

// ServeHTTP answers a link request. Nothing it logs or counts holds a
// token or a customer id.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	token, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	var l *link
	if ok && len(token) == TokenLength {
		s.mu.RLock()
		l = s.tokens[token]
		s.mu.RUnlock()
	}
	if l == nil {
		s.requests.WithLabelValues("unknown").Inc()
		http.Error(w, "no such link", http.StatusNotFound)
		return
	}
	now := s.Clock.Now()
	if !now.Before(l.expires) {
		s.requests.WithLabelValues("expired").Inc()
		http.Error(w, "this link expired on "+l.expires.UTC().Format(time.RFC3339), http.StatusGone)
		return
	}
	if err := s.AllowedOrigins.Check(l.location); err != nil {
		// Recorded as verified, yet outside the installation's stores
		// (recorded before the list was set, or the records were
		// changed): the customer is not sent there. The log names the
		// origin only; the rest of a location may hold a customer id.
		s.requests.WithLabelValues("refused").Inc()
		ctrl.LoggerFrom(r.Context()).Error(origins.ErrNotAllowed, "Refused to send a customer to an archive outside the allowed store origins; answered 502",
			"withdrawal", l.w.Namespace+"/"+l.w.Name, "origin", origins.Origin(l.location), "allowed", s.AllowedOrigins.String())
		http.Error(w, "this archive is not at one of the provider's stores; please contact the provider", http.StatusBadGateway)
		return
	}
	if r.Method == http.MethodHead {
		// Link checkers and mail scanners ask with HEAD: answered, not
		// counted as the customer's fetch.
		s.requests.WithLabelValues("head").Inc()
		s.answer(w, l, false)
		return
	}
	if err := s.Recorder.Record(r.Context(), l.w, l.customer, now); err != nil {
		s.requests.WithLabelValues("failed").Inc()
		ctrl.LoggerFrom(r.Context()).Error(err, "Could not record a fetch; answered 503", "withdrawal", l.w.Namespace+"/"+l.w.Name)
		h.Set("Retry-After", "5")
		http.Error(w, "try again in a few seconds", http.StatusServiceUnavailable)
		return
	}
	s.requests.WithLabelValues("fetched").Inc()
	s.answer(w, l, true)
}

// answer sends the customer to their archive: a redirect when it is at an
// http(s) URL, else a short page that says where it is.
func (s *Server) answer(w http.ResponseWriter, l *link, body bool) {
	if strings.HasPrefix(l.location, "https://") || strings.HasPrefix(l.location, "http://") {
		w.Header().Set("Location", l.location)
		w.WriteHeader(http.StatusSeeOther)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if body {
		fmt.Fprintf(w, "Your archive is at %s\n", l.location)
	}
}
