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
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"
)

// BundleFormat identifies a bundle of this version.
const BundleFormat = "withdrawal.ops.dev/evidence-bundle/v1"

// MaxBundleBytes bounds what ReadBundle reads: about 700,000 statements.
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
	// Statements are the leaves, DSSE envelopes, in order. They are base64
	// so that the exact bytes survive any JSON tool that reformats.
	Statements [][]byte `json:"statements"`
}

// ConsistencyProof is the RFC 6962 consistency proof from size From to To.
type ConsistencyProof struct {
	From   uint64   `json:"from"`
	To     uint64   `json:"to"`
	Hashes [][]byte `json:"hashes"`
}

// NewBundle assembles a bundle from the leaves and the signed checkpoints
// (in increasing size) of a ledger, and computes the consistency proofs.
// It checks each checkpoint against key and the leaves, so that an
// exporter notices a broken ledger before an auditor does.
func NewBundle(origin, key string, salt []byte, leaves [][]byte, checkpoints [][]byte) (*Bundle, error) {
	v, err := note.NewVerifier(key)
	if err != nil {
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	hashes := make([][]byte, len(leaves))
	for i, l := range leaves {
		hashes[i] = LeafHash(l)
	}
	tree := newMemTree(hashes)
	b := &Bundle{Format: BundleFormat, Origin: origin, Key: key, Statements: leaves,
		Checkpoints: make([]string, 0, len(checkpoints)), Consistency: []ConsistencyProof{}}
	if len(salt) > 0 {
		b.Salt = hex.EncodeToString(salt)
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
			b.Consistency = append(b.Consistency, ConsistencyProof{From: prev, To: cp.Size, Hashes: p})
		}
		b.Checkpoints = append(b.Checkpoints, string(signed))
		prev = cp.Size
	}
	return b, nil
}

// WriteBundle writes b as JSON, the statements last and one at a time, so
// that a large bundle is never encoded into one string.
func WriteBundle(w io.Writer, b *Bundle) error {
	// Marshal everything but the statements, which must come last, then
	// stream them in place of the empty list that ends the encoding.
	head := *b
	head.Statements = [][]byte{}
	hb, err := json.Marshal(head)
	if err != nil {
		return fmt.Errorf("encoding bundle: %w", err)
	}
	hb, ok := bytes.CutSuffix(hb, []byte("[]}"))
	if !ok {
		return errors.New("encoding bundle: statements are not last")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	_, _ = bw.Write(append(hb, '['))
	var buf []byte
	for i, leaf := range b.Statements {
		buf = buf[:0]
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '\n', '"')
		buf = base64.StdEncoding.AppendEncode(buf, leaf)
		_, _ = bw.Write(append(buf, '"'))
	}
	_, _ = bw.WriteString("]}\n")
	if err := bw.Flush(); err != nil { // bufio keeps the first write error
		return fmt.Errorf("writing bundle: %w", err)
	}
	return nil
}

// ReadBundle reads a bundle written by WriteBundle, at most MaxBundleBytes.
func ReadBundle(r io.Reader) (*Bundle, error) {
	lr := &io.LimitedReader{R: r, N: MaxBundleBytes + 1}
	dec := json.NewDecoder(lr)
	var b Bundle
	if err := dec.Decode(&b); err != nil {
		if lr.N <= 0 {
			return nil, fmt.Errorf("%w: bundle exceeds %d bytes", ErrMalformed, MaxBundleBytes)
		}
		return nil, fmt.Errorf("%w: bundle: %w", ErrMalformed, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the bundle", ErrMalformed)
	}
	if b.Format != BundleFormat {
		return nil, fmt.Errorf("%w: bundle format %q, want %q", ErrMalformed, b.Format, BundleFormat)
	}
	return &b, nil
}
