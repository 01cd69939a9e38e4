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
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
)

// forgeryFixture is one export of one namespace, with the evidence
// ledger on (its key authenticates the operator's records), and a person
// granted rules in that namespace and nothing else.
func forgeryFixture(t *testing.T, person string, rules ...rbacv1.PolicyRule) (*fixture, client.Client, *events.FakeRecorder) {
	t.Helper()
	f := newFixture(t, 0, func(e *v1.ExportStep) { e.Parallelism, e.MaxAttempts = 1, 1 })
	l, err := ledger.New(ledger.Options{Client: env.Client, Reader: env.Client, Namespace: f.rw.Namespace, Key: []byte("the export tests' evidence key..")})
	if err != nil {
		t.Fatal(err)
	}
	rec := events.NewFakeRecorder(100)
	f.exec.Evidence, f.exec.Recorder = l, rec
	ns := f.rw.Namespace
	if err := env.Client.Create(f.ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "attacker"}, Rules: rules}); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(f.ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "attacker"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "attacker"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: person}}}); err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: person}
	c, err := client.New(cfg, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	f.execute() // the export starts: one Job
	return f, c, rec
}

func (f *fixture) onlyJob() *batchv1.Job {
	f.t.Helper()
	jobs := f.jobs()
	if len(jobs) != 1 {
		f.t.Fatalf("%d export Jobs, want 1", len(jobs))
	}
	for _, j := range jobs {
		return j
	}
	return nil
}

const forgedLocation = "s3://elsewhere/pk.tar.gz"

// TestAVerdictPatchedOntoAJobIsNotTaken: a holder of get, list and patch
// on Jobs in the target namespace writes a verified result, pointing at
// another host, onto the running export Job. The operator does not take
// it: the export is not verified, a Warning Event names the Job, and the
// Job, once its own Pod finishes, is judged from that Pod.
func TestAVerdictPatchedOntoAJobIsNotTaken(t *testing.T) {
	f, attacker, rec := forgeryFixture(t, "jobs-patcher@example.com",
		rbacv1.PolicyRule{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"get", "list", "patch"}})
	job := f.onlyJob()
	forged, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		AnnotationResult:     resultJSON(forgedLocation, "", 1),
		AnnotationVerifiedAt: f.clock.Now().UTC().Format(time.RFC3339),
		AnnotationVerdictMAC: strings.Repeat("00", 32),
	}}})
	if err := attacker.Patch(f.ctx, job, client.RawPatch(types.MergePatchType, forged)); err != nil {
		t.Fatalf("the attacker could not patch the Job (the attack needs it): %v", err)
	}
	f.execute()
	if st := f.status(); st.Verified != 0 {
		t.Fatalf("a patched verdict was taken: %+v", st)
	}
	if !hasEvent(rec, ReasonExportVerdictForged, job.Name) {
		t.Fatal("no ExportVerdictForged Event")
	}
	f.finish(f.onlyJob(), true, resultJSON("s3://exports/pk/home.tar.gz.age", "", 7), time.Minute)
	f.execute()
	st := f.status()
	if st.Verified != 1 || len(st.Artifacts) != 1 || st.Artifacts[0].Location == forgedLocation {
		t.Fatalf("after the Job's own Pod finished: %+v, want its own result verified", st)
	}
}

// TestAPodMadeByHandIsNotTheExportsResult: a holder of create on Pods in
// the target namespace makes a Pod owned by the export Job (the Job
// controller counts it) that runs their own container and reports a
// forged result. The operator reads results only from Pods made from the
// Job's template: the export fails, saying why, and nothing is verified.
func TestAPodMadeByHandIsNotTheExportsResult(t *testing.T) {
	f, attacker, _ := forgeryFixture(t, "pod-maker@example.com",
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create"}})
	job := f.onlyJob()
	spec := job.Spec.Template.Spec.DeepCopy()
	spec.Containers[exporterIndex(spec.Containers)].Image = "attacker.example/echo"
	spec.Containers[exporterIndex(spec.Containers)].Args = []string{"echo", "forged"}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-forged", Namespace: job.Namespace,
			Labels:          map[string]string{jobNameLabel: job.Name, "batch.kubernetes.io/controller-uid": string(job.UID)},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))},
			Finalizers:      []string{"batch.kubernetes.io/job-tracking"}},
		Spec: *spec,
	}
	if err := attacker.Create(f.ctx, pod); err != nil {
		t.Fatalf("the attacker could not create the Pod (the attack needs it): %v", err)
	}
	// The kubelet runs the attacker's container, which writes the forged
	// result; the Job controller counts the Pod and completes the Job.
	f.completeWith(job, pod, resultJSON(forgedLocation, "", 1))
	res := f.execute()
	if st := f.status(); st.Verified != 0 {
		t.Fatalf("a hand-made Pod's result was taken: %+v", st)
	}
	if !strings.Contains(res.Message+f.failures(), "not made from the Job's template") {
		t.Fatalf("the failure does not say the Pod was not the Job's: %q / %q", res.Message, f.failures())
	}
}

// TestARecordEntryForAnotherJobIsIgnored: a holder of create on Jobs and
// update on ConfigMaps in the target namespace makes a Job that looks
// like this withdrawal's export, with a verified result, and adds it to
// the record of created Jobs. The entry's MAC does not check: the Job is
// not this withdrawal's, and nothing is verified.
func TestARecordEntryForAnotherJobIsIgnored(t *testing.T) {
	f, attacker, _ := forgeryFixture(t, "record-writer@example.com",
		rbacv1.PolicyRule{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"create", "get"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "update", "patch"}})
	real := f.onlyJob()
	fake := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: real.Namespace, Name: real.Name + "x", Labels: real.Labels,
		Annotations: map[string]string{AnnotationResult: resultJSON(forgedLocation, "", 1), AnnotationTarget: real.Annotations[AnnotationTarget]}},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "exporter", Image: "attacker.example/echo"}}}}}}
	fake.Labels[LabelAttempt] = "0"
	if err := attacker.Create(f.ctx, fake); err != nil {
		t.Fatalf("the attacker could not create the Job: %v", err)
	}
	var record corev1.ConfigMap
	if err := attacker.Get(f.ctx, client.ObjectKey{Namespace: f.rw.Namespace, Name: CreatedJobsConfigMapName(f.rw)}, &record); err != nil {
		t.Fatal(err)
	}
	record.Data[jobRecordKey(fake)] = string(fake.UID)
	if err := attacker.Update(f.ctx, &record); err != nil {
		t.Fatalf("the attacker could not write the record: %v", err)
	}
	f.execute()
	if st := f.status(); st.Verified != 0 {
		t.Fatalf("a Job added to the record by hand was taken: %+v", st)
	}
}

// completeWith plays the kubelet (pod ran and wrote message) and the Job
// controller (it counted the Pod and completed the Job).
func (f *fixture) completeWith(job *batchv1.Job, pod *corev1.Pod, message string) {
	f.t.Helper()
	pod.Status.Phase = corev1.PodSucceeded
	for _, c := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Message: message,
				StartedAt: metav1.NewTime(f.clock.Now()), FinishedAt: metav1.NewTime(f.clock.Now())}}})
	}
	if err := env.Client.Status().Update(f.ctx, pod); err != nil {
		f.t.Fatal(err)
	}
	now := metav1.NewTime(f.clock.Now())
	job.Status.StartTime, job.Status.CompletionTime, job.Status.Succeeded = &now, &now, 1
	job.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
	}
	if err := env.Client.Status().Update(f.ctx, job); err != nil {
		f.t.Fatal(err)
	}
}

// failures is every attempt's failure on the export's Jobs.
func (f *fixture) failures() string {
	var out []string
	for _, j := range f.jobs() {
		out = append(out, j.Annotations[AnnotationFailure])
	}
	return strings.Join(out, "; ")
}

func hasEvent(rec *events.FakeRecorder, substrings ...string) bool {
	for {
		select {
		case e := <-rec.Events:
			ok := true
			for _, s := range substrings {
				ok = ok && strings.Contains(e, s)
			}
			if ok {
				return true
			}
		default:
			return false
		}
	}
}

// TestARecordChangedByHandIsNotUsed: the export step's records of where
// each archive is (the artifact and customer ConfigMaps, in the
// withdrawal's namespace) go into notices and the handoff endpoint's
// redirects. A holder of update on ConfigMaps there points an archive at
// another host: the readers refuse the ConfigMap, saying so, and the
// export step does not sign over the change when it next writes there.
func TestARecordChangedByHandIsNotUsed(t *testing.T) {
	f, attacker, _ := forgeryFixture(t, "configmap-writer@example.com",
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "update", "patch"}})
	f.rw.Status.Evidence = &v1.EvidenceStatus{Key: f.exec.Evidence.VerifierKey()}
	name := ArtifactConfigMapName(f.rw, 'a')
	genuine, _ := json.Marshal(v1.ExportArtifact{Target: "Namespace/acme", Location: "s3://exports/pk/acme.tar.gz.age", Bytes: 10, SHA256: validHash})
	if err := f.exec.ensureEntries(f.ctx, f.rw, name, nil, map[string]string{"a1": string(genuine)}); err != nil {
		t.Fatal(err)
	}
	f.rw.Status.Steps = []v1.StepStatus{{Name: v1.StepExport, Export: &v1.ExportStatus{ArtifactConfigMaps: []string{name}}}}
	arts, err := Artifacts(f.ctx, env.Client, f.rw)
	if err != nil || arts["Namespace/acme"].Location != "s3://exports/pk/acme.tar.gz.age" {
		t.Fatalf("the operator's own record: %v, %v", arts, err)
	}

	var cm corev1.ConfigMap
	if err := attacker.Get(f.ctx, client.ObjectKey{Namespace: f.rw.Namespace, Name: name}, &cm); err != nil {
		t.Fatal(err)
	}
	forged, _ := json.Marshal(v1.ExportArtifact{Target: "Namespace/acme", Location: forgedLocation, Bytes: 10, SHA256: validHash})
	cm.Data["a1"] = string(forged)
	if err := attacker.Update(f.ctx, &cm); err != nil {
		t.Fatalf("the attacker could not write the ConfigMap (the attack needs it): %v", err)
	}
	if _, err := Artifacts(f.ctx, env.Client, f.rw); err == nil || !strings.Contains(err.Error(), "changed by someone other than the operator") {
		t.Fatalf("a record changed by hand was read: %v", err)
	}
	if err := f.exec.ensureEntries(f.ctx, f.rw, name, nil, map[string]string{"a2": string(genuine)}); err == nil {
		t.Fatal("the export step signed over a record changed by hand")
	}
}
