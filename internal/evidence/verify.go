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
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// What Verify finds wrong. Each problem wraps one of these and names the
// statement (index and key) or the checkpoint (index and size).
var (
	ErrMalformed    = errors.New("malformed")
	ErrKeyMismatch  = errors.New("bundle key is not the pinned key")
	ErrSignature    = errors.New("invalid statement signature")
	ErrStatement    = errors.New("invalid statement")
	ErrCheckpoint   = errors.New("invalid checkpoint")
	ErrRootMismatch = errors.New("checkpoint root does not match the statements")
	ErrConsistency  = errors.New("consistency proof failed")
	ErrInclusion    = errors.New("inclusion proof failed")
	ErrDuplicateKey = errors.New("different statements share a key")
	ErrUncovered    = errors.New("not covered by a checkpoint")
	ErrKeyRequired  = errors.New("no key pinned")
	ErrWrongLedger  = errors.New("not the pinned withdrawal's ledger")
	ErrPinned       = errors.New("does not extend the pinned checkpoint")
	ErrWitness      = errors.New("not witnessed")
	ErrNotSealed    = errors.New("ledger is not sealed")
	ErrAfterSeal    = errors.New("statement after the seal")
)

// VerifyError lists the problems Verify found: the first MaxProblems,
// and how many more there were.
type VerifyError struct {
	Problems []error
	Omitted  int
}

// MaxProblems bounds the problems a report keeps: a hostile bundle of a
// million bad lines, which gzip makes a few kilobytes, must not make the
// verifier keep a million errors.
const MaxProblems = 100

func (e *VerifyError) Error() string {
	const show = 10
	msgs := make([]string, 0, show+1)
	for _, p := range e.Problems[:min(len(e.Problems), show)] {
		msgs = append(msgs, p.Error())
	}
	if n := len(e.Problems) - show + e.Omitted; n > 0 {
		msgs = append(msgs, fmt.Sprintf("and %d more problems", n))
	}
	return strings.Join(msgs, "\n")
}

// Unwrap lets errors.Is find any problem's sentinel.
func (e *VerifyError) Unwrap() []error { return e.Problems }

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// Key is the verifier key the auditor pins; it is required. A key
	// taken from the bundle itself would prove only that the bundle is
	// self-consistent: one rewritten and re-signed wholesale would pass.
	Key string
	// Origin, when set, pins the ledger: the bundle must be the ledger of
	// this origin (see Origin), not another withdrawal's signed by the
	// same key.
	Origin string
	// UID, when set, pins the withdrawal by its UID, the last part of the
	// origin.
	UID string
	// Checkpoints are signed checkpoints the auditor saw earlier (from the
	// withdrawal's status, or cosigned by a witness): the bundle must hold
	// at least as many statements, with the same root at each one's size.
	// A ledger rewritten or cut short behind any of them fails.
	Checkpoints [][]byte
	// Witnesses are verifier keys of witnesses (C2SP tlog-cosignature/v1):
	// each pinned checkpoint must carry a valid cosignature of each. A
	// witness cosigns a checkpoint only if it extends what it cosigned
	// before, so a pinned checkpoint it cosigned was the ledger's when the
	// witness saw it, whoever kept the copy.
	Witnesses []string
	// AllowOpen accepts a ledger without its seal: one whose withdrawal
	// is still running. Without it, a ledger must end with its seal, so a
	// bundle cut short of the seal fails.
	AllowOpen bool
	// Salt, when set, replaces the bundle's salt for recipient questions.
	Salt []byte
	// Recipient is a recipient id whose statements VerifyReader keeps in
	// the report, for ToldBefore (with the salt, the bundle's or Salt).
	Recipient string

	// each, when set, is given every statement that verified, in order,
	// as it is read: what a fleet's check needs of all of them, without
	// the report keeping them.
	each func(Entry)
}

// Entry is a statement that verified.
type Entry struct {
	Index     int // leaf index
	Key       string
	Statement *Statement
	Event     Event
}

// Report is what Verify established, and answers an auditor's questions.
type Report struct {
	Origin    string
	Key       string
	KeyPinned bool
	Salt      []byte
	// Statements is the number of leaves. Entries are those that verified,
	// the first of each key only: every one from Verify; from VerifyReader,
	// which holds no more than a few batches, only those few in any ledger
	// (decisions, routing, the seal, specs) and those about
	// VerifyOptions.Recipient.
	Statements int
	Entries    []Entry
	// Fingerprint is the SHA-256 of the public key, in full, for a person
	// to compare with the operator's (see Fingerprint).
	Fingerprint string
	// Checkpoints are those whose signature verified, in order.
	Checkpoints []log.Checkpoint
	// Pinned are the pinned checkpoints the bundle extends.
	Pinned []log.Checkpoint
	// Witnessed are the cosignatures found on the pinned checkpoints.
	Witnessed []Cosignature
	// Seal is the ledger's seal, nil for an open ledger.
	Seal *LedgerSealed
	// Problems are the first MaxProblems found; Omitted counts the rest.
	Problems []error
	Omitted  int

	counts  map[Kind]int
	notices []NoticeSummary
}

// checkOrigin checks the bundle is the ledger the auditor asked about.
func (r *Report) checkOrigin(b *BundleHead, opts VerifyOptions) {
	switch {
	case !strings.HasPrefix(b.Origin, OriginPrefix):
		r.problem(fmt.Errorf("%w: origin %q is not a withdrawal's ledger", ErrWrongLedger, b.Origin))
	case opts.Origin != "" && b.Origin != opts.Origin:
		r.problem(fmt.Errorf("%w: the bundle is the ledger of %s, pinned %s", ErrWrongLedger, b.Origin, opts.Origin))
	case opts.UID != "" && !strings.HasSuffix(b.Origin, "/"+opts.UID):
		r.problem(fmt.Errorf("%w: the bundle is the ledger of %s, not of the withdrawal with UID %s", ErrWrongLedger, b.Origin, opts.UID))
	}
}

// Cosignature is a witness's cosignature of a pinned checkpoint.
type Cosignature struct {
	Witness string
	Size    uint64
	At      time.Time
}

// checkWitnessed requires every pinned checkpoint to be cosigned by every
// witness key given.
func (r *Report) checkWitnessed(v note.Verifier, opts VerifyOptions) {
	if len(opts.Witnesses) == 0 {
		return
	}
	var ws []note.Verifier
	for _, k := range opts.Witnesses {
		w, err := fnote.NewVerifierForCosignatureV1(k)
		if err != nil {
			r.problem(fmt.Errorf("%w: witness key %q: %w", ErrWitness, k, err))
			return
		}
		ws = append(ws, w)
	}
	if len(opts.Checkpoints) == 0 {
		r.problem(fmt.Errorf("%w: a witness key needs a pinned checkpoint the witness cosigned", ErrWitness))
	}
	for i, p := range opts.Checkpoints {
		for _, w := range ws {
			n, err := note.Open(p, note.VerifierList(v, w))
			var sig *note.Signature
			if err == nil {
				for j := range n.Sigs {
					if n.Sigs[j].Name == w.Name() && n.Sigs[j].Hash == w.KeyHash() {
						sig = &n.Sigs[j]
					}
				}
			}
			if sig == nil {
				r.problem(fmt.Errorf("%w: pinned checkpoint %d (%s) carries no valid cosignature of witness %s", ErrWitness, i, uncheckedSize(p), w.Name()))
				continue
			}
			at, _ := fnote.CoSigV1Timestamp(*sig)
			var cp log.Checkpoint
			_, _ = cp.Unmarshal([]byte(n.Text))
			r.Witnessed = append(r.Witnessed, Cosignature{Witness: w.Name(), Size: cp.Size, At: at})
		}
	}
}

// Fingerprint is the SHA-256 of a verifier key's public key, in hex:
// "SHA256:<64 hex digits>". The key hash in the key's name is only 32
// bits, too short for a person to compare keys by.
func Fingerprint(vkey string) (string, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return "", fmt.Errorf("%w: verifier key %q is not name+hash+key", ErrMalformed, vkey)
	}
	pub, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil {
		return "", fmt.Errorf("%w: verifier key: %w", ErrMalformed, err)
	}
	sum := sha256.Sum256(pub)
	return "SHA256:" + hex.EncodeToString(sum[:]), nil
}

func eventsOf[T Event](r *Report) []T {
	var out []T
	for _, e := range r.Entries {
		if t, ok := e.Event.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// Counts is the number of verified statements of each kind.
func (r *Report) Counts() map[Kind]int { return maps.Clone(r.counts) }

// NoticeSummary is what the ledger says about one notice.
type NoticeSummary struct {
	Notice string
	// Told is the number of recipients it was delivered to on some channel;
	// NeverTold of those it failed for on every channel tried.
	Told, NeverTold int
	// First and Last are the first and last delivery.
	First, Last time.Time
}

// Notices summarises each notice, by notice id.
func (r *Report) Notices() []NoticeSummary { return slices.Clone(r.notices) }

// ToldBefore says whether the recipient was delivered a notice at or before
// deadline, with every notice statement about them (late ones included).
// salt nil uses the report's; without any salt nothing can be found.
func (r *Report) ToldBefore(recipientID string, salt []byte, deadline time.Time) (bool, []Entry) {
	if salt == nil {
		salt = r.Salt
	}
	if salt == nil {
		return false, nil
	}
	hash, told := RecipientHash(salt, recipientID), false
	var about []Entry
	for _, e := range r.Entries {
		switch ev := e.Event.(type) {
		case *NoticeDelivered:
			if ev.Recipient == hash {
				about = append(about, e)
				told = told || !ev.At.After(deadline)
			}
		case *NoticeFailed:
			if ev.Recipient == hash {
				about = append(about, e)
			}
		}
	}
	return told, about
}

// Deliveries lists the notice deliveries (from Verify, which keeps every
// entry).
func (r *Report) Deliveries() []*NoticeDelivered { return eventsOf[*NoticeDelivered](r) }

// RoutingStopped lists the routing switches.
func (r *Report) RoutingStopped() []*RoutingSwitched { return eventsOf[*RoutingSwitched](r) }

// Exports lists the verified exports (from Verify, which keeps every entry).
func (r *Report) Exports() []*ExportVerified { return eventsOf[*ExportVerified](r) }

// Decisions lists approvals, suspensions, resumes, cutoff changes, drains
// undone for them, and cancels, in order.
func (r *Report) Decisions() []Entry {
	var out []Entry
	for _, e := range r.Entries {
		switch e.Event.(type) {
		case *Approved, *Suspended, *Resumed, *Cancelled, *CutoffChanged, *DrainRestored:
			out = append(out, e)
		}
	}
	return out
}

// WriteText prints a short report for a person.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	keyName := r.Key
	if i := strings.LastIndexByte(keyName, '+'); i > 0 {
		keyName = keyName[:i] // name+hash, without the key itself
	}
	last := uint64(0)
	if n := len(r.Checkpoints); n > 0 {
		last = r.Checkpoints[n-1].Size
	}
	fmt.Fprintf(&b, "ledger %s: %s statements, %d checkpoints (last at size %s)\n", r.Origin, commas(uint64(r.Statements)), len(r.Checkpoints), commas(last))
	fmt.Fprintf(&b, "key %s, fingerprint %s", keyName, r.Fingerprint)
	if r.KeyPinned {
		b.WriteString(", pinned\n")
	} else {
		b.WriteString(", NOT pinned\n")
	}
	for _, w := range r.Witnessed {
		fmt.Fprintf(&b, "witness %s cosigned the ledger at size %s on %s\n", w.Witness, commas(w.Size), w.At.UTC().Format(time.RFC3339))
	}
	for _, p := range r.Pinned {
		fmt.Fprintf(&b, "extends the pinned checkpoint at size %s\n", commas(p.Size))
	}
	if r.Seal != nil {
		fmt.Fprintf(&b, "sealed (%s) at %s: the ledger is complete at %s statements\n", r.Seal.Reason, r.Seal.At.Format(time.RFC3339), commas(uint64(r.Statements)))
	} else {
		fmt.Fprintf(&b, "OPEN at size %s: no seal yet; statements after it may follow, or may have been cut off\n", commas(uint64(r.Statements)))
	}
	if len(r.Problems) == 0 {
		b.WriteString("all signatures valid, every statement included under a checkpoint, checkpoints consistent\n")
	} else {
		fmt.Fprintf(&b, "FAILED: %d problems\n", len(r.Problems)+r.Omitted)
		for _, p := range r.Problems[:min(len(r.Problems), 5)] {
			fmt.Fprintf(&b, "  %v\n", p)
		}
	}
	counts := r.Counts()
	parts := make([]string, 0, len(counts))
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s %s", k, commas(uint64(counts[k]))))
	}
	fmt.Fprintf(&b, "statements: %s\n", strings.Join(parts, ", "))
	for _, n := range r.Notices() {
		fmt.Fprintf(&b, "notice %s: %s recipients told %s to %s, %s never told\n", n.Notice, commas(uint64(n.Told)),
			n.First.Format(time.RFC3339), n.Last.Format(time.RFC3339), commas(uint64(n.NeverTold)))
	}
	if n := counts[KindExportVerified]; n > 0 {
		fmt.Fprintf(&b, "exports verified: %d\n", n)
	}
	for _, s := range r.RoutingStopped() {
		fmt.Fprintf(&b, "routing stopped %s (%s, objects changed: %d, cutoff %s)\n", s.At.Format(time.RFC3339), s.Mode, len(s.Objects), s.Cutoff.Format(time.RFC3339))
	}
	for _, d := range r.Decisions() {
		fmt.Fprintf(&b, "%s\n", decision(d.Event))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// decision says what was decided, when, by whom and why, when known.
func decision(e Event) string {
	var what, user, reason string
	switch ev := e.(type) {
	case *Approved:
		what, user = "approved "+ev.Step, ev.User
	case *Suspended:
		what, user, reason = "suspended", ev.User, ev.Reason
	case *Resumed:
		what, user, reason = "resumed", ev.User, ev.Reason
	case *Cancelled:
		what, user, reason = "cancelled", ev.User, ev.Reason
	case *CutoffChanged:
		what, user = fmt.Sprintf("cutoff moved from %s (%s) to %s (%s)", ev.From.Format(time.RFC3339), ev.FromTimeZone, ev.To.Format(time.RFC3339), ev.ToTimeZone), ev.User
		if ev.Notice != "" {
			reason = "customers told by notice " + ev.Notice
		}
	case *DrainRestored:
		what, reason = fmt.Sprintf("drain undone for cutoff change %d (it runs again as drain round %d)", ev.Change, ev.Round), ev.Message
	}
	s := what + " at " + e.header().At.Format(time.RFC3339)
	if user != "" {
		s += " by " + user
	}
	if reason != "" {
		s += ": " + reason
	}
	return s
}

// commas writes n with thousands separators.
func commas(n uint64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
