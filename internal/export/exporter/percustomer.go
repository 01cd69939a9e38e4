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

package exporter

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"filippo.io/age"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/export/result"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
	"github.com/ops-dev/region-withdrawal-operator/internal/s3store"
)

// CustomerPlaceholder is replaced, in a per-customer destination, by the
// customer's id (path-escaped).
const CustomerPlaceholder = "{customer}"

// AgeRecipientColumn is the recipient-list column with a customer's own
// age public key.
const AgeRecipientColumn = "ageRecipient"

// runPerCustomer exports each customer directory of o.Source to its own
// archive, encrypted to the customer's own key, and streams the manifest
// as it goes: line by line, so memory does not grow with the number of
// customers beyond the key table. The result describes the manifest. Any
// archive that fails aborts the manifest, so no complete manifest exists
// unless every line in it is true.
func runPerCustomer(ctx context.Context, o Options, provider []age.Recipient) (*result.Result, error) {
	switch {
	case !strings.Contains(o.Destination, CustomerPlaceholder):
		return nil, fmt.Errorf("%w: --per-customer needs %s in --destination, e.g. https://store/pk/%s.tar.gz.age", ErrUsage, CustomerPlaceholder, CustomerPlaceholder)
	case o.Manifest == "":
		return nil, fmt.Errorf("%w: --per-customer needs --manifest", ErrUsage)
	case o.Customers == "":
		return nil, fmt.Errorf("%w: --per-customer needs --customers, the list with each customer's %s", ErrUsage, AgeRecipientColumn)
	case o.ProviderKeyForKeyless && len(provider) == 0:
		return nil, fmt.Errorf("%w: --provider-key-for-keyless needs --age-recipient", ErrUsage)
	}
	if strings.Contains(o.Destination, "://") {
		c, err := httpClient(o.Egress, o.CABundle)
		if err != nil {
			return nil, err
		}
		defer c.CloseIdleConnections()
		o.client = c
	}
	if s3store.IsLocation(o.Destination) || s3store.IsLocation(o.Manifest) {
		c, err := s3Client(o)
		if err != nil {
			return nil, err
		}
		o.s3 = c
	}
	keys, order, bad, err := customerKeys(o.Customers, o.Stderr)
	if err != nil {
		return nil, err
	}
	dirs, err := customerDirs(o.Source)
	if err != nil {
		return nil, err
	}
	sum := &result.ManifestSummary{}
	res, err := storeStream(ctx, o, o.Manifest, func(w io.Writer) error {
		mw := destWriter{w}
		line := func(e result.Entry) error {
			sum.Customers++
			if e.Skipped == "" {
				sum.Exported++
			} else {
				fmt.Fprintf(o.Stderr, "customer %s: skipped: %s\n", e.Customer, e.Skipped)
			}
			return result.WriteEntry(mw, e)
		}
		for _, id := range dirs {
			e := result.Entry{Customer: id}
			if why, ok := bad[id]; ok {
				// Not the provider's key either: the customer meant a key
				// of their own, and which is not known.
				e.Skipped = why
				if err := line(e); err != nil {
					return err
				}
				continue
			}
			rs, whose := keys[id], result.KeyCustomer
			if len(rs) == 0 && o.ProviderKeyForKeyless {
				rs, whose = provider, result.KeyProvider
			}
			if len(rs) == 0 {
				e.Skipped = "no age key"
				if err := line(e); err != nil {
					return err
				}
				continue
			}
			dest := strings.ReplaceAll(o.Destination, CustomerPlaceholder, url.PathEscape(id))
			r, err := storeArchive(ctx, o, filepath.Join(o.Source, id), dest, rs)
			if err != nil {
				return fmt.Errorf("customer %s: %w", id, err)
			}
			e.Location, e.Bytes, e.SHA256, e.Key = r.Location, r.Bytes, r.SHA256, whose
			if err := line(e); err != nil {
				return err
			}
		}
		// Listed, but with no data here: said, not silently left out.
		for _, id := range order {
			if _, found := slices.BinarySearch(dirs, id); !found {
				if err := line(result.Entry{Customer: id, Skipped: "no data"}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Manifest = sum
	return res, nil
}

// customerKeys reads each customer's own age key from a recipient list.
// order is the list's ids in its order. A customer listed twice, or whose
// key does not parse, is in bad with the reason, and skipped: one bad row
// must not hold up every other customer's export. A record too malformed
// to name its customer is reported on stderr.
func customerKeys(path string, stderr io.Writer) (keys map[string][]age.Recipient, order []string, bad map[string]string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: --customers: %w", ErrUsage, err)
	}
	defer f.Close()
	format := v1.RecipientFormatCSV
	if strings.HasSuffix(path, ".jsonl") || strings.HasSuffix(path, ".ndjson") {
		format = v1.RecipientFormatJSONLines
	}
	keys, bad = map[string][]age.Recipient{}, map[string]string{}
	problems, err := recipients.Parse(f, format, filepath.Base(path), func(r recipients.Recipient) error {
		if _, dup := keys[r.ID]; dup {
			bad[r.ID] = "listed more than once in the customer list"
			return nil
		}
		order = append(order, r.ID)
		keys[r.ID] = nil
		var key string
		for name, v := range r.Fields {
			// A CSV header is read in lower case, a JSON key as written.
			if strings.EqualFold(name, AgeRecipientColumn) {
				key = strings.TrimSpace(v)
			}
		}
		if key == "" {
			return nil
		}
		rcp, err := age.ParseX25519Recipient(key)
		if err != nil {
			bad[r.ID] = fmt.Sprintf("its %s in the customer list does not parse", AgeRecipientColumn)
			return nil
		}
		keys[r.ID] = []age.Recipient{rcp}
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	for _, p := range problems {
		fmt.Fprintf(stderr, "--customers: skipped a malformed record: %s\n", p)
	}
	return keys, order, bad, nil
}

// customerDirs lists the customer directories of source, sorted. Anything
// else there (a file, a symbolic link) is refused rather than skipped: it
// is data that would belong to no one.
func customerDirs(source string) ([]string, error) {
	entries, err := os.ReadDir(source)
	if err != nil {
		return nil, fmt.Errorf("%w: source: %w", ErrUsage, err)
	}
	var dirs []string
	for _, e := range entries {
		if !e.IsDir() {
			return nil, fmt.Errorf("%w: %s in %s is not a customer directory; with --per-customer every entry is one", ErrArchive, e.Name(), source)
		}
		dirs = append(dirs, e.Name())
	}
	slices.Sort(dirs)
	return dirs, nil
}
