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

package render

import (
	"fmt"
	"strings"
	texttemplate "text/template"
	"text/template/parse"
	"time"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff/landing"
)

// maxPageTextBytes caps a rendered landing page's text, and
// maxPageButtonBytes its button: the link index holds a page per
// language next to the links, in one ConfigMap.
const (
	maxPageTextBytes   = 8 << 10
	maxPageButtonBytes = 256
)

// page is one language's compiled handoff page.
type page struct {
	field               string // where it was written, for errors
	title, text, button *texttemplate.Template
}

func compilePage(t v1.HandoffPageTemplate, field string) (*page, error) {
	p := &page{field: field}
	for _, part := range []struct {
		name, src string
		into      **texttemplate.Template
	}{{"title", t.Title, &p.title}, {"text", t.Text, &p.text}, {"button", t.Button, &p.button}} {
		tt, err := texttemplate.New(part.name).Option("missingkey=zero").Parse(part.src)
		if err != nil {
			return nil, fmt.Errorf("%w: %s.%s: %w", ErrTemplate, field, part.name, err)
		}
		if err := checkTrees(map[string]*parse.Tree{part.name: tt.Tree}); err != nil {
			return nil, fmt.Errorf("%w: %s.%s: %w", ErrTemplate, field, part.name, err)
		}
		*part.into = tt
	}
	return p, nil
}

// HandoffPages renders rw's landing pages for links that work until
// expires: one per locale that gives a handoffPage, and the default. It
// renders them once: New's trial render would be a second.
func HandoffPages(rw *v1.RegionWithdrawal, expires time.Time) (landing.Pages, error) {
	r, err := compileRenderer(rw)
	if err != nil {
		return nil, err
	}
	return r.HandoffPages(expires)
}

// HandoffPages renders the landing pages for links that work until
// expires. A page sees the withdrawal and the links' expiry, written the
// way its language writes them, and no recipient.
func (r *Renderer) HandoffPages(expires time.Time) (landing.Pages, error) {
	out := landing.Pages{}
	cutoff := r.rw.Spec.Cutoff.Time
	for set, p := range r.pages {
		lang := r.lang(set, r.resolve(set))
		local := cutoff.In(r.region)
		d := Data{
			Region: r.rw.Spec.Region, Withdrawal: r.rw.Name,
			Cutoff: local, CutoffUTC: cutoff.UTC(), CutoffDate: lang.Date(local), CutoffTime: lang.Time(local),
			Lang: lang.Lang, Dir: lang.Dir, set: set, loc: lang,
		}
		d.WithLink("", expires)
		var parts [3]string
		for i, part := range []struct {
			t   *texttemplate.Template
			max int
		}{{p.title, MaxSubjectBytes}, {p.text, maxPageTextBytes}, {p.button, maxPageButtonBytes}} {
			b := newLimitedBuffer(part.max, r.Clock)
			if err := part.t.Execute(b, d); err != nil {
				return nil, fmt.Errorf("%w: %s.%s: %w", ErrTemplate, p.field, part.t.Name(), err)
			}
			parts[i] = b.String()
		}
		title, button := strings.Join(strings.Fields(parts[0]), " "), strings.Join(strings.Fields(parts[2]), " ")
		if title == "" || button == "" {
			return nil, fmt.Errorf("%w: %s: the title and the button must not render empty", ErrTemplate, p.field)
		}
		out[set] = landing.Page{Lang: lang.Lang, Dir: lang.Dir, Title: title, Text: strings.TrimSpace(parts[1]), Button: button}
	}
	return out, nil
}
