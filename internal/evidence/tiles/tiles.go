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

// Package tiles lays a ledger's statements out as C2SP tlog-tiles
// (https://c2sp.org/tlog-tiles) in an object store: entry bundles of 256
// statements at tile/entries/<N>, the tree's hashes in tiles of 256 at
// tile/<L>/<N>, a partial tile at the right edge as <path>.p/<W>. Every
// path is written once with bytes that depend only on the statements
// before it, so that two writers that both publish a size write the same
// bytes, and a tile is never changed in place: a tile that fills is a new
// path. The tree hashes are RFC 6962's, as the checkpoints'.
//
// Nothing here trusts what it reads: the ledger recomputes the tree from
// the entries and checks it against a checkpoint it signed.
package tiles

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/rfc6962"
)

// Width is the number of entries of a full entry bundle, and of hashes of
// a full hash tile (tile height 8).
const Width = 256

// MaxEntry is the largest entry a bundle can hold: its length is a
// big-endian uint16.
const MaxEntry = 1<<16 - 1

// ErrNotFound is what a Store's Get wraps for an object it does not hold.
var ErrNotFound = fs.ErrNotExist

// ErrMalformed says an entry bundle is not one, or not of its width.
var ErrMalformed = errors.New("a malformed entry bundle")

// Store holds objects by name: an object store bucket under a prefix.
type Store interface {
	// Put stores body under name, replacing what is there.
	Put(ctx context.Context, name string, body []byte) error
	// Get returns the object stored under name, or an error wrapping
	// ErrNotFound.
	Get(ctx context.Context, name string) ([]byte, error)
	// Delete removes the object under name; one not there is no error.
	Delete(ctx context.Context, name string) error
	// List returns the names of the objects whose names start with
	// prefix.
	List(ctx context.Context, prefix string) ([]string, error)
}

// Prefixed is s with every name under prefix.
func Prefixed(s Store, prefix string) Store {
	return prefixed{s: s, prefix: strings.TrimSuffix(prefix, "/") + "/"}
}

type prefixed struct {
	s      Store
	prefix string
}

func (p prefixed) Put(ctx context.Context, name string, body []byte) error {
	return p.s.Put(ctx, p.prefix+name, body)
}
func (p prefixed) Get(ctx context.Context, name string) ([]byte, error) {
	return p.s.Get(ctx, p.prefix+name)
}
func (p prefixed) Delete(ctx context.Context, name string) error {
	return p.s.Delete(ctx, p.prefix+name)
}
func (p prefixed) List(ctx context.Context, prefix string) ([]string, error) {
	names, err := p.s.List(ctx, p.prefix+prefix)
	for i, n := range names {
		names[i] = strings.TrimPrefix(n, p.prefix)
	}
	return names, err
}

// CheckpointPath is where the latest checkpoint is published.
const CheckpointPath = "checkpoint"

// EntriesPath is the path of entry bundle n of width entries (Width for a
// full one).
func EntriesPath(n uint64, width int) string {
	return "tile/entries/" + index(n) + partial(width)
}

// TilePath is the path of hash tile n at level of width hashes.
func TilePath(level int, n uint64, width int) string {
	return "tile/" + strconv.Itoa(level) + "/" + index(n) + partial(width)
}

// index encodes n as three-digit path elements, all but the last with an
// x: 1234067 is x001/x234/067.
func index(n uint64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	return s
}

func partial(width int) string {
	if width >= Width {
		return ""
	}
	return ".p/" + strconv.Itoa(width)
}

// AppendEntry appends entry to a bundle: its length as a big-endian uint16,
// then its bytes.
func AppendEntry(bundle, entry []byte) ([]byte, error) {
	if len(entry) > MaxEntry {
		return nil, fmt.Errorf("a statement of %d bytes is over the %d an entry bundle can hold", len(entry), MaxEntry)
	}
	bundle = binary.BigEndian.AppendUint16(bundle, uint16(len(entry)))
	return append(bundle, entry...), nil
}

// SplitBundle returns a bundle's entries; they share its bytes.
func SplitBundle(bundle []byte) ([][]byte, error) {
	var out [][]byte
	for len(bundle) > 0 {
		if len(bundle) < 2 {
			return nil, errors.New("an entry bundle ends inside an entry's length")
		}
		n := int(binary.BigEndian.Uint16(bundle))
		if len(bundle) < 2+n {
			return nil, fmt.Errorf("an entry bundle ends inside entry %d", len(out))
		}
		out = append(out, bundle[2:2+n:2+n])
		bundle = bundle[2+n:]
	}
	return out, nil
}

// Object is one object to write: its path and its bytes.
type Object struct {
	Path string
	Body []byte
}

// Edge is the right edge of a ledger's tiles: the entries of its partial
// bundle and the hashes of its partial tile at each level, what the next
// tiles are made of. Feeding it every entry in order, from the first,
// yields every tile.
type Edge struct {
	size    uint64
	entries []byte // the partial bundle, encoded
	count   int    // entries in it
	levels  [][]byte
	// out are the full tiles made since the last Objects.
	out []Object
	// dirty is whether anything was added since the last Objects.
	dirty bool
	// partials are the paths of the partial tiles published (Discard)
	// of the tile at the edge, by level (entriesLevel for the bundle);
	// stale those of tiles that have filled since the last Stale.
	partials map[int][]string
	stale    []string
}

// entriesLevel is the entry bundles' key in Edge.partials.
const entriesLevel = -1

// Size is the number of entries fed.
func (e *Edge) Size() uint64 { return e.size }

// Append feeds the next entry; leafHash is its RFC 6962 leaf hash, or nil
// to compute it.
func (e *Edge) Append(entry, leafHash []byte) error {
	b, err := AppendEntry(e.entries, entry)
	if err != nil {
		return err
	}
	if leafHash == nil {
		leafHash = rfc6962.DefaultHasher.HashLeaf(entry)
	}
	e.entries, e.count, e.dirty = b, e.count+1, true
	n := e.size / Width
	e.size++
	if e.count == Width {
		e.out = append(e.out, Object{Path: EntriesPath(n, Width), Body: e.entries})
		e.entries, e.count = nil, 0
		e.retire(entriesLevel)
	}
	e.addHash(0, leafHash)
	return nil
}

// addHash adds a complete node's hash at level; a tile that fills is
// written, and its root is a node one level up.
func (e *Edge) addHash(level int, h []byte) {
	if level == len(e.levels) {
		e.levels = append(e.levels, nil)
	}
	e.levels[level] = append(e.levels[level], h...)
	if len(e.levels[level]) < Width*32 {
		return
	}
	full := e.levels[level]
	// Nodes at level complete so far, this tile's last included.
	nodes := e.size >> (8 * uint(level))
	e.out = append(e.out, Object{Path: TilePath(level, nodes/Width-1, Width), Body: full})
	e.levels[level] = nil
	e.retire(level)
	e.addHash(level+1, subtreeRoot(full))
}

// subtreeRoot is the root of the perfect tree whose leaves' hashes are the
// 32-byte hashes in tile.
func subtreeRoot(tile []byte) []byte {
	level := make([][]byte, 0, len(tile)/32)
	for i := 0; i < len(tile); i += 32 {
		level = append(level, tile[i:i+32])
	}
	for len(level) > 1 {
		next := level[:0:0]
		for i := 0; i < len(level); i += 2 {
			next = append(next, rfc6962.DefaultHasher.HashChildren(level[i], level[i+1]))
		}
		level = next
	}
	return level[0]
}

// Objects returns the tiles to write for what was fed since the last call:
// the tiles that filled, then the partial bundle and partial tiles at the
// edge. Discard drops them instead, for entries already published.
func (e *Edge) Objects() []Object {
	out := e.out
	if e.dirty {
		e.eachPartial(func(_ int, path string, body []byte) { out = append(out, Object{Path: path, Body: body}) })
	}
	e.Discard()
	return out
}

// Discard forgets the tiles made so far, already published.
func (e *Edge) Discard() {
	e.out, e.dirty = nil, false
	e.eachPartial(func(level int, path string, _ []byte) {
		if ps := e.partials[level]; len(ps) == 0 || ps[len(ps)-1] != path {
			if e.partials == nil {
				e.partials = map[int][]string{}
			}
			e.partials[level] = append(ps, path)
		}
	})
}

// eachPartial calls fn with each partial tile at the edge.
func (e *Edge) eachPartial(fn func(level int, path string, body []byte)) {
	if e.count > 0 {
		fn(entriesLevel, EntriesPath(e.size/Width, e.count), e.entries)
	}
	for level, hs := range e.levels {
		if w := len(hs) / 32; w > 0 {
			nodes := e.size >> (8 * uint(level))
			fn(level, TilePath(level, nodes/Width, w), hs)
		}
	}
}

// retire makes the partial tiles published of level's tile, which just
// filled, stale.
func (e *Edge) retire(level int) {
	e.stale = append(e.stale, e.partials[level]...)
	delete(e.partials, level)
}

// Stale returns the paths of the partial tiles published, of this
// process's knowledge (see Leftovers), whose full tiles are among the
// tiles Objects has returned, and forgets them. They may be removed once
// those are published: a reader wanting one reads the full tile's start
// instead (ReadEntries does), as C2SP tlog-tiles lets a log prune them.
func (e *Edge) Stale() []string {
	s := e.stale
	e.stale = nil
	return s
}

// Leftovers lists, in s, the partial tiles of the tiles at the edge and of
// the ones just before them, at every level, which an earlier process
// published and did not live to remove: the partials of a full tile are
// stale at once (Stale names them), the others once their tile fills.
// Call it after feeding the edge what is published and Discard, as a
// process that loads a ledger does. Partials two or more tiles behind
// the edge are left: only a process that died twice in a row, each time
// between publishing a full tile and removing its partials, leaves them.
func (e *Edge) Leftovers(ctx context.Context, s Store) error {
	type tile struct {
		level int
		n     uint64 // the tile at the edge
	}
	edge := []tile{{entriesLevel, e.size / Width}}
	for level := range e.levels {
		edge = append(edge, tile{level, (e.size >> (8 * uint(level))) / Width})
	}
	for _, t := range edge {
		for _, n := range []uint64{t.n - 1, t.n} {
			if n > t.n { // before the first tile
				continue
			}
			names, err := s.List(ctx, partialPrefix(t.level, n))
			if err != nil {
				return err
			}
			for _, name := range names {
				switch {
				case n < t.n:
					e.stale = append(e.stale, name)
				case !slices.Contains(e.partials[t.level], name):
					if e.partials == nil {
						e.partials = map[int][]string{}
					}
					e.partials[t.level] = append(e.partials[t.level], name)
				}
			}
		}
	}
	return nil
}

// partialPrefix is what the paths of tile n's partials at level start
// with (entriesLevel for the entry bundles).
func partialPrefix(level int, n uint64) string {
	if level == entriesLevel {
		return strings.TrimSuffix(EntriesPath(n, 1), "1")
	}
	return strings.TrimSuffix(TilePath(level, n, 1), "1")
}

// ReadEntries calls fn with each entry of a tree of size entries, in
// order, from the bundles in s (a bundle at a time). An entry's bytes are
// only valid during the call.
func ReadEntries(ctx context.Context, s Store, size uint64, fn func(i uint64, entry []byte) error) error {
	for n := uint64(0); n*Width < size; n++ {
		width := int(min(size-n*Width, Width))
		path := EntriesPath(n, width)
		b, err := s.Get(ctx, path)
		if errors.Is(err, ErrNotFound) && width < Width {
			// Pruned since the tile filled (Edge.Stale): the full
			// bundle starts with the same entries.
			full := EntriesPath(n, Width)
			if fb, ferr := s.Get(ctx, full); ferr == nil {
				path, b, err = full, fb, nil
			}
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		entries, err := SplitBundle(b)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrMalformed, path, err)
		}
		if len(entries) == Width && width < Width && path == EntriesPath(n, Width) {
			entries = entries[:width]
		}
		if len(entries) != width {
			return fmt.Errorf("%w: %s holds %d entries, not %d", ErrMalformed, path, len(entries), width)
		}
		for i, entry := range entries {
			if err := fn(n*Width+uint64(i), entry); err != nil {
				return err
			}
		}
	}
	return nil
}
