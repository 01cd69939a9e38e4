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

// Package testsrv holds the receivers the notify tests and benchmark send
// to: an HTTPS webhook receiver that verifies signatures, and an SMTP
// server (STARTTLS, AUTH PLAIN) with a self-signed certificate. Both listen
// on loopback, or on an address of this machine a test names (the real
// node's bridge, where pods reach them), and record what they receive.
package testsrv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/ops-dev/region-withdrawal-operator/internal/notify/webhook"
)

// Delivery is one request the webhook receiver accepted.
type Delivery struct {
	Key       string
	Body      webhook.Body
	Signature bool
}

// Webhook is an HTTPS receiver.
type Webhook struct {
	Server *httptest.Server
	Key    []byte

	// Fail, when set, may answer a request itself (a failure) and return
	// true; attempt counts the requests for this recipient, from 1.
	Fail func(recipientID string, attempt int, w http.ResponseWriter, r *http.Request) bool
	// OnDelivery is called after each accepted delivery with the count so far.
	OnDelivery func(n int)
	// OnAccept, when set, is called with each accepted delivery.
	OnAccept func(Delivery)
	// Record keeps every delivery; without it only counts are kept.
	Record bool

	mu         sync.Mutex
	attempts   map[string]int
	deliveries map[string][]Delivery
	keys       map[string]map[string]int
	total      int
	badSig     int
}

// NewWebhook starts a receiver on loopback; Close stops it.
func NewWebhook(key []byte) *Webhook {
	w, err := NewWebhookAt("127.0.0.1", key)
	if err != nil {
		panic(err) // as httptest.NewTLSServer does when it cannot listen
	}
	return w
}

// NewWebhookAt starts a receiver on host (an IP address of this machine),
// with a certificate for that address; Close stops it.
func NewWebhookAt(host string, key []byte) (*Webhook, error) {
	cert, _, err := SelfSigned(host)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, err
	}
	w := &Webhook{Key: key, attempts: map[string]int{}, deliveries: map[string][]Delivery{}, keys: map[string]map[string]int{}}
	w.Server = httptest.NewUnstartedServer(http.HandlerFunc(w.serve))
	w.Server.Listener.Close()
	w.Server.Listener = l
	w.Server.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	w.Server.StartTLS()
	return w, nil
}

// CAPEM is the receiver's certificate, for a caBundle.
func (w *Webhook) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.Server.TLS.Certificates[0].Certificate[0]})
}

// Close stops the receiver.
func (w *Webhook) Close() { w.Server.Close() }

// verify checks a request as the Standard Webhooks verifier the project
// ships does, with its default timestamp tolerance.
func (w *Webhook) verify(h http.Header, body []byte) bool {
	keys, err := webhook.ParseKeys(w.Key)
	if err != nil {
		return false
	}
	return (&webhook.Verifier{Keys: keys}).Verify(h, body) == nil
}

func (w *Webhook) serve(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var b webhook.Body
	if err := json.Unmarshal(body, &b); err != nil {
		http.Error(rw, "bad json", http.StatusBadRequest)
		return
	}
	w.mu.Lock()
	w.attempts[b.Recipient.ID]++
	attempt := w.attempts[b.Recipient.ID]
	w.mu.Unlock()
	if w.Fail != nil && w.Fail(b.Recipient.ID, attempt, rw, r) {
		return
	}
	ok := w.verify(r.Header, body)
	key := r.Header.Get(webhook.HeaderID)
	w.mu.Lock()
	w.total++
	n := w.total
	if !ok {
		w.badSig++
	}
	if w.keys[b.Recipient.ID] == nil {
		w.keys[b.Recipient.ID] = map[string]int{}
	}
	w.keys[b.Recipient.ID][key]++
	if w.Record {
		w.deliveries[b.Recipient.ID] = append(w.deliveries[b.Recipient.ID], Delivery{Key: key, Body: b, Signature: ok})
	}
	w.mu.Unlock()
	rw.WriteHeader(http.StatusNoContent)
	if w.OnDelivery != nil {
		w.OnDelivery(n)
	}
	if w.OnAccept != nil {
		w.OnAccept(Delivery{Key: key, Body: b, Signature: ok})
	}
}

// Keys returns, per recipient, how often each idempotency key was accepted.
func (w *Webhook) Keys() map[string]map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]map[string]int, len(w.keys))
	for id, ks := range w.keys {
		out[id] = map[string]int{}
		for k, n := range ks {
			out[id][k] = n
		}
	}
	return out
}

// Deliveries returns the recorded deliveries of a recipient.
func (w *Webhook) Deliveries(id string) []Delivery {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Delivery(nil), w.deliveries[id]...)
}

// Attempts returns how many requests a recipient's notices made.
func (w *Webhook) Attempts(id string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.attempts[id]
}

// Totals returns the accepted deliveries and those with a bad signature.
func (w *Webhook) Totals() (total, badSignature int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.total, w.badSig
}

// Mail is one message the SMTP server accepted.
type Mail struct {
	From, To string
	Data     []byte
}

// SMTP is an SMTP server offering STARTTLS and AUTH PLAIN.
type SMTP struct {
	Server   *smtp.Server
	Addr     *net.TCPAddr
	CertPEM  []byte
	Username string
	Password string
	// Rcpt, when set, may refuse a recipient: attempt counts from 1.
	Rcpt func(to string, attempt int) error
	// OnMail, when set, is called with each accepted mail.
	OnMail func(Mail)
	// Discard keeps no mail (Mails returns none) and no count of
	// attempts (Rcpt is told 0), for a benchmark's million; OnMail still
	// sees each.
	Discard bool

	mu       sync.Mutex
	attempts map[string]int
	mails    []Mail
	authFail int
}

// NewSMTP starts a server on loopback. With startTLS false it offers no
// STARTTLS (to test that the client refuses to send).
func NewSMTP(startTLS bool) (*SMTP, error) { return NewSMTPAt("127.0.0.1", startTLS) }

// NewSMTPAt starts a server on host (an IP address of this machine), with a
// certificate for that address.
func NewSMTPAt(host string, startTLS bool) (*SMTP, error) {
	cert, certPEM, err := SelfSigned(host)
	if err != nil {
		return nil, err
	}
	s := &SMTP{CertPEM: certPEM, Username: "notices", Password: "s3cret-Passw0rd", attempts: map[string]int{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 1 << 20
	if startTLS {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	} else {
		srv.AllowInsecureAuth = true
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, err
	}
	s.Server, s.Addr = srv, l.Addr().(*net.TCPAddr)
	go func() { _ = srv.Serve(l) }()
	return s, nil
}

// Close stops the server.
func (s *SMTP) Close() { _ = s.Server.Close() }

// Mails returns what was accepted.
func (s *SMTP) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

type session struct {
	s        *SMTP
	authed   bool
	from, to string
}

func (x *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (x *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != x.s.Username || password != x.s.Password {
			x.s.mu.Lock()
			x.s.authFail++
			x.s.mu.Unlock()
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "invalid credentials"}
		}
		x.authed = true
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if !x.authed {
		return smtp.ErrAuthRequired
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	n := 0
	if !x.s.Discard {
		x.s.mu.Lock()
		x.s.attempts[to]++
		n = x.s.attempts[to]
		x.s.mu.Unlock()
	}
	if x.s.Rcpt != nil {
		if err := x.s.Rcpt(to, n); err != nil {
			return err
		}
	}
	x.to = to
	return nil
}

func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := Mail{From: x.from, To: x.to, Data: b}
	if !x.s.Discard {
		x.s.mu.Lock()
		x.s.mails = append(x.s.mails, m)
		x.s.mu.Unlock()
	}
	if x.s.OnMail != nil {
		x.s.OnMail(m)
	}
	return nil
}

func (x *session) Reset()        { x.from, x.to = "", "" }
func (x *session) Logout() error { return nil }

// SelfSigned makes a certificate for localhost, 127.0.0.1 and any other
// IP addresses given.
func SelfSigned(ips ...string) (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	for _, ip := range ips {
		if p := net.ParseIP(ip); p != nil && !p.Equal(tmpl.IPAddresses[0]) {
			tmpl.IPAddresses = append(tmpl.IPAddresses, p)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	return cert, certPEM, err
}
