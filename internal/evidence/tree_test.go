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

package evidence

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

func leaves(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "leaf %d", i)
	}
	return out
}

func TestStateRestoredAppendsLikeOneRun(t *testing.T) {
	all := leaves(37)
	var once State
	for _, l := range all {
		if err := once.Append(l); err != nil {
			t.Fatal(err)
		}
	}
	want, err := once.Root()
	if err != nil {
		t.Fatal(err)
	}
	hashes := HashesOf(all)
	if mem, _ := newMemTree(hashes).root(37); !bytes.Equal(mem, want) {
		t.Fatalf("state root %x, in-memory tree root %x", want, mem)
	}
	if r, _ := hashes.RootAt(37); !bytes.Equal(r, want) {
		t.Fatalf("state root %x, RootAt %x", want, r)
	}
	codecs := []struct {
		name    string
		encode  func(State) ([]byte, error)
		restore func([]byte, *State) error
	}{
		{name: "json", encode: func(s State) ([]byte, error) { return json.Marshal(s) },
			restore: func(b []byte, s *State) error { return json.Unmarshal(b, s) }},
		{name: "binary", encode: State.MarshalBinary, restore: func(b []byte, s *State) error { return s.UnmarshalBinary(b) }},
	}
	for _, c := range codecs {
		for _, split := range []int{0, 1, 16, 21, 36} {
			t.Run(fmt.Sprintf("%s/stored at %d", c.name, split), func(t *testing.T) {
				var first State
				for _, l := range all[:split] {
					if err := first.Append(l); err != nil {
						t.Fatal(err)
					}
				}
				stored, err := c.encode(first)
				if err != nil {
					t.Fatal(err)
				}
				var restored State
				if err := c.restore(stored, &restored); err != nil {
					t.Fatal(err)
				}
				for _, l := range all[split:] {
					if err := restored.Append(l); err != nil {
						t.Fatal(err)
					}
				}
				got, err := restored.Root()
				if err != nil {
					t.Fatal(err)
				}
				if restored.Size != 37 || !bytes.Equal(got, want) {
					t.Errorf("size %d root %x, want 37 %x", restored.Size, got, want)
				}
				// A copy taken before appending (the state the controller
				// stored) keeps its value: appends do not write through.
				copied := first
				if err := first.Append(all[0]); err != nil {
					t.Fatal(err)
				}
				if again, _ := c.encode(copied); !bytes.Equal(again, stored) {
					t.Error("appending changed a copy of the state")
				}
			})
		}
	}
}

func TestAppendHashesIsAppendOneByOne(t *testing.T) {
	all := leaves(37)
	hashes := make([][]byte, len(all))
	for i, l := range all {
		hashes[i] = LeafHash(l)
	}
	for _, split := range []int{0, 1, 16, 21, 36, 37} {
		for _, step := range []int{1, 3, 16, 37} {
			var one, many State
			for _, l := range all[:split] {
				if err := one.Append(l); err != nil {
					t.Fatal(err)
				}
			}
			if err := many.AppendHashes(hashes[:split]...); err != nil {
				t.Fatal(err)
			}
			before, _ := many.MarshalBinary()
			copied := many
			for i := split; i < len(all); i += step {
				if err := many.AppendHashes(hashes[i:min(i+step, len(all))]...); err != nil {
					t.Fatal(err)
				}
			}
			for _, l := range all[split:] {
				if err := one.Append(l); err != nil {
					t.Fatal(err)
				}
			}
			a, _ := one.MarshalBinary()
			b, _ := many.MarshalBinary()
			if !bytes.Equal(a, b) {
				t.Errorf("split %d step %d: AppendHashes made %x, Append %x", split, step, b, a)
			}
			if again, _ := copied.MarshalBinary(); !bytes.Equal(again, before) {
				t.Errorf("split %d step %d: AppendHashes changed a copy of the state", split, step)
			}
		}
	}
	var s State
	if err := s.AppendHashes(hashes[0], []byte("short")); err == nil || s.Size != 0 {
		t.Errorf("a malformed hash: error %v, size %d", err, s.Size)
	}
}

func TestStateRejectsMalformed(t *testing.T) {
	tests := []struct {
		name    string
		restore func(*State) error
	}{
		{name: "binary too short", restore: func(s *State) error { return s.UnmarshalBinary([]byte{0, 1}) }},
		{name: "binary size without its hashes", restore: func(s *State) error {
			return s.UnmarshalBinary([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		}},
		{name: "json hash count", restore: func(s *State) error { return json.Unmarshal([]byte(`{"size":3,"hashes":[]}`), s) }},
		{name: "json hash length", restore: func(s *State) error {
			return json.Unmarshal([]byte(`{"size":1,"hashes":["AAAA"]}`), s)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.restore(&State{}); err == nil {
				t.Error("accepted a malformed state")
			}
		})
	}
}
