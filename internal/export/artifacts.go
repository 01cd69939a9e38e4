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
	"fmt"
	"maps"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
)

// ArtifactConfigMapName is the ConfigMap that holds the artifacts of the
// targets whose hash starts with shard (one hex digit): sixteen ConfigMaps
// of up to 1 MiB each hold tens of thousands of artifacts.
func ArtifactConfigMapName(rw *v1.RegionWithdrawal, shard byte) string {
	return fmt.Sprintf("%s-export-artifacts-%c", namePrefix(rw.Name), shard)
}

// syncArtifactConfigMaps writes every verified artifact into the owned
// ConfigMaps once there are more than status lists. It is skipped while
// status says the ConfigMaps already hold them all; the Jobs' annotations
// are the source, so a crash before the status write only means the next
// call checks the ConfigMaps again and finds nothing to add.
func (e *Executor) syncArtifactConfigMaps(ctx context.Context, rw *v1.RegionWithdrawal, states []*targetState, st *v1.ExportStatus) error {
	if st.Verified <= MaxStatusArtifacts || st.ArtifactsInConfigMaps == st.Verified {
		return nil
	}
	shards := map[byte]map[string]string{}
	for _, s := range states {
		a := s.verified()
		if a == nil {
			continue
		}
		b, err := json.Marshal(artifactOf(s, a))
		if err != nil {
			return err
		}
		if shards[s.hash[0]] == nil {
			shards[s.hash[0]] = map[string]string{}
		}
		shards[s.hash[0]][s.hash] = string(b)
	}
	var names []string
	for shard, data := range shards {
		name := ArtifactConfigMapName(rw, shard)
		names = append(names, name)
		if err := e.ensureEntries(ctx, rw, name, nil, data); err != nil {
			return err
		}
	}
	slices.Sort(names)
	st.ArtifactConfigMaps, st.ArtifactsInConfigMaps = names, st.Verified
	return nil
}

// ensureEntries sets the keys of data in a ConfigMap, creating it with
// the withdrawal's labels and any extra. With the evidence ledger on, the
// whole ConfigMap is signed again with each write (signRecords): it is in
// the withdrawal's namespace, where others may write, and what it holds
// (where each customer's archive is) goes into notices and redirects. The
// write carries the resourceVersion it read; a conflict is tried again.
func (e *Executor) ensureEntries(ctx context.Context, rw *v1.RegionWithdrawal, name string, extra map[string]string, data map[string]string) error {
	for range 5 {
		var cm corev1.ConfigMap
		err := e.reader().Get(ctx, client.ObjectKey{Namespace: rw.Namespace, Name: name}, &cm)
		if apierrors.IsNotFound(err) {
			cm = corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{
					Name: name, Namespace: rw.Namespace,
					Labels:          withLabels(map[string]string{LabelWithdrawal: labelValue(rw.Name), executor.LabelWithdrawalUID: string(rw.UID)}, extra),
					OwnerReferences: []metav1.OwnerReference{executor.OwnerReference(rw)},
				},
				Data: maps.Clone(data),
			}
			e.signRecords(rw, &cm)
			err = e.Client.Create(ctx, &cm)
			if apierrors.IsAlreadyExists(err) {
				continue // created meanwhile by an earlier run: add to it
			}
			if err != nil {
				return fmt.Errorf("creating ConfigMap %s: %w", name, err)
			}
			return nil
		} else if err != nil {
			return fmt.Errorf("reading ConfigMap %s: %w", name, err)
		}
		// Never sign over entries someone else put in: signing the merge
		// would make theirs the operator's.
		if err := CheckRecords(rw, &cm); e.Evidence != nil && err != nil {
			return err
		}
		changed := false
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		for k, v := range data {
			if cm.Data[k] != v {
				cm.Data[k], changed = v, true
			}
		}
		if !changed && (e.Evidence == nil || cm.Annotations[AnnotationRecordsSignature] != "") {
			return nil
		}
		e.signRecords(rw, &cm)
		err = e.Client.Update(ctx, &cm)
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("writing %d entries to ConfigMap %s: %w", len(data), name, err)
		}
		return nil
	}
	return fmt.Errorf("ConfigMap %s kept changing while the export step wrote it", name)
}

// AnnotationRecordsSignature signs an export record ConfigMap: the
// operator's evidence key over the withdrawal's UID, the ConfigMap's name
// and every key and value, in key order.
const AnnotationRecordsSignature = "withdrawal.ops.dev/records-signature"

func recordsMessage(rw *v1.RegionWithdrawal, cm *corev1.ConfigMap) []byte {
	parts := []string{string(rw.UID), cm.Name}
	for _, k := range slices.Sorted(maps.Keys(cm.Data)) {
		parts = append(parts, k, cm.Data[k])
	}
	return evidence.RecordMessage(parts...)
}

// signRecords signs cm's data, with the ledger on.
func (e *Executor) signRecords(rw *v1.RegionWithdrawal, cm *corev1.ConfigMap) {
	if e.Evidence == nil {
		return
	}
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[AnnotationRecordsSignature] = e.Evidence.SignRecord(recordsMessage(rw, cm))
}

// CheckRecords checks that the operator wrote cm: its signature by the
// key in the withdrawal's status.evidence (which only the operator
// writes). A withdrawal without an evidence ledger has no key, and its
// records are taken as they are.
func CheckRecords(rw *v1.RegionWithdrawal, cm *corev1.ConfigMap) error {
	ev := rw.Status.Evidence
	if ev == nil || ev.Key == "" {
		return nil
	}
	if err := evidence.VerifyRecord(ev.Key, recordsMessage(rw, cm), cm.Annotations[AnnotationRecordsSignature]); err != nil {
		return fmt.Errorf("the export records in ConfigMap %s/%s were changed by someone other than the operator (%w): not used", cm.Namespace, cm.Name, err)
	}
	return nil
}

// CreatedJobsConfigMapName is the ConfigMap that records the export Jobs
// this withdrawal created, by UID, in the withdrawal's own namespace. Only
// the Jobs it lists count: anyone who may create Jobs in a selected
// namespace could label one as this withdrawal's.
func CreatedJobsConfigMapName(rw *v1.RegionWithdrawal) string {
	return fmt.Sprintf("%s-export-jobs", namePrefix(rw.Name))
}

// jobRecordKey names a Job in the record: ConfigMap keys allow dots, which
// namespace and Job names (DNS labels) do not contain.
func jobRecordKey(job *batchv1.Job) string { return job.Namespace + "." + job.Name }

// createdJobs reads the record: Job key to UID.
func (e *Executor) createdJobs(ctx context.Context, rw *v1.RegionWithdrawal) (map[string]string, error) {
	var cm corev1.ConfigMap
	err := e.reader().Get(ctx, client.ObjectKey{Namespace: rw.Namespace, Name: CreatedJobsConfigMapName(rw)}, &cm)
	switch {
	case apierrors.IsNotFound(err):
		return map[string]string{}, nil
	case err != nil:
		return nil, fmt.Errorf("reading the record of created export Jobs: %w", err)
	case cm.Labels[executor.LabelWithdrawalUID] != string(rw.UID):
		// Left by an earlier withdrawal of the same name: none of its Jobs
		// are this one's.
		return map[string]string{}, nil
	}
	return cm.Data, nil
}

// recordCreated adds created Jobs to the record.
func (e *Executor) recordCreated(ctx context.Context, rw *v1.RegionWithdrawal, created []*batchv1.Job) error {
	if len(created) == 0 {
		return nil
	}
	data := make(map[string]string, len(created))
	for _, j := range created {
		data[jobRecordKey(j)] = e.recordValue(j)
	}
	return e.ensureEntries(ctx, rw, CreatedJobsConfigMapName(rw), nil, data)
}

// recordedJobs lists the withdrawal's export Jobs that it recorded creating.
func (e *Executor) recordedJobs(ctx context.Context, rw *v1.RegionWithdrawal) ([]batchv1.Job, error) {
	record, err := e.createdJobs(ctx, rw)
	if err != nil {
		return nil, err
	}
	jobs, err := e.listJobs(ctx, rw)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(jobs, func(j batchv1.Job) bool { return !e.recorded(record, &j) }), nil
}

// Artifacts returns every verified export of the withdrawal, for the
// notify step's templates: keyed by the recipient the exporter named, or
// by the target (such as "Namespace/acme") for an artifact that names
// none. With no more than MaxStatusArtifacts they are all in status; with
// more, it reads the ConfigMaps status names (at most 16), and the
// customer ConfigMaps when manifests gave customers their own archives
// (CustomerShards), through reader, which must read as the withdrawal's
// ServiceAccount. Status is read as well, so an
// artifact verified since the ConfigMaps were last brought up to date is
// not missed.
func Artifacts(ctx context.Context, reader client.Reader, rw *v1.RegionWithdrawal) (map[string]v1.ExportArtifact, error) {
	out := map[string]v1.ExportArtifact{}
	add := func(a v1.ExportArtifact) {
		key := a.Recipient
		if key == "" {
			key = a.Target
		}
		if _, dup := out[key]; !dup {
			out[key] = a
		}
	}
	for _, s := range rw.Status.Steps {
		if s.Name != v1.StepExport || s.Export == nil {
			continue
		}
		for _, a := range s.Export.Artifacts {
			add(a)
		}
		for _, name := range s.Export.ArtifactConfigMaps {
			var cm corev1.ConfigMap
			if err := reader.Get(ctx, client.ObjectKey{Namespace: rw.Namespace, Name: name}, &cm); err != nil {
				return nil, fmt.Errorf("reading the export artifacts in ConfigMap %s: %w", name, err)
			}
			if err := addArtifacts(rw, &cm, add); err != nil {
				return nil, err
			}
		}
		if s.Export.Customers > 0 {
			// One list for all 256 shards, not a read of each.
			var list corev1.ConfigMapList
			if err := reader.List(ctx, &list, client.InNamespace(rw.Namespace),
				client.MatchingLabels{executor.LabelWithdrawalUID: string(rw.UID), LabelRecord: RecordCustomers}); err != nil {
				return nil, fmt.Errorf("listing the customers' export ConfigMaps: %w", err)
			}
			shards := map[string]bool{}
			for shard := range CustomerShards {
				shards[CustomerConfigMapName(rw, shard)] = true
			}
			for i := range list.Items {
				if !shards[list.Items[i].Name] {
					continue // labelled like one, but not a name the step writes
				}
				if err := addArtifacts(rw, &list.Items[i], func(a v1.ExportArtifact) {
					// Read back, an archive counts once it matched.
					if a.VerifiedAt != nil || !Rereads(rw) {
						add(a)
					}
				}); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

// addArtifacts calls add with each artifact a ConfigMap holds. One not
// labelled with this withdrawal's UID (left by an earlier one of the same
// name, or made by someone else) is not trusted.
func addArtifacts(rw *v1.RegionWithdrawal, cm *corev1.ConfigMap, add func(v1.ExportArtifact)) error {
	if cm.Labels[executor.LabelWithdrawalUID] != string(rw.UID) {
		return nil
	}
	if err := CheckRecords(rw, cm); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(cm.Data)) {
		var a v1.ExportArtifact
		if err := json.Unmarshal([]byte(cm.Data[k]), &a); err != nil {
			return fmt.Errorf("ConfigMap %s, key %s: %w", cm.Name, k, err)
		}
		add(a)
	}
	return nil
}

// withLabels is base with extra added.
func withLabels(base, extra map[string]string) map[string]string {
	maps.Copy(base, extra)
	return base
}
