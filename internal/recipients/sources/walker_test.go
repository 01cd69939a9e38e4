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
	"crypto/sha256"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients/sources"
)

// passing is a visitor that passes over the objects listed in pass, and
// keeps, for each object it walks, the ids it visited in it.
type passing struct {
	pass    map[int]bool
	visited []string
	entered []string
	cur     []string
}

func (p *passing) Passable(i int, kept []string) bool { return p.pass[i] }
func (p *passing) Enter(i int, passed bool, kept []string) {
	p.cur = nil
	if passed {
		p.entered = append(p.entered, "passed")
		return
	}
	p.entered = append(p.entered, "read")
}
func (p *passing) Visit(r recipients.Recipient) error {
	p.visited = append(p.visited, r.ID)
	p.cur = append(p.cur, r.ID)
	return nil
}
func (p *passing) Leave(int) []string { return p.cur }

// TestAWalkerPassesOverUnchangedObjectsAndStillCountsThem: objects passed
// over count in the Summary (recipients, problems, duplicates) as if read,
// and their ids still make duplicates of the same ids later; an object
// changed since the last walk is read, and so is every object after it,
// whatever the visitor would pass over.
func TestAWalkerPassesOverUnchangedObjectsAndStillCountsThem(t *testing.T) {
	ctx := context.Background()
	cms := []string{
		"id,email\na,a@example.com\nb,b@example.com\nbroken\n",
		"id,email\nc,c@example.com\na,a@example.com\n",
		"id,email\nd,d@example.com\nb,b@example.com\n",
	}
	var objs []client.Object
	rw := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Name: "pk", Namespace: "ns"}, Spec: v1.RegionWithdrawalSpec{Notify: &v1.NotifyStep{}}}
	for i, csv := range cms {
		name := []string{"one", "two", "three"}[i]
		objs = append(objs, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Data: map[string]string{"c.csv": csv}})
		rw.Spec.Notify.Recipients.ConfigMaps = append(rw.Spec.Notify.Recipients.ConfigMaps, v1.RecipientObjectRef{Name: name})
	}
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(objs...).Build()
	w := &sources.Walker[[]string]{Objects: &sources.Objects{Reader: c}}

	first := &passing{}
	sum, err := w.Walk(ctx, rw, first)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b", "c", "d"}; !slices.Equal(first.visited, want) {
		t.Fatalf("first walk visited %v, want %v", first.visited, want)
	}

	// The second walk passes over the first two objects: the third's "b"
	// is still a duplicate of the first's.
	second := &passing{pass: map[int]bool{0: true, 1: true}}
	sum2, err := w.Walk(ctx, rw, second)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"d"}; !slices.Equal(second.visited, want) {
		t.Errorf("second walk visited %v, want %v", second.visited, want)
	}
	if want := []string{"passed", "passed", "read"}; !slices.Equal(second.entered, want) {
		t.Errorf("second walk entered %v, want %v", second.entered, want)
	}
	if sum2.Recipients != sum.Recipients || sum2.ProblemCount != sum.ProblemCount || sum2.DuplicateCount != sum.DuplicateCount ||
		!slices.Equal(sum2.Duplicates, sum.Duplicates) || !slices.Equal(sum2.Problems, sum.Problems) {
		t.Errorf("passing over objects changed the summary: %+v, the walk that read them all %+v", sum2, sum)
	}

	// The first object loses "a": the second object's "a" is a recipient
	// now. The first is read, and so is the second, which the visitor
	// would pass over, since what was a duplicate in it may no longer be.
	var one corev1.ConfigMap
	if err := c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "one"}, &one); err != nil {
		t.Fatal(err)
	}
	one.Data["c.csv"] = "id,email\nb,b@example.com\n"
	if err := c.Update(ctx, &one); err != nil {
		t.Fatal(err)
	}
	third := &passing{pass: map[int]bool{0: true, 1: true, 2: true}}
	sum3, err := w.Walk(ctx, rw, third)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"b", "c", "a", "d"}; !slices.Equal(third.visited, want) {
		t.Errorf("after the change the walk visited %v, want %v", third.visited, want)
	}
	if sum3.Recipients != 4 || sum3.ProblemCount != 0 || sum3.DuplicateCount != 1 {
		t.Errorf("after the change: %d recipients, %d problems, %d duplicates; want 4, 0, 1", sum3.Recipients, sum3.ProblemCount, sum3.DuplicateCount)
	}

	// Nothing changed since: all three are passed over, and "b" of the
	// third object is still a duplicate, of the first's.
	fourth := &passing{pass: map[int]bool{0: true, 1: true, 2: true}}
	sum4, err := w.Walk(ctx, rw, fourth)
	if err != nil {
		t.Fatal(err)
	}
	if len(fourth.visited) != 0 || sum4.Recipients != 4 || sum4.DuplicateCount != 1 {
		t.Errorf("an unchanged list: visited %v, %d recipients, %d duplicates; want none, 4, 1", fourth.visited, sum4.Recipients, sum4.DuplicateCount)
	}
}

// pagedServer serves pages of JSON lines linked by rel="next", each with
// a strong entity tag of its content unless weak is set or the page is
// untagged, and
// counts what it answered: 200s and 304s, and how many requests carried
// If-None-Match.
type pagedServer struct {
	mu           sync.Mutex
	pages        []string
	weak, long   bool
	untagged     map[int]bool
	full, notMod int
	conditional  int
}

func (s *pagedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int
	fmt.Sscanf(r.URL.Query().Get("page"), "%d", &n)
	if n < 1 || n > len(s.pages) {
		http.NotFound(w, r)
		return
	}
	body := s.pages[n-1]
	etag := fmt.Sprintf(`"%x"`, sha256.Sum256([]byte(body)))
	if s.long {
		etag = fmt.Sprintf(`"%x%0300d"`, sha256.Sum256([]byte(body)), 0)
	}
	if s.weak {
		etag = "W/" + etag
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		s.conditional++
		if inm == etag {
			s.notMod++
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if !s.untagged[n] {
		w.Header().Set("ETag", etag)
	}
	if n < len(s.pages) {
		w.Header().Set("Link", fmt.Sprintf(`</customers?page=%d>; rel="next"`, n+1))
	}
	s.full++
	fmt.Fprint(w, body)
}

func (s *pagedServer) counts() (full, notMod, conditional int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	full, notMod, conditional = s.full, s.notMod, s.conditional
	s.full, s.notMod, s.conditional = 0, 0, 0
	return full, notMod, conditional
}

// TestAWalkerPassesOverHTTPPagesTheServerSaysAreUnchanged: each page of
// the paged HTTP source is an object of the walk, known by its URL and
// its strong entity tag. A page the visitor would pass over is asked for
// with If-None-Match, and a 304 passes over it, still counted; a changed
// page is read, and so is every page after it, unasked; a server with no
// entity tags, or weak ones, has every page read.
func TestAWalkerPassesOverHTTPPagesTheServerSaysAreUnchanged(t *testing.T) {
	ctx := context.Background()
	srv := &pagedServer{pages: []string{
		`{"id":"a","email":"a@example.com"}` + "\n" + `{"id":"b","email":"b@example.com"}` + "\n",
		`{"id":"c","email":"c@example.com"}` + "\n" + `{"id":"a","email":"a@example.com"}` + "\n" + "not json\n",
		`{"id":"d","email":"d@example.com"}` + "\n",
	}}
	ts := httptest.NewTLSServer(srv)
	defer ts.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	rw := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Name: "pk", Namespace: "ns"}, Spec: v1.RegionWithdrawalSpec{
		Notify: &v1.NotifyStep{Recipients: v1.RecipientSources{HTTP: &v1.HTTPRecipientSource{URL: ts.URL + "/customers?page=1", CABundle: ca}}},
	}}
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).Build()
	w := &sources.Walker[[]string]{Objects: &sources.Objects{Reader: c, HTTP: &sources.HTTPPager{Egress: egress.Loopback()}}}
	walk := func(name string, pass map[int]bool) (*passing, *sources.Summary) {
		t.Helper()
		v := &passing{pass: pass}
		sum, err := w.Walk(ctx, rw, v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return v, sum
	}
	all := map[int]bool{0: true, 1: true, 2: true}

	first, sum := walk("first walk", nil)
	if want := []string{"a", "b", "c", "d"}; !slices.Equal(first.visited, want) {
		t.Fatalf("first walk visited %v, want %v", first.visited, want)
	}
	if full, _, cond := srv.counts(); full != 3 || cond != 0 {
		t.Fatalf("first walk: %d pages read, %d asked conditionally; want 3, 0", full, cond)
	}

	second, sum2 := walk("second walk", all)
	if len(second.visited) != 0 || !slices.Equal(second.entered, []string{"passed", "passed", "passed"}) {
		t.Errorf("second walk visited %v and entered %v; want nothing visited, every page passed", second.visited, second.entered)
	}
	if full, notMod, _ := srv.counts(); full != 0 || notMod != 3 {
		t.Errorf("second walk: %d pages read, %d answered 304; want 0, 3", full, notMod)
	}
	if sum2.Recipients != sum.Recipients || sum2.ProblemCount != 1 || sum2.DuplicateCount != 1 || !slices.Equal(sum2.Duplicates, []string{"a"}) {
		t.Errorf("passing over pages changed the summary: %+v, the walk that read them %+v", sum2, sum)
	}

	// Page 1 loses "a": page 2's "a" is a recipient now, so page 2 is read
	// too (not even asked conditionally), and so is page 3.
	srv.mu.Lock()
	srv.pages[0] = `{"id":"b","email":"b@example.com"}` + "\n"
	srv.mu.Unlock()
	third, sum3 := walk("after a change", all)
	if want := []string{"b", "c", "a", "d"}; !slices.Equal(third.visited, want) {
		t.Errorf("after the change the walk visited %v, want %v", third.visited, want)
	}
	if full, notMod, cond := srv.counts(); full != 3 || notMod != 0 || cond != 1 {
		t.Errorf("after the change: %d pages read, %d answered 304, %d asked conditionally; want 3, 0, 1 (only page 1)", full, notMod, cond)
	}
	if sum3.Recipients != 4 || sum3.DuplicateCount != 0 {
		t.Errorf("after the change: %d recipients, %d duplicates; want 4, 0", sum3.Recipients, sum3.DuplicateCount)
	}

	// A page with no entity tag is read every walk, and so is every page
	// after it: it may have changed, as page 1 does here, losing "a".
	srv.mu.Lock()
	srv.pages[0] = `{"id":"a","email":"a@example.com"}` + "\n" + `{"id":"b","email":"b@example.com"}` + "\n"
	srv.untagged = map[int]bool{1: true}
	srv.mu.Unlock()
	walk("a walk with page 1 untagged", nil)
	srv.counts()
	srv.mu.Lock()
	srv.pages[0] = `{"id":"b","email":"b@example.com"}` + "\n"
	srv.mu.Unlock()
	fourth, _ := walk("page 1 untagged and changed", all)
	if want := []string{"b", "c", "a", "d"}; !slices.Equal(fourth.visited, want) {
		t.Errorf("with page 1 untagged and changed the walk visited %v, want %v", fourth.visited, want)
	}
	if full, _, cond := srv.counts(); full != 3 || cond != 0 {
		t.Errorf("with page 1 untagged: %d pages read, %d asked conditionally; want 3, 0", full, cond)
	}

	// Without strong entity tags nothing can be passed over, nor with
	// tags too long to keep.
	for _, weak := range []bool{true, false} {
		srv.mu.Lock()
		srv.weak, srv.untagged = weak, map[int]bool{1: !weak, 2: !weak, 3: !weak}
		srv.mu.Unlock()
		walk("a first walk without strong tags", nil)
		srv.counts()
		v, _ := walk("a second walk without strong tags", all)
		if full, _, cond := srv.counts(); full != 3 || cond != 0 || len(v.visited) != 4 {
			t.Errorf("weak tags %v, none %v: %d pages read, %d asked conditionally, %d visited; want 3, 0, 4", weak, !weak, full, cond, len(v.visited))
		}
	}
	srv.mu.Lock()
	srv.weak, srv.long, srv.untagged = false, true, nil
	srv.mu.Unlock()
	walk("a first walk with long tags", nil)
	srv.counts()
	walk("a second walk with long tags", all)
	if full, _, cond := srv.counts(); full != 3 || cond != 0 {
		t.Errorf("tags of over 300 bytes: %d pages read, %d asked conditionally; want 3, 0", full, cond)
	}
}
