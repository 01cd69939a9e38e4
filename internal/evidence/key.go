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
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"golang.org/x/mod/sumdb/note"
)

// SeedSize is the size of an Ed25519 seed, the key's only secret.
const SeedSize = ed25519.SeedSize

// algEd25519 is the signed-note algorithm byte of an Ed25519 key.
const algEd25519 = 0x01

// Signer signs envelopes and checkpoints with one Ed25519 key. One key does
// both: a DSSE signature covers bytes starting "DSSEv1 " and a checkpoint's
// text starts with its origin, so neither can pass for the other.
type Signer struct {
	priv  ed25519.PrivateKey
	note  note.Signer
	vkey  string
	keyID string
}

// GenerateSeed returns a new random seed for NewSigner.
func GenerateSeed() []byte {
	seed := make([]byte, SeedSize)
	_, _ = rand.Read(seed) // crypto/rand.Read never fails (Go 1.24+).
	return seed
}

// NewSigner returns the signer of seed under name, the key name of the
// signed notes (for example "withdrawal.ops.dev").
func NewSigner(name string, seed []byte) (*Signer, error) {
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("ed25519 seed has %d bytes, want %d", len(seed), SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := append([]byte{algEd25519}, priv.Public().(ed25519.PublicKey)...)
	// The key hash, as x/mod's note.go computes it: the first four bytes of
	// SHA-256(name, "\n", algorithm byte, public key).
	sum := sha256.Sum256(append([]byte(name+"\n"), pub...))
	hash := binary.BigEndian.Uint32(sum[:4])
	skey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, hash,
		base64.StdEncoding.EncodeToString(append([]byte{algEd25519}, seed...)))
	ns, err := note.NewSigner(skey) // it checks the name and the hash.
	if err != nil {
		return nil, fmt.Errorf("note signer %q: %w", name, err)
	}
	return &Signer{
		priv:  priv,
		note:  ns,
		vkey:  fmt.Sprintf("%s+%08x+%s", name, hash, base64.StdEncoding.EncodeToString(pub)),
		keyID: fmt.Sprintf("%08x", hash),
	}, nil
}

// VerifierKey is the signed-note verifier key ("name+hash+key") an auditor
// pins.
func (s *Signer) VerifierKey() string { return s.vkey }

// KeyID is the DSSE key id: the note key hash in hex.
func (s *Signer) KeyID() string { return s.keyID }

// keyID is the DSSE key id of a note verifier.
func keyID(v note.Verifier) string { return fmt.Sprintf("%08x", v.KeyHash()) }
