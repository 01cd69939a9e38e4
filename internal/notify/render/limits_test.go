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
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
)

func withTemplate(tmpl v1.NoticeTemplate) *v1.RegionWithdrawal {
	return &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: "bes"},
		Spec: v1.RegionWithdrawalSpec{Region: "PK", TimeZone: "Asia/Karachi",
			Cutoff: metav1.NewTime(time.Date(2026, 12, 29, 19, 0, 0, 0, time.UTC)),
			Notify: &v1.NotifyStep{Templates: &v1.NoticeTemplates{Announcement: &tmpl}}},
	}
}

// TestTemplatesThatCouldNotEndAreRefused: each of these would spin a
// worker of the operator that serves every tenant, without writing a byte
// the output cap could stop.
func TestTemplatesThatCouldNotEndAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name, text, html, want string
	}{
		{name: "range over a huge number", text: `{{range 1000000000000}}{{end}}`, want: "range only over .Recipient.Fields"},
		{name: "range over a variable", text: `{{$n := 1000000000000}}{{range $n}}{{end}}`, want: "range only over .Recipient.Fields"},
		{name: "range over a function", text: `{{range len "x"}}{{end}}`, want: "range only over .Recipient.Fields"},
		{name: "ranges over a number of the data", text: `{{range .DaysLeft}}{{range $.DaysLeft}}{{range $.DaysLeft}}{{end}}{{end}}{{end}}`, want: "range only over .Recipient.Fields"},
		{name: "a template that calls itself", text: `{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}`, want: "calls itself"},
		{name: "two that call each other", text: `{{define "a"}}{{template "b" .}}{{end}}{{define "b"}}{{if .}}{{template "a" .}}{{end}}{{end}}x`, want: "calls itself"},
		{name: "ranges nested four deep", text: `{{range .Recipient.Fields}}{{range $.Recipient.Fields}}{{range $.Recipient.Fields}}{{range $.Recipient.Fields}}{{end}}{{end}}{{end}}{{end}}`, want: "steps to render"},
		// Each template alone is three deep, which fits; one calling the
		// other is six deep, 64^6 iterations that write nothing.
		{name: "two templates three deep, one calling the other", text: `{{define "a"}}{{range .Recipient.Fields}}{{range $.Recipient.Fields}}{{range $.Recipient.Fields}}{{template "b" $}}{{end}}{{end}}{{end}}{{end}}` +
			`{{define "b"}}{{range .Recipient.Fields}}{{range $.Recipient.Fields}}{{range $.Recipient.Fields}}{{if eq . "x"}}{{end}}{{end}}{{end}}{{end}}{{end}}{{template "a" .}}`, want: `template "a": may take over`},
		{name: "a chain of templates one range each", text: chain(6), want: "steps to render"},
		{name: "a range around a call to a range", text: `{{define "inner"}}{{range .Recipient.Fields}}{{range $.Recipient.Fields}}{{range $.Recipient.Fields}}{{end}}{{end}}{{end}}{{end}}{{range .Recipient.Fields}}{{template "inner" $}}{{end}}`, want: "steps to render"},
		{name: "a huge printf width", text: `{{printf "%0999999d" 1}}`, want: "width over 1024"},
		{name: "a huge printf precision", text: `{{printf "%.999999f" 1.0}}`, want: "precision over 1024"},
		{name: "a printf width from an argument", text: `{{printf "%*d" 999999 1}}`, want: "from an argument"},
		{name: "a printf that writes nothing", text: `{{range .Recipient.Fields}}{{if printf "%0999999d" 1}}{{end}}{{end}}`, want: "width over 1024"},
		{name: "a printf format from the data", text: `{{printf .Recipient.Name 1}}`, want: "quoted string"},
		{name: "a printf in a nested pipeline", text: `{{len (printf "%0999999d" 1)}}`, want: "width over 1024"},
		{name: "in the HTML part", text: "ok", html: `{{range 99999999999}}<p>{{end}}`, want: "html"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(withTemplate(v1.NoticeTemplate{Subject: "s", Text: tc.text, HTML: tc.html}))
			if !errors.Is(err, ErrTemplate) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want a template error saying %q", err, tc.want)
			}
		})
	}
}

// chain is n templates, each a {{range}} over the fields around a call to
// the next: n ranges deep in all.
func chain(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{{define "t%d"}}{{range .Recipient.Fields}}`, i)
		if i+1 < n {
			fmt.Fprintf(&b, `{{template "t%d" $}}`, i+1)
		}
		b.WriteString(`{{end}}{{end}}`)
	}
	return b.String() + `{{template "t0" .}}`
}

// TestTheMostWorkTheLimitAllowsStillRenders renders the most
// work the limit lets through, over a recipient with every field it may
// have, and checks it ends (the deadline stops a render only where it
// writes, so this one must end by itself).
func TestTheMostWorkTheLimitAllowsStillRenders(t *testing.T) {
	text := `{{range .Recipient.Fields}}{{range $.Recipient.Fields}}{{range $.Recipient.Fields}}{{if eq . "x"}}{{.}}{{end}}{{end}}{{end}}{{end}}`
	r, err := New(withTemplate(v1.NoticeTemplate{Subject: "s", Text: text}))
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for i := range recipients.MaxFields {
		fields[fmt.Sprintf("f%02d", i)] = "v"
	}
	rw := withTemplate(v1.NoticeTemplate{Subject: "s", Text: text})
	if _, _, _, err := r.Render(v1.NoticeAnnouncement, r.Data(v1.NoticeAnnouncement, rw.Spec.Cutoff.Add(-48*time.Hour), recipients.Recipient{ID: "c1", Fields: fields})); err != nil {
		t.Fatal(err)
	}
}

func TestTemplatesThatAreFineStillParse(t *testing.T) {
	for _, text := range []string{
		`{{range $k, $v := .Recipient.Fields}}{{$k}}={{$v}} {{end}}`,
		`{{range .Recipient.Fields}}{{range $.Recipient.Fields}}.{{end}}{{end}}`,
		`{{define "sig"}}-- the team{{end}}Dear {{.Recipient.Name}}, {{template "sig"}}`,
		`{{range .Recipient.Fields}}{{range $.Recipient.Fields}}{{range $.Recipient.Fields}}{{.}},{{end}}{{end}}{{end}}`,
		`{{define "row"}}{{range .Recipient.Fields}}{{.}} {{end}}{{end}}{{range .Recipient.Fields}}{{template "row" $}}{{end}}`,
		chain(3),
		`{{printf "%-20s|%8.2f" .Recipient.Name 1.5}} 100%% {{printf "%%d"}}`,
	} {
		if _, err := New(withTemplate(v1.NoticeTemplate{Subject: "s", Text: text})); err != nil {
			t.Errorf("%s: %v", text, err)
		}
	}
}

// TestRenderingIsCapped: output that grows past the cap stops with a
// template error, the spec's to fix, not the operator's memory.
func TestRenderingIsCapped(t *testing.T) {
	fields := map[string]string{}
	for i := range recipients.MaxFields {
		fields[string(rune('a'+i%26))+strings.Repeat("k", i)] = strings.Repeat("v", 1000)
	}
	for _, tc := range []struct {
		name string
		tmpl v1.NoticeTemplate
		want string
	}{
		{name: "many printfs", tmpl: v1.NoticeTemplate{Subject: "s", Text: `{{range .Recipient.Fields}}{{printf "%01000d" 1}}{{printf "%01000d" 2}}{{end}}`}, want: "renders over 65536 bytes"},
		{name: "nested ranges over long fields", tmpl: v1.NoticeTemplate{Subject: "s",
			Text: `{{range .Recipient.Fields}}{{range $.Recipient.Fields}}{{.}}{{end}}{{end}}`}, want: "renders over 65536 bytes"},
		{name: "a long subject", tmpl: v1.NoticeTemplate{Subject: `{{range .Recipient.Fields}}{{.}}{{end}}`, Text: "t"}, want: "renders over 1024 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(withTemplate(tc.tmpl))
			if err != nil {
				t.Fatal(err)
			}
			rw := withTemplate(tc.tmpl)
			_, _, _, err = r.Render(v1.NoticeAnnouncement, r.Data(v1.NoticeAnnouncement, rw.Spec.Cutoff.Add(-48*time.Hour), recipients.Recipient{ID: "c1", Fields: fields}))
			if !errors.Is(err, ErrTemplate) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Render = %v, want a template error saying %q", err, tc.want)
			}
		})
	}
}

// FuzzTemplate: whatever a template says, New refuses it, or
// Render returns (an error or text within the caps) without panicking.
func FuzzTemplate(f *testing.F) {
	for _, seed := range []string{
		`Dear {{.Recipient.Name}}, {{.DaysLeft}} days`,
		`{{range .Recipient.Fields}}{{range $.Recipient.Fields}}{{.}}{{end}}{{end}}`,
		`{{define "a"}}{{template "b" .}}{{end}}{{define "b"}}x{{end}}{{template "a" .}}`,
		`{{printf "%0999999d" 1}}{{printf "%0999999d" 1}}`,
		`{{range 10}}{{.}}{{end}}`,
		`{{with .Recipient.Fields}}{{index . "plan"}}{{end}}`,
		`{{if gt .DaysLeft 3}}soon{{else}}later{{end}}`,
	} {
		f.Add(seed)
	}
	fields := map[string]string{}
	for i := range 8 {
		fields[strings.Repeat("k", i+1)] = strings.Repeat("v", 500)
	}
	f.Fuzz(func(t *testing.T, text string) {
		rw := withTemplate(v1.NoticeTemplate{Subject: "s", Text: text, HTML: text})
		r, err := New(rw)
		if err != nil {
			return
		}
		start := time.Now()
		_, body, html, err := r.Render(v1.NoticeAnnouncement, r.Data(v1.NoticeAnnouncement, rw.Spec.Cutoff.Add(-48*time.Hour),
			recipients.Recipient{ID: "c1", Name: "Ayesha", Fields: fields}))
		if took := time.Since(start); took > 10*Deadline {
			t.Fatalf("rendering took %s", took)
		}
		if err == nil && (len(body) > MaxTextBytes || len(html) > MaxHTMLBytes) {
			t.Fatalf("rendered %d and %d bytes, over the caps", len(body), len(html))
		}
	})
}

// TestTimeLeftReadsWell: "1 days" is gone; hours and minutes near the end.
func TestTimeLeftReadsWell(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * 24 * time.Hour: "30 days", 49 * time.Hour: "3 days", 48 * time.Hour: "2 days", 24 * time.Hour: "1 day",
		30 * time.Hour: "30 hours", 5 * time.Hour: "5 hours", 90 * time.Minute: "90 minutes", time.Minute: "1 minute",
		10 * time.Second: "1 minute", 0: "no time", -time.Hour: "no time",
	} {
		if got := timeLeft(d); got != want {
			t.Errorf("timeLeft(%s) = %q, want %q", d, got, want)
		}
	}
}

// TestCustomerStringsDoNotGrowTheCaches: every recipient may carry a
// different time zone and locale string; what the renderer remembers of
// them stays bounded.
func TestCustomerStringsDoNotGrowTheCaches(t *testing.T) {
	rw := withTemplate(v1.NoticeTemplate{Subject: "s", Text: "t"})
	r, err := New(rw)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5000 {
		d := r.Data(v1.NoticeAnnouncement, rw.Spec.Cutoff.Add(-48*time.Hour),
			recipients.Recipient{ID: "c", TimeZone: fmt.Sprintf("Mars/Olympus_%d", i), Locale: fmt.Sprintf("x-%d", i)})
		if d.Cutoff.Location().String() != "Asia/Karachi" {
			t.Fatalf("an unknown zone gave %s, want the region's", d.Cutoff.Location())
		}
	}
	if len(r.zones) > maxCachedZones || len(r.langs) > maxCachedLangs {
		t.Fatalf("%d zones and %d locales cached, over %d and %d", len(r.zones), len(r.langs), maxCachedZones, maxCachedLangs)
	}
}
