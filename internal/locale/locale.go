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

// Package locale knows what a notice needs about a customer's language:
// which templates to try in which order, which way the script runs, and how
// the language writes a date, a time and a number (CLDR data, from
// github.com/go-playground/locales). It holds no templates itself.
package locale

import (
	"fmt"
	"strings"
	"time"

	"github.com/go-playground/locales"
	"golang.org/x/text/language"
)

// Parse reads a BCP 47 language tag ("ur-PK", "ur_PK", "UR-pk" are the
// same tag) and returns its canonical form. An empty, malformed or
// unknown tag is an error.
func Parse(s string) (string, error) {
	t, err := language.Parse(s)
	if err != nil {
		return "", fmt.Errorf("locale %q: %w", s, err)
	}
	if t == language.Und {
		return "", fmt.Errorf("locale %q names no language", s)
	}
	return t.String(), nil
}

// Chain is the fallback chain of a tag, most specific first, by CLDR's
// parent locales: "ur-PK" gives [ur-PK ur]; "en-IN" gives [en-IN en-001
// en]. A tag that does not parse has an empty chain.
func Chain(s string) []string {
	t, err := language.Parse(s)
	if err != nil {
		return nil
	}
	var out []string
	// CLDR chains are at most four long; the bound guards the loop.
	for p := t; p != language.Und && len(out) < 8; p = p.Parent() {
		out = append(out, p.String())
	}
	return out
}

// Locale formats for one language. The zero value is not usable; use For.
type Locale struct {
	// Lang is the canonical tag, for an HTML lang attribute or a
	// Content-Language header.
	Lang string
	// Dir is "rtl" for a language written right to left, else "ltr".
	Dir string
	tr  locales.Translator
}

// For returns the Locale of tag s. Dates, times and numbers come from the
// nearest CLDR data on its chain, or English when the binary carries none
// of it; Lang keeps the tag itself, so a notice is still marked with the
// customer's language.
func For(s string) Locale {
	chain := Chain(s)
	if len(chain) == 0 {
		chain = []string{"en"}
	}
	l := Locale{Lang: chain[0], Dir: direction(s)}
	for _, tag := range append(chain, "en") {
		if n, ok := cldr[tag]; ok {
			l.tr = n()
			break
		}
	}
	return l
}

// rtlScripts are the ISO 15924 scripts written right to left that a
// language tag may resolve to.
var rtlScripts = map[string]bool{
	"Adlm": true, "Arab": true, "Hebr": true, "Mand": true, "Nkoo": true,
	"Rohg": true, "Samr": true, "Syrc": true, "Thaa": true, "Yezi": true,
}

// direction says which way tag s is written: by its script, explicit
// ("pa-Arab") or the one the language most likely uses ("ur" → Arab).
func direction(s string) string {
	t, err := language.Parse(s)
	if err != nil {
		return "ltr"
	}
	if sc, conf := t.Script(); conf != language.No && rtlScripts[sc.String()] {
		return "rtl"
	}
	return "ltr"
}

// Date is t's date in the locale's long form: "30 December 2026",
// "December 30, 2026", "30 دسمبر، 2026".
func (l Locale) Date(t time.Time) string { return l.tr.FmtDateLong(t) }

// DateFull is Date with the weekday: "Wednesday, December 30, 2026".
func (l Locale) DateFull(t time.Time) string { return l.tr.FmtDateFull(t) }

// Time is t's time of day in the locale's short form: "11:59 pm", "23:59".
func (l Locale) Time(t time.Time) string { return l.tr.FmtTimeShort(t) }

// Number writes n with the locale's digits and grouping: "1,234", "1٬234".
func (l Locale) Number(n int) string { return l.tr.FmtNumber(float64(n), 0) }

// Plural is n's CLDR cardinal plural category in the locale: "one",
// "other", and for some languages "zero", "two", "few" or "many".
func (l Locale) Plural(n int) string {
	return strings.ToLower(l.tr.CardinalPluralRule(float64(n), 0).String())
}
