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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ops-dev/region-withdrawal-operator/internal/export/result"
	"github.com/ops-dev/region-withdrawal-operator/internal/text"
)

// judge decides whether a finished Job produced a verified export and
// writes the judgement onto the Job. Until that write succeeds the Job is
// judged again on the next call, from the same Pod, to the same outcome.
func (e *Executor) judge(ctx context.Context, a *attempt) error {
	job := a.job
	var verdict map[string]string
	if c := jobCondition(job, batchv1.JobFailed); c != nil {
		reason := fmt.Sprintf("the Job failed (%s)", c.Reason)
		if c.Message != "" {
			reason += ": " + c.Message
		}
		a.failure = text.Truncate(reason, maxReason)
		verdict = map[string]string{AnnotationFailure: a.failure}
	} else {
		res, err := e.readResult(ctx, job)
		var refused error
		if err == nil {
			refused = e.AllowedOrigins.Check(res.Location)
		}
		switch {
		case refused != nil:
			// A result that puts the archive outside the installation's
			// store origins proves nothing was stored where it may be.
			a.failure = text.Truncate("the Job's result is refused: "+refused.Error(), maxReason)
			verdict = map[string]string{AnnotationFailure: a.failure}
		case err == nil:
			raw, merr := res.Marshal()
			if merr != nil {
				return merr // Parse validated it; Marshal cannot fail
			}
			a.verified = res
			verdict = map[string]string{AnnotationResult: string(raw), AnnotationVerifiedAt: e.now().UTC().Format(time.RFC3339)}
		case errors.Is(err, errTransient):
			return err
		default:
			// A Job that succeeded without a valid result is a failed
			// export: nothing proves the data was stored.
			a.failure = text.Truncate("the Job succeeded without a valid result: "+err.Error(), maxReason)
			verdict = map[string]string{AnnotationFailure: a.failure}
		}
	}
	// Every verdict key is written, the absent ones as null, so that a
	// forged key left from before is removed with the rest.
	for _, k := range []string{AnnotationResult, AnnotationVerifiedAt, AnnotationFailure} {
		if _, ok := verdict[k]; !ok {
			verdict[k] = ""
		}
	}
	e.sealVerdict(job, verdict)
	ann := map[string]any{}
	for k, v := range verdict {
		if v == "" && k != AnnotationVerdictMAC {
			ann[k] = nil
			continue
		}
		ann[k] = v
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
	if err != nil {
		return err
	}
	if err := e.Client.Patch(ctx, job, client.RawPatch(types.MergePatchType, patch)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("recording the verdict on export Job %s/%s: %w", job.Namespace, job.Name, err)
	}
	ctrl.LoggerFrom(ctx).Info("Judged export Job", "job", klog.KObj(job), "verified", a.verified != nil, "failure", a.failure)
	return nil
}

// errTransient wraps errors reading a result that a later call may not meet.
var errTransient = errors.New("transient")

// readResult finds the exporter container's termination message in the
// Job's Pods and parses it.
func (e *Executor) readResult(ctx context.Context, job *batchv1.Job) (*result.Result, error) {
	var pods corev1.PodList
	if err := e.reader().List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabels{jobNameLabel: job.Name}); err != nil {
		return nil, fmt.Errorf("%w: listing the Pods of export Job %s/%s: %w", errTransient, job.Namespace, job.Name, err)
	}
	name := job.Spec.Template.Spec.Containers[exporterIndex(job.Spec.Template.Spec.Containers)].Name
	// Newest first: with a backoff limit the Job may have run several
	// Pods, and the one that succeeded is the last.
	items := slices.Clone(pods.Items)
	slices.SortFunc(items, func(a, b corev1.Pod) int { return b.CreationTimestamp.Compare(a.CreationTimestamp.Time) })
	var lastErr error
	for _, pod := range items {
		if !ownedBy(&pod, job) {
			continue
		}
		if err := madeFromTemplate(&pod, job); err != nil {
			lastErr = err
			continue
		}
		for _, cs := range pod.Status.ContainerStatuses {
			t := cs.State.Terminated
			if cs.Name != name || t == nil || t.ExitCode != 0 {
				continue
			}
			res, err := result.Parse([]byte(t.Message))
			if err == nil {
				return res, nil
			}
			lastErr = fmt.Errorf("container %q of Pod %s: %w", name, pod.Name, err)
		}
	}
	if lastErr != nil {
		return nil, lastErr
	}
	return nil, fmt.Errorf("%w: no Pod of the Job has a container %q that exited 0", result.ErrMissing, name)
}

func ownedBy(pod *corev1.Pod, job *batchv1.Job) bool {
	for _, o := range pod.OwnerReferences {
		if o.UID == job.UID {
			return true
		}
	}
	// The Job controller always sets the owner reference; a Pod without
	// one is trusted by its job-name label only if it names this Job's UID.
	return len(pod.OwnerReferences) == 0 && pod.Labels["batch.kubernetes.io/controller-uid"] == string(job.UID)
}
