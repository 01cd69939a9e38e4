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
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// TestVerifyReaderAnswersAsVerifyDoes: streamed, the fixture gives the
// same counts, notices, decisions, routing and seal, keeps only the few
// statements, and those about the recipient asked about.
func TestVerifyReaderAnswersAsVerifyDoes(t *testing.T) {
	s := testSigner(t, 1)
	b := ledger(t, s, everyKind(), 4)
	var file bytes.Buffer
	if err := WriteBundle(&file, b); err != nil {
		t.Fatal(err)
	}
	whole, err := Verify(b, VerifyOptions{Key: s.VerifierKey()})
	if err != nil {
		t.Fatal(err)
	}
	streamed, err := VerifyReader(bytes.NewReader(file.Bytes()), VerifyOptions{Key: s.VerifierKey(), Recipient: "cust-1"})
	if err != nil {
		t.Fatal(err)
	}
	var a, z strings.Builder
	_ = whole.WriteText(&a)
	_ = streamed.WriteText(&z)
	if a.String() != z.String() {
		t.Errorf("reports differ:\nVerify:\n%s\nVerifyReader:\n%s", a.String(), z.String())
	}
	if streamed.Seal == nil || len(streamed.Decisions()) != len(whole.Decisions()) || len(streamed.RoutingStopped()) != 1 {
		t.Errorf("streamed report lost the seal, decisions or routing: %+v", streamed)
	}
	if len(streamed.Entries) >= len(whole.Entries) {
		t.Errorf("streamed report keeps %d entries, as many as Verify's %d", len(streamed.Entries), len(whole.Entries))
	}
	for _, recipient := range []string{"cust-1", "cust-2"} {
		wantTold, wantAbout := whole.ToldBefore(recipient, nil, cutoff)
		told, about := streamed.ToldBefore(recipient, nil, cutoff)
		if recipient == "cust-2" { // not asked about: nothing kept
			wantTold, wantAbout = false, nil
		}
		if told != wantTold || len(about) != len(wantAbout) {
			t.Errorf("%s: told %v with %d statements, want %v with %d", recipient, told, len(about), wantTold, len(wantAbout))
		}
	}
}

// TestVerifyReaderReadsTheFirstFormat: a bundle an earlier release wrote
// (one JSON document, base64 envelopes) still verifies.
func TestVerifyReaderReadsTheFirstFormat(t *testing.T) {
	s := testSigner(t, 1)
	b := ledger(t, s, everyKind(), 4)
	b.Format = BundleFormatV1
	v1, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyReader(bytes.NewReader(v1), VerifyOptions{Key: s.VerifierKey()}); err != nil {
		t.Fatal(err)
	}
	read, err := ReadBundle(bytes.NewReader(v1))
	if err != nil || !slices.EqualFunc(read.Statements, b.Statements, bytes.Equal) {
		t.Fatalf("read %v, %v", read, err)
	}
}

// TestABundleFileDoneWrongIsMalformed: the file itself, not the ledger in
// it, is wrong.
func TestABundleFileDoneWrongIsMalformed(t *testing.T) {
	s := testSigner(t, 1)
	b := ledger(t, s, everyKind(), 4)
	var good bytes.Buffer
	if err := WriteBundle(&good, b); err != nil {
		t.Fatal(err)
	}
	lines := func() []string {
		zr, err := gzip.NewReader(bytes.NewReader(good.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		all, _ := io.ReadAll(zr)
		return strings.Split(strings.TrimSuffix(string(all), "\n"), "\n")
	}
	gz := func(text string) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write([]byte(text))
		_ = zw.Close()
		return buf.Bytes()
	}
	tests := []struct {
		name string
		file []byte
	}{
		{name: "cut short", file: good.Bytes()[:good.Len()/2]},
		{name: "a statement missing, the head counting it", file: gz(strings.Join(slices.Delete(lines(), 3, 4), "\n") + "\n")},
		{name: "a statement more than the head counts", file: gz(strings.Join(append(lines(), lines()[1]), "\n") + "\n")},
		{name: "the last line unterminated", file: gz(strings.Join(lines(), "\n"))},
		{name: "a line too long", file: gz(lines()[0] + "\n" + strings.Repeat("x", MaxEnvelopeBytes+1) + "\n")},
		{name: "head not JSON", file: gz("{\n")},
		{name: "empty", file: gz("")},
		{name: "another format", file: gz(strings.Replace(lines()[0], BundleFormat, BundleFormatV1, 1) + "\n")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := VerifyReader(bytes.NewReader(tc.file), VerifyOptions{Key: s.VerifierKey()}); !errors.Is(err, ErrMalformed) {
				t.Errorf("VerifyReader: %v, want ErrMalformed", err)
			}
			if _, err := ReadBundle(bytes.NewReader(tc.file)); !errors.Is(err, ErrMalformed) {
				t.Errorf("ReadBundle: %v, want ErrMalformed", err)
			}
		})
	}
}

// TestWriteBundleRefusesALeafItCannotKeep: a leaf with a line break would
// come back as two.
func TestWriteBundleRefusesALeafItCannotKeep(t *testing.T) {
	b := ledger(t, testSigner(t, 1), everyKind(), 4)
	b.Statements[2] = append(slices.Clone(b.Statements[2]), '\n')
	if err := WriteBundle(io.Discard, b); err == nil {
		t.Fatal("wrote a statement with a line break")
	}
}

// TestVerifyReaderStreams: a bundle of many batches verifies with every
// checkpoint's root compared as it is reached, and a statement changed
// far from the start is named.
func TestVerifyReaderStreams(t *testing.T) {
	const n = 3*verifyBatch + 17
	s := testSigner(t, 1)
	events := make([]timed, n)
	for i := range events {
		events[i] = timed{at: noticeSent, ev: &NoticeDelivered{Notice: "first", Recipient: RecipientHash(testSalt, "cust-"+strconv.Itoa(i)),
			Channel: "webhook", IdempotencyKey: "k" + strconv.Itoa(i), Webhook: &WebhookReceipt{Status: 200, BodySHA256: strings.Repeat("ab", 32)}}}
	}
	b := ledger(t, s, events, 100)
	var file bytes.Buffer
	if err := WriteBundle(&file, b); err != nil {
		t.Fatal(err)
	}
	r, err := VerifyReader(bytes.NewReader(file.Bytes()), VerifyOptions{Key: s.VerifierKey(), AllowOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Statements != n || r.Counts()[KindNoticeDelivered] != n || len(r.Checkpoints) != n/100+1 {
		t.Errorf("%d statements, counts %v, %d checkpoints", r.Statements, r.Counts(), len(r.Checkpoints))
	}
	if ns := r.Notices(); len(ns) != 1 || ns[0].Told != n {
		t.Errorf("notices %+v", ns)
	}
	// Statement 700 replaced by 701: both still signed, the root at 700
	// still matches, the last (785) does not, and the key of 701 comes
	// twice.
	b.Statements[700] = b.Statements[701]
	file.Reset()
	if err := WriteBundle(&file, b); err != nil {
		t.Fatal(err)
	}
	_, err = VerifyReader(bytes.NewReader(file.Bytes()), VerifyOptions{Key: s.VerifierKey(), AllowOpen: true})
	for _, want := range []string{"checkpoint 7 (size 785)", "statement 701 repeats statement 700", "statements 700 to 784"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q:\n%v", want, err)
		}
	}
}

// TestAHostileBundleCannotFillMemoryWithProblems: a bundle of a million
// bad lines gzips to a few kilobytes; the report keeps the first
// MaxProblems and counts the rest.
func TestAHostileBundleCannotFillMemoryWithProblems(t *testing.T) {
	s := testSigner(t, 1)
	b := ledger(t, s, everyKind(), 4)
	const lines = 20_000
	head := b.Head()
	head.Format, head.Statements = BundleFormat, lines
	hb, err := json.Marshal(head)
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	zw := gzip.NewWriter(&file)
	_, _ = zw.Write(append(hb, '\n'))
	_, _ = zw.Write(bytes.Repeat([]byte("x\n"), lines))
	_ = zw.Close()
	r, err := VerifyReader(&file, VerifyOptions{Key: s.VerifierKey()})
	if !errors.Is(err, ErrMalformed) || len(r.Problems) != MaxProblems || r.Omitted < lines-MaxProblems {
		t.Fatalf("%d problems kept, %d omitted (%v); want %d kept and the rest counted", len(r.Problems), r.Omitted, err, MaxProblems)
	}
	if !strings.Contains(err.Error(), "more problems") {
		t.Errorf("the error does not say more were found: %v", err)
	}
}
