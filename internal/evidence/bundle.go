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
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"
)

// BundleFormat identifies the bundle WriteBundle writes: a gzip stream of
// JSON lines, the first the bundle's head (everything but the statements,
// which it counts), each after it one envelope's exact bytes. It has no
// base64 around the envelopes, compresses to about a fifth, and is read
// one statement at a time (VerifyReader), so its size is not bounded by
// memory. `zcat` shows it; a tool that rewrites a line breaks that leaf's
// hash, which verify finds.
const BundleFormat = "withdrawal.ops.dev/evidence-bundle/v2"

// BundleFormatV1 is the first format, one JSON document with the
// envelopes in base64, which earlier releases wrote. It is still read.
const BundleFormatV1 = "withdrawal.ops.dev/evidence-bundle/v1"

// MaxBundleBytes bounds what ReadBundle holds in memory: about 700,000
// statements. VerifyReader has no such bound.
const MaxBundleBytes = 1 << 30

// Bundle is everything an auditor needs to check a ledger offline.
type Bundle struct {
	Format string `json:"format"`
	Origin string `json:"origin"`
	// Key is the signed-note verifier key of the statements and checkpoints.
	// Only a key the auditor pins proves who signed: see VerifyOptions.Key.
	Key string `json:"key"`
	// Salt is the hex recipient salt. An exporter may leave it out; then
	// questions about a recipient need the salt from elsewhere.
	Salt string `json:"salt,omitempty"`
	// Checkpoints are signed notes, in increasing size.
	Checkpoints []string `json:"checkpoints"`
	// Consistency holds one proof per consecutive pair of checkpoints.
	Consistency []ConsistencyProof `json:"consistency"`
	// Statements are the leaves, DSSE envelopes, in order. In the first
	// format they are base64, so that the exact bytes survive any JSON
	// tool that reformats.
	Statements [][]byte `json:"statements"`
}

// BundleHead is a bundle without its statements, and how many follow: the
// first line of a bundle in BundleFormat.
type BundleHead struct {
	Format      string             `json:"format"`
	Origin      string             `json:"origin"`
	Key         string             `json:"key"`
	Salt        string             `json:"salt,omitempty"`
	Checkpoints []string           `json:"checkpoints"`
	Consistency []ConsistencyProof `json:"consistency"`
	Statements  int                `json:"statements"`
}

// Head is b's head.
func (b *Bundle) Head() *BundleHead {
	return &BundleHead{Format: b.Format, Origin: b.Origin, Key: b.Key, Salt: b.Salt,
		Checkpoints: b.Checkpoints, Consistency: b.Consistency, Statements: len(b.Statements)}
}

// ConsistencyProof is the RFC 6962 consistency proof from size From to To.
type ConsistencyProof struct {
	From   uint64   `json:"from"`
	To     uint64   `json:"to"`
	Hashes [][]byte `json:"hashes"`
}

// NewBundle assembles a bundle from the leaves and the signed checkpoints
// (in increasing size) of a ledger, as NewBundleHead does.
func NewBundle(origin, key string, salt []byte, leaves [][]byte, checkpoints [][]byte) (*Bundle, error) {
	h, err := NewBundleHead(origin, key, salt, HashesOf(leaves), checkpoints)
	if err != nil {
		return nil, err
	}
	return &Bundle{Format: h.Format, Origin: h.Origin, Key: h.Key, Salt: h.Salt, Checkpoints: h.Checkpoints,
		Consistency: h.Consistency, Statements: leaves}, nil
}

// NewBundleHead makes the head of a ledger's bundle from its leaf hashes
// and its signed checkpoints (in increasing size), and computes the
// consistency proofs. It checks each checkpoint against key and the
// leaves, so that an exporter notices a broken ledger before an auditor
// does.
func NewBundleHead(origin, key string, salt []byte, leaves LeafHashes, checkpoints [][]byte) (*BundleHead, error) {
	v, err := note.NewVerifier(key)
	if err != nil {
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	tree := newMemTree(leaves)
	h := &BundleHead{Format: BundleFormat, Origin: origin, Key: key, Statements: int(leaves.Len()),
		Checkpoints: make([]string, 0, len(checkpoints)), Consistency: []ConsistencyProof{}}
	if len(salt) > 0 {
		h.Salt = hex.EncodeToString(salt)
	}
	var prev uint64
	for i, signed := range checkpoints {
		cp, err := OpenCheckpoint(signed, origin, v)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %d: %w", i, err)
		}
		root, err := tree.root(cp.Size)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %d: %w", i, err)
		}
		if string(root) != string(cp.Hash) {
			return nil, fmt.Errorf("checkpoint %d at size %d: %w", i, cp.Size, ErrRootMismatch)
		}
		if i > 0 {
			if cp.Size < prev {
				return nil, fmt.Errorf("checkpoint %d: size %d after size %d", i, cp.Size, prev)
			}
			p, err := tree.proof(proof.Consistency(prev, cp.Size))
			if err != nil {
				return nil, fmt.Errorf("consistency proof %d→%d: %w", prev, cp.Size, err)
			}
			h.Consistency = append(h.Consistency, ConsistencyProof{From: prev, To: cp.Size, Hashes: p})
		}
		h.Checkpoints = append(h.Checkpoints, string(signed))
		prev = cp.Size
	}
	return h, nil
}

// WriteBundle writes b in BundleFormat.
func WriteBundle(w io.Writer, b *Bundle) error {
	bw, err := NewBundleWriter(w, b.Head())
	if err != nil {
		return err
	}
	for _, leaf := range b.Statements {
		if err := bw.Write(leaf); err != nil {
			return err
		}
	}
	return bw.Close()
}

// BundleWriter writes a bundle in BundleFormat a statement at a time.
type BundleWriter struct {
	zw       *gzip.Writer // nil for a ledger of a fleet bundle, whose stream it is
	bw       *bufio.Writer
	written  int
	expected int
}

// NewBundleWriter writes the head; h.Statements statements must follow.
func NewBundleWriter(w io.Writer, h *BundleHead) (*BundleWriter, error) {
	zw := gzip.NewWriter(w)
	bw, err := writeBundleHead(bufio.NewWriterSize(zw, 64<<10), h)
	if err != nil {
		return nil, err
	}
	bw.zw = zw
	return bw, nil
}

// writeBundleHead writes h as a line to bw, for its statements to follow.
func writeBundleHead(bw *bufio.Writer, h *BundleHead) (*BundleWriter, error) {
	head := *h
	head.Format = BundleFormat
	hb, err := json.Marshal(head)
	if err != nil {
		return nil, fmt.Errorf("encoding bundle: %w", err)
	}
	_, _ = bw.Write(append(hb, '\n'))
	return &BundleWriter{bw: bw, expected: h.Statements}, nil
}

// Write writes the next statement.
func (w *BundleWriter) Write(leaf []byte) error {
	// An envelope is compact JSON, one line; a leaf that is not cannot be
	// written without changing its bytes.
	if bytes.IndexByte(leaf, '\n') >= 0 {
		return fmt.Errorf("encoding bundle: statement %d holds a line break", w.written)
	}
	if w.written == w.expected {
		return fmt.Errorf("encoding bundle: more statements than the %d its head says", w.expected)
	}
	w.written++
	_, _ = w.bw.Write(leaf)
	return w.bw.WriteByte('\n') // bufio keeps the first write error
}

// Close flushes the bundle, which must hold as many statements as its
// head says.
func (w *BundleWriter) Close() error {
	if w.written != w.expected {
		return fmt.Errorf("encoding bundle: %d statements written, its head says %d", w.written, w.expected)
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("writing bundle: %w", err)
	}
	if w.zw == nil {
		return nil
	}
	if err := w.zw.Close(); err != nil {
		return fmt.Errorf("writing bundle: %w", err)
	}
	return nil
}

// ReadBundle reads a whole bundle, of either format, into memory: at most
// MaxBundleBytes of it (uncompressed). VerifyReader checks one of any
// size without holding it.
func ReadBundle(r io.Reader) (*Bundle, error) {
	br, err := openBundle(r, MaxBundleBytes)
	if err != nil {
		return nil, err
	}
	return br.readAll()
}

// readAll reads the rest of the bundle's statements into a Bundle.
func (br *bundleReader) readAll() (*Bundle, error) {
	h := br.head
	b := &Bundle{Format: h.Format, Origin: h.Origin, Key: h.Key, Salt: h.Salt, Checkpoints: h.Checkpoints, Consistency: h.Consistency,
		Statements: make([][]byte, 0, min(h.Statements, 1<<20))}
	for {
		leaf, err := br.next()
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		b.Statements = append(b.Statements, leaf)
	}
}

// readerOf yields the statements of a bundle held in memory.
func readerOf(b *Bundle) *bundleReader {
	i := 0
	return &bundleReader{head: b.Head(), next: func() ([]byte, error) {
		if i == len(b.Statements) {
			return nil, io.EOF
		}
		i++
		return b.Statements[i-1], nil
	}}
}

// bundleReader yields a bundle's statements one at a time.
type bundleReader struct {
	head *BundleHead
	// next returns the next statement (its own copy), io.EOF after the
	// last, or ErrMalformed.
	next func() ([]byte, error)
}

// openBundle reads a bundle's head. A bundle in BundleFormat is then read
// as its statements are asked for, at most limit bytes of it uncompressed;
// one in the first format is read whole, at most MaxBundleBytes, as it
// always was.
func openBundle(r io.Reader, limit int64) (*bundleReader, error) {
	in := bufio.NewReaderSize(r, 64<<10)
	if gzipped(in) {
		return openBundleV2(in, limit)
	}
	b, err := readBundleV1(in, MaxBundleBytes)
	if err != nil {
		return nil, err
	}
	return readerOf(b), nil
}

func openBundleV2(in io.Reader, limit int64) (*bundleReader, error) {
	l, err := openLines(in, limit)
	if err != nil {
		return nil, err
	}
	br, err := l.bundle()
	if err != nil {
		return nil, err
	}
	// A bundle alone: its last statement ends the stream.
	statements := br.next
	br.next = func() ([]byte, error) {
		leaf, err := statements()
		if errors.Is(err, io.EOF) {
			if _, err := l.line(MaxEnvelopeBytes); !errors.Is(err, io.EOF) {
				if err == nil {
					err = fmt.Errorf("%w: more statements than the %d its head says", ErrMalformed, br.head.Statements)
				}
				return nil, err
			}
		}
		return leaf, err
	}
	return br, nil
}

// lineReader reads the JSON lines of a gzip stream: a bundle's, or a
// fleet bundle's.
type lineReader struct {
	lines *bufio.Reader
	lr    *io.LimitedReader
	limit int64
}

// openLines opens the gzip stream of in, of at most limit bytes
// uncompressed.
func openLines(in io.Reader, limit int64) (*lineReader, error) {
	zr, err := gzip.NewReader(in)
	if err != nil {
		return nil, fmt.Errorf("%w: bundle: %w", ErrMalformed, err)
	}
	lr := &io.LimitedReader{R: zr, N: limit}
	return &lineReader{lines: bufio.NewReaderSize(lr, 256<<10), lr: lr, limit: limit}, nil
}

// line returns the next line without its end, of at most max bytes, or
// io.EOF at the end of the stream.
func (l *lineReader) line(max int) ([]byte, error) {
	var b []byte
	for {
		part, err := l.lines.ReadSlice('\n')
		b = append(b, part...)
		switch {
		case len(b) > max+1:
			return nil, fmt.Errorf("%w: a line of more than %d bytes", ErrMalformed, max)
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && l.lr.N <= 0:
			return nil, fmt.Errorf("%w: bundle exceeds %d bytes", ErrMalformed, l.limit)
		case errors.Is(err, io.EOF) && len(b) == 0:
			return nil, io.EOF
		case errors.Is(err, io.EOF):
			return nil, fmt.Errorf("%w: the last line is cut short", ErrMalformed)
		case err != nil:
			return nil, fmt.Errorf("%w: bundle: %w", ErrMalformed, err)
		}
		return b[:len(b)-1], nil
	}
}

// bundle reads a bundle's head line and yields the statements its head
// counts, then io.EOF without reading further: in a fleet bundle the next
// ledger's head follows.
func (l *lineReader) bundle() (*bundleReader, error) {
	h, err := readHead(l, "bundle", func(h *BundleHead) string { return h.Format }, BundleFormat)
	if err != nil {
		return nil, err
	}
	if h.Statements < 0 {
		return nil, fmt.Errorf("%w: a bundle head counting %d statements", ErrMalformed, h.Statements)
	}
	read := 0
	return &bundleReader{head: h, next: func() ([]byte, error) {
		if read == h.Statements {
			return nil, io.EOF
		}
		leaf, err := l.line(MaxEnvelopeBytes)
		switch {
		case errors.Is(err, io.EOF):
			return nil, fmt.Errorf("%w: the bundle holds %d statements, its head says %d", ErrMalformed, read, h.Statements)
		case err != nil:
			return nil, err
		}
		read++
		return leaf, nil
	}}, nil
}

// readHead reads the head line of what ("bundle", "fleet bundle"), whose
// format must be want.
func readHead[T any](l *lineReader, what string, format func(*T) string, want string) (*T, error) {
	hl, err := l.line(MaxBundleHeadBytes)
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: empty %s", ErrMalformed, what)
	}
	if err != nil {
		return nil, err
	}
	var h T
	if err := json.Unmarshal(hl, &h); err != nil {
		return nil, fmt.Errorf("%w: %s head: %w", ErrMalformed, what, err)
	}
	if got := format(&h); got != want {
		return nil, fmt.Errorf("%w: %s format %q, want %q", ErrMalformed, what, got, want)
	}
	return &h, nil
}

// MaxBundleHeadBytes bounds a bundle's head: its checkpoints and proofs,
// about 16,000 checkpoints.
const MaxBundleHeadBytes = 16 << 20

func readBundleV1(r io.Reader, limit int64) (*Bundle, error) {
	lr := &io.LimitedReader{R: r, N: limit + 1}
	dec := json.NewDecoder(lr)
	var b Bundle
	if err := dec.Decode(&b); err != nil {
		if lr.N <= 0 {
			return nil, fmt.Errorf("%w: bundle exceeds %d bytes", ErrMalformed, limit)
		}
		return nil, fmt.Errorf("%w: bundle: %w", ErrMalformed, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the bundle", ErrMalformed)
	}
	if b.Format != BundleFormatV1 {
		return nil, fmt.Errorf("%w: bundle format %q, want %q or %q", ErrMalformed, b.Format, BundleFormat, BundleFormatV1)
	}
	return &b, nil
}
