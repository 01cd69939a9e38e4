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

// Package hashset keeps large sets of 64-bit hashes, and maps keyed by
// them, in about a tenth of the memory a Go map takes for each.
//
// A notice to a million recipients keeps several such sets for its whole
// run (whom it delivered to, who was told, which statements the ledger
// holds, which ids a walk has seen). As Go maps they cost 27 to 58 bytes a
// hash each, the most of an operator's memory at a million. Here, the keys
// are a sorted slice (8 bytes each, plus the value) and the keys added
// since the last merge a small map, merged into the slice once it holds
// an eighth as many: an addition costs a few slice copies' worth of work
// on average, a look-up a binary search.
package hashset

import (
	"slices"
)

// minRecent is how many keys the map of recent ones holds before a merge
// at the least: small sets stay plain maps.
const minRecent = 4096

// Map maps 64-bit hashes to values of V. The zero Map is empty and ready
// to use. A Map is not safe for concurrent use.
type Map[V any] struct {
	// keys are sorted, and vals[i] is keys[i]'s value.
	keys []uint64
	vals []V
	// recent holds the keys added since the last merge; none of them is
	// in keys.
	recent map[uint64]V
}

// Len is the number of keys.
func (m *Map[V]) Len() int { return len(m.keys) + len(m.recent) }

// Get returns k's value, and whether k is in m.
func (m *Map[V]) Get(k uint64) (V, bool) {
	if v, ok := m.recent[k]; ok {
		return v, true
	}
	if i, ok := slices.BinarySearch(m.keys, k); ok {
		return m.vals[i], true
	}
	var zero V
	return zero, false
}

// Has says whether k is in m.
func (m *Map[V]) Has(k uint64) bool {
	_, ok := m.Get(k)
	return ok
}

// Put sets k's value to v.
func (m *Map[V]) Put(k uint64, v V) {
	if i, ok := slices.BinarySearch(m.keys, k); ok {
		m.vals[i] = v
		return
	}
	if m.recent == nil {
		m.recent = map[uint64]V{}
	}
	m.recent[k] = v
	if len(m.recent) >= max(minRecent, len(m.keys)/8) {
		m.merge()
	}
}

// Delete removes k. Removing a merged key moves the keys after it: it is
// for the rare case (taking back what a failed write recorded), not for
// churn.
func (m *Map[V]) Delete(k uint64) {
	if _, ok := m.recent[k]; ok {
		delete(m.recent, k)
		return
	}
	if i, ok := slices.BinarySearch(m.keys, k); ok {
		m.keys = slices.Delete(m.keys, i, i+1)
		m.vals = slices.Delete(m.vals, i, i+1)
	}
}

// All calls fn for every key and its value, in no particular order, until
// fn returns false.
func (m *Map[V]) All(fn func(k uint64, v V) bool) {
	for i, k := range m.keys {
		if !fn(k, m.vals[i]) {
			return
		}
	}
	for k, v := range m.recent {
		if !fn(k, v) {
			return
		}
	}
}

// merge moves the recent keys into the sorted slice, merging from the
// back so that the slice grows once, in place.
func (m *Map[V]) merge() {
	add := make([]uint64, 0, len(m.recent))
	for k := range m.recent {
		add = append(add, k)
	}
	slices.Sort(add)
	n, j := len(m.keys), len(add)
	m.keys = slices.Grow(m.keys, j)[:n+j]
	m.vals = slices.Grow(m.vals, j)[:n+j]
	for i, w := n-1, n+j-1; j > 0; w-- {
		if i >= 0 && m.keys[i] > add[j-1] {
			m.keys[w], m.vals[w] = m.keys[i], m.vals[i]
			i--
			continue
		}
		j--
		m.keys[w], m.vals[w] = add[j], m.recent[add[j]]
	}
	clear(m.recent)
}

// Set is a set of 64-bit hashes. The zero Set is empty and ready to use.
type Set struct{ m Map[struct{}] }

// Add puts k in s.
func (s *Set) Add(k uint64) { s.m.Put(k, struct{}{}) }

// Has says whether k is in s.
func (s *Set) Has(k uint64) bool { return s.m.Has(k) }

// Delete removes k from s.
func (s *Set) Delete(k uint64) { s.m.Delete(k) }

// Len is the number of keys in s.
func (s *Set) Len() int { return s.m.Len() }
