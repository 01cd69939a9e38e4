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

package witness_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/witness"
)

var pakistan = evidence.Withdrawal{Namespace: "shop-pk", Name: "pakistan", UID: "5e1c9a2d"}

// operatorLog is a ledger as the operator keeps it: its leaves, and a
// checkpoint signed at any size.
type operatorLog struct {
	t      *testing.T
	signer *evidence.Signer
	leaves [][]byte
}

func newLog(t *testing.T, seed byte) *operatorLog {
	s, err := evidence.NewSigner("withdrawal.ops.dev", bytes.Repeat([]byte{seed}, evidence.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	return &operatorLog{t: t, signer: s}
}

func (l *operatorLog) add(n int, what string) {
	for i := range n {
		env, err := l.signer.Seal(pakistan, &evidence.SpecRecorded{Header: evidence.Header{At: time.Date(2026, 12, 1, 9, 0, len(l.leaves), 0, time.UTC)},
			Generation: int64(len(l.leaves) + 1), SpecSHA256: what + string(rune('a'+i))})
		if err != nil {
			l.t.Fatal(err)
		}
		l.leaves = append(l.leaves, env)
	}
}

func (l *operatorLog) checkpoint() []byte {
	var st evidence.State
	for _, leaf := range l.leaves {
		if err := st.Append(leaf); err != nil {
			l.t.Fatal(err)
		}
	}
	cp, err := l.signer.SignCheckpoint(evidence.Origin(pakistan), st)
	if err != nil {
		l.t.Fatal(err)
	}
	return cp
}

func (l *operatorLog) verify(opts evidence.VerifyOptions) error {
	b, err := evidence.NewBundle(evidence.Origin(pakistan), l.signer.VerifierKey(), nil, l.leaves, [][]byte{l.checkpoint()})
	if err != nil {
		l.t.Fatal(err)
	}
	opts.Key, opts.AllowOpen = l.signer.VerifierKey(), true
	_, err = evidence.Verify(b, opts)
	return err
}

// startWitness runs the witness's handler on loopback with its state in
// dir, knowing the operator's key.
func startWitness(t *testing.T, dir string, logKey string) (url, vkey string) {
	t.Helper()
	skey, std, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{7}, 64)), "witness.example.com")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(logKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(&witness.Witness{Signer: signer, Logs: note.VerifierList(v), Store: &witness.FileStore{Path: filepath.Join(dir, "state.json")}})
	t.Cleanup(srv.Close)
	vkey, err = fnote.VKeyToCosignatureV1(std)
	if err != nil {
		t.Fatal(err)
	}
	return srv.URL, vkey
}

// TestAWitnessCosignsOnlyWhatExtendsWhatItSaw: the witness cosigns the
// ledger at 3 statements, then at 5 (asking the client, with a 409, to
// prove consistency from 3). The operator, holding its own key, rewrites
// the first statement and signs a checkpoint of the rewritten ledger: the
// witness refuses it, also after a restart, and verify fails the
// rewritten bundle against the witnessed checkpoint. A checkpoint without
// the witness's cosignature does not pass as witnessed, nor does one
// cosigned by another witness.
func TestAWitnessCosignsOnlyWhatExtendsWhatItSaw(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := newLog(t, 1)
	url, vkey := startWitness(t, dir, l.signer.VerifierKey())
	c := &http.Client{Timeout: 10 * time.Second}

	l.add(3, "first")
	at3, err := witness.Cosign(ctx, c, url, evidence.HashesOf(l.leaves), l.checkpoint())
	if err != nil {
		t.Fatalf("the first checkpoint: %v", err)
	}
	l.add(2, "more")
	at5, err := witness.Cosign(ctx, c, url, evidence.HashesOf(l.leaves), l.checkpoint())
	if err != nil {
		t.Fatalf("a checkpoint extending the first: %v", err)
	}
	for _, cp := range [][]byte{at3, at5} {
		if err := l.verify(evidence.VerifyOptions{Checkpoints: [][]byte{cp}, Witnesses: []string{vkey}}); err != nil {
			t.Fatalf("the ledger does not verify against its witnessed checkpoint: %v", err)
		}
	}

	// The operator rewrites the first statement and re-signs.
	rewritten := &operatorLog{t: t, signer: l.signer, leaves: append([][]byte(nil), l.leaves...)}
	rewritten.leaves = rewritten.leaves[:0]
	rewritten.add(1, "rewritten")
	rewritten.leaves = append(rewritten.leaves, l.leaves[1:]...)
	rewritten.add(1, "after")
	if _, err := witness.Cosign(ctx, c, url, evidence.HashesOf(rewritten.leaves), rewritten.checkpoint()); err == nil || !strings.Contains(err.Error(), "not consistent") {
		t.Fatalf("the witness cosigned a rewrite: %v", err)
	}
	// A witness restarted on its state refuses it too.
	url2, _ := startWitness(t, dir, l.signer.VerifierKey())
	if _, err := witness.Cosign(ctx, c, url2, evidence.HashesOf(rewritten.leaves), rewritten.checkpoint()); err == nil || !strings.Contains(err.Error(), "not consistent") {
		t.Fatalf("a restarted witness cosigned a rewrite: %v", err)
	}
	// Cut short below what it saw: refused too.
	short := &operatorLog{t: t, signer: l.signer, leaves: l.leaves[:4]}
	if _, err := witness.Cosign(ctx, c, url, evidence.HashesOf(short.leaves), short.checkpoint()); err == nil || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("the witness took a ledger cut short: %v", err)
	}

	if err := rewritten.verify(evidence.VerifyOptions{Checkpoints: [][]byte{at5}, Witnesses: []string{vkey}}); !errors.Is(err, evidence.ErrPinned) {
		t.Fatalf("the rewrite verified against the witnessed checkpoint: %v", err)
	}
	if err := l.verify(evidence.VerifyOptions{Checkpoints: [][]byte{l.checkpoint()}, Witnesses: []string{vkey}}); !errors.Is(err, evidence.ErrWitness) {
		t.Fatalf("a checkpoint the witness never saw passed as witnessed: %v", err)
	}
	otherKey, _ := fnote.VKeyToCosignatureV1(mustVKey(t, "other.example.com"))
	if err := l.verify(evidence.VerifyOptions{Checkpoints: [][]byte{at5}, Witnesses: []string{otherKey}}); !errors.Is(err, evidence.ErrWitness) {
		t.Fatalf("a checkpoint passed as cosigned by a witness that did not: %v", err)
	}
}

// TestAWitnessRefusesALogItDoesNotKnow: a checkpoint signed by another
// key is refused.
func TestAWitnessRefusesALogItDoesNotKnow(t *testing.T) {
	l, stranger := newLog(t, 1), newLog(t, 2)
	url, _ := startWitness(t, t.TempDir(), l.signer.VerifierKey())
	stranger.add(2, "x")
	if _, err := witness.Cosign(context.Background(), &http.Client{Timeout: 10 * time.Second}, url, evidence.HashesOf(stranger.leaves), stranger.checkpoint()); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("the witness cosigned a log it does not know: %v", err)
	}
}

func mustVKey(t *testing.T, name string) string {
	t.Helper()
	_, vkey, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{9}, 64)), name)
	if err != nil {
		t.Fatal(err)
	}
	return vkey
}

// TestTheWitnessCommand runs the command as shipped: keygen writes a key,
// the witness serves on loopback, cosigns a checkpoint the verifier then
// accepts with the printed key, and stops when asked.
func TestTheWitnessCommand(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "witness.key")
	var printed bytes.Buffer
	if err := witness.Keygen(&printed, []string{"--out", keyFile, "witness.example.com"}); err != nil {
		t.Fatal(err)
	}
	l := newLog(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- witness.Run(ctx, []string{"--listen", "127.0.0.1:0", "--key-file", keyFile, "--log-key", l.signer.VerifierKey(),
			"--state-file", filepath.Join(dir, "state.json")}, func(a string) { addr <- a })
	}()
	var url string
	select {
	case a := <-addr:
		url = "http://" + a
	case err := <-done:
		t.Fatalf("the witness did not start: %v", err)
	}
	l.add(2, "x")
	cp, err := witness.Cosign(ctx, &http.Client{Timeout: 10 * time.Second}, url, evidence.HashesOf(l.leaves), l.checkpoint())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.verify(evidence.VerifyOptions{Checkpoints: [][]byte{cp}, Witnesses: []string{strings.TrimSpace(printed.String())}}); err != nil {
		t.Fatalf("the command's cosignature does not verify with the key keygen printed: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("the witness did not stop cleanly: %v", err)
	}
}
