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
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
)

// Executor rehearses every step. It only reads.
type Executor struct {
	Targets    *targets.Resolver
	Recipients *recipients.Objects
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
	set, err := e.Targets.Resolve(ctx, rw)
	if err != nil {
		return executor.Result{}, err
	}
	var objs []v1.ObjectReference
	var summary string
	switch a.Step {
	case v1.StepExport:
		objs, summary = exportPlan(rw, set)
	case v1.StepDrain:
		objs, summary = drainPlan(rw, set)
	case v1.StepRouting:
		objs, summary = routingPlan(rw, set)
	default:
		return executor.Result{}, fmt.Errorf("dry run: unexpected action %s", a.ID)
	}
	return executor.Result{Done: true, Plan: executor.NewPlan(objs, summary), Message: "dry run: " + summary, Progress: &v1.Progress{Done: int64(len(objs)), Total: int64(len(objs))}}, nil
}

// sampleSize is how many recipients a rehearsal renders every template for.
const sampleSize = 3

func (e *Executor) notice(ctx context.Context, rw *v1.RegionWithdrawal, a planner.Action) (executor.Result, error) {
	// Parse every template first: one that does not parse stalls the
	// withdrawal in a rehearsal just as it would before a real send.
	renderer, err := notify.NewRenderer(rw)
	if err != nil {
		return executor.Result{}, &planner.SpecError{Field: "spec.notify.templates", Err: err}
	}
	var sample []recipients.Recipient
	sum, err := e.Recipients.Each(ctx, rw, func(r recipients.Recipient) error {
		if len(sample) < sampleSize {
			sample = append(sample, r)
		}
		return nil
	})
	if err != nil {
		return executor.Result{}, err
	}
	// Render every kind of notice for the sample, so a template that
	// parses but fails on real data (a missing field) shows now.
	var rendered string
	for _, r := range sample {
		for _, kind := range []v1.NoticeKind{v1.NoticeAnnouncement, v1.NoticeReminder, v1.NoticeFinal, v1.NoticeCancellation} {
			subject, text, html, err := renderer.Render(kind, renderer.Data(kind, a.DueAt, r))
			if err != nil {
				return executor.Result{}, &planner.SpecError{Field: "spec.notify.templates", Err: fmt.Errorf("recipient %q: %w", r.ID, err)}
			}
			if kind == a.Notice && rendered == "" {
				rendered = fmt.Sprintf("sample for %s: subject %q, %d bytes of text, %d of HTML", r.ID, subject, len(text), len(html))
			}
		}
	}
	var channels []string
	if rw.Spec.Notify.Webhook != nil {
		channels = append(channels, "webhook")
	}
	if rw.Spec.Notify.Email != nil {
		channels = append(channels, "email")
	}
	summary := fmt.Sprintf("would send the %s to %d recipients by %s", strings.ToLower(string(a.Notice)), sum.Recipients, strings.Join(channels, " and "))
	if sum.ProblemCount > 0 {
		summary += fmt.Sprintf("; %d records skipped (first: %s)", sum.ProblemCount, sum.Problems[0])
	}
	if sum.DuplicateCount > 0 {
		summary += fmt.Sprintf("; %d duplicate ids (first: %s)", sum.DuplicateCount, sum.Duplicates[0])
	}
	if len(sum.Unread) > 0 {
		summary += "; counted at send time: " + strings.Join(sum.Unread, ", ")
	}
	if rendered != "" {
		summary += "; " + rendered
	}
	return executor.Result{
		Done:    true,
		Detail:  executor.Detail{Notice: &executor.NoticeCounts{Recipients: sum.Recipients}},
		Plan:    &v1.StepPlan{Recipients: sum.Recipients, Summary: summary},
		Message: "dry run: " + summary,
	}, nil
}

func exportPlan(rw *v1.RegionWithdrawal, set *targets.Set) ([]v1.ObjectReference, string) {
	ex := rw.Spec.Export
	var objs []v1.ObjectReference
	switch ex.Per {
	case v1.ExportPerWorkload:
		objs = set.Workloads()
	case v1.ExportOnce:
		objs = []v1.ObjectReference{{Kind: targets.KindNamespace, Name: rw.Namespace}}
	default:
		for _, ns := range set.Namespaces {
			objs = append(objs, v1.ObjectReference{Kind: targets.KindNamespace, Name: ns})
		}
	}
	per := strings.ToLower(string(ex.Per))
	if per == "" {
		per = "namespace"
	}
	return objs, fmt.Sprintf("would run %d export Jobs (one per %s, %d at a time, up to %d attempts each) and verify each result",
		len(objs), per, max(ex.Parallelism, 1), max(ex.MaxAttempts, 1))
}

func drainPlan(rw *v1.RegionWithdrawal, set *targets.Set) ([]v1.ObjectReference, string) {
	objs := append(set.Workloads(), set.Services...)
	total := len(set.Workloads())
	batch := batchSize(rw.Spec.Drain.MaxUnavailable, total)
	interval := "1m0s"
	if rw.Spec.Drain.Interval != nil {
		interval = rw.Spec.Drain.Interval.Duration.String()
	}
	return objs, fmt.Sprintf("would scale %d Deployments and %d StatefulSets to zero, %d at a time, %s apart, and wait for %d Services to have no ready endpoint",
		len(set.Deployments), len(set.StatefulSets), batch, interval, len(set.Services))
}

func routingPlan(rw *v1.RegionWithdrawal, set *targets.Set) ([]v1.ObjectReference, string) {
	objs := set.Routes()
	how := "point at the HTTP 451 notice backend"
	if rw.Spec.Routing.Mode == v1.RoutingRemove {
		how = "have their rules removed"
	}
	s := fmt.Sprintf("%d Ingresses and %d HTTPRoutes would %s, after a snapshot of each", len(set.Ingresses), len(set.HTTPRoutes), how)
	if set.HTTPRoutesUnavailable {
		s += "; the HTTPRoute API (Gateway API) is not installed, so only Ingresses are handled"
	}
	return objs, s
}

// batchSize resolves maxUnavailable (a count or a percentage, rounded up,
// at least one) against the number of workloads.
func batchSize(maxUnavailable *intstr.IntOrString, total int) int {
	v := intstr.FromString("25%")
	if maxUnavailable != nil {
		v = *maxUnavailable
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(&v, total, true)
	if err != nil || n < 1 {
		return 1
	}
	return n
}
