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

// Package dryrun is the executor of a rehearsal: for every action it works
// out what the real step would touch — the workloads, Services, Ingresses and
// HTTPRoutes the selectors match, the number of recipients — and reports it,
// touching nothing.
package dryrun

import (
	"context"
	"fmt"
	"sort"
	"strings"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/drain"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/export"
	"github.com/ops-dev/region-withdrawal-operator/internal/locale"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/render"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients/sources"
	"github.com/ops-dev/region-withdrawal-operator/internal/routing"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
)

// Executor rehearses every step. It only reads.
type Executor struct {
	Targets    *targets.Resolver
	Recipients *sources.Objects
}

var _ executor.Executor = (*Executor)(nil)

// ReadOnly reports that a rehearsal changes nothing.
func (e *Executor) ReadOnly() bool { return true }

// Execute reports what a would do. It finishes in one call.
func (e *Executor) Execute(ctx context.Context, rw *v1.RegionWithdrawal, a planner.Action) (executor.Result, error) {
	switch {
	case a.Kind == planner.ActionNotice:
		return e.notice(ctx, rw, a)
	case a.Kind == planner.ActionRevert:
		return executor.Result{Done: true, Message: "dry run: would revert " + string(a.Step), Plan: &v1.StepPlan{Summary: "would revert " + string(a.Step)}}, nil
	}
	preview, ok := previews[a.Step]
	if !ok {
		return executor.Result{}, fmt.Errorf("dry run: unexpected action %s", a.ID)
	}
	set, err := e.Targets.Resolve(ctx, rw)
	if err != nil {
		return executor.Result{}, err
	}
	p := preview(rw, set)
	n := int64(len(p.Objects))
	return executor.Result{Done: true, Plan: p.Plan(), Message: "dry run: would " + p.Plan().Summary, Progress: &v1.Progress{Done: n, Total: n}}, nil
}

// previews are the steps' own Preview functions: a rehearsal shows what
// the real run would touch because it asks the same code.
var previews = map[v1.StepName]func(*v1.RegionWithdrawal, *targets.Set) executor.Preview{
	v1.StepExport:  export.Preview,
	v1.StepDrain:   drain.Preview,
	v1.StepRouting: routing.Preview,
}

// sampleSize is how many recipients a rehearsal renders every template for.
const sampleSize = 3

func (e *Executor) notice(ctx context.Context, rw *v1.RegionWithdrawal, a planner.Action) (executor.Result, error) {
	// Parse every template first: one that does not parse stalls the
	// withdrawal in a rehearsal just as it would before a real send.
	renderer, err := render.New(rw)
	if err != nil {
		return executor.Result{}, &planner.SpecError{Field: "spec.notify.templates", Err: err}
	}
	renderer.ForNotice(a.NoticeID())
	// The first few recipients, and the first of each language whose
	// templates the list reaches (at most one per spec.notify.locales entry
	// and the default), so every language renders once.
	var sample []recipients.Recipient
	bySet := map[string]int64{}
	var unreadable int64
	var firstUnreadable string
	sum, err := e.Recipients.Each(ctx, rw, func(r recipients.Recipient) error {
		if r.Locale != "" && len(locale.Chain(r.Locale)) == 0 {
			if unreadable == 0 {
				firstUnreadable = fmt.Sprintf("%s: %q", r.ID, r.Locale)
			}
			unreadable++
		}
		set := renderer.Choose(a.Notice, r.Locale)
		if _, seen := bySet[set]; !seen || len(sample) < sampleSize {
			sample = append(sample, r)
		}
		bySet[set]++
		return nil
	})
	if err != nil {
		return executor.Result{}, err
	}
	// Render every kind of notice for the sample, so a template that
	// parses but fails on real data (a missing field) shows now.
	var samples []string
	shown := map[string]bool{}
	for _, r := range sample {
		for _, kind := range []v1.NoticeKind{v1.NoticeAnnouncement, v1.NoticeReminder, v1.NoticeFinal, v1.NoticeCancellation, v1.NoticeRescheduled} {
			d := renderer.Data(kind, a.DueAt, r)
			subject, text, html, err := renderer.Render(kind, d)
			if err != nil {
				return executor.Result{}, &planner.SpecError{Field: "spec.notify.templates", Err: fmt.Errorf("recipient %q: %w", r.ID, err)}
			}
			if set := renderer.Choose(kind, r.Locale); kind == a.Notice && !shown[set] {
				shown[set] = true
				samples = append(samples, fmt.Sprintf("sample for %s in %s: subject %q, %d bytes of text, %d of HTML", r.ID, d.Lang, subject, len(text), len(html)))
			}
		}
	}
	rendered := strings.Join(samples, "; ")
	p := notify.Preview(rw, sum)
	summary := fmt.Sprintf("would send the %s to %d recipients by %s", strings.ToLower(string(a.Notice)), sum.Recipients, strings.Join(notify.Channels(rw), " and "))
	if p.Note != "" {
		summary += "; " + p.Note
	}
	if rendered != "" {
		summary += "; " + rendered
	}
	if len(rw.Spec.Notify.Locales) > 0 {
		summary += "; by language: " + languages(bySet)
	}
	if unreadable > 0 {
		summary += fmt.Sprintf("; %d recipients have a locale that is not a language tag and get the default templates (first %s)", unreadable, firstUnreadable)
	}
	return executor.Result{
		Done:    true,
		Detail:  executor.Detail{Notice: &executor.NoticeCounts{Recipients: sum.Recipients}},
		Plan:    &v1.StepPlan{Recipients: sum.Recipients, Summary: summary},
		Message: "dry run: " + summary,
	}, nil
}

// languages says how many recipients each template set reaches: "ur 1,203,
// default 3,002", largest first.
func languages(bySet map[string]int64) string {
	sets := make([]string, 0, len(bySet))
	for set := range bySet {
		sets = append(sets, set)
	}
	sort.Slice(sets, func(i, j int) bool {
		if bySet[sets[i]] != bySet[sets[j]] {
			return bySet[sets[i]] > bySet[sets[j]]
		}
		return sets[i] < sets[j]
	})
	parts := make([]string, len(sets))
	for i, set := range sets {
		name := set
		if name == "" {
			name = "default"
		}
		parts[i] = fmt.Sprintf("%s %d", name, bySet[set])
	}
	return strings.Join(parts, ", ")
}
