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

// Package webhook delivers notices as signed JSON over HTTPS, signed as
// the Standard Webhooks specification says.
//
// Each request is a POST with a JSON body and three headers:
//
//	webhook-id: <hex SHA-256 of withdrawal UID, notice ID, recipient ID>
//	webhook-timestamp: <Unix seconds when the attempt was made>
//	webhook-signature: v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)> [one per key]
//
// A receiver verifies a signature (Verifier), rejects timestamps too far
// from its own clock (replay), and treats a second request with an id it
// has already processed as a duplicate: the id is the same on every retry
// and after an operator crash, and the body is byte-for-byte the same.
package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/channel"
)

// Body is the JSON a receiver gets. It holds no time of sending, so every
// attempt for one recipient and notice sends the same bytes.
type Body struct {
	ID         string    `json:"id"`
	Withdrawal Ref       `json:"withdrawal"`
	Notice     Notice    `json:"notice"`
	Region     string    `json:"region"`
	Cutoff     time.Time `json:"cutoff"`
	// PreviousCutoff is the cutoff before it last moved: for a
	// Rescheduled notice, the date the customer was told before.
	PreviousCutoff *time.Time `json:"previousCutoff,omitempty"`
	Recipient      Recipient  `json:"recipient"`
	// Lang is the BCP 47 tag of the language the notice is written in.
	Lang    string `json:"lang"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html,omitempty"`
}

// Ref names the withdrawal.
type Ref struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
}

// Notice names the notice.
type Notice struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
}

// Recipient is who the notice is for.
type Recipient struct {
	ID     string            `json:"id"`
	Name   string            `json:"name,omitempty"`
	Email  string            `json:"email,omitempty"`
	Locale string            `json:"locale,omitempty"`
	Fields map[string]string `json:"fields,omitempty"`
}

// Config builds a Sender.
type Config struct {
	// URL receives the notices of recipients that name no webhook of their own.
	URL string
	// Keys are the HMAC keys (see ParseKeys); every request is signed with
	// each. They are never logged or reported.
	Keys [][]byte
	// KeyPerRecipient signs with RecipientKeys(Keys, the recipient's id)
	// instead of Keys.
	KeyPerRecipient bool
	// LegacyHeaders also sends the operator's headers from before
	// Standard Webhooks (Idempotency-Key, X-Withdrawal-Timestamp,
	// X-Withdrawal-Signature with the first key), for receivers that
	// still check them.
	LegacyHeaders bool
	// CABundle is PEM added to the system roots.
	CABundle []byte
	// Concurrency sizes the connection pool.
	Concurrency int
	// Clock stamps webhook-timestamp.
	Clock clock.PassiveClock
	// Egress decides which addresses and schemes may be dialled; nil is
	// the default policy (https only, nothing internal).
	Egress *egress.Policy
	// Transport overrides the transport built from CABundle: one kept
	// between calls (Transports), or a test's.
	Transport http.RoundTripper
}

// Sender posts notices. It is safe for concurrent use.
type Sender struct {
	egress *egress.Policy
	url    string
	keys   [][]byte
	// perRecipient: sign with RecipientKeys(keys, recipient).
	perRecipient bool
	legacy       bool
	clock        clock.PassiveClock
	client       *http.Client
}

// New builds a Sender that verifies TLS against the system roots plus
// cfg.CABundle and never follows redirects (a redirect could carry a signed
// notice to a host nobody configured).
func New(cfg Config) (*Sender, error) {
	if len(cfg.Keys) == 0 || len(cfg.Keys[0]) == 0 {
		return nil, errors.New("webhook: the signing key is empty")
	}
	rt := cfg.Transport
	if rt == nil {
		tr, err := Transport(cfg.CABundle, cfg.Concurrency, cfg.Egress)
		if err != nil {
			return nil, err
		}
		rt = tr
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	return &Sender{
		egress: cfg.Egress, url: cfg.URL, keys: cfg.Keys, perRecipient: cfg.KeyPerRecipient, legacy: cfg.LegacyHeaders, clock: cfg.Clock,
		client: &http.Client{
			Transport:     rt,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// Transport is the policy's guarded transport (egress.Policy.Transport),
// keeping up to concurrency idle connections per host.
func Transport(caBundle []byte, concurrency int, policy *egress.Policy) (*http.Transport, error) {
	tr, err := policy.Transport(caBundle)
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	tr.MaxIdleConnsPerHost = max(concurrency, 2)
	tr.MaxIdleConns = max(concurrency*2, 100)
	return tr, nil
}

// Close releases idle connections.
func (s *Sender) Close() { s.client.CloseIdleConnections() }

// Encode returns the body of m.
func Encode(m *channel.Message) ([]byte, error) {
	var previous *time.Time
	if !m.PreviousCutoffUTC.IsZero() {
		p := m.PreviousCutoffUTC.UTC()
		previous = &p
	}
	return json.Marshal(Body{
		PreviousCutoff: previous,
		ID:             m.Key,
		Withdrawal:     Ref{Namespace: m.Namespace, Name: m.Name, UID: m.UID},
		Notice:         Notice{ID: m.NoticeID, Kind: string(m.Kind)},
		Region:         m.Region,
		Cutoff:         m.CutoffUTC.UTC(),
		Recipient: Recipient{ID: m.Recipient.ID, Name: m.Recipient.Name, Email: m.Recipient.Email,
			Locale: m.Recipient.Locale, Fields: m.Recipient.Fields},
		Lang: m.Lang, Subject: m.Subject, Text: m.Text, HTML: m.HTML,
	})
}

// Send posts m to the recipient's webhook, or the channel's URL.
func (s *Sender) Send(ctx context.Context, m *channel.Message) (channel.Receipt, error) {
	target := m.Recipient.Webhook
	if target == "" {
		target = s.url
	}
	if target == "" {
		return channel.Receipt{}, channel.Permanentf("the recipient names no webhook and the channel has no url")
	}
	body, err := Encode(m)
	if err != nil {
		return channel.Receipt{}, channel.Permanent(fmt.Errorf("encoding the notice: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return channel.Receipt{}, channel.Permanent(fmt.Errorf("webhook %s: %w", redact(target), err))
	}
	if err := s.egress.CheckURL(req.URL); err != nil {
		return channel.Receipt{}, channel.Permanent(fmt.Errorf("webhook %s: %w", redact(target), err))
	}
	ts := strconv.FormatInt(s.clock.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "region-withdrawal-operator")
	req.Header.Set(HeaderID, m.Key)
	req.Header.Set(HeaderTimestamp, ts)
	keys := s.keys
	if s.perRecipient {
		keys = RecipientKeys(s.keys, m.Recipient.ID)
	}
	req.Header.Set(HeaderSignature, Signature(keys, m.Key, ts, body))
	if s.legacy {
		req.Header.Set(LegacyHeaderIdempotencyKey, m.Key)
		req.Header.Set(LegacyHeaderTimestamp, ts)
		req.Header.Set(LegacyHeaderSignature, LegacySignature(keys[0], ts, body))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// The URL in a *url.Error may carry a token in its query: report
		// the operation and the cause only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, egress.ErrRefused) {
			return channel.Receipt{}, channel.Permanent(fmt.Errorf("webhook %s: %w", redact(target), err))
		}
		var uae x509.UnknownAuthorityError
		var hne x509.HostnameError
		if errors.As(err, &uae) || errors.As(err, &hne) {
			// Retried: a certificate may be fixed within the attempts, and
			// recorded with this reason if not.
			return channel.Receipt{}, fmt.Errorf("webhook %s: TLS verification failed: %w", redact(target), err)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return channel.Receipt{}, fmt.Errorf("webhook %s: timed out: %w", redact(target), err)
		}
		return channel.Receipt{}, fmt.Errorf("webhook %s: %w", redact(target), err)
	}
	defer resp.Body.Close()
	// Read the body (within bounds) so the connection is reused. Only its
	// digest is kept, for the evidence ledger: a receiver the author picked
	// could answer anything, and its words must not reach status, where
	// the author can read them.
	h := sha256.New()
	// A pooled buffer: io.Copy would make a 32 KiB one per answer (a hash
	// takes no io.ReaderFrom), most of the garbage of a large notice.
	buf := answerBuffers.Get().(*[]byte)
	_, _ = io.CopyBuffer(h, io.LimitReader(resp.Body, 64<<10), *buf)
	answerBuffers.Put(buf)
	receipt := channel.Receipt{HTTPStatus: resp.StatusCode, AnswerSHA256: hex.EncodeToString(h.Sum(nil))}
	return receipt, classify(resp, redact(target), s.clock.Now())
}

// answerBuffers hold the buffers answers are read through.
var answerBuffers = sync.Pool{New: func() any { b := make([]byte, 4<<10); return &b }}

// classify turns an answer into nil, a retry or a permanent failure. Its
// reason is the status code and the standard text for it only, never the
// receiver's own words.
func classify(resp *http.Response, target string, now time.Time) error {
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return nil
	}
	err := fmt.Errorf("webhook %s answered %d %s", target, code, http.StatusText(code))
	switch {
	case code == http.StatusTooManyRequests, code == http.StatusRequestTimeout, code >= 500:
		return channel.RetryAfter(err, retryAfter(resp.Header.Get("Retry-After"), now))
	default:
		// 3xx (not followed) and every other 4xx: the receiver refuses
		// this notice, and would refuse it again.
		return channel.Permanent(err)
	}
}

// retryAfter parses Retry-After as seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// redact drops userinfo, query and fragment, which often carry a token.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}
