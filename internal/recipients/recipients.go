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

// Package recipients reads the customers to notify from CSV or JSON-lines
// data, one record at a time, so that a large list never sits in memory as a
// whole. A malformed record is reported with where it is and why, and
// skipped; the others are still read.
package recipients

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/text"
)

// Recipient is one customer to notify.
type Recipient struct {
	ID       string            `json:"id"`
	Name     string            `json:"name,omitempty"`
	Email    string            `json:"email,omitempty"`
	Webhook  string            `json:"webhook,omitempty"`
	Locale   string            `json:"locale,omitempty"`
	TimeZone string            `json:"timeZone,omitempty"`
	Fields   map[string]string `json:"fields,omitempty"`
}

// Problem is a record that was skipped.
type Problem struct {
	// Source names the object and key, e.g. "ConfigMap bes-system/customers-1 key customers.csv".
	Source string
	// Line is the 1-based line of the record.
	Line   int
	Reason string
}

func (p Problem) String() string { return fmt.Sprintf("%s line %d: %s", p.Source, p.Line, p.Reason) }

// Parse reads records from r in format and calls fn for each valid one. The
// columns id, name, email, webhook, locale and timeZone are recognised (in any
// case); every other column is kept in Fields for templates.
// Problems are returned, not fatal; an error from fn or from reading stops.
func Parse(r io.Reader, format v1.RecipientFormat, source string, fn func(Recipient) error) ([]Problem, error) {
	switch format {
	case v1.RecipientFormatJSONLines:
		return parseJSONLines(r, source, fn)
	case v1.RecipientFormatCSV, "":
		return parseCSV(r, source, fn)
	default:
		return nil, fmt.Errorf("unknown recipient format %q", format)
	}
}

func parseCSV(r io.Reader, source string, fn func(Recipient) error) ([]Problem, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return []Problem{{Source: source, Line: 1, Reason: fmt.Sprintf("unreadable header: %v", err)}}, nil
	}
	cols := make([]string, len(header))
	idCol := -1
	for i, h := range header {
		cols[i] = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if cols[i] == "id" {
			idCol = i
		}
	}
	if idCol < 0 {
		return []Problem{{Source: source, Line: 1, Reason: "the header has no id column"}}, nil
	}
	var problems []Problem
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return problems, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				problems = append(problems, Problem{Source: source, Line: pe.Line, Reason: pe.Err.Error()})
				continue
			}
			return problems, fmt.Errorf("reading %s: %w", source, err)
		}
		// FieldPos panics when a record that failed to parse has no field.
		line, _ := cr.FieldPos(0)
		if len(rec) != len(cols) {
			problems = append(problems, Problem{Source: source, Line: line, Reason: fmt.Sprintf("%d fields, the header has %d", len(rec), len(cols))})
			continue
		}
		var rcp Recipient
		for i, v := range rec {
			if v = strings.TrimSpace(v); v != "" {
				rcp.set(cols[i], v)
			}
		}
		if reason := check(rcp); reason != "" {
			problems = append(problems, Problem{Source: source, Line: line, Reason: reason})
			continue
		}
		if err := fn(rcp); err != nil {
			return problems, err
		}
	}
}

func parseJSONLines(r io.Reader, source string, fn func(Recipient) error) ([]Problem, error) {
	lr := newLineReader(r, MaxLineBytes)
	var problems []Problem
	for line := 1; ; line++ {
		b, tooLong, err := lr.next()
		if errors.Is(err, io.EOF) {
			return problems, nil
		}
		if err != nil {
			// A read that broke off (a dropped connection to a paged
			// source, a source over its size cap) must not pass for the
			// end of the list.
			return problems, fmt.Errorf("reading %s: %w", source, err)
		}
		if tooLong {
			problems = append(problems, Problem{Source: source, Line: line, Reason: fmt.Sprintf("the line is over %d bytes", MaxLineBytes)})
			continue
		}
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte("\ufeff")) // a byte order mark some editors write
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		rcp, reason := parseJSONRecord(b)
		if reason == "" {
			reason = check(rcp)
		}
		if reason != "" {
			problems = append(problems, Problem{Source: source, Line: line, Reason: reason})
			continue
		}
		if err := fn(rcp); err != nil {
			return problems, err
		}
	}
}

// parseJSONRecord reads one JSON object into a Recipient, or says why it
// cannot.
func parseJSONRecord(b []byte) (Recipient, string) {
	var rcp Recipient
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return rcp, fmt.Sprintf("not a JSON object: %v", err)
	}
	// In key order, not map order: keys naming the same field ("id" and
	// "ID", or "plan" and "plan" under fields) must read the same way every
	// time.
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		switch v := raw[k].(type) {
		case nil:
			// null is no value: {"id":null} has no id, not the id "<nil>".
		case string:
			rcp.set(k, v)
		case bool, float64:
			rcp.set(k, fmt.Sprint(v))
		case map[string]any:
			if k != "fields" {
				return rcp, fmt.Sprintf("%q is an object, not a value", text.Truncate(k, 64))
			}
			for _, fk := range slices.Sorted(maps.Keys(v)) {
				if fv, ok := v[fk].(string); ok {
					rcp.set(fk, fv)
				} else if v[fk] != nil {
					rcp.set(fk, fmt.Sprint(v[fk]))
				}
			}
		default:
			return rcp, fmt.Sprintf("%q is a list, not a value", text.Truncate(k, 64))
		}
	}
	return rcp, ""
}

// lineReader reads lines of at most max bytes. A longer line is read to
// its end and reported, so one bad record costs one record, not the rest
// of the list.
type lineReader struct {
	br  *bufio.Reader
	max int
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 64<<10), max: max}
}

func (l *lineReader) next() (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := l.br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > l.max+1 { // +1: the newline
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && (len(buf) > 0 || tooLong):
			return bytes.TrimRight(buf, "\r\n"), tooLong, nil
		case err != nil:
			return nil, false, err
		}
		return bytes.TrimRight(buf, "\r\n"), tooLong, nil
	}
}

// Limits on a record's fields, in bytes. A record is data from customers
// and its id ends up in checkpoints and Events: a field over its limit
// makes the record malformed (reported and skipped), so one row cannot
// overflow a checkpoint ConfigMap or a status.
const (
	MaxIDBytes       = 256
	MaxEmailBytes    = 320 // RFC 5321: 64 for the local part, 255 for the domain, and the @
	MaxWebhookBytes  = 2048
	MaxNameBytes     = 1024
	MaxLocaleBytes   = 35 // BCP 47 tags that are not private use
	MaxTimeZoneBytes = 64
	MaxFieldBytes    = 4096
	MaxFields        = 64
	// MaxLineBytes bounds one record (a CSV record or a JSON line).
	MaxLineBytes = 1 << 20
)

// check returns why a record is malformed, or "". A record with neither an
// email nor a webhook is not malformed: the webhook channel's own url may
// reach it; the notifier records it as failed when no channel does.
func check(r Recipient) string {
	id := text.Truncate(r.ID, 64) // the reason quotes it: never a whole over-long id
	for _, f := range []struct {
		name  string
		value string
		max   int
	}{
		{"id", r.ID, MaxIDBytes}, {"email", r.Email, MaxEmailBytes}, {"webhook", r.Webhook, MaxWebhookBytes},
		{"name", r.Name, MaxNameBytes}, {"locale", r.Locale, MaxLocaleBytes}, {"timeZone", r.TimeZone, MaxTimeZoneBytes},
	} {
		if len(f.value) > f.max {
			return fmt.Sprintf("recipient %q: %s is %d bytes, over the limit of %d", id, f.name, len(f.value), f.max)
		}
	}
	if len(r.Fields) > MaxFields {
		return fmt.Sprintf("recipient %q: %d extra fields, over the limit of %d", id, len(r.Fields), MaxFields)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Fields)) {
		if len(k)+len(r.Fields[k]) > MaxFieldBytes {
			return fmt.Sprintf("recipient %q: field %q is %d bytes, over the limit of %d", id, text.Truncate(k, 64), len(k)+len(r.Fields[k]), MaxFieldBytes)
		}
	}
	switch {
	case r.ID == "":
		return "missing id"
	case r.Email != "" && !strings.Contains(r.Email, "@"):
		return fmt.Sprintf("recipient %q: %q is not an email address", id, r.Email)
	case r.Webhook != "" && !strings.HasPrefix(r.Webhook, "https://") && !strings.HasPrefix(r.Webhook, "http://"):
		return fmt.Sprintf("recipient %q: webhook %q is not an http(s) URL", id, r.Webhook)
	}
	return ""
}

// set assigns a column (or JSON key) of a record: a recognised one, in any
// case, to its field; any other to Fields, under the name as written.
func (r *Recipient) set(name, value string) {
	switch strings.ToLower(name) {
	case "id":
		r.ID = value
	case "name":
		r.Name = value
	case "email":
		r.Email = value
	case "webhook":
		r.Webhook = value
	case "locale":
		r.Locale = value
	case "timezone":
		r.TimeZone = value
	default:
		if r.Fields == nil {
			r.Fields = map[string]string{}
		}
		r.Fields[name] = value
	}
}
