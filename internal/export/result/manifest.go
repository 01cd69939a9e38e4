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

package result

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// A manifest lists one line of JSON (an Entry) per customer, in the order
// the exporter handled them. It is written by the exporter's per-customer
// mode next to the archives, streamed as it grows, and read the same way:
// neither side holds more than one line.

// Entry is one customer's line of a manifest.
type Entry struct {
	// Customer is the customer's id, as the recipient list has it.
	Customer string `json:"customer"`
	// Location, Bytes and SHA256 describe the customer's archive, as in a
	// Result; empty when Skipped says why there is none.
	Location string `json:"location,omitempty"`
	Bytes    int64  `json:"bytes,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	// Key says whose age key the archive is encrypted to: "customer" (the
	// customer's own, and only theirs) or "provider" (the provider's, for a
	// customer with no key, when the exporter was told to).
	Key string `json:"key,omitempty"`
	// Skipped is why the customer has no archive: "no age key", "no data".
	Skipped string `json:"skipped,omitempty"`
}

// Keys an archive can be encrypted to.
const (
	KeyCustomer = "customer"
	KeyProvider = "provider"
)

// MaxEntrySize bounds one manifest line: a location, an id and a digest.
const MaxEntrySize = 4096

// Validate checks one line.
func (e *Entry) Validate() error {
	switch {
	case e.Customer == "" || len(e.Customer) > MaxRecipientLength || hasControl(e.Customer):
		return &FieldError{Field: "customer", Reason: fmt.Sprintf("%q is not a customer id", e.Customer)}
	case e.Skipped != "":
		if e.Location != "" || e.Bytes != 0 || e.SHA256 != "" || hasControl(e.Skipped) || len(e.Skipped) > 256 {
			return &FieldError{Field: "skipped", Reason: "goes with no archive and a short reason"}
		}
		return nil
	case e.Key != KeyCustomer && e.Key != KeyProvider:
		return &FieldError{Field: "key", Reason: fmt.Sprintf("is %q, want %q or %q", e.Key, KeyCustomer, KeyProvider)}
	}
	r := Result{Version: Version, Location: e.Location, Bytes: e.Bytes, SHA256: e.SHA256, Recipient: e.Customer, Encrypted: true}
	return r.Validate()
}

// ReadManifest calls fn for each line of a manifest, in order, holding one
// line at a time. A line that is too long, not JSON, unknown in shape or
// invalid stops the read with its line number; so does a customer listed
// twice, which is tracked in seen (nil makes ReadManifest keep its own;
// a caller reading several manifests passes one map to all).
func ReadManifest(r io.Reader, seen map[string]struct{}, fn func(Entry) error) error {
	if seen == nil {
		seen = map[string]struct{}{}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), MaxEntrySize)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var e Entry
		if err := dec.Decode(&e); err != nil {
			return fmt.Errorf("%w: manifest line %d: %w", ErrMalformed, line, err)
		}
		if err := e.Validate(); err != nil {
			return fmt.Errorf("manifest line %d: %w", line, err)
		}
		if _, dup := seen[e.Customer]; dup {
			return fmt.Errorf("%w: manifest line %d: customer %q is listed twice", ErrInvalid, line, e.Customer)
		}
		seen[e.Customer] = struct{}{}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%w: manifest line %d is longer than %d bytes", ErrMalformed, line+1, MaxEntrySize)
		}
		return err
	}
	return nil
}

// WriteEntry writes e as one manifest line.
func WriteEntry(w io.Writer, e Entry) error {
	if err := e.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
