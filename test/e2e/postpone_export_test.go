//go:build e2e

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

package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/export"
)

// TestExportsMadeAgainWhenTheDeadlineIsExtended: with
// spec.export.onPostpone: Reexport, a deadline extended after the export
// was verified and before the drain sends the export to be made again at
// its new start, by a new Job whose archive goes to a new place; the
// customers keep the first archive listed until then; the drain waits for
// the new round; and the ledger records both exports and the change that
// asked for the second.
func TestExportsMadeAgainWhenTheDeadlineIsExtended(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	const ns = "postpone-export"
	createNamespace(t, c, ns)
	app(t, c, ns, "messaging", regionLabels)
	if err := c.Create(ctx, regionIngress(ns, "pk-edge", regionLabels)); err != nil {
		t.Fatal(err)
	}
	startNamedOperator(t, "operator", "--watch-namespaces="+ns, "--namespace="+ns, "--evidence-key-secret="+evidenceKeySecret)

	// The exporter: each export Pod's archive is named after its Job.
	runCtx, stop := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Go(func() {
		playExporterAt(runCtx, c, ns, func(p *corev1.Pod) string {
			return "file:///exports/" + p.Labels["batch.kubernetes.io/job-name"] + ".tar.gz"
		})
	})
	defer bg.Wait()
	defer stop()

	dateA := time.Now().Add(30 * time.Second).Truncate(time.Second)
	dateB := dateA.Add(40 * time.Second)
	at := func(d time.Duration) v1.Moment { return v1.Moment{Offset: &metav1.Duration{Duration: d}} }
	zero := at(0)
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: ns},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Cutoff: metav1.NewTime(dateA), TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: regionLabels},
			Export: &v1.ExportStep{Start: at(-25 * time.Second), Deadline: at(-15 * time.Second), Per: v1.ExportPerNamespace, MaxAttempts: 3,
				OnPostpone: v1.ExportOnPostponeReexport,
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					SchedulingGates: []corev1.PodSchedulingGate{{Name: exportGate}}, RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "exporter", Image: "ghcr.io/ops-dev/region-withdrawal-operator:v0.1.0", Args: []string{"export", "--source=/data"}}},
				}}}}},
			Drain:   &v1.DrainStep{Start: at(-8 * time.Second), Interval: &metav1.Duration{Duration: time.Second}, Timeout: &metav1.Duration{Duration: 6 * time.Second}},
			Routing: &v1.RoutingStep{At: &zero, Mode: v1.RoutingRemove},
		},
	}
	if err := c.Create(ctx, rw); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(rw)
	waitFor := func(what string, within time.Duration, cond func(*v1.RegionWithdrawal) bool) *v1.RegionWithdrawal {
		t.Helper()
		return awaitWithdrawal(t, c, key, what, within, cond)
	}

	first := waitFor("the export for A", time.Until(dateA), func(rw *v1.RegionWithdrawal) bool {
		return stepOf(rw, v1.StepExport).State == v1.StepSucceeded
	})
	firstArts := stepOf(first, v1.StepExport).Export.Artifacts
	if len(firstArts) != 1 {
		t.Fatalf("the first export's artifacts: %+v", firstArts)
	}

	var cur v1.RegionWithdrawal
	if err := c.Get(ctx, key, &cur); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(cur.DeepCopy())
	cur.Spec.Cutoff = metav1.NewTime(dateB)
	if err := c.Patch(ctx, &cur, patch); err != nil {
		t.Fatal(err)
	}
	if !time.Now().Before(dateA.Add(-8 * time.Second)) {
		t.Fatalf("extended %s after A's drain start: the test ran too slowly to say anything", time.Since(dateA.Add(-8*time.Second)))
	}
	moved := waitFor("the export sent to be made again", 20*time.Second, func(rw *v1.RegionWithdrawal) bool {
		return rw.Status.Cutoff != nil && rw.Status.Cutoff.ExportRound == 1
	})
	if s := stepOf(moved, v1.StepExport); s.State == v1.StepSucceeded && s.FinishedAt.Equal(stepOf(first, v1.StepExport).FinishedAt) {
		t.Fatalf("the export step is still the first round's: %+v", s)
	}
	if s := stepOf(moved, v1.StepExport); s.Export == nil || len(s.Export.Artifacts) != 1 || s.Export.Artifacts[0].Location != firstArts[0].Location {
		t.Errorf("between the rounds customers lost their archive: artifacts %+v, were %+v", s.Export, firstArts)
	}
	change := moved.Status.Cutoff.Changes[len(moved.Status.Cutoff.Changes)-1]
	if change.ExportRound != 1 || !strings.Contains(strings.Join(change.Effects, "; "), "are made again from "+dateB.Add(-25*time.Second).UTC().Format(time.RFC3339)) {
		t.Errorf("the change %+v", change)
	}

	done := waitFor("the withdrawal for B", time.Until(dateB.Add(30*time.Second)), func(rw *v1.RegionWithdrawal) bool {
		return rw.Status.Phase == v1.PhaseCompleted
	})
	exp, drain := stepOf(done, v1.StepExport), stepOf(done, v1.StepDrain)
	if exp.StartedAt == nil || exp.StartedAt.Time.Before(dateB.Add(-25*time.Second)) {
		t.Errorf("the second export started at %v, before its new start %s", exp.StartedAt, dateB.Add(-25*time.Second))
	}
	arts := exp.Export.Artifacts
	if len(arts) != 1 || arts[0].Location == firstArts[0].Location {
		t.Fatalf("after round 1 the artifacts are %+v; want a new archive, not %s", arts, firstArts[0].Location)
	}
	if drain.StartedAt == nil || drain.StartedAt.Before(exp.FinishedAt) {
		t.Errorf("the drain started at %v, before the second export was verified at %v", drain.StartedAt, exp.FinishedAt)
	}
	var jobs batchv1.JobList
	if err := c.List(ctx, &jobs, client.InNamespace(ns), client.MatchingLabels{executor.LabelWithdrawalUID: string(done.UID)}); err != nil {
		t.Fatal(err)
	}
	rounds := map[string]int{}
	for _, j := range jobs.Items {
		rounds[j.Labels[export.LabelRound]]++
	}
	if rounds[""] != 1 || rounds["1"] != 1 {
		t.Errorf("export Jobs by round %v, want one of each: the first round's Job is kept", rounds)
	}

	r, _ := verifyLedger(t, c, done)
	var story []string
	for _, e := range r.Entries {
		switch ev := e.Event.(type) {
		case *evidence.ExportVerified:
			story = append(story, fmt.Sprintf("export round %d at %s", ev.Round, ev.Location))
		case *evidence.CutoffChanged:
			story = append(story, fmt.Sprintf("moved, export round %d", ev.ExportRound))
		}
	}
	want := []string{"export round 0 at " + firstArts[0].Location, "moved, export round 1", "export round 1 at " + arts[0].Location}
	if strings.Join(story, "; ") != strings.Join(want, "; ") {
		t.Errorf("the ledger tells %q, want %q", story, want)
	}
}
