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

package locale

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCLDRTableNamesMatch(t *testing.T) {
	for tag, n := range cldr {
		if got := strings.ReplaceAll(n().Locale(), "_", "-"); got != tag {
			t.Errorf("cldr[%q] is the data of %q", tag, got)
		}
		if canon, err := Parse(tag); err != nil || canon != tag {
			t.Errorf("cldr key %q is not canonical: %q, %v", tag, canon, err)
		}
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]string{"ur-PK": "ur-PK", "ur_PK": "ur-PK", "UR-pk": "ur-PK", "en": "en"} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "zz", "not a tag", "und"} {
		if got, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %q, want an error", bad, got)
		}
	}
}

func TestChain(t *testing.T) {
	for in, want := range map[string][]string{
		"ur-PK":      {"ur-PK", "ur"},
		"ur_pk":      {"ur-PK", "ur"},
		"en-IN":      {"en-IN", "en-001", "en"},
		"pa-Arab-PK": {"pa-Arab-PK", "pa-Arab"},
		"fr":         {"fr"},
		"zz":         nil,
		"":           nil,
	} {
		if got := Chain(in); !slices.Equal(got, want) {
			t.Errorf("Chain(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestFormatsTheWayTheLocaleWrites(t *testing.T) {
	karachi, err := time.LoadLocation("Asia/Karachi")
	if err != nil {
		t.Fatal(err)
	}
	cutoff := time.Date(2026, 12, 30, 0, 0, 0, 0, karachi).Add(-time.Minute)
	for _, c := range []struct {
		tag, lang, dir, date, full, clock, number string
	}{
		{"ur-PK", "ur-PK", "rtl", "29 دسمبر، 2026", "منگل، 29 دسمبر، 2026", "11:59 PM", "1,234"},
		{"ur-Arab-PK", "ur-Arab-PK", "rtl", "29 دسمبر، 2026", "منگل، 29 دسمبر، 2026", "11:59 PM", "1,234"},
		{"ar", "ar", "rtl", "29 ديسمبر 2026", "الثلاثاء، 29 ديسمبر 2026", "11:59 م", "1٬234"},
		{"en", "en", "ltr", "December 29, 2026", "Tuesday, December 29, 2026", "11:59 pm", "1,234"},
		{"en-GB", "en-GB", "ltr", "29 December 2026", "Tuesday, 29 December 2026", "23:59", "1,234"},
		// No CLDR data in the binary for Swahili: English formats, the tag stays.
		{"sw", "sw", "ltr", "December 29, 2026", "Tuesday, December 29, 2026", "11:59 pm", "1,234"},
		{"not a tag", "en", "ltr", "December 29, 2026", "Tuesday, December 29, 2026", "11:59 pm", "1,234"},
	} {
		l := For(c.tag)
		got := []string{l.Lang, l.Dir, l.Date(cutoff), l.DateFull(cutoff), l.Time(cutoff), l.Number(1234)}
		want := []string{c.lang, c.dir, c.date, c.full, c.clock, c.number}
		if !slices.Equal(got, want) {
			t.Errorf("For(%q) writes %q, want %q", c.tag, got, want)
		}
	}
}
