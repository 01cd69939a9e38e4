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

package handoff

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
)

// Service is what the manager knows of the installation's handoff
// endpoint: how to make a customer's link, and where the endpoint records
// who fetched. A nil *Service is an installation without the endpoint.
type Service struct {
	Links
	// Reader reads the fetch records as the operator itself: they live in
	// the installation's namespace, where no withdrawal's ServiceAccount
	// may write.
	Reader client.Reader
	// Namespace is the installation's namespace.
	Namespace string
	// Records, when set, is a cache of the fetch records alone, whose
	// changes wake the withdrawal they belong to (see Watch).
	Records cache.Cache
	// Publisher, when set, publishes the link indexes the endpoint serves.
	Publisher *Publisher
}

// PublishLinks publishes rw's link index; artifacts is read only when the
// links may have changed.
func (s *Service) PublishLinks(ctx context.Context, rw *v1.RegionWithdrawal, artifacts func() (map[string]v1.ExportArtifact, error)) error {
	if s == nil || s.Publisher == nil {
		return nil
	}
	return s.Publisher.Publish(ctx, rw, artifacts)
}

// RemoveLinks deletes the link index of the withdrawal with this UID.
func (s *Service) RemoveLinks(ctx context.Context, uid types.UID) error {
	if s == nil || s.Publisher == nil {
		return nil
	}
	return s.Publisher.Remove(ctx, uid)
}

// ErrNoEndpoint is why a withdrawal that asks for handoff links stalls on
// an installation without the endpoint.
var ErrNoEndpoint = errors.New("this installation has no handoff endpoint: install the chart with handoff.enabled=true and handoff.publicURL (the manager's --handoff-url), or remove spec.export.handoff")

// Enabled reports whether the withdrawal asks for handoff links.
func Enabled(rw *v1.RegionWithdrawal) bool {
	return rw.Spec.Export != nil && rw.Spec.Export.Handoff != nil
}

// CustomerLink is the customer's link in rw and its expiry; "" without
// the endpoint or when rw asks for no links.
func (s *Service) CustomerLink(rw *v1.RegionWithdrawal, customer string) (string, time.Time) {
	if s == nil {
		return "", time.Time{}
	}
	return s.Link(rw, customer)
}

// Fetches reads the withdrawal's fetch records, in one list.
func (s *Service) Fetches(ctx context.Context, rw *v1.RegionWithdrawal) (Fetches, error) {
	if s == nil {
		return Fetches{}, nil
	}
	return ReadFetches(ctx, s.Reader, s.Namespace, rw.UID)
}

// NewRecordsCache is a cache of the fetch records in namespace ns and
// nothing else: the manager's own cache holds no ConfigMaps (recipient
// lists and checkpoints are read uncached), and must not start holding
// every ConfigMap in the cluster to see these.
func NewRecordsCache(cfg *rest.Config, scheme *runtime.Scheme, ns string) (cache.Cache, error) {
	return cache.New(cfg, cache.Options{
		Scheme:               scheme,
		DefaultNamespaces:    map[string]cache.Config{ns: {}},
		DefaultLabelSelector: labels.SelectorFromSet(labels.Set{LabelRecord: RecordFetches}),
		ByObject:             map[client.Object]cache.ByObject{&corev1.ConfigMap{}: {}},
	})
}

// Watch wakes a withdrawal when its fetch records change, so that its
// status counts the fetches without polling. It is empty without Records.
func (s *Service) Watch() []executor.Watch {
	if s == nil || s.Records == nil {
		return nil
	}
	return []executor.Watch{{Object: &corev1.ConfigMap{}, Cache: s.Records, Map: MapRecord}}
}

// MapRecord maps a fetch record to its withdrawal.
func MapRecord(_ context.Context, obj client.Object) []reconcile.Request {
	ann := obj.GetAnnotations()
	if obj.GetLabels()[LabelRecord] != RecordFetches || ann[AnnotationWithdrawalName] == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ann[AnnotationWithdrawalNamespace], Name: ann[AnnotationWithdrawalName]}}}
}

// Count is what a withdrawal's status says of its links: links is how
// many customers have one.
func (s *Service) Count(rw *v1.RegionWithdrawal, links int32, fs Fetches) *v1.HandoffStatus {
	st := &v1.HandoffStatus{Links: links}
	st.Fetched = int32(min(len(fs), int(links)))
	st.NotFetched = links - st.Fetched
	if last := fs.Last(); !last.IsZero() {
		t := metav1.NewTime(last)
		st.LastFetchAt = &t
	}
	exp := metav1.NewTime(Expiry(rw, s.MaxExpiry))
	st.ExpiresAt = &exp
	return st
}
