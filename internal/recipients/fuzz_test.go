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

package recipients

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// fuzzFormats are the formats FuzzParse picks from; "" is the default, CSV.
var fuzzFormats = []v1.RecipientFormat{v1.RecipientFormatCSV, v1.RecipientFormatJSONLines, ""}

// fuzzSource is the source Parse is told it reads; every problem must name it.
const fuzzSource = "ConfigMap ns/customers key list"

// maxJSONLine is the longest JSON line parseJSONLines reads (its scanner's
// buffer); a longer one is a problem, not a recipient.
const maxJSONLine = 1 << 20

// FuzzParse feeds arbitrary bytes to Parse as CSV or JSON lines (chosen by
// the first argument) and checks that:
//
//   - Parse never panics and, as neither reading nor fn fails, never errors;
//   - every recipient passed to fn is valid (check(r) == "");
//   - every problem names its source, has a reason and a line in the input;
//   - parsing is deterministic: the same input gives the same recipients and
//     problems, in the same order ("" gives what CSV gives);
//   - the accepted recipients, written again in the same format, twice over,
//     read back identical, twice over (Parse drops no duplicate), and without
//     problems.
//
// Run it with
//
//	go test ./internal/recipients -run '^$' -fuzz '^FuzzParse$' -fuzztime 60s -parallel 1 -fuzzminimizetime 5s
//
// (make fuzz runs every fuzz target this way.)
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		// CSV.
		"id,name,email,webhook,locale,timeZone,plan\nc1,Acme,ops@acme.example,,en,Asia/Karachi,gold\nc2,,,https://hooks.example/c2,,,\n",
		"id,name,email\n\"c1\",\"Acme, Inc.\",\"a@b\"\n\"c\"\"2\",  \"x \"\"y\"\"\",b@c\n",
		"\ufeffID,Email\r\nc1,a@b\r\n\r\n\r\nc2,b@c\r\n",
		"id,note\nc1,\"two\nlines\"\nc2,\"crlf\r\ninside\"\n",
		"name,email\nAcme,a@b\n",
		"",
		"\n\n",
		"id\n",
		"id,email\nc1\nc2,a@b,extra\nc3,c@d\n",
		"id,email\nc\"1,a@b\nc2,b@c\n",
		"id,email\n\"c1,a@b\nc2,b@c\n",
		"id,email\n\"c1\"x,a@b\nc2,b@c\n",
		"\"id\nc1\n",
		"id,name\nc1,\xff\xfe\n\xc3,ok\n",
		"id\nc1\nc1\nC1\n c1 \n",
		"id,email,webhook\nc1,not-an-email,\nc2,,ftp://x\nc3,a@b,https://h/\n,a@b,\n",
		"id, ID ,Plan,plan,,\nc1,c2,gold,silver,x,y\n",
		"ID,\ufeffname,\ufeff id\nc1,n,c2\n",
		// JSON lines.
		"{\"id\":\"c1\",\"email\":\"a@b\",\"plan\":\"gold\"}\n{\"id\":\"c2\",\"webhook\":\"https://hooks.example/c2\",\"timeZone\":\"Asia/Karachi\"}\n",
		"{\"id\":\"c1\",\"fields\":{\"plan\":\"gold\",\"seats\":12,\"nested\":{\"a\":[1,true,null]}},\"extra\":1.5e3}\r\n\r\n  \n{\"id\":7}\n",
		"{\"id\":\"c1\",\"unknown\":{\"deep\":[1,2]},\"Locale\":\"de\",\"TIMEZONE\":\"UTC\"}\n",
		"not json\n{\"id\":\"c1\"}\n[1,2]\nnull\n\"s\"\n{}\n{\"email\":\"a@b\"}\n",
		"{\"id\":\"c1\",\"email\":\"nope\"}\n{\"id\":\"c2\",\"webhook\":\"ftp://x\"}\n",
		"{\"id\":\"c1\"}\n{\"id\":\"c1\"}\n{\"id\":\"c2\"}\n",
		"\ufeff{\"id\":\"c1\"}\n",
		"{\"id\":\"\xff\xfe\",\"name\":\"\\ud800\"}\n",
		"{\"id\":true,\"name\":null,\"fields\":\"flat\"}\n",
		"{\"id\":\"a\",\"ID\":\"b\",\"Id\":\"c\",\"iD\":\"d\",\"plan\":\"1\",\"fields\":{\"plan\":\"2\",\"id\":\"e\"}}\n",
		"{\"id\":\"c1\"",
	} {
		for sel := range len(fuzzFormats) {
			f.Add(byte(sel), []byte(s))
		}
	}
	f.Fuzz(checkParse)
}

// TestParseHugeLines checks FuzzParse's properties on long lines: longer
// than the CSV reader's buffer (4 KiB), than the JSON lines reader's first
// buffer (64 KiB), and than it reads at all (1 MiB). They are not fuzz
// seeds: the time the fuzzer takes to minimise an input it finds grows with
// the square of its length, and minimising inputs derived from kilobytes
// takes the whole of a short run.
func TestParseHugeLines(t *testing.T) {
	huge := strings.Repeat("x", maxJSONLine)
	for _, s := range []string{
		"id,note\nc1," + strings.Repeat("x", 5000) + "\nc2,\"" + strings.Repeat("y,\n", 1500) + "\"\n",
		"{\"id\":\"c1\",\"note\":\"" + strings.Repeat("x", 5000) + "\"}\n{\"id\":\"c2\"}\n",
		"id,note\nc1," + strings.Repeat("x", 70000) + "\nc2,y\n",
		"{\"id\":\"c1\",\"note\":\"" + strings.Repeat("x", 70000) + "\"}\n{\"id\":\"c2\"}\n",
		"{\"id\":\"c1\"}\n{\"id\":\"" + huge + "\"}\n{\"id\":\"c3\"}\n",
		"{\"id\":\"c1\"}\n\n" + huge,
		"id,note\nc1," + huge + "\nc2,\"" + huge + "\n" + huge + "\"\n",
	} {
		for sel := range len(fuzzFormats) {
			checkParse(t, byte(sel), []byte(s))
		}
	}
}

// checkParse checks the properties FuzzParse lists on data read in the
// format sel picks.
func checkParse(t *testing.T, sel byte, data []byte) {
	t.Helper()
	format := fuzzFormats[int(sel)%len(fuzzFormats)]
	got := parseAll(t, data, format)

	lines := bytes.Count(data, []byte("\n")) + 1
	for _, r := range got.recipients {
		if reason := check(r); reason != "" {
			t.Fatalf("fn was passed an invalid recipient %+v: %s", r, reason)
		}
	}
	for _, p := range got.problems {
		if p.Source != fuzzSource || p.Reason == "" || p.Line < 1 || p.Line > lines {
			t.Fatalf("problem %+v: want source %q, a reason and a line in 1..%d", p, fuzzSource, lines)
		}
	}

	if again := parseAll(t, data, format); !reflect.DeepEqual(again, got) {
		t.Fatalf("not deterministic:\nfirst  %+v\nsecond %+v", got, again)
	}
	if format == "" {
		if csvGot := parseAll(t, data, v1.RecipientFormatCSV); !reflect.DeepEqual(csvGot, got) {
			t.Fatalf("the default format reads %+v, CSV reads %+v", got, csvGot)
		}
	}

	if len(got.recipients) == 0 {
		return
	}
	// Written twice over, they must read back twice over: Parse does not
	// drop a duplicate.
	twice := slices.Concat(got.recipients, got.recipients)
	var encoded []byte
	if format == v1.RecipientFormatJSONLines {
		encoded = encodeJSONLines(t, twice)
		for _, l := range bytes.Split(encoded, []byte("\n")) {
			if len(l) >= maxJSONLine {
				return // too long to read back, by design
			}
		}
	} else {
		if !csvWritable(got.recipients) {
			return
		}
		encoded = encodeCSV(t, twice)
	}
	back := parseAll(t, encoded, format)
	if len(back.problems) > 0 || !reflect.DeepEqual(back.recipients, twice) {
		t.Fatalf("round trip through\n%q\nread %+v with problems %v,\nwant %+v", encoded, back.recipients, back.problems, twice)
	}
}

type parsed struct {
	recipients []Recipient
	problems   []Problem
}

// parseAll parses data from memory: reading cannot fail, nor can fn, so
// Parse must not return an error.
func parseAll(t *testing.T, data []byte, format v1.RecipientFormat) parsed {
	t.Helper()
	var p parsed
	problems, err := Parse(bytes.NewReader(data), format, fuzzSource, func(r Recipient) error {
		p.recipients = append(p.recipients, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Parse(%s) returned an error though neither reading nor fn failed: %v", format, err)
	}
	p.problems = problems
	return p
}

// encodeJSONLines writes recipients as JSON lines, extra columns under
// "fields".
func encodeJSONLines(t *testing.T, rs []Recipient) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, r := range rs {
		line, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("encoding %+v: %v", r, err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// csvWritable reports whether every value and column name of rs can be
// written as CSV that reads back the same: encoding/csv's reader turns a
// "\r\n" inside a quoted field into "\n", and its writer has no way around
// that; and parseCSV strips a byte order mark from the start of every column
// name, so a name that still starts with one (it had two) cannot be written.
func csvWritable(rs []Recipient) bool {
	for _, r := range rs {
		for _, s := range []string{r.ID, r.Name, r.Email, r.Webhook, r.Locale, r.TimeZone} {
			if strings.Contains(s, "\r\n") {
				return false
			}
		}
		for k, v := range r.Fields {
			if strings.Contains(k, "\r\n") || strings.HasPrefix(k, "\ufeff") || strings.Contains(v, "\r\n") {
				return false
			}
		}
	}
	return true
}

// encodeCSV writes recipients as CSV: the recognised columns, then every
// extra column any of them has, sorted.
func encodeCSV(t *testing.T, rs []Recipient) []byte {
	t.Helper()
	columns := map[string]bool{}
	for _, r := range rs {
		for k := range r.Fields {
			columns[k] = true
		}
	}
	extra := slices.Sorted(maps.Keys(columns))
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	write := func(rec []string) {
		if err := w.Write(rec); err != nil {
			t.Fatalf("writing CSV: %v", err)
		}
	}
	write(append([]string{"id", "name", "email", "webhook", "locale", "timeZone"}, extra...))
	for _, r := range rs {
		rec := []string{r.ID, r.Name, r.Email, r.Webhook, r.Locale, r.TimeZone}
		for _, k := range extra {
			rec = append(rec, r.Fields[k])
		}
		write(rec)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatalf("writing CSV: %v", err)
	}
	return b.Bytes()
}
