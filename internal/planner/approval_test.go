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

package planner

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// TestSpecDigestCoversWhatTheStepsActOn: every change to what a step
// acts on changes the digest (and so voids an approval); steering the
// withdrawal does not.
func TestSpecDigestCoversWhatTheStepsActOn(t *testing.T) {
	base := pakistanSpec()
	digest := SpecDigest(base)
	if !strings.HasPrefix(digest, "sha256:") || len(digest) != len("sha256:")+64 {
		t.Fatalf("digest %q, want sha256:<64 hex>", digest)
	}
	for _, tc := range []struct {
		name   string
		change func(*v1.RegionWithdrawalSpec)
		voids  bool
	}{
		{"the selector", func(s *v1.RegionWithdrawalSpec) { s.Selector.MatchLabels["tier"] = "all" }, true},
		{"the namespace selector", func(s *v1.RegionWithdrawalSpec) {
			s.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "x"}}
		}, true},
		{"the cutoff", func(s *v1.RegionWithdrawalSpec) { s.Cutoff = metav1.NewTime(s.Cutoff.Add(24 * time.Hour)) }, true},
		{"the time zone", func(s *v1.RegionWithdrawalSpec) { s.TimeZone = "UTC" }, true},
		{"the drain's timing", func(s *v1.RegionWithdrawalSpec) {
			s.Drain.Start = v1.Moment{Offset: &metav1.Duration{Duration: -2 * time.Hour}}
		}, true},
		{"where recipients come from", func(s *v1.RegionWithdrawalSpec) {
			s.Notify.Recipients.ConfigMaps = append(s.Notify.Recipients.ConfigMaps, v1.RecipientObjectRef{Name: "more"})
		}, true},
		{"the ServiceAccount", func(s *v1.RegionWithdrawalSpec) { s.ServiceAccountName = "stronger" }, true},
		{"approvals", func(s *v1.RegionWithdrawalSpec) { Approve(s, "alice", v1.StepDrain) }, false},
		{"suspend", func(s *v1.RegionWithdrawalSpec) { s.Suspend = true }, false},
		{"dryRun", func(s *v1.RegionWithdrawalSpec) { s.DryRun = !s.DryRun }, false},
		{"cancel", func(s *v1.RegionWithdrawalSpec) {
			s.Cancel, s.CancelReason, s.AllowCancelAfterCutoff = true, "lifted", true
		}, false},
		{"asking for an approval", func(s *v1.RegionWithdrawalSpec) { s.Drain.RequireApproval = !s.Drain.RequireApproval }, false},
	} {
		s := base.DeepCopy()
		tc.change(s)
		if got := SpecDigest(s) != digest; got != tc.voids {
			t.Errorf("changing %s changes the digest: %v, want %v", tc.name, got, tc.voids)
		}
	}
}

func TestAnApprovalHoldsForItsDigestOnly(t *testing.T) {
	spec := pakistanSpec()
	spec.Drain.RequireApproval = true
	tl, err := Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	if ok, why := tl.Approval(spec, v1.StepDrain); ok || !strings.Contains(why, `add "drain" to spec.approvals for spec digest `+tl.SpecDigest) {
		t.Fatalf("unapproved: %v %q", ok, why)
	}
	Approve(spec, "alice", v1.StepDrain)
	if ok, _ := tl.Approval(spec, v1.StepDrain); !ok {
		t.Fatal("the approval of this spec does not hold")
	}
	spec.Approvals[0].SpecDigest = "sha256:" + strings.Repeat("0", 64)
	if ok, why := tl.Approval(spec, v1.StepDrain); ok || !strings.Contains(why, "approved by alice") {
		t.Fatalf("an approval of another spec: %v %q", ok, why)
	}
	if ok, _ := tl.Approval(spec, v1.StepRouting); !ok {
		t.Fatal("a step that asks no approval waits")
	}
	tl.RequireApproval(v1.StepRouting)
	if ok, _ := tl.Approval(spec, v1.StepRouting); ok {
		t.Fatal("the installation's rule did not hold the routing")
	}
}
