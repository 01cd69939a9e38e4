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

package tiles_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/tiles"
)

func TestPaths(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{tiles.EntriesPath(0, 256), "tile/entries/000"},
		{tiles.EntriesPath(1234067, 256), "tile/entries/x001/x234/067"},
		{tiles.EntriesPath(7, 3), "tile/entries/007.p/3"},
		{tiles.TilePath(0, 1000, 256), "tile/0/x001/000"},
		{tiles.TilePath(2, 5, 17), "tile/2/005.p/17"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestBundles(t *testing.T) {
	var b []byte
	var err error
	for _, e := range []string{"a", "", strings.Repeat("x", 300)} {
		if b, err = tiles.AppendEntry(b, []byte(e)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := tiles.SplitBundle(b)
	if err != nil || len(got) != 3 || string(got[0]) != "a" || len(got[1]) != 0 || len(got[2]) != 300 {
		t.Fatalf("SplitBundle: %q, %v", got, err)
	}
	if _, err := tiles.SplitBundle(b[:len(b)-1]); err == nil {
		t.Error("a bundle cut short was read")
	}
	if _, err := tiles.AppendEntry(nil, make([]byte, tiles.MaxEntry+1)); err == nil {
		t.Error("an entry over 64 KiB went into a bundle")
	}
}

// memStore is a test double of an object store bucket: a map.
type memStore map[string][]byte

func (m memStore) Put(_ context.Context, name string, body []byte) error {
	m[name] = bytes.Clone(body)
	return nil
}
func (m memStore) Get(_ context.Context, name string) ([]byte, error) {
	b, ok := m[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, tiles.ErrNotFound)
	}
	return b, nil
}
func (m memStore) Delete(_ context.Context, name string) error {
	delete(m, name)
	return nil
}
func (m memStore) List(_ context.Context, prefix string) ([]string, error) {
	var names []string
	for name := range m {
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	return names, nil
}

// tileReader reads the hash tiles of a memStore for x/mod's tlog, an
// implementation of tiles independent of this package's.
type tileReader memStore

func (tileReader) Height() int { return 8 }
func (r tileReader) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	var out [][]byte
	for _, t := range ts {
		b, ok := r[tiles.TilePath(t.L, uint64(t.N), t.W)]
		if !ok {
			return nil, fmt.Errorf("no tile %s", tiles.TilePath(t.L, uint64(t.N), t.W))
		}
		out = append(out, b)
	}
	return out, nil
}
func (tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// TestTheTilesAreWhatAnIndependentReaderExpects feeds entries in batches of
// random sizes, publishing after each batch as the ledger does, and checks
// that no path is ever written twice with different bytes; that the
// entries read back are those fed; and that x/mod's tlog, reading the hash
// tiles at several sizes, proves entries against the root this repository's
// own tree computes.
func TestTheTilesAreWhatAnIndependentReaderExpects(t *testing.T) {
	ctx := context.Background()
	store := memStore{}
	var e tiles.Edge
	var hashes evidence.LeafHashes
	written := map[string][]byte{}
	rng := rand.New(rand.NewPCG(1, 2))
	const total = 70_000 // past a full tile at level 1 (65,536)
	checkAt := map[uint64]bool{1: true, 255: true, 256: true, 257: true, 65_536: true, total: true}
	for e.Size() < total {
		n := min(uint64(1+rng.IntN(700)), total-e.Size())
		// Land on each size to check.
		for s := range checkAt {
			if s > e.Size() && s < e.Size()+n {
				n = s - e.Size()
			}
		}
		for range n {
			entry := fmt.Appendf(nil, "statement %d", e.Size())
			hashes.Append(entry)
			if err := e.Append(entry, nil); err != nil {
				t.Fatal(err)
			}
		}
		for _, o := range e.Objects() {
			if old, ok := written[o.Path]; ok && !bytes.Equal(old, o.Body) {
				t.Fatalf("%s was written twice with different bytes", o.Path)
			}
			written[o.Path] = bytes.Clone(o.Body)
			_ = store.Put(ctx, o.Path, o.Body)
		}
		if !checkAt[e.Size()] {
			continue
		}
		size := int64(e.Size())
		root, err := hashes.RootAt(e.Size())
		if err != nil {
			t.Fatal(err)
		}
		tree := tlog.Tree{N: size, Hash: tlog.Hash(root)}
		r := tlog.TileHashReader(tree, tileReader(store))
		for _, i := range []int64{0, size / 2, size - 1} {
			p, err := tlog.ProveRecord(size, i, r)
			if err != nil {
				t.Fatalf("size %d: proving entry %d from the tiles: %v", size, i, err)
			}
			if err := tlog.CheckRecord(p, size, tree.Hash, i, tlog.RecordHash(fmt.Appendf(nil, "statement %d", i))); err != nil {
				t.Fatalf("size %d: entry %d: %v", size, i, err)
			}
		}
	}
	var read uint64
	err := tiles.ReadEntries(ctx, store, total, func(i uint64, entry []byte) error {
		if want := fmt.Sprintf("statement %d", i); string(entry) != want || i != read {
			return fmt.Errorf("entry %d is %q", i, entry)
		}
		read++
		return nil
	})
	if err != nil || read != total {
		t.Fatalf("read %d entries back: %v", read, err)
	}
	// A bundle gone is an error that says so.
	delete(store, tiles.EntriesPath(3, tiles.Width))
	if err := tiles.ReadEntries(ctx, store, total, func(uint64, []byte) error { return nil }); !errors.Is(err, tiles.ErrNotFound) {
		t.Fatalf("a missing bundle: %v", err)
	}
}

// TestPartialTilesOfFullOnesArePruned publishes a ledger of 1,000 entries
// in appends of 100, removing what Stale names after each: no partial tile
// of a full tile is left, every partial of a tile still at the edge is,
// and the entries of an old size, whose partial bundle was pruned, are
// still read back, from the full bundle's start. A second Edge, started
// as a new process would be (fed what is published, then Discard), knows
// the partials at the edge and prunes them when their tiles fill.
func TestPartialTilesOfFullOnesArePruned(t *testing.T) {
	ctx := context.Background()
	store := memStore{}
	var e tiles.Edge
	var everPartial []string
	publish := func(e *tiles.Edge, to uint64) {
		for e.Size() < to {
			if err := e.Append(fmt.Appendf(nil, "statement %d", e.Size()), nil); err != nil {
				t.Fatal(err)
			}
		}
		for _, o := range e.Objects() {
			_ = store.Put(ctx, o.Path, o.Body)
			if strings.Contains(o.Path, ".p/") {
				everPartial = append(everPartial, o.Path)
			}
		}
		for _, p := range e.Stale() {
			if !strings.Contains(p, ".p/") {
				t.Fatalf("Stale named %s, not a partial tile", p)
			}
			_ = store.Delete(ctx, p)
		}
	}
	for size := uint64(100); size <= 1000; size += 100 {
		publish(&e, size)
	}
	full := func(partial string) string { return partial[:strings.Index(partial, ".p/")] }
	for path := range store {
		if strings.Contains(path, ".p/") {
			if _, ok := store[full(path)]; ok {
				t.Errorf("%s is left, though its full tile is published", path)
			}
		}
	}
	for _, p := range everPartial {
		if _, ok := store[p]; !ok {
			if _, ok := store[full(p)]; !ok {
				t.Errorf("%s was pruned before its full tile was published", p)
			}
		}
	}
	if _, ok := store[tiles.EntriesPath(0, 100)]; ok {
		t.Fatalf("the partial bundle of the first append is still there")
	}
	var read []string
	err := tiles.ReadEntries(ctx, store, 100, func(_ uint64, entry []byte) error {
		read = append(read, string(entry))
		return nil
	})
	if err != nil || len(read) != 100 || read[99] != "statement 99" {
		t.Fatalf("reading the entries of size 100 after its bundle was pruned: %d entries, %v", len(read), err)
	}

	// A new process: the edge at 1,000 is known, and pruned once full.
	var again tiles.Edge
	err = tiles.ReadEntries(ctx, store, 1000, func(_ uint64, entry []byte) error { return again.Append(bytes.Clone(entry), nil) })
	if err != nil {
		t.Fatal(err)
	}
	again.Discard()
	if err := again.Leftovers(ctx, store); err != nil {
		t.Fatal(err)
	}
	edge := tiles.EntriesPath(3, 1000-3*tiles.Width)
	if _, ok := store[edge]; !ok {
		t.Fatalf("%s, the partial bundle at the edge, is not there", edge)
	}
	publish(&again, 1100)
	if _, ok := store[edge]; ok {
		t.Errorf("%s is left after its bundle filled in a new process", edge)
	}
}

// TestPartialTilesADeadProcessLeftArePruned: a process that dies between
// publishing a tile and removing the partials it made stale, or before
// its tile at the edge fills, leaves partial tiles only it knew of. The
// next process to load the ledger finds them (Leftovers) and prunes them
// with its own once their tiles are full; without Leftovers they stay.
func TestPartialTilesADeadProcessLeftArePruned(t *testing.T) {
	ctx := context.Background()
	store := memStore{}
	// publish appends up to size and publishes; a process that dies
	// does not remove what Stale names.
	publish := func(e *tiles.Edge, to uint64, dies bool) {
		for e.Size() < to {
			if err := e.Append(fmt.Appendf(nil, "statement %d", e.Size()), nil); err != nil {
				t.Fatal(err)
			}
		}
		for _, o := range e.Objects() {
			_ = store.Put(ctx, o.Path, o.Body)
		}
		for _, p := range e.Stale() {
			if !dies {
				_ = store.Delete(ctx, p)
			}
		}
	}
	// load is a new process: the published entries fed, then Discard
	// and Leftovers, as the ledger loads one.
	load := func(size uint64) *tiles.Edge {
		e := &tiles.Edge{}
		err := tiles.ReadEntries(ctx, store, size, func(_ uint64, entry []byte) error { return e.Append(bytes.Clone(entry), nil) })
		if err != nil {
			t.Fatal(err)
		}
		e.Discard()
		if err := e.Leftovers(ctx, store); err != nil {
			t.Fatal(err)
		}
		return e
	}
	full := func(partial string) string { return partial[:strings.Index(partial, ".p/")] }
	leftOfFull := func() []string {
		var left []string
		for path := range store {
			if strings.Contains(path, ".p/") {
				if _, ok := store[full(path)]; ok {
					left = append(left, path)
				}
			}
		}
		slices.Sort(left)
		return left
	}

	a := &tiles.Edge{}
	publish(a, 100, false)
	publish(a, 200, false)
	publish(a, 300, true) // tile 0 fills; its partials at 100 and 200 stay
	if len(leftOfFull()) == 0 {
		t.Fatal("the first process left no partial of a full tile: the test proves nothing")
	}
	b := load(300)
	publish(b, 400, false)
	if left := leftOfFull(); len(left) > 0 {
		t.Errorf("after the next process's first append, partials of full tiles are left: %v", left)
	}
	publish(b, 450, true) // tile 1's partials at 300, 400 and 450 stay
	c := load(450)
	publish(c, 600, false) // tile 1 fills
	if left := leftOfFull(); len(left) > 0 {
		t.Errorf("after tile 1 filled in a third process, partials of it are left: %v", left)
	}
	var read []string
	err := tiles.ReadEntries(ctx, store, 300, func(_ uint64, entry []byte) error {
		read = append(read, string(entry))
		return nil
	})
	if err != nil || len(read) != 300 || read[299] != "statement 299" {
		t.Fatalf("reading the entries of size 300 after its partials were pruned: %d entries, %v", len(read), err)
	}
}
