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

package webhook_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/channel"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/webhook"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
)

// TestStandardWebhooksSignature checks the signature against the
// specification's published example, and the verifier against each way a
// request can be wrong.
func TestStandardWebhooksSignature(t *testing.T) {
	keys, err := webhook.ParseKeys([]byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
	if err != nil {
		t.Fatal(err)
	}
	id, ts, body := "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", []byte(`{"test": 2432232314}`)
	if got, want := webhook.Signature(keys, id, ts, body), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Signature = %q, want the specification's %q", got, want)
	}

	at := time.Unix(1614265330, 0)
	newKey, oldKey := []byte("new-key"), []byte("old-key")
	signed := func(keys [][]byte, id, ts string, body []byte) http.Header {
		h := http.Header{}
		h.Set(webhook.HeaderID, id)
		h.Set(webhook.HeaderTimestamp, ts)
		h.Set(webhook.HeaderSignature, webhook.Signature(keys, id, ts, body))
		return h
	}
	both := signed([][]byte{newKey, oldKey}, id, ts, body)
	for _, tc := range []struct {
		name string
		v    webhook.Verifier
		h    http.Header
		body []byte
		want error
	}{
		{name: "signed with both keys, checked with the new", v: webhook.Verifier{Keys: [][]byte{newKey}}, h: both, body: body},
		{name: "signed with both keys, checked with the old", v: webhook.Verifier{Keys: [][]byte{oldKey}}, h: both, body: body},
		{name: "another key", v: webhook.Verifier{Keys: [][]byte{[]byte("k")}}, h: both, body: body, want: webhook.ErrSignature},
		{name: "another body", v: webhook.Verifier{Keys: [][]byte{newKey}}, h: both, body: []byte(`{"test": 1}`), want: webhook.ErrSignature},
		{name: "another id", v: webhook.Verifier{Keys: [][]byte{newKey}}, h: func() http.Header { h := both.Clone(); h.Set(webhook.HeaderID, "msg_other"); return h }(), body: body, want: webhook.ErrSignature},
		{name: "a replay ten minutes later", v: webhook.Verifier{Keys: [][]byte{newKey}, Clock: clocktesting.NewFakeClock(at.Add(10 * time.Minute))}, h: both, body: body, want: webhook.ErrTimestamp},
		{name: "from the future", v: webhook.Verifier{Keys: [][]byte{newKey}, Clock: clocktesting.NewFakeClock(at.Add(-10 * time.Minute))}, h: both, body: body, want: webhook.ErrTimestamp},
		{name: "no signature", v: webhook.Verifier{Keys: [][]byte{newKey}}, h: func() http.Header { h := both.Clone(); h.Del(webhook.HeaderSignature); return h }(), body: body, want: webhook.ErrMissingHeaders},
		{name: "only a version this verifier does not know", v: webhook.Verifier{Keys: [][]byte{newKey}}, h: func() http.Header {
			h := both.Clone()
			h.Set(webhook.HeaderSignature, strings.ReplaceAll(h.Get(webhook.HeaderSignature), "v1,", "v9,"))
			return h
		}(), body: body, want: webhook.ErrSignature},
	} {
		if tc.v.Clock == nil {
			tc.v.Clock = clocktesting.NewFakeClock(at.Add(time.Minute))
		}
		if err := tc.v.Verify(tc.h, tc.body); !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestParseKeys(t *testing.T) {
	keys, err := webhook.ParseKeys([]byte("whsec_bmV3\n  raw-old-key\n"))
	if err != nil || len(keys) != 2 || string(keys[0]) != "new" || string(keys[1]) != "raw-old-key" {
		t.Fatalf("ParseKeys = %q, %v", keys, err)
	}
	for _, bad := range []string{"", "  \n", "whsec_not*base64"} {
		if _, err := webhook.ParseKeys([]byte(bad)); err == nil {
			t.Errorf("ParseKeys(%q) accepted", bad)
		}
	}
}

func TestSendClassifiesAnswers(t *testing.T) {
	key := []byte("signing-key")
	rcv := testsrv.NewWebhook(key)
	defer rcv.Close()
	rcv.Record = true
	rcv.Fail = func(id string, attempt int, w http.ResponseWriter, r *http.Request) bool {
		switch id {
		case "500":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "429":
			w.Header().Set("Retry-After", "7")
			http.Error(w, "slow down", http.StatusTooManyRequests)
		case "408":
			w.WriteHeader(http.StatusRequestTimeout)
		case "400":
			http.Error(w, "unknown customer", http.StatusBadRequest)
		case "302":
			http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
		case "drop":
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		case "hang":
			<-r.Context().Done()
		default:
			return false
		}
		return true
	}
	s, err := webhook.New(webhook.Config{Egress: egress.Loopback(), URL: rcv.Server.URL + "/notices?token=SECRET", Keys: [][]byte{key}, CABundle: rcv.CAPEM(), Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tests := []struct {
		id        string
		wantErr   bool
		wantClass channel.Class
		wantAfter time.Duration
	}{
		{id: "ok"},
		{id: "500", wantErr: true, wantClass: channel.Retry},
		{id: "429", wantErr: true, wantClass: channel.Retry, wantAfter: 7 * time.Second},
		{id: "408", wantErr: true, wantClass: channel.Retry},
		{id: "400", wantErr: true, wantClass: channel.Fail},
		{id: "302", wantErr: true, wantClass: channel.Fail},
		{id: "drop", wantErr: true, wantClass: channel.Retry},
		{id: "hang", wantErr: true, wantClass: channel.Retry},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			m := &channel.Message{Key: "key-" + tt.id, NoticeID: "announcement", Kind: v1.NoticeAnnouncement,
				Recipient: recipients.Recipient{ID: tt.id, Name: "عائشہ"}, Subject: "s", Text: "متن"}
			_, err := s.Send(ctx, m)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Send = %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				return
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("the error shows the URL's token: %v", err)
			}
			for _, said := range []string{"boom", "slow down", "unknown customer"} {
				if strings.Contains(err.Error(), said) {
					t.Errorf("the error quotes the receiver's answer %q: %v", said, err)
				}
			}
			class, after := channel.Classify(err)
			if class != tt.wantClass || after != tt.wantAfter {
				t.Errorf("Classify = %v, %v; want %v, %v (%v)", class, after, tt.wantClass, tt.wantAfter, err)
			}
		})
	}
	got := rcv.Deliveries("ok")
	if len(got) != 1 || !got[0].Signature || got[0].Key != "key-ok" || got[0].Body.Text != "متن" {
		t.Fatalf("delivery = %+v, want one signed delivery with key-ok and the Urdu text intact", got)
	}
}

func TestUntrustedCertificateIsNotSent(t *testing.T) {
	rcv := testsrv.NewWebhook([]byte("k"))
	defer rcv.Close()
	s, err := webhook.New(webhook.Config{Egress: egress.Loopback(), URL: rcv.Server.URL, Keys: [][]byte{[]byte("k")}}) // no caBundle
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Send(context.Background(), &channel.Message{Key: "k1", Recipient: recipients.Recipient{ID: "a"}})
	if err == nil || !strings.Contains(err.Error(), "TLS verification failed") {
		t.Fatalf("Send to an untrusted certificate = %v, want a TLS verification error", err)
	}
	if total, _ := rcv.Totals(); total != 0 {
		t.Fatal("the receiver got a notice over an unverified connection")
	}
}

// TestRefusedAddressesAreNeverDialled sends to a real receiver on loopback,
// standing in for an internal address a recipient row could name, with the
// default policy: nothing reaches it, and the failure is permanent. A plain
// http URL is refused the same way.
func TestRefusedAddressesAreNeverDialled(t *testing.T) {
	rcv := testsrv.NewWebhook([]byte("k"))
	defer rcv.Close()
	rcv.Record = true
	s, err := webhook.New(webhook.Config{Keys: [][]byte{[]byte("k")}, CABundle: rcv.CAPEM()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, target := range []string{rcv.Server.URL + "/hook", strings.Replace(rcv.Server.URL, "https://", "http://", 1) + "/hook"} {
		m := &channel.Message{Key: "k1", NoticeID: "announcement", Kind: v1.NoticeAnnouncement,
			Recipient: recipients.Recipient{ID: "c1", Webhook: target}}
		_, err := s.Send(context.Background(), m)
		if class, _ := channel.Classify(err); !errors.Is(err, egress.ErrRefused) || class != channel.Fail {
			t.Fatalf("Send to %s = %v (class %v), want a permanent refusal", target, err, class)
		}
	}
	if got := rcv.Deliveries("c1"); len(got) != 0 {
		t.Fatalf("the receiver got %d deliveries", len(got))
	}
}

// TestLegacyHeadersOnlyWhenAsked: the headers from before Standard
// Webhooks are sent only with LegacyHeaders, and then verify as before.
func TestLegacyHeadersOnlyWhenAsked(t *testing.T) {
	key := []byte("signing-key")
	for _, legacy := range []bool{false, true} {
		var got http.Header
		var body []byte
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, body = r.Header.Clone(), must(io.ReadAll(r.Body))
			w.WriteHeader(http.StatusNoContent)
		}))
		ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		s, err := webhook.New(webhook.Config{Egress: egress.Loopback(), URL: srv.URL, Keys: [][]byte{key}, CABundle: ca, LegacyHeaders: legacy})
		if err != nil {
			t.Fatal(err)
		}
		m := &channel.Message{Key: "key-1", NoticeID: "announcement", Kind: v1.NoticeAnnouncement, Recipient: recipients.Recipient{ID: "c1"}, Subject: "s", Text: "t"}
		if _, err := s.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		s.Close()
		srv.Close()
		if err := (&webhook.Verifier{Keys: [][]byte{key}}).Verify(got, body); err != nil || got.Get(webhook.HeaderID) != "key-1" {
			t.Errorf("legacy %v: the Standard Webhooks headers do not verify: %v (id %q)", legacy, err, got.Get(webhook.HeaderID))
		}
		sig := got.Get(webhook.LegacyHeaderSignature)
		switch {
		case !legacy && sig != "":
			t.Errorf("the legacy signature was sent without being asked for")
		case legacy && !webhook.VerifyLegacy(key, got.Get(webhook.LegacyHeaderTimestamp), body, sig):
			t.Errorf("the legacy signature %q does not verify", sig)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// FuzzVerify: the verifier never panics on what a sender could put in the
// headers, and accepts a request only if it was signed with one of its
// keys over exactly that id, timestamp and body.
func FuzzVerify(f *testing.F) {
	f.Add("msg_1", "1614265330", []byte(`{"a":1}`), "v1,AAAA v2,x", byte(0))
	f.Add("", "", []byte{}, "", byte(1))
	f.Add("id", "-1", []byte("x"), "v1,", byte(7))
	key := []byte("fuzz-key")
	at := time.Unix(1614265330, 0)
	v := webhook.Verifier{Keys: [][]byte{key}, Clock: clocktesting.NewFakeClock(at)}
	f.Fuzz(func(t *testing.T, id, ts string, body []byte, sig string, flip byte) {
		h := http.Header{}
		h.Set(webhook.HeaderID, id)
		h.Set(webhook.HeaderTimestamp, ts)
		h.Set(webhook.HeaderSignature, sig)
		_ = v.Verify(h, body) // must not panic
		if id == "" || strings.ContainsAny(id+ts, "\r\n") {
			return
		}
		ts = "1614265330"
		h.Set(webhook.HeaderTimestamp, ts)
		h.Set(webhook.HeaderSignature, webhook.Signature([][]byte{key}, h.Get(webhook.HeaderID), ts, body))
		if err := v.Verify(h, body); err != nil {
			t.Fatalf("a correctly signed request is refused: %v", err)
		}
		tampered := append([]byte{flip}, body...)
		if err := v.Verify(h, tampered); err == nil {
			t.Fatalf("a request whose body changed still verifies")
		}
	})
}

// TestReceiptIsTheAnswersDigest checks what the evidence ledger keeps of an
// answer: its status and the SHA-256 of its body, never the body.
func TestReceiptIsTheAnswersDigest(t *testing.T) {
	tests := []struct {
		name   string
		status int
		answer string
	}{
		{name: "accepted with a body", status: http.StatusAccepted, answer: `{"received":"key-1"}`},
		{name: "accepted without a body", status: http.StatusNoContent},
		{name: "refused", status: http.StatusGone, answer: "gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.answer)
			}))
			defer srv.Close()
			ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
			s, err := webhook.New(webhook.Config{Egress: egress.Loopback(), URL: srv.URL, Keys: [][]byte{[]byte("k")}, CABundle: ca})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			receipt, _ := s.Send(context.Background(), &channel.Message{Key: "key-1", Recipient: recipients.Recipient{ID: "c1"}})
			sum := sha256.Sum256([]byte(tt.answer))
			if receipt.HTTPStatus != tt.status || receipt.AnswerSHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("receipt %+v, want status %d and the digest of %q", receipt, tt.status, tt.answer)
			}
		})
	}
}

// TestAKeyPerRecipient: with keyPerRecipient, each recipient's notice
// verifies with its own derived key (as printed for it, whsec_ and base64)
// and with no other's, nor with the channel's key: a customer holding its
// key cannot sign a notice the next customer's receiver would accept.
func TestAKeyPerRecipient(t *testing.T) {
	channelKey := []byte("the channel's signing key")
	got := map[string]http.Header{}
	bodies := map[string][]byte{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimPrefix(r.URL.Path, "/")
		got[id], bodies[id] = r.Header.Clone(), must(io.ReadAll(r.Body))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	s, err := webhook.New(webhook.Config{Egress: egress.Loopback(), Keys: [][]byte{channelKey}, KeyPerRecipient: true, CABundle: ca})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range []string{"c1", "c2"} {
		m := &channel.Message{Key: "key-" + id, NoticeID: "announcement", Kind: v1.NoticeAnnouncement,
			Recipient: recipients.Recipient{ID: id, Webhook: srv.URL + "/" + id}, Subject: "s", Text: "t"}
		if _, err := s.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	keyOf := func(id string) [][]byte {
		printed := webhook.FormatKey(webhook.RecipientKeys([][]byte{channelKey}, id)[0])
		k, err := webhook.ParseKeys([]byte(printed))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	for _, tc := range []struct {
		who, notice string
		keys        [][]byte
		ok          bool
	}{
		{"c1's key", "c1", keyOf("c1"), true},
		{"c2's key", "c2", keyOf("c2"), true},
		{"c1's key", "c2", keyOf("c1"), false},
		{"the channel's key", "c1", [][]byte{channelKey}, false},
	} {
		err := (&webhook.Verifier{Keys: tc.keys}).Verify(got[tc.notice], bodies[tc.notice])
		if (err == nil) != tc.ok {
			t.Errorf("%s on %s's notice: %v, want verified %v", tc.who, tc.notice, err, tc.ok)
		}
	}
}
