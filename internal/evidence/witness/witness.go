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

// Package witness is a small witness of the evidence ledgers, in the
// C2SP tlog-witness protocol: it cosigns a ledger's checkpoint (C2SP
// tlog-cosignature/v1) only if it is signed by the operator's key and
// extends, by a valid consistency proof, the last checkpoint of that
// ledger it cosigned. Run by someone the operator does not control, it
// makes a rewrite of what it saw detectable: the rewritten ledger's
// checkpoints are not consistent with the one it cosigned, and it never
// cosigns them.
package witness

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
)

// Path is where a witness takes checkpoints (C2SP tlog-witness).
const Path = "/add-checkpoint"

// ContentTypeSize is the content type of a 409's body: the size the
// witness last cosigned for the log.
const ContentTypeSize = "text/x.tlog.size"

// maxRequest bounds a request: the old size line, up to 64 proof hashes,
// and a checkpoint.
const maxRequest = 16 << 10

// Seen is what a witness last cosigned of one log.
type Seen struct {
	Size uint64 `json:"size"`
	Root []byte `json:"root"`
}

// Store keeps what the witness saw, by origin. It must survive restarts:
// a witness that forgets would cosign a rewrite.
type Store interface {
	Get(origin string) (Seen, bool, error)
	Put(origin string, s Seen) error
}

// FileStore keeps every origin's Seen in one JSON file, replaced
// atomically on each write.
type FileStore struct {
	Path string
}

func (f *FileStore) load() (map[string]Seen, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]Seen{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]Seen{}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("the witness state %s: %w", f.Path, err)
	}
	return out, nil
}

// Get returns what was seen of origin.
func (f *FileStore) Get(origin string) (Seen, bool, error) {
	all, err := f.load()
	if err != nil {
		return Seen{}, false, err
	}
	s, ok := all[origin]
	return s, ok, nil
}

// Put records what was seen of origin.
func (f *FileStore) Put(origin string, s Seen) error {
	all, err := f.load()
	if err != nil {
		return err
	}
	all[origin] = s
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.Path), ".witness-state-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), f.Path)
}

// Witness cosigns checkpoints of the logs whose keys it knows.
type Witness struct {
	// Signer makes the cosignatures: a cosignature/v1 signer
	// (note.NewSignerForCosignatureV1 of transparency-dev/formats).
	Signer note.Signer
	// Logs are the verifier keys of the logs it witnesses: the
	// operator's evidence key. Origins must start with
	// evidence.OriginPrefix.
	Logs  note.Verifiers
	Store Store

	// mu serialises the check and the update of one log's state.
	mu sync.Mutex
}

// ServeHTTP answers POST /add-checkpoint.
func (w *Witness) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		http.NotFound(rw, r)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(rw, "POST a checkpoint", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
	if err != nil || len(body) > maxRequest {
		http.Error(rw, "the request is unreadable or too large", http.StatusBadRequest)
		return
	}
	old, hashes, signed, err := parseRequest(body)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	cosig, seen, status, err := w.add(old, hashes, signed)
	switch status {
	case http.StatusOK:
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = rw.Write(cosig)
	case http.StatusConflict:
		rw.Header().Set("Content-Type", ContentTypeSize)
		rw.WriteHeader(http.StatusConflict)
		_, _ = fmt.Fprintf(rw, "%d\n", seen)
	default:
		http.Error(rw, err.Error(), status)
	}
}

// parseRequest reads "old N", the proof's base64 hashes one per line, an
// empty line, then the signed checkpoint.
func parseRequest(body []byte) (old uint64, hashes [][]byte, signed []byte, err error) {
	head, signed, ok := bytes.Cut(body, []byte("\n\n"))
	if !ok {
		return 0, nil, nil, errors.New("want the old size and proof, an empty line, then the checkpoint")
	}
	sc := bufio.NewScanner(bytes.NewReader(head))
	if !sc.Scan() {
		return 0, nil, nil, errors.New("missing the old size line")
	}
	n, ok := strings.CutPrefix(sc.Text(), "old ")
	if !ok {
		return 0, nil, nil, errors.New(`the first line must be "old <size>"`)
	}
	if old, err = strconv.ParseUint(n, 10, 64); err != nil {
		return 0, nil, nil, fmt.Errorf("the old size: %w", err)
	}
	for sc.Scan() {
		h, err := base64.StdEncoding.DecodeString(sc.Text())
		if err != nil || len(h) != rfc6962.DefaultHasher.Size() {
			return 0, nil, nil, fmt.Errorf("proof line %d is not a base64 SHA-256 hash", len(hashes)+1)
		}
		hashes = append(hashes, h)
	}
	if len(hashes) > 64 {
		return 0, nil, nil, errors.New("a consistency proof has at most 64 hashes")
	}
	return old, hashes, signed, nil
}

// add checks and cosigns one checkpoint. It returns the cosignature
// lines, or the status to answer and why; for a 409, the size it saw.
func (w *Witness) add(old uint64, hashes [][]byte, signed []byte) (cosig []byte, seen uint64, status int, err error) {
	n, err := note.Open(signed, w.Logs)
	if err != nil {
		return nil, 0, http.StatusForbidden, fmt.Errorf("the checkpoint is not signed by a log this witness knows: %w", err)
	}
	origin, _, _ := strings.Cut(n.Text, "\n")
	if !strings.HasPrefix(origin, evidence.OriginPrefix) {
		return nil, 0, http.StatusForbidden, fmt.Errorf("origin %q is not an evidence ledger's", origin)
	}
	var cp log.Checkpoint
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil {
		return nil, 0, http.StatusBadRequest, fmt.Errorf("the checkpoint: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	prev, _, err := w.Store.Get(origin)
	if err != nil {
		return nil, 0, http.StatusInternalServerError, err
	}
	if old != prev.Size {
		return nil, prev.Size, http.StatusConflict, nil
	}
	switch {
	case cp.Size < prev.Size:
		return nil, 0, http.StatusBadRequest, fmt.Errorf("size %d is smaller than the %d this witness cosigned", cp.Size, prev.Size)
	case prev.Size > 0:
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, prev.Size, cp.Size, hashes, prev.Root, cp.Hash); err != nil {
			// A rewrite of what was cosigned ends here.
			return nil, 0, http.StatusUnprocessableEntity, fmt.Errorf("not consistent with the checkpoint at size %d this witness cosigned: %w", prev.Size, err)
		}
	}
	cosigned, err := note.Sign(&note.Note{Text: n.Text}, w.Signer)
	if err != nil {
		return nil, 0, http.StatusInternalServerError, err
	}
	if err := w.Store.Put(origin, Seen{Size: cp.Size, Root: cp.Hash}); err != nil {
		return nil, 0, http.StatusInternalServerError, err
	}
	// The signed note is the text, an empty line, then the signature
	// lines: the cosignature is the last.
	_, sigs, _ := bytes.Cut(cosigned, []byte("\n\n"))
	return sigs, 0, http.StatusOK, nil
}
