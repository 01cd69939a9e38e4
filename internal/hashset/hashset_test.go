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

package hashset

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestMapAgreesWithAGoMap puts, deletes and reads random keys from a
// small range (so that keys repeat, across merges) and checks every answer
// against a Go map doing the same.
func TestMapAgreesWithAGoMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var m Map[int]
	want := map[uint64]int{}
	for i := range 200_000 {
		k := rng.Uint64N(50_000)
		switch op := rng.IntN(10); {
		case op < 6:
			m.Put(k, i)
			want[k] = i
		case op < 7:
			m.Delete(k)
			delete(want, k)
		default:
			v, ok := m.Get(k)
			w, wok := want[k]
			if ok != wok || v != w {
				t.Fatalf("step %d: Get(%d) = %d, %v; want %d, %v", i, k, v, ok, w, wok)
			}
		}
		if m.Len() != len(want) {
			t.Fatalf("step %d: Len() = %d, want %d", i, m.Len(), len(want))
		}
	}
	seen := map[uint64]bool{}
	m.All(func(k uint64, v int) bool {
		if seen[k] {
			t.Fatalf("All gave %d twice", k)
		}
		seen[k] = true
		if want[k] != v {
			t.Fatalf("All gave %d = %d, want %d", k, v, want[k])
		}
		return true
	})
	if len(seen) != len(want) {
		t.Fatalf("All gave %d keys, want %d", len(seen), len(want))
	}
	for i := 1; i < len(m.keys); i++ {
		if m.keys[i-1] >= m.keys[i] {
			t.Fatalf("merged keys out of order at %d", i)
		}
	}
}

func TestSet(t *testing.T) {
	var s Set
	for k := range uint64(10_000) {
		s.Add(k * 7)
	}
	s.Add(7) // again
	s.Delete(14)
	if s.Len() != 9_999 || !s.Has(7) || s.Has(14) || s.Has(8) || !s.Has(69_993) {
		t.Fatalf("Len %d, Has(7) %v, Has(14) %v, Has(8) %v, Has(69993) %v", s.Len(), s.Has(7), s.Has(14), s.Has(8), s.Has(69_993))
	}
}

// BenchmarkSetOfAMillion adds a million random hashes and reports the
// heap each one takes, against a map[uint64]struct{} of the same keys.
func BenchmarkSetOfAMillion(b *testing.B) {
	const n = 1_000_000
	keys := make([]uint64, n)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range keys {
		keys[i] = rng.Uint64()
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var setBytes, mapBytes float64
	for b.Loop() {
		before := heap()
		var s Set
		for _, k := range keys {
			s.Add(k)
		}
		setBytes = float64(heap()-before) / n
		runtime.KeepAlive(&s)
		before = heap()
		m := map[uint64]struct{}{}
		for _, k := range keys {
			m[k] = struct{}{}
		}
		mapBytes = float64(heap()-before) / n
		runtime.KeepAlive(m)
	}
	b.ReportMetric(setBytes, "set-bytes/key")
	b.ReportMetric(mapBytes, "map-bytes/key")
}
