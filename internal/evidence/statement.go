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

// Package evidence keeps the proof of what a withdrawal did: one in-toto
// Statement per event, signed in a DSSE envelope, appended as a leaf of an
// RFC 6962 Merkle tree whose signed checkpoints are C2SP signed notes. An
// auditor verifies a Bundle offline with Verify. The package holds no
// Kubernetes client: the controller stores State and the signed
// checkpoints, and appends the envelopes Seal returns.
package evidence

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// StatementType is the in-toto Statement v1 type.
const StatementType = "https://in-toto.io/Statement/v1"

// Kind names an event; its predicate type is PredicateTypePrefix+kind+"/v1".
type Kind string

// The kinds of events the ledger records.
const (
	KindSpec            Kind = "spec"
	KindNoticeDelivered Kind = "notice-delivered"
	KindNoticeFailed    Kind = "notice-failed"
	KindExportVerified  Kind = "export-verified"
	KindDrainBatch      Kind = "drain-batch"
	KindDrainFinished   Kind = "drain-finished"
	KindRoutingSwitched Kind = "routing-switched"
	KindApproved        Kind = "approved"
	KindSuspended       Kind = "suspended"
	KindResumed         Kind = "resumed"
	KindCancelled       Kind = "cancelled"
	KindSealed          Kind = "sealed"
	KindCutoffChanged   Kind = "cutoff-changed"
	KindDrainRestored   Kind = "drain-restored"
)

// PredicateTypePrefix starts every predicate type of this ledger.
const PredicateTypePrefix = "https://withdrawal.ops.dev/evidence/"

// maxText bounds free text taken from a receiver (an SMTP reply, a failure
// reason): the ledger keeps a receiver's words short, never whole answers.
const maxText = 200

// PredicateType is the in-toto predicate type of k.
func (k Kind) PredicateType() string { return PredicateTypePrefix + string(k) + "/v1" }

// newEvent returns an empty event of kind k to decode a predicate into.
func newEvent(k Kind) Event {
	switch k {
	case KindSpec:
		return &SpecRecorded{}
	case KindNoticeDelivered:
		return &NoticeDelivered{}
	case KindNoticeFailed:
		return &NoticeFailed{}
	case KindExportVerified:
		return &ExportVerified{}
	case KindDrainBatch:
		return &DrainBatch{}
	case KindDrainFinished:
		return &DrainFinished{}
	case KindRoutingSwitched:
		return &RoutingSwitched{}
	case KindApproved:
		return &Approved{}
	case KindSuspended:
		return &Suspended{}
	case KindResumed:
		return &Resumed{}
	case KindCancelled:
		return &Cancelled{}
	case KindSealed:
		return &LedgerSealed{}
	case KindCutoffChanged:
		return &CutoffChanged{}
	case KindDrainRestored:
		return &DrainRestored{}
	}
	return nil
}

// Withdrawal identifies the RegionWithdrawal a statement is about. The UID
// tells apart two withdrawals that reused a name.
type Withdrawal struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	// ID is the withdrawal's identity (namespace/withdrawalID), which its
	// copies on other clusters and its re-creations share: what a fleet's
	// bundle groups ledgers by. Empty in statements of earlier releases.
	ID string `json:"id,omitempty"`
}

// Header is the part every predicate shares.
type Header struct {
	Withdrawal Withdrawal `json:"withdrawal"`
	// Key is unique per event within a withdrawal and the same when the
	// event is replayed after a crash. Seal derives it from the event.
	Key string `json:"key"`
	// At is when the event happened; the caller sets it. Seal keeps whole
	// seconds in UTC, the precision of a Kubernetes timestamp, so that an
	// event replayed from a time stored in the cluster seals to the same
	// bytes.
	At time.Time `json:"at"`
}

func (h *Header) header() *Header { return h }

// recipient is the recipient hash of a per-recipient event; none by default.
func (h *Header) recipient() string { return "" }

// clean trims free text; nothing by default.
func (h *Header) clean() {}

// Event is one thing the operator did: a pointer to one of the predicate
// types of this file.
type Event interface {
	Kind() Kind
	// EventKey is the event's key, derived from the fields that identify it.
	EventKey() string
	header() *Header
	recipient() string
	clean()
}

// SpecRecorded records the digest of a withdrawal's spec at a generation,
// so that every later statement can be read against what was asked.
type SpecRecorded struct {
	Header
	Generation int64 `json:"generation"`
	// SpecSHA256 is the hex SHA-256 of the spec's canonical JSON.
	SpecSHA256 string `json:"specSha256"`
}

// WebhookReceipt is a webhook receiver's answer.
type WebhookReceipt struct {
	Status int `json:"status"`
	// BodySHA256 is the hex SHA-256 of the answer's body.
	BodySHA256 string `json:"bodySha256"`
}

// EmailReceipt is a mail server's reply to the message's data.
type EmailReceipt struct {
	Code    int    `json:"code"`
	Text    string `json:"text"`
	QueueID string `json:"queueId,omitempty"`
}

// ParseSMTPReply splits a reply such as "250 2.0.0 Ok: queued as 4BZ7Q2"
// into its code, text and queue id (the word after "queued as", if any).
func ParseSMTPReply(reply string) EmailReceipt {
	code, text, _ := strings.Cut(strings.TrimSpace(reply), " ")
	r := EmailReceipt{Text: text}
	if n, err := strconv.Atoi(code); err == nil && len(code) == 3 {
		r.Code = n
	} else {
		r.Text = strings.TrimSpace(reply)
	}
	if _, after, ok := strings.Cut(r.Text, "queued as "); ok {
		if f := strings.Fields(after); len(f) > 0 {
			r.QueueID = truncate(f[0], 64)
		}
	}
	return r
}

// NoticeDelivered records that a receiver took a notice for a recipient.
type NoticeDelivered struct {
	Header
	Notice string `json:"notice"`
	// Recipient is RecipientHash(salt, recipient id): no personal data.
	Recipient      string          `json:"recipient"`
	Channel        string          `json:"channel"`
	IdempotencyKey string          `json:"idempotencyKey"`
	Webhook        *WebhookReceipt `json:"webhook,omitempty"`
	Email          *EmailReceipt   `json:"email,omitempty"`
}

// NoticeFailed records that a notice could not be delivered, for good.
type NoticeFailed struct {
	Header
	Notice    string `json:"notice"`
	Recipient string `json:"recipient"`
	Channel   string `json:"channel"`
	Attempts  int    `json:"attempts"`
	Reason    string `json:"reason"`
}

// ExportVerified records an export read back and checked.
type ExportVerified struct {
	Header
	Target string `json:"target"`
	// Location is where the export lies, without credentials: see
	// RedactLocation.
	Location string `json:"location"`
	Bytes    int64  `json:"bytes"`
	SHA256   string `json:"sha256"`
	// Customer is the customer's RecipientHash for a per-customer export.
	Customer string `json:"customer,omitempty"`
	// Round is the export round (spec.export.onPostpone: Reexport makes
	// the exports again after a postponement): 0 for the first.
	Round int `json:"round,omitempty"`
}

// ObjectRef names a Kubernetes object.
type ObjectRef struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// DrainBatch records one batch of the drain: how far the drain had got
// after it.
type DrainBatch struct {
	Header
	// Drained is how many workloads were at zero after the batch, which
	// also tells the batches apart.
	Drained int `json:"drained"`
	// Total is how many workloads the drain scales down.
	Total int `json:"total"`
	// Round tells apart the drains of a withdrawal whose drain was undone
	// for a postponed cutoff (DrainRestored) and ran again: 0 for the
	// first.
	Round int `json:"round,omitempty"`
}

// DrainFinished records the end of the drain.
type DrainFinished struct {
	Header
	// Workloads names the first workloads the drain scaled down (the
	// step's plan lists up to 100); Total counts them all.
	Workloads []ObjectRef `json:"workloads,omitempty"`
	Total     int         `json:"total"`
	// Round is DrainBatch's.
	Round int `json:"round,omitempty"`
}

// DrainRestored records that a drain was undone because the cutoff moved
// later than its start: its workloads were restored, to drain again at
// the new time, in round Round.
type DrainRestored struct {
	Header
	// Round is the number of this restore, from 1; the drain after it
	// records its batches under it.
	Round int `json:"round"`
	// Change is the cutoff change (CutoffChanged.Seq) that asked for it.
	Change int32 `json:"change,omitempty"`
	// Message says what was restored.
	Message string `json:"message,omitempty"`
}

// RoutingSwitched records that routing stopped serving the region.
type RoutingSwitched struct {
	Header
	// Mode is the spec's routing mode (Block451 or Remove).
	Mode    string      `json:"mode"`
	Objects []ObjectRef `json:"objects,omitempty"`
	// Total is the number of objects when Objects lists only the first.
	Total  int       `json:"total,omitempty"`
	Cutoff time.Time `json:"cutoff"`
	// SwitchedAt is when the last route was switched, to the microsecond
	// (status.steps[].routing.switchedAt); the header's At keeps seconds.
	// Zero in statements of earlier releases.
	SwitchedAt time.Time `json:"switchedAt,omitzero"`
}

// Approved records a step approved: by whom (the user the chart's
// admission policy checked was the one who added the approval) and for
// which spec digest. A step approved again after a change is a new
// statement.
type Approved struct {
	Header
	Step       string `json:"step"`
	User       string `json:"user,omitempty"`
	SpecDigest string `json:"specDigest,omitempty"`
}

// Suspended records a withdrawal suspended.
type Suspended struct {
	Header
	// Generation is the spec generation that set suspend: a withdrawal can
	// be suspended many times, once per generation.
	Generation int64  `json:"generation"`
	User       string `json:"user,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// Resumed records a withdrawal resumed.
type Resumed struct {
	Header
	Generation int64  `json:"generation"`
	User       string `json:"user,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// Cancelled records a withdrawal cancelled.
type Cancelled struct {
	Header
	User   string `json:"user,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// CutoffChanged records a change of the cutoff (or of the time zone):
// from which instant to which, who made it when the admission policy
// recorded it, and the Rescheduled notice that tells customers, if any
// had been told anything.
type CutoffChanged struct {
	Header
	// Seq numbers the withdrawal's changes from 1.
	Seq          int32     `json:"seq"`
	From         time.Time `json:"from"`
	FromTimeZone string    `json:"fromTimeZone"`
	To           time.Time `json:"to"`
	ToTimeZone   string    `json:"toTimeZone"`
	Generation   int64     `json:"generation,omitempty"`
	User         string    `json:"user,omitempty"`
	Notice       string    `json:"notice,omitempty"`
	// ExportRound, when the change sent the verified exports to be made
	// again, is the round it started.
	ExportRound int32 `json:"exportRound,omitempty"`
}

// Why a ledger was sealed.
const (
	SealCompleted = "completed"
	SealCancelled = "cancelled"
	SealDeleted   = "deleted"
)

// LedgerSealed is a ledger's last statement: the withdrawal reached its end
// (completed, cancelled, or deleted), and nothing more will be recorded.
// A verifier that finds no seal knows the ledger is still open, or was cut
// short: see VerifyOptions.AllowOpen.
type LedgerSealed struct {
	Header
	// Reason is SealCompleted, SealCancelled or SealDeleted.
	Reason string `json:"reason"`
}

// Kinds and keys. A key only uses names and hashes, none of which holds a
// "/", so keys of different events cannot collide. Suspensions and resumes
// can happen many times: their key is the spec generation that asked.
func (*SpecRecorded) Kind() Kind         { return KindSpec }
func (*NoticeDelivered) Kind() Kind      { return KindNoticeDelivered }
func (*NoticeFailed) Kind() Kind         { return KindNoticeFailed }
func (*ExportVerified) Kind() Kind       { return KindExportVerified }
func (*DrainBatch) Kind() Kind           { return KindDrainBatch }
func (*DrainFinished) Kind() Kind        { return KindDrainFinished }
func (*RoutingSwitched) Kind() Kind      { return KindRoutingSwitched }
func (*Approved) Kind() Kind             { return KindApproved }
func (*Suspended) Kind() Kind            { return KindSuspended }
func (*Resumed) Kind() Kind              { return KindResumed }
func (*Cancelled) Kind() Kind            { return KindCancelled }
func (*LedgerSealed) Kind() Kind         { return KindSealed }
func (*CutoffChanged) Kind() Kind        { return KindCutoffChanged }
func (*DrainRestored) Kind() Kind        { return KindDrainRestored }
func (e *SpecRecorded) EventKey() string { return fmt.Sprintf("spec/%d", e.Generation) }
func (e *NoticeDelivered) EventKey() string {
	return "notice/" + e.Notice + "/" + e.Recipient + "/" + e.Channel
}
func (e *NoticeFailed) EventKey() string {
	return "notice/" + e.Notice + "/" + e.Recipient + "/" + e.Channel + "/failed"
}
func (e *ExportVerified) EventKey() string {
	key := "export/"
	if e.Round > 0 {
		// Round 0 keeps the keys of ledgers written before exports could
		// be made again.
		key += fmt.Sprintf("round/%d/", e.Round)
	}
	if e.Customer != "" {
		return key + e.Target + "/" + e.Customer
	}
	return key + e.Target
}
func (e *DrainBatch) EventKey() string      { return drainKey(e.Round) + fmt.Sprintf("batch/%d", e.Drained) }
func (e *DrainFinished) EventKey() string   { return drainKey(e.Round) + "finished" }
func (e *DrainRestored) EventKey() string   { return fmt.Sprintf("drain/restored/%d", e.Round) }
func (e *RoutingSwitched) EventKey() string { return "routing/switched" }
func (e *Approved) EventKey() string        { return "approved/" + e.Step + "/" + e.SpecDigest }
func (e *Suspended) EventKey() string       { return fmt.Sprintf("suspended/%d", e.Generation) }
func (e *Resumed) EventKey() string         { return fmt.Sprintf("resumed/%d", e.Generation) }
func (e *Cancelled) EventKey() string       { return "cancelled" }
func (e *CutoffChanged) EventKey() string   { return fmt.Sprintf("cutoff/%d", e.Seq) }

// drainKey begins the keys of a drain's events: round 0 keeps the keys of
// ledgers written before drains could run again.
func drainKey(round int) string {
	if round == 0 {
		return "drain/"
	}
	return fmt.Sprintf("drain/%d/", round)
}

// SealKey is the key of a ledger's seal: one per ledger, whatever ended it.
const SealKey = "sealed"

func (e *LedgerSealed) EventKey() string { return SealKey }

func (e *NoticeDelivered) recipient() string { return e.Recipient }
func (e *NoticeFailed) recipient() string    { return e.Recipient }
func (e *ExportVerified) recipient() string  { return e.Customer }

func (e *NoticeDelivered) clean() {
	if e.Email != nil {
		e.Email.Text = truncate(e.Email.Text, maxText)
	}
}
func (e *NoticeFailed) clean()    { e.Reason = truncate(e.Reason, maxText) }
func (e *ExportVerified) clean()  { e.Location = RedactLocation(e.Location) }
func (e *RoutingSwitched) clean() { e.Cutoff = e.Cutoff.UTC().Truncate(time.Second) }
func (e *Suspended) clean()       { e.Reason = truncate(e.Reason, maxText) }
func (e *Resumed) clean()         { e.Reason = truncate(e.Reason, maxText) }
func (e *Cancelled) clean()       { e.Reason = truncate(e.Reason, maxText) }
func (e *DrainRestored) clean()   { e.Message = truncate(e.Message, maxText) }
func (e *CutoffChanged) clean() {
	e.From, e.To = e.From.UTC().Truncate(time.Second), e.To.UTC().Truncate(time.Second)
	e.User = truncate(e.User, maxText)
}

// Subject is an in-toto resource descriptor.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// Statement is an in-toto Statement v1. Predicate is kept raw: Event
// decodes it.
type Statement struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// About reports whether the statement's first subject is w.
func (s *Statement) About(w Withdrawal) bool {
	want := subjects(w, "")[0]
	return len(s.Subject) > 0 && s.Subject[0].Name == want.Name && s.Subject[0].Digest["sha256"] == want.Digest["sha256"]
}

// Kind is the statement's kind, "" when its predicate type is not ours.
func (s *Statement) Kind() Kind {
	k, ok := strings.CutPrefix(s.PredicateType, PredicateTypePrefix)
	if !ok {
		return ""
	}
	k, ok = strings.CutSuffix(k, "/v1")
	if !ok || newEvent(Kind(k)) == nil {
		return ""
	}
	return Kind(k)
}

// Event decodes the predicate into its typed event.
func (s *Statement) Event() (Event, error) {
	if s.Type != StatementType {
		return nil, fmt.Errorf("statement type %q, want %q", s.Type, StatementType)
	}
	k := s.Kind()
	if k == "" {
		return nil, fmt.Errorf("unknown predicate type %q", s.PredicateType)
	}
	e := newEvent(k)
	if err := json.Unmarshal(s.Predicate, e); err != nil {
		return nil, fmt.Errorf("decoding %s predicate: %w", k, err)
	}
	return e, nil
}

// NewStatement completes e's header in place (the withdrawal, the key, the
// time in whole UTC seconds; free text truncated) and returns its statement.
func NewStatement(w Withdrawal, e Event) (*Statement, error) {
	if err := complete(w, e); err != nil {
		return nil, err
	}
	pred, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encoding %s predicate: %w", e.Kind(), err)
	}
	return &Statement{
		Type:          StatementType,
		Subject:       subjects(w, e.recipient()),
		PredicateType: e.Kind().PredicateType(),
		Predicate:     pred,
	}, nil
}

// complete checks w and e and completes e's header in place: the
// withdrawal, the key, the time in whole UTC seconds; free text truncated.
func complete(w Withdrawal, e Event) error {
	if w.Namespace == "" || w.Name == "" || w.UID == "" {
		return errors.New("statement needs the withdrawal's namespace, name and uid")
	}
	h := e.header()
	if h.At.IsZero() {
		return fmt.Errorf("%s statement needs the time of the event", e.Kind())
	}
	h.Withdrawal, h.At = w, h.At.UTC().Truncate(time.Second)
	e.clean()
	h.Key = e.EventKey()
	return nil
}

// subjects names the withdrawal, and the recipient for a per-recipient event.
func subjects(w Withdrawal, recipient string) []Subject {
	uid := sha256.Sum256([]byte(w.UID))
	s := []Subject{{
		Name:   "regionwithdrawal/" + w.Namespace + "/" + w.Name,
		Digest: map[string]string{"sha256": hex.EncodeToString(uid[:])},
	}}
	if recipient != "" {
		s = append(s, Subject{Name: "recipient:" + recipient, Digest: map[string]string{"sha256": recipient}})
	}
	return s
}

// NewSalt returns a random per-withdrawal salt for RecipientHash.
func NewSalt() []byte {
	salt := make([]byte, 32)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (Go 1.24+).
	return salt
}

// RecipientHash is the hex HMAC-SHA256 of a recipient id under the
// withdrawal's salt: whoever holds the salt and an id can find that
// recipient's statements; the ledger alone names no one.
func RecipientHash(salt []byte, recipientID string) string {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(recipientID))
	return hex.EncodeToString(m.Sum(nil))
}

// RedactLocation drops the credentials a location may carry: userinfo,
// query (pre-signed URLs sign there) and fragment.
func RedactLocation(location string) string {
	u, err := url.Parse(location)
	if err != nil {
		return "(unparseable location)"
	}
	if u.Opaque != "" { // "user:secret@host" parses as scheme "user".
		if i := strings.LastIndexByte(u.Opaque, '@'); i >= 0 {
			u.Opaque = u.Opaque[i+1:]
		}
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
