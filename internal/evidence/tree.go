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
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"slices"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

var (
	hasher  = rfc6962.DefaultHasher
	factory = &compact.RangeFactory{Hash: hasher.HashChildren}
)

// LeafHash is the RFC 6962 hash of a leaf (an envelope's bytes).
func LeafHash(leaf []byte) []byte { return hasher.HashLeaf(leaf) }

// State is the append state of a ledger: the compact range [0, Size), one
// hash per perfect subtree, at most 64 of them whatever the size. It is all
// the controller needs to store to append and sign the next checkpoint.
type State struct {
	Size   uint64   `json:"size"`
	Hashes [][]byte `json:"hashes"`
}

// Validate checks that s is a well-formed compact range.
func (s *State) Validate() error {
	if got, want := len(s.Hashes), bits.OnesCount64(s.Size); got != want {
		return fmt.Errorf("state of size %d has %d hashes, want %d", s.Size, got, want)
	}
	for i, h := range s.Hashes {
		if len(h) != hasher.Size() {
			return fmt.Errorf("state hash %d has %d bytes, want %d", i, len(h), hasher.Size())
		}
	}
	return nil
}

// Append adds leaf to the tree.
func (s *State) Append(leaf []byte) error { return s.AppendHash(LeafHash(leaf)) }

// AppendHash adds a leaf by its hash.
func (s *State) AppendHash(leafHash []byte) error {
	if len(leafHash) != hasher.Size() {
		return fmt.Errorf("leaf hash of %d bytes, want %d", len(leafHash), hasher.Size())
	}
	// compact.Range rewrites its hashes in place: work on a copy, so that a
	// copy of s taken before the append (the stored state) stays intact.
	r, err := factory.NewRange(0, s.Size, slices.Clone(s.Hashes))
	if err != nil {
		return fmt.Errorf("ledger state: %w", err)
	}
	if err := r.Append(leafHash, nil); err != nil {
		return fmt.Errorf("appending leaf %d: %w", s.Size, err)
	}
	s.Size, s.Hashes = r.End(), r.Hashes()
	return nil
}

// AppendHashes adds leaves by their hashes, in order: one compact range
// for all of them, where AppendHash makes one per leaf.
func (s *State) AppendHashes(leafHashes ...[]byte) error {
	for _, h := range leafHashes {
		if len(h) != hasher.Size() {
			return fmt.Errorf("leaf hash of %d bytes, want %d", len(h), hasher.Size())
		}
	}
	r, err := factory.NewRange(0, s.Size, slices.Clone(s.Hashes))
	if err != nil {
		return fmt.Errorf("ledger state: %w", err)
	}
	for _, h := range leafHashes {
		if err := r.Append(h, nil); err != nil {
			return fmt.Errorf("appending leaf %d: %w", r.End(), err)
		}
	}
	s.Size, s.Hashes = r.End(), r.Hashes()
	return nil
}

// Root is the RFC 6962 root hash of the tree.
func (s *State) Root() ([]byte, error) {
	if s.Size == 0 {
		return hasher.EmptyRoot(), nil
	}
	r, err := factory.NewRange(0, s.Size, s.Hashes)
	if err != nil {
		return nil, fmt.Errorf("ledger state: %w", err)
	}
	return r.GetRootHash(nil)
}

// MarshalBinary encodes s as its size (8 bytes, big-endian) then its hashes.
func (s State) MarshalBinary() ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 8+32*len(s.Hashes)), s.Size)
	for _, h := range s.Hashes {
		b = append(b, h...)
	}
	return b, nil
}

// UnmarshalBinary decodes MarshalBinary's encoding. The number of hashes
// follows from the size (at most 64), never from a count in the input.
func (s *State) UnmarshalBinary(b []byte) error {
	if len(b) < 8 {
		return fmt.Errorf("ledger state of %d bytes, want at least 8", len(b))
	}
	size := binary.BigEndian.Uint64(b)
	n := bits.OnesCount64(size)
	if len(b) != 8+n*hasher.Size() {
		return fmt.Errorf("ledger state of size %d has %d bytes, want %d", size, len(b), 8+n*hasher.Size())
	}
	hashes := make([][]byte, n)
	for i := range hashes {
		hashes[i] = slices.Clone(b[8+i*32 : 8+(i+1)*32])
	}
	s.Size, s.Hashes = size, hashes
	return nil
}

// UnmarshalJSON decodes and validates a stored state.
func (s *State) UnmarshalJSON(b []byte) error {
	type plain State
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("ledger state: %w", err)
	}
	if err := (*State)(&p).Validate(); err != nil {
		return err
	}
	*s = State(p)
	return nil
}

// memTree holds every perfect subtree hash of a tree in memory, each level
// one flat buffer of 32-byte hashes: about 64 bytes per leaf (64 MB for a
// million), to compute roots and proofs at any size.
type memTree struct{ levels [][]byte }

// newMemTree builds the tree over leafHashes, 32 bytes per leaf, in order.
func newMemTree(leafHashes []byte) *memTree {
	t := &memTree{levels: [][]byte{leafHashes}}
	for cur := leafHashes; len(cur) > hashSize; {
		next := make([]byte, 0, len(cur)/2/hashSize*hashSize)
		for i := 0; i+2*hashSize <= len(cur); i += 2 * hashSize {
			next = append(next, hasher.HashChildren(cur[i:i+hashSize], cur[i+hashSize:i+2*hashSize])...)
		}
		t.levels = append(t.levels, next)
		cur = next
	}
	return t
}

// hashSize is the size of every hash in the tree (SHA-256).
const hashSize = 32

func (t *memTree) size() uint64 { return uint64(len(t.levels[0]) / hashSize) }

// node returns a copy of the node's hash: compact ranges and proofs
// rewrite the hashes they are given.
func (t *memTree) node(id compact.NodeID) ([]byte, error) {
	if int(id.Level) >= len(t.levels) || id.Index >= uint64(len(t.levels[id.Level])/hashSize) {
		return nil, fmt.Errorf("node (%d, %d) beyond a tree of %d leaves", id.Level, id.Index, t.size())
	}
	return slices.Clone(t.levels[id.Level][id.Index*hashSize : (id.Index+1)*hashSize]), nil
}

// root is the root hash of the first size leaves.
func (t *memTree) root(size uint64) ([]byte, error) {
	if size == 0 {
		return hasher.EmptyRoot(), nil
	}
	if size > t.size() {
		return nil, fmt.Errorf("size %d beyond a tree of %d leaves", size, t.size())
	}
	ids := compact.RangeNodes(0, size, nil)
	hashes := make([][]byte, len(ids))
	for i, id := range ids {
		hashes[i], _ = t.node(id) // within [0, size): present.
	}
	r, err := factory.NewRange(0, size, hashes)
	if err != nil {
		return nil, err
	}
	return r.GetRootHash(nil)
}

// proof fetches and rehashes the nodes of an inclusion or consistency proof.
func (t *memTree) proof(n proof.Nodes, err error) ([][]byte, error) {
	if err != nil {
		return nil, err
	}
	hashes := make([][]byte, len(n.IDs))
	for i, id := range n.IDs {
		if hashes[i], err = t.node(id); err != nil {
			return nil, err
		}
	}
	return n.Rehash(hashes, hasher.HashChildren)
}

// LeafHashes are a ledger's leaf hashes in order, 32 bytes each, in one
// buffer: what a bundle's head and a witness's proofs need of a ledger
// of any size, without its statements.
type LeafHashes []byte

// Append adds a statement's leaf hash.
func (h *LeafHashes) Append(leaf []byte) { *h = append(*h, LeafHash(leaf)...) }

// Len is the number of leaves.
func (h LeafHashes) Len() uint64 { return uint64(len(h) / hashSize) }

// At is leaf i's hash.
func (h LeafHashes) At(i uint64) []byte { return h[i*hashSize : (i+1)*hashSize] }

// HashesOf hashes every leaf.
func HashesOf(leaves [][]byte) LeafHashes {
	h := make(LeafHashes, 0, len(leaves)*hashSize)
	for _, l := range leaves {
		h.Append(l)
	}
	return h
}

// RootAt is the root of the tree of the first size leaves.
func (h LeafHashes) RootAt(size uint64) ([]byte, error) {
	if size > h.Len() {
		return nil, fmt.Errorf("size %d beyond a tree of %d leaves", size, h.Len())
	}
	if size == 0 {
		return hasher.EmptyRoot(), nil
	}
	r := factory.NewEmptyRange(0)
	for i := range size {
		if err := r.Append(slices.Clone(h.At(i)), nil); err != nil {
			return nil, err
		}
	}
	return r.GetRootHash(nil)
}

// ProveConsistency is the RFC 6962 proof that the tree of the first from
// leaves is a prefix of the tree of the first to: what a witness asks
// before it cosigns a larger checkpoint of a log it saw smaller.
func (h LeafHashes) ProveConsistency(from, to uint64) ([][]byte, error) {
	if to > h.Len() || from > to {
		return nil, fmt.Errorf("consistency proof %d→%d of %d leaves", from, to, h.Len())
	}
	if from == 0 || from == to {
		return nil, nil
	}
	return newMemTree(h[:to*hashSize]).proof(proof.Consistency(from, to))
}
