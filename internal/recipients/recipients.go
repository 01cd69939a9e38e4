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
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
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
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var problems []Problem
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var raw map[string]any
		if err := json.Unmarshal([]byte(text), &raw); err != nil {
			problems = append(problems, Problem{Source: source, Line: line, Reason: fmt.Sprintf("not a JSON object: %v", err)})
			continue
		}
		var rcp Recipient
		// In key order, not map order: keys naming the same field ("id"
		// and "ID", or "plan" and "plan" under fields) must read the same
		// way every time.
		for _, k := range slices.Sorted(maps.Keys(raw)) {
			v := raw[k]
			s, ok := v.(string)
			if !ok {
				if k == "fields" {
					if m, ok := v.(map[string]any); ok {
						for fk, fv := range m {
							if rcp.Fields == nil {
								rcp.Fields = map[string]string{}
							}
							rcp.Fields[fk] = fmt.Sprint(fv)
						}
						continue
					}
				}
				s = fmt.Sprint(v)
			}
			rcp.set(k, s)
		}
		if reason := check(rcp); reason != "" {
			problems = append(problems, Problem{Source: source, Line: line, Reason: reason})
			continue
		}
		if err := fn(rcp); err != nil {
			return problems, err
		}
	}
	if err := sc.Err(); err != nil {
		if !errors.Is(err, bufio.ErrTooLong) {
			// A read that broke off (a dropped connection to a paged
			// source) must not pass for the end of the list.
			return problems, fmt.Errorf("reading %s: %w", source, err)
		}
		problems = append(problems, Problem{Source: source, Line: line + 1, Reason: err.Error()})
	}
	return problems, nil
}

// check returns why a record is malformed, or "". A record with neither an
// email nor a webhook is not malformed: the webhook channel's own url may
// reach it; the notifier records it as failed when no channel does.
func check(r Recipient) string {
	switch {
	case r.ID == "":
		return "missing id"
	case r.Email != "" && !strings.Contains(r.Email, "@"):
		return fmt.Sprintf("recipient %q: %q is not an email address", r.ID, r.Email)
	case r.Webhook != "" && !strings.HasPrefix(r.Webhook, "https://") && !strings.HasPrefix(r.Webhook, "http://"):
		return fmt.Sprintf("recipient %q: webhook %q is not an http(s) URL", r.ID, r.Webhook)
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
