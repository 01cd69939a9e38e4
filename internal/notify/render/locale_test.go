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
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/locale"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
)

// pakistanSample is config/samples/pakistan.yaml: the Urdu it ships is the
// Urdu these tests read. go test runs in the package's directory; the path
// is relative so that this package's tests, which FuzzTemplate's
// instrumented build compiles, need nothing of test/testenv.
func pakistanSample(t testing.TB) *v1.RegionWithdrawal {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "config", "samples", "pakistan.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rw v1.RegionWithdrawal
	if err := yaml.UnmarshalStrict(b, &rw); err != nil {
		t.Fatal(err)
	}
	return &rw
}

// TestUrduNoticeReadsRightToLeft renders the sample's announcement for a
// customer in ur-PK: Urdu text, the HTML marked with the customer's
// language and direction, and the cutoff written the Urdu way in
// Pakistan's time.
func TestUrduNoticeReadsRightToLeft(t *testing.T) {
	rw := pakistanSample(t)
	r, err := New(rw)
	if err != nil {
		t.Fatal(err)
	}
	due := rw.Spec.Cutoff.Add(-720 * time.Hour)
	d := r.Data(v1.NoticeAnnouncement, due, recipients.Recipient{ID: "c1", Name: "کراچی ٹیکسٹائل", Locale: "ur_PK"})
	if d.Lang != "ur-PK" || d.Dir != "rtl" {
		t.Errorf("Lang, Dir = %q, %q; want ur-PK, rtl", d.Lang, d.Dir)
	}
	subject, text, html, err := r.Render(v1.NoticeAnnouncement, d)
	if err != nil {
		t.Fatal(err)
	}
	// The cutoff is midnight at the start of 30 December, Pakistan time.
	if want := "پاکستان میں سروس 30 دسمبر، 2026 کو بند ہو جائے گی"; subject != want {
		t.Errorf("subject = %q, want %q", subject, want)
	}
	for _, want := range []string{"محترم کراچی ٹیکسٹائل،", "30 دسمبر، 2026 کو 12:00 AM (PKT)", "30 دن باقی ہیں"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if !strings.HasPrefix(html, `<div lang="ur-PK" dir="rtl"><p>محترم`) || !strings.HasSuffix(html, "</div>") {
		t.Errorf("HTML is not marked right to left in ur-PK:\n%s", html)
	}
}

// TestLocaleFallsBack walks the fallback chain: a locale's parent gives
// the templates, a kind the locale leaves out is the default's, and a
// locale with no templates gets English with its own date format where
// it is an English.
func TestLocaleFallsBack(t *testing.T) {
	rw := pakistanSample(t)
	// The sample gives every kind in Urdu; leave out the final notice.
	rw.Spec.Notify.Locales[0].Final = nil
	r, err := New(rw)
	if err != nil {
		t.Fatal(err)
	}
	due := rw.Spec.Cutoff.Add(-24 * time.Hour)
	for _, c := range []struct {
		locale     string
		kind       v1.NoticeKind
		set, lang  string
		dir, date  string
		subjectHas string
	}{
		{"ur-IN", v1.NoticeReminder, "ur", "ur-IN", "rtl", "30 دسمبر، 2026", "یاد دہانی"},
		{"ur-PK", v1.NoticeFinal, "", "en", "ltr", "December 30, 2026", "Final notice"},
		{"en-GB", v1.NoticeFinal, "", "en-GB", "ltr", "30 December 2026", "Final notice"},
		{"fr", v1.NoticeReminder, "", "en", "ltr", "December 30, 2026", "Reminder"},
		{"", v1.NoticeReminder, "", "en", "ltr", "December 30, 2026", "Reminder"},
		{"not a tag", v1.NoticeReminder, "", "en", "ltr", "December 30, 2026", "Reminder"},
	} {
		if got := r.Choose(c.kind, c.locale); got != c.set {
			t.Errorf("%q %s: templates of %q, want %q", c.locale, c.kind, got, c.set)
		}
		d := r.Data(c.kind, due, recipients.Recipient{ID: "c1", Locale: c.locale})
		if d.Lang != c.lang || d.Dir != c.dir || d.CutoffDate != c.date {
			t.Errorf("%q %s: Lang, Dir, CutoffDate = %q, %q, %q; want %q, %q, %q", c.locale, c.kind, d.Lang, d.Dir, d.CutoffDate, c.lang, c.dir, c.date)
		}
		subject, _, _, err := r.Render(c.kind, d)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(subject, c.subjectHas) {
			t.Errorf("%q %s: subject %q lacks %q", c.locale, c.kind, subject, c.subjectHas)
		}
	}
}

func TestDaysLeftInTheLocalesWords(t *testing.T) {
	rw := withTemplate(v1.NoticeTemplate{Subject: "s", Text: "t"})
	rw.Spec.Notify.Locales = []v1.LocaleTemplates{{Locale: "en", NoticeTemplates: v1.NoticeTemplates{Reminder: &v1.NoticeTemplate{
		Subject: `{{.DaysLeftNumber}} {{if eq .DaysLeftPlural "one"}}day{{else}}days{{end}} left`, Text: "t"}}}}
	r, err := New(rw)
	if err != nil {
		t.Fatal(err)
	}
	for days, want := range map[int]string{1: "1 day left", 2: "2 days left", 1200: "1,200 days left"} {
		due := rw.Spec.Cutoff.Add(-time.Duration(days) * 24 * time.Hour)
		subject, _, _, err := r.Render(v1.NoticeReminder, r.Data(v1.NoticeReminder, due, recipients.Recipient{ID: "c1", Locale: "en-US"}))
		if err != nil || subject != want {
			t.Errorf("%d days: %q, %v; want %q", days, subject, err, want)
		}
	}
}

func TestLocalesTheRendererRefuses(t *testing.T) {
	final := &v1.NoticeTemplate{Subject: "s", Text: "t"}
	cases := map[string]struct {
		locales []v1.LocaleTemplates
		want    string
	}{
		"an unknown language": {[]v1.LocaleTemplates{{Locale: "zz", NoticeTemplates: v1.NoticeTemplates{Final: final}}}, "spec.notify.locales[0].locale"},
		"one tag written two ways": {[]v1.LocaleTemplates{
			{Locale: "ur-PK", NoticeTemplates: v1.NoticeTemplates{Final: final}},
			{Locale: "ur_pk", NoticeTemplates: v1.NoticeTemplates{Final: final}},
		}, `spec.notify.locales[1].locale: "ur_pk" is ur-PK, which an earlier entry already gives`},
		"a template that does not parse": {[]v1.LocaleTemplates{{Locale: "ur", NoticeTemplates: v1.NoticeTemplates{Final: &v1.NoticeTemplate{Subject: "{{", Text: "t"}}}}, "spec.notify.locales[0].final"},
		// The page renders only when the links are published, days later:
		// a misspelt field is found when the withdrawal is read.
		"a handoff page with a misspelt field": {[]v1.LocaleTemplates{{Locale: "ur", NoticeTemplates: v1.NoticeTemplates{HandoffPage: &v1.HandoffPageTemplate{
			Title: "{{.Regoin}}", Text: "t", Button: "b"}}}}, "spec.notify.locales[0].handoffPage.title"},
		"a handoff page that loops": {[]v1.LocaleTemplates{{Locale: "ur", NoticeTemplates: v1.NoticeTemplates{HandoffPage: &v1.HandoffPageTemplate{
			Title: "t", Text: "{{range 100000000}}x{{end}}", Button: "b"}}}}, "spec.notify.locales[0].handoffPage.text"},
		"a handoff page whose button renders empty": {[]v1.LocaleTemplates{{Locale: "ur", NoticeTemplates: v1.NoticeTemplates{HandoffPage: &v1.HandoffPageTemplate{
			Title: "t", Text: "t", Button: "{{if false}}b{{end}}"}}}}, "spec.notify.locales[0].handoffPage: the title and the button must not render empty"},
	}
	for name, c := range cases {
		rw := withTemplate(v1.NoticeTemplate{Subject: "s", Text: "t"})
		rw.Spec.Notify.Locales = c.locales
		_, err := New(rw)
		if !errors.Is(err, ErrTemplate) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an ErrTemplate naming %q", name, err, c.want)
		}
	}
}

// TestTheSamplesHandoffPageIsInUrdu renders the sample's landing pages:
// the Urdu one right to left, dated the Urdu way in Karachi; the default
// the built-in English, dated the English way.
func TestTheSamplesHandoffPageIsInUrdu(t *testing.T) {
	rw := pakistanSample(t)
	expires := rw.Spec.Cutoff.Add(30 * 24 * time.Hour)
	pages, err := HandoffPages(rw, expires)
	if err != nil {
		t.Fatal(err)
	}
	karachi, _ := time.LoadLocation("Asia/Karachi")
	ur, en := pages["ur"], pages[""]
	if len(pages) != 2 || ur.Lang != "ur" || ur.Dir != "rtl" || ur.Title != "آپ کا ڈیٹا" ||
		!strings.Contains(ur.Text, "یہ لنک "+locale.For("ur").Date(expires.In(karachi))+" تک") {
		t.Errorf("the Urdu page: %+v (of %d pages)", ur, len(pages))
	}
	if en.Lang != "en" || en.Dir != "ltr" || en.Title != "Your data export" || en.Button != "Download your archive" ||
		!strings.Contains(en.Text, "This link works until "+locale.For("en").Date(expires.In(karachi))+", ") {
		t.Errorf("the default page: %+v", en)
	}
}

func TestAWholeHTMLDocumentMarksItself(t *testing.T) {
	doc := `<!DOCTYPE html><html lang="ur" dir="rtl"><body>x</body></html>`
	if got := markLanguage(doc, "ur", "rtl"); got != doc {
		t.Errorf("a document was wrapped: %s", got)
	}
	if got := markLanguage("<p>x</p>", "en", "ltr"); got != `<div lang="en" dir="ltr"><p>x</p></div>` {
		t.Errorf("a fragment was not wrapped: %s", got)
	}
}

// BenchmarkRender renders the sample's announcement, Urdu and the
// built-in English, to show what a language costs per recipient.
func BenchmarkRender(b *testing.B) {
	b.StopTimer()
	rw := pakistanSample(b)
	r, err := New(rw)
	if err != nil {
		b.Fatal(err)
	}
	due := rw.Spec.Cutoff.Add(-720 * time.Hour)
	for _, lang := range []string{"ur-PK", "en-GB", ""} {
		rcp := recipients.Recipient{ID: "c1", Name: "Customer", Locale: lang}
		b.Run("locale="+lang, func(b *testing.B) {
			for b.Loop() {
				if _, _, _, err := r.Render(v1.NoticeAnnouncement, r.Data(v1.NoticeAnnouncement, due, rcp)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestRescheduledNoticeNamesBothDates renders the Rescheduled notice of a
// cutoff moved a month later, in English and in the sample's Urdu: the
// date customers were told, and the new one.
func TestRescheduledNoticeNamesBothDates(t *testing.T) {
	rw := pakistanSample(t)
	from := rw.Spec.Cutoff
	to := metav1.NewTime(from.Add(31 * 24 * time.Hour))
	seen := metav1.NewTime(from.Add(-20 * 24 * time.Hour))
	latest := metav1.NewTime(to.Add(24 * time.Hour))
	rw.Spec.Cutoff = latest
	rw.Status.Cutoff = &v1.CutoffHistory{Original: from, Current: latest, ChangeCount: 2, Changes: []v1.CutoffChange{
		{Seq: 1, From: from, To: to, ObservedAt: seen, NoticeID: "rescheduled-1"},
		// A later change, made while the first notice was going out.
		{Seq: 2, From: to, To: latest, ObservedAt: seen, NoticeID: "rescheduled-2"},
	}}
	r, err := New(rw)
	if err != nil {
		t.Fatal(err)
	}
	r.ForNotice("rescheduled-1")
	d := r.Data(v1.NoticeRescheduled, seen.Time, recipients.Recipient{ID: "c1", Name: "Lahore Looms"})
	subject, text, html, err := r.Render(v1.NoticeRescheduled, d)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Service in PK now ends on 30 January 2027"; subject != want {
		t.Errorf("subject %q, want %q", subject, want)
	}
	for _, want := range []string{"We told you it would end at 00:00 PKT on Wednesday 30 December 2026", "it now ends at 00:00 PKT on Saturday 30 January 2027", "51 days from now"} {
		if !strings.Contains(text, want) || !strings.Contains(html, strings.ReplaceAll(want, "it now ends at ", "")) {
			t.Errorf("text or HTML lacks %q:\n%s\n%s", want, text, html)
		}
	}
	if !d.CutoffChangedAt.Equal(seen.Time) {
		t.Errorf("CutoffChangedAt %s, want %s", d.CutoffChangedAt, seen)
	}

	d = r.Data(v1.NoticeRescheduled, seen.Time, recipients.Recipient{ID: "c2", Locale: "ur-PK"})
	_, text, _, err = r.Render(v1.NoticeRescheduled, d)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ہم نے آپ کو 30 دسمبر، 2026 کو 12:00 AM بتایا تھا", "اب سروس 30 جنوری، 2027 کو"} {
		if !strings.Contains(text, want) {
			t.Errorf("Urdu text lacks %q:\n%s", want, text)
		}
	}

	// A reminder after both changes names the latest date and the one
	// before it.
	r.ForNotice("reminder-20270101t0400z")
	d = r.Data(v1.NoticeReminder, seen.Time, recipients.Recipient{ID: "c1"})
	if !d.PreviousCutoff.Equal(to.Time) || !d.Cutoff.Equal(latest.Time) {
		t.Errorf("reminder: previous %s, cutoff %s", d.PreviousCutoff, d.Cutoff)
	}
}
