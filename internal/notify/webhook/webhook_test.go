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
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/channel"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/webhook"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
)

func TestSignatureVerifies(t *testing.T) {
	key := []byte("k")
	body := []byte(`{"id":"x"}`)
	sig := webhook.Sign(key, "1700000000", body)
	if !strings.HasPrefix(sig, "sha256=") || len(sig) != len("sha256=")+64 {
		t.Fatalf("signature %q is not sha256=<64 hex>", sig)
	}
	tests := []struct {
		name string
		key  []byte
		ts   string
		body []byte
		want bool
	}{
		{name: "same", key: key, ts: "1700000000", body: body, want: true},
		{name: "other key", key: []byte("j"), ts: "1700000000", body: body},
		{name: "other timestamp", key: key, ts: "1700000001", body: body},
		{name: "other body", key: key, ts: "1700000000", body: []byte(`{"id":"y"}`)},
	}
	for _, tt := range tests {
		if got := webhook.Verify(tt.key, tt.ts, tt.body, sig); got != tt.want {
			t.Errorf("%s: Verify = %v, want %v", tt.name, got, tt.want)
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
	s, err := webhook.New(webhook.Config{Egress: egress.Loopback(), URL: rcv.Server.URL + "/notices?token=SECRET", Key: key, CABundle: rcv.CAPEM(), Concurrency: 4})
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
			err := s.Send(ctx, m)
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
	s, err := webhook.New(webhook.Config{Egress: egress.Loopback(), URL: rcv.Server.URL, Key: []byte("k")}) // no caBundle
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), &channel.Message{Key: "k1", Recipient: recipients.Recipient{ID: "a"}})
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
	s, err := webhook.New(webhook.Config{Key: []byte("k"), CABundle: rcv.CAPEM()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, target := range []string{rcv.Server.URL + "/hook", strings.Replace(rcv.Server.URL, "https://", "http://", 1) + "/hook"} {
		m := &channel.Message{Key: "k1", NoticeID: "announcement", Kind: v1.NoticeAnnouncement,
			Recipient: recipients.Recipient{ID: "c1", Webhook: target}}
		err := s.Send(context.Background(), m)
		if class, _ := channel.Classify(err); !errors.Is(err, egress.ErrRefused) || class != channel.Fail {
			t.Fatalf("Send to %s = %v (class %v), want a permanent refusal", target, err, class)
		}
	}
	if got := rcv.Deliveries("c1"); len(got) != 0 {
		t.Fatalf("the receiver got %d deliveries", len(got))
	}
}
