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
// own narrow role) reads the link indexes the operator publishes in its
// namespace, and writes only fetch records there.
//
// A GET of a live link shows a page whose button POSTs to it; the POST
// records the fetch (see Recorder) and then redirects to the archive with
// 303 See Other: to its URL, or, for an archive at an s3:// location with
// a Presigner set, to a pre-signed GET of it that works for a few minutes,
// so the bucket stays private. Only archives encrypted to their customer's
// own key get links; the link is what knows who fetched and when it stops
// working. With the
// installation's allow-list of store origins set (Server.AllowedOrigins),
// a link to an archive outside it is answered 502 Bad Gateway, logged
// and not recorded: the endpoint never sends a customer elsewhere.

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ops-dev/region-withdrawal-operator/internal/export/origins"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff/landing"
	"github.com/ops-dev/region-withdrawal-operator/internal/metrics"
	"github.com/ops-dev/region-withdrawal-operator/internal/s3store"
)

// Server answers link requests and keeps the index of live links. It reads
// the link indexes the operator publishes in its own namespace, and
// nothing else: no withdrawal, and no tenant's ConfigMap.
type Server struct {
	// Index reads the link indexes' shards (a cache of them alone).
	Index client.Reader
	// Namespace is the installation's, where the indexes and the fetch
	// records are.
	Namespace string
	Key       Key
	Recorder  *Recorder
	Clock     clock.PassiveClock
	// AllowedOrigins, when set (and not empty), are the only store origins
	// a link sends its customer to (--export-allowed-origins, the same
	// list the export step checks): a link to an archive anywhere else is
	// answered 502 and logged, and nothing is recorded. Nil allows all.
	AllowedOrigins *origins.Origins
	// LinkBurst and LinkEvery bound the requests one link answers: a burst,
	// then one every LinkEvery (zero: DefaultLinkBurst, DefaultLinkEvery).
	LinkBurst int
	LinkEvery time.Duration
	// Presigner, when set, signs a short-lived GET of an archive at an s3://
	// location (a private bucket) for each customer who asks; without it
	// such a customer is told the location. PresignExpiry is how long one
	// works (zero: DefaultPresignExpiry), never past the link's expiry.
	Presigner     Presigner
	PresignExpiry time.Duration

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
	customer string // the record key of the customer's fetches, a hash
	location string
	expires  time.Time
	// pages are the withdrawal's landing pages, shared by its links.
	pages landing.Pages
	// limit bounds the requests one link answers: a link forwarded or
	// leaked cannot be used to flood the records or the store.
	limit *rate.Limiter
}

// By default a link answers DefaultLinkBurst requests at once, then one
// every DefaultLinkEvery: enough for a customer and a retrying download
// manager, not for a crowd.
const (
	DefaultLinkBurst = 20
	DefaultLinkEvery = 6 * time.Second
)

// DefaultPresignExpiry is how long a pre-signed GET works: long enough to
// start a download (which then runs to its end), short enough that a URL
// copied from a browser's history is of no use.
const DefaultPresignExpiry = 15 * time.Minute

// Presigner signs GETs of archives in a private bucket.
type Presigner interface {
	// PresignGet is a URL that GETs the object at location (s3://bucket/key)
	// until expires from now. It is a credential: never log it.
	PresignGet(ctx context.Context, location string, expires time.Duration) (string, error)
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
	if s.LinkBurst <= 0 {
		s.LinkBurst = DefaultLinkBurst
	}
	if s.LinkEvery <= 0 {
		s.LinkEvery = DefaultLinkEvery
	}
	if s.PresignExpiry <= 0 {
		s.PresignExpiry = DefaultPresignExpiry
	}
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

// Reconcile brings the index up to date with one withdrawal's published
// link index; the request's name is the withdrawal's UID.
func (s *Server) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	s.reconciling.Lock()
	defer s.reconciling.Unlock()
	uid := types.UID(req.Name)
	var shards corev1.ConfigMapList
	if err := s.Index.List(ctx, &shards, client.InNamespace(s.Namespace), client.MatchingLabels{LabelIndex: string(uid)}); err != nil {
		return ctrl.Result{}, err
	}
	key := types.NamespacedName{Name: string(uid)}
	if len(shards.Items) == 0 {
		s.set(key, "", nil)
		return ctrl.Result{}, nil
	}
	ix, complete, err := ReadIndex(shards.Items)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !complete {
		// A publish in progress: keep the links as they were; the next
		// shard's write wakes this again.
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	s.mu.RLock()
	cur := s.byRW[key]
	s.mu.RUnlock()
	if cur != nil && cur.fingerprint == ix.Fingerprint {
		return ctrl.Result{}, nil
	}
	links := make(map[string]*link, len(ix.Links))
	for token, e := range ix.Links {
		links[token] = &link{w: ix.Withdrawal, customer: e.Customer, location: e.Location, expires: ix.Expires, pages: ix.Pages,
			limit: rate.NewLimiter(rate.Every(s.LinkEvery), s.LinkBurst)}
	}
	s.set(key, ix.Fingerprint, links)
	return ctrl.Result{}, nil
}

// MapIndex maps a link index's shard to its withdrawal's UID, the key
// Reconcile takes.
func MapIndex(_ context.Context, obj client.Object) []reconcile.Request {
	uid := obj.GetLabels()[LabelIndex]
	if uid == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: uid}}}
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

// IndexAll indexes every published link index, and then reports ready: a
// replica that has not indexed them would answer 404 to live links.
func (s *Server) IndexAll(ctx context.Context) error {
	var shards corev1.ConfigMapList
	if err := s.Index.List(ctx, &shards, client.InNamespace(s.Namespace), client.HasLabels{LabelIndex}); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, cm := range shards.Items {
		uid := cm.Labels[LabelIndex]
		if seen[uid] {
			continue
		}
		seen[uid] = true
		// One index that cannot be read now must not keep every other
		// customer's link down: the index controller tries it again, as
		// it does any failed reconcile.
		if _, err := s.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Name: uid}}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Could not index a withdrawal's links yet", "withdrawal", uid)
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
//
// A GET (or HEAD) of a live link shows a page whose button POSTs to the
// same link; only that POST records the fetch and sends the customer to
// their archive. Mail scanners and link previews follow links with GET and
// HEAD and never submit forms, so none of them is taken for the
// customer's fetch (which would spare them the Unfetched reminder).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
		h.Set("Allow", "GET, HEAD, POST")
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
	if !l.limit.AllowN(now, 1) {
		s.requests.WithLabelValues("limited").Inc()
		h.Set("Retry-After", strconv.Itoa(max(1, int(s.LinkEvery.Seconds()))))
		http.Error(w, "too many requests for this link; try again in a few seconds", http.StatusTooManyRequests)
		return
	}
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
	if r.Method != http.MethodPost {
		s.requests.WithLabelValues(map[bool]string{true: "head", false: "page"}[r.Method == http.MethodHead]).Inc()
		s.page(w, r, l, now)
		return
	}
	if err := s.Recorder.RecordKey(r.Context(), l.w, l.customer, now); err != nil {
		s.requests.WithLabelValues("failed").Inc()
		ctrl.LoggerFrom(r.Context()).Error(err, "Could not record a fetch; answered 503", "withdrawal", l.w.Namespace+"/"+l.w.Name)
		h.Set("Retry-After", "5")
		http.Error(w, "try again in a few seconds", http.StatusServiceUnavailable)
		return
	}
	s.requests.WithLabelValues("fetched").Inc()
	s.answer(w, r, l, now)
}

// landingHTML is the page a GET of a live link shows, in the words of one of
// the withdrawal's Pages (escaped). Its one form POSTs to the link itself
// (no action: the same URL).
var landingHTML = template.Must(template.New("landing").Parse(`<!doctype html>
<html lang="{{.Lang}}" dir="{{.Dir}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow"><title>{{.Title}}</title></head>
<body><main>
<h1>{{.Title}}</h1>
{{range .Paragraphs}}<p>{{.}}</p>
{{end}}<form method="post"><button type="submit">{{.Button}}</button></form>
</main></body></html>
`))

// presigns reports whether l's archive is fetched by a pre-signed GET.
func (s *Server) presigns(l *link) bool {
	return s.Presigner != nil && s3store.IsLocation(l.location)
}

// presign signs a GET of l's archive that works for PresignExpiry, and
// never past the link's own expiry.
func (s *Server) presign(ctx context.Context, l *link, now time.Time) (string, error) {
	ttl := min(s.PresignExpiry, l.expires.Sub(now).Truncate(time.Second))
	if ttl < time.Second {
		ttl = time.Second
	}
	return s.Presigner.PresignGet(ctx, l.location, ttl)
}

// cspSource is an origin that may stand in a Content-Security-Policy as is.
var cspSource = regexp.MustCompile(`^https?://[A-Za-z0-9.\-\[\]:]+$`)

// page shows the landing page (its headers alone for a HEAD). The form's
// redirect goes to the archive's origin, or to the store's that a
// pre-signed GET is at, which the policy must allow.
func (s *Server) page(w http.ResponseWriter, r *http.Request, l *link, now time.Time) {
	formAction := "'self'"
	o := origins.Origin(l.location)
	if s.presigns(l) {
		// The origin the redirect will go to: sign one and keep its origin.
		if u, err := s.presign(r.Context(), l, now); err == nil {
			o = origins.Origin(u)
		}
	}
	if cspSource.MatchString(o) {
		formAction += " " + o
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; form-action "+formAction+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	p := l.pages.For(r)
	h.Set("Content-Language", p.Lang)
	h.Add("Vary", "Accept-Language")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_ = landingHTML.Execute(w, p)
	}
}

// answer sends the customer to their archive: a redirect when it is at an
// http(s) URL or a pre-signed GET of its s3:// location, else a short page
// that says where it is.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, l *link, now time.Time) {
	if strings.HasPrefix(l.location, "https://") || strings.HasPrefix(l.location, "http://") {
		w.Header().Set("Location", l.location)
		w.WriteHeader(http.StatusSeeOther)
		return
	}
	if s.presigns(l) {
		u, err := s.presign(r.Context(), l, now)
		if err != nil {
			// The fetch is recorded; the customer's retry is answered
			// again. The log names the origin only.
			ctrl.LoggerFrom(r.Context()).Error(err, "Could not pre-sign a GET of an archive; answered 503",
				"withdrawal", l.w.Namespace+"/"+l.w.Name, "origin", origins.Origin(l.location))
			w.Header().Set("Retry-After", "5")
			http.Error(w, "try again in a few seconds", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Location", u)
		w.WriteHeader(http.StatusSeeOther)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "Your archive is at %s\n", l.location)
}
