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
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// Labels and annotations on export Jobs. The Jobs are the record of the
// export: a Job's annotations say which target it covers and, once the
// controller has judged it, its verified result or why it failed, so the
// state survives a controller crash and the Pods' garbage collection.
const (
	LabelWithdrawal = "withdrawal.ops.dev/withdrawal"
	LabelTarget     = "withdrawal.ops.dev/export-target"
	LabelAttempt    = "withdrawal.ops.dev/export-attempt"
	// LabelRound is the export round a Job belongs to, when not the first
	// (status.cutoff.exportRound). Its verdict's MAC covers it.
	LabelRound = "withdrawal.ops.dev/export-round"

	AnnotationWithdrawalNamespace = "withdrawal.ops.dev/withdrawal-namespace"
	AnnotationWithdrawalName      = "withdrawal.ops.dev/withdrawal-name"
	AnnotationTarget              = "withdrawal.ops.dev/export-target"
	// AnnotationResult holds the verified result, as exportresult JSON.
	AnnotationResult = "withdrawal.ops.dev/export-result"
	// AnnotationVerifiedAt is when the result was verified, RFC 3339.
	AnnotationVerifiedAt = "withdrawal.ops.dev/export-verified-at"
	// AnnotationFailure holds why a finished Job is a failed export.
	AnnotationFailure = "withdrawal.ops.dev/export-failure"

	// jobNameLabel is set by the Job controller on a Job's Pods.
	jobNameLabel = "batch.kubernetes.io/job-name"

	// exporterContainer is the container whose termination message holds
	// the result; without one of that name, the first container.
	exporterContainer = "exporter"

	// Environment variables given to every container of an export Job.
	EnvRegion          = "WITHDRAWAL_REGION"
	EnvCutoff          = "WITHDRAWAL_CUTOFF"
	EnvTarget          = "WITHDRAWAL_TARGET"
	EnvTargetNamespace = "WITHDRAWAL_TARGET_NAMESPACE"
	EnvTargetName      = "WITHDRAWAL_TARGET_NAME"
	EnvExportID        = "WITHDRAWAL_EXPORT_ID"
	EnvAttempt         = "WITHDRAWAL_EXPORT_ATTEMPT"
)

// Target is one thing an export Job covers.
type Target struct {
	// Key names the target for people and in status: "Namespace/acme",
	// "Deployment/acme/web", or "Region/PK".
	Key string
	// Namespace is where the Job runs: the namespace whose volumes it
	// mounts.
	Namespace string
	// Name is the workload or namespace name ("" for the region).
	Name string
}

// hashLen is how many hex digits of the SHA-256 name a target: 40 bits
// keep collisions unlikely among tens of thousands of targets.
const hashLen = 10

// maxPrefix is how much of the withdrawal's name a Job name keeps, so that
// "<prefix>-export-<hash>-<attempt>" fits in the 63 characters a label
// value (the Pods' job-name label) allows.
const maxPrefix = 63 - len("-export-") - hashLen - len("-99")

// TargetHash names a target of a withdrawal, stably: the same withdrawal
// and target always give the same hash, so a re-created Job is recognised.
func TargetHash(rw *v1.RegionWithdrawal, key string) string {
	sum := sha256.Sum256([]byte(rw.Namespace + "/" + rw.Name + "\x00" + key))
	return hex.EncodeToString(sum[:])[:hashLen]
}

// JobName is the deterministic name of a target's export Job.
func JobName(rw *v1.RegionWithdrawal, hash string, attempt int) string {
	return fmt.Sprintf("%s-export-%s-%d", namePrefix(rw.Name), hash, attempt)
}

// ExportID is the id given to the exporter in WITHDRAWAL_EXPORT_ID: the
// same for every attempt of a target in a round, so a retry overwrites,
// not adds; a later round has its own, so that it never overwrites an
// archive customers were given.
func ExportID(rw *v1.RegionWithdrawal, hash string) string {
	if r := Round(rw); r > 0 {
		return fmt.Sprintf("%s-%s-r%d", namePrefix(rw.Name), hash, r)
	}
	return namePrefix(rw.Name) + "-" + hash
}

// Round is the export round rw's export step is on: 0 until a postponed
// cutoff sends the verified exports to be made again.
func Round(rw *v1.RegionWithdrawal) int32 {
	if h := rw.Status.Cutoff; h != nil {
		return h.ExportRound
	}
	return 0
}

// roundOf is the round job belongs to.
func roundOf(job *batchv1.Job) int32 {
	n, err := strconv.ParseInt(job.Labels[LabelRound], 10, 32)
	if err != nil {
		return 0
	}
	return int32(n)
}

func namePrefix(name string) string {
	if len(name) > maxPrefix {
		name = name[:maxPrefix]
	}
	return strings.TrimRight(name, "-.")
}

// buildJob makes the Job for one attempt of one target from the template,
// within the installation's pod policy. deadline bounds the Job's run time
// so that a hung exporter ends by the export deadline.
func buildJob(rw *v1.RegionWithdrawal, pods PodPolicy, t Target, hash string, attempt int, deadline, now time.Time) (*batchv1.Job, error) {
	tmpl := rw.Spec.Export.JobTemplate.DeepCopy()
	if err := templateProblem(tmpl); err != nil {
		return nil, err
	}
	if err := pods.Check(&tmpl.Spec.Template.Spec); err != nil {
		return nil, err
	}
	pods.Apply(&tmpl.Spec.Template.Spec)
	labels := map[string]string{
		LabelWithdrawal:             labelValue(rw.Name),
		executor.LabelWithdrawalUID: string(rw.UID),
		LabelTarget:                 hash,
		LabelAttempt:                strconv.Itoa(attempt),
	}
	if r := Round(rw); r > 0 {
		labels[LabelRound] = strconv.Itoa(int(r))
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:        JobName(rw, hash, attempt),
			Namespace:   t.Namespace,
			Labels:      merge(tmpl.Labels, labels),
			Annotations: merge(tmpl.Annotations, map[string]string{AnnotationWithdrawalNamespace: rw.Namespace, AnnotationWithdrawalName: rw.Name, AnnotationTarget: t.Key}),
		},
		Spec: tmpl.Spec,
	}
	// An owner reference must not cross namespaces: the garbage collector
	// would take the owner for missing and delete the Job. Jobs in other
	// namespaces are found by label and removed by Finalize.
	if t.Namespace == rw.Namespace {
		job.OwnerReferences = []metav1.OwnerReference{executor.OwnerReference(rw)}
	}
	spec := &job.Spec
	// One Job, one result: a single Pod runs to completion.
	spec.Completions, spec.Parallelism = ptr.To[int32](1), ptr.To[int32](1)
	// The Job and its Pod are the record until the controller has read
	// the result; the withdrawal's deletion removes them.
	spec.TTLSecondsAfterFinished = nil
	// A generated selector: the template's would match other attempts.
	spec.Selector, spec.ManualSelector = nil, nil
	left := int64(deadline.Sub(now).Seconds())
	if left < 1 {
		left = 1
	}
	if spec.ActiveDeadlineSeconds == nil || *spec.ActiveDeadlineSeconds > left {
		spec.ActiveDeadlineSeconds = ptr.To(left)
	}
	pod := &spec.Template
	pod.Labels = merge(pod.Labels, map[string]string{executor.LabelWithdrawalUID: string(rw.UID), LabelTarget: hash})
	if pod.Spec.RestartPolicy == "" || pod.Spec.RestartPolicy == corev1.RestartPolicyAlways {
		pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	}
	env := []corev1.EnvVar{
		{Name: EnvRegion, Value: rw.Spec.Region},
		{Name: EnvCutoff, Value: rw.Spec.Cutoff.UTC().Format(time.RFC3339)},
		{Name: EnvTarget, Value: t.Key},
		{Name: EnvTargetNamespace, Value: t.Namespace},
		{Name: EnvTargetName, Value: t.Name},
		{Name: EnvExportID, Value: ExportID(rw, hash)},
		{Name: EnvAttempt, Value: strconv.Itoa(attempt)},
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		// Ours come first so the template's own variables may refer to
		// them as $(WITHDRAWAL_TARGET); a template variable of the same
		// name is replaced, since the controller's value is the truth.
		c.Env = append(slices.Clone(env), slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool {
			return slices.ContainsFunc(env, func(o corev1.EnvVar) bool { return o.Name == e.Name })
		})...)
	}
	c := &pod.Spec.Containers[exporterIndex(pod.Spec.Containers)]
	c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	return job, nil
}

func exporterIndex(cs []corev1.Container) int {
	for i, c := range cs {
		if c.Name == exporterContainer {
			return i
		}
	}
	return 0
}

var _ executor.SpecChecker = (*Executor)(nil)

// CheckSpec refuses a Job template that could never make a Job the export
// counts (one without containers, or one that sets the operator's own
// keys) or that makes a pod the installation does not allow (PodPolicy),
// and handoff links on an installation that has no endpoint to
// serve them: the notices would carry links that lead nowhere.
func (e *Executor) CheckSpec(rw *v1.RegionWithdrawal) error {
	ex := rw.Spec.Export
	if ex == nil {
		return nil
	}
	if ex.Handoff != nil && e.Handoff == nil {
		return &planner.SpecError{Field: "spec.export.handoff", Err: handoff.ErrNoEndpoint, Step: v1.StepExport}
	}
	err := templateProblem(&ex.JobTemplate)
	if err == nil {
		err = e.Pods.Check(&ex.JobTemplate.Spec.Template.Spec)
	}
	if err == nil {
		return nil
	}
	return &planner.SpecError{Field: "spec.export.jobTemplate", Err: err, Step: v1.StepExport}
}

// templateProblem says what makes a template unusable, or nil.
func templateProblem(tmpl *batchv1.JobTemplateSpec) error {
	if len(tmpl.Spec.Template.Spec.Containers) == 0 {
		return fmt.Errorf("%w: spec.export.jobTemplate.spec.template.spec.containers is empty", ErrInvalidTemplate)
	}
	return reservedKeys(tmpl)
}

// reservedPrefix marks the labels and annotations the operator writes on
// its Jobs and Pods: which withdrawal and target a Job is for, and its
// verdict. A template that set them could pass a Job off as verified.
const reservedPrefix = "withdrawal.ops.dev/"

// reservedKeys refuses a template that sets any of the operator's own
// labels or annotations, on the Job or on its Pods.
func reservedKeys(tmpl *batchv1.JobTemplateSpec) error {
	for where, m := range map[string]map[string]string{
		"metadata.labels":                    tmpl.Labels,
		"metadata.annotations":               tmpl.Annotations,
		"spec.template.metadata.labels":      tmpl.Spec.Template.Labels,
		"spec.template.metadata.annotations": tmpl.Spec.Template.Annotations,
	} {
		for k := range m {
			if strings.HasPrefix(k, reservedPrefix) {
				return fmt.Errorf("%w: spec.export.jobTemplate.%s sets %q; keys under %s are the operator's own", ErrInvalidTemplate, where, k, reservedPrefix)
			}
		}
	}
	return nil
}

func merge(base, over map[string]string) map[string]string {
	out := make(map[string]string, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// labelValue fits a name into a label value (63 characters).
func labelValue(s string) string {
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-_.")
	}
	return s
}
