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
	"encoding/json"
	"fmt"
	"strconv"

	"golang.org/x/mod/sumdb/note"
)

// PayloadType is the DSSE payload type of an in-toto statement.
const PayloadType = "application/vnd.in-toto+json"

// MaxEnvelopeBytes bounds one envelope: Seal refuses larger, Verify too.
// A drain batch of a few hundred workloads fits.
const MaxEnvelopeBytes = 256 << 10

// Envelope is a DSSE envelope. []byte fields encode as standard base64.
type Envelope struct {
	Payload     []byte      `json:"payload"`
	PayloadType string      `json:"payloadType"`
	Signatures  []Signature `json:"signatures"`
}

// Signature is one DSSE signature.
type Signature struct {
	KeyID string `json:"keyid"`
	Sig   []byte `json:"sig"`
}

// PAE is DSSE's pre-authentication encoding, what a signature covers.
func PAE(payloadType string, payload []byte) []byte {
	b := make([]byte, 0, len(payloadType)+len(payload)+32)
	b = append(b, "DSSEv1 "...)
	b = strconv.AppendInt(b, int64(len(payloadType)), 10)
	b = append(append(append(b, ' '), payloadType...), ' ')
	b = strconv.AppendInt(b, int64(len(payload)), 10)
	return append(append(b, ' '), payload...)
}

// Seal completes e (see NewStatement) and returns the signed envelope, the
// leaf to append. The same event gives the same bytes: the statement is
// written as encoding/json writes it (struct fields in order, map keys
// sorted; see encode.go), and Ed25519 is deterministic. So a replay after a
// crash appends the identical leaf.
func (s *Signer) Seal(w Withdrawal, e Event) ([]byte, error) {
	if err := complete(w, e); err != nil {
		return nil, err
	}
	payload, err := appendStatement(make([]byte, 0, 1024), w, e)
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(s.priv, PAE(PayloadType, payload))
	env := appendEnvelope(make([]byte, 0, 4*len(payload)/3+len(PayloadType)+len(s.keyID)+200), payload, s.keyID, sig)
	if len(env) > MaxEnvelopeBytes {
		return nil, fmt.Errorf("%s statement %s: envelope of %d bytes exceeds %d", e.Kind(), e.EventKey(), len(env), MaxEnvelopeBytes)
	}
	return env, nil
}

// OpenEnvelope checks env's signature by v and returns its statement. It
// does not look at an unsigned payload.
func OpenEnvelope(env []byte, v note.Verifier) (*Statement, error) {
	if len(env) > MaxEnvelopeBytes {
		return nil, fmt.Errorf("%w: envelope of %d bytes exceeds %d", ErrMalformed, len(env), MaxEnvelopeBytes)
	}
	var e Envelope
	if err := json.Unmarshal(env, &e); err != nil {
		return nil, fmt.Errorf("%w: envelope: %w", ErrMalformed, err)
	}
	if e.PayloadType != PayloadType {
		return nil, fmt.Errorf("%w: payload type %q, want %q", ErrMalformed, e.PayloadType, PayloadType)
	}
	id, signed := keyID(v), false
	pae := PAE(e.PayloadType, e.Payload)
	for _, sig := range e.Signatures {
		// A note verifier of an Ed25519 key is ed25519.Verify over the bytes.
		if sig.KeyID == id && v.Verify(pae, sig.Sig) {
			signed = true
			break
		}
	}
	if !signed {
		return nil, fmt.Errorf("%w: no valid signature by key %s", ErrSignature, id)
	}
	var st Statement
	if err := json.Unmarshal(e.Payload, &st); err != nil {
		return nil, fmt.Errorf("%w: statement: %w", ErrMalformed, err)
	}
	return &st, nil
}

// PeekEnvelope returns the kind and event key of an envelope's statement
// without checking its signature. It is for a reader that authenticates
// the leaves another way: by recomputing the root of a checkpoint it
// verified, as the ledger does when it loads its shards.
func PeekEnvelope(env []byte) (Kind, string, error) {
	if len(env) > MaxEnvelopeBytes {
		return "", "", fmt.Errorf("%w: envelope of %d bytes exceeds %d", ErrMalformed, len(env), MaxEnvelopeBytes)
	}
	var e Envelope
	if err := json.Unmarshal(env, &e); err != nil {
		return "", "", fmt.Errorf("%w: envelope: %w", ErrMalformed, err)
	}
	var st Statement
	if err := json.Unmarshal(e.Payload, &st); err != nil {
		return "", "", fmt.Errorf("%w: statement: %w", ErrMalformed, err)
	}
	k := st.Kind()
	if k == "" {
		return "", "", fmt.Errorf("%w: unknown predicate type %q", ErrMalformed, st.PredicateType)
	}
	var h struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(st.Predicate, &h); err != nil || h.Key == "" {
		return "", "", fmt.Errorf("%w: %s statement without a key", ErrMalformed, k)
	}
	return k, h.Key, nil
}

// PeekWithdrawal returns the withdrawal an envelope's statement names,
// without checking its signature: for a reader that verifies the bundle
// before it trusts what it derived from it.
func PeekWithdrawal(env []byte) (Withdrawal, error) {
	var e Envelope
	if err := json.Unmarshal(env, &e); err != nil {
		return Withdrawal{}, fmt.Errorf("%w: envelope: %w", ErrMalformed, err)
	}
	var st Statement
	if err := json.Unmarshal(e.Payload, &st); err != nil {
		return Withdrawal{}, fmt.Errorf("%w: statement: %w", ErrMalformed, err)
	}
	var h struct {
		Withdrawal Withdrawal `json:"withdrawal"`
	}
	if err := json.Unmarshal(st.Predicate, &h); err != nil {
		return Withdrawal{}, fmt.Errorf("%w: statement: %w", ErrMalformed, err)
	}
	return h.Withdrawal, nil
}
