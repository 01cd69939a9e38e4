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
	"fmt"
	"strings"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// OriginPrefix starts the origin of every withdrawal's ledger.
const OriginPrefix = "withdrawal.ops.dev/"

// MaxCheckpointBytes bounds a signed checkpoint: three short lines and a
// few signatures.
const MaxCheckpointBytes = 4 << 10

// Origin is the checkpoint origin of w's ledger. The UID keeps the ledgers
// of two withdrawals that reused a name apart.
func Origin(w Withdrawal) string {
	return OriginPrefix + w.Namespace + "/" + w.Name + "/" + w.UID
}

// SignCheckpoint signs the checkpoint of st as a signed note.
func (s *Signer) SignCheckpoint(origin string, st State) ([]byte, error) {
	if origin == "" || strings.ContainsAny(origin, "\n\r") {
		return nil, fmt.Errorf("checkpoint origin %q must be one non-empty line", origin)
	}
	root, err := st.Root()
	if err != nil {
		return nil, err
	}
	cp := log.Checkpoint{Origin: origin, Size: st.Size, Hash: root}
	signed, err := note.Sign(&note.Note{Text: string(cp.Marshal())}, s.note)
	if err != nil {
		return nil, fmt.Errorf("signing checkpoint %s at size %d: %w", origin, st.Size, err)
	}
	return signed, nil
}

// OpenCheckpoint verifies a signed checkpoint of origin by v and parses it.
func OpenCheckpoint(signed []byte, origin string, v note.Verifier) (*log.Checkpoint, error) {
	if len(signed) > MaxCheckpointBytes {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrCheckpoint, len(signed), MaxCheckpointBytes)
	}
	cp, _, _, err := log.ParseCheckpoint(signed, origin, v)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	if len(cp.Hash) != hasher.Size() {
		return nil, fmt.Errorf("%w: root of %d bytes", ErrCheckpoint, len(cp.Hash))
	}
	return cp, nil
}

// CheckpointSize reads the size of a signed checkpoint without checking
// its signature: only to know how much to read before it is checked.
func CheckpointSize(signed []byte) (uint64, error) {
	var cp log.Checkpoint
	text, _, _ := strings.Cut(string(signed), "\n\n")
	if _, err := cp.Unmarshal([]byte(text + "\n")); err != nil {
		return 0, fmt.Errorf("an unreadable checkpoint: %w", err)
	}
	return cp.Size, nil
}

// uncheckedSize reads the size of a checkpoint without its signature, only
// to name it in an error.
func uncheckedSize(signed []byte) string {
	var cp log.Checkpoint
	text, _, _ := strings.Cut(string(signed), "\n\n")
	if _, err := cp.Unmarshal([]byte(text + "\n")); err != nil {
		return "unreadable size"
	}
	return fmt.Sprintf("claimed size %d", cp.Size)
}
