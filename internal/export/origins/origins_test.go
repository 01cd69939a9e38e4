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

package origins

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // String() of the result
		wantErr  string // in the error, when it fails
	}{
		{name: "blank", in: "", want: ""},
		{name: "only commas and spaces", in: " , ,", want: ""},
		{name: "the example", in: "https://objects.example.com,s3://exports-bucket,https://*.blob.example.net",
			want: "https://objects.example.com,s3://exports-bucket,https://*.blob.example.net"},
		{name: "normalised", in: " HTTPS://Objects.Example.COM./ , gs://My_Bucket.example ,http://10.0.0.5:9000, https://h:443, http://[2001:DB8::1]:8080, file:// ",
			want: "https://objects.example.com,gs://my_bucket.example,http://10.0.0.5:9000,https://h,http://[2001:db8::1]:8080,file://"},
		{name: "file with a slash", in: "file:///", want: "file://"},
		{name: "no scheme", in: "objects.example.com", wantErr: "want scheme://host"},
		{name: "not a scheme", in: "1http://h", wantErr: "not a URL scheme"},
		{name: "no host", in: "https://", wantErr: "no host"},
		{name: "a path", in: "https://objects.example.com/exports", wantErr: "no path"},
		{name: "a query", in: "https://objects.example.com?x=1", wantErr: "no query"},
		{name: "a fragment", in: "https://objects.example.com#x", wantErr: "no query or fragment"},
		{name: "credentials", in: "https://user:secret@objects.example.com", wantErr: "no credentials"},
		{name: "wildcard in the middle", in: "https://objects.*.example.com", wantErr: "wildcard"},
		{name: "partial wildcard", in: "https://obj*.example.com", wantErr: "wildcard"},
		{name: "bare wildcard", in: "https://*", wantErr: "wildcard"},
		{name: "wildcard on an IP", in: "https://*.10.0.0.1", wantErr: "IP address"},
		{name: "port zero", in: "https://h:0", wantErr: "port"},
		{name: "port too large", in: "https://h:65536", wantErr: "port"},
		{name: "port not a number", in: "https://h:https", wantErr: "port"},
		{name: "empty port", in: "https://h:", wantErr: "colon without a port"},
		{name: "bucket with a port", in: "s3://bucket:9000", wantErr: "no port"},
		{name: "IPv6 without brackets", in: "https://2001:db8::1", wantErr: "brackets"},
		{name: "IPv6 unclosed", in: "https://[2001:db8::1", wantErr: "closing bracket"},
		{name: "not IPv6", in: "https://[objects.example.com]", wantErr: "not an IPv6 address"},
		{name: "empty label", in: "https://objects..example.com", wantErr: "empty label"},
		{name: "bad character", in: "https://objects$.example.com", wantErr: "not a host name"},
		{name: "file with a host", in: "file://server/share", wantErr: "file origin names no host"},
		{name: "one bad among good", in: "https://ok.example,https://bad.example/path", wantErr: "entry 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), Flag) {
					t.Fatalf("Parse(%q) = %v, %v; want an error naming %s and saying %q", tt.in, o, err, Flag, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got := o.String(); got != tt.want {
				t.Fatalf("Parse(%q) = %q, want %q", tt.in, got, tt.want)
			}
			// What String gives parses to the same list.
			again, err := Parse(o.String())
			if err != nil || again.String() != o.String() {
				t.Fatalf("Parse(String()) = %q, %v; want %q", again, err, o)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	o, err := Parse("https://objects.example.com,s3://exports-bucket,https://*.blob.example.net,http://127.0.0.1:9000,http://[::1]:8080")
	if err != nil {
		t.Fatal(err)
	}
	allowed := []string{
		"https://objects.example.com/pk/a.tar.gz.age",
		"https://objects.example.com",
		"HTTPS://OBJECTS.EXAMPLE.COM/pk/a",
		"https://objects.example.com./pk/a",
		"https://objects.example.com:443/pk/a",
		"s3://exports-bucket/pk/ns-a.tar.gz.age",
		"https://acct.blob.example.net/container/a",
		"http://127.0.0.1:9000/pk/manifest.jsonl",
		"http://[::1]:8080/x",
	}
	refused := []string{
		"https://evil.example/x",
		"http://objects.example.com/pk/a",          // another scheme
		"https://objects.example.com:8443/pk/a",    // another port
		"https://objects.example.com.evil.example", // a suffix is not the host
		"https://evilobjects.example.com/",
		"s3://exports-bucket-2/pk/a",
		"gs://exports-bucket/pk/a",
		"https://blob.example.net/a",     // the wildcard is one label, not none
		"https://a.b.blob.example.net/a", // nor two
		"https://acct.blob.example.net.evil.example/a",
		"http://127.0.0.1/pk/a",
		"http://127.0.0.1:9001/pk/a",
		"//objects.example.com/pk/a", // a host without a scheme is not a path
		"/exports/home.tar.gz",       // no file:// in the list
		"file:///exports/home.tar.gz",
		"https:objects.example.com/pk/a", // opaque
		"https://objects.example.com:/pk/a",
		"",
		"https://objects.example.com\x7f/a", // does not parse
	}
	for _, u := range allowed {
		if err := o.Check(u); err != nil {
			t.Errorf("Check(%q) = %v, want nil", u, err)
		}
	}
	for _, u := range refused {
		err := o.Check(u)
		var nae *NotAllowedError
		if !errors.Is(err, ErrNotAllowed) || !errors.As(err, &nae) {
			t.Errorf("Check(%q) = %v, want ErrNotAllowed", u, err)
		}
	}

	files, err := Parse("file://")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"/exports/home.tar.gz", "exports/a.tar.gz", "file:///exports/a", "file://localhost/exports/a"} {
		if err := files.Check(u); err != nil {
			t.Errorf("with file://: Check(%q) = %v, want nil", u, err)
		}
	}
	for _, u := range []string{"file://server/share/a", "https://objects.example.com/a", "//server/share/a"} {
		if err := files.Check(u); err == nil {
			t.Errorf("with file://: Check(%q) = nil, want refused", u)
		}
	}
}

func TestNoListAllowsEverything(t *testing.T) {
	var none *Origins
	empty, err := Parse(" ")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []*Origins{none, empty, {}} {
		if o.Configured() || o.String() != "" {
			t.Fatalf("%#v: configured %v, %q", o, o.Configured(), o.String())
		}
		for _, u := range []string{"https://evil.example/x", "/exports/a", "", "s3://any/x"} {
			if err := o.Check(u); err != nil {
				t.Fatalf("no list: Check(%q) = %v", u, err)
			}
		}
	}
}

func TestTheMessageNamesTheLocationWithoutCredentials(t *testing.T) {
	o, err := Parse("https://objects.example.com,s3://exports-bucket")
	if err != nil {
		t.Fatal(err)
	}
	err = o.Check("https://evil.example/x")
	want := `export location "https://evil.example/x" is not under an allowed store origin (--export-allowed-origins: https://objects.example.com, s3://exports-bucket)`
	if err == nil || err.Error() != want {
		t.Fatalf("Check = %v\nwant %s", err, want)
	}
	for in, shown := range map[string]string{
		"https://user:hunter2@evil.example/x?X-Amz-Signature=sig123&token=tok456#frag789": "https://evil.example/x",
		"https://hunter2@evil.example/x":                 "https://evil.example/x",
		"https://u:hunter2@@evil.example/x?token=tok456": "https://evil.example/x", // does not parse
		"https://evil.example/x\x7f?token=tok456":        "https://evil.example/x\x7f",
		"https:hunter2@evil.example":                     "https:…",
		"/exports/a?token=tok456":                        "/exports/a",
	} {
		err := o.Check(in)
		if err == nil {
			t.Fatalf("Check(%q) = nil", in)
		}
		msg := err.Error()
		for _, secret := range []string{"hunter2", "sig123", "tok456", "frag789"} {
			if strings.Contains(msg, secret) {
				t.Errorf("Check(%q) = %q: holds %q", in, msg, secret)
			}
		}
		var nae *NotAllowedError
		if !errors.As(err, &nae) || nae.Location != shown {
			t.Errorf("Check(%q) shows %q, want %q", in, nae.Location, shown)
		}
	}
	long := "https://evil.example/" + strings.Repeat("a", 2000)
	if err := o.Check(long); err == nil || len(err.Error()) > maxShown+200 {
		t.Errorf("a long location gives a message of %d bytes", len(err.Error()))
	}
}

func TestOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:pw@store.example:8443/pk/c-00001.tar.gz?sig=1": "https://store.example:8443",
		"s3://bucket/pk/c-00001":                                     "s3://bucket",
		"/exports/c-00001":                                           "file://",
		"file:///exports/c-00001":                                    "file://",
		"https:opaque":                                               "",
	} {
		if got := Origin(in); got != want {
			t.Errorf("Origin(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzOrigins checks that Parse and Check never panic; that what Parse
// accepts gives itself back through String; that a list allows each of its
// own plain entries; and that a refusal never shows a location's password
// or query.
//
//	go test ./internal/export/origins -run '^$' -fuzz '^FuzzOrigins$' -fuzztime 60s
func FuzzOrigins(f *testing.F) {
	f.Add("https://objects.example.com,s3://exports-bucket,https://*.blob.example.net", "https://u:pw@evil.example/x?sig=1")
	f.Add("file://", "/exports/a")
	f.Add("http://[::1]:8080", "http://[::1]:8080/x")
	f.Add("https://*.a", "https://b.a:443")
	f.Fuzz(func(t *testing.T, list, loc string) {
		o, err := Parse(list)
		if err != nil {
			return
		}
		again, err := Parse(o.String())
		if err != nil || again.String() != o.String() {
			t.Fatalf("Parse(%q).String() = %q does not parse back: %q, %v", list, o.String(), again, err)
		}
		for _, e := range o.entries {
			if !e.wildcard && e.scheme != "file" {
				if err := o.Check(e.String() + "/x"); err != nil {
					t.Fatalf("%q refuses its own entry %s: %v", o.String(), e, err)
				}
			}
		}
		err = o.Check(loc)
		if err == nil {
			return
		}
		u, perr := url.Parse(loc)
		if perr != nil {
			return
		}
		msg := err.Error()
		if pw, ok := u.User.Password(); ok && len(pw) > 3 && !strings.Contains(o.String(), pw) && strings.Contains(msg, pw) && !strings.Contains(u.Host+u.Path, pw) {
			t.Fatalf("Check(%q) shows the password: %s", loc, msg)
		}
		if q := u.RawQuery; len(q) > 3 && !strings.Contains(o.String(), q) && strings.Contains(msg, q) && !strings.Contains(u.Scheme+u.Host+u.Path, q) {
			t.Fatalf("Check(%q) shows the query: %s", loc, msg)
		}
	})
}
