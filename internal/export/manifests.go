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
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/export/result"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients/sources"
)

// CustomerShards is how many ConfigMaps hold customers' own archives: 256
// of up to 1 MiB hold about a million customers at about 250 bytes each,
// and none of them grows past the API server's object limit.
const CustomerShards = 256

// LabelRecord says what a ConfigMap of the export step records;
// RecordCustomers marks the customer shards, so that one list finds them.
const (
	LabelRecord     = "withdrawal.ops.dev/record"
	RecordCustomers = "export-customers"
)

// CustomerConfigMapName is the ConfigMap that holds the own archives of
// the customers whose id hashes to shard (0 to CustomerShards-1).
func CustomerConfigMapName(rw *v1.RegionWithdrawal, shard int) string {
	return fmt.Sprintf("%s-export-customers-%02x", namePrefix(rw.Name), shard)
}

// customerKey is the ConfigMap key of a customer's own archive, and its
// shard: a hash, so that ids of any shape make valid keys and spread
// evenly.
func customerKey(customer string) (key string, shard int) {
	sum := sha256.Sum256([]byte(customer))
	return hex.EncodeToString(sum[:20]), int(sum[0])
}

// readManifests reads the manifest of every verified target that reported
// one, and records each customer's own archive in the customer ConfigMaps,
// where export.Artifacts finds it for the notices. It is skipped while
// status says every manifest is read; a crash before the status write only
// means the manifests are read again and nothing new is added.
//
// A manifest is only trusted whole: it is hashed as it is read, and
// nothing from it is written unless its digest and size are the ones the
// export step verified.
func (e *Executor) readManifests(ctx context.Context, rw *v1.RegionWithdrawal, states []*targetState, st *v1.ExportStatus) error {
	var manifests []*targetState
	for _, s := range states {
		if a := s.verified(); a != nil && a.verified.Manifest != nil {
			manifests = append(manifests, s)
		}
	}
	if len(manifests) == 0 || int(st.ManifestsRead) == len(manifests) {
		return nil
	}
	var ref *v1.LocalObjectReference
	if m := rw.Spec.Export.Manifests; m != nil {
		ref = m.HeadersSecretRef
	}
	headers, err := sources.HeadersFromSecret(ctx, e.reader(), rw.Namespace, ref)
	if err != nil {
		return fmt.Errorf("reading the manifest headers: %w", err)
	}
	shards := map[int]map[string]string{}
	seen := map[string]struct{}{}
	customers, skipped := 0, 0
	// With verify: Digest, an archive is verified by the digest of the
	// manifest that lists it; with Reread, when it is read back (reread.go).
	var proofs []ledger.Sealed
	byDigest := e.Evidence != nil && (rw.Spec.Export.Manifests == nil || rw.Spec.Export.Manifests.Verify != v1.VerifyReread)
	for _, s := range manifests {
		a := s.verified()
		n, skips, err := e.readManifest(ctx, rw, a, headers, seen, func(en result.Entry) error {
			art := v1.ExportArtifact{Target: s.Key, Job: a.job.Namespace + "/" + a.job.Name, Location: en.Location,
				Bytes: en.Bytes, SHA256: en.SHA256, Recipient: en.Customer, Encrypted: true, Round: roundOf(a.job)}
			b, err := json.Marshal(art)
			if err != nil {
				return err
			}
			if byDigest {
				sealed, err := e.Evidence.Seal(rw, e.exportEvidence(rw, art, e.now()))
				if err != nil {
					return err
				}
				proofs = append(proofs, sealed)
			}
			key, shard := customerKey(en.Customer)
			if shards[shard] == nil {
				shards[shard] = map[string]string{}
			}
			shards[shard][key] = string(b)
			return nil
		})
		if err != nil {
			return fmt.Errorf("the manifest of %s: %w", s.Key, err)
		}
		customers, skipped = customers+n, skipped+skips
	}
	// The evidence goes in before the entries that count the archives.
	if err := e.Evidence.AppendSealed(ctx, rw, proofs...); err != nil {
		return fmt.Errorf("recording the evidence of the verified archives: %w", err)
	}
	for _, shard := range slices.Sorted(maps.Keys(shards)) {
		if err := e.ensureEntries(ctx, rw, CustomerConfigMapName(rw, shard), map[string]string{LabelRecord: RecordCustomers}, shards[shard]); err != nil {
			return err
		}
	}
	st.ManifestsRead, st.Customers, st.CustomersSkipped = int32(len(manifests)), int32(customers), int32(skipped)
	// The entries just written are read back before they count (Reread).
	st.CustomersReread = 0
	if skipped > 0 && e.Recorder != nil {
		e.Recorder.Eventf(rw, nil, corev1.EventTypeWarning, ReasonExportCustomersSkipped, "Export",
			"%d customers have no archive of their own; each manifest line says why (no age key, no data, a bad row in the customer list)", skipped)
	}
	return nil
}

// ReasonExportCustomersSkipped: manifests list customers without an
// archive.
const ReasonExportCustomersSkipped = "ExportCustomersSkipped"

// exportEvidence is the statement that a customer's archive was verified.
func (e *Executor) exportEvidence(rw *v1.RegionWithdrawal, a v1.ExportArtifact, at time.Time) *evidence.ExportVerified {
	return &evidence.ExportVerified{Header: evidence.Header{At: at}, Target: a.Target, Location: a.Location, Bytes: a.Bytes,
		SHA256: a.SHA256, Customer: evidence.RecipientHash(e.Evidence.Salt(rw.IdentityKey()), a.Recipient), Round: int(a.Round)}
}

// readManifest reads one target's manifest and calls fn with each
// customer that has an archive; it returns how many, and how many it
// lists skipped. seen spans every manifest of the withdrawal: a customer
// in two is refused.
func (e *Executor) readManifest(ctx context.Context, rw *v1.RegionWithdrawal, a *attempt, headers map[string]string, seen map[string]struct{}, fn func(result.Entry) error) (int, int, error) {
	res := a.verified
	// Before any request: the headers, a credential, go with it.
	if err := e.AllowedOrigins.Check(res.Location); err != nil {
		return 0, 0, err
	}
	if !strings.HasPrefix(res.Location, "https://") && !strings.HasPrefix(res.Location, "http://") {
		return 0, 0, fmt.Errorf("it is at %s, which the controller cannot read: write it to an http(s) store", res.Location)
	}
	src := &v1.HTTPRecipientSource{URL: res.Location}
	if m := rw.Spec.Export.Manifests; m != nil {
		src.CABundle = m.CABundle
	}
	// Entries are held until the digest is checked: a manifest that does
	// not match what was verified adds no one.
	var entries []result.Entry
	skipped := 0
	h := sha256.New()
	var size int64
	err := e.http().Pages(ctx, src, headers, func(page int, _ string, body io.Reader) error {
		if page > 1 {
			return fmt.Errorf("the store answered with a Link to a next page; a manifest is one object")
		}
		counted := &countingReader{r: io.TeeReader(body, h)}
		local := map[string]struct{}{}
		err := result.ReadManifest(counted, local, func(en result.Entry) error {
			if _, dup := seen[en.Customer]; dup {
				return fmt.Errorf("customer %q is in another target's manifest too", en.Customer)
			}
			if en.Skipped == "" {
				entries = append(entries, en)
			} else {
				skipped++
			}
			return nil
		})
		if err != nil {
			return err
		}
		size = counted.n
		for c := range local {
			seen[c] = struct{}{}
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != res.SHA256 || size != res.Bytes {
		return 0, 0, fmt.Errorf("what %s holds now (%d bytes, sha256 %s) is not what was verified (%d bytes, sha256 %s)", res.Location, size, got, res.Bytes, res.SHA256)
	}
	// What the verified manifest lists outside the store origins refuses
	// it whole: nothing there is recorded, to be read back with the
	// headers or linked to.
	for _, en := range entries {
		if err := e.AllowedOrigins.Check(en.Location); err != nil {
			return 0, 0, fmt.Errorf("customer %q: %w", en.Customer, err)
		}
	}
	for _, en := range entries {
		if err := fn(en); err != nil {
			return 0, 0, err
		}
	}
	return len(entries), skipped, nil
}

// countingReader counts what it reads.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
