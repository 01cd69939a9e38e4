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

// Package keysecret keeps the installation's own keys (the handoff link
// key, the evidence signing key) in Secrets of its namespace, created with
// random bytes on first start.
package keysecret

import (
	"context"
	"crypto/rand"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DataKey is the key of the Secret's data that holds the key.
const DataKey = "key"

// Size is how many random bytes a new key has.
const Size = 32

// Ensure reads the key from the Secret ns/name, creating the Secret with a
// random key if there is none. Two processes racing to create it read the
// one that won. component labels what the key is for.
func Ensure(ctx context.Context, c client.Client, ns, name, component string) ([]byte, error) {
	for range 3 {
		k, err := Read(ctx, c, ns, name)
		if !apierrors.IsNotFound(err) {
			return k, err
		}
		key := make([]byte, Size)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
				Labels: map[string]string{"app.kubernetes.io/name": "region-withdrawal-operator", "app.kubernetes.io/component": component}},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{DataKey: key},
		}
		err = c.Create(ctx, s)
		if err == nil {
			return key, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating the %s key Secret %s/%s: %w", component, ns, name, err)
		}
	}
	return nil, fmt.Errorf("the %s key Secret %s/%s keeps disappearing", component, ns, name)
}

// Read reads the key from the Secret ns/name.
func Read(ctx context.Context, r client.Reader, ns, name string) ([]byte, error) {
	var s corev1.Secret
	if err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
		return nil, err
	}
	k := s.Data[DataKey]
	if len(k) < Size {
		return nil, fmt.Errorf("the key Secret %s/%s: key %q holds %d bytes; want at least %d", ns, name, DataKey, len(k), Size)
	}
	return k, nil
}
