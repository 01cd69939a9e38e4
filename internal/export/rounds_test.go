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

package export

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// startRound does what the planner does when a postponed cutoff sends the
// verified exports to be made again: a new round, the step Pending, its
// artifacts kept.
func (f *fixture) startRound(round int32) {
	f.rw.Status.Cutoff = &v1.CutoffHistory{ExportRound: round}
	s := planner.StepStatus(&f.rw.Status, v1.StepExport)
	s.Export = &v1.ExportStatus{Artifacts: s.Export.Artifacts}
	s.State = v1.StepPending
}

func envOf(job *batchv1.Job, name string) string {
	for _, e := range job.Spec.Template.Spec.Containers[0].Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// TestAPostponementMakesTheExportsAgain: a verified export is made again
// in a new round, by a new Job under a new export ID, so the first archive
// is never overwritten; customers keep the first archive listed until the
// new one is verified. Someone who may patch Jobs in the namespace
// relabels the first round's Job into the new round, to pass the old
// archive off as the new one: the operator does not count it.
func TestAPostponementMakesTheExportsAgain(t *testing.T) {
	f, attacker, _ := forgeryFixture(t, "round-relabeller@example.com",
		rbacv1.PolicyRule{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"get", "list", "patch"}})
	first := f.onlyJob()
	f.finish(first, true, resultJSON("s3://exports/pk/round-0.tar.gz.age", "", 7), time.Minute)
	if res := f.execute(); !res.Done || f.status().Verified != 1 {
		t.Fatalf("round 0: %s", res.Message)
	}
	firstID := envOf(first, EnvExportID)

	f.startRound(1)
	res := f.execute()
	if res.Done || f.status().Verified != 0 || f.status().Running != 1 {
		t.Fatalf("round 1 started: %+v (%s); want one Job running and nothing verified", f.status(), res.Message)
	}
	if arts := f.status().Artifacts; len(arts) != 1 || arts[0].Location != "s3://exports/pk/round-0.tar.gz.age" {
		t.Fatalf("while round 1 runs, the artifacts are %+v; want the first round's kept", arts)
	}
	second := f.jobFor(first.Annotations[AnnotationTarget], 2)
	if second.Labels[LabelRound] != "1" {
		t.Errorf("round 1's Job is labelled round %q", second.Labels[LabelRound])
	}
	if id := envOf(second, EnvExportID); id == firstID || !strings.HasSuffix(id, "-r1") {
		t.Errorf("round 1 exports under %q, round 0 under %q: the first archive would be overwritten", id, firstID)
	}

	// The attack: the first round's Job, relabelled as round 1's.
	relabel, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{LabelRound: "1"}}})
	if err := attacker.Patch(f.ctx, first, client.RawPatch(types.MergePatchType, relabel)); err != nil {
		t.Fatalf("the attacker could not patch the Job (the attack needs it): %v", err)
	}
	f.execute()
	if st := f.status(); st.Verified != 0 {
		t.Fatalf("the first round's Job, relabelled, counts in round 1: %+v", st)
	}

	f.finish(f.jobFor(first.Annotations[AnnotationTarget], 2), true, resultJSON("s3://exports/pk/round-1.tar.gz.age", "", 9), time.Minute)
	res = f.execute()
	st := f.status()
	if !res.Done || st.Verified != 1 || len(st.Artifacts) != 1 || st.Artifacts[0].Location != "s3://exports/pk/round-1.tar.gz.age" {
		t.Fatalf("round 1 verified: %+v (%s)", st, res.Message)
	}
}
