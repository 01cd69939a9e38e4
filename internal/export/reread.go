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

package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients/sources"
)

// Re-reading bounds: one call reads at most rereadBatch archives,
// rereadParallel at a time, and starts no new read after rereadBudget, so
// that it ends well within the controller's execute timeout (2 minutes by
// default); the next call goes on where it stopped.
const (
	rereadBatch    = 2000
	rereadParallel = 8
	rereadBudget   = 45 * time.Second
	// rereadTimeout bounds the reading of one archive: one that takes
	// longer is read again by a later call, and never counts.
	rereadTimeout = time.Minute
	// rereadNext is how soon the next batch is read.
	rereadNext = 100 * time.Millisecond
)

// ErrArchiveMismatch is a customer's archive that is not what its manifest
// says: it was changed, cut or replaced after the export.
var ErrArchiveMismatch = errors.New("a customer's archive does not match its manifest")

// Rereads reports whether rw has every customer's archive read back.
func Rereads(rw *v1.RegionWithdrawal) bool {
	return rw.Spec.Export != nil && rw.Spec.Export.Manifests != nil && rw.Spec.Export.Manifests.Verify == v1.VerifyReread
}

// pendingArchive is a customer's archive not re-read yet.
type pendingArchive struct {
	shard, key string
	art        v1.ExportArtifact
}

// rereadCustomers reads back up to rereadBatch customers' archives that
// have not been, hashes each, and marks the ones that match (VerifiedAt in
// their entry). st.CustomersReread counts the marked entries. An archive
// that does not match is returned as ErrArchiveMismatch, naming the
// customers; one that cannot be read now is an ordinary error, retried.
//
// The marks are the record: if the process dies before they are written,
// the archives are read again, which changes nothing.
func (e *Executor) rereadCustomers(ctx context.Context, rw *v1.RegionWithdrawal, st *v1.ExportStatus) error {
	if !Rereads(rw) || st.Customers == 0 || st.CustomersReread >= st.Customers {
		return nil
	}
	var list corev1.ConfigMapList
	if err := e.reader().List(ctx, &list, client.InNamespace(rw.Namespace),
		client.MatchingLabels{executor.LabelWithdrawalUID: string(rw.UID), LabelRecord: RecordCustomers}); err != nil {
		return fmt.Errorf("listing the customers' export ConfigMaps: %w", err)
	}
	names := map[string]bool{}
	for shard := range CustomerShards {
		names[CustomerConfigMapName(rw, shard)] = true
	}
	var done int32
	var pending []pendingArchive
	for i := range list.Items {
		cm := &list.Items[i]
		if !names[cm.Name] {
			continue // labelled like one, but not a name the step writes
		}
		if err := CheckRecords(rw, cm); err != nil {
			return err
		}
		for _, k := range slices.Sorted(maps.Keys(cm.Data)) {
			var a v1.ExportArtifact
			if err := json.Unmarshal([]byte(cm.Data[k]), &a); err != nil {
				return fmt.Errorf("ConfigMap %s, key %s: %w", cm.Name, k, err)
			}
			if a.Round != Round(rw) {
				// An earlier round's, for a customer the current round's
				// manifests do not list: it stays as it was.
				continue
			}
			if a.VerifiedAt != nil {
				done++
			} else if len(pending) < rereadBatch {
				pending = append(pending, pendingArchive{shard: cm.Name, key: k, art: a})
			}
		}
	}
	st.CustomersReread = done
	if len(pending) == 0 {
		return nil
	}
	// Before any request: the headers, a credential, go with each.
	for _, p := range pending {
		if err := e.AllowedOrigins.Check(p.art.Location); err != nil {
			return fmt.Errorf("customer %q: %w", p.art.Recipient, err)
		}
	}

	m := rw.Spec.Export.Manifests
	headers, err := sources.HeadersFromSecret(ctx, e.reader(), rw.Namespace, m.HeadersSecretRef)
	if err != nil {
		return fmt.Errorf("reading the manifest headers: %w", err)
	}
	egressPolicy := e.http().Egress
	tr, err := egressPolicy.Transport(m.CABundle)
	if err != nil {
		return err
	}
	defer tr.CloseIdleConnections()

	var (
		mu         sync.Mutex
		matched    = map[string]map[string]string{} // shard -> key -> entry
		mismatches []string
		failures   []error
		wg         sync.WaitGroup
		next       = make(chan pendingArchive)
	)
	now := metav1.NewTime(e.now().UTC().Truncate(time.Second))
	for range rereadParallel {
		wg.Go(func() {
			for p := range next {
				err := e.reread(ctx, p.art, headers, egressPolicy, tr)
				mu.Lock()
				switch {
				case errors.Is(err, ErrArchiveMismatch):
					mismatches = append(mismatches, fmt.Sprintf("%s: %v", p.art.Recipient, err))
				case err != nil:
					failures = append(failures, fmt.Errorf("%s: %w", p.art.Recipient, err))
				default:
					p.art.VerifiedAt = &now
					b, _ := json.Marshal(p.art)
					if matched[p.shard] == nil {
						matched[p.shard] = map[string]string{}
					}
					matched[p.shard][p.key] = string(b)
				}
				mu.Unlock()
			}
		})
	}
	stopAt := e.now().Add(rereadBudget)
	for _, p := range pending {
		if ctx.Err() != nil || !e.now().Before(stopAt) {
			break
		}
		next <- p
	}
	close(next)
	wg.Wait()

	// What matched is marked, even when others did not and even when the
	// call is out of time: its reads are done and must not be repeated.
	mark, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	// The evidence goes in before the marks that count the archives.
	if e.Evidence != nil {
		var proofs []ledger.Sealed
		for _, entries := range matched {
			for _, raw := range entries {
				var art v1.ExportArtifact
				if err := json.Unmarshal([]byte(raw), &art); err != nil {
					return err
				}
				sealed, err := e.Evidence.Seal(rw, e.exportEvidence(rw, art, now.Time))
				if err != nil {
					return err
				}
				proofs = append(proofs, sealed)
			}
		}
		if err := e.Evidence.AppendSealed(mark, rw, proofs...); err != nil {
			return fmt.Errorf("recording the evidence of the re-read archives: %w", err)
		}
	}
	for _, shard := range slices.Sorted(maps.Keys(matched)) {
		if err := e.markEntries(mark, rw, shard, matched[shard]); err != nil {
			return err
		}
		st.CustomersReread += int32(len(matched[shard]))
	}
	if len(mismatches) > 0 {
		slices.Sort(mismatches)
		return fmt.Errorf("%w: %d customers, first: %s", ErrArchiveMismatch, len(mismatches), strings.Join(mismatches[:min(3, len(mismatches))], "; "))
	}
	if len(failures) > 0 {
		return fmt.Errorf("re-reading %d customers' archives: %w", len(failures), failures[0])
	}
	return ctx.Err()
}

// reread reads one archive back and checks its size and SHA-256 against
// its manifest entry. It reads at most one byte more than the entry says.
func (e *Executor) reread(ctx context.Context, a v1.ExportArtifact, headers map[string]string, policy *egress.Policy, tr *http.Transport) error {
	if !strings.HasPrefix(a.Location, "https://") && !strings.HasPrefix(a.Location, "http://") {
		return fmt.Errorf("%w: it is at %s, which the controller cannot read back", ErrArchiveMismatch, a.Location)
	}
	// One object, no larger than the manifest says: a pager of one page
	// whose cap is the entry's size, through the same guard as manifests.
	pager := &sources.HTTPPager{Egress: policy, Transport: tr, MaxPages: 1, MaxPageBytes: max(a.Bytes, 1), Timeout: rereadTimeout}
	h := sha256.New()
	var n int64
	err := pager.Pages(ctx, &v1.HTTPRecipientSource{URL: a.Location}, headers, func(_ int, _ string, body io.Reader) error {
		var err error
		n, err = io.Copy(h, body)
		return err
	})
	switch {
	case errors.Is(err, sources.ErrPageTooLarge):
		return fmt.Errorf("%w: the stored object is larger than the %d bytes its manifest says", ErrArchiveMismatch, a.Bytes)
	case err != nil:
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != a.Bytes || got != a.SHA256 {
		return fmt.Errorf("%w: the stored object is %d bytes with SHA-256 %s; its manifest says %d bytes with SHA-256 %s", ErrArchiveMismatch, n, got, a.Bytes, a.SHA256)
	}
	return nil
}

// markEntries merges entries into the customer ConfigMap name.
func (e *Executor) markEntries(ctx context.Context, rw *v1.RegionWithdrawal, name string, entries map[string]string) error {
	if err := e.ensureEntries(ctx, rw, name, map[string]string{LabelRecord: RecordCustomers}, entries); err != nil {
		return fmt.Errorf("marking %d re-read archives: %w", len(entries), err)
	}
	return nil
}
