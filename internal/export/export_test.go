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

// Job-level tests against a real API server (envtest). envtest runs no Job
// controller and no kubelet, so the tests write what they would: a Pod of
// the Job whose exporter container terminated with the result as its
// termination message, and the Job's Complete or Failed condition, through
// the status subresource.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/export/result"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients/sources"
	"github.com/ops-dev/region-withdrawal-operator/internal/summarize"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

// The Pakistan timeline: cutoff 30 December 2026 00:00 PKT.
var (
	cutoff        = mustTime("2026-12-29T19:00:00Z")
	exportStart   = mustTime("2026-12-22T19:00:00Z")
	exportDefault = mustTime("2026-12-26T19:00:00Z") // deadline "-72h"
)

const validHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

var startAction = planner.Action{ID: "export", Kind: planner.ActionStart, Step: v1.StepExport}

// fixture is one withdrawal with its own namespaces.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	clock  *clocktesting.FakePassiveClock
	exec   *Executor
	rw     *v1.RegionWithdrawal
	label  string
	others []string
}

// newFixture creates a withdrawal in its own namespace and n more
// namespaces it selects (its own is selected too).
func newFixture(t *testing.T, n int, mutate func(*v1.ExportStep)) *fixture {
	t.Helper()
	ctx := context.Background()
	suffix := rand.String(5)
	f := &fixture{t: t, ctx: ctx, clock: clocktesting.NewFakePassiveClock(exportStart), label: "pk-" + suffix}
	home := "rw-" + suffix
	f.namespace(home)
	for i := range n {
		ns := fmt.Sprintf("cust%d-%s", i, suffix)
		f.namespace(ns)
		f.others = append(f.others, ns)
	}
	ex := &v1.ExportStep{
		Start:       v1.Moment{Offset: &metav1.Duration{Duration: -168 * time.Hour}},
		Deadline:    v1.Moment{Offset: &metav1.Duration{Duration: -72 * time.Hour}},
		Per:         v1.ExportPerNamespace,
		Parallelism: 2,
		MaxAttempts: 2,
		JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
			TTLSecondsAfterFinished: ptr.To[int32](60),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{
					{Name: "sidecar", Image: "busybox"},
					{Name: "exporter", Image: "operator", Args: []string{"export", "--source=/data", "--destination=https://objects.example/$(WITHDRAWAL_EXPORT_ID)"},
						Env: []corev1.EnvVar{{Name: "WITHDRAWAL_REGION", Value: "spoofed"}, {Name: "EXTRA", Value: "kept"}}},
				},
			}},
		}},
	}
	if mutate != nil {
		mutate(ex)
	}
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: home},
		Spec: v1.RegionWithdrawalSpec{
			Region:            "PK",
			Cutoff:            metav1.Time{Time: cutoff},
			TimeZone:          "Asia/Karachi",
			Selector:          metav1.LabelSelector{MatchLabels: map[string]string{"region": "pk"}},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"withdrawal-test": f.label}},
			Export:            ex,
		},
	}
	if err := env.Client.Create(ctx, rw); err != nil {
		t.Fatalf("creating the withdrawal: %v", err)
	}
	f.rw = rw
	f.exec = New(env.Client, env.Client, f.clock)
	return f
}

func (f *fixture) namespace(name string) {
	f.t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"withdrawal-test": f.label}}}
	if err := env.Client.Create(f.ctx, ns); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) execute() executor.Result {
	f.t.Helper()
	res, err := f.exec.Execute(f.ctx, f.rw, startAction)
	if err != nil {
		f.t.Fatalf("Execute: %v", err)
	}
	summarize.RecordDetail(&f.rw.Status, v1.StepExport, res.Detail)
	return res
}

func (f *fixture) status() *v1.ExportStatus {
	return planner.StepStatus(&f.rw.Status, v1.StepExport).Export
}

// jobs lists the withdrawal's export Jobs by name.
func (f *fixture) jobs() map[string]*batchv1.Job {
	f.t.Helper()
	var list batchv1.JobList
	if err := env.Client.List(f.ctx, &list, client.MatchingLabels{executor.LabelWithdrawalUID: string(f.rw.UID)}); err != nil {
		f.t.Fatal(err)
	}
	out := map[string]*batchv1.Job{}
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out
}

func (f *fixture) jobFor(key string, attempt int) *batchv1.Job {
	f.t.Helper()
	name := JobName(f.rw, TargetHash(f.rw, key), attempt)
	j, ok := f.jobs()[name]
	if !ok {
		f.t.Fatalf("no Job %s for %s attempt %d; have %v", name, key, attempt, keys(f.jobs()))
	}
	return j
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// finish plays the Job controller and kubelet: a Pod whose exporter
// container exited with code and message, then the Job's conditions.
func (f *fixture) finish(job *batchv1.Job, succeeded bool, message string, ran time.Duration) {
	f.t.Helper()
	start := f.clock.Now().Add(-ran)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: job.Name + "-pod", Namespace: job.Namespace,
			Labels:          map[string]string{jobNameLabel: job.Name, "batch.kubernetes.io/controller-uid": string(job.UID)},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))},
		},
		Spec: *job.Spec.Template.Spec.DeepCopy(),
	}
	if err := env.Client.Create(f.ctx, pod); err != nil {
		f.t.Fatalf("creating the Job's Pod: %v", err)
	}
	exit := int32(0)
	phase := corev1.PodSucceeded
	if !succeeded {
		exit, phase = 1, corev1.PodFailed
	}
	pod.Status.Phase = phase
	for _, c := range pod.Spec.Containers {
		st := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: "sha256:" + validHash, ContainerID: "containerd://" + c.Name,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: metav1.NewTime(start), FinishedAt: metav1.NewTime(f.clock.Now())}}}
		if c.Name == "exporter" {
			st.State.Terminated.ExitCode, st.State.Terminated.Message = exit, message
		}
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, st)
	}
	if err := env.Client.Status().Update(f.ctx, pod); err != nil {
		f.t.Fatalf("writing the Pod's status: %v", err)
	}

	now := metav1.NewTime(f.clock.Now())
	job.Status.StartTime = &metav1.Time{Time: start}
	if succeeded {
		job.Status.Succeeded = 1
		job.Status.CompletionTime = &now
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
	} else {
		job.Status.Failed = 1
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now},
		}
	}
	if err := env.Client.Status().Update(f.ctx, job); err != nil {
		f.t.Fatalf("writing the Job's status: %v", err)
	}
}

func resultJSON(location, recipient string, size int64) string {
	return fmt.Sprintf(`{"version":1,"location":%q,"bytes":%d,"sha256":%q,"recipient":%q,"encrypted":true}`, location, size, validHash, recipient)
}

func TestVerifiedExports(t *testing.T) {
	f := newFixture(t, 2, nil)
	home := f.rw.Namespace
	keysWanted := []string{"Namespace/" + f.others[0], "Namespace/" + f.others[1], "Namespace/" + home}

	res := f.execute()
	if res.Done || len(f.jobs()) != 2 {
		t.Fatalf("first call: done %v, %d Jobs; want 2 Jobs (parallelism 2)", res.Done, len(f.jobs()))
	}
	// Calling again creates nothing new: the names are deterministic.
	f.execute()
	if n := len(f.jobs()); n != 2 {
		t.Fatalf("second call: %d Jobs, want still 2", n)
	}

	job := f.jobFor(keysWanted[0], 1)
	t.Run("the Job is built from the template", func(t *testing.T) {
		if len(job.OwnerReferences) != 0 {
			t.Errorf("a Job in another namespace has owner references %v; the garbage collector would delete it", job.OwnerReferences)
		}
		if job.Spec.TTLSecondsAfterFinished != nil {
			t.Errorf("ttlSecondsAfterFinished kept: the Pod holding the result could go before it is read")
		}
		if d := job.Spec.ActiveDeadlineSeconds; d == nil || *d != int64(exportDefault.Sub(exportStart).Seconds()) {
			t.Errorf("activeDeadlineSeconds = %v, want the time to the deadline", d)
		}
		exp := job.Spec.Template.Spec.Containers[1]
		if exp.TerminationMessagePolicy != corev1.TerminationMessageReadFile {
			t.Errorf("exporter terminationMessagePolicy = %q", exp.TerminationMessagePolicy)
		}
		for _, c := range job.Spec.Template.Spec.Containers {
			env := map[string]string{}
			for _, e := range c.Env {
				if _, dup := env[e.Name]; dup {
					t.Errorf("%s: %s twice", c.Name, e.Name)
				}
				env[e.Name] = e.Value
			}
			want := map[string]string{EnvRegion: "PK", EnvCutoff: "2026-12-29T19:00:00Z", EnvTarget: keysWanted[0], EnvExportID: ExportID(f.rw, TargetHash(f.rw, keysWanted[0])), EnvAttempt: "1"}
			for k, v := range want {
				if env[k] != v {
					t.Errorf("%s: %s = %q, want %q", c.Name, k, env[k], v)
				}
			}
		}
		if len(job.Name) > 63 {
			t.Errorf("Job name %q is longer than 63", job.Name)
		}
	})

	f.clock.SetTime(f.clock.Now().Add(10 * time.Minute))
	f.finish(job, true, resultJSON("s3://exports/pk/a.tar.gz.age", "acme", 1234), 10*time.Minute)
	res = f.execute()
	if st := f.status(); st.Verified != 1 || st.Running != 2 || len(f.jobs()) != 3 {
		t.Fatalf("after one export: %+v, %d Jobs; want 1 verified, 2 running, 3 Jobs", st, len(f.jobs()))
	}
	if res.Progress.Done != 1 || res.Progress.Total != 3 {
		t.Fatalf("progress = %+v", res.Progress)
	}
	if got := f.jobFor(keysWanted[0], 1).Annotations[AnnotationResult]; !strings.Contains(got, validHash) {
		t.Fatalf("the verdict is not on the Job: %q", got)
	}

	f.finish(f.jobFor(keysWanted[1], 1), true, resultJSON("s3://exports/pk/b.tar.gz.age", "", 10), 5*time.Minute)
	homeJob := f.jobFor(keysWanted[2], 1)
	if len(homeJob.OwnerReferences) != 1 || homeJob.OwnerReferences[0].UID != f.rw.UID {
		t.Fatalf("a Job in the withdrawal's namespace must be owned by it: %v", homeJob.OwnerReferences)
	}
	f.finish(homeJob, true, resultJSON("/exports/home.tar.gz", "initech", 99), time.Minute)
	res = f.execute()
	if !res.Done || res.Failed {
		t.Fatalf("result = %+v, want done and succeeded", res)
	}
	st := f.status()
	if st.Verified != 3 || st.Bytes != 1234+10+99 || len(st.Artifacts) != 3 || st.MeanJobDuration == nil {
		t.Fatalf("status = %+v", st)
	}
	arts, err := Artifacts(f.ctx, f.exec.reader(), f.rw)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"acme": "s3://exports/pk/a.tar.gz.age", keysWanted[1]: "s3://exports/pk/b.tar.gz.age", "initech": "/exports/home.tar.gz"}
	for k, v := range want {
		if arts[k].Location != v {
			t.Errorf("Artifacts()[%q] = %+v, want location %q (all: %v)", k, arts[k], v, arts)
		}
	}
}

func TestInvalidResultIsAFailedExport(t *testing.T) {
	tests := []struct {
		name      string
		succeeded bool
		message   string
		wantInMsg string
	}{
		{name: "not JSON", succeeded: true, message: "done!", wantInMsg: "malformed"},
		{name: "no result at all", succeeded: true, message: "", wantInMsg: "no export result"},
		{name: "zero bytes", succeeded: true, message: resultJSON("s3://x/a", "", 0), wantInMsg: "bytes"},
		{name: "bad hash", succeeded: true, message: strings.Replace(resultJSON("s3://x/a", "", 5), validHash, "abc", 1), wantInMsg: "sha256"},
		{name: "the Job failed", succeeded: false, message: "", wantInMsg: "BackoffLimitExceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, 0, func(e *v1.ExportStep) { e.Per = v1.ExportOnce })
			key := "Region/PK"
			f.execute()
			f.finish(f.jobFor(key, 1), tt.succeeded, tt.message, time.Minute)

			res := f.execute()
			if res.Done {
				t.Fatalf("done after a failed attempt with one left: %+v", res)
			}
			st := f.status()
			if st.Verified != 0 || len(st.Failures) != 1 || !strings.Contains(st.Failures[0].Reason, tt.wantInMsg) || st.Failures[0].GaveUp {
				t.Fatalf("status = %+v; want one failure mentioning %q, not given up", st, tt.wantInMsg)
			}
			if got := f.jobFor(key, 1).Annotations[AnnotationFailure]; got == "" {
				t.Fatal("the failure is not recorded on the Job")
			}
			retry := f.jobFor(key, 2)
			f.finish(retry, true, resultJSON("s3://x/pk.tar.gz", "", 7), time.Minute)
			if res := f.execute(); !res.Done || res.Failed {
				t.Fatalf("after a good retry: %+v", res)
			}
		})
	}
}

func TestAttemptsExhausted(t *testing.T) {
	f := newFixture(t, 1, func(e *v1.ExportStep) { e.MaxAttempts = 2 })
	bad := "Namespace/" + f.others[0]
	f.execute()
	f.finish(f.jobFor("Namespace/"+f.rw.Namespace, 1), true, resultJSON("s3://x/home", "", 1), time.Minute)
	f.finish(f.jobFor(bad, 1), false, "", time.Minute)
	f.execute()
	f.finish(f.jobFor(bad, 2), true, "garbage", time.Minute)
	res := f.execute()
	if !res.Done || !res.Failed || !strings.Contains(res.Message, bad) || !strings.Contains(res.Message, "1 of 2") {
		t.Fatalf("result = %+v; want failed naming %s", res, bad)
	}
	if n := len(f.jobs()); n != 3 {
		t.Fatalf("%d Jobs, want 3: no attempt beyond maxAttempts", n)
	}
}

func TestNoAttemptAfterTheDeadline(t *testing.T) {
	f := newFixture(t, 0, func(e *v1.ExportStep) { e.Per = v1.ExportOnce; e.MaxAttempts = 5 })
	f.execute()
	f.clock.SetTime(exportDefault.Add(-time.Minute))
	f.finish(f.jobFor("Region/PK", 1), false, "", time.Hour)
	f.clock.SetTime(exportDefault)
	res := f.execute()
	if !res.Done || !res.Failed || !strings.Contains(res.Message, "by the deadline") {
		t.Fatalf("result = %+v; want failed by the deadline", res)
	}
	if n := len(f.jobs()); n != 1 {
		t.Fatalf("%d Jobs; want no retry after the deadline", n)
	}
}

func TestDeadlineAtRisk(t *testing.T) {
	tests := []struct {
		name     string
		took     time.Duration
		wantRisk bool
	}{
		// 4 namespaces, one at a time, 72h to the deadline, one done.
		{name: "one hour per export leaves room", took: time.Hour},
		{name: "thirty hours per export does not", took: 30 * time.Hour, wantRisk: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, 3, func(e *v1.ExportStep) { e.Parallelism = 1; e.MaxAttempts = 1 })
			f.execute()
			first := f.jobFor("Namespace/"+f.others[0], 1)
			f.clock.SetTime(f.clock.Now().Add(tt.took))
			f.finish(first, true, resultJSON("s3://x/0", "", 1), tt.took)
			res := f.execute()
			t.Logf("message: %s", res.Message)
			st := f.status()
			if st.AtRisk != tt.wantRisk || st.EstimatedFinish == nil {
				t.Fatalf("atRisk = %v, estimate %v; want %v (%s)", st.AtRisk, st.EstimatedFinish, tt.wantRisk, st.AtRiskMessage)
			}
			wantFinish := f.clock.Now().Add(3 * tt.took)
			if !st.EstimatedFinish.Time.Equal(wantFinish.Truncate(time.Second)) {
				t.Fatalf("estimated finish %v, want %v", st.EstimatedFinish, wantFinish)
			}
			if tt.wantRisk {
				for _, part := range []string{"3 exports left", "1 at a time", "30h0m0s on average", "after the deadline 2026-12-26T19:00:00Z"} {
					if !strings.Contains(res.Message, part) {
						t.Errorf("message %q lacks %q", res.Message, part)
					}
				}
			}
		})
	}
}

func TestRevertCancelsRunningJobs(t *testing.T) {
	f := newFixture(t, 2, nil)
	f.execute()
	f.finish(f.jobFor("Namespace/"+f.others[0], 1), true, resultJSON("s3://x/0", "acme", 1), time.Minute)
	f.execute()
	if n := len(f.jobs()); n != 3 {
		t.Fatalf("%d Jobs, want 3", n)
	}
	revert := planner.Action{ID: "revert/export", Kind: planner.ActionRevert, Step: v1.StepExport}
	for range 2 { // repeating a revert is harmless
		res, err := f.exec.Execute(f.ctx, f.rw, revert)
		if err != nil {
			t.Fatal(err)
		}
		summarize.RecordDetail(&f.rw.Status, v1.StepExport, res.Detail)
		if !res.Done || len(res.Irreversible) != 1 || res.Irreversible[0] != "exports already taken: 1 artifacts" {
			t.Fatalf("revert = %+v", res)
		}
	}
	jobs := f.jobs()
	for name, j := range jobs {
		if j.Annotations[AnnotationResult] == "" && j.DeletionTimestamp == nil {
			t.Errorf("running Job %s was not deleted", name)
		}
	}
	if _, ok := jobs[JobName(f.rw, TargetHash(f.rw, "Namespace/"+f.others[0]), 1)]; !ok {
		t.Error("the verified Job was deleted")
	}
}

// hidingReader plays a cache that has not seen the Jobs yet.
type hidingReader struct{ client.Reader }

func (h hidingReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, ok := list.(*batchv1.JobList); ok {
		return nil
	}
	return h.Reader.List(ctx, list, opts...)
}

func TestAdoptsJobsOfAnEarlierRun(t *testing.T) {
	f := newFixture(t, 1, nil)
	f.execute()
	before := f.jobs()
	f.exec.APIReader = hidingReader{env.Client}
	f.execute() // creates the same names again: AlreadyExists, adopted
	after := f.jobs()
	if len(after) != len(before) {
		t.Fatalf("%d Jobs after a run that could not see them, want %d", len(after), len(before))
	}
	for name, j := range after {
		if before[name] == nil || before[name].UID != j.UID {
			t.Errorf("Job %s was replaced", name)
		}
	}
}

func TestManyArtifactsGoToConfigMaps(t *testing.T) {
	const n = MaxStatusArtifacts + 5
	f := newFixture(t, 0, func(e *v1.ExportStep) { e.Per = v1.ExportPerWorkload; e.Parallelism = 100 })
	for i := range n {
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%02d", i), Namespace: f.rw.Namespace, Labels: map[string]string{"region": "pk"}},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}},
			},
		}
		if err := env.Client.Create(f.ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	f.execute()
	jobs := f.jobs()
	if len(jobs) != n {
		t.Fatalf("%d Jobs, want %d", len(jobs), n)
	}
	for _, j := range jobs {
		f.finish(j, true, resultJSON("s3://x/"+j.Name, "cust-"+j.Name, 1), time.Minute)
	}
	if res := f.execute(); !res.Done || res.Failed {
		t.Fatalf("result = %+v", res)
	}
	st := f.status()
	if st.Verified != n || len(st.Artifacts) != MaxStatusArtifacts || st.ArtifactsInConfigMaps != n || len(st.ArtifactConfigMaps) == 0 {
		t.Fatalf("status: verified %d, %d listed, %d in %v", st.Verified, len(st.Artifacts), st.ArtifactsInConfigMaps, st.ArtifactConfigMaps)
	}
	total := 0
	for _, name := range st.ArtifactConfigMaps {
		var cm corev1.ConfigMap
		if err := env.Client.Get(f.ctx, client.ObjectKey{Namespace: f.rw.Namespace, Name: name}, &cm); err != nil {
			t.Fatal(err)
		}
		total += len(cm.Data)
		if len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].UID != f.rw.UID {
			t.Errorf("ConfigMap %s is not owned by the withdrawal", name)
		}
	}
	if total != n {
		t.Fatalf("the ConfigMaps hold %d artifacts, want %d", total, n)
	}

	// The notices see every customer's own export, not only the ones
	// status lists.
	arts, err := Artifacts(f.ctx, f.exec.reader(), f.rw)
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != n {
		t.Errorf("Artifacts gives %d, want %d", len(arts), n)
	}
	for _, j := range jobs {
		if a := arts["cust-"+j.Name]; a.Location != "s3://x/"+j.Name || a.Bytes != 1 {
			t.Errorf("cust-%s's export is %+v, want s3://x/%s", j.Name, a, j.Name)
		}
	}
}

func TestEstimate(t *testing.T) {
	now := exportStart
	tests := []struct {
		name          string
		mean          time.Duration
		runningStarts []time.Time
		pending       int
		parallelism   int
		want          time.Time
	}{
		{name: "nothing left", mean: time.Hour, parallelism: 2, want: now},
		{name: "waves of two", mean: time.Hour, pending: 5, parallelism: 2, want: now.Add(3 * time.Hour)},
		{name: "running half done", mean: time.Hour, runningStarts: []time.Time{now.Add(-30 * time.Minute)}, pending: 1, parallelism: 1, want: now.Add(90 * time.Minute)},
		{name: "running and late", mean: time.Hour, runningStarts: []time.Time{now.Add(-5 * time.Hour)}, pending: 0, parallelism: 1, want: now},
		{name: "more running than slots", mean: time.Hour, runningStarts: []time.Time{now, now, now}, pending: 1, parallelism: 2, want: now.Add(2 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Estimate(now, tt.mean, tt.runningStarts, tt.pending, tt.parallelism); !got.Equal(tt.want) {
				t.Fatalf("Estimate() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestJobNames(t *testing.T) {
	long := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("a", 250), Namespace: "ns"}}
	short := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Name: "pk", Namespace: "ns"}}
	other := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Name: "pk", Namespace: "other"}}
	tests := []struct {
		name string
		rw   *v1.RegionWithdrawal
	}{{name: "long name", rw: long}, {name: "short name", rw: short}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := JobName(tt.rw, TargetHash(tt.rw, "Namespace/acme"), 20)
			if len(n) > 63 || n != JobName(tt.rw, TargetHash(tt.rw, "Namespace/acme"), 20) {
				t.Fatalf("JobName = %q (%d chars)", n, len(n))
			}
		})
	}
	if TargetHash(short, "Namespace/acme") == TargetHash(other, "Namespace/acme") {
		t.Fatal("two withdrawals of the same name in different namespaces share Job names")
	}
}

// TestJobsItDidNotCreateDoNotCount plays someone who may create Jobs in a
// selected namespace: a Job labelled as this withdrawal's, for a real
// target, with a verdict annotation already on it. It must not count as an
// export. A forgery under the very name the operator would use is deleted
// and replaced by the operator's own Job.
func TestJobsItDidNotCreateDoNotCount(t *testing.T) {
	f := newFixture(t, 1, func(ex *v1.ExportStep) { ex.Parallelism = 1 })
	target := Target{Key: "Namespace/" + f.others[0], Namespace: f.others[0], Name: f.others[0]}
	forge := func(name string) *batchv1.Job {
		t.Helper()
		job, err := buildJob(f.rw, PodPolicy{}, target, TargetHash(f.rw, target.Key), 1, exportDefault, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		job.Name = name
		job.Annotations[AnnotationResult] = resultJSON("s3://forged/"+name, "", 1)
		if err := env.Client.Create(f.ctx, job); err != nil {
			t.Fatal(err)
		}
		return job
	}
	forge("forged-elsewhere")
	ownName := JobName(f.rw, TargetHash(f.rw, target.Key), 1)
	squatter := forge(ownName)

	// The target (sorted first) needs attempt 1, whose name is taken: the
	// squatter is deleted, and the call fails saying why.
	if _, err := f.exec.Execute(f.ctx, f.rw, startAction); err == nil || !strings.Contains(err.Error(), "not recorded as created by this withdrawal") {
		t.Fatalf("Execute with a squatter = %v, want it named", err)
	}
	if j, ok := f.jobs()[ownName]; ok && j.UID == squatter.UID {
		t.Fatal("the squatter is still there")
	}
	// The next call creates the operator's own Job, and counts nothing.
	f.execute()
	own, ok := f.jobs()[ownName]
	if !ok || own.UID == squatter.UID {
		t.Fatalf("the operator's own Job for %s was not created", target.Key)
	}
	if st := f.status(); st.Verified != 0 {
		t.Fatalf("verified %d before any real export finished: %+v", st.Verified, st)
	}
	// Its own Job finishes: that one, and only that one, counts.
	f.finish(own, true, resultJSON("s3://exports/pk/real.tar.gz.age", "acme", 10), time.Minute)
	f.execute()
	st := f.status()
	if st.Verified != 1 {
		t.Fatalf("verified %d, want 1: %+v", st.Verified, st)
	}
	for _, a := range st.Artifacts {
		if strings.Contains(a.Location, "forged") {
			t.Fatalf("a forged verdict counts: %+v", a)
		}
	}
}

// TestTemplateCannotSetTheOperatorsOwnKeys: a template that writes a
// verdict annotation (or any key under withdrawal.ops.dev/) onto its Jobs
// or Pods could pass a Job off as verified. No Job is created, and the step
// fails naming the key.
func TestTemplateCannotSetTheOperatorsOwnKeys(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(*batchv1.JobTemplateSpec)
	}{
		{"a verdict on the Job", func(j *batchv1.JobTemplateSpec) {
			j.Annotations = map[string]string{AnnotationResult: `{"version":1}`}
		}},
		{"a target label on the Pods", func(j *batchv1.JobTemplateSpec) {
			j.Spec.Template.Labels = map[string]string{LabelTarget: "abc"}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, 1, func(ex *v1.ExportStep) { tt.mutate(&ex.JobTemplate) })
			res := f.execute()
			if !res.Done || !res.Failed || !strings.Contains(res.Message, "withdrawal.ops.dev/") {
				t.Fatalf("result %+v, want a failure naming the reserved key", res)
			}
			if n := len(f.jobs()); n != 0 {
				t.Fatalf("%d Jobs created from the template", n)
			}
		})
	}
}

// TestManifestsGiveEachCustomerTheirOwnArchive: a per-customer exporter's
// result names a manifest in an object store that wants a token. The step
// reads it as the spec says and records each customer's own archive where
// the notices find it; a manifest changed after it was verified adds no one.
func TestManifestsGiveEachCustomerTheirOwnArchive(t *testing.T) {
	store, err := testsrv.NewObjectStore("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	store.ReadToken = "read-token"
	var m bytes.Buffer
	const n = 300
	for i := range n {
		c := fmt.Sprintf("cust-%03d", i)
		if err := result.WriteEntry(&m, result.Entry{Customer: c, Location: store.URL + "/pk/" + c + ".tar.gz.age", Bytes: int64(100 + i),
			SHA256: validHash, Key: result.KeyCustomer}); err != nil {
			t.Fatal(err)
		}
	}
	if err := result.WriteEntry(&m, result.Entry{Customer: "keyless", Skipped: "no age key"}); err != nil {
		t.Fatal(err)
	}
	store.Put("/pk/manifest.jsonl", m.Bytes())
	sum := sha256.Sum256(m.Bytes())
	manifestResult := fmt.Sprintf(`{"version":1,"location":%q,"bytes":%d,"sha256":%q,"encrypted":false,"manifest":{"customers":%d,"exported":%d}}`,
		store.URL+"/pk/manifest.jsonl", m.Len(), hex.EncodeToString(sum[:]), n+1, n)

	f := newFixture(t, 0, func(e *v1.ExportStep) {
		e.Manifests = &v1.ExportManifestAccess{HeadersSecretRef: &v1.LocalObjectReference{Name: "store-read"}}
	})
	if err := env.Client.Create(f.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "store-read", Namespace: f.rw.Namespace},
		Data: map[string][]byte{"Authorization": []byte("Bearer read-token")}}); err != nil {
		t.Fatal(err)
	}
	loopback := egress.Loopback()
	loopback.AllowHTTP = true
	f.exec.HTTP = &sources.HTTPPager{Egress: loopback}
	f.execute()
	jobs := f.jobs()
	if len(jobs) != 1 {
		t.Fatalf("%d Jobs, want 1", len(jobs))
	}
	for _, j := range jobs {
		f.finish(j, true, manifestResult, time.Minute)
	}
	if res := f.execute(); !res.Done || res.Failed {
		t.Fatalf("result = %+v", res)
	}
	st := f.status()
	if st.ManifestsRead != 1 || st.Customers != n {
		t.Fatalf("status: %d manifests read, %d customers; want 1, %d", st.ManifestsRead, st.Customers, n)
	}
	arts, err := Artifacts(f.ctx, f.exec.reader(), f.rw)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		c := fmt.Sprintf("cust-%03d", i)
		if a := arts[c]; a.Location != store.URL+"/pk/"+c+".tar.gz.age" || a.Bytes != int64(100+i) || !a.Encrypted {
			t.Errorf("%s's archive is %+v", c, a)
		}
	}
	if _, ok := arts["keyless"]; ok {
		t.Error("a skipped customer has an archive")
	}

	// Read again after a lost status write: nothing changes.
	st.ManifestsRead = 0
	if res := f.execute(); res.Failed || f.status().Customers != n {
		t.Fatalf("a second read gave %+v, %d customers", res, f.status().Customers)
	}

	// Changed since it was verified: refused, and nobody is added.
	g := newFixture(t, 0, nil)
	g.exec.HTTP = &sources.HTTPPager{Egress: loopback}
	store.ReadToken = ""
	g.execute()
	for _, j := range g.jobs() {
		g.finish(j, true, manifestResult, time.Minute)
	}
	store.Put("/pk/manifest.jsonl", append(m.Bytes(), []byte(`{"customer":"intruder","location":"https://evil.example/x","bytes":1,"sha256":"`+validHash+`","key":"customer"}`+"\n")...))
	_, err = g.exec.Execute(g.ctx, g.rw, startAction)
	if err == nil || !strings.Contains(err.Error(), "is not what was verified") {
		t.Fatalf("a changed manifest: %v, want it refused", err)
	}
	if arts, err := Artifacts(g.ctx, g.exec.reader(), g.rw); err != nil || len(arts) > 1 {
		t.Errorf("a changed manifest recorded %d artifacts (%v)", len(arts), err)
	}
}
