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

// Package channel defines what a delivery channel (webhook, email) is given
// and how it says whether a failed delivery is worth another try. The
// delivery engine in package notify decides retries from these classes only,
// so every channel fails the same way.
package channel

import (
	"context"
	"errors"
	"fmt"
	"time"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
)

// Name names a channel; it is part of each per-recipient record.
type Name string

const (
	// Webhook posts signed JSON to an HTTPS endpoint.
	Webhook Name = "webhook"
	// Email sends a MIME message by SMTP.
	Email Name = "email"
)

// Message is one notice to one recipient, rendered.
type Message struct {
	// Key is the idempotency key: the same for every attempt, after any crash.
	Key string
	// Withdrawal identifies the RegionWithdrawal that sends the notice.
	Namespace, Name, UID string
	// NoticeID and Kind identify the notice.
	NoticeID string
	Kind     v1.NoticeKind
	Region   string
	// CutoffUTC is the legal cutoff: for a Rescheduled notice, the one
	// the change it tells of set.
	CutoffUTC time.Time
	// PreviousCutoffUTC is the cutoff before the latest change (before the
	// change a Rescheduled notice tells of); zero when it never moved.
	PreviousCutoffUTC time.Time
	Recipient         recipients.Recipient
	// Lang is the BCP 47 tag of the language the notice is written in.
	Lang string
	// Subject, Text and HTML are the rendered templates; HTML may be empty.
	Subject, Text, HTML string
}

// Receipt is the receiver's own proof that it took a message, as the
// evidence ledger keeps it: never the receiver's words themselves, which a
// withdrawal's author could read, only their digest or the SMTP reply.
type Receipt struct {
	// HTTPStatus and AnswerSHA256 are a webhook's status code and the hex
	// SHA-256 of its answer's body (the first 64 KiB).
	HTTPStatus   int
	AnswerSHA256 string
	// SMTPReply is the mail server's reply to the message's data ("250
	// 2.0.0 Ok: queued as 4BZ7Q2"), which names its queue id.
	SMTPReply string
}

// Sender delivers messages on one channel. Send must be safe for
// concurrent use; ctx bounds one attempt. The receipt is set when the
// receiver answered, whether or not it took the message.
type Sender interface {
	Send(ctx context.Context, m *Message) (Receipt, error)
}

// permanentError is a failure that another attempt would repeat.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// retryError is a failure that may pass later; After is the wait the
// receiver asked for (Retry-After), zero when it named none.
type retryError struct {
	err   error
	after time.Duration
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// fatalError is a failure of the channel itself (TLS not offered,
// authentication refused): every recipient would fail alike, so the engine
// stops the notice and reports it instead of burning every recipient.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// Permanent marks err as not worth another attempt: it is recorded against
// the recipient with its reason.
func Permanent(err error) error { return &permanentError{err: err} }

// Permanentf is Permanent(fmt.Errorf(...)).
func Permanentf(format string, args ...any) error { return Permanent(fmt.Errorf(format, args...)) }

// RetryAfter marks err as transient, with the wait the receiver asked for.
func RetryAfter(err error, after time.Duration) error { return &retryError{err: err, after: after} }

// Fatal marks err as a failure of the channel, not of one recipient.
func Fatal(err error) error { return &fatalError{err: err} }

// Class is how the engine treats a failed attempt.
type Class int

const (
	// Retry tries again with backoff, up to maxAttempts. Errors a channel
	// did not classify are retried: a network error proves nothing about
	// the recipient.
	Retry Class = iota
	// Fail records the recipient as failed with the reason.
	Fail
	// Stop aborts the notice with an error; nothing is recorded for the
	// attempt.
	Stop
)

// Classify says how to treat err and how long the receiver asked to wait.
func Classify(err error) (Class, time.Duration) {
	var (
		p *permanentError
		f *fatalError
		r *retryError
	)
	switch {
	case errors.As(err, &f):
		return Stop, 0
	case errors.As(err, &p):
		return Fail, 0
	case errors.As(err, &r):
		return Retry, r.after
	}
	return Retry, 0
}
