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

package handoff_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff/landing"
	"github.com/ops-dev/region-withdrawal-operator/internal/locale"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/render"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

var (
	cutoff       = time.Date(2026, 12, 29, 19, 0, 0, 0, time.UTC)
	beforeCutoff = cutoff.Add(-48 * time.Hour)
	testKey      = handoff.Key(strings.Repeat("k", 32))
)

// site is a withdrawal with customers' archives and a handoff endpoint
// serving their links over real HTTP, recording in a real API server.
type site struct {
	t         testing.TB
	rw        *v1.RegionWithdrawal
	records   string
	server    *handoff.Server
	http      *httptest.Server
	links     *handoff.Links
	clock     *clocktesting.FakePassiveClock
	customers []string
	publisher *handoff.Publisher
	artifacts map[string]v1.ExportArtifact
}

func newSite(t testing.TB, customers int, c client.Client, opts ...func(*handoff.Server)) *site {
	t.Helper()
	return newSiteAt(t, customers, "https://store.example/pk/", c, opts...)
}

// newSiteAt is newSite with the customers' archives under store, a
// location prefix.
func newSiteAt(t testing.TB, customers int, store string, c client.Client, opts ...func(*handoff.Server)) *site {
	t.Helper()
	ctx := context.Background()
	suffix := rand.String(5)
	s := &site{t: t, records: "handoff-" + suffix, clock: clocktesting.NewFakePassiveClock(beforeCutoff)}
	for _, ns := range []string{s.records, "rw-" + suffix} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	s.rw = &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: "rw-" + suffix},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Cutoff: metav1.Time{Time: cutoff}, TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"region": "pk"}},
			Export: &v1.ExportStep{
				Start:    v1.Moment{Offset: &metav1.Duration{Duration: -168 * time.Hour}},
				Deadline: v1.Moment{Offset: &metav1.Duration{Duration: -72 * time.Hour}},
				Handoff:  &v1.ExportHandoff{ExpiresAfter: &metav1.Duration{Duration: 24 * time.Hour}},
			},
		},
	}
	s.rw.Spec.Export.JobTemplate.Spec.Template.Spec.Containers = []corev1.Container{{Name: "exporter", Image: "operator"}}
	if err := env.Client.Create(ctx, s.rw); err != nil {
		t.Fatal(err)
	}
	arts := map[string]v1.ExportArtifact{}
	for i := range customers {
		id := fmt.Sprintf("c-%05d", i)
		s.customers = append(s.customers, id)
		arts[id] = v1.ExportArtifact{Recipient: id, Target: "Namespace/x", Location: store + id + ".tar.gz.age", Encrypted: true}
	}
	// A target's export that names no customer gets no link.
	arts["Namespace/shared"] = v1.ExportArtifact{Target: "Namespace/shared", Location: "https://store.example/pk/shared.tar.gz"}
	// The operator's side: the link index, published in the endpoint's
	// namespace.
	s.publisher = &handoff.Publisher{Client: env.Client, Reader: env.Client, Namespace: s.records, Key: testKey, Pages: render.HandoffPages}
	s.artifacts = arts
	if err := s.publisher.Publish(ctx, s.rw, func() (map[string]v1.ExportArtifact, error) { return arts, nil }); err != nil {
		t.Fatal(err)
	}
	server := &handoff.Server{
		Index:     env.Client,
		Namespace: s.records,
		Key:       testKey,
		Recorder:  &handoff.Recorder{Client: c, Namespace: s.records},
		Clock:     s.clock,
	}
	for _, o := range opts {
		o(server)
	}
	s.server = handoff.NewServer(server, nil)
	s.http = httptest.NewServer(s.server)
	t.Cleanup(s.http.Close)
	s.links = &handoff.Links{BaseURL: s.http.URL, Key: testKey}
	if err := s.server.IndexAll(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *site) link(customer string) string {
	l, _ := s.links.Link(s.rw, customer)
	return l
}

// noRedirects is a client that shows the endpoint's own answers.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func do(t testing.TB, method, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

func (s *site) fetches() handoff.Fetches {
	s.t.Helper()
	fs, err := handoff.ReadFetches(context.Background(), env.Client, s.records, s.rw.UID)
	if err != nil {
		s.t.Fatal(err)
	}
	return fs
}

func TestServeLinks(t *testing.T) {
	s := newSite(t, 3, env.Client)
	if got := s.server.Links(); got != 3 {
		t.Fatalf("%d links indexed, want 3 (the target's export names no customer)", got)
	}
	for _, tc := range []struct {
		name, method, url string
		wantStatus        int
		wantLocation      string
	}{
		{name: "a customer's link, opened", method: http.MethodGet, url: s.link("c-00000"), wantStatus: http.StatusOK},
		{name: "the page's button", method: http.MethodPost, url: s.link("c-00000"), wantStatus: http.StatusSeeOther, wantLocation: "https://store.example/pk/c-00000.tar.gz.age"},
		{name: "fetched again", method: http.MethodPost, url: s.link("c-00000"), wantStatus: http.StatusSeeOther, wantLocation: "https://store.example/pk/c-00000.tar.gz.age"},
		{name: "a mail scanner's GET", method: http.MethodGet, url: s.link("c-00001"), wantStatus: http.StatusOK},
		{name: "a mail scanner's HEAD", method: http.MethodHead, url: s.link("c-00001"), wantStatus: http.StatusOK},
		{name: "a made-up token", method: http.MethodPost, url: s.http.URL + handoff.PathPrefix + strings.Repeat("A", handoff.TokenLength), wantStatus: http.StatusNotFound},
		{name: "another withdrawal's token", method: http.MethodPost, url: s.http.URL + handoff.PathPrefix + testKey.Token(types.UID("other"), "c-00002"), wantStatus: http.StatusNotFound},
		{name: "a short token", method: http.MethodGet, url: s.http.URL + handoff.PathPrefix + "abc", wantStatus: http.StatusNotFound},
		{name: "PUT", method: http.MethodPut, url: s.link("c-00002"), wantStatus: http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, tc.method, tc.url)
			if res.StatusCode != tc.wantStatus || res.Header.Get("Location") != tc.wantLocation {
				t.Fatalf("%s: %d Location %q, want %d %q", tc.method, res.StatusCode, res.Header.Get("Location"), tc.wantStatus, tc.wantLocation)
			}
			if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
				t.Fatalf("Cache-Control %q, want no-store", cc)
			}
		})
	}
	fs := s.fetches()
	if !fs.Fetched("c-00000") || fs.Fetched("c-00001") || fs.Fetched("c-00002") || len(fs) != 1 {
		t.Fatalf("fetches recorded for %d customers; want c-00000 alone (GET, HEAD and PUT are not fetches)", len(fs))
	}
	k, _ := handoff.CustomerKey("c-00000")
	if f := fs[k]; f.Count != 2 || !f.First.Equal(beforeCutoff) {
		t.Fatalf("c-00000's record = %+v, want 2 fetches first at %s", f, beforeCutoff)
	}

	// The records and the link index name no customer: only hashes.
	var list corev1.ConfigMapList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(s.records)); err != nil {
		t.Fatal(err)
	}
	for _, cm := range list.Items {
		for k, v := range cm.Data {
			if strings.Contains(k+v, `"c-0000`) || strings.Contains(k, "c-0000") {
				t.Fatalf("record %s holds a customer id: %s=%s", cm.Name, k, v)
			}
		}
	}

	// Past the expiry, links answer 410 Gone and record nothing.
	s.clock.SetTime(cutoff.Add(24 * time.Hour))
	if res := do(t, http.MethodPost, s.link("c-00002")); res.StatusCode != http.StatusGone {
		t.Fatalf("an expired link answered %d, want 410", res.StatusCode)
	}
	if s.fetches().Fetched("c-00002") {
		t.Fatal("an expired link's fetch was recorded")
	}
}

// TestAFetchNotRecordedIsNotAnswered: when the record cannot be written,
// the customer gets 503 and no redirect, so a fetch is never answered
// without its record; asked again, it is recorded.
func TestAFetchNotRecordedIsNotAnswered(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	ww, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	broken := interceptor.NewClient(ww, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if fail.Load() {
				return fmt.Errorf("the API server is away")
			}
			return c.Create(ctx, obj, opts...)
		},
	})
	s := newSite(t, 1, broken)
	if res := do(t, http.MethodPost, s.link("c-00000")); res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Location") != "" || res.Header.Get("Retry-After") == "" {
		t.Fatalf("unrecorded fetch answered %d (Location %q), want 503 with Retry-After and no Location", res.StatusCode, res.Header.Get("Location"))
	}
	if s.fetches().Fetched("c-00000") {
		t.Fatal("recorded although the write failed")
	}
	fail.Store(false)
	if res := do(t, http.MethodPost, s.link("c-00000")); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("retried fetch answered %d, want 303", res.StatusCode)
	}
	if !s.fetches().Fetched("c-00000") {
		t.Fatal("the retried fetch was not recorded")
	}
}

// TestIndexFollowsTheWithdrawal: links appear when the withdrawal asks
// for them and go when it stops asking or is deleted.
func TestIndexFollowsTheWithdrawal(t *testing.T) {
	s := newSite(t, 2, env.Client)
	ctx := context.Background()
	req := ctrl.Request{NamespacedName: types.NamespacedName{Name: string(s.rw.UID)}}
	link := s.link("c-00000")
	if res := do(t, http.MethodHead, link); res.StatusCode != http.StatusOK {
		t.Fatalf("a live link answered %d, want 200", res.StatusCode)
	}

	// A third customer's archive verified: the operator publishes again
	// (the status changed), and the endpoint serves the new link.
	s.rw.Status.Steps = []v1.StepStatus{{Name: v1.StepExport, Export: &v1.ExportStatus{Verified: 3}}}
	more := map[string]v1.ExportArtifact{}
	for _, id := range []string{"c-00000", "c-00001", "c-00002"} {
		more[id] = v1.ExportArtifact{Recipient: id, Location: "https://store.example/pk/" + id + ".tar.gz.age", Encrypted: true}
	}
	if err := s.publisher.Publish(ctx, s.rw, func() (map[string]v1.ExportArtifact, error) { return more, nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.server.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	if n := s.server.Links(); n != 3 {
		t.Fatalf("%d links after a third archive was published, want 3", n)
	}
	// Nothing changed: publishing again reads no artifacts.
	if err := s.publisher.Publish(ctx, s.rw, func() (map[string]v1.ExportArtifact, error) {
		t.Fatal("the artifacts were read again with nothing changed")
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}

	// A link revoked (kubectl withdrawal handoff revoke): the operator
	// takes it out of the index; the endpoint answers it 404, the others
	// as before, and a notice sent now carries no link for that customer.
	revoked := s.link("c-00001")
	value, err := handoff.Revoke(s.rw, "c-00001")
	if err != nil {
		t.Fatal(err)
	}
	s.rw.Annotations = map[string]string{handoff.AnnotationRevoked: value}
	if err := s.publisher.Publish(ctx, s.rw, func() (map[string]v1.ExportArtifact, error) { return more, nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.server.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	if res := do(t, http.MethodPost, revoked); res.StatusCode != http.StatusNotFound {
		t.Fatalf("a revoked link answered %d, want 404", res.StatusCode)
	}
	if res := do(t, http.MethodPost, s.link("c-00002")); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("another customer's link answered %d after a revocation, want 303", res.StatusCode)
	}
	if l, _ := s.links.Link(s.rw, "c-00001"); l != "" {
		t.Fatalf("a revoked customer's notice would carry the link %q", l)
	}
	// A revocation list that cannot be read is not taken for none.
	s.rw.Annotations[handoff.AnnotationRevoked] = "c-00001,c-00002"
	if err := s.publisher.Publish(ctx, s.rw, func() (map[string]v1.ExportArtifact, error) { return more, nil }); err == nil {
		t.Fatal("an unreadable revocation list was published over")
	}
	if l, _ := s.links.Link(s.rw, "c-00002"); l != "" {
		t.Fatal("with an unreadable revocation list a notice would still carry a link")
	}
	s.rw.Annotations = nil

	// The withdrawal no longer asks for links (or is gone): the operator
	// removes the index, and the endpoint serves none.
	if err := s.publisher.Remove(ctx, s.rw.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.server.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	if n := s.server.Links(); n != 0 {
		t.Fatalf("%d links after the index was removed, want 0", n)
	}
	if res := do(t, http.MethodGet, link); res.StatusCode != http.StatusNotFound {
		t.Fatalf("a withdrawn link answered %d, want 404", res.StatusCode)
	}
}

// BenchmarkFetch measures the endpoint's fetches per second over
// loopback HTTP, each recorded in a real API server before it is
// answered, from 64 clients at once: the figure a mass mailing's click
// wave meets. Every fetch is a different customer's.
func BenchmarkFetch(b *testing.B) {
	const customers = 20000
	s := newSite(b, customers, env.Client)
	var next atomic.Int64
	b.SetParallelism(32) // 64 clients on 2 cores
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c := s.customers[int(next.Add(1))%customers]
			if res := do(b, http.MethodPost, s.link(c)); res.StatusCode != http.StatusSeeOther {
				b.Errorf("fetch answered %d", res.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "fetches/s")
}

// TestRepeatedFetchesAreNotEachAWrite: a customer fetching again and again
// within Recorder.Every costs one write, however many times they ask; a
// fetch after it is written again, so the last fetch stays known.
func TestRepeatedFetchesAreNotEachAWrite(t *testing.T) {
	ww, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	var writes atomic.Int32
	counted := interceptor.NewClient(ww, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			writes.Add(1)
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			writes.Add(1)
			return c.Update(ctx, obj, opts...)
		},
	})
	s := newSite(t, 1, counted)
	s.server.Recorder.Every = time.Minute
	for range 20 { // the link's burst
		if res := do(t, http.MethodPost, s.link("c-00000")); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("fetch answered %d", res.StatusCode)
		}
	}
	if n := writes.Load(); n != 1 {
		t.Fatalf("20 fetches within a minute made %d writes, want 1", n)
	}
	s.clock.SetTime(beforeCutoff.Add(2 * time.Minute))
	do(t, http.MethodPost, s.link("c-00000"))
	k, _ := handoff.CustomerKey("c-00000")
	if n, f := writes.Load(), s.fetches()[k]; n != 2 || !f.Last.Equal(beforeCutoff.Add(2*time.Minute)) || !f.First.Equal(beforeCutoff) {
		t.Fatalf("after two minutes: %d writes, record %+v; want 2 writes, first %s, last 2 minutes later", n, f, beforeCutoff)
	}
}

// TestTheLinkIsAPageAndItsButtonTheFetch: what a mail scanner or a link
// preview does with a link (GET, HEAD, as often as it likes) shows the
// page and records nothing; the page's form posts to the link itself, and
// the policy lets that POST be redirected to the store. A link asked too
// often is refused for a while, and then answers again.
func TestTheLinkIsAPageAndItsButtonTheFetch(t *testing.T) {
	s := newSite(t, 1, env.Client)
	link := s.link("c-00000")
	res, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	csp := res.Header.Get("Content-Security-Policy")
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `<form method="post">`) || !strings.Contains(string(body), "Download your archive") ||
		!strings.Contains(csp, "form-action 'self' https://store.example") || !strings.Contains(csp, "default-src 'none'") {
		t.Fatalf("GET: %d, CSP %q, page:\n%s", res.StatusCode, csp, body)
	}
	for range 5 {
		do(t, http.MethodGet, link)
		do(t, http.MethodHead, link)
	}
	if s.fetches().Fetched("c-00000") {
		t.Fatal("a GET or a HEAD was recorded as the customer's fetch")
	}

	// The form, as a browser submits it.
	res, err = noRedirects.PostForm(link, nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || !s.fetches().Fetched("c-00000") {
		t.Fatalf("the form's POST answered %d; recorded %v", res.StatusCode, s.fetches().Fetched("c-00000"))
	}

	// 12 requests so far; the burst is 20.
	limited := 0
	for range 15 {
		if res := do(t, http.MethodPost, link); res.StatusCode == http.StatusTooManyRequests {
			if res.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			limited++
		}
	}
	if limited != 7 {
		t.Fatalf("%d of 15 more requests were refused, want 7 (a burst of 20)", limited)
	}
	s.clock.SetTime(beforeCutoff.Add(time.Minute))
	if res := do(t, http.MethodPost, link); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("a minute later the link answered %d, want 303", res.StatusCode)
	}
}

// TestTheLinksPageIsInTheCustomersLanguage: the page a link shows is in
// the language its notice put in the link, else in the browser's, else the
// default; the withdrawal's text is escaped, and its dates are written the
// language's way. The button still fetches.
func TestTheLinksPageIsInTheCustomersLanguage(t *testing.T) {
	ctx := context.Background()
	s := newSite(t, 1, env.Client)
	// The withdrawal in the API has no notify step; its pages are given
	// to the operator's renderer as one would give them.
	s.publisher.Pages = func(rw *v1.RegionWithdrawal, expires time.Time) (landing.Pages, error) {
		rw = rw.DeepCopy()
		rw.Spec.Notify = &v1.NotifyStep{
			Templates: &v1.NoticeTemplates{HandoffPage: &v1.HandoffPageTemplate{
				Title:  "Your {{.Region}} export",
				Text:   "Works until {{.Export.ExpiresDate}}.\n\n<script>alert(1)</script>",
				Button: "Fetch it",
			}},
			Locales: []v1.LocaleTemplates{{Locale: "ur", NoticeTemplates: v1.NoticeTemplates{HandoffPage: &v1.HandoffPageTemplate{
				Title:  "آپ کا ڈیٹا",
				Text:   "یہ لنک {{.Export.ExpiresDate}} تک کام کرے گا۔",
				Button: "ڈاؤن لوڈ کریں",
			}}}},
		}
		return render.HandoffPages(rw, expires)
	}
	// Published anew, as after any change of the links (here their
	// lifetime).
	s.rw.Spec.Export.Handoff.ExpiresAfter = &metav1.Duration{Duration: 48 * time.Hour}
	if err := s.publisher.Publish(ctx, s.rw, func() (map[string]v1.ExportArtifact, error) { return s.artifacts, nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.server.IndexAll(ctx); err != nil {
		t.Fatal(err)
	}
	karachi, _ := time.LoadLocation("Asia/Karachi")
	expires := handoff.Expiry(s.rw, 0).In(karachi)
	link := s.link("c-00000")
	get := func(url, acceptLanguage string) (string, *http.Response) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if acceptLanguage != "" {
			req.Header.Set("Accept-Language", acceptLanguage)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", url, res.StatusCode, b)
		}
		return string(b), res
	}
	urdu := func(page string, res *http.Response, why string) {
		t.Helper()
		if !strings.Contains(page, `<html lang="ur" dir="rtl">`) || !strings.Contains(page, "<h1>آپ کا ڈیٹا</h1>") ||
			!strings.Contains(page, locale.For("ur").Date(expires)) || !strings.Contains(page, "ڈاؤن لوڈ کریں</button>") ||
			res.Header.Get("Content-Language") != "ur" {
			t.Fatalf("%s: the page is not the Urdu one, dated the Urdu way (%q), Content-Language %q:\n%s",
				why, locale.For("ur").Date(expires), res.Header.Get("Content-Language"), page)
		}
	}
	english := func(page string, res *http.Response, why string) {
		t.Helper()
		if !strings.Contains(page, `<html lang="en" dir="ltr">`) || !strings.Contains(page, "<h1>Your PK export</h1>") ||
			!strings.Contains(page, "<p>Works until "+locale.For("en").Date(expires)+".</p>") ||
			!strings.Contains(page, "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>") || strings.Contains(page, "<script>") ||
			res.Header.Get("Content-Language") != "en" {
			t.Fatalf("%s: the page is not the default one, with its text escaped and in paragraphs:\n%s", why, page)
		}
	}

	page, res := get(landing.WithLang(link, "ur_PK"), "en-GB")
	urdu(page, res, "a link whose notice was in ur-PK, opened by an English browser")
	page, res = get(link, "fr-FR, ur;q=0.8, en;q=0.5")
	urdu(page, res, "a link without a language, opened by a browser that reads French, then Urdu")
	page, res = get(landing.WithLang(link, "fr"), "")
	english(page, res, "a link in a language the withdrawal gives no page in")
	page, res = get(link+"?lang="+strings.Repeat("x", 200), "not a language")
	english(page, res, "a link with a language that does not parse")
	if got := landing.WithLang(link, "not a tag!"); got != link {
		t.Fatalf("a locale that does not parse changed the link to %s", got)
	}
	if s.fetches().Fetched("c-00000") {
		t.Fatal("a GET was recorded as the customer's fetch")
	}
	// The page's form posts to the link as it was opened, language and all.
	res, err := noRedirects.PostForm(landing.WithLang(link, "ur-PK"), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || !s.fetches().Fetched("c-00000") {
		t.Fatalf("the Urdu page's POST answered %d; recorded %v", res.StatusCode, s.fetches().Fetched("c-00000"))
	}
}

// TestOnlyEncryptedArchivesGetLinks: a customer's own archive stored in the
// clear gets no link (anyone who sees a link can follow it).
func TestOnlyEncryptedArchivesGetLinks(t *testing.T) {
	for _, tc := range []struct {
		a    v1.ExportArtifact
		want bool
	}{
		{a: v1.ExportArtifact{Recipient: "acme", Encrypted: true}, want: true},
		{a: v1.ExportArtifact{Recipient: "acme"}},
		{a: v1.ExportArtifact{Recipient: "zen", Encrypted: true}},
		{a: v1.ExportArtifact{Encrypted: true}},
	} {
		if got := handoff.Linkable("acme", tc.a); got != tc.want {
			t.Errorf("Linkable(acme, %+v) = %v, want %v", tc.a, got, tc.want)
		}
	}
	rw := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{UID: "u"}, Spec: v1.RegionWithdrawalSpec{Export: &v1.ExportStep{Handoff: &v1.ExportHandoff{}}}}
	ix := handoff.NewIndex(rw, map[string]v1.ExportArtifact{
		"acme": {Recipient: "acme", Location: "https://s/acme.age", Encrypted: true},
		"zen":  {Recipient: "zen", Location: "https://s/zen.tar.gz"},
	}, testKey, cutoff, nil)
	if len(ix.Links) != 1 || ix.Links[testKey.Token("u", "acme")].Location != "https://s/acme.age" {
		t.Fatalf("index %+v, want acme's encrypted archive alone", ix.Links)
	}
}

// TestTheInstallationCapsTheLinksLifetime: a withdrawal asking for links
// that work a year after the cutoff gets them for as long as the
// installation allows, in the links, the index and the status alike.
func TestTheInstallationCapsTheLinksLifetime(t *testing.T) {
	year := &metav1.Duration{Duration: 365 * 24 * time.Hour}
	rw := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{UID: "u"}, Spec: v1.RegionWithdrawalSpec{Cutoff: metav1.NewTime(cutoff),
		Export: &v1.ExportStep{Handoff: &v1.ExportHandoff{ExpiresAfter: year}}}}
	capped := cutoff.Add(90 * 24 * time.Hour)
	if got := handoff.Expiry(rw, 90*24*time.Hour); !got.Equal(capped) {
		t.Fatalf("capped expiry %s, want %s", got, capped)
	}
	if got := handoff.Expiry(rw, 0); !got.Equal(cutoff.Add(year.Duration)) {
		t.Fatalf("uncapped expiry %s, want a year after the cutoff", got)
	}
	rw.Spec.Export.Handoff.ExpiresAfter = &metav1.Duration{Duration: 24 * time.Hour}
	if got := handoff.Expiry(rw, 90*24*time.Hour); !got.Equal(cutoff.Add(24 * time.Hour)) {
		t.Fatalf("a shorter expiry than the cap became %s", got)
	}
	rw.Spec.Export.Handoff.ExpiresAfter = year
	svc := &handoff.Service{Links: handoff.Links{BaseURL: "https://x", Key: testKey, MaxExpiry: 90 * 24 * time.Hour}}
	if _, exp := svc.CustomerLink(rw, "acme"); !exp.Equal(capped) {
		t.Fatalf("the notice's link expires %s, want %s", exp, capped)
	}
	if st := svc.Count(rw, 1, handoff.Fetches{}); !st.ExpiresAt.Time.Equal(capped) {
		t.Fatalf("status says the links expire %s, want %s", st.ExpiresAt, capped)
	}
}
