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
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// What the operator writes where others may write too (the export Jobs'
// annotations, the record of created Jobs, both in a target's namespace)
// carries a MAC with a key derived from the evidence key, which only the
// operator holds. Whoever may patch Jobs or write ConfigMaps there can
// still change them, and the change is found: a verdict that does not
// check is judged again from the Job's Pods, a record entry that does not
// check names no Job of this withdrawal. Without the evidence ledger there
// is no key, and these records are trusted as they are.

// AnnotationVerdictMAC authenticates a Job's verdict annotations.
const AnnotationVerdictMAC = "withdrawal.ops.dev/export-verdict-mac"

func (e *Executor) mac(purpose string, parts ...string) string {
	key := e.Evidence.RecordKey(purpose)
	if key == nil {
		return ""
	}
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil))
}

// verdictMAC binds a verdict to its Job (by UID, so that it cannot be
// copied onto another) and to the Job's export round, so that relabelling
// an earlier round's Job does not make its verdict count in a later one.
func (e *Executor) verdictMAC(job *batchv1.Job, verdict map[string]string) string {
	parts := []string{string(job.UID), verdict[AnnotationResult], verdict[AnnotationVerifiedAt], verdict[AnnotationFailure]}
	if r, ok := job.Labels[LabelRound]; ok {
		parts = append(parts, "round="+r)
	}
	return e.mac("export-verdict", parts...)
}

// sealVerdict adds the verdict's MAC to it.
func (e *Executor) sealVerdict(job *batchv1.Job, verdict map[string]string) {
	if mac := e.verdictMAC(job, verdict); mac != "" {
		verdict[AnnotationVerdictMAC] = mac
	}
}

// verdictHolds reports whether job's verdict annotations are the
// operator's own, or there are none.
func (e *Executor) verdictHolds(job *batchv1.Job) bool {
	_, r := job.Annotations[AnnotationResult]
	_, f := job.Annotations[AnnotationFailure]
	if !r && !f {
		return true
	}
	want := e.verdictMAC(job, job.Annotations)
	return want == "" || hmac.Equal([]byte(want), []byte(job.Annotations[AnnotationVerdictMAC]))
}

// recordValue is what the record of created Jobs holds for job: its UID,
// and the MAC that binds it to the record's key (the Job's name and
// namespace) and to its export round: a Job relabelled into another round
// names no Job of this withdrawal.
func (e *Executor) recordValue(job *batchv1.Job) string {
	parts := []string{jobRecordKey(job), string(job.UID)}
	if r, ok := job.Labels[LabelRound]; ok {
		parts = append(parts, "round="+r)
	}
	if mac := e.mac("export-created-job", parts...); mac != "" {
		return string(job.UID) + "." + mac
	}
	return string(job.UID)
}

// recorded reports whether record says this withdrawal created job.
func (e *Executor) recorded(record map[string]string, job *batchv1.Job) bool {
	return hmac.Equal([]byte(record[jobRecordKey(job)]), []byte(e.recordValue(job)))
}

// madeFromTemplate checks that pod runs what job's template says, so that
// its termination message is the exporter's: a Pod someone created by hand
// with an owner reference to the Job (the Job controller counts it) runs a
// container of their choosing, and is not read. The exporter container
// must match the template's image, command, arguments, working directory,
// environment and mounts, and the Pod must run as the template's
// ServiceAccount with the template's volumes. What the API server adds to
// every Pod (the ServiceAccount token's volume and mount) is left out.
func madeFromTemplate(pod *corev1.Pod, job *batchv1.Job) error {
	tmpl := &job.Spec.Template.Spec
	want := tmpl.Containers[exporterIndex(tmpl.Containers)]
	var got *corev1.Container
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == want.Name {
			got = &pod.Spec.Containers[i]
		}
	}
	if got == nil {
		return fmt.Errorf("Pod %s has no container %q", pod.Name, want.Name)
	}
	differs := func(what string) error {
		return fmt.Errorf("Pod %s was not made from the Job's template: its container %q has another %s", pod.Name, want.Name, what)
	}
	switch {
	case got.Image != want.Image:
		return differs("image")
	case !slices.Equal(got.Command, want.Command):
		return differs("command")
	case !slices.Equal(got.Args, want.Args):
		return differs("args")
	case got.WorkingDir != want.WorkingDir:
		return differs("workingDir")
	case !equalish(got.Env, want.Env):
		return differs("env")
	case !equalish(got.EnvFrom, want.EnvFrom):
		return differs("envFrom")
	case !equalish(ownMounts(got.VolumeMounts), ownMounts(want.VolumeMounts)):
		return differs("volumeMounts")
	}
	if sa := func(s *corev1.PodSpec) string { return cmp.Or(s.ServiceAccountName, "default") }; sa(&pod.Spec) != sa(tmpl) {
		return fmt.Errorf("Pod %s was not made from the Job's template: it runs as ServiceAccount %q", pod.Name, pod.Spec.ServiceAccountName)
	}
	if !equalish(ownVolumes(pod.Spec.Volumes), ownVolumes(tmpl.Volumes)) {
		return fmt.Errorf("Pod %s was not made from the Job's template: its volumes differ", pod.Name)
	}
	return nil
}

// equalish compares two lists, nil and empty alike.
func equalish[T any](a, b []T) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// tokenVolume is the prefix of the ServiceAccount token volume the API
// server adds to every Pod.
const tokenVolume = "kube-api-access-"

func ownMounts(ms []corev1.VolumeMount) []corev1.VolumeMount {
	return slices.DeleteFunc(slices.Clone(ms), func(m corev1.VolumeMount) bool { return strings.HasPrefix(m.Name, tokenVolume) })
}

func ownVolumes(vs []corev1.Volume) []corev1.Volume {
	return slices.DeleteFunc(slices.Clone(vs), func(v corev1.Volume) bool { return strings.HasPrefix(v.Name, tokenVolume) })
}

// ReasonExportVerdictForged (Event): an export Job carries a verdict the
// operator did not write.
const ReasonExportVerdictForged = "ExportVerdictForged"
