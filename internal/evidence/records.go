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
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"
)

// Records the operator keeps where others may write (the export step's
// artifact and customer ConfigMaps, in a withdrawal's namespace) are
// signed with the evidence key, so that anyone who reads them (the notify
// step, the handoff endpoint, an auditor) can check with the public key
// alone, from the withdrawal's status.evidence.key, that the operator
// wrote them. The message starts with its own context, which neither a
// DSSE envelope ("DSSEv1 ") nor a signed note's text (no NUL byte) can.

// recordContext separates record signatures from every other signature
// of the key.
const recordContext = "region-withdrawal-operator/records/v1\x00"

// ErrRecordSignature means a record's signature does not check.
var ErrRecordSignature = errors.New("not signed by the operator")

// RecordMessage is the signed message of a record made of parts: each is
// length-prefixed, so no two lists of parts make the same message.
func RecordMessage(parts ...string) []byte {
	msg := []byte(recordContext)
	for _, p := range parts {
		msg = binary.AppendUvarint(msg, uint64(len(p)))
		msg = append(msg, p...)
	}
	return msg
}

// SignRecord signs a record message; the signature is base64.
func (s *Signer) SignRecord(msg []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(s.priv, msg))
}

// VerifyRecord checks a record signature by the verifier key vkey.
func VerifyRecord(vkey string, msg []byte, sig string) error {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return fmt.Errorf("the verifier key: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || !v.Verify(msg, raw) {
		return ErrRecordSignature
	}
	return nil
}
