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

package webhook

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"k8s.io/utils/clock"
)

// The Standard Webhooks headers (https://www.standardwebhooks.com).
const (
	// HeaderID is the message id: the notice's idempotency key, the same on
	// every attempt, so a receiver can drop duplicates by it.
	HeaderID = "webhook-id"
	// HeaderTimestamp is when the attempt was made, in Unix seconds.
	HeaderTimestamp = "webhook-timestamp"
	// HeaderSignature is one or more space-separated "v1,<base64>"
	// signatures, one per signing key.
	HeaderSignature = "webhook-signature"
)

// keyPrefix marks a key in the Standard Webhooks form: the base64 of the
// key's bytes.
const keyPrefix = "whsec_"

// DefaultTolerance is how far a timestamp may be from the receiver's clock
// before Verify refuses it as a replay.
const DefaultTolerance = 5 * time.Minute

// ParseKeys reads the signing keys of a Secret's value: one or more keys
// separated by white space, each either "whsec_<base64>" or the key's bytes
// as they are. Several keys are for rotation: every request is signed with
// each, and a receiver accepts any of them.
func ParseKeys(value []byte) ([][]byte, error) {
	var keys [][]byte
	for i, f := range strings.Fields(string(value)) {
		if rest, ok := strings.CutPrefix(f, keyPrefix); ok {
			k, err := base64.StdEncoding.DecodeString(rest)
			if err != nil || len(k) == 0 {
				return nil, fmt.Errorf("signing key %d starts with %s but the rest is not base64", i+1, keyPrefix)
			}
			keys = append(keys, k)
			continue
		}
		keys = append(keys, []byte(f))
	}
	if len(keys) == 0 {
		return nil, errors.New("the signing key is empty")
	}
	return keys, nil
}

// recipientKeyInfo labels the derivation of a recipient's key, so that the
// same secret used for anything else never gives the same bytes.
const recipientKeyInfo = "region-withdrawal-operator webhook key v1\x00"

// RecipientKeys derives a recipient's own keys from the channel's:
// HKDF-SHA256 of each key, with the recipient's id in the info, 32 bytes.
// A customer given its own key (FormatKey) can verify its notices and
// cannot sign one to anyone else.
func RecipientKeys(keys [][]byte, recipient string) [][]byte {
	out := make([][]byte, 0, len(keys))
	for _, k := range keys {
		d, err := hkdf.Key(sha256.New, k, nil, recipientKeyInfo+recipient, 32)
		if err != nil {
			panic(err) // only for lengths over 255*32 bytes
		}
		out = append(out, d)
	}
	return out
}

// FormatKey writes a key as Standard Webhooks secrets are written: whsec_
// and its base64.
func FormatKey(k []byte) string { return keyPrefix + base64.StdEncoding.EncodeToString(k) }

// Signature is the webhook-signature value of a message signed with keys:
// "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>" for each key.
func Signature(keys [][]byte, id, timestamp string, body []byte) string {
	sigs := make([]string, 0, len(keys))
	for _, k := range keys {
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac(k, id, timestamp, body)))
	}
	return strings.Join(sigs, " ")
}

func mac(key []byte, id, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Errors Verify returns.
var (
	ErrMissingHeaders = errors.New("webhook-id, webhook-timestamp or webhook-signature is missing")
	ErrTimestamp      = errors.New("the timestamp is too far from now")
	ErrSignature      = errors.New("no signature matches")
)

// Verifier checks requests the way a receiver should. Its zero Tolerance
// is DefaultTolerance; its nil Clock the real clock.
type Verifier struct {
	Keys      [][]byte
	Tolerance time.Duration
	Clock     clock.PassiveClock
}

// Verify checks a request's headers and body: the three headers present,
// the timestamp within the tolerance of now (a replay of an old request is
// refused), and one of its v1 signatures made with one of the keys,
// compared in constant time.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not Unix seconds", ErrTimestamp, ts)
	}
	clk := v.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	tol := v.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	if d := clk.Now().Sub(time.Unix(sec, 0)); d > tol || d < -tol {
		return fmt.Errorf("%w: %s off, over %s", ErrTimestamp, d.Round(time.Second), tol)
	}
	for _, s := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue
		}
		for _, k := range v.Keys {
			if hmac.Equal(got, mac(k, id, ts, body)) {
				return nil
			}
		}
	}
	return ErrSignature
}

// The headers of the operator's own scheme before Standard Webhooks, sent
// only with Config.LegacyHeaders.
const (
	LegacyHeaderIdempotencyKey = "Idempotency-Key"
	LegacyHeaderTimestamp      = "X-Withdrawal-Timestamp"
	LegacyHeaderSignature      = "X-Withdrawal-Signature"
)

// LegacySignature is the X-Withdrawal-Signature value: "sha256=<hex
// HMAC-SHA256(key, timestamp.body)>", with the first key.
func LegacySignature(key []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + fmt.Sprintf("%x", m.Sum(nil))
}

// VerifyLegacy checks an X-Withdrawal-Signature in constant time.
func VerifyLegacy(key []byte, timestamp string, body []byte, signature string) bool {
	return hmac.Equal([]byte(LegacySignature(key, timestamp, body)), []byte(signature))
}
