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

// Package email delivers notices as MIME email over SMTP: STARTTLS (refusing
// to send if the server does not offer it) or implicit TLS, AUTH PLAIN, a
// multipart/alternative body in UTF-8 quoted-printable, an RFC 2047 subject
// and a Message-ID derived from the idempotency key, so a message sent twice
// after a crash is recognisably the same message.
package email

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"k8s.io/utils/clock"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/channel"
)

// MessageIDDomain is the right-hand side of every Message-ID.
const MessageIDDomain = "withdrawal.ops.dev"

// Config builds a Sender.
type Config struct {
	Host     string
	Port     int
	Security v1.SMTPSecurity
	// From is the sender, e.g. "Service Notices <notices@example.com>".
	From string
	// Username and Password authenticate with AUTH PLAIN when Username is
	// set. They are never logged or reported.
	Username, Password string
	// CABundle is PEM added to the system roots.
	CABundle []byte
	// Concurrency is how many connections are kept open for reuse.
	Concurrency int
	// HeloName is sent in EHLO; default "localhost".
	HeloName string
	// Clock stamps the Date header.
	Clock clock.PassiveClock
	// Egress decides which addresses may be dialled; nil is the default
	// policy (nothing internal).
	Egress *egress.Policy
}

// Sender sends notices by SMTP, reusing up to Concurrency connections.
type Sender struct {
	cfg  Config
	tls  *tls.Config
	from *mail.Address
	idle chan *conn
}

type conn struct {
	c   *smtp.Client
	raw net.Conn
}

// New checks cfg and builds a Sender. It does not connect.
func New(cfg Config) (*Sender, error) {
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("email: from %q: %w", cfg.From, err)
	}
	if cfg.Port == 0 {
		cfg.Port = 587
	}
	if cfg.Security == "" {
		cfg.Security = v1.SMTPStartTLS
	}
	if cfg.HeloName == "" {
		cfg.HeloName = "localhost"
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	roots, err := egress.RootCAs(cfg.CABundle)
	if err != nil {
		return nil, fmt.Errorf("email: %w", err)
	}
	tc := &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12, RootCAs: roots}
	return &Sender{cfg: cfg, tls: tc, from: from, idle: make(chan *conn, max(cfg.Concurrency, 1))}, nil
}

// Close closes the idle connections.
func (s *Sender) Close() {
	for {
		select {
		case cn := <-s.idle:
			_ = cn.c.Quit()
			cn.raw.Close()
		default:
			return
		}
	}
}

// Send delivers m to its recipient's address. ctx bounds the attempt: when
// it ends, the connection's deadline is pulled in so no call blocks past it.
func (s *Sender) Send(ctx context.Context, m *channel.Message) (channel.Receipt, error) {
	to, err := mail.ParseAddress(m.Recipient.Email)
	if err != nil {
		return channel.Receipt{}, channel.Permanentf("email address %q: %v", m.Recipient.Email, err)
	}
	to.Name = m.Recipient.Name
	msg, err := Build(s.from, to, m, s.cfg.Clock.Now())
	if err != nil {
		return channel.Receipt{}, channel.Permanent(err)
	}
	cn, err := s.get(ctx)
	if err != nil {
		return channel.Receipt{}, err
	}
	stop := context.AfterFunc(ctx, func() { _ = cn.raw.SetDeadline(time.Unix(1, 0)) })
	reply, err := deliver(cn.c, s.from.Address, to.Address, msg)
	if !stop() {
		cn.raw.Close()
		return channel.Receipt{}, fmt.Errorf("smtp %s: %w", s.addr(), context.Cause(ctx))
	}
	if err != nil {
		// Whatever state the session is in after a failure, a new one
		// is cheaper to reason about than RSET.
		cn.raw.Close()
		var te *textproto.Error
		if errors.As(err, &te) {
			reply = fmt.Sprintf("%d %s", te.Code, te.Msg)
		}
		return channel.Receipt{SMTPReply: reply}, classify(fmt.Errorf("smtp %s: %w", s.addr(), err))
	}
	select {
	case s.idle <- cn:
	default:
		_ = cn.c.Quit()
		cn.raw.Close()
	}
	return channel.Receipt{SMTPReply: reply}, nil
}

// deliver sends one message and returns the server's reply to its data,
// which names the queue id it took the message under. net/smtp's Data
// writer drops that reply, so the DATA command is spoken here.
//
// A server that offers PIPELINING (RFC 2920) gets MAIL, RCPT and DATA in
// one write, and their replies are read after: one round trip before the
// message instead of three. Any refusal among them fails the delivery, and
// the caller closes the connection, which also ends a DATA the server
// should not have accepted.
func deliver(c *smtp.Client, from, to string, msg []byte) (string, error) {
	if ok, _ := c.Extension("PIPELINING"); ok {
		if err := envelope(c, from, to); err != nil {
			return "", err
		}
	} else {
		if err := c.Mail(from); err != nil {
			return "", err
		}
		if err := c.Rcpt(to); err != nil {
			return "", err
		}
		id, err := c.Text.Cmd("DATA")
		if err != nil {
			return "", err
		}
		c.Text.StartResponse(id)
		_, _, err = c.Text.ReadResponse(354)
		c.Text.EndResponse(id)
		if err != nil {
			return "", err
		}
	}
	w := c.Text.DotWriter()
	if _, err := w.Write(msg); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	code, text, err := c.Text.ReadResponse(250)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d %s", code, text), nil
}

// envelope sends MAIL, RCPT and DATA pipelined, with the parameters
// net/smtp's Mail would add, and reads their three replies.
func envelope(c *smtp.Client, from, to string) error {
	if strings.ContainsAny(from+to, "\r\n") {
		return errors.New("smtp: a line break in an address")
	}
	mailCmd := "MAIL FROM:<" + from + ">"
	if ok, _ := c.Extension("8BITMIME"); ok {
		mailCmd += " BODY=8BITMIME"
	}
	if ok, _ := c.Extension("SMTPUTF8"); ok {
		mailCmd += " SMTPUTF8"
	}
	t := c.Text
	id := t.Next()
	t.StartRequest(id)
	_, err := t.W.WriteString(mailCmd + "\r\nRCPT TO:<" + to + ">\r\nDATA\r\n")
	if err == nil {
		err = t.W.Flush()
	}
	t.EndRequest(id)
	if err != nil {
		return err
	}
	t.StartResponse(id)
	defer t.EndResponse(id)
	_, _, errMail := t.ReadResponse(250)
	_, _, errRcpt := t.ReadResponse(25) // 250, or 251 for a forwarded recipient
	_, _, errData := t.ReadResponse(354)
	switch {
	case errMail != nil:
		return errMail
	case errRcpt != nil:
		return errRcpt
	}
	return errData
}

func (s *Sender) addr() string { return net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port)) }

// get returns an idle connection or dials, greets, secures and
// authenticates a new one.
func (s *Sender) get(ctx context.Context) (*conn, error) {
	select {
	case cn := <-s.idle:
		return cn, nil
	default:
	}
	raw, err := s.cfg.Egress.Dialer().DialContext(ctx, "tcp", s.addr())
	if errors.Is(err, egress.ErrRefused) {
		return nil, channel.Permanent(fmt.Errorf("smtp %s: %w", s.addr(), err))
	}
	if err != nil {
		return nil, fmt.Errorf("smtp %s: %w", s.addr(), err)
	}
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	cn, err := s.handshake(raw)
	if !stop() {
		raw.Close()
		return nil, fmt.Errorf("smtp %s: %w", s.addr(), context.Cause(ctx))
	}
	if err != nil {
		raw.Close()
		return nil, err
	}
	return cn, nil
}

func (s *Sender) handshake(raw net.Conn) (*conn, error) {
	var nc net.Conn = raw
	if s.cfg.Security == v1.SMTPImplicitTLS {
		tc := tls.Client(raw, s.tls)
		if err := tc.Handshake(); err != nil {
			return nil, tlsError(s.addr(), err)
		}
		nc = tc
	}
	c, err := smtp.NewClient(nc, s.cfg.Host)
	if err != nil {
		return nil, classify(fmt.Errorf("smtp %s: greeting: %w", s.addr(), err))
	}
	if err := c.Hello(s.cfg.HeloName); err != nil {
		return nil, classify(fmt.Errorf("smtp %s: EHLO: %w", s.addr(), err))
	}
	if s.cfg.Security != v1.SMTPImplicitTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return nil, channel.Fatal(fmt.Errorf("smtp %s does not offer STARTTLS: refusing to send notices in the clear", s.addr()))
		}
		if err := c.StartTLS(s.tls); err != nil {
			return nil, tlsError(s.addr(), err)
		}
	}
	if s.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return nil, channel.Fatal(fmt.Errorf("smtp %s offers no AUTH, and credentials are configured", s.addr()))
		}
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host)); err != nil {
			var te *textproto.Error
			if errors.As(err, &te) && te.Code >= 500 {
				// Only the server's reply code and text: never the credentials.
				return nil, channel.Fatal(fmt.Errorf("smtp %s refused authentication: %d %s", s.addr(), te.Code, te.Msg))
			}
			return nil, classify(fmt.Errorf("smtp %s: AUTH: %w", s.addr(), err))
		}
	}
	return &conn{c: c, raw: raw}, nil
}

// tlsError stops the notice for a certificate the operator cannot verify:
// it is one server for every recipient, so every one would fail alike.
func tlsError(addr string, err error) error {
	var (
		uae x509.UnknownAuthorityError
		hne x509.HostnameError
		cie x509.CertificateInvalidError
		ve  *tls.CertificateVerificationError
	)
	if errors.As(err, &uae) || errors.As(err, &hne) || errors.As(err, &cie) || errors.As(err, &ve) {
		return channel.Fatal(fmt.Errorf("smtp %s: TLS verification failed: %w", addr, err))
	}
	return fmt.Errorf("smtp %s: TLS: %w", addr, err)
}

// classify maps SMTP reply codes: 4xx is transient, 5xx permanent; other
// errors (network) are transient.
func classify(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		switch {
		case te.Code >= 500:
			return channel.Permanent(err)
		case te.Code >= 400:
			return channel.RetryAfter(err, 0)
		}
	}
	return err
}

// Build renders the whole message: headers and a multipart/alternative
// body with a text part and, when m.HTML is set, an HTML part, both UTF-8
// quoted-printable. The boundary and Message-ID derive from m.Key.
func Build(from, to *mail.Address, m *channel.Message, date time.Time) ([]byte, error) {
	var b bytes.Buffer
	header := func(k, v string) {
		b.WriteString(k)
		b.WriteString(": ")
		b.WriteString(v)
		b.WriteString("\r\n")
	}
	boundary := "withdrawal-" + m.Key[:min(len(m.Key), 32)]
	header("From", from.String())
	header("To", to.String())
	header("Subject", mime.BEncoding.Encode("utf-8", oneLine(m.Subject)))
	header("Date", date.UTC().Format(time.RFC1123Z))
	header("Message-ID", "<"+m.Key+"@"+MessageIDDomain+">")
	header("MIME-Version", "1.0")
	if m.Lang != "" {
		// RFC 3282; the tag is canonical BCP 47, letters, digits and '-'.
		header("Content-Language", oneLine(m.Lang))
	}
	header("Auto-Submitted", "auto-generated")
	header("X-Withdrawal-Notice", m.NoticeID)
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": boundary}))
	b.WriteString("\r\n")
	mw := multipart.NewWriter(&b)
	if err := mw.SetBoundary(boundary); err != nil {
		return nil, err
	}
	part := func(contentType, body string) error {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", contentType+"; charset=utf-8")
		h.Set("Content-Transfer-Encoding", "quoted-printable")
		pw, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		qw := quotedprintable.NewWriter(pw)
		if _, err := qw.Write([]byte(body)); err != nil {
			return err
		}
		return qw.Close()
	}
	if err := part("text/plain", m.Text); err != nil {
		return nil, err
	}
	if m.HTML != "" {
		if err := part("text/html", m.HTML); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
