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

// The link index is what the endpoint needs to serve a withdrawal's links:
// which customers have one, where each archive is, and when the links
// expire. The operator publishes it in the installation's namespace, in
// ConfigMaps only it may write (the chart's records admission policy), so
// that the Internet-facing endpoint reads nothing outside its own
// namespace: no withdrawal, and none of the tenants' ConfigMaps. It holds
// links by token, and customers by the hash their fetch records use: like
// the records, it names no customer.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff/landing"
)

const (
	// LabelIndex marks a shard of a withdrawal's link index; its value is
	// the withdrawal's UID.
	LabelIndex = "withdrawal.ops.dev/handoff-index"
	// IndexPrefix begins the name of every shard of a link index.
	IndexPrefix = "handoff-index-"

	annotationFingerprint = "withdrawal.ops.dev/handoff-index-fingerprint"
	annotationShards      = "withdrawal.ops.dev/handoff-index-shards"
	annotationExpires     = "withdrawal.ops.dev/handoff-index-expires"
	indexDataKey          = "links.json"
	pagesDataKey          = "pages.json"
	// maxIndexShard bounds one shard's links, well under a ConfigMap's
	// 1 MiB with the pages shard 0 also holds (at most 17 languages of a
	// few KiB each).
	maxIndexShard = 512 << 10
)

// Index is one withdrawal's link index.
type Index struct {
	Withdrawal Withdrawal
	Expires    time.Time
	// Fingerprint changes whenever the links could (Fingerprint).
	Fingerprint string
	// Links are the live links, by token.
	Links map[string]IndexEntry
	// Pages are the landing pages, by language (shard 0 holds them).
	Pages landing.Pages
}

// IndexEntry is one customer's link: whose it is, as the record key of
// their fetches (a hash: the index, like the records, names no customer),
// and where their archive is.
type IndexEntry struct {
	Customer string `json:"c"`
	Location string `json:"l"`
}

// IndexName is the name of shard i of a withdrawal's link index.
func IndexName(uid types.UID, shard int) string {
	return fmt.Sprintf("%s%s-%d", IndexPrefix, uid, shard)
}

// Fingerprint changes whenever a withdrawal's links could: its UID, its
// links' expiry (Expiry), or what its export step has verified.
func Fingerprint(rw *v1.RegionWithdrawal, expires time.Time) string {
	fp := fmt.Sprintf("%s/%s", rw.UID, expires.UTC().Format(time.RFC3339))
	for _, st := range rw.Status.Steps {
		if e := st.Export; st.Name == v1.StepExport && e != nil {
			fp += fmt.Sprintf("/%d/%d/%d/%d/%d/%d", e.Verified, len(e.Artifacts), e.ArtifactsInConfigMaps, e.ManifestsRead, e.Customers, e.CustomersReread)
		}
	}
	return fp
}

// Linkable says whether customer gets a link to artifact: only to their own
// archive (a target's export that names no customer gets none), and only
// when it is encrypted (to their own key, as the per-customer exports are):
// a link anyone who sees it can follow must not lead to plain data.
func Linkable(customer string, a v1.ExportArtifact) bool {
	return a.Recipient != "" && a.Recipient == customer && a.Encrypted
}

// NewIndex is the index of rw's links to the archives (Linkable), by the
// token key makes of each, working until expires; revoked customers get
// none.
func NewIndex(rw *v1.RegionWithdrawal, artifacts map[string]v1.ExportArtifact, key Key, expires time.Time, revoked map[string]bool) Index {
	ix := Index{
		Withdrawal:  Withdrawal{UID: rw.UID, Namespace: rw.Namespace, Name: rw.Name},
		Expires:     expires.UTC(),
		Fingerprint: Fingerprint(rw, expires),
		Links:       map[string]IndexEntry{},
	}
	for id, a := range artifacts {
		if Linkable(id, a) && !revoked[id] {
			k, _ := CustomerKey(id)
			ix.Links[key.Token(rw.UID, id)] = IndexEntry{Customer: k, Location: a.Location}
		}
	}
	return ix
}

// ConfigMaps are the index's shards in namespace ns, in order: the
// customers sorted, each shard holding as many as fit.
func (ix Index) ConfigMaps(ns string) ([]*corev1.ConfigMap, error) {
	var shards []map[string]IndexEntry
	cur, size := map[string]IndexEntry{}, 0
	for _, token := range slices.Sorted(maps.Keys(ix.Links)) {
		e := ix.Links[token]
		n := len(token) + len(e.Customer) + len(e.Location) + 24
		if size+n > maxIndexShard && len(cur) > 0 {
			shards, cur, size = append(shards, cur), map[string]IndexEntry{}, 0
		}
		cur[token], size = e, size+n
	}
	shards = append(shards, cur) // an index without links is one empty shard
	out := make([]*corev1.ConfigMap, len(shards))
	for i, links := range shards {
		b, err := json.Marshal(links)
		if err != nil {
			return nil, err
		}
		data := map[string]string{indexDataKey: string(b)}
		if i == 0 && len(ix.Pages) > 0 {
			p, err := json.Marshal(ix.Pages)
			if err != nil {
				return nil, err
			}
			data[pagesDataKey] = string(p)
		}
		out[i] = &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name: IndexName(ix.Withdrawal.UID, i), Namespace: ns,
				Labels: map[string]string{LabelIndex: string(ix.Withdrawal.UID)},
				Annotations: map[string]string{
					AnnotationWithdrawalNamespace: ix.Withdrawal.Namespace,
					AnnotationWithdrawalName:      ix.Withdrawal.Name,
					annotationFingerprint:         ix.Fingerprint,
					annotationShards:              strconv.Itoa(len(shards)),
					annotationExpires:             ix.Expires.Format(time.RFC3339),
				},
			},
			Data: data,
		}
	}
	return out, nil
}

// ReadIndex puts a withdrawal's shards back together. complete is false
// while they are not one whole index (a publish half done): the reader
// keeps what it had until they are.
func ReadIndex(shards []corev1.ConfigMap) (ix Index, complete bool, err error) {
	if len(shards) == 0 {
		return Index{}, false, nil
	}
	first := shards[0].Annotations
	want, err := strconv.Atoi(first[annotationShards])
	if err != nil || want != len(shards) {
		return Index{}, false, nil
	}
	expires, err := time.Parse(time.RFC3339, first[annotationExpires])
	if err != nil {
		return Index{}, false, fmt.Errorf("link index %s: expiry %q: %w", shards[0].Name, first[annotationExpires], err)
	}
	ix = Index{
		Withdrawal: Withdrawal{UID: types.UID(shards[0].Labels[LabelIndex]),
			Namespace: first[AnnotationWithdrawalNamespace], Name: first[AnnotationWithdrawalName]},
		Expires: expires, Fingerprint: first[annotationFingerprint], Links: map[string]IndexEntry{},
	}
	seen := map[string]bool{}
	for _, cm := range shards {
		if cm.Annotations[annotationFingerprint] != ix.Fingerprint || cm.Labels[LabelIndex] != string(ix.Withdrawal.UID) {
			return Index{}, false, nil
		}
		seen[cm.Name] = true
		var links map[string]IndexEntry
		if err := json.Unmarshal([]byte(cm.Data[indexDataKey]), &links); err != nil {
			return Index{}, false, fmt.Errorf("link index %s: %w", cm.Name, err)
		}
		maps.Copy(ix.Links, links)
		if raw, ok := cm.Data[pagesDataKey]; ok && cm.Name == IndexName(ix.Withdrawal.UID, 0) {
			if err := json.Unmarshal([]byte(raw), &ix.Pages); err != nil {
				return Index{}, false, fmt.Errorf("link index %s: pages: %w", cm.Name, err)
			}
		}
	}
	for i := range want {
		if !seen[IndexName(ix.Withdrawal.UID, i)] {
			return Index{}, false, nil
		}
	}
	return ix, true, nil
}

// Publisher writes withdrawals' link indexes in the installation's
// namespace, as the operator. It remembers what it last published, so
// that a reconcile whose links have not changed costs nothing.
type Publisher struct {
	// Client writes the shards, as the operator; Reader reads them
	// uncached.
	Client client.Client
	Reader client.Reader
	// Namespace is the installation's.
	Namespace string
	// Key makes the links' tokens.
	Key Key
	// MaxExpiry caps the links' lifetime after the cutoff (Expiry).
	MaxExpiry time.Duration
	// Pages renders the landing pages; without it the endpoint shows its
	// English fallback.
	Pages PageRenderer

	mu        sync.Mutex
	published map[types.UID]string // fingerprint; "" when there is none
}

// Publish makes rw's index the one its verified exports call for;
// artifacts is called only when the links may have changed.
func (p *Publisher) Publish(ctx context.Context, rw *v1.RegionWithdrawal, artifacts func() (map[string]v1.ExportArtifact, error)) error {
	expires := Expiry(rw, p.MaxExpiry)
	revoked, err := Revoked(rw)
	if err != nil {
		return err
	}
	fp := Fingerprint(rw, expires)
	if raw := rw.Annotations[AnnotationRevoked]; raw != "" {
		sum := sha256.Sum256([]byte(raw))
		fp += "/revoked:" + hex.EncodeToString(sum[:8])
	}
	if p.Pages != nil {
		fp += "/pages:" + pagesFingerprint(rw)
	}
	if last, ok := p.last(ctx, rw.UID); ok && last == fp {
		return nil
	}
	arts, err := artifacts()
	if err != nil {
		return err
	}
	ix := NewIndex(rw, arts, p.Key, expires, revoked)
	ix.Fingerprint = fp
	if p.Pages != nil {
		if ix.Pages, err = p.Pages(rw, expires); err != nil {
			return fmt.Errorf("rendering the handoff page: %w", err)
		}
	}
	shards, err := ix.ConfigMaps(p.Namespace)
	if err != nil {
		return err
	}
	for _, want := range shards {
		if err := p.put(ctx, want); err != nil {
			return err
		}
	}
	if err := p.deleteFrom(ctx, rw.UID, len(shards)); err != nil {
		return err
	}
	p.remember(rw.UID, fp)
	return nil
}

// Remove deletes rw's index, if it has one: a withdrawal gone, or no
// longer asking for links.
func (p *Publisher) Remove(ctx context.Context, uid types.UID) error {
	if last, ok := p.last(ctx, uid); ok && last == "" {
		return nil
	}
	if err := p.deleteFrom(ctx, uid, 0); err != nil {
		return err
	}
	p.remember(uid, "")
	return nil
}

// last is the fingerprint of uid's published index, read once from the
// API server after a start; ok is false when it could not be read.
func (p *Publisher) last(ctx context.Context, uid types.UID) (string, bool) {
	p.mu.Lock()
	fp, ok := p.published[uid]
	p.mu.Unlock()
	if ok {
		return fp, true
	}
	var cm corev1.ConfigMap
	err := p.Reader.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: IndexName(uid, 0)}, &cm)
	switch {
	case apierrors.IsNotFound(err):
		fp = ""
	case err != nil:
		return "", false
	default:
		// A shard 0 from a publish that died half done is rewritten: the
		// fingerprint stands for the whole index only once it is whole.
		var all corev1.ConfigMapList
		if err := p.Reader.List(ctx, &all, client.InNamespace(p.Namespace), client.MatchingLabels{LabelIndex: string(uid)}); err != nil {
			return "", false
		}
		if _, complete, _ := ReadIndex(all.Items); !complete {
			return "", false
		}
		fp = cm.Annotations[annotationFingerprint]
	}
	p.remember(uid, fp)
	return fp, true
}

func (p *Publisher) remember(uid types.UID, fp string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.published == nil || len(p.published) > 1<<16 {
		p.published = map[types.UID]string{}
	}
	p.published[uid] = fp
}

// put creates or updates one shard.
func (p *Publisher) put(ctx context.Context, want *corev1.ConfigMap) error {
	var cur corev1.ConfigMap
	err := p.Reader.Get(ctx, client.ObjectKeyFromObject(want), &cur)
	if apierrors.IsNotFound(err) {
		if err := p.Client.Create(ctx, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating link index %s: %w", want.Name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading link index %s: %w", want.Name, err)
	}
	if maps.Equal(cur.Data, want.Data) && maps.Equal(cur.Annotations, want.Annotations) && maps.Equal(cur.Labels, want.Labels) {
		return nil
	}
	cur.Data, cur.Annotations, cur.Labels = want.Data, want.Annotations, want.Labels
	if err := p.Client.Update(ctx, &cur); err != nil {
		return fmt.Errorf("updating link index %s: %w", want.Name, err)
	}
	return nil
}

// deleteFrom deletes uid's shards numbered from on.
func (p *Publisher) deleteFrom(ctx context.Context, uid types.UID, from int) error {
	var all corev1.ConfigMapList
	if err := p.Reader.List(ctx, &all, client.InNamespace(p.Namespace), client.MatchingLabels{LabelIndex: string(uid)}); err != nil {
		return fmt.Errorf("listing the link index of %s: %w", uid, err)
	}
	keep := make(map[string]bool, from)
	for n := range from {
		keep[IndexName(uid, n)] = true
	}
	for i := range all.Items {
		cm := &all.Items[i]
		if keep[cm.Name] {
			continue
		}
		if err := p.Client.Delete(ctx, cm); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting link index %s: %w", cm.Name, err)
		}
	}
	return nil
}
