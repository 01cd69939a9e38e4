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
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const goodHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *Result
		wantErr error
		field   string
	}{
		{
			name: "complete",
			in:   `{"version":1,"location":"s3://b/pk/a.tar.gz.age","bytes":42,"sha256":"` + goodHash + `","recipient":"acme","encrypted":true}`,
			want: &Result{Version: 1, Location: "s3://b/pk/a.tar.gz.age", Bytes: 42, SHA256: goodHash, Recipient: "acme", Encrypted: true},
		},
		{
			name: "surrounding whitespace and no recipient",
			in:   "\n {\"version\":1,\"location\":\"/exports/a.tar.gz\",\"bytes\":1,\"sha256\":\"" + goodHash + "\",\"encrypted\":false}\n",
			want: &Result{Version: 1, Location: "/exports/a.tar.gz", Bytes: 1, SHA256: goodHash},
		},
		{name: "empty", in: "", wantErr: ErrMissing},
		{name: "blank", in: " \n\t", wantErr: ErrMissing},
		{name: "not JSON", in: "Error: exit status 1", wantErr: ErrMalformed},
		{name: "truncated", in: `{"version":1,"location":"/a"`, wantErr: ErrMalformed},
		{name: "two objects", in: `{"version":1,"location":"/a","bytes":1,"sha256":"` + goodHash + `"} {}`, wantErr: ErrMalformed},
		{name: "unknown field", in: `{"version":1,"location":"/a","bytes":1,"sha256":"` + goodHash + `","size":1}`, wantErr: ErrMalformed},
		{name: "too large", in: `{"location":"` + strings.Repeat("a", MaxSize) + `"}`, wantErr: ErrMalformed},
		{name: "wrong version", in: `{"version":2,"location":"/a","bytes":1,"sha256":"` + goodHash + `"}`, wantErr: ErrInvalid, field: "version"},
		{name: "no location", in: `{"version":1,"bytes":1,"sha256":"` + goodHash + `"}`, wantErr: ErrInvalid, field: "location"},
		{name: "pre-signed query left in", in: `{"version":1,"location":"https://h/o?X-Amz-Signature=s","bytes":1,"sha256":"` + goodHash + `"}`, wantErr: ErrInvalid, field: "location"},
		{name: "zero bytes", in: `{"version":1,"location":"/a","bytes":0,"sha256":"` + goodHash + `"}`, wantErr: ErrInvalid, field: "bytes"},
		{name: "negative bytes", in: `{"version":1,"location":"/a","bytes":-5,"sha256":"` + goodHash + `"}`, wantErr: ErrInvalid, field: "bytes"},
		{name: "short hash", in: `{"version":1,"location":"/a","bytes":1,"sha256":"abc"}`, wantErr: ErrInvalid, field: "sha256"},
		{name: "upper-case hash", in: `{"version":1,"location":"/a","bytes":1,"sha256":"` + strings.ToUpper(goodHash) + `"}`, wantErr: ErrInvalid, field: "sha256"},
		{name: "newline in recipient", in: `{"version":1,"location":"/a","bytes":1,"sha256":"` + goodHash + `","recipient":"a\nb"}`, wantErr: ErrInvalid, field: "recipient"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Parse() error = %v, want %v", err, tt.wantErr)
				}
				var fe *FieldError
				if tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field) {
					t.Fatalf("Parse() error = %v, want a FieldError on %s", err, tt.field)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			if *got != *tt.want {
				t.Fatalf("Parse() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	r := Result{Version: Version, Location: "https://objects.example/pk/a", Bytes: 7, SHA256: goodHash, Recipient: "acme", Encrypted: true}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if *got != r {
		t.Fatalf("round trip = %+v, want %+v", got, r)
	}
	if _, err := (&Result{Version: Version}).Marshal(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Marshal of an empty result: error = %v, want ErrInvalid", err)
	}
}

func TestStripQuery(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "pre-signed", in: "https://s3.example/b/k.tar.gz?X-Amz-Signature=abc&X-Amz-Date=1", want: "https://s3.example/b/k.tar.gz"},
		{name: "user info", in: "https://u:p@h.example/k", want: "https://h.example/k"},
		{name: "file path", in: "/exports/a?b.tar.gz", want: "/exports/a?b.tar.gz"},
		{name: "plain URL", in: "http://127.0.0.1:8080/a", want: "http://127.0.0.1:8080/a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StripQuery(tt.in); got != tt.want {
				t.Fatalf("StripQuery(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzParse checks that Parse never panics and is deterministic; that it
// fails with ErrMissing exactly when the message is blank and otherwise
// with one of the package's errors, a FieldError naming a field of the
// format when the result is invalid; that whatever it accepts is at most
// MaxSize bytes, one JSON object holding only the format's fields, and
// describes a checkable object (version 1, a location without a query or
// control characters, a positive size and a 64 lower-case hex SHA-256)
// whatever Validate says; that surrounding whitespace changes nothing; and
// that what it accepts survives Marshal and Parse unchanged, Marshal giving
// the same single line of at most MaxSize bytes again.
//
//	go test ./internal/export/result -run '^$' -fuzz '^FuzzParse$' -fuzztime 60s -parallel 1 -fuzzminimizetime 5s
//
// (make fuzz runs every fuzz target this way.)
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"version":1,"location":"s3://b/a","bytes":42,"sha256":"` + goodHash + `","recipient":"acme","encrypted":true}`))
	f.Add([]byte(`{"version":1,"location":"/a","bytes":1,"sha256":"` + goodHash + `"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"version":1e400}`))
	f.Add([]byte(" \n\t"))
	f.Add([]byte(`{"Version":1,"LOCATION":"https://u@h/o#f","bytes":1,"sha256":"` + goodHash + `"} `))
	f.Add([]byte(`{"version":1,"location":"https://h/o?","bytes":9223372036854775807,"sha256":"` + goodHash + `","recipient":"\u00e9\u007f"}`))
	f.Add([]byte(`{"version":1,"location":"/a","bytes":1,"sha256":"` + goodHash + `","encrypted":null,"recipient":null}{}`))
	fields := []string{"version", "location", "bytes", "sha256", "recipient", "encrypted"}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		again, err2 := Parse(data)
		if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() || err == nil && *again != *r {
			t.Fatalf("not deterministic: %+v, %v then %+v, %v", r, err, again, err2)
		}
		if blank := len(bytes.TrimSpace(data)) == 0; blank != errors.Is(err, ErrMissing) {
			t.Fatalf("blank %t, but Parse error = %v", blank, err)
		}
		if err != nil {
			if !errors.Is(err, ErrMissing) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse error %v wraps none of the package's errors", err)
			}
			var fe *FieldError
			if errors.Is(err, ErrInvalid) && (!errors.As(err, &fe) || !slices.Contains(fields, fe.Field) || fe.Reason == "") {
				t.Fatalf("Parse error %v is invalid but not a FieldError on a field with a reason", err)
			}
			return
		}
		if len(data) > MaxSize {
			t.Fatalf("Parse accepted %d bytes, more than %d", len(data), MaxSize)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(data, &obj); err != nil {
			t.Fatalf("Parse accepted what is not one JSON object: %v", err)
		}
		for k := range obj {
			if !slices.ContainsFunc(fields, func(f string) bool { return strings.EqualFold(f, k) }) {
				t.Fatalf("Parse accepted the unknown field %q", k)
			}
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid result: %v", err)
		}
		if r.Version != 1 || r.Bytes <= 0 || !sha256Hex.MatchString(r.SHA256) || strings.TrimSpace(r.Location) == "" ||
			strings.ContainsFunc(r.Location+r.Recipient, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
			t.Fatalf("Parse accepted a result that does not describe a checkable object: %+v", r)
		}
		if u, err := url.Parse(r.Location); err == nil && u.Scheme != "" && u.Host != "" && (u.RawQuery != "" || u.ForceQuery || u.User != nil) {
			t.Fatalf("Parse accepted a location with a query or user info: %q", r.Location)
		}
		if padded := append(append([]byte("\n \t"), data...), " \r\n"...); len(padded) <= MaxSize {
			if p, err := Parse(padded); err != nil || *p != *r {
				t.Fatalf("surrounded by whitespace: %+v, %v; want %+v", p, err, r)
			}
		}
		b, err := r.Marshal()
		if err != nil {
			t.Fatalf("Marshal of an accepted result: %v", err)
		}
		if len(b) > MaxSize || bytes.ContainsAny(b, "\r\n") {
			t.Fatalf("Marshal gave %d bytes, not one line of at most %d: %q", len(b), MaxSize, b)
		}
		again, err = Parse(b)
		if err != nil || *again != *r {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, r)
		}
		if b2, err := again.Marshal(); err != nil || !bytes.Equal(b2, b) {
			t.Fatalf("Marshal after the round trip: %q, %v; want %q", b2, err, b)
		}
	})
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)
