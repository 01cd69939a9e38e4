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

package adversary

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// TestAnAuthorCannotSidestepAnApproval: a withdrawal's author, who may
// create and edit withdrawals in one namespace but holds no approve verb,
// tries each way around the approval a drain waits for: approving it
// themself, turning requireApproval off, removing the export the drain
// waits for. An approver tries to approve in another's name. All refused
// by the chart's admission policy; the approver's own approval, naming
// them, is accepted; it may not edit the spec, which would let it approve
// its own edit. (A spec changed after its approval is let through
// here and caught by the operator, which voids the approval:
// controllers.TestAChangedSpecVoidsItsApprovals.)
func TestAnAuthorCannotSidestepAnApproval(t *testing.T) {
	install(t)
	ctx := context.Background()
	const ns, author, approver = "shop-approvals", "author@example.com", "approver@example.com"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	grant(t, ns, author, rbacv1.PolicyRule{APIGroups: []string{v1.GroupVersion.Group}, Resources: []string{"regionwithdrawals"}, Verbs: []string{"get", "list", "create", "update", "patch"}})
	if err := env.Client.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "approver"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "rwo-region-withdrawal-operator-approver"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: approver}}}); err != nil {
		t.Fatal(err)
	}
	offset := func(d time.Duration) v1.Moment { return v1.Moment{Offset: &metav1.Duration{Duration: d}} }
	rw := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pakistan"},
		Spec: v1.RegionWithdrawalSpec{Region: "PK", Cutoff: metav1.NewTime(time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC)), TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"bes.example.com/region": "pk"}},
			Export:   &v1.ExportStep{Start: offset(-72 * time.Hour), Deadline: offset(-48 * time.Hour), RequireApproval: true, JobTemplate: exportTemplate()},
			Drain:    &v1.DrainStep{Start: offset(-time.Hour), RequireApproval: true}}}
	if err := as(t, author).Create(ctx, rw); err != nil {
		t.Fatalf("the author could not create a withdrawal: %v", err)
	}

	update := func(who string, change func(*v1.RegionWithdrawalSpec)) error {
		var got v1.RegionWithdrawal
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rw), &got); err != nil {
			t.Fatal(err)
		}
		// A merge patch of what changed, as kubectl withdrawal sends: an
		// Update would re-encode the whole spec ("1h" as "1h0m0s").
		orig := got.DeepCopy()
		change(&got.Spec)
		return as(t, who).Patch(ctx, &got, client.MergeFrom(orig))
	}
	for _, tc := range []struct {
		what   string
		who    string
		change func(*v1.RegionWithdrawalSpec)
		says   string
	}{
		{what: "the author approves the drain", who: author, says: "needs the approve verb",
			change: func(s *v1.RegionWithdrawalSpec) { planner.Approve(s, author, v1.StepDrain) }},
		{what: "the author turns the drain's requireApproval off", who: author, says: "spec.drain.requireApproval lets a step run without the approval",
			change: func(s *v1.RegionWithdrawalSpec) { s.Drain.RequireApproval = false }},
		{what: "the author turns the export's requireApproval off", who: author, says: "spec.export.requireApproval",
			change: func(s *v1.RegionWithdrawalSpec) { s.Export.RequireApproval = false }},
		{what: "the author removes the export the drain waits for", who: author, says: "spec.export, which the drain waits for",
			change: func(s *v1.RegionWithdrawalSpec) { s.Export = nil }},
		{what: "the author makes the copy a fleet member, which sets the export aside", who: author, says: "spec.fleet.role Member, which sets aside the export the drain waits for",
			change: func(s *v1.RegionWithdrawalSpec) { s.Fleet = &v1.FleetSpec{Role: v1.FleetMember} }},
		{what: "the approver approves in the author's name", who: approver, says: "must name you in by (" + approver + ")",
			change: func(s *v1.RegionWithdrawalSpec) { planner.Approve(s, author, v1.StepDrain) }},
		{what: "the approver approves with a made-up name", who: approver, says: "must name you in by",
			change: func(s *v1.RegionWithdrawalSpec) { planner.Approve(s, "the-board", v1.StepDrain) }},
		// Approving is not editing: an approver may not change the spec and
		// then approve what it changed.
		{what: "the approver widens the selector, to approve the wider withdrawal", who: approver, says: "an approver only approves",
			change: func(s *v1.RegionWithdrawalSpec) { s.Selector.MatchLabels["tier"] = "all" }},
		{what: "the approver widens the selector and approves it in one update", who: approver, says: "changing spec.selector is an edit",
			change: func(s *v1.RegionWithdrawalSpec) {
				s.Selector.MatchLabels["tier"] = "all"
				planner.Approve(s, approver, v1.StepDrain)
			}},
	} {
		err := update(tc.who, tc.change)
		switch {
		case err == nil:
			t.Errorf("%s: allowed", tc.what)
		case !strings.Contains(err.Error(), tc.says):
			t.Errorf("%s: refused without saying %q: %v", tc.what, tc.says, err)
		}
	}

	// The approver's own approval is accepted, and the author may not
	// take it away or rewrite it.
	if err := update(approver, func(s *v1.RegionWithdrawalSpec) { planner.Approve(s, approver, v1.StepDrain) }); err != nil {
		t.Fatalf("the approver could not approve the drain: %v", err)
	}
	if err := update(author, func(s *v1.RegionWithdrawalSpec) { s.Approvals = nil }); err == nil || !strings.Contains(err.Error(), "needs the approve verb") {
		t.Errorf("the author withdrew the approver's approval: %v", err)
	}
	if err := update(author, func(s *v1.RegionWithdrawalSpec) { s.Approvals[0].SpecDigest = planner.SpecDigest(s) + "0" }); err == nil {
		t.Errorf("the author rewrote the approval's digest")
	}
	// What the author may still do: edit the spec (which voids the
	// approval, in the operator) and ask for more approvals.
	if err := update(author, func(s *v1.RegionWithdrawalSpec) {
		s.Selector.MatchLabels["tier"] = "all"
		s.Export.RequireApproval, s.Drain.RequireApproval = true, true
	}); err != nil {
		t.Errorf("the author could not edit the spec: %v", err)
	}
}

// exportTemplate is the least Job template the API server accepts.
func exportTemplate() batchv1.JobTemplateSpec {
	return batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
		Containers: []corev1.Container{{Name: "export", Image: "example.com/export:1"}}}}}}
}

// TestWhoMovedTheCutoffIsStampedByTheAPIServer: an author who moves the
// cutoff is named as its mover by the chart's MutatingAdmissionPolicy
// whatever name the author writes, and nobody writes the stamp without
// moving the cutoff, so status.cutoff.changes and the evidence ledger
// cannot be told someone else moved it.
func TestWhoMovedTheCutoffIsStampedByTheAPIServer(t *testing.T) {
	install(t)
	ctx := context.Background()
	const ns, author = "shop-cutoff", "author@example.com"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	grant(t, ns, author, rbacv1.PolicyRule{APIGroups: []string{v1.GroupVersion.Group}, Resources: []string{"regionwithdrawals"}, Verbs: []string{"get", "list", "create", "update", "patch"}})
	dateA := time.Date(2026, 11, 30, 19, 0, 0, 0, time.UTC)
	rw := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pakistan"},
		Spec: v1.RegionWithdrawalSpec{Region: "PK", Cutoff: metav1.NewTime(dateA), TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"bes.example.com/region": "pk"}},
			Routing:  &v1.RoutingStep{Mode: v1.RoutingBlock451}}}
	if err := as(t, author).Create(ctx, rw); err != nil {
		t.Fatal(err)
	}
	patch := func(change func(*v1.RegionWithdrawal)) (*v1.RegionWithdrawal, error) {
		var got v1.RegionWithdrawal
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rw), &got); err != nil {
			t.Fatal(err)
		}
		orig := got.DeepCopy()
		change(&got)
		err := as(t, author).Patch(ctx, &got, client.MergeFrom(orig))
		return &got, err
	}
	forge := func(rw *v1.RegionWithdrawal, to time.Time) {
		rw.Annotations = map[string]string{v1.AnnotationCutoffChangedBy: "the-minister", v1.AnnotationCutoffChangedTo: to.Format(time.RFC3339) + " Asia/Karachi"}
	}

	// The author moves the cutoff a month on and claims the minister did.
	dateB := dateA.AddDate(0, 1, 0)
	var got *v1.RegionWithdrawal
	poll(t, "the cutoff-changes policy stamps the mover", func() error {
		var err error
		got, err = patch(func(rw *v1.RegionWithdrawal) {
			rw.Spec.Cutoff = metav1.NewTime(dateB)
			forge(rw, dateB)
		})
		if err != nil {
			return err
		}
		if by := got.Annotations[v1.AnnotationCutoffChangedBy]; by != author {
			// Not loaded yet: move it back and try again.
			_, _ = patch(func(rw *v1.RegionWithdrawal) { rw.Spec.Cutoff = metav1.NewTime(dateA); rw.Annotations = nil })
			return fmt.Errorf("the stamp names %q", by)
		}
		return nil
	})
	if to := got.Annotations[v1.AnnotationCutoffChangedTo]; to != "2026-12-30T19:00:00Z Asia/Karachi" {
		t.Errorf("the stamp says the cutoff moved to %q", to)
	}

	// Without moving it, the author cannot rewrite who did.
	if _, err := patch(func(rw *v1.RegionWithdrawal) { forge(rw, dateB) }); err == nil || !strings.Contains(err.Error(), "the API server writes them") {
		t.Errorf("rewriting the stamp without moving the cutoff: %v", err)
	}
	// Dropping it (an apply that does not list it) is not a forgery.
	if _, err := patch(func(rw *v1.RegionWithdrawal) { rw.Annotations = map[string]string{} }); err != nil {
		t.Errorf("dropping the stamp: %v", err)
	}
}
