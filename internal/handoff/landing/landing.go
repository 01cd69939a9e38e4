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

// Package landing is the page a customer's download link shows, in their
// language. Its text is the withdrawal's (spec.notify.templates.handoffPage
// and each locale's), rendered by the operator when it publishes the link
// index, one page per language: the Internet-facing endpoint runs no
// template, reads no withdrawal, and escapes what it shows. Which page a
// request gets is the endpoint's choice: the locale the customer's notice put
// in the link (?lang=), else the browser's Accept-Language, else the default.
package landing

import (
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/text/language"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/locale"
)

// LangParam is the query parameter of a link that names the customer's
// locale, as their notices give it; the token alone says whose link it is.
const LangParam = "lang"

// Page is one language's landing page, rendered.
type Page struct {
	Lang   string `json:"lang"`
	Dir    string `json:"dir"`
	Title  string `json:"title"`
	Text   string `json:"text"`
	Button string `json:"button"`
}

// Pages are a withdrawal's landing pages by locale tag; "" is the default.
type Pages map[string]Page

// DefaultTemplate is the built-in English page, for a withdrawal that
// gives none.
var DefaultTemplate = v1.HandoffPageTemplate{
	Title: "Your data export",
	Text: "Your archive is ready. It is encrypted to your own key; only you can open it.\n\n" +
		`This link works until {{.Export.ExpiresDate}}, {{.Export.Expires.Format "15:04 MST"}}.`,
	Button: "Download your archive",
}

// fallbackPage is shown for an index published without pages (by an
// operator older than the endpoint, until it publishes again).
var fallbackPage = Page{Lang: "en", Dir: "ltr", Title: DefaultTemplate.Title,
	Text: "Your archive is ready. It is encrypted to your own key; only you can open it.", Button: DefaultTemplate.Button}

// WithLang is link with the customer's locale, so that its page is in
// their language; link as it is when the locale does not parse.
func WithLang(link, lang string) string {
	tag, err := locale.Parse(lang)
	if link == "" || err != nil {
		return link
	}
	return link + "?" + url.Values{LangParam: {tag}}.Encode()
}

// maxAcceptLanguage bounds the Accept-Language header the endpoint reads,
// and maxAcceptTags the tags it tries.
const (
	maxAcceptLanguage = 512
	maxAcceptTags     = 8
)

// For is the page for request r: the first page on the fallback chain of
// the link's ?lang=, then of each language the browser accepts, in its
// order; else the default page.
func (ps Pages) For(r *http.Request) Page {
	var tags []string
	if lang := r.URL.Query().Get(LangParam); lang != "" && len(lang) <= 35 {
		tags = append(tags, lang)
	}
	if al := r.Header.Get("Accept-Language"); al != "" && len(al) <= maxAcceptLanguage {
		accepted, _, _ := language.ParseAcceptLanguage(al)
		for i, t := range accepted {
			if i == maxAcceptTags {
				break
			}
			tags = append(tags, t.String())
		}
	}
	for _, tag := range tags {
		for _, c := range locale.Chain(tag) {
			if p, ok := ps[c]; ok {
				return p
			}
		}
	}
	if p, ok := ps[""]; ok {
		return p
	}
	return fallbackPage
}

// Paragraphs is a page's text split at its blank lines.
func (p Page) Paragraphs() []string {
	var out []string
	for _, para := range strings.Split(strings.ReplaceAll(p.Text, "\r\n", "\n"), "\n\n") {
		if para = strings.TrimSpace(para); para != "" {
			out = append(out, para)
		}
	}
	return out
}
