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

package drain

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
)

// A HorizontalPodAutoscaler aimed at a drained workload would scale it back
// up, and one cannot be told to hold a workload at zero (minReplicas is at
// least 1 unless a feature gate is on). So it is set aside: its metadata
// and spec are written to a ConfigMap owned by the withdrawal, and then it
// is deleted. Cancel creates it again from that record, exactly.
const (
	// executor.LabelRecord says what a record ConfigMap holds.
	// RecordAutoscaler is the executor.LabelRecord value of a set-aside HPA.
	RecordAutoscaler = "autoscaler"
	// autoscalerKey is the ConfigMap key of the HPA's JSON.
	autoscalerKey = "autoscaler.json"
)

// autoscalerRecordName is the ConfigMap name of an HPA's record: derived
// from the withdrawal and the HPA, so that a second attempt finds the first
// one's record (AlreadyExists) instead of writing another.
func autoscalerRecordName(rw *v1.RegionWithdrawal, hpa *autoscalingv2.HorizontalPodAutoscaler) string {
	sum := sha256.Sum256([]byte(string(rw.UID) + "/HorizontalPodAutoscaler/" + hpa.Namespace + "/" + hpa.Name))
	return "rwo-hpa-" + hex.EncodeToString(sum[:])[:20]
}

// targets reports whether hpa scales w.
func hpaTargets(hpa *autoscalingv2.HorizontalPodAutoscaler, w workload) bool {
	ref := hpa.Spec.ScaleTargetRef
	return hpa.Namespace == w.ref.Namespace && ref.Kind == w.ref.Kind && ref.Name == w.ref.Name &&
		(ref.APIVersion == "apps/v1" || ref.APIVersion == "")
}

// setAside records hpa in a ConfigMap and then deletes it. If the process
// dies between the two, the next call finds the record (AlreadyExists) and
// deletes the HPA. A record is never overwritten: an HPA that reappears (a
// GitOps tool recreating it) is deleted again and the first record, the one
// from before the drain, is the one restored.
func (e *Executor) setAside(ctx context.Context, rw *v1.RegionWithdrawal, hpa *autoscalingv2.HorizontalPodAutoscaler) error {
	keep := autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: metav1.ObjectMeta{
			Name: hpa.Name, Namespace: hpa.Namespace,
			Labels: hpa.Labels, Annotations: hpa.Annotations,
		},
		Spec: hpa.Spec,
	}
	raw, err := json.Marshal(keep)
	if err != nil {
		return fmt.Errorf("encoding HorizontalPodAutoscaler %s/%s: %w", hpa.Namespace, hpa.Name, err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: executor.RecordMeta(ctx, rw, autoscalerRecordName(rw, hpa), RecordAutoscaler), Data: map[string]string{autoscalerKey: string(raw)}}
	if err := e.Client.Create(ctx, cm); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("recording HorizontalPodAutoscaler %s/%s: %w", hpa.Namespace, hpa.Name, err)
	}
	// Preconditions: delete the HPA that was recorded, not a newer one.
	if err := e.Client.Delete(ctx, hpa, client.Preconditions{UID: &hpa.UID}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("setting HorizontalPodAutoscaler %s/%s aside: %w", hpa.Namespace, hpa.Name, err)
	}
	return nil
}

// restoreAutoscalers recreates every HPA the withdrawal set aside. An HPA
// that exists already (restored before a crash, or recreated by someone
// else) is left alone.
func (e *Executor) restoreAutoscalers(ctx context.Context, rw *v1.RegionWithdrawal) (int, error) {
	var list corev1.ConfigMapList
	if err := e.apiReader().List(ctx, &list, client.InNamespace(rw.Namespace),
		client.MatchingLabels{executor.LabelWithdrawalUID: string(rw.UID), executor.LabelRecord: RecordAutoscaler}); err != nil {
		return 0, fmt.Errorf("listing HorizontalPodAutoscaler records: %w", err)
	}
	n := 0
	for _, cm := range list.Items {
		var hpa autoscalingv2.HorizontalPodAutoscaler
		if err := json.Unmarshal([]byte(cm.Data[autoscalerKey]), &hpa); err != nil {
			return n, fmt.Errorf("decoding the record %s/%s: %w", cm.Namespace, cm.Name, err)
		}
		hpa.ResourceVersion, hpa.UID = "", ""
		if err := e.Client.Create(ctx, &hpa); err != nil && !apierrors.IsAlreadyExists(err) {
			return n, fmt.Errorf("restoring HorizontalPodAutoscaler %s/%s: %w", hpa.Namespace, hpa.Name, err)
		}
		n++
	}
	return n, nil
}

var _ executor.Finalizer = (*Executor)(nil)

// Finalize runs when the withdrawal is deleted. Once its changes are
// settled (completed, or cancelled and restored) the HPA records go; until
// then they stay, so that `kubectl withdrawal restore` can still put the
// autoscalers back after the withdrawal is gone.
func (e *Executor) Finalize(ctx context.Context, rw *v1.RegionWithdrawal) error {
	if !executor.NothingToRestore(rw) {
		return nil
	}
	return executor.DeleteRecords(ctx, e.apiReader(), e.Client, rw.Namespace, rw.UID, RecordAutoscaler)
}
