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
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Seal's encoding, written out by hand: reflection-based encoding/json cost
// as much as the signature on the notify hot path. Every function here
// writes exactly the bytes encoding/json.Marshal writes for the same value
// (struct fields in order, omitempty, HTML-safe string escaping, compact),
// so that a statement sealed before and after this encoder, or replayed
// after a crash, is the same leaf; TestHandEncodingIsEncodingJSON and
// FuzzHandEncodingIsEncodingJSON hold it to that. Kinds without a hand
// encoder (all but the two notice kinds, which are rare) go through
// encoding/json.

// appendStatement appends the JSON of the statement of e, whose header is
// complete (see complete).
func appendStatement(b []byte, w Withdrawal, e Event) ([]byte, error) {
	b = append(b, `{"_type":`...)
	b = appendString(b, StatementType)
	b = append(b, `,"subject":[{"name":`...)
	b = appendString(b, "regionwithdrawal/"+w.Namespace+"/"+w.Name)
	b = append(b, `,"digest":{"sha256":`...)
	uid := sha256.Sum256([]byte(w.UID))
	b = appendHex(b, uid[:])
	b = append(b, `}}`...)
	if r := e.recipient(); r != "" {
		b = append(b, `,{"name":`...)
		b = appendString(b, "recipient:"+r)
		b = append(b, `,"digest":{"sha256":`...)
		b = appendString(b, r)
		b = append(b, `}}`...)
	}
	b = append(b, `],"predicateType":`...)
	b = appendString(b, e.Kind().PredicateType())
	b = append(b, `,"predicate":`...)
	var err error
	switch e := e.(type) {
	case *NoticeDelivered:
		b, err = appendNoticeDelivered(b, e)
	case *NoticeFailed:
		b, err = appendNoticeFailed(b, e)
	default:
		// encoding/json's own output is compact and HTML-escaped already:
		// what Marshal of a Statement would make of it as a RawMessage.
		var pred []byte
		if pred, err = json.Marshal(e); err == nil {
			b = append(b, pred...)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("encoding %s predicate: %w", e.Kind(), err)
	}
	return append(b, '}'), nil
}

// appendHeader appends the shared fields of a predicate, opening its object.
func appendHeader(b []byte, h *Header) ([]byte, error) {
	b = append(b, `{"withdrawal":{"namespace":`...)
	b = appendString(b, h.Withdrawal.Namespace)
	b = append(b, `,"name":`...)
	b = appendString(b, h.Withdrawal.Name)
	b = append(b, `,"uid":`...)
	b = appendString(b, h.Withdrawal.UID)
	if h.Withdrawal.ID != "" {
		b = append(b, `,"id":`...)
		b = appendString(b, h.Withdrawal.ID)
	}
	b = append(b, `},"key":`...)
	b = appendString(b, h.Key)
	b = append(b, `,"at":`...)
	return appendTime(b, h.At)
}

// appendNotice writes the header and the fields every notice statement
// starts with.
func appendNotice(b []byte, h *Header, notice, recipient, channel string) ([]byte, error) {
	b, err := appendHeader(b, h)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"notice":`...)
	b = appendString(b, notice)
	b = append(b, `,"recipient":`...)
	b = appendString(b, recipient)
	b = append(b, `,"channel":`...)
	return appendString(b, channel), nil
}

func appendNoticeDelivered(b []byte, e *NoticeDelivered) ([]byte, error) {
	b, err := appendNotice(b, &e.Header, e.Notice, e.Recipient, e.Channel)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"idempotencyKey":`...)
	b = appendString(b, e.IdempotencyKey)
	if r := e.Webhook; r != nil {
		b = append(b, `,"webhook":{"status":`...)
		b = strconv.AppendInt(b, int64(r.Status), 10)
		b = append(b, `,"bodySha256":`...)
		b = appendString(b, r.BodySHA256)
		b = append(b, '}')
	}
	if r := e.Email; r != nil {
		b = append(b, `,"email":{"code":`...)
		b = strconv.AppendInt(b, int64(r.Code), 10)
		b = append(b, `,"text":`...)
		b = appendString(b, r.Text)
		if r.QueueID != "" {
			b = append(b, `,"queueId":`...)
			b = appendString(b, r.QueueID)
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

func appendNoticeFailed(b []byte, e *NoticeFailed) ([]byte, error) {
	b, err := appendNotice(b, &e.Header, e.Notice, e.Recipient, e.Channel)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"attempts":`...)
	b = strconv.AppendInt(b, int64(e.Attempts), 10)
	b = append(b, `,"reason":`...)
	b = appendString(b, e.Reason)
	return append(b, '}'), nil
}

// appendTime appends t as encoding/json does: its MarshalJSON, which
// fails for a year outside 0 to 9999.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	j, err := t.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

// appendEnvelope appends the JSON of a DSSE envelope with one signature:
// the fields of Envelope and Signature in order, []byte as standard
// base64.
func appendEnvelope(b, payload []byte, keyID string, sig []byte) []byte {
	b = append(b, `{"payload":"`...)
	b = base64.StdEncoding.AppendEncode(b, payload)
	b = append(b, `","payloadType":`...)
	b = appendString(b, PayloadType)
	b = append(b, `,"signatures":[{"keyid":`...)
	b = appendString(b, keyID)
	b = append(b, `,"sig":"`...)
	b = base64.StdEncoding.AppendEncode(b, sig)
	return append(b, `"}]}`...)
}

func appendHex(b, src []byte) []byte {
	b = append(b, '"')
	b = hex.AppendEncode(b, src)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string exactly as encoding/json does
// with HTML escaping on (Marshal's default): '"' and '\\' escaped, \b \f
// \n \r \t short, other control characters and '<', '>', '&' as \u00XX,
// invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
