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

// Package result is the one format in which an export Job reports
// what it produced: a single JSON object, written by the exporter to its
// container's termination message (/dev/termination-log) and read back by
// the controller from the Pod's status. Both sides use this package, so the
// format cannot drift between the program that writes it and the one that
// verifies it.
//
//	{"version":1,"location":"s3://bucket/pk/ns-a.tar.gz.age","bytes":1048576,
//	 "sha256":"<64 lower-case hex>","recipient":"acme","encrypted":true}
//
// bytes and sha256 describe exactly what is stored at location (the
// ciphertext when encrypted), so anyone holding the object can check it.
package result

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/ops-dev/region-withdrawal-operator/internal/text"
)

// Version is the format version this package writes and reads.
const Version = 1

// MaxSize is the largest result Parse accepts: the kubelet keeps at most
// 4096 bytes of a termination message.
const MaxSize = 4096

// MaxLocationLength bounds location so that a result, even with every
// character escaped in JSON, fits in MaxSize.
const MaxLocationLength = 1536

// MaxRecipientLength bounds recipient.
const MaxRecipientLength = 253

// Result is what one export produced.
type Result struct {
	// Version is the format version, Version.
	Version int `json:"version"`
	// Location is where the archive is stored: a file path or a URL without
	// its query string (a pre-signed URL's signature is a credential and
	// never reported).
	Location string `json:"location"`
	// Bytes is the size of the stored object.
	Bytes int64 `json:"bytes"`
	// SHA256 is the lower-case hex SHA-256 of the stored object.
	SHA256 string `json:"sha256"`
	// Recipient names the customer the archive belongs to, if any.
	Recipient string `json:"recipient,omitempty"`
	// Encrypted is true when the stored object is an age-encrypted archive.
	Encrypted bool `json:"encrypted"`
	// Manifest is set when the stored object is not an archive but a
	// manifest of one archive per customer (see Manifest); Location, Bytes
	// and SHA256 then describe the manifest.
	Manifest *ManifestSummary `json:"manifest,omitempty"`
}

// ManifestSummary counts the lines of a manifest.
type ManifestSummary struct {
	// Customers is how many lines the manifest has: one per customer.
	Customers int `json:"customers"`
	// Exported is how many of them have an archive; the others were
	// skipped, each with its reason.
	Exported int `json:"exported"`
}

// Errors Parse and Validate wrap, for errors.Is.
var (
	ErrMissing   = errors.New("no export result: the termination message is empty")
	ErrMalformed = errors.New("malformed export result")
	ErrInvalid   = errors.New("invalid export result")
)

// FieldError says which field of a result is wrong and why. It wraps
// ErrInvalid.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: %s %s", ErrInvalid, e.Field, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Parse decodes and validates a result. Unknown fields and trailing data are
// refused: a message that is not exactly one result is not a result.
func Parse(data []byte) (*Result, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, ErrMissing
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(data), MaxSize)
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	var r Result
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrMalformed)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// Validate checks that a result describes a real, checkable object.
func (r *Result) Validate() error {
	switch {
	case r.Version != Version:
		return &FieldError{Field: "version", Reason: fmt.Sprintf("is %d, want %d", r.Version, Version)}
	case strings.TrimSpace(r.Location) == "":
		return &FieldError{Field: "location", Reason: "is empty"}
	case len(r.Location) > MaxLocationLength:
		return &FieldError{Field: "location", Reason: fmt.Sprintf("is longer than %d characters", MaxLocationLength)}
	case hasControl(r.Location):
		return &FieldError{Field: "location", Reason: "contains a control character"}
	case hasQuery(r.Location):
		return &FieldError{Field: "location", Reason: "has a query string or user info; report the object's URL without them (a pre-signed signature is a credential)"}
	case r.Bytes <= 0:
		return &FieldError{Field: "bytes", Reason: fmt.Sprintf("is %d; an export is never empty", r.Bytes)}
	case !isSHA256Hex(r.SHA256):
		return &FieldError{Field: "sha256", Reason: fmt.Sprintf("%q is not 64 lower-case hex digits", text.Truncate(r.SHA256, 80))}
	case len(r.Recipient) > MaxRecipientLength:
		return &FieldError{Field: "recipient", Reason: fmt.Sprintf("is longer than %d characters", MaxRecipientLength)}
	case hasControl(r.Recipient):
		return &FieldError{Field: "recipient", Reason: "contains a control character"}
	case r.Manifest != nil && (r.Manifest.Exported < 0 || r.Manifest.Exported > r.Manifest.Customers):
		return &FieldError{Field: "manifest", Reason: fmt.Sprintf("counts %d exported of %d customers", r.Manifest.Exported, r.Manifest.Customers)}
	}
	return nil
}

// Marshal validates r and encodes it as one line of JSON.
func (r *Result) Marshal() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: encoded result is %d bytes, more than %d", ErrInvalid, len(b), MaxSize)
	}
	return b, nil
}

// StripQuery returns location without a URL query or fragment, so that a
// pre-signed URL's signature is never reported. Paths are returned as given.
func StripQuery(location string) string {
	u, err := url.Parse(location)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return location
	}
	u.RawQuery, u.Fragment, u.RawFragment, u.ForceQuery = "", "", "", false
	u.User = nil
	return u.String()
}

func hasQuery(location string) bool {
	u, err := url.Parse(location)
	return err == nil && u.Scheme != "" && u.Host != "" && (u.RawQuery != "" || u.ForceQuery || u.User != nil)
}

// hasControl reports a control character; refusing them also keeps the
// encoded result within MaxSize (only '"' and '\\' are then escaped).
func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
