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
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ledger seals events with s, appends them, signs a checkpoint every
// `every` statements and after the last, and returns the bundle.
func ledger(t testing.TB, s *Signer, events []timed, every int) *Bundle {
	t.Helper()
	var st State
	var leaves, cps [][]byte
	for i, e := range events {
		env, err := e.seal(s, pakistan)
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, env)
		if err := st.Append(env); err != nil {
			t.Fatal(err)
		}
		if (i+1)%every == 0 || i == len(events)-1 {
			cps = append(cps, signCheckpoint(t, s, st))
		}
	}
	b, err := NewBundle(Origin(pakistan), s.VerifierKey(), testSalt, leaves, cps)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func signCheckpoint(t testing.TB, s *Signer, st State) []byte {
	t.Helper()
	cp, err := s.SignCheckpoint(Origin(pakistan), st)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// stateOf is the state of the given leaves.
func stateOf(t testing.TB, leaves [][]byte) State {
	t.Helper()
	var st State
	for _, l := range leaves {
		if err := st.Append(l); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// The fixture: 15 statements, the last the seal, checkpoints at sizes 4,
// 8, 12 and 15.
func TestVerifyAcceptsLedger(t *testing.T) {
	s := testSigner(t, 1)
	b := ledger(t, s, everyKind(), 4)
	var buf bytes.Buffer
	if err := WriteBundle(&buf, b); err != nil {
		t.Fatal(err)
	}
	read, err := ReadBundle(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(read.Statements, b.Statements, bytes.Equal) || !slices.Equal(read.Checkpoints, b.Checkpoints) {
		t.Fatal("bundle changed through WriteBundle and ReadBundle")
	}
	r, err := Verify(read, VerifyOptions{Key: s.VerifierKey()})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Entries) != 15 || len(r.Checkpoints) != 4 || r.Checkpoints[3].Size != 15 || len(b.Consistency) != 3 {
		t.Errorf("%d entries, checkpoints %+v", len(r.Entries), r.Checkpoints)
	}
	if c := r.Counts(); c[KindNoticeDelivered] != 4 || c[KindNoticeFailed] != 1 || c[KindCancelled] != 1 {
		t.Errorf("counts %v", c)
	}
	want := NoticeSummary{Notice: "first", Told: 3, NeverTold: 1, First: noticeSent, Last: cutoff.Add(time.Hour)}
	if n := r.Notices(); len(n) != 1 || n[0] != want {
		t.Errorf("notices %+v, want %+v", n, want)
	}
	if rs := r.RoutingStopped(); len(rs) != 1 || !rs[0].At.Equal(cutoff) {
		t.Errorf("routing %+v", rs)
	}
	if ex := r.Exports(); len(ex) != 1 || ex[0].Location != "s3://bucket/pk/cust-1.tar" {
		t.Errorf("exports %+v", ex)
	}
	if d := r.Decisions(); len(d) != 4 || d[0].Event.(*Approved).User != "alice@example.com" {
		t.Errorf("decisions %+v", d)
	}
	if fp, ok := strings.CutPrefix(r.Fingerprint, "SHA256:"); !ok || len(fp) != 64 {
		t.Errorf("fingerprint %q, want SHA256: and 64 hex digits", r.Fingerprint)
	}
	var text strings.Builder
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ledger withdrawal.ops.dev/bes/pakistan/" + pakistan.UID + ": 15 statements, 4 checkpoints",
		"key withdrawal.ops.dev+" + s.KeyID() + ", fingerprint " + r.Fingerprint + ", pinned",
		"sealed (cancelled) at 2026-12-30T03:00:00Z: the ledger is complete at 15 statements",
		"all signatures valid", "notice first: 3 recipients told",
		"1 never told", "routing stopped 2026-12-30T00:00:00Z (Block451", "approved drain at 2026-12-29T22:59:00Z by alice",
		"suspended at 2026-12-29T23:01:00Z by bob@example.com: customer escalation",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, text.String())
		}
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	honest, other := testSigner(t, 1), testSigner(t, 2)
	original := ledger(t, honest, everyKind(), 4)
	tests := []struct {
		name   string
		tamper func(t *testing.T, b *Bundle) *Bundle
		// opts pins more than the key, when set.
		opts func(o *VerifyOptions)
		want []error
	}{{
		name: "one byte of one payload changed",
		tamper: func(t *testing.T, b *Bundle) *Bundle {
			var e Envelope
			if err := json.Unmarshal(b.Statements[5], &e); err != nil {
				t.Fatal(err)
			}
			e.Payload = bytes.Replace(e.Payload, []byte(`"bytes":1048576`), []byte(`"bytes":1048577`), 1)
			b.Statements[5], _ = json.Marshal(e)
			return b
		},
		want: []error{ErrSignature, ErrRootMismatch},
	}, {
		name:   "statement removed",
		tamper: func(t *testing.T, b *Bundle) *Bundle { b.Statements = slices.Delete(b.Statements, 2, 3); return b },
		want:   []error{ErrRootMismatch},
	}, {
		name: "two statements swapped",
		tamper: func(t *testing.T, b *Bundle) *Bundle {
			b.Statements[9], b.Statements[10] = b.Statements[10], b.Statements[9]
			return b
		},
		want: []error{ErrRootMismatch},
	}, {
		name:   "everything re-signed with another key, key pinned",
		tamper: func(t *testing.T, b *Bundle) *Bundle { return ledger(t, other, everyKind(), 4) },
		want:   []error{ErrKeyMismatch},
	}, {
		name: "checkpoint signed by another key",
		tamper: func(t *testing.T, b *Bundle) *Bundle {
			b.Checkpoints[1] = string(signCheckpoint(t, other, stateOf(t, b.Statements[:8])))
			return b
		},
		want: []error{ErrCheckpoint},
	}, {
		name: "forged checkpoint root",
		tamper: func(t *testing.T, b *Bundle) *Bundle {
			forged := slices.Clone(b.Statements[:8])
			forged[6] = []byte("what did not happen")
			b.Checkpoints[1] = string(signCheckpoint(t, honest, stateOf(t, forged)))
			return b
		},
		want: []error{ErrRootMismatch, ErrConsistency},
	}, {
		name: "consistency proof altered",
		tamper: func(t *testing.T, b *Bundle) *Bundle {
			b.Consistency[1].Hashes[0] = LeafHash([]byte("x"))
			return b
		},
		want: []error{ErrConsistency},
	}, {
		name: "truncated: last checkpoint dropped",
		tamper: func(t *testing.T, b *Bundle) *Bundle {
			b.Checkpoints, b.Consistency = b.Checkpoints[:3], b.Consistency[:2]
			return b
		},
		want: []error{ErrUncovered},
	}, {
		name: "one key, two different statements",
		tamper: func(t *testing.T, b *Bundle) *Bundle {
			events := everyKind()
			again := events[1].ev.(*NoticeDelivered)
			clone := *again
			clone.Email = &EmailReceipt{Code: 250, Text: "another reply"}
			return ledger(t, honest, append(events, timed{at: cutoff, ev: &clone}), 4)
		},
		want: []error{ErrDuplicateKey},
	}, {
		name: "statement about another withdrawal",
		tamper: func(t *testing.T, b *Bundle) *Bundle {
			env, err := honest.Seal(Withdrawal{Namespace: "bes", Name: "india", UID: "1"}, &Cancelled{Header: Header{At: cutoff}})
			if err != nil {
				t.Fatal(err)
			}
			leaves := append(slices.Clone(b.Statements), env)
			nb, err := NewBundle(b.Origin, b.Key, nil, leaves, [][]byte{signCheckpoint(t, honest, stateOf(t, leaves))})
			if err != nil {
				t.Fatal(err)
			}
			return nb
		},
		want: []error{ErrStatement},
	}, {
		name: "a statement copied over another",
		tamper: func(t *testing.T, b *Bundle) *Bundle {
			b.Statements[5] = b.Statements[4]
			return b
		},
		want: []error{ErrRootMismatch, ErrDuplicateKey},
	}, {
		name: "a statement repeated, even under a checkpoint that signs it",
		tamper: func(t *testing.T, b *Bundle) *Bundle {
			return resigned(t, honest, b, slices.Insert(slices.Clone(b.Statements), 5, b.Statements[4]))
		},
		want: []error{ErrDuplicateKey},
	}, {
		name: "cut short of its seal, every checkpoint kept up to there",
		tamper: func(t *testing.T, b *Bundle) *Bundle {
			b.Statements, b.Checkpoints, b.Consistency = b.Statements[:12], b.Checkpoints[:3], b.Consistency[:2]
			return b
		},
		want: []error{ErrNotSealed},
	}, {
		name: "cut to its first statement and a checkpoint of it",
		tamper: func(t *testing.T, b *Bundle) *Bundle {
			return resigned(t, honest, b, b.Statements[:1])
		},
		want: []error{ErrNotSealed},
	}, {
		name: "a statement after the seal",
		tamper: func(t *testing.T, b *Bundle) *Bundle {
			env, err := honest.Seal(pakistan, &Resumed{Header: Header{At: cutoff.Add(4 * time.Hour)}, Generation: 9})
			if err != nil {
				t.Fatal(err)
			}
			return resigned(t, honest, b, append(slices.Clone(b.Statements), env))
		},
		want: []error{ErrAfterSeal},
	}, {
		name: "another withdrawal's sealed ledger, signed by the same key, pinned by UID",
		tamper: func(t *testing.T, b *Bundle) *Bundle {
			india := Withdrawal{Namespace: "bes", Name: "india", UID: "0b7e"}
			var leaves [][]byte
			for _, e := range everyKind() {
				env, err := e.seal(honest, india)
				if err != nil {
					t.Fatal(err)
				}
				leaves = append(leaves, env)
			}
			cp, err := honest.SignCheckpoint(Origin(india), stateOf(t, leaves))
			if err != nil {
				t.Fatal(err)
			}
			nb, err := NewBundle(Origin(india), honest.VerifierKey(), nil, leaves, [][]byte{cp})
			if err != nil {
				t.Fatal(err)
			}
			return nb
		},
		opts: func(o *VerifyOptions) { o.UID = pakistan.UID },
		want: []error{ErrWrongLedger},
	}, {
		name: "rewritten behind a checkpoint the auditor kept, by the key's holder",
		tamper: func(t *testing.T, b *Bundle) *Bundle {
			events := everyKind()
			events[2].at = events[2].at.Add(-24 * time.Hour) // told a day earlier than it was
			return ledger(t, honest, events, 4)
		},
		opts: func(o *VerifyOptions) { o.Checkpoints = [][]byte{[]byte(original.Checkpoints[1])} },
		want: []error{ErrPinned},
	}, {
		name: "cut short behind a checkpoint the auditor kept",
		tamper: func(t *testing.T, b *Bundle) *Bundle {
			b.Statements, b.Checkpoints, b.Consistency = b.Statements[:4], b.Checkpoints[:1], b.Consistency[:0]
			return b
		},
		opts: func(o *VerifyOptions) { o.Checkpoints, o.AllowOpen = [][]byte{[]byte(original.Checkpoints[2])}, true },
		want: []error{ErrPinned},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.tamper(t, ledger(t, honest, everyKind(), 4))
			opts := VerifyOptions{Key: honest.VerifierKey()}
			if tc.opts != nil {
				tc.opts(&opts)
			}
			// Each through both ways in: the bundle in memory, and the
			// bundle streamed from its file.
			var file bytes.Buffer
			if err := WriteBundle(&file, b); err != nil {
				t.Fatal(err)
			}
			streamed, serr := VerifyReader(&file, opts)
			r, err := Verify(b, opts)
			for way, got := range map[string]error{"Verify": err, "VerifyReader": serr} {
				if got == nil {
					t.Fatalf("%s: tampered bundle verified", way)
				}
				for _, want := range tc.want {
					if !errors.Is(got, want) {
						t.Errorf("%s: error does not report %q:\n%v", way, want, got)
					}
				}
			}
			if r == nil || len(r.Problems) == 0 || len(streamed.Problems) != len(r.Problems) {
				t.Errorf("report %+v lists no problem, or not the same as the streamed one's %v", r, streamed.Problems)
			}
		})
	}
}

func TestVerifyNamesWhatFailed(t *testing.T) {
	s := testSigner(t, 1)
	b := ledger(t, s, everyKind(), 4)
	b.Statements[5] = bytes.Replace(b.Statements[5], []byte(`"sig":"`), []byte(`"sig":"AAAA`), 1)
	_, err := Verify(b, VerifyOptions{Key: s.VerifierKey()})
	for _, want := range []string{"statement 5:", "checkpoint 1 (size 8)", "checkpoint 2 (size 12)", "checkpoint 3 (size 15)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q:\n%v", want, err)
		}
	}
}

// resigned is b with other leaves and one checkpoint over them, signed by
// s: what the holder of the key could make.
func resigned(t *testing.T, s *Signer, b *Bundle, leaves [][]byte) *Bundle {
	t.Helper()
	nb, err := NewBundle(b.Origin, b.Key, nil, leaves, [][]byte{signCheckpoint(t, s, stateOf(t, leaves))})
	if err != nil {
		t.Fatal(err)
	}
	return nb
}

func TestVerifyRequiresTheKey(t *testing.T) {
	_, err := Verify(ledger(t, testSigner(t, 2), everyKind(), 4), VerifyOptions{})
	if !errors.Is(err, ErrKeyRequired) {
		t.Errorf("verified without a pinned key: %v", err)
	}
}

// TestVerifyAcceptsAnOpenLedgerWhenAsked: a running withdrawal's ledger
// has no seal yet; allowed, it verifies and says it is open, and it
// extends the checkpoints taken earlier.
func TestVerifyAcceptsAnOpenLedgerWhenAsked(t *testing.T) {
	s := testSigner(t, 1)
	full := ledger(t, s, everyKind(), 4)
	open := ledger(t, s, everyKind()[:12], 4)
	r, err := Verify(open, VerifyOptions{Key: s.VerifierKey(), AllowOpen: true, UID: pakistan.UID, Checkpoints: [][]byte{[]byte(full.Checkpoints[1])}})
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"OPEN at size 12", "extends the pinned checkpoint at size 8"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, text.String())
		}
	}
}

func TestToldBefore(t *testing.T) {
	s := testSigner(t, 1)
	r, err := Verify(ledger(t, s, everyKind(), 4), VerifyOptions{Key: s.VerifierKey()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		recipient   string
		salt        []byte
		wantTold    bool
		wantEntries int
	}{
		{name: "told on two channels before the cutoff", recipient: "cust-1", wantTold: true, wantEntries: 2},
		{name: "failed for good", recipient: "cust-2", wantEntries: 1},
		{name: "told after the cutoff", recipient: "cust-3", wantEntries: 1},
		{name: "never in the ledger", recipient: "cust-9"},
		{name: "wrong salt", recipient: "cust-1", salt: []byte("guess")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			told, entries := r.ToldBefore(tc.recipient, tc.salt, cutoff)
			if told != tc.wantTold || len(entries) != tc.wantEntries {
				t.Errorf("told %v with %d statements, want %v with %d", told, len(entries), tc.wantTold, tc.wantEntries)
			}
		})
	}
}

func TestReadBundleRejects(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{name: "other format", in: `{"format":"something/else"}`},
		{name: "trailing data", in: `{"format":"` + BundleFormatV1 + `"} {}`},
		{name: "v2 format in a v1 document", in: `{"format":"` + BundleFormat + `"}`},
		{name: "not json", in: `{"format":`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ReadBundle(strings.NewReader(tc.in)); !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v, want ErrMalformed", err)
			}
		})
	}
}

func BenchmarkSealAndAppend(b *testing.B) {
	s := testSigner(b, 1)
	var st State
	for i := 0; b.Loop(); i++ {
		env, err := s.Seal(pakistan, &NoticeDelivered{Header: Header{At: noticeSent}, Notice: "first", Recipient: RecipientHash(testSalt, strconv.Itoa(i)),
			Channel: "webhook", IdempotencyKey: "k", Webhook: &WebhookReceipt{Status: 200, BodySHA256: strings.Repeat("ab", 32)}})
		if err != nil {
			b.Fatal(err)
		}
		if err := st.Append(env); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "statements/s")
}

// BenchmarkVerify100k verifies a bundle of 100,000 deliveries with a
// checkpoint every 1,000, streamed from its file as the plugin reads it.
// hack/bench/verify measures the plugin itself on a million.
func BenchmarkVerify100k(b *testing.B) {
	const n = 100_000
	s := testSigner(b, 1)
	events := make([]timed, n)
	for i := range events {
		events[i] = timed{at: noticeSent, ev: &NoticeDelivered{Notice: "first", Recipient: RecipientHash(testSalt, "cust-"+strconv.Itoa(i)),
			Channel: "webhook", IdempotencyKey: "k", Webhook: &WebhookReceipt{Status: 200, BodySHA256: strings.Repeat("ab", 32)}}}
	}
	var buf bytes.Buffer
	if err := WriteBundle(&buf, ledger(b, s, events, 1000)); err != nil {
		b.Fatal(err)
	}
	size := buf.Len()
	for b.Loop() {
		if _, err := VerifyReader(bytes.NewReader(buf.Bytes()), VerifyOptions{Key: s.VerifierKey(), AllowOpen: true}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size)/n, "bytes/statement")
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "statements/s")
}
