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

package sources

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/hashset"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
)

// Walker walks the recipients of one withdrawal again and again, as
// Objects.Each does, and remembers from one walk to the next each object it
// read in full: the version it read, what it added to the Summary, which
// ids it gave, and what the visitor kept of it (a T). In the next walk the
// visitor may pass over an object it has no more use for: when the object
// is unchanged, and so is every object before it, the walk reads only its
// metadata and visits none of its recipients, yet they count as read, in
// the Summary and to tell the duplicates in the objects after it.
//
// A notice of a million recipients is sent over many calls, and each call
// must count every recipient; without a Walker each call reads and parses
// the whole list again, so the work grows with the square of its length.
//
// A Walker is for one walk at a time. An error drops what it remembers.
type Walker[T any] struct {
	// Objects reads the sources.
	Objects *Objects

	// sources is the spec's recipient sources that marks are of.
	sources string
	marks   []mark[T]
	// seen is where each id was first seen, and in which walk, by the
	// id's hash under seed (see walk.duplicate).
	seen *hashset.Map[seenAt]
	seed maphash.Seed
	gen  uint32

	// During a walk: the object entered last, which objects were passed
	// over, whether every object so far is as it was at the last walk, and
	// the Summary's counts as the current object was entered.
	v      Visitor[T]
	cur    int
	passed []bool
	same   bool
	start  Summary
}

// mark is what a Walker remembers of an object read in full.
type mark[T any] struct {
	// identity and version tell the object as it was read: a ConfigMap's
	// or Secret's UID and resourceVersion, an HTTP page's URL and strong
	// entity tag. An object with no version is never passed over.
	identity, version string
	// next is the URL an HTTP page named as the next page.
	next string
	// What the object added to the Summary.
	recipients     int64
	problems       []recipients.Problem
	problemCount   int
	duplicates     []string
	duplicateCount int
	kept           T
}

type seenAt struct{ object, gen uint32 }

// Visitor is what a Walker walks for.
type Visitor[T any] interface {
	// Passable says whether the visitor would pass over the i-th object,
	// of which it kept kept when it was last read in full. It is asked
	// only of an object read in full before, with every object before it
	// unchanged since; the Walker then reads the object's metadata, and
	// passes over it if it is unchanged too.
	Passable(i int, kept T) bool
	// Enter is called as the walk reaches the i-th object (in source
	// order: ConfigMaps, Secrets, then the paged HTTP source, which is
	// never passed over), before any of its recipients. kept is what was
	// kept of it when passed.
	Enter(i int, passed bool, kept T)
	// Visit is called once for every distinct valid recipient of the
	// objects not passed over.
	Visit(r recipients.Recipient) error
	// Leave is called after the last recipient of an object read in full
	// (the HTTP source excepted); what it returns is kept for the object.
	Leave(i int) T
}

// Walk calls v for every distinct valid recipient of rw, in source order,
// but those of the objects v passes over.
func (m *Walker[T]) Walk(ctx context.Context, rw *v1.RegionWithdrawal, v Visitor[T]) (*Summary, error) {
	if sources := sourcesOf(rw); sources != m.sources || m.seen == nil {
		m.sources, m.marks, m.seen, m.seed = sources, nil, &hashset.Map[seenAt]{}, maphash.MakeSeed()
	}
	m.gen++
	m.v, m.cur, m.passed, m.same = v, -1, m.passed[:0], true
	defer func() { m.v = nil }()
	w := &walk{rw: rw, fn: v.Visit, sum: &Summary{}, memory: m}
	if err := m.Objects.walk(ctx, w); err != nil {
		// Where the walk stopped, an object may be half visited: start
		// again from nothing.
		m.sources, m.marks, m.seen = "", nil, nil
		return w.sum, err
	}
	// The marks of objects beyond the last (pages the HTTP source no
	// longer has) are of no walk to come.
	m.marks = m.marks[:min(len(m.marks), m.cur+1)]
	return w.sum, nil
}

// sourcesOf says which objects, and which keys of them, rw reads: those
// a walk may pass over (the HTTP source, last, never is).
func sourcesOf(rw *v1.RegionWithdrawal) string {
	if rw.Spec.Notify == nil {
		return ""
	}
	src := rw.Spec.Notify.Recipients
	return fmt.Sprintf("%s\x00%v\x00%v", rw.Namespace, src.ConfigMaps, src.Secrets)
}

// duplicate says whether id was seen before in this walk: earlier in it,
// or in an object it passed over. If not, id is recorded as the current
// object's.
func (m *Walker[T]) duplicate(id string) bool {
	h := maphash.String(m.seed, id)
	e, ok := m.seen.Get(h)
	if ok && (e.gen == m.gen || (int(e.object) < m.cur && m.passed[e.object])) {
		return true
	}
	// Otherwise id was seen only in an earlier walk: in this object, in
	// one after it, or in one before it that no longer holds it (it was
	// read in full in this walk, which did not see id in it).
	m.seen.Put(h, seenAt{object: uint32(m.cur), gen: m.gen})
	return false
}

// enter starts the next object; see walk.enter.
func (m *Walker[T]) enter(ctx context.Context, w *walk, r client.Reader, kind, name string) (bool, error) {
	m.cur++
	i := m.cur
	m.passed = append(m.passed, false)
	m.start = *w.sum
	v := m.v
	var zero T
	if r == nil || !m.same || i >= len(m.marks) || !v.Passable(i, m.marks[i].kept) {
		v.Enter(i, false, zero)
		return false, nil
	}
	mk := &m.marks[i]
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
	if err := r.Get(ctx, client.ObjectKey{Namespace: w.rw.Namespace, Name: name}, meta); err != nil {
		return false, err
	}
	if string(meta.UID) != mk.identity || meta.ResourceVersion != mk.version {
		v.Enter(i, false, zero)
		return false, nil
	}
	m.pass(w, i)
	return true, nil
}

// knownPage returns the entity tag and next link the next object, a page
// of the HTTP source at u, had when last read, if it may be passed over
// once the server says it is unchanged: every object before it is as it
// was, and the visitor would pass over it.
func (m *Walker[T]) knownPage(u string) (etag, next string, ok bool) {
	i := m.cur + 1
	if !m.same || i >= len(m.marks) {
		return "", "", false
	}
	mk := &m.marks[i]
	if mk.identity != u || mk.version == "" || !m.v.Passable(i, mk.kept) {
		return "", "", false
	}
	return mk.version, mk.next, true
}

// passPage passes over the next object, a page of the HTTP source the
// server said is unchanged since knownPage.
func (m *Walker[T]) passPage(w *walk) {
	m.cur++
	m.passed = append(m.passed, false)
	m.start = *w.sum
	m.pass(w, m.cur)
}

// leavePage ends a page of the HTTP source read in full.
func (m *Walker[T]) leavePage(w *walk, u, etag, next string) { m.leaveAs(w, u, etag, next) }

// pass passes over the i-th object, just entered: what it added to the
// Summary when read is added again.
func (m *Walker[T]) pass(w *walk, i int) {
	mk := &m.marks[i]
	m.passed[i] = true
	sum := w.sum
	sum.Recipients += mk.recipients
	sum.ProblemCount += mk.problemCount
	sum.Problems = appendCapped(sum.Problems, mk.problems)
	sum.DuplicateCount += mk.duplicateCount
	sum.Duplicates = appendCapped(sum.Duplicates, mk.duplicates)
	m.v.Enter(i, true, mk.kept)
}

// leave ends an object read in full: what it added to the Summary and what
// the visitor keeps of it are remembered with its version.
func (m *Walker[T]) leave(w *walk, obj client.Object) {
	m.leaveAs(w, string(obj.GetUID()), obj.GetResourceVersion(), "")
}

// leaveAs ends an object read in full, as it was at identity and version.
func (m *Walker[T]) leaveAs(w *walk, identity, version, next string) {
	i := m.cur
	sum := w.sum
	mk := mark[T]{
		identity: identity, version: version, next: next,
		recipients:     sum.Recipients - m.start.Recipients,
		problems:       slices.Clone(sum.Problems[len(m.start.Problems):]),
		problemCount:   sum.ProblemCount - m.start.ProblemCount,
		duplicates:     slices.Clone(sum.Duplicates[len(m.start.Duplicates):]),
		duplicateCount: sum.DuplicateCount - m.start.DuplicateCount,
		kept:           m.v.Leave(i),
	}
	if i < len(m.marks) {
		m.same = m.same && mk.version != "" && m.marks[i].identity == mk.identity && m.marks[i].version == mk.version
		m.marks[i] = mk
		return
	}
	m.same = false
	m.marks = append(m.marks, mk)
}

// appendCapped appends to a Summary's list up to its cap, as a walk that
// read the object would have.
func appendCapped[E any](to, from []E) []E {
	return append(to, from[:min(len(from), max(maxReportedProblems-len(to), 0))]...)
}
