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
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// sealByReflection is Seal as it was written before encode.go: the
// statement and the envelope by encoding/json. Seal must make the same
// bytes, so that ledgers sealed before and after are the same leaves.
func sealByReflection(s *Signer, w Withdrawal, e Event) ([]byte, error) {
	st, err := NewStatement(w, e)
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	return json.Marshal(Envelope{
		Payload:     payload,
		PayloadType: PayloadType,
		Signatures:  []Signature{{KeyID: s.keyID, Sig: ed25519.Sign(s.priv, PAE(PayloadType, payload))}},
	})
}

// awkward strings: everything encoding/json escapes or replaces.
var awkward = []string{
	"", "plain", `quote " and backslash \`, "<script>&amp;</script>", "\b\f\n\r\t\x00\x01\x1f\x7f",
	"Urdu: محترم صارف", "emoji 🛰️", "line\u2028para\u2029", "bad utf-8 \xff\xfe end", "cut rune \xe2\x82",
	"\xed\xa0\x80 surrogate", "é", strings.Repeat("é", 300), "250 2.0.0 Ok: queued as 4BZ7Q2",
}

// sameAsReflection seals what fresh makes twice, by Seal and by
// sealByReflection, and compares the bytes.
func sameAsReflection(t *testing.T, s *Signer, w Withdrawal, at time.Time, fresh func() Event) {
	t.Helper()
	a, b := fresh(), fresh()
	a.header().At, b.header().At = at, at
	got, gotErr := s.Seal(w, a)
	want, wantErr := sealByReflection(s, w, b)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("Seal error %v, encoding/json error %v", gotErr, wantErr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Seal wrote\n%s\nencoding/json\n%s", got, want)
	}
}

func TestHandEncodingIsEncodingJSON(t *testing.T) {
	s := testSigner(t, 1)
	for i, e := range everyKind() {
		sameAsReflection(t, s, pakistan, e.at, func() Event {
			// A fresh copy of the i-th event: Seal completes it in place.
			return everyKind()[i].ev
		})
	}
	at := []time.Time{noticeSent, noticeSent.Add(999 * time.Millisecond).In(time.FixedZone("PKT", 5*3600)),
		time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)}
	for _, a := range awkward {
		for _, b := range awkward[:4] {
			w := Withdrawal{Namespace: a + "ns", Name: b + "name", UID: a + b + "uid"}
			for _, when := range at {
				sameAsReflection(t, s, w, when, func() Event {
					return &NoticeDelivered{Notice: a, Recipient: b, Channel: a, IdempotencyKey: b,
						Webhook: &WebhookReceipt{Status: -1, BodySHA256: a}}
				})
				sameAsReflection(t, s, w, when, func() Event {
					return &NoticeDelivered{Notice: b, Recipient: a, Channel: b, IdempotencyKey: a,
						Email: &EmailReceipt{Code: 250, Text: a, QueueID: b}}
				})
				sameAsReflection(t, s, w, when, func() Event {
					return &NoticeDelivered{Notice: b, Recipient: "", Channel: "", IdempotencyKey: a,
						Webhook: &WebhookReceipt{Status: 204, BodySHA256: b}, Email: &EmailReceipt{Text: a}}
				})
				sameAsReflection(t, s, w, when, func() Event {
					return &NoticeFailed{Notice: a, Recipient: b, Channel: a, Attempts: -7, Reason: a + b}
				})
				sameAsReflection(t, s, w, when, func() Event {
					return &Cancelled{User: a, Reason: b}
				})
			}
		}
	}
}

// A year encoding/json refuses is refused by Seal too.
func TestHandEncodingRefusesWhatEncodingJSONRefuses(t *testing.T) {
	s := testSigner(t, 1)
	sameAsReflection(t, s, pakistan, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), func() Event {
		return &NoticeDelivered{Notice: "n", Recipient: "r", Channel: "webhook"}
	})
	if _, err := s.Seal(pakistan, &NoticeFailed{Header: Header{At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}); err == nil {
		t.Error("sealed a time encoding/json refuses")
	}
}

func FuzzHandEncodingIsEncodingJSON(f *testing.F) {
	for _, a := range awkward {
		f.Add(a, "b", "c", 200, int64(1798675200))
	}
	s := testSigner(f, 1)
	f.Fuzz(func(t *testing.T, x, y, z string, n int, sec int64) {
		at := time.Unix(sec, 0)
		w := Withdrawal{Namespace: x, Name: y, UID: z}
		sameAsReflection(t, s, w, at, func() Event {
			return &NoticeDelivered{Notice: x, Recipient: y, Channel: z, IdempotencyKey: x + z,
				Email: &EmailReceipt{Code: n, Text: z, QueueID: y}}
		})
		sameAsReflection(t, s, w, at, func() Event {
			return &NoticeDelivered{Notice: z, Recipient: x, Channel: y, IdempotencyKey: y,
				Webhook: &WebhookReceipt{Status: n, BodySHA256: x}}
		})
		sameAsReflection(t, s, w, at, func() Event {
			return &NoticeFailed{Notice: y, Recipient: z, Channel: x, Attempts: n, Reason: x + y + z}
		})
	})
}
