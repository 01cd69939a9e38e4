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

// Package sources reads the recipient lists a withdrawal names: keys of
// ConfigMaps and Secrets (a list over 1 MiB is split across several) and the
// paged HTTP source. It hands each customer to the caller once, in source
// order, and counts what it passes over: later records of an id already
// seen, and the problems package recipients reports for a malformed record.
package sources

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/hashset"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
	"github.com/ops-dev/region-withdrawal-operator/internal/text"
)

// maxFailedSource caps what Summary.Failed says of one source, as
// status.notify.failedSources does.
const maxFailedSource = 1024

// maxReportedProblems caps the problems kept for status and Events; the
// count of all problems is always exact.
const maxReportedProblems = 20

// Summary describes a read of every recipient source.
type Summary struct {
	// Recipients is how many distinct valid recipients were read.
	Recipients int64
	// Problems are the first skipped records; ProblemCount counts them all.
	Problems     []recipients.Problem
	ProblemCount int
	// Duplicates lists the first ids seen more than once; DuplicateCount
	// counts them all. A duplicate is notified once.
	Duplicates     []string
	DuplicateCount int
	// Unread names sources this reader does not read (the paged HTTP source
	// is read by the notifier when it sends).
	Unread []string
	// Failed names the sources that could not be read, and why, for a
	// reason retrying cannot fix (the egress policy refused where they
	// lead). The other sources were read.
	Failed []string
}

// Objects reads recipients from the ConfigMaps and Secrets a withdrawal
// names, and from its paged HTTP source when HTTP is set.
type Objects struct {
	// Reader reads the ConfigMaps and Secrets. Pass an uncached reader:
	// recipient lists are large, and caching every ConfigMap of the cluster
	// to read a few would cost more memory than the lists themselves.
	Reader client.Reader
	// HTTP reads the paged HTTP source. Without it the source is listed in
	// Summary.Unread and not read (the rehearsal does not call out).
	HTTP *HTTPPager
}

// Each calls fn once for every distinct valid recipient, in source order.
func (o *Objects) Each(ctx context.Context, rw *v1.RegionWithdrawal, fn func(recipients.Recipient) error) (*Summary, error) {
	w := &walk{rw: rw, fn: fn, sum: &Summary{}, seed: maphash.MakeSeed()}
	return w.sum, o.walk(ctx, w)
}

// walk reads every source of w's withdrawal in order, object by object,
// asking w's memory, when it has one, which objects to pass over.
func (o *Objects) walk(ctx context.Context, w *walk) error {
	rw := w.rw
	if rw.Spec.Notify == nil {
		return nil
	}
	src := rw.Spec.Notify.Recipients
	for _, ref := range src.ConfigMaps {
		if err := o.readObject(ctx, w, "ConfigMap", ref, &corev1.ConfigMap{}, func(obj client.Object) map[string][]byte {
			cm := obj.(*corev1.ConfigMap)
			data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
			for k, v := range cm.Data {
				data[k] = []byte(v)
			}
			for k, v := range cm.BinaryData {
				data[k] = v
			}
			return data
		}); err != nil {
			return err
		}
	}
	for _, ref := range src.Secrets {
		if err := o.readObject(ctx, w, "Secret", ref, &corev1.Secret{}, func(obj client.Object) map[string][]byte {
			return obj.(*corev1.Secret).Data
		}); err != nil {
			return err
		}
	}
	if src.HTTP != nil {
		if o.HTTP == nil {
			w.sum.Unread = append(w.sum.Unread, "http source "+redactURL(src.HTTP.URL))
			return nil
		}
		if err := o.readHTTP(ctx, w, src.HTTP); errors.Is(err, egress.ErrRefused) {
			// Refetching would be refused again, and would hold up the
			// recipients of every other source with it.
			w.sum.Failed = append(w.sum.Failed, text.Truncate(fmt.Sprintf("http source %s: %v", redactURL(src.HTTP.URL), err), maxFailedSource))
		} else if err != nil {
			return err
		}
	}
	return nil
}

// readObject reads the recipients of one ConfigMap or Secret (kind, into
// obj, whose keys data gives), unless the walk passes over it.
func (o *Objects) readObject(ctx context.Context, w *walk, kind string, ref v1.RecipientObjectRef, obj client.Object, data func(client.Object) map[string][]byte) error {
	if passed, err := w.enter(ctx, o.Reader, kind, ref.Name); err != nil || passed {
		if err != nil {
			return fmt.Errorf("reading recipients from %s %s/%s: %w", kind, w.rw.Namespace, ref.Name, err)
		}
		return nil
	}
	if err := o.Reader.Get(ctx, client.ObjectKey{Namespace: w.rw.Namespace, Name: ref.Name}, obj); err != nil {
		return fmt.Errorf("reading recipients from %s %s/%s: %w", kind, w.rw.Namespace, ref.Name, err)
	}
	if err := w.readKeys(kind, ref.Name, data(obj), ref); err != nil {
		return err
	}
	w.leave(obj)
	return nil
}

// walk is one Each, or one Walker.Walk: what it has seen and counted so far.
type walk struct {
	rw  *v1.RegionWithdrawal
	fn  func(recipients.Recipient) error
	sum *Summary
	// seen is the ids of this walk, for Each, by their hash under seed; a
	// Walker's walk uses the Walker's instead.
	seen hashset.Set
	seed maphash.Seed
	// memory is the Walker's, nil for Each.
	memory memory
}

// memory is what a Walker lends its walk.
type memory interface {
	duplicate(id string) bool
	enter(ctx context.Context, w *walk, r client.Reader, kind, name string) (passed bool, err error)
	leave(w *walk, obj client.Object)
	// The pages of the HTTP source: each is an object of the walk, known
	// by its URL and its entity tag.
	knownPage(u string) (etag, next string, ok bool)
	passPage(w *walk)
	leavePage(w *walk, u, etag, next string)
}

// visit hands a recipient to fn once; a duplicate id is counted instead.
func (w *walk) visit(r recipients.Recipient) error {
	if w.duplicate(r.ID) {
		w.sum.DuplicateCount++
		if len(w.sum.Duplicates) < maxReportedProblems {
			w.sum.Duplicates = append(w.sum.Duplicates, r.ID)
		}
		return nil
	}
	w.sum.Recipients++
	return w.fn(r)
}

// duplicate says whether id was seen before in this walk, and if not,
// records it.
//
// Ids are kept as 64-bit hashes, 12 bytes each instead of some 60 for the
// string in a map, under a seed chosen at random per walk (per Walker),
// which never leaves the process. Two distinct ids of a million collide
// by chance with a probability of about 3 in 100 million; the second
// would be reported as a duplicate, where the author looks, not skipped
// silently.
func (w *walk) duplicate(id string) bool {
	if m := w.memory; m != nil {
		return m.duplicate(id)
	}
	h := maphash.String(w.seed, id)
	if w.seen.Has(h) {
		return true
	}
	w.seen.Add(h)
	return false
}

func (w *walk) problems(ps []recipients.Problem) {
	w.sum.ProblemCount += len(ps)
	for _, p := range ps {
		if len(w.sum.Problems) < maxReportedProblems {
			w.sum.Problems = append(w.sum.Problems, p)
		}
	}
}

// enter starts the next object of the walk. With a memory, it asks the
// visitor whether the object may be passed over and, if so and the object
// is unchanged, passes over it (passed). With r nil it is read in full
// (a page of the HTTP source, which the pager passes over instead).
func (w *walk) enter(ctx context.Context, r client.Reader, kind, name string) (passed bool, err error) {
	if w.memory == nil {
		return false, nil
	}
	return w.memory.enter(ctx, w, r, kind, name)
}

// leave ends an object read in full.
func (w *walk) leave(obj client.Object) {
	if w.memory != nil {
		w.memory.leave(w, obj)
	}
}

// readKeys parses the keys ref names (all of them, sorted, when it names
// none) of a ConfigMap's or Secret's data.
func (w *walk) readKeys(kind, name string, data map[string][]byte, ref v1.RecipientObjectRef) error {
	keys := ref.Keys
	if len(keys) == 0 {
		for k := range data {
			keys = append(keys, k)
		}
		slices.Sort(keys)
	}
	for _, k := range keys {
		b, ok := data[k]
		if !ok {
			return fmt.Errorf("%s %s/%s has no key %q", kind, w.rw.Namespace, name, k)
		}
		source := fmt.Sprintf("%s %s/%s key %s", kind, w.rw.Namespace, name, k)
		problems, err := recipients.Parse(bytes.NewReader(b), ref.Format, source, w.visit)
		if err != nil {
			return err
		}
		w.problems(problems)
	}
	return nil
}

// readHTTP pages through the HTTP source, with the headers its Secret holds.
func (o *Objects) readHTTP(ctx context.Context, w *walk, src *v1.HTTPRecipientSource) error {
	headers, err := HeadersFromSecret(ctx, o.Reader, w.rw.Namespace, src.HeadersSecretRef)
	if err != nil {
		return fmt.Errorf("reading the headers of the http recipient source: %w", err)
	}
	var mem pageMemory
	if w.memory != nil {
		mem = walkPages{w}
	}
	return o.HTTP.pages(ctx, src, headers, mem, func(pg pageRead) error {
		if w.memory != nil {
			// Not passed over: entered as a ConfigMap read in full is.
			if _, err := w.memory.enter(ctx, w, nil, "http page", pg.url); err != nil {
				return err
			}
		}
		problems, err := recipients.Parse(pg.body, v1.RecipientFormatJSONLines, pg.source, w.visit)
		w.problems(problems)
		if err != nil {
			return err
		}
		if w.memory != nil {
			w.memory.leavePage(w, pg.url, pg.etag, pg.next)
		}
		return nil
	})
}

// walkPages is a Walker's walk as the pager's memory of pages.
type walkPages struct{ w *walk }

func (p walkPages) known(u string) (etag, next string, ok bool) { return p.w.memory.knownPage(u) }
func (p walkPages) unchanged()                                  { p.w.memory.passPage(p.w) }

// HeadersFromSecret reads request headers from a Secret in namespace: each
// key a header name, each value its value. A nil ref gives none.
func HeadersFromSecret(ctx context.Context, r client.Reader, namespace string, ref *v1.LocalObjectReference) (map[string]string, error) {
	headers := map[string]string{}
	if ref == nil {
		return headers, nil
	}
	var s corev1.Secret
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, &s); err != nil {
		return nil, fmt.Errorf("from Secret %s/%s: %w", namespace, ref.Name, err)
	}
	for k, v := range s.Data {
		headers[k] = string(v)
	}
	return headers, nil
}

// redactURL drops the query, which often carries a token.
func redactURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}
