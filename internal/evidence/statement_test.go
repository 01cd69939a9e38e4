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
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

var (
	pakistan   = Withdrawal{Namespace: "bes", Name: "pakistan", UID: "6f1c2a9e-3b1d-4c5e-9f00-2d7a8b1c0e11"}
	testSalt   = []byte("a per-withdrawal salt for tests")
	cutoff     = time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC)
	noticeSent = cutoff.Add(-30 * 24 * time.Hour)
	drainStart = cutoff.Add(-time.Hour)
)

// testSigner is a signer with a fixed seed: fill tells two keys apart.
func testSigner(t testing.TB, fill byte) *Signer {
	t.Helper()
	s, err := NewSigner("withdrawal.ops.dev", bytes.Repeat([]byte{fill}, SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func verifier(t testing.TB, s *Signer) note.Verifier {
	t.Helper()
	v, err := note.NewVerifier(s.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type timed struct {
	at time.Time
	ev Event
}

// seal sets the event's time and seals it.
func (e timed) seal(s *Signer, w Withdrawal) ([]byte, error) {
	e.ev.header().At = e.at
	return s.Seal(w, e.ev)
}

// everyKind returns fresh events, one or more of each kind. Seal completes
// events in place, so each call builds new ones.
func everyKind() []timed {
	r := func(id string) string { return RecipientHash(testSalt, id) }
	web := func(id string) *NoticeDelivered {
		return &NoticeDelivered{Notice: "first", Recipient: r(id), Channel: "webhook", IdempotencyKey: "first/" + id,
			Webhook: &WebhookReceipt{Status: 204, BodySHA256: strings.Repeat("ab", 32)}}
	}
	deployment := ObjectRef{Kind: "Deployment", Namespace: "bes", Name: "api"}
	return []timed{
		{noticeSent.Add(-time.Hour), &SpecRecorded{Generation: 3, SpecSHA256: strings.Repeat("cd", 32)}},
		{noticeSent, &NoticeDelivered{Notice: "first", Recipient: r("cust-1"), Channel: "email", IdempotencyKey: "first/cust-1",
			Email: &EmailReceipt{Code: 250, Text: "2.0.0 Ok: queued as 4BZ7Q2", QueueID: "4BZ7Q2"}}},
		{noticeSent.Add(time.Minute), web("cust-1")},
		{noticeSent.Add(2 * time.Minute), &NoticeFailed{Notice: "first", Recipient: r("cust-2"), Channel: "email", Attempts: 5,
			Reason: "550 5.1.1 mailbox unavailable"}},
		{noticeSent.Add(3 * time.Minute), web("cust-4")},
		{noticeSent.Add(time.Hour), &ExportVerified{Target: "s3", Location: "s3://bucket/pk/cust-1.tar?X-Amz-Signature=s3cr3t",
			Bytes: 1 << 20, SHA256: strings.Repeat("ef", 32), Customer: r("cust-1")}},
		{drainStart.Add(-time.Minute), &Approved{Step: "drain", User: "alice@example.com", SpecDigest: "sha256:" + strings.Repeat("5d", 32)}},
		{drainStart, &DrainBatch{Drained: 1, Total: 1}},
		{drainStart.Add(time.Minute), &Suspended{Generation: 4, User: "bob@example.com", Reason: "customer escalation"}},
		{drainStart.Add(2 * time.Minute), &Resumed{Generation: 5, User: "bob@example.com"}},
		{drainStart.Add(3 * time.Minute), &DrainFinished{Workloads: []ObjectRef{deployment}, Total: 1}},
		{cutoff, &RoutingSwitched{Mode: "Block451", Objects: []ObjectRef{{Kind: "HTTPRoute", Namespace: "bes", Name: "pk"}}, Cutoff: cutoff}},
		{cutoff.Add(time.Hour), web("cust-3")}, // told after the cutoff
		{cutoff.Add(2 * time.Hour), &Cancelled{User: "carol@example.com", Reason: "withdrawal reverted"}},
		{cutoff.Add(3 * time.Hour), &LedgerSealed{Reason: SealCancelled}},
	}
}

func TestSealRoundTripsEveryKind(t *testing.T) {
	s := testSigner(t, 1)
	v := verifier(t, s)
	wantKeys := map[Kind]string{
		KindSpec:            "spec/3",
		KindNoticeFailed:    "notice/first/" + RecipientHash(testSalt, "cust-2") + "/email/failed",
		KindExportVerified:  "export/s3/" + RecipientHash(testSalt, "cust-1"),
		KindDrainBatch:      "drain/batch/1",
		KindDrainFinished:   "drain/finished",
		KindRoutingSwitched: "routing/switched",
		KindApproved:        "approved/drain/sha256:" + strings.Repeat("5d", 32),
		KindSuspended:       "suspended/4",
		KindResumed:         "resumed/5",
		KindCancelled:       "cancelled",
		KindSealed:          "sealed",
	}
	seen := map[Kind]bool{}
	for _, tc := range everyKind() {
		kind := tc.ev.Kind()
		t.Run(string(kind), func(t *testing.T) {
			env, err := tc.seal(s, pakistan)
			if err != nil {
				t.Fatal(err)
			}
			st, err := OpenEnvelope(env, v)
			if err != nil {
				t.Fatal(err)
			}
			if st.Type != StatementType || st.PredicateType != "https://withdrawal.ops.dev/evidence/"+string(kind)+"/v1" {
				t.Errorf("statement type %q, predicate type %q", st.Type, st.PredicateType)
			}
			got, err := st.Event()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.ev) {
				t.Errorf("decoded %+v, sealed %+v", got, tc.ev)
			}
			if want, ok := wantKeys[kind]; ok && got.EventKey() != want {
				t.Errorf("key %q, want %q", got.EventKey(), want)
			}
			if rc := tc.ev.recipient(); len(st.Subject) != 1+min(len(rc), 1) || st.Subject[0].Name != "regionwithdrawal/bes/pakistan" {
				t.Errorf("subjects %+v for recipient %q", st.Subject, rc)
			}
		})
		seen[kind] = true
	}
	for k := range wantKeys {
		if !seen[k] {
			t.Errorf("no %s event in everyKind", k)
		}
	}
}

func TestSealIsDeterministic(t *testing.T) {
	s := testSigner(t, 1)
	event := func() Event {
		return &NoticeFailed{Notice: "first", Recipient: RecipientHash(testSalt, "cust-2"), Channel: "email",
			Attempts: 5, Reason: strings.Repeat("é", 300)}
	}
	karachi := time.FixedZone("PKT", 5*3600)
	tests := []struct {
		name string
		at   time.Time
	}{
		{name: "same instant", at: noticeSent},
		{name: "other zone, same instant", at: noticeSent.In(karachi)},
		{name: "sub-second part dropped", at: noticeSent.Add(999 * time.Millisecond)},
	}
	want, err := timed{at: noticeSent, ev: event()}.seal(s, pakistan)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := timed{at: tc.at, ev: event()}.seal(s, pakistan)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("replay sealed\n%s\nfirst\n%s", got, want)
			}
		})
	}
}

func TestSealTruncatesAndRedacts(t *testing.T) {
	s := testSigner(t, 1)
	f := &NoticeFailed{Notice: "n", Recipient: "r", Channel: "email", Reason: strings.Repeat("é", 300)}
	x := &ExportVerified{Target: "s3", Location: "https://key:secret@host/p?sig=1"}
	for _, e := range []Event{f, x} {
		if _, err := (timed{at: noticeSent, ev: e}).seal(s, pakistan); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.Reason) > maxText+len("…") || !strings.HasSuffix(f.Reason, "…") {
		t.Errorf("reason of %d bytes not truncated: %q", len(f.Reason), f.Reason)
	}
	if x.Location != "https://host/p" {
		t.Errorf("location %q kept credentials", x.Location)
	}
}

func TestSealRejectsIncompleteEvents(t *testing.T) {
	s := testSigner(t, 1)
	tests := []struct {
		name string
		w    Withdrawal
		at   time.Time
	}{
		{name: "no uid", w: Withdrawal{Namespace: "bes", Name: "pakistan"}, at: noticeSent},
		{name: "no time", w: pakistan},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := (timed{at: tc.at, ev: &Approved{Step: "drain"}}).seal(s, tc.w); err == nil {
				t.Error("sealed an incomplete event")
			}
		})
	}
}

func TestRedactLocation(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "pre-signed URL", in: "https://bucket.s3.amazonaws.com/pk/a.tar?X-Amz-Credential=AKIA&X-Amz-Signature=ff", want: "https://bucket.s3.amazonaws.com/pk/a.tar"},
		{name: "userinfo", in: "sftp://user:hunter2@files.example.com:22/pk/a.tar", want: "sftp://files.example.com:22/pk/a.tar"},
		{name: "fragment", in: "https://example.com/a#token=abc", want: "https://example.com/a"},
		{name: "no scheme", in: "user:pw@host/path", want: "user:host/path"},
		{name: "plain", in: "s3://bucket/pk/a.tar", want: "s3://bucket/pk/a.tar"},
		{name: "unparseable", in: "http://[::1", want: "(unparseable location)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := RedactLocation(tc.in); got != tc.want {
				t.Errorf("RedactLocation(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseSMTPReply(t *testing.T) {
	tests := []struct {
		name, reply string
		want        EmailReceipt
	}{
		{name: "postfix", reply: "250 2.0.0 Ok: queued as 4BZ7Q2", want: EmailReceipt{Code: 250, Text: "2.0.0 Ok: queued as 4BZ7Q2", QueueID: "4BZ7Q2"}},
		{name: "no queue id", reply: "250 OK", want: EmailReceipt{Code: 250, Text: "OK"}},
		{name: "no code", reply: "whatever", want: EmailReceipt{Text: "whatever"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseSMTPReply(tc.reply); got != tc.want {
				t.Errorf("ParseSMTPReply(%q) = %+v, want %+v", tc.reply, got, tc.want)
			}
		})
	}
}

func TestRecipientHashDependsOnSalt(t *testing.T) {
	a, b := RecipientHash(testSalt, "cust-1"), RecipientHash([]byte("other"), "cust-1")
	if a == b || len(a) != 64 || strings.Contains(a, "cust") {
		t.Errorf("hashes %q and %q", a, b)
	}
	if bytes.Equal(NewSalt(), NewSalt()) {
		t.Error("two salts are equal")
	}
}

func TestEnvelopeShape(t *testing.T) {
	s := testSigner(t, 1)
	env, err := s.Seal(pakistan, &Approved{Header: Header{At: cutoff}, Step: "routing"})
	if err != nil {
		t.Fatal(err)
	}
	var e Envelope
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	if e.PayloadType != PayloadType || len(e.Signatures) != 1 || e.Signatures[0].KeyID != s.KeyID() ||
		!strings.HasPrefix(s.VerifierKey(), "withdrawal.ops.dev+"+s.KeyID()+"+") {
		t.Errorf("envelope %s, key %s", env, s.VerifierKey())
	}
}

func TestRecordSignatures(t *testing.T) {
	s, other := testSigner(t, 1), testSigner(t, 2)
	msg := RecordMessage("uid", "pakistan-export-artifacts-a", "k", `{"location":"s3://exports/a"}`)
	sig := s.SignRecord(msg)
	if err := VerifyRecord(s.VerifierKey(), msg, sig); err != nil {
		t.Fatalf("a record signature does not verify: %v", err)
	}
	for name, tc := range map[string]struct {
		key, sig string
		msg      []byte
	}{
		"another key":        {other.VerifierKey(), sig, msg},
		"a changed value":    {s.VerifierKey(), sig, RecordMessage("uid", "pakistan-export-artifacts-a", "k", `{"location":"s3://elsewhere/a"}`)},
		"parts run together": {s.VerifierKey(), sig, RecordMessage("uid", "pakistan-export-artifacts-ak", `{"location":"s3://exports/a"}`)},
		"garbage":            {s.VerifierKey(), "!!", msg},
	} {
		if err := VerifyRecord(tc.key, tc.msg, tc.sig); !errors.Is(err, ErrRecordSignature) {
			t.Errorf("%s: %v, want ErrRecordSignature", name, err)
		}
	}
}

// TestADrainThatRunsAgainHasKeysOfItsOwn: a drain undone for a postponed
// cutoff and run again records its batches and its end under the round the
// restore opened, so that none is taken for a replay of the first drain's;
// the first drain keeps the keys ledgers have always had.
func TestADrainThatRunsAgainHasKeysOfItsOwn(t *testing.T) {
	s := testSigner(t, 1)
	v := verifier(t, s)
	for _, tc := range []struct {
		ev  Event
		key string
	}{
		{&DrainBatch{Drained: 1, Total: 2}, "drain/batch/1"},
		{&DrainFinished{Total: 2}, "drain/finished"},
		{&DrainRestored{Round: 1, Change: 1, Message: "restored 2 workloads"}, "drain/restored/1"},
		{&DrainBatch{Drained: 1, Total: 2, Round: 1}, "drain/1/batch/1"},
		{&DrainFinished{Total: 2, Round: 1}, "drain/1/finished"},
	} {
		tc.ev.header().At = drainStart
		env, err := s.Seal(pakistan, tc.ev)
		if err != nil {
			t.Fatal(err)
		}
		st, err := OpenEnvelope(env, v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.Event()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.ev) || got.EventKey() != tc.key {
			t.Errorf("%s: decoded %+v with key %q, want %+v with key %q", tc.ev.Kind(), got, got.EventKey(), tc.ev, tc.key)
		}
	}
}
