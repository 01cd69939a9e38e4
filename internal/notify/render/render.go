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

// Package render turns a withdrawal's notice templates into each customer's
// notice, in their language, and its handoff page templates into the landing
// pages of their download links. Templates are the withdrawal author's
// input, rendered by the process that serves every tenant, so what one may
// cost is bounded (limits.go): a template that could run away is refused
// when the withdrawal is applied, and rendering is capped in time and size.
package render

import (
	"errors"
	"fmt"
	"html"
	htmltemplate "html/template"
	"math"
	"strings"
	texttemplate "text/template"
	"text/template/parse"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff/landing"
	"github.com/ops-dev/region-withdrawal-operator/internal/locale"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
)

// ErrTemplate is wrapped by every error from parsing or rendering a notice
// template. It is the user's to fix: the controller reports it as Stalled
// and sends nothing until the spec changes.
var ErrTemplate = errors.New("notice template")

// Data is what a notice template sees.
type Data struct {
	// Region is the ISO code of the region, e.g. "PK".
	Region string
	// Withdrawal is the RegionWithdrawal's name.
	Withdrawal string
	// Notice is the kind of notice.
	Notice v1.NoticeKind
	// Cutoff is the cutoff in the recipient's time zone, or the region's
	// when the recipient names none (or one this host does not know).
	Cutoff time.Time
	// CutoffUTC is the cutoff in UTC.
	CutoffUTC time.Time
	// CutoffDate and CutoffTime are Cutoff's date and time of day written
	// the way Lang writes them: "30 دسمبر، 2026" and "12:00 AM" for ur-PK,
	// "December 30, 2026" and "12:00 am" for en.
	CutoffDate, CutoffTime string
	// Lang is the language the notice is written in: the recipient's
	// locale when the chosen templates are in it or its parent ("ur-PK"
	// for ur templates), else the templates' own ("en" for
	// spec.notify.templates and the built-in text).
	Lang string
	// Dir is "rtl" when Lang is written right to left, else "ltr".
	Dir string
	// DaysLeft is the whole days from the notice's due time to the cutoff,
	// rounded up. It counts from the due time, not the sending time, so
	// every attempt renders the same text.
	DaysLeft int
	// TimeLeft is the same span in words that read well at any size: "30
	// days", "1 day", "5 hours", "40 minutes"; "no time" at or after the
	// cutoff. It is English; other languages build their own from the two
	// fields below.
	TimeLeft string
	// DaysLeftNumber is DaysLeft in Lang's digits ("30", "٣٠"), and
	// DaysLeftPlural its CLDR plural category in Lang ("one", "other",
	// ...), for templates that pick the word for "day".
	DaysLeftNumber, DaysLeftPlural string
	// Export is the recipient's own verified export: the one whose
	// exporter named this recipient. Its fields are empty until the export
	// step has verified it.
	Export Export
	// ExportLocation is Export.Location, kept for templates written before
	// .Export.
	ExportLocation string
	// PreviousCutoff is the cutoff before the latest change, in the same
	// zone as Cutoff; for a Rescheduled notice, the one before the change
	// it tells of. Zero when the cutoff never moved. PreviousCutoffUTC is
	// the same in UTC, and PreviousCutoffDate and PreviousCutoffTime are
	// written the way Lang writes them.
	PreviousCutoff, PreviousCutoffUTC      time.Time
	PreviousCutoffDate, PreviousCutoffTime string
	// CutoffChangedAt is when the operator saw that change, in Cutoff's
	// zone; zero when the cutoff never moved.
	CutoffChangedAt time.Time
	// CancelReason is spec.cancelReason, for the cancellation notice.
	CancelReason string
	// Recipient is the customer; .Recipient.Fields holds the free columns.
	Recipient recipients.Recipient

	// set is the locale whose templates render this notice; "" is the
	// default set.
	set string
	// loc writes dates the way Lang does.
	loc locale.Locale
}

// WithLink gives the notice the customer's handoff link, expiring at
// expires.
func (d *Data) WithLink(link string, expires time.Time) {
	d.Export.Link = link
	d.Export.Expires = expires.In(d.Cutoff.Location())
	d.Export.ExpiresDate = d.loc.Date(d.Export.Expires)
}

// Export is what a template sees of a recipient's verified export.
type Export struct {
	// Location is where it is stored: a path, or a URL without its query
	// string (so without any signature in it).
	Location string
	// Bytes is its stored size, and Size the same for people: "1.2 GiB".
	Bytes int64
	Size  string
	// SHA256 is the hex SHA-256 of the stored object, for the customer to
	// check what they fetched.
	SHA256 string
	// Encrypted is true when it is encrypted with age.
	Encrypted bool
	// Link is the customer's own download link, when the withdrawal asks
	// for handoff links (spec.export.handoff): it leads to the archive and
	// records that the customer fetched it. Expires is when it stops
	// working, in the recipient's time zone, and ExpiresDate the same date
	// written the way Lang writes dates.
	Link        string
	Expires     time.Time
	ExpiresDate string
}

// ExportOf is what a template sees of the verified export a.
func ExportOf(a v1.ExportArtifact) Export {
	return Export{Location: a.Location, Bytes: a.Bytes, Size: size(a.Bytes), SHA256: a.SHA256, Encrypted: a.Encrypted}
}

// size writes n bytes in binary units with one decimal from KiB up.
func size(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n)/1024, 0
	for v >= 1024 && unit < 4 {
		v, unit = v/1024, unit+1
	}
	return fmt.Sprintf("%.1f %s", v, []string{"KiB", "MiB", "GiB", "TiB", "PiB"}[unit])
}

// The built-in texts. They use only fields every recipient has.
var defaultTemplates = map[v1.NoticeKind]v1.NoticeTemplate{
	v1.NoticeAnnouncement: {
		Subject: `Service in {{.Region}} ends on {{.Cutoff.Format "2 January 2006"}}`,
		Text: `Dear {{with .Recipient.Name}}{{.}}{{else}}customer{{end}},

We will stop providing the service in {{.Region}} at {{.Cutoff.Format "15:04 MST on Monday 2 January 2006"}} ({{.CutoffUTC.Format "2006-01-02 15:04 UTC"}}), {{.TimeLeft}} from now.
{{if .Export.Location}}
Your data is ready for export at {{or .Export.Link .Export.Location}} ({{.Export.Size}}; SHA-256 {{.Export.SHA256}}){{if .Export.Link}}; the link works until {{.Export.Expires.Format "2 January 2006"}}{{end}}.
{{else}}
We will tell you where to collect an export of your data before then.
{{end}}`,
		HTML: `<p>Dear {{with .Recipient.Name}}{{.}}{{else}}customer{{end}},</p>
<p>We will stop providing the service in {{.Region}} at <strong>{{.Cutoff.Format "15:04 MST on Monday 2 January 2006"}}</strong> ({{.CutoffUTC.Format "2006-01-02 15:04 UTC"}}), {{.TimeLeft}} from now.</p>
{{if .Export.Location}}<p>Your data is ready for export at <a href="{{or .Export.Link .Export.Location}}">{{or .Export.Link .Export.Location}}</a> ({{.Export.Size}}; SHA-256 <code>{{.Export.SHA256}}</code>){{if .Export.Link}}; the link works until {{.Export.Expires.Format "2 January 2006"}}{{end}}.</p>{{end}}`,
	},
	v1.NoticeReminder: {
		Subject: `Reminder: service in {{.Region}} ends in {{.TimeLeft}}`,
		Text: `Dear {{with .Recipient.Name}}{{.}}{{else}}customer{{end}},

A reminder: the service in {{.Region}} ends at {{.Cutoff.Format "15:04 MST on Monday 2 January 2006"}} ({{.CutoffUTC.Format "2006-01-02 15:04 UTC"}}), in {{.TimeLeft}}.
{{if .Export.Location}}
Your data export: {{or .Export.Link .Export.Location}} ({{.Export.Size}}; SHA-256 {{.Export.SHA256}}){{if .Export.Link}}; the link works until {{.Export.Expires.Format "2 January 2006"}}{{end}}
{{end}}`,
	},
	v1.NoticeFinal: {
		Subject: `Final notice: service in {{.Region}} ends {{.Cutoff.Format "2 January 15:04 MST"}}`,
		Text: `Dear {{with .Recipient.Name}}{{.}}{{else}}customer{{end}},

This is the final notice: the service in {{.Region}} ends at {{.Cutoff.Format "15:04 MST on Monday 2 January 2006"}} ({{.CutoffUTC.Format "2006-01-02 15:04 UTC"}}).
{{if .Export.Location}}
Your data export: {{or .Export.Link .Export.Location}} ({{.Export.Size}}; SHA-256 {{.Export.SHA256}}){{if .Export.Link}}; the link works until {{.Export.Expires.Format "2 January 2006"}}{{end}}
{{end}}`,
	},
	v1.NoticeRescheduled: {
		Subject: `Service in {{.Region}} now ends on {{.Cutoff.Format "2 January 2006"}}`,
		Text: `Dear {{with .Recipient.Name}}{{.}}{{else}}customer{{end}},

The date the service in {{.Region}} ends has changed. We told you it would end at {{.PreviousCutoff.Format "15:04 MST on Monday 2 January 2006"}}; it now ends at {{.Cutoff.Format "15:04 MST on Monday 2 January 2006"}} ({{.CutoffUTC.Format "2006-01-02 15:04 UTC"}}), {{.TimeLeft}} from now.
{{if .Export.Location}}
Your data export: {{or .Export.Link .Export.Location}} ({{.Export.Size}}; SHA-256 {{.Export.SHA256}}){{if .Export.Link}}; the link works until {{.Export.Expires.Format "2 January 2006"}}{{end}}
{{end}}`,
		HTML: `<p>Dear {{with .Recipient.Name}}{{.}}{{else}}customer{{end}},</p>
<p>The date the service in {{.Region}} ends has changed. We told you it would end at {{.PreviousCutoff.Format "15:04 MST on Monday 2 January 2006"}}; it now ends at <strong>{{.Cutoff.Format "15:04 MST on Monday 2 January 2006"}}</strong> ({{.CutoffUTC.Format "2006-01-02 15:04 UTC"}}), {{.TimeLeft}} from now.</p>
{{if .Export.Location}}<p>Your data export: <a href="{{or .Export.Link .Export.Location}}">{{or .Export.Link .Export.Location}}</a> ({{.Export.Size}}; SHA-256 <code>{{.Export.SHA256}}</code>){{if .Export.Link}}; the link works until {{.Export.Expires.Format "2 January 2006"}}{{end}}.</p>{{end}}`,
	},
	v1.NoticeAfterCutoff: {
		Subject: `Service in {{.Region}} ended on {{.Cutoff.Format "2 January 2006"}}`,
		Text: `Dear {{with .Recipient.Name}}{{.}}{{else}}customer{{end}},

We stopped providing the service in {{.Region}} at {{.Cutoff.Format "15:04 MST on Monday 2 January 2006"}} ({{.CutoffUTC.Format "2006-01-02 15:04 UTC"}}). We are sorry that this notice reaches you only now.
{{if .Export.Location}}
Your data is ready for export at {{or .Export.Link .Export.Location}} ({{.Export.Size}}; SHA-256 {{.Export.SHA256}}){{if .Export.Link}}; the link works until {{.Export.Expires.Format "2 January 2006"}}{{end}}.
{{else}}
Your data has not been deleted. Reply to this notice to receive an export of it.
{{end}}`,
	},
	v1.NoticeCancellation: {
		Subject: `Service in {{.Region}} continues`,
		Text: `Dear {{with .Recipient.Name}}{{.}}{{else}}customer{{end}},

The withdrawal of the service from {{.Region}} we told you about has been called off; the service continues.
{{with .CancelReason}}
{{.}}
{{end}}`,
	},
}

// notice holds the compiled templates of one notice kind.
type notice struct {
	subject, text *texttemplate.Template
	html          *htmltemplate.Template
}

// Renderer renders every notice kind of one withdrawal.
type Renderer struct {
	// Clock times each render against Deadline; nil is the real
	// clock.
	Clock  clock.PassiveClock
	rw     *v1.RegionWithdrawal
	region *time.Location
	zones  map[string]*time.Location
	// sets holds the compiled templates by locale; "" is the default set
	// (spec.notify.templates over the built-in text), complete for every
	// kind. A locale's set holds only the kinds it gives.
	sets map[string]map[v1.NoticeKind]*notice
	// pages holds the compiled handoff pages by locale, as sets does; ""
	// is always there.
	pages map[string]*page
	// langs caches what each recipient locale string resolves to.
	langs map[string]resolved
	// change is the change of the cutoff the notice being rendered tells
	// of (ForNotice); nil when the cutoff never moved.
	change *v1.CutoffChange
}

// ForNotice sets what the renderer tells of the cutoff's history for the
// notice noticeID: a Rescheduled notice tells of its own change (and shows
// the cutoff that change set, even if a later one has followed); every
// other notice of the latest.
func (r *Renderer) ForNotice(noticeID string) {
	r.change = planner.Change(&r.rw.Status, noticeID)
	if r.change != nil && !planner.IsRescheduledID(noticeID) {
		latest := *r.change
		latest.To = metav1.NewTime(r.rw.Spec.Cutoff.Time)
		r.change = &latest
	}
}

// resolved is what one recipient locale string comes to: its fallback
// chain (empty when it does not parse) and its formats.
type resolved struct {
	chain []string
	loc   locale.Locale
}

// maxCachedLangs bounds Renderer.langs: locale strings come from
// customers, so a list may hold one per recipient.
const maxCachedLangs = 1024

// maxCachedZones bounds Renderer.zones: time-zone strings come from
// customers too. There are about 600 real zones.
const maxCachedZones = 1024

// defaultLang is the language of the default set.
const defaultLang = "en"

// New parses the withdrawal's templates (and the built-in ones for
// kinds it does not override). A template that does not parse gives an
// error wrapping ErrTemplate.
func New(rw *v1.RegionWithdrawal) (*Renderer, error) {
	r, err := compileRenderer(rw)
	if err != nil {
		return nil, err
	}
	// A page is rendered only when the links are published, long after
	// the withdrawal was applied: a field it misspells is found now.
	if _, err := r.HandoffPages(rw.Spec.Cutoff.Time); err != nil {
		return nil, err
	}
	return r, nil
}

// compileRenderer parses rw's templates, rendering none.
func compileRenderer(rw *v1.RegionWithdrawal) (*Renderer, error) {
	loc, err := time.LoadLocation(rw.Spec.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("%w: spec.timeZone %q: %w", ErrTemplate, rw.Spec.TimeZone, err)
	}
	r := &Renderer{rw: rw, region: loc, zones: map[string]*time.Location{},
		sets: map[string]map[v1.NoticeKind]*notice{"": {}}, pages: map[string]*page{}, langs: map[string]resolved{}}
	var custom *v1.NoticeTemplates
	var locales []v1.LocaleTemplates
	if rw.Spec.Notify != nil {
		custom, locales = rw.Spec.Notify.Templates, rw.Spec.Notify.Locales
	}
	for _, kind := range noticeKinds {
		t, field := defaultTemplates[kind], ""
		if c := overrideFor(custom, kind); c != nil {
			t, field = *c, "spec.notify.templates."+strings.ToLower(string(kind))
		}
		n, err := compile(t)
		if err != nil {
			if field == "" {
				field = "built-in " + string(kind)
			}
			return nil, fmt.Errorf("%w: %s: %w", ErrTemplate, field, err)
		}
		r.sets[""][kind] = n
	}
	pageTemplate, pageField := landing.DefaultTemplate, "built-in handoffPage"
	if custom != nil && custom.HandoffPage != nil {
		pageTemplate, pageField = *custom.HandoffPage, "spec.notify.templates.handoffPage"
	}
	if r.pages[""], err = compilePage(pageTemplate, pageField); err != nil {
		return nil, err
	}
	for i, l := range locales {
		field := fmt.Sprintf("spec.notify.locales[%d]", i)
		tag, err := locale.Parse(l.Locale)
		if err != nil {
			return nil, fmt.Errorf("%w: %s.locale: %w", ErrTemplate, field, err)
		}
		if _, dup := r.sets[tag]; dup {
			return nil, fmt.Errorf("%w: %s.locale: %q is %s, which an earlier entry already gives", ErrTemplate, field, l.Locale, tag)
		}
		set := map[v1.NoticeKind]*notice{}
		for _, kind := range noticeKinds {
			c := overrideFor(&l.NoticeTemplates, kind)
			if c == nil {
				continue
			}
			if set[kind], err = compile(*c); err != nil {
				return nil, fmt.Errorf("%w: %s.%s: %w", ErrTemplate, field, strings.ToLower(string(kind)), err)
			}
		}
		r.sets[tag] = set
		if l.HandoffPage != nil {
			if r.pages[tag], err = compilePage(*l.HandoffPage, field+".handoffPage"); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// noticeKinds are the kinds a template set may give.
var noticeKinds = []v1.NoticeKind{v1.NoticeAnnouncement, v1.NoticeReminder, v1.NoticeFinal, v1.NoticeCancellation, v1.NoticeAfterCutoff, v1.NoticeRescheduled}

// Choose says whose templates render a notice of kind for a recipient
// whose locale column reads lang: the first locale on its fallback chain
// that gives the kind, or "" for the default set.
func (r *Renderer) Choose(kind v1.NoticeKind, lang string) string {
	for _, tag := range r.resolve(lang).chain {
		if r.sets[tag][kind] != nil {
			return tag
		}
	}
	return ""
}

func (r *Renderer) resolve(lang string) resolved {
	if res, ok := r.langs[lang]; ok {
		return res
	}
	res := resolved{chain: locale.Chain(lang)}
	if len(res.chain) > 0 {
		res.loc = locale.For(lang)
	}
	if len(r.langs) < maxCachedLangs {
		r.langs[lang] = res
	}
	return res
}

// lang is the language a notice from set is written in for a recipient
// whose locale resolves to res: the recipient's own tag when set is on
// its chain (so ur-PK's dates for ur templates), else the set's.
func (r *Renderer) lang(set string, res resolved) locale.Locale {
	if set == "" {
		set = defaultLang
	}
	for _, tag := range res.chain {
		if tag == set {
			return res.loc
		}
	}
	return r.resolve(set).loc
}

func overrideFor(t *v1.NoticeTemplates, kind v1.NoticeKind) *v1.NoticeTemplate {
	if t == nil {
		return nil
	}
	switch kind {
	case v1.NoticeAnnouncement:
		return t.Announcement
	case v1.NoticeReminder:
		return t.Reminder
	case v1.NoticeFinal:
		return t.Final
	case v1.NoticeCancellation:
		return t.Cancellation
	case v1.NoticeAfterCutoff:
		return t.AfterCutoff
	case v1.NoticeRescheduled:
		return t.Rescheduled
	}
	return nil
}

func compile(t v1.NoticeTemplate) (*notice, error) {
	// missingkey=zero: a free field one recipient lacks renders empty
	// rather than failing that recipient; a misspelt struct field (.Regoin)
	// still fails, on the first render.
	subject, err := texttemplate.New("subject").Option("missingkey=zero").Parse(t.Subject)
	if err != nil {
		return nil, err
	}
	text, err := texttemplate.New("text").Option("missingkey=zero").Parse(t.Text)
	if err != nil {
		return nil, err
	}
	n := &notice{subject: subject, text: text}
	if t.HTML != "" {
		if n.html, err = htmltemplate.New("html").Option("missingkey=zero").Parse(t.HTML); err != nil {
			return nil, err
		}
	}
	for part, trees := range map[string]map[string]*parse.Tree{"subject": treesOf(subject), "text": treesOf(text), "html": htmlTreesOf(n.html)} {
		if err := checkTrees(trees); err != nil {
			return nil, fmt.Errorf("%s: %w", part, err)
		}
	}
	return n, nil
}

func treesOf(t *texttemplate.Template) map[string]*parse.Tree {
	m := map[string]*parse.Tree{}
	for _, d := range t.Templates() {
		m[d.Name()] = d.Tree
	}
	return m
}

func htmlTreesOf(t *htmltemplate.Template) map[string]*parse.Tree {
	m := map[string]*parse.Tree{}
	if t == nil {
		return m
	}
	for _, d := range t.Templates() {
		m[d.Name()] = d.Tree
	}
	return m
}

// Data returns what the templates see for one recipient of a notice due at dueAt.
func (r *Renderer) Data(kind v1.NoticeKind, dueAt time.Time, rcp recipients.Recipient) Data {
	cutoff := r.rw.Spec.Cutoff.Time
	if r.change != nil {
		cutoff = r.change.To.Time
	}
	loc := r.region
	if rcp.TimeZone != "" {
		z, ok := r.zones[rcp.TimeZone]
		if !ok {
			z, _ = time.LoadLocation(rcp.TimeZone) // unknown: the region's zone
			if len(r.zones) < maxCachedZones {
				r.zones[rcp.TimeZone] = z
			}
		}
		if z != nil {
			loc = z
		}
	}
	days := 0
	left := cutoff.Sub(dueAt)
	if left > 0 {
		days = int(math.Ceil(left.Hours() / 24))
	}
	res := r.resolve(rcp.Locale)
	set := r.Choose(kind, rcp.Locale)
	lang := r.lang(set, res)
	local := cutoff.In(loc)
	d := Data{
		Region: r.rw.Spec.Region, Withdrawal: r.rw.Name, Notice: kind,
		Cutoff: local, CutoffUTC: cutoff.UTC(), CutoffDate: lang.Date(local), CutoffTime: lang.Time(local),
		Lang: lang.Lang, Dir: lang.Dir,
		DaysLeft: days, TimeLeft: timeLeft(left), DaysLeftNumber: lang.Number(days), DaysLeftPlural: lang.Plural(days),
		CancelReason: r.rw.Spec.CancelReason, Recipient: rcp, set: set, loc: lang,
	}
	if c := r.change; c != nil {
		prev := c.From.In(loc)
		d.PreviousCutoff, d.PreviousCutoffUTC = prev, c.From.UTC()
		d.PreviousCutoffDate, d.PreviousCutoffTime = lang.Date(prev), lang.Time(prev)
		d.CutoffChangedAt = c.ObservedAt.In(loc)
	}
	return d
}

// timeLeft says d in the largest unit that reads naturally: whole days
// from two days up, hours from two hours, minutes below, each rounded up,
// so a notice never promises less time than there is.
func timeLeft(d time.Duration) string {
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d <= 0:
		return "no time"
	case d >= 48*time.Hour:
		return plural(int(math.Ceil(d.Hours()/24)), "day")
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return "1 day"
	case d >= 2*time.Hour:
		return plural(int(math.Ceil(d.Hours())), "hour")
	default:
		return plural(max(1, int(math.Ceil(d.Minutes()))), "minute")
	}
}

// Render renders the subject, text and HTML (empty when the template has
// none) of a notice, from the templates Data chose. The subject is folded
// onto one line, so a template cannot inject mail headers. The HTML is
// wrapped in an element that carries d.Lang and d.Dir, so a right-to-left
// notice lays out right to left in every mail client whether or not its
// template says so. Errors wrap ErrTemplate.
func (r *Renderer) Render(kind v1.NoticeKind, d Data) (subject, text, htmlBody string, err error) {
	n := r.sets[d.set][kind]
	if n == nil {
		n = r.sets[""][kind]
	}
	if n == nil {
		return "", "", "", fmt.Errorf("%w: no template for notice kind %q", ErrTemplate, kind)
	}
	where := string(kind)
	if d.set != "" {
		where = d.set + " " + where
	}
	b := newLimitedBuffer(MaxSubjectBytes, r.Clock)
	if err := n.subject.Execute(b, d); err != nil {
		return "", "", "", fmt.Errorf("%w: %s subject: %w", ErrTemplate, where, err)
	}
	subject = strings.Join(strings.Fields(b.String()), " ")
	b = newLimitedBuffer(MaxTextBytes, r.Clock)
	if err := n.text.Execute(b, d); err != nil {
		return "", "", "", fmt.Errorf("%w: %s text: %w", ErrTemplate, where, err)
	}
	text = b.String()
	if n.html != nil {
		b = newLimitedBuffer(MaxHTMLBytes, r.Clock)
		if err := n.html.Execute(b, d); err != nil {
			return "", "", "", fmt.Errorf("%w: %s html: %w", ErrTemplate, where, err)
		}
		htmlBody = markLanguage(b.String(), d.Lang, d.Dir)
	}
	if subject == "" {
		return "", "", "", fmt.Errorf("%w: %s subject renders empty", ErrTemplate, where)
	}
	return subject, text, htmlBody, nil
}

// markLanguage wraps an HTML body in an element that says its language
// and direction. A whole document (<!DOCTYPE or <html) is the template's
// to mark, on its root element; wrapping it would make it invalid.
func markLanguage(body, lang, dir string) string {
	head := strings.ToLower(strings.TrimSpace(body[:min(len(body), 64)]))
	if strings.HasPrefix(head, "<!doctype") || strings.HasPrefix(head, "<html") {
		return body
	}
	return `<div lang="` + html.EscapeString(lang) + `" dir="` + html.EscapeString(dir) + `">` + body + `</div>`
}
