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

package webhook

import (
	"crypto/sha256"
	"net/http"
	"sync"

	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
)

// Transports keeps one guarded transport per CA bundle and concurrency, so
// that the connections to receivers outlive one call: a notice is sent in
// many calls (a batch or a time budget each), and a transport made per
// call would open, and TLS-handshake, up to concurrency connections to
// every receiver again in each. Receivers see fewer handshakes, and the
// operator spends less of its CPU on them.
//
// Every transport dials through the same egress policy, so sharing one
// between withdrawals that trust the same CA bundle reaches nothing that
// either could not reach alone; the policy is checked at each dial, and a
// connection is to one host. Idle connections close after the transport's
// idle timeout, and those of a transport evicted from the cache at once.
type Transports struct {
	policy *egress.Policy
	max    int

	mu    sync.Mutex
	tick  uint64
	byKey map[transportKey]*cachedTransport
}

type transportKey struct {
	ca          [sha256.Size]byte
	concurrency int
}

type cachedTransport struct {
	tr   *http.Transport
	used uint64
}

// NewTransports keeps up to max transports dialling through policy.
func NewTransports(policy *egress.Policy, max int) *Transports {
	return &Transports{policy: policy, max: max, byKey: map[transportKey]*cachedTransport{}}
}

// Get returns the transport for caBundle and concurrency, made on first
// use. A bundle that does not parse is an error each time.
func (t *Transports) Get(caBundle []byte, concurrency int) (*http.Transport, error) {
	k := transportKey{ca: sha256.Sum256(caBundle), concurrency: concurrency}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tick++
	if c, ok := t.byKey[k]; ok {
		c.used = t.tick
		return c.tr, nil
	}
	tr, err := Transport(caBundle, concurrency, t.policy)
	if err != nil {
		return nil, err
	}
	if len(t.byKey) >= t.max {
		t.evictOldest()
	}
	t.byKey[k] = &cachedTransport{tr: tr, used: t.tick}
	return tr, nil
}

// Len is the number of transports kept.
func (t *Transports) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byKey)
}

// evictOldest drops the transport used longest ago; t.mu is held. Its
// requests in flight finish; its idle connections close now.
func (t *Transports) evictOldest() {
	var oldest transportKey
	var found *cachedTransport
	for k, c := range t.byKey {
		if found == nil || c.used < found.used {
			oldest, found = k, c
		}
	}
	if found != nil {
		delete(t.byKey, oldest)
		found.tr.CloseIdleConnections()
	}
}
