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

package email_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/channel"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/email"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
)

const (
	urduSubject = "اطلاع: پاکستان میں سروس بند ہو رہی ہے"
	urduText    = "محترم صارف،\nہماری سروس ۳۰ دسمبر کو بند ہو جائے گی۔ براہ کرم اپنا ڈیٹا برآمد کریں۔\n"
	urduHTML    = "<p>محترم صارف</p>"
)

func message(to string) *channel.Message {
	return &channel.Message{
		Key: strings.Repeat("ab", 32), Namespace: "bes-system", Name: "pakistan", UID: "uid-1",
		NoticeID: "announcement", Kind: v1.NoticeAnnouncement, Region: "PK",
		Recipient: recipients.Recipient{ID: "c1", Name: "عائشہ خان", Email: to},
		Subject:   urduSubject, Text: urduText, HTML: urduHTML,
	}
}

// parsed checks that data is a well-formed notice and returns its parts.
func parsed(t *testing.T, data []byte, m *channel.Message) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the message does not parse: %v", err)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != m.Subject {
		t.Errorf("Subject = %q (%v), want %q", subject, err, m.Subject)
	}
	if got, want := msg.Header.Get("Message-ID"), "<"+m.Key+"@withdrawal.ops.dev>"; got != want {
		t.Errorf("Message-ID = %q, want %q", got, want)
	}
	to, err := mail.ParseAddress(msg.Header.Get("To"))
	if err != nil || to.Address != m.Recipient.Email || to.Name != m.Recipient.Name {
		t.Errorf("To = %v (%v), want %s <%s>", to, err, m.Recipient.Name, m.Recipient.Email)
	}
	if msg.Header.Get("MIME-Version") != "1.0" {
		t.Errorf("MIME-Version = %q", msg.Header.Get("MIME-Version"))
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v)", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	want := map[string]string{"text/plain": m.Text, "text/html": m.HTML}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading a part: %v", err)
		}
		ct, cp, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if !strings.EqualFold(cp["charset"], "utf-8") {
			t.Errorf("%s charset = %q", ct, cp["charset"])
		}
		body, err := io.ReadAll(p) // multipart decodes quoted-printable
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.ReplaceAll(string(body), "\r\n", "\n"); got != want[ct] {
			t.Errorf("%s body = %q, want %q", ct, got, want[ct])
		}
		delete(want, ct)
	}
	if len(want) > 0 {
		t.Errorf("parts missing: %v", want)
	}
}

func TestBuildParsesWithUrduIntact(t *testing.T) {
	m := message("aisha@example.com")
	data, err := email.Build(&mail.Address{Name: "Service Notices", Address: "notices@example.com"},
		&mail.Address{Name: m.Recipient.Name, Address: m.Recipient.Email}, m, time.Date(2026, 11, 29, 19, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(data, []byte("\r\n")) {
		for _, c := range line {
			if c >= 0x80 {
				t.Fatalf("the message is not 7-bit clean: %q", line)
			}
		}
		if len(line) > 998 {
			t.Fatalf("a line is longer than SMTP allows: %d", len(line))
		}
	}
	parsed(t, data, m)
}

func TestSendOverSTARTTLS(t *testing.T) {
	srv, err := testsrv.NewSMTP(true)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.Rcpt = func(to string, attempt int) error {
		switch {
		case strings.HasPrefix(to, "greylist@") && attempt == 1:
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted, try again"}
		case strings.HasPrefix(to, "gone@"):
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	}
	cfg := email.Config{Egress: egress.Loopback(), Host: "127.0.0.1", Port: srv.Addr.Port, Security: v1.SMTPStartTLS,
		From: "Service Notices <notices@example.com>", Username: srv.Username, Password: srv.Password,
		CABundle: srv.CertPEM, Concurrency: 2}
	s, err := email.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	tests := []struct {
		name      string
		to        string
		wantClass []channel.Class // per attempt; empty = success first time
	}{
		{name: "delivered", to: "aisha@example.com"},
		{name: "451 then delivered", to: "greylist@example.com", wantClass: []channel.Class{channel.Retry}},
		{name: "550 is permanent", to: "gone@example.com", wantClass: []channel.Class{channel.Fail}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := message(tt.to)
			for i, want := range tt.wantClass {
				_, err := s.Send(ctx, m)
				if err == nil {
					t.Fatalf("attempt %d succeeded, want class %v", i+1, want)
				}
				if got, _ := channel.Classify(err); got != want {
					t.Fatalf("attempt %d: class %v, want %v (%v)", i+1, got, want, err)
				}
				if strings.Contains(err.Error(), srv.Password) {
					t.Fatalf("the error shows the password: %v", err)
				}
				if want == channel.Fail {
					return
				}
			}
			receipt, err := s.Send(ctx, m)
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			// The server's reply to the data is the receipt the evidence
			// ledger keeps.
			if !strings.HasPrefix(receipt.SMTPReply, "250 ") || !strings.Contains(receipt.SMTPReply, "queued") {
				t.Errorf("receipt %+v, want the server's 250 reply to the data", receipt)
			}
		})
	}
	var found bool
	for _, got := range srv.Mails() {
		if got.To == "aisha@example.com" {
			found = true
			parsed(t, got.Data, message("aisha@example.com"))
		}
		if got.To == "gone@example.com" {
			t.Errorf("a refused recipient has a message")
		}
	}
	if !found {
		t.Fatal("no message arrived for aisha@example.com")
	}
}

func TestRefusesWithoutSTARTTLS(t *testing.T) {
	srv, err := testsrv.NewSMTP(false)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	s, err := email.New(email.Config{Egress: egress.Loopback(), Host: "127.0.0.1", Port: srv.Addr.Port, From: "notices@example.com",
		Username: srv.Username, Password: srv.Password})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Send(context.Background(), message("aisha@example.com"))
	if class, _ := channel.Classify(err); err == nil || class != channel.Stop {
		t.Fatalf("send without STARTTLS: %v (class %v), want a Stop error", err, class)
	}
	if len(srv.Mails()) != 0 {
		t.Fatal("a message was sent in the clear")
	}
}

func TestUntrustedCertificateStops(t *testing.T) {
	srv, err := testsrv.NewSMTP(true)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	s, err := email.New(email.Config{Egress: egress.Loopback(), Host: "127.0.0.1", Port: srv.Addr.Port, From: "notices@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Send(context.Background(), message("aisha@example.com"))
	if class, _ := channel.Classify(err); err == nil || class != channel.Stop {
		t.Fatalf("send to an untrusted certificate: %v (class %v), want a Stop error", err, class)
	}
}

func TestWrongPasswordStopsWithoutShowingIt(t *testing.T) {
	srv, err := testsrv.NewSMTP(true)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	s, err := email.New(email.Config{Egress: egress.Loopback(), Host: "127.0.0.1", Port: srv.Addr.Port, From: "notices@example.com",
		Username: srv.Username, Password: "wrong-Passw0rd", CABundle: srv.CertPEM})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Send(context.Background(), message("aisha@example.com"))
	if class, _ := channel.Classify(err); err == nil || class != channel.Stop {
		t.Fatalf("send with a wrong password: %v (class %v), want a Stop error", err, class)
	}
	if strings.Contains(err.Error(), "wrong-Passw0rd") {
		t.Fatalf("the error shows the password: %v", err)
	}
}
