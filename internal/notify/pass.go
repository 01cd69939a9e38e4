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

package notify

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff/landing"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/channel"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/render"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients/sources"
	"github.com/ops-dev/region-withdrawal-operator/internal/text"
)

// pass is one call's walk over every recipient of a notice: it counts each
// recipient as sent, failed or pending from the checkpoint, and sends to
// those due, a batch at a time, until the call's budget is spent.
type pass struct {
	// ctx is the Execute call's: recipients.Each calls visit without one.
	ctx      context.Context
	e        *Executor
	rw       *v1.RegionWithdrawal
	a        planner.Action
	st       *State
	renderer *render.Renderer
	// exports are the withdrawal's verified exports by recipient id.
	exports map[string]v1.ExportArtifact
	// fetched, for a notice aimed at those who have not fetched their
	// archive, is who has; nil for a notice to everyone.
	fetched handoff.Fetches
	// told, for a notice only for those told something before (the
	// Rescheduled and Cancellation notices), is who was; nil for a notice
	// to everyone.
	told *Told
	// known is who some notice is recorded to have told, kept up to date
	// as this notice tells more; nil for a notice that tells no one new.
	known *Told
	// toldAhead is where known's additions are written.
	toldAhead *State
	lanes     map[channel.Name]*Lane
	stopping  bool
	// deadline ends the call's sending: its budget starts at the first
	// batch, not at the walk, which passes every recipient before it
	// (those told already too). Counted from the walk's start, a list long
	// enough to take the whole budget to walk would never send again.
	deadline time.Time

	batch     []*item
	exhausted bool

	total, sent, failedN, pending int64
	excluded, untold              int64
	sentNow, newFailed            int64
	// objStart, objSettled and objIdle follow the recipient object being
	// walked, for what the walk keeps of it (objectTally).
	objStart            counts
	objSettled, objIdle bool
	firstFailure        string
	dueLeft             bool
	earliest            time.Time
	// salt hashes recipient ids in the evidence ledger; nil when it is off.
	salt []byte
}

// item is one recipient with the deliveries still due.
type item struct {
	r     recipients.Recipient
	key   string
	units []unit
}

// unit is one (recipient, channel) delivery.
type unit struct {
	ch   channel.Name
	hash uint64
}

// job is one unit to send, with its rendered message.
type job struct {
	msg  *channel.Message
	u    unit
	prev int // attempts made in earlier calls
}

// unitsOf lists the channels that reach r: the webhook when the channel is
// configured and r or the channel names an address, email when configured
// and r has an address.
func (p *pass) unitsOf(r recipients.Recipient, key string) []unit {
	n := p.rw.Spec.Notify
	var out []unit
	if n.Webhook != nil && (r.Webhook != "" || n.Webhook.URL != "") {
		out = append(out, unit{ch: channel.Webhook, hash: unitHash(key, channel.Webhook)})
	}
	if n.Email != nil && r.Email != "" {
		out = append(out, unit{ch: channel.Email, hash: unitHash(key, channel.Email)})
	}
	return out
}

type standing int

const (
	standingSent standing = iota
	standingFailed
	standingWaiting
	standingDue
)

// classify says where a recipient stands and which of its units are due.
func (p *pass) classify(units []unit, now time.Time) (standing, []unit) {
	var due []unit
	failed, waiting := false, false
	for _, u := range units {
		if p.st.delivered.Has(u.hash) {
			continue
		}
		if _, ok := p.st.failed[u.hash]; ok {
			failed = true
			continue
		}
		if d, ok := p.st.deferred[u.hash]; ok && d.notBefore.After(now) {
			waiting = true
			if p.earliest.IsZero() || d.notBefore.Before(p.earliest) {
				p.earliest = d.notBefore
			}
			continue
		}
		due = append(due, u)
	}
	switch {
	case len(due) > 0:
		return standingDue, due
	case waiting:
		return standingWaiting, nil
	case failed:
		return standingFailed, nil
	}
	return standingSent, nil
}

// untouched reports whether no unit has been delivered or failed yet.
func (p *pass) untouched(units []unit) bool {
	for _, u := range units {
		if p.st.delivered.Has(u.hash) {
			return false
		}
		if _, ok := p.st.failed[u.hash]; ok {
			return false
		}
	}
	return true
}

func (p *pass) count(s standing) {
	switch s {
	case standingSent:
		p.sent++
	case standingFailed:
		p.failedN++
	default:
		p.pending++
	}
}

func (p *pass) preflight(r recipients.Recipient) error {
	d := p.data(p.ctx, r)
	if _, _, _, err := p.renderer.Render(p.a.Notice, d); err != nil {
		return fmt.Errorf("recipient %q: %w", r.ID, err)
	}
	return nil
}

func (p *pass) data(ctx context.Context, r recipients.Recipient) render.Data {
	d := p.renderer.Data(p.a.Notice, p.a.DueAt, r)
	if a, ok := p.exports[r.ID]; ok {
		d.Export = render.ExportOf(a)
		d.ExportLocation = a.Location
		// A link only for the customer's own encrypted archive: the
		// endpoint serves links for those alone.
		if handoff.Linkable(r.ID, a) {
			if link, expires := p.e.o.Handoff.CustomerLink(p.rw, r.ID); link != "" {
				// The link names the customer's locale, so that the page
				// it shows is in the language of the notice.
				d.WithLink(landing.WithLang(link, r.Locale), expires)
			}
		}
	}
	return d
}

// counts are a pass's counts of recipients.
type counts struct{ total, sent, failed, pending, excluded, untold int64 }

func (c counts) minus(d counts) counts {
	return counts{c.total - d.total, c.sent - d.sent, c.failed - d.failed, c.pending - d.pending, c.excluded - d.excluded, c.untold - d.untold}
}

func (p *pass) counts() counts {
	return counts{p.total, p.sent, p.failedN, p.pending, p.excluded, p.untold}
}

// objectTally is what a pass found of one recipient object, kept by the
// notice's Walker so that the next call can pass over the object when its
// recipients are sure to stand where they stood.
type objectTally struct {
	c counts
	// settled: every recipient was sent to, failed for good, or left
	// out. Outcomes are never taken back, so an unchanged object stays
	// settled: every later call may pass over it.
	settled bool
	// idle: every recipient was left out, or due and not sent to (the
	// call had stopped sending before it). Nothing but a call that sends
	// to them changes that, and a call that sends reads the object: a
	// call that has stopped sending may pass over it.
	idle bool
}

// Passable passes over an object whose recipients stand where they stood:
// all settled, or all untouched while this call sends no more.
func (p *pass) Passable(_ int, t objectTally) bool {
	return t.settled || (t.idle && (p.exhausted || p.stopping))
}

// Enter starts an object: passed over, its recipients count as they did.
func (p *pass) Enter(_ int, passed bool, t objectTally) {
	if passed {
		p.total += t.c.total
		p.sent += t.c.sent
		p.failedN += t.c.failed
		p.pending += t.c.pending
		p.excluded += t.c.excluded
		p.untold += t.c.untold
		if t.c.pending > 0 && !p.stopping {
			p.dueLeft = true
		}
		return
	}
	p.objStart, p.objSettled, p.objIdle = p.counts(), true, true
}

// Leave says what the pass found of the object it walked. Its counts are
// right only for a settled or idle object: one with recipients in a batch
// is counted when the batch is, which may be later.
func (p *pass) Leave(int) objectTally {
	return objectTally{c: p.counts().minus(p.objStart), settled: p.objSettled, idle: p.objIdle}
}

// Visit is called for every recipient, in source order, but those of the
// objects passed over.
func (p *pass) Visit(r recipients.Recipient) error {
	key := IdempotencyKey(string(p.rw.IdentityKey()), p.a.NoticeID(), r.ID)
	units := p.unitsOf(r, key)
	if len(units) == 0 {
		// Recorded as failed, not skipped: nothing is silently dropped.
		units = []unit{{ch: noChannel, hash: unitHash(key, noChannel)}}
	}
	if p.fetched != nil && p.untouched(units) && p.fetched.Fetched(r.ID) {
		// Aimed at those who have not fetched their archive, and this
		// customer has, before any of it reached them. One who was sent
		// to, or failed, stays counted as such.
		p.excluded++
		return nil
	}
	if p.told != nil && p.untouched(units) && !p.told.Has(string(p.rw.IdentityKey()), r.ID) {
		// Told nothing of the withdrawal, so nothing to take back or
		// correct: added to the list after the notices went out, or
		// reached by none of them.
		p.untold++
		return nil
	}
	p.total++
	s, due := p.classify(units, p.e.o.Clock.Now())
	switch {
	case s == standingSent || s == standingFailed:
		p.objIdle = false
	case s == standingWaiting:
		p.objSettled, p.objIdle = false, false
	case p.stopping || p.exhausted:
		p.objSettled = false
	default:
		p.objSettled, p.objIdle = false, false
	}
	if s != standingDue || p.stopping || p.exhausted {
		if s == standingDue && !p.stopping {
			p.dueLeft = true
		}
		p.count(s)
		return nil
	}
	p.batch = append(p.batch, &item{r: r, key: key, units: due})
	if len(p.batch) >= p.batchSize() {
		return p.flush(p.ctx)
	}
	return nil
}

// batchSize keeps one batch within about one call's budget at the
// slowest lane's rate, so a low rate limit does not stretch a call.
func (p *pass) batchSize() int {
	n := p.e.o.BatchSize
	for _, l := range p.lanes {
		if byRate := int(float64(l.Limiter.Limit()) * p.e.o.CallBudget.Seconds()); byRate < n {
			n = max(byRate, 1)
		}
	}
	return n
}

// flush sends the batch, writes its outcome to the checkpoint, and only
// then counts it: if the process dies before the write, the batch is sent
// again with the same keys; it never counts as sent without a record.
func (p *pass) flush(ctx context.Context) error {
	items := p.batch
	p.batch = nil
	if len(items) == 0 {
		return nil
	}
	if p.deadline.IsZero() {
		p.deadline = p.e.o.Clock.Now().Add(p.e.o.CallBudget)
	}
	// Whom the batch tells is written while it renders, and is on record
	// before anything is sent.
	told := make(chan error, 1)
	go func() { told <- p.tellAhead(ctx, items) }()
	out := &records{}
	jobs := p.render(ctx, items, out)
	if err := <-told; err != nil {
		return err
	}
	fatal := p.sendAll(ctx, jobs, out)
	// The evidence goes in before the checkpoint: if the process dies in
	// between, the batch is sent again with the same keys, and its
	// statements are found already in the ledger.
	if err := errors.Join(out.sealErrs...); err != nil {
		return fmt.Errorf("recording the evidence of notice %s: %w", p.a.NoticeID(), err)
	}
	if err := p.e.o.Evidence.AppendBatch(ctx, p.rw, &out.sealed); err != nil {
		// What was delivered was delivered: sending it again would
		// notify customers twice for a fault of our own. The statements
		// are kept for the ledger's next append, the deliveries
		// checkpointed, and the notice stops here until the ledger takes
		// them (Execute appends them first). Only if they cannot be kept
		// either is the batch left unrecorded, to be sent again.
		if kerr := p.e.o.Evidence.Keep(ctx, p.rw, out.sealed.Leaves()...); kerr != nil {
			return fmt.Errorf("recording the evidence of notice %s: %w", p.a.NoticeID(), errors.Join(err, kerr))
		}
		if cerr := p.e.store.Commit(ctx, p.rw, p.a.NoticeID(), p.st, out.recs); cerr != nil {
			return cerr
		}
		p.tally(items, out.recs)
		return fmt.Errorf("recording the evidence of notice %s (its %d outcomes are checkpointed and their statements kept, to go in first once the ledger takes them): %w",
			p.a.NoticeID(), out.sealed.Len(), err)
	}
	if err := p.e.store.Commit(ctx, p.rw, p.a.NoticeID(), p.st, out.recs); err != nil {
		return err
	}
	now := p.tally(items, out.recs)
	if fatal != nil {
		return fatal
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !now.Before(p.deadline) {
		p.exhausted = true
	}
	return nil
}

// tellAhead records, before the batch is sent, that its recipients are
// being told, for those no notice has recorded yet. Before, not after: a
// process that dies between a send and its checkpoint, or a send abandoned
// when a call ends, may still have reached the customer, and the
// cancellation must reach them too. At worst a customer is counted told
// who then was not reached; never the other way round. The Rescheduled and
// Cancellation notices go only to recipients already told: nothing to add.
func (p *pass) tellAhead(ctx context.Context, items []*item) error {
	if p.told != nil || p.known == nil {
		return nil
	}
	uid := string(p.rw.IdentityKey())
	var recs []record
	for _, it := range items {
		if it.units[0].ch == noChannel {
			continue // nobody is tried
		}
		h := toldHash(uid, it.r.ID)
		if p.known.set.Has(h) {
			continue
		}
		p.known.set.Add(h)
		recs = append(recs, record{kind: recTold, hash: h})
	}
	if err := p.e.toldStore.Commit(ctx, p.rw, toldAheadID(p.a.NoticeID()), p.toldAhead, recs); err != nil {
		for _, r := range recs {
			p.known.set.Delete(r.hash)
		}
		return fmt.Errorf("recording whom notice %s is about to tell: %w", p.a.NoticeID(), err)
	}
	return nil
}

// evidenceOf is what the ledger records of one outcome: a delivery with
// the receiver's receipt, or a permanent failure. A deferral is no
// evidence: the unit is tried again, and its outcome is recorded then.
func (p *pass) evidenceOf(r record) evidence.Event {
	salt := p.salt
	header := evidence.Header{At: r.at}
	switch r.kind {
	case recDelivered:
		e := &evidence.NoticeDelivered{Header: header, Notice: p.a.NoticeID(),
			Recipient: evidence.RecipientHash(salt, r.id), Channel: string(r.ch), IdempotencyKey: r.key}
		switch {
		case r.receipt.HTTPStatus != 0:
			e.Webhook = &evidence.WebhookReceipt{Status: r.receipt.HTTPStatus, BodySHA256: r.receipt.AnswerSHA256}
		case r.receipt.SMTPReply != "":
			reply := evidence.ParseSMTPReply(r.receipt.SMTPReply)
			e.Email = &reply
		}
		return e
	case recFailed:
		return &evidence.NoticeFailed{Header: header, Notice: p.a.NoticeID(),
			Recipient: evidence.RecipientHash(salt, r.id), Channel: string(r.ch), Attempts: r.attempts, Reason: r.reason}
	}
	return nil
}

// records collects the outcomes of a batch from the lanes' workers, and
// their sealed evidence: each worker seals the statement of the outcome it
// got, and the batch compresses it for the ledger's shard, so the
// signatures and the compression are done while other deliveries wait on
// the network, not after the batch.
type records struct {
	mu       sync.Mutex
	recs     []record
	sealed   ledger.Batch
	sealErrs []error
}

func (r *records) add(p *pass, rec record) {
	var (
		sealed ledger.Sealed
		err    error
		e      evidence.Event
	)
	if p.e.o.Evidence != nil {
		if e = p.evidenceOf(rec); e != nil {
			sealed, err = p.e.o.Evidence.Seal(p.rw, e)
		}
	}
	if err == nil && e != nil {
		r.sealed.Add(sealed)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	if err != nil {
		r.sealErrs = append(r.sealErrs, err)
	}
}

// render renders each item's notice once and makes one job per channel
// unit. An item no channel reaches, or whose notice does not render, is
// recorded as failed instead.
func (p *pass) render(ctx context.Context, items []*item, out *records) map[channel.Name][]*job {
	jobs := map[channel.Name][]*job{}
	for _, it := range items {
		if ctx.Err() != nil || !p.e.o.Clock.Now().Before(p.deadline) {
			// The call's budget is spent: the rest go in a later call, so
			// that no batch of renders holds up the steps after it.
			break
		}
		if it.units[0].ch == noChannel {
			out.add(p, record{kind: recFailed, hash: it.units[0].hash, id: it.r.ID, key: it.key, ch: noChannel, at: p.e.o.Clock.Now(),
				reason: "no configured channel reaches this recipient (webhook needs an address in the record or spec.notify.webhook.url; email needs an address and spec.notify.email)"})
			continue
		}
		d := p.data(ctx, it.r)
		subject, text, html, err := p.renderer.Render(p.a.Notice, d)
		if err != nil {
			for _, u := range it.units {
				out.add(p, record{kind: recFailed, hash: u.hash, id: it.r.ID, key: it.key, ch: u.ch, at: p.e.o.Clock.Now(), reason: capReason(err.Error())})
			}
			continue
		}
		msg := &channel.Message{
			Key: it.key, Namespace: p.rw.Namespace, Name: p.rw.Name, UID: string(p.rw.UID),
			NoticeID: p.a.NoticeID(), Kind: p.a.Notice, Region: p.rw.Spec.Region, CutoffUTC: d.CutoffUTC,
			PreviousCutoffUTC: d.PreviousCutoffUTC,
			Recipient:         it.r, Lang: d.Lang, Subject: subject, Text: text, HTML: html,
		}
		for _, u := range it.units {
			jobs[u.ch] = append(jobs[u.ch], &job{msg: msg, u: u, prev: p.st.deferred[u.hash].attempts})
		}
	}
	return jobs
}

// sendAll runs each channel's jobs on its lane's workers and returns the
// error that stopped them, if one did. Jobs not started by the call's hard
// stop stay unrecorded and go in a later call.
func (p *pass) sendAll(ctx context.Context, jobs map[channel.Name][]*job, out *records) error {
	bctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg    sync.WaitGroup
		fatal atomic.Pointer[error]
	)
	hardStop := p.deadline.Add(p.e.o.CallBudget)
	for ch, js := range jobs {
		lane := p.lanes[ch]
		var next atomic.Int64
		for range min(lane.Concurrency, len(js)) {
			wg.Go(func() {
				for {
					i := next.Add(1) - 1
					if i >= int64(len(js)) || bctx.Err() != nil {
						return
					}
					if r, ok := p.deliver(bctx, lane, js[i], hardStop, func(err error) {
						fatal.CompareAndSwap(nil, &err)
						cancel(err)
					}); ok {
						out.add(p, r)
					}
				}
			})
		}
	}
	wg.Wait()
	if f := fatal.Load(); f != nil {
		return *f
	}
	return nil
}

// tally counts a committed batch: what was delivered or failed now, and
// where each item stands. It returns the time it counted at.
func (p *pass) tally(items []*item, recs []record) time.Time {
	for _, r := range recs {
		switch r.kind {
		case recDelivered:
			p.sentNow++
		case recFailed:
			p.newFailed++
			if p.firstFailure == "" {
				p.firstFailure = fmt.Sprintf("%s via %s: %s", r.id, r.ch, r.reason)
			}
		}
	}
	now := p.e.o.Clock.Now()
	for _, it := range items {
		units := p.unitsOf(it.r, it.key)
		if len(units) == 0 {
			units = it.units
		}
		s, _ := p.classify(units, now)
		if s == standingDue {
			p.dueLeft = true
		}
		p.count(s)
	}
	return now
}

// deliver makes the attempts one unit gets in this call. It returns the
// record to write, or false when the attempt was abandoned (the call is
// ending or stopped): an abandoned unit is sent again later, with the same key.
func (p *pass) deliver(ctx context.Context, lane *Lane, j *job, hardStop time.Time, stop func(error)) (record, bool) {
	clk := p.e.o.Clock
	if !clk.Now().Before(hardStop) {
		return record{}, false
	}
	attempts := j.prev
	base := record{hash: j.u.hash, id: j.msg.Recipient.ID, key: j.msg.Key, ch: j.u.ch}
	for {
		if err := lane.Limiter.Wait(ctx); err != nil {
			return record{}, false
		}
		actx, cancel := context.WithTimeout(ctx, lane.Timeout)
		receipt, err := lane.Sender.Send(actx, j.msg)
		cancel()
		attempts++
		base.attempts, base.receipt, base.at = attempts, receipt, clk.Now()
		if err == nil {
			p.e.metrics.observe(j.u.ch, "delivered")
			base.kind = recDelivered
			return base, true
		}
		if ctx.Err() != nil {
			return record{}, false
		}
		class, after := channel.Classify(err)
		switch class {
		case channel.Stop:
			stop(fmt.Errorf("%s channel: %w", j.u.ch, err))
			return record{}, false
		case channel.Fail:
			p.e.metrics.observe(j.u.ch, "failed")
			base.kind, base.reason = recFailed, capReason(err.Error())
			return base, true
		}
		if attempts >= lane.MaxAttempts {
			p.e.metrics.observe(j.u.ch, "failed")
			base.kind, base.reason = recFailed, capReason(fmt.Sprintf("gave up after %d attempts: %v", attempts, err))
			return base, true
		}
		now := clk.Now()
		wait := max(p.backoff(attempts), p.capRetryAfter(after, now))
		if wait <= p.e.o.InlineRetryMax && now.Add(wait).Before(hardStop) {
			p.e.metrics.observe(j.u.ch, "retried")
			select {
			case <-ctx.Done():
				return record{}, false
			case <-clk.After(wait):
			}
			continue
		}
		p.e.metrics.observe(j.u.ch, "deferred")
		base.kind, base.reason, base.notBefore = recDeferred, capReason(err.Error()), now.Add(wait)
		return base, true
	}
}

// capRetryAfter bounds the wait a receiver asks for (Retry-After) by the
// backoff maximum and by the time left to the cutoff: a customer's
// endpoint cannot hold its notice past the cutoff it announces.
func (p *pass) capRetryAfter(after time.Duration, now time.Time) time.Duration {
	after = min(after, p.e.o.BackoffMax)
	if left := p.rw.Spec.Cutoff.Sub(now); left > 0 {
		after = min(after, left)
	}
	return max(after, 0)
}

// backoff is base·2^(attempts-1), capped, less up to half as jitter so
// that recipients failing together do not retry together.
func (p *pass) backoff(attempts int) time.Duration {
	d := p.e.o.BackoffBase
	for i := 1; i < attempts && d < p.e.o.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, p.e.o.BackoffMax)
	return d - time.Duration(rand.Int64N(int64(d)/2+1))
}

func capReason(s string) string { return text.Truncate(s, maxReason) }

func (p *pass) result(sum *sources.Summary) executor.Result {
	res := executor.Result{
		Detail: executor.Detail{Notice: &executor.NoticeCounts{Recipients: p.total, Sent: p.sent, Failed: p.failedN, Excluded: p.excluded + p.untold,
			FailedSources: sum.Failed}},
		Progress: &v1.Progress{Done: p.sent + p.failedN, Total: p.total},
	}
	kind := strings.ToLower(string(p.a.Notice))
	res.Plan = &v1.StepPlan{Recipients: p.total, Summary: fmt.Sprintf("sends the %s to %d recipients by %s", kind, p.total, strings.Join(Channels(p.rw), " and "))}
	pending := p.total - p.sent - p.failedN
	switch {
	case pending == 0:
		res.Done = true
		res.Message = fmt.Sprintf("%s sent to %d of %d recipients, %d failed", kind, p.sent, p.total, p.failedN)
	case p.dueLeft:
		res.RequeueAfter = asap
		res.Message = fmt.Sprintf("sending the %s: %d of %d recipients sent, %d failed, %d pending", kind, p.sent, p.total, p.failedN, pending)
	default:
		res.RequeueAfter = max(p.earliest.Sub(p.e.o.Clock.Now()), asap)
		res.Message = fmt.Sprintf("sending the %s: %d of %d recipients sent, %d failed, %d waiting to retry", kind, p.sent, p.total, p.failedN, pending)
	}
	if p.excluded > 0 {
		res.Message += fmt.Sprintf("; %d left out, who had fetched their archive", p.excluded)
		res.Plan.Summary += fmt.Sprintf(", leaving out %d who had fetched their archive", p.excluded)
	}
	if p.untold > 0 {
		res.Message += fmt.Sprintf("; %d left out, who had been told nothing", p.untold)
		res.Plan.Summary += fmt.Sprintf(", leaving out %d who had been told nothing", p.untold)
	}
	if s := problemSummary(sum); s != "" {
		res.Message += "; " + s
	}
	if len(sum.Failed) > 0 {
		res.Message += "; not read, so its recipients are not notified: " + strings.Join(sum.Failed, "; ")
	}
	return res
}
