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
	"errors"
	"fmt"
	"strings"
	"testing"
)

func entry(i int) Entry {
	return Entry{Customer: fmt.Sprintf("c-%06d", i), Location: fmt.Sprintf("https://store.example/pk/c-%06d.tar.gz.age", i),
		Bytes: 1234, SHA256: strings.Repeat("ab", 32), Key: KeyCustomer}
}

func TestManifestRoundTrip(t *testing.T) {
	var b bytes.Buffer
	want := []Entry{entry(1), {Customer: "c-2", Skipped: "no age key"}, entry(3)}
	for _, e := range want {
		if err := WriteEntry(&b, e); err != nil {
			t.Fatal(err)
		}
	}
	var got []Entry
	if err := ReadManifest(&b, nil, func(e Entry) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("read %v, wrote %v", got, want)
	}
}

func TestManifestRefusesBadLines(t *testing.T) {
	good := `{"customer":"c1","location":"https://s/c1","bytes":5,"sha256":"` + strings.Repeat("0", 64) + `","key":"customer"}`
	for name, c := range map[string]struct {
		manifest string
		want     error
		says     string
	}{
		"not JSON":            {"{", ErrMalformed, "line 1"},
		"an unknown field":    {`{"customer":"c1","skipped":"no data","extra":1}`, ErrMalformed, "extra"},
		"a customer twice":    {good + "\n" + good, ErrInvalid, `line 2: customer "c1" is listed twice`},
		"a signed location":   {strings.Replace(good, "https://s/c1", "https://s/c1?sig=x", 1), ErrInvalid, "query string"},
		"no digest":           {strings.Replace(good, strings.Repeat("0", 64), "", 1), ErrInvalid, "sha256"},
		"an unknown key":      {strings.Replace(good, `"customer"}`, `"someone"}`, 1), ErrInvalid, "key"},
		"skipped with data":   {strings.Replace(good, `"key":"customer"`, `"skipped":"no data"`, 1), ErrInvalid, "skipped"},
		"no customer":         {`{"skipped":"no data"}`, ErrInvalid, "customer"},
		"a line far too long": {`{"customer":"` + strings.Repeat("x", MaxEntrySize) + `"}`, ErrMalformed, "longer than"},
	} {
		err := ReadManifest(strings.NewReader(c.manifest), nil, func(Entry) error { return nil })
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want %v saying %q", name, err, c.want, c.says)
		}
	}
}

// BenchmarkReadManifest reads manifests of 10,000 and 100,000 customers:
// the time and allocations per manifest, with memory that does not grow
// with its size beyond the set of ids seen.
func BenchmarkReadManifest(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		var m bytes.Buffer
		for i := range n {
			if err := WriteEntry(&m, entry(i)); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("customers=%d", n), func(b *testing.B) {
			b.SetBytes(int64(m.Len()))
			b.ReportAllocs()
			for b.Loop() {
				count := 0
				if err := ReadManifest(bytes.NewReader(m.Bytes()), nil, func(Entry) error { count++; return nil }); err != nil || count != n {
					b.Fatalf("%d entries, %v", count, err)
				}
			}
		})
	}
}
