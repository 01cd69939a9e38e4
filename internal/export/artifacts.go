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
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
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
		if err := e.ensureEntries(ctx, rw, name, data); err != nil {
			return err
		}
	}
	slices.Sort(names)
	st.ArtifactConfigMaps, st.ArtifactsInConfigMaps = names, st.Verified
	return nil
}

// ensureEntries adds the missing keys of data to a ConfigMap, creating it.
func (e *Executor) ensureEntries(ctx context.Context, rw *v1.RegionWithdrawal, name string, data map[string]string) error {
	var cm corev1.ConfigMap
	err := e.reader().Get(ctx, client.ObjectKey{Namespace: rw.Namespace, Name: name}, &cm)
	if apierrors.IsNotFound(err) {
		cm = corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name: name, Namespace: rw.Namespace,
				Labels:          map[string]string{LabelWithdrawal: labelValue(rw.Name), executor.LabelWithdrawalUID: string(rw.UID)},
				OwnerReferences: []metav1.OwnerReference{executor.OwnerReference(rw)},
			},
			Data: data,
		}
		err = e.Client.Create(ctx, &cm)
		if err == nil {
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating artifact ConfigMap %s: %w", name, err)
		}
		// Created meanwhile by an earlier run: add to it below.
		if err := e.reader().Get(ctx, client.ObjectKey{Namespace: rw.Namespace, Name: name}, &cm); err != nil {
			return fmt.Errorf("reading artifact ConfigMap %s: %w", name, err)
		}
	} else if err != nil {
		return fmt.Errorf("reading artifact ConfigMap %s: %w", name, err)
	}
	missing := map[string]string{}
	for k, v := range data {
		if cm.Data[k] != v {
			missing[k] = v
		}
	}
	if len(missing) == 0 {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"data": missing})
	if err != nil {
		return err
	}
	if err := e.Client.Patch(ctx, &cm, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("adding %d artifacts to ConfigMap %s: %w", len(missing), name, err)
	}
	return nil
}
