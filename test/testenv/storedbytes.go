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

package testenv

import (
	"context"
	"sync/atomic"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// StoredBytes is a client that counts what its creates and updates store
// in etcd: the protobuf of each object written, as the API server returns
// it, with its metadata (etcd adds a few bytes of its own per key).
type StoredBytes struct {
	client.Client
	Bytes, Writes atomic.Int64
}

func (s *StoredBytes) count(obj client.Object) {
	if p, ok := obj.(interface{ Size() int }); ok {
		s.Bytes.Add(int64(p.Size()))
	}
	s.Writes.Add(1)
}

// Create creates obj and counts it.
func (s *StoredBytes) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	err := s.Client.Create(ctx, obj, opts...)
	if err == nil {
		s.count(obj)
	}
	return err
}

// Update updates obj and counts it.
func (s *StoredBytes) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	err := s.Client.Update(ctx, obj, opts...)
	if err == nil {
		s.count(obj)
	}
	return err
}
