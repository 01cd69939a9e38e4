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

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/channel"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/email"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
)

// mailConcurrency is the SMTP connections both email senders keep open.
const mailConcurrency = 16

// emailFigures are the email phase's: the machine's limit and the
// executor, sending the same notice to the same SMTP server.
type emailFigures struct {
	bare, executor figures
	calls          int
}

// runEmail sends the notice of rw to its n recipients by email only, to a
// real SMTP server (go-smtp, STARTTLS and AUTH PLAIN on loopback): first
// with a bare net/smtp client, then with the notify executor.
func runEmail(ctx context.Context, c client.Client, rw *v1.RegionWithdrawal, a planner.Action, n int, requests *atomic.Int64) (emailFigures, error) {
	var out emailFigures
	srv, err := testsrv.NewSMTP(true)
	if err != nil {
		return out, err
	}
	defer srv.Close()
	var accepted atomic.Int64
	srv.Discard = true
	srv.OnMail = func(testsrv.Mail) { accepted.Add(1) }

	out.bare, err = runBareSMTP(ctx, srv, n, &accepted)
	if err != nil {
		return out, fmt.Errorf("bare SMTP sender: %w", err)
	}

	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "smtp-credentials", Namespace: namespace},
		Data: map[string][]byte{"username": []byte(srv.Username), "password": []byte(srv.Password)}}); err != nil {
		return out, err
	}
	mailRW := rw.DeepCopy()
	mailRW.ObjectMeta = metav1.ObjectMeta{Name: "pakistan-email", Namespace: namespace}
	mailRW.Status = v1.RegionWithdrawalStatus{}
	mailRW.Spec.Notify.Webhook = nil
	mailRW.Spec.Notify.Email = &v1.EmailChannel{Host: "127.0.0.1", Port: int32(srv.Addr.Port), Security: v1.SMTPStartTLS,
		From: "Service Notices <notices@example.com>", CredentialsSecretRef: &v1.LocalObjectReference{Name: "smtp-credentials"},
		CABundle: srv.CertPEM, Limits: v1.DeliveryLimits{RatePerSecond: 100000, Concurrency: mailConcurrency, MaxAttempts: 8}}
	if err := c.Create(ctx, mailRW); err != nil {
		return out, err
	}
	accepted.Store(0)
	out.executor, out.calls, err = runBatched(ctx, c, mailRW, a, n, nil, "", requests, &accepted)
	if err != nil {
		return out, fmt.Errorf("email executor: %w", err)
	}
	if got := accepted.Load(); got < int64(n) {
		return out, fmt.Errorf("the SMTP server accepted %d of %d", got, n)
	}
	out.executor.name = "batched executor, email"
	return out, nil
}

// runBareSMTP is the machine's limit for email: net/smtp, mailConcurrency
// connections each greeted, secured with STARTTLS and authenticated once,
// then sending one message after another (MAIL, RCPT, DATA), a message the
// size of the executor's.
func runBareSMTP(ctx context.Context, srv *testsrv.SMTP, n int, accepted *atomic.Int64) (figures, error) {
	resetPeak()
	accepted.Store(0)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(srv.CertPEM) {
		return figures{}, fmt.Errorf("no certificate in the SMTP server's PEM")
	}
	from := &mail.Address{Name: "Service Notices", Address: "notices@example.com"}
	msg, err := email.Build(from, &mail.Address{Name: "Customer 0", Address: "billing-000000@example.com"}, &channel.Message{
		Key: strings.Repeat("k", 64), NoticeID: "announcement", Kind: v1.NoticeAnnouncement, Region: "PK",
		Recipient: recipients.Recipient{ID: "cust-000000", Name: "Customer 0", Email: "billing-000000@example.com"},
		Subject:   strings.Repeat("s", 60), Text: strings.Repeat("t", 300), HTML: strings.Repeat("h", 200)}, time.Now())
	if err != nil {
		return figures{}, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(srv.Addr.Port))
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, mailConcurrency)
	start := time.Now()
	for range mailConcurrency {
		wg.Go(func() {
			if err := bareSMTPConn(addr, roots, srv, from.Address, msg, func() bool { return next.Add(1) <= int64(n) }); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return figures{}, err
	}
	if got := accepted.Load(); got != int64(n) {
		return figures{}, fmt.Errorf("the SMTP server accepted %d of %d", got, n)
	}
	return figures{name: "bare SMTP sender (net/smtp)", recipients: n, elapsed: time.Since(start), peakKiB: peak()}, nil
}

func bareSMTPConn(addr string, roots *x509.CertPool, srv *testsrv.SMTP, from string, msg []byte, more func() bool) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.StartTLS(&tls.Config{ServerName: "127.0.0.1", RootCAs: roots, MinVersion: tls.VersionTLS12}); err != nil {
		return err
	}
	if err := c.Auth(smtp.PlainAuth("", srv.Username, srv.Password, "127.0.0.1")); err != nil {
		return err
	}
	for i := 0; more(); i++ {
		if err := c.Mail(from); err != nil {
			return err
		}
		if err := c.Rcpt(fmt.Sprintf("billing-%06d@example.com", i)); err != nil {
			return err
		}
		w, err := c.Data()
		if err != nil {
			return err
		}
		if _, err := w.Write(msg); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
	}
	return c.Quit()
}
