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

package controllers

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/steps"
)

// realExecutors wires the real executors to the harness's API server and
// fake clock, as main.go does, with the evidence ledger on (kept in the
// test's namespace, standing for the installation's).
func (h *harness) realExecutors() {
	l, err := ledger.New(ledger.Options{Client: env.Client, Reader: env.Client, Namespace: h.ns, Key: []byte("an evidence key of 32 bytes.....")})
	if err != nil {
		h.t.Fatal(err)
	}
	h.ledger = l
	h.r.Evidence = l
	h.r.Executors, _ = steps.New(steps.Options{Client: env.Client, APIReader: env.Client, Mapper: env.Client.RESTMapper(), Clock: h.clock, Recorder: h.rec, Evidence: l})
}

// evidence exports the withdrawal's ledger as `kubectl withdrawal evidence
// export` does and verifies it against the pinned key.
func (h *harness) evidence(rw *v1.RegionWithdrawal) *evidence.Report {
	h.t.Helper()
	contents, err := ledger.Read(h.ctx, env.Client, h.ns, rw.UID)
	if err != nil {
		h.t.Fatal(err)
	}
	b, err := contents.Bundle(h.ledger.Salt(rw.IdentityKey()))
	if err != nil {
		h.t.Fatal(err)
	}
	r, err := evidence.Verify(b, evidence.VerifyOptions{Key: h.ledger.VerifierKey(), AllowOpen: true})
	if err != nil {
		h.t.Fatalf("the evidence does not verify: %v", err)
	}
	return r
}

// completeExportJob does what the Job controller and the kubelet would: a
// Pod whose exporter container terminated with the exporter's result, and
// the Job's Complete condition.
func (h *harness) completeExportJob(job *batchv1.Job, message string) {
	h.t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-pod", Namespace: job.Namespace,
			Labels:          map[string]string{"batch.kubernetes.io/job-name": job.Name, "batch.kubernetes.io/controller-uid": string(job.UID)},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))}},
		Spec: *job.Spec.Template.Spec.DeepCopy(),
	}
	h.create(pod)
	now := metav1.NewTime(h.clock.Now())
	pod.Status.Phase = corev1.PodSucceeded
	for _, c := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image,
			ImageID: "sha256:" + strings.Repeat("ab", 32), ContainerID: "containerd://" + c.Name,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", Message: message,
				StartedAt: metav1.NewTime(h.clock.Now().Add(-time.Hour)), FinishedAt: now}}})
	}
	if err := h.c.Status().Update(h.ctx, pod); err != nil {
		h.t.Fatal(err)
	}
	job.Status.StartTime = &metav1.Time{Time: h.clock.Now().Add(-time.Hour)}
	job.Status.CompletionTime, job.Status.Succeeded = &now, 1
	job.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
	}
	if err := h.c.Status().Update(h.ctx, job); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) replicas(name string) int32 {
	h.t.Helper()
	d := &appsv1.Deployment{}
	if err := h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: name}, d); err != nil {
		h.t.Fatal(err)
	}
	return *d.Spec.Replicas
}

// TestARealRunExportsThenDrainsThenCutsRouting runs export, drain and
// routing for real against the API server: the drain waits for the verified
// export, and routing switches at the cutoff.
func TestARealRunExportsThenDrainsThenCutsRouting(t *testing.T) {
	h := newHarness(t, exportStart)
	h.regionApp()
	h.realExecutors()
	h.pakistan(func(s *v1.RegionWithdrawalSpec) { s.Notify, s.DryRun = nil, false })

	// The export starts: one Job for the namespace.
	h.at(exportStart)
	var jobs batchv1.JobList
	if err := h.c.List(h.ctx, &jobs, client.InNamespace(h.ns)); err != nil || len(jobs.Items) != 1 {
		t.Fatalf("export Jobs: %d (%v), want 1", len(jobs.Items), err)
	}
	if s := step(h.get(), v1.StepExport); s.State != v1.StepRunning || s.DryRun {
		t.Fatalf("export = %+v, want Running for real", s)
	}

	// The drain falls due while the export is not verified: it waits.
	h.at(drainStart)
	rw := h.get()
	if s := step(rw, v1.StepDrain); s.State != v1.StepBlocked || s.StartedAt != nil {
		t.Fatalf("drain = %+v, want Blocked waiting for the export", s)
	}
	if c := condition(rw, v1.ConditionDeadlineAtRisk); c.Status != metav1.ConditionTrue {
		t.Fatalf("DeadlineAtRisk = %+v, want True: the export is past its deadline", c)
	}
	if h.replicas("messaging") != 2 {
		t.Fatal("a workload was scaled down before its export was verified")
	}

	// The exporter reports a valid result: the export is verified and the
	// drain goes ahead, batch by batch.
	h.completeExportJob(&jobs.Items[0], `{"version":1,"location":"s3://exports/pk/`+h.ns+`.tar.gz.age","bytes":1048576,"sha256":"`+strings.Repeat("ab", 32)+`","encrypted":true}`)
	h.at(drainStart.Add(time.Minute))
	rw = h.get()
	if s := step(rw, v1.StepExport); s.State != v1.StepSucceeded || s.Export == nil || len(s.Export.Artifacts) != 1 {
		t.Fatalf("export = %+v, want Succeeded with one verified artifact", s)
	}
	if s := step(rw, v1.StepDrain); s.StartedAt == nil {
		t.Fatalf("drain = %+v, want started once the export was verified", s)
	}
	h.follow(cutoff.Add(-time.Minute))
	for _, name := range []string{"messaging", "gateway"} {
		if got := h.replicas(name); got != 0 {
			t.Errorf("%s has %d replicas after the drain, want 0", name, got)
		}
	}
	if h.replicas("billing-global") != 2 {
		t.Error("a workload outside the region was drained")
	}
	if s := step(h.get(), v1.StepDrain); s.State != v1.StepSucceeded {
		t.Fatalf("drain = %+v, want Succeeded", s)
	}

	// At the cutoff the Ingress points at the 451 notice backend.
	h.at(cutoff.Add(requeueSkew))
	h.follow(cutoff.Add(time.Hour))
	ing := &networkingv1.Ingress{}
	if err := h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: "pk-edge"}, ing); err != nil {
		t.Fatal(err)
	}
	if svc := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name; !strings.HasPrefix(svc, "rwo-notice-") {
		t.Fatalf("the Ingress still routes to %q", svc)
	}
	rw = h.get()
	if rw.Status.Phase != v1.PhaseCompleted {
		t.Fatalf("phase %s, steps %+v; want Completed", rw.Status.Phase, rw.Status.Steps)
	}

	// The ledger holds the run, once per event, and verifies.
	r := h.evidence(rw)
	counts := r.Counts()
	for kind, want := range map[evidence.Kind]int{evidence.KindSpec: 1, evidence.KindExportVerified: 1, evidence.KindDrainFinished: 1, evidence.KindRoutingSwitched: 1} {
		if counts[kind] != want {
			t.Errorf("%d %s statements, want %d (all: %v)", counts[kind], kind, want, counts)
		}
	}
	if counts[evidence.KindDrainBatch] < 2 {
		t.Errorf("%d drain batches recorded, want one per batch (2 workloads, one at a time)", counts[evidence.KindDrainBatch])
	}
	switched := r.RoutingStopped()
	if len(switched) != 1 || switched[0].At.Before(cutoff) || len(switched[0].Objects) != 1 || switched[0].Objects[0].Name != "pk-edge" {
		t.Errorf("routing switched %+v, want pk-edge, no earlier than the cutoff %s", switched, cutoff)
	}
	if ex := r.Exports(); len(ex) != 1 || ex[0].SHA256 != strings.Repeat("ab", 32) || strings.Contains(ex[0].Location, "?") {
		t.Errorf("exports verified %+v, want the one artifact", ex)
	}
	// It completed: the ledger ends with its seal, and the status says so.
	if r.Seal == nil || r.Seal.Reason != evidence.SealCompleted || rw.Status.Evidence == nil || !rw.Status.Evidence.Sealed || rw.Status.Evidence.Statements != int64(r.Statements) {
		t.Errorf("seal %+v, status.evidence %+v, %d statements; want the completed seal, recorded in status", r.Seal, rw.Status.Evidence, r.Statements)
	}
}

// TestABadExportTemplateStallsWhenApplied: a Job template that sets the
// operator's own keys is refused when the withdrawal is first planned,
// weeks before the export would start, not when it falls due. It holds
// back the export (and the drain, which waits for it), not the routing
// switch: the cutoff holds whatever the author wrote.
func TestABadExportTemplateStallsWhenApplied(t *testing.T) {
	h := newHarness(t, beforeAnnouncement)
	h.regionApp()
	h.realExecutors()
	h.pakistan(func(s *v1.RegionWithdrawalSpec) {
		s.Notify, s.DryRun = nil, false
		s.Export.JobTemplate.Annotations = map[string]string{"withdrawal.ops.dev/export-result": "{}"}
	})
	res, err := h.reconcile()
	if err != nil || res.RequeueAfter == 0 {
		t.Fatalf("reconcile = %+v, %v; want no error and a wake-up for the steps the template does not hold back", res, err)
	}
	rw := h.get()
	c := condition(rw, v1.ConditionStalled)
	if c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonInvalidSpec || !strings.Contains(c.Message, "withdrawal.ops.dev/export-result") {
		t.Fatalf("Stalled = %+v, want InvalidSpec naming the key", c)
	}
	if evs := h.events(); !hasEvent(evs, "Warning InvalidSpec", "spec.export.jobTemplate") {
		t.Fatalf("events %v, want InvalidSpec", evs)
	}

	h.at(cutoff.Add(requeueSkew))
	h.follow(cutoff.Add(time.Hour))
	rw = h.get()
	if s := step(rw, v1.StepRouting); s.State != v1.StepSucceeded || s.StartedAt.Time.Before(cutoff) {
		t.Fatalf("routing = %+v, want switched at the cutoff", s)
	}
	if s := step(rw, v1.StepExport); s.StartedAt != nil || s.State != v1.StepBlocked {
		t.Fatalf("export = %+v, want Blocked, never started", s)
	}
	if s := step(rw, v1.StepDrain); s.StartedAt != nil {
		t.Fatalf("drain = %+v, want never started without a verified export", s)
	}
	if c := condition(rw, v1.ConditionStalled); c.Status != metav1.ConditionTrue || c.Reason != v1.ReasonInvalidSpec {
		t.Fatalf("Stalled = %+v after the cutoff, want still InvalidSpec", c)
	}
}
