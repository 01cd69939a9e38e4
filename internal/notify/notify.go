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

// Package notify is the executor of the notify step: it sends each notice
// to every recipient by webhook and email, at least once and with the same
// idempotency key every time, checkpointing what it sent in ConfigMaps so
// that a crash re-sends at most the batch that was in flight.
//
// Each call to Execute does a bounded amount of work (a time budget of a
// few seconds, in batches of about a thousand recipients) and reports the
// counts; the controller calls again until the notice is done. See
// docs/notify.md for the design.
package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/render"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients/sources"
)

// Recipient lists, Secrets and checkpoints are read and written as the
// withdrawal's ServiceAccount (config/rbac/tenant_role.yaml); the
// operator itself only records Events.
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Event reasons of the notify executor.
const (
	ReasonRecipientsSkipped  = "RecipientsSkipped"
	ReasonNoticeDeliveryFail = "NoticeDeliveryFailed"
	ReasonNoticeStopped      = "NoticeStopped"
	// ReasonNoticeRecordsKept: deleted before it ended, the withdrawal
	// left its notice checkpoints for the next with its identity.
	ReasonNoticeRecordsKept = "NoticeRecordsKept"
	// ReasonRecipientSourceFailed: a recipient source could not be read,
	// for good (status.notify.failedSources).
	ReasonRecipientSourceFailed = "RecipientSourceFailed"
)

// Defaults of Options.
const (
	DefaultBatchSize      = 1000
	DefaultCallBudget     = 3 * time.Second
	DefaultBackoffBase    = time.Second
	DefaultBackoffMax     = 5 * time.Minute
	DefaultInlineRetryMax = 2 * time.Second
	// asap is the requeue asked for while recipients are due now. The
	// controller treats zero as "its default", so ask for a short delay.
	asap = 100 * time.Millisecond
)

// Options configure an Executor. Client, Reader and Clock are required.
type Options struct {
	// Client writes the checkpoint ConfigMaps.
	Client client.Client
	// Reader reads recipients, Secrets and checkpoints. Pass the manager's
	// API reader (uncached): recipient lists and checkpoints are large,
	// and caching every ConfigMap in the cluster would cost more memory
	// than sending to them.
	Reader client.Reader
	// Clock stamps signatures, schedules retries and bounds each call.
	Clock clock.Clock
	// Recorder, when set, receives an Event for skipped recipients and
	// permanent failures.
	Recorder events.EventRecorder
	// Registerer, when set, gets the delivery counters.
	Registerer prometheus.Registerer
	// HTTP reads paged HTTP recipient sources; default &sources.HTTPPager{}.
	HTTP *sources.HTTPPager
	// Egress decides where the senders and the HTTP recipient source may
	// connect; nil is the default policy (https only, nothing internal).
	Egress *egress.Policy
	// LegacyWebhookHeaders also sends the webhook headers from before
	// Standard Webhooks (X-Withdrawal-Signature and the rest).
	LegacyWebhookHeaders bool
	// Channels builds the senders of a withdrawal; default
	// GuardedChannels(Egress, LegacyWebhookHeaders).
	Channels ChannelFactory
	// Exports, when set, gives every verified export of the withdrawal,
	// keyed by recipient id (or by target, for an export that names no
	// recipient), for the templates' .Export. It is called once per
	// Execute call, with the context of the withdrawal's ServiceAccount.
	Exports func(ctx context.Context, rw *v1.RegionWithdrawal) (map[string]v1.ExportArtifact, error)
	// Handoff, when set, is the installation's handoff endpoint: it gives
	// each customer with their own archive a personal link (.Export.Link),
	// and tells which customers have fetched theirs, for reminders aimed
	// at those who have not. Nil: a withdrawal that asks for links stalls.
	Handoff *handoff.Service
	// Evidence, when set, is the evidence ledger: each batch's deliveries
	// and permanent failures are appended to it before the checkpoint
	// counts them.
	Evidence *ledger.Ledger

	// BatchSize is how many recipients are sent between checkpoints, and
	// so the most a crash can send twice.
	BatchSize int
	// CallBudget bounds the sending of one Execute call.
	CallBudget time.Duration
	// BackoffBase and BackoffMax shape retries: base·2^(attempt-1), capped,
	// with up to 50% jitter; a longer Retry-After wins.
	BackoffBase, BackoffMax time.Duration
	// InlineRetryMax is the longest wait a retry waits within a call;
	// longer waits are recorded in the checkpoint and the call returns.
	InlineRetryMax time.Duration
	// ShardBytes bounds one checkpoint ConfigMap.
	ShardBytes int
}

// Executor carries out notice actions and the notify step's revert.
type Executor struct {
	o     Options
	store *Store
	// toldStore writes the told records ahead of each batch, in shards of
	// their own that stay small, so that the write before a batch does not
	// rewrite the notice's large open shard.
	toldStore  *Store
	recipients *sources.Objects
	metrics    *deliveryMetrics

	mu   sync.Mutex
	runs map[string]*run
}

// run is what one process remembers of a notice between calls. All of it
// can be rebuilt from the API server: a new process loads the checkpoint.
type run struct {
	state *State
	// told is who any notice of the withdrawal is recorded to have told,
	// read once per notice and process, then kept up to date.
	told *Told
	// toldAhead is the checkpoint of the told records written ahead of
	// this notice's batches.
	toldAhead   *State
	preflighted bool
	reported    bool
	// sourcesReported: the Event for failed recipient sources went out.
	sourcesReported bool
	// walker walks the recipients from call to call, passing over the
	// objects whose recipients the calls before have settled, or that a
	// call that has stopped sending has no need to read again.
	walker *sources.Walker[objectTally]
}

// maxRuns bounds the notices remembered; beyond it they are reloaded.
const maxRuns = 64

var (
	_ executor.Executor = (*Executor)(nil)
)

// New builds the notify executor.
func New(o Options) *Executor {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.HTTP == nil {
		o.HTTP = &sources.HTTPPager{Egress: o.Egress}
	}
	if o.Channels == nil {
		o.Channels = GuardedChannels(o.Egress, o.LegacyWebhookHeaders)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.CallBudget <= 0 {
		o.CallBudget = DefaultCallBudget
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = DefaultBackoffBase
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	if o.InlineRetryMax <= 0 {
		o.InlineRetryMax = DefaultInlineRetryMax
	}
	return &Executor{
		o:          o,
		store:      &Store{Client: o.Client, Reader: o.Reader, ShardBytes: o.ShardBytes},
		toldStore:  &Store{Client: o.Client, Reader: o.Reader, ShardBytes: toldShardBytes},
		recipients: &sources.Objects{Reader: o.Reader, HTTP: o.HTTP},
		metrics:    newDeliveryMetrics(o.Registerer),
		runs:       map[string]*run{},
	}
}

var _ executor.SpecChecker = (*Executor)(nil)

// CheckSpec refuses templates that do not parse, or that could run without
// end (see checkTrees), when the withdrawal is applied rather than when its
// first notice falls due.
func (e *Executor) CheckSpec(rw *v1.RegionWithdrawal) error {
	if rw.Spec.Notify == nil {
		return nil
	}
	if _, err := render.New(rw); err != nil {
		return &planner.SpecError{Field: "spec.notify.templates", Err: err, Step: v1.StepNotify}
	}
	return nil
}

// Execute sends a notice, or for the step's revert stops sending.
func (e *Executor) Execute(ctx context.Context, rw *v1.RegionWithdrawal, a planner.Action) (executor.Result, error) {
	switch {
	case a.Kind == planner.ActionNotice:
		res, err := e.notice(ctx, rw, a)
		if errors.Is(err, render.ErrTemplate) {
			// A template that does not parse or render is the spec's
			// fault: the notices wait until it changes; the other steps,
			// the routing switch at the cutoff above all, go on.
			err = &planner.SpecError{Field: "spec.notify.templates", Err: err, Step: v1.StepNotify}
		}
		return res, err
	case a.Kind == planner.ActionRevert && a.Step == v1.StepNotify:
		return e.revert(rw), nil
	}
	return executor.Result{}, fmt.Errorf("notify: unexpected action %s", a.ID)
}

// revert stops the notices: a notice action called while the withdrawal is
// cancelled finishes at once (see notice), and nothing is forgotten here
// that the checkpoint would need. What was delivered cannot be recalled.
func (e *Executor) revert(rw *v1.RegionWithdrawal) executor.Result {
	e.forget(rw, "")
	var notices, reached int64
	if rw.Status.Notify != nil {
		for _, n := range rw.Status.Notify.Notices {
			if n.Kind == v1.NoticeCancellation || n.DryRun || n.Sent == 0 {
				continue
			}
			notices++
			reached = max(reached, n.Sent)
		}
	}
	res := executor.Result{Done: true, Message: "no further notices are sent, except the cancellation notice"}
	if notices > 0 {
		res.Irreversible = []string{fmt.Sprintf("%d notices already delivered to %d recipients", notices, reached)}
	}
	return res
}

func runKey(rw *v1.RegionWithdrawal, noticeID string) string {
	return string(rw.IdentityKey()) + "/" + noticeID
}

func (e *Executor) run(rw *v1.RegionWithdrawal, noticeID string) *run {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := runKey(rw, noticeID)
	r, ok := e.runs[k]
	if !ok {
		if len(e.runs) >= maxRuns {
			clear(e.runs)
		}
		r = &run{}
		e.runs[k] = r
	}
	return r
}

// forget drops what this process remembers of a notice ("" for all of the
// withdrawal's notices).
func (e *Executor) forget(rw *v1.RegionWithdrawal, noticeID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k := range e.runs {
		if (noticeID == "" && strings.HasPrefix(k, string(rw.IdentityKey())+"/")) || k == runKey(rw, noticeID) {
			delete(e.runs, k)
		}
	}
}

func (e *Executor) notice(ctx context.Context, rw *v1.RegionWithdrawal, a planner.Action) (executor.Result, error) {
	log := ctrl.LoggerFrom(ctx).WithValues("notice", a.NoticeID())
	if rw.Spec.Notify == nil {
		return executor.Result{Done: true, Failed: true, Message: "spec.notify is not set: nothing to send"}, nil
	}
	noticeID := a.NoticeID()
	// A cancelled withdrawal stops its announcement and reminders where
	// they are; the cancellation notice is the only one still sent.
	stopping := rw.Spec.Cancel && a.Notice != v1.NoticeCancellation

	renderer, err := render.New(rw)
	if err != nil && !stopping {
		return executor.Result{}, err
	}
	if renderer != nil {
		renderer.Clock = e.o.Clock
		renderer.ForNotice(noticeID)
	}
	r := e.run(rw, noticeID)
	if r.state == nil {
		// Once per notice and process: the finished reminders before this
		// notice need their checkpoints no more.
		if n, err := e.store.CompactReminders(ctx, rw); err != nil {
			return executor.Result{}, err
		} else if n > 0 {
			log.V(1).Info("Deleted the checkpoints of finished reminders", "shards", n)
		}
		st, err := e.store.Load(ctx, rw, noticeID)
		if err != nil {
			return executor.Result{}, err
		}
		r.state = st
	}

	// Statements an earlier pass kept, because the ledger refused them,
	// go in before anything more is sent: a ledger that still refuses
	// holds the notice here, with what was delivered checkpointed.
	if err := e.o.Evidence.AppendSealed(ctx, rw); err != nil {
		return executor.Result{}, fmt.Errorf("recording the evidence of notice %s kept from an earlier batch: %w", noticeID, err)
	}

	p := &pass{ctx: ctx, e: e, rw: rw, a: a, st: r.state, renderer: renderer, stopping: stopping}
	if e.o.Evidence != nil {
		p.salt = e.o.Evidence.Salt(rw.IdentityKey())
	}
	if !stopping && e.o.Exports != nil {
		// Read once for the whole list, not once per recipient: with more
		// exports than status holds, this reads their ConfigMaps.
		if p.exports, err = e.o.Exports(ctx, rw); err != nil {
			return executor.Result{}, err
		}
	}
	if !stopping && Audience(rw, a) == v1.AudienceUnfetched {
		// Read once per call: a customer who fetches during the call is
		// left out from the next call on, unless already sent to.
		if p.fetched, err = e.o.Handoff.Fetches(ctx, rw); err != nil {
			return executor.Result{}, err
		}
	}
	if !ToldOnly(a) && !stopping {
		if r.told == nil {
			if r.told, _, err = e.store.Told(ctx, rw); err != nil {
				return executor.Result{}, err
			}
			if r.toldAhead, err = e.toldStore.Load(ctx, rw, toldAheadID(noticeID)); err != nil {
				return executor.Result{}, err
			}
		}
		p.known, p.toldAhead = r.told, r.toldAhead
	}
	if ToldOnly(a) {
		// Read once per call, like the fetches: the notices that tell
		// anyone have stopped or finished by now (the planner holds
		// these two while another notice is in flight).
		told, complete, err := e.store.Told(ctx, rw)
		if err != nil {
			return executor.Result{}, err
		}
		if complete {
			p.told = told
		} else {
			// Notices sent before an upgrade kept no told records: who
			// they reached is unknown, so everyone hears.
			log.Info("Some notices were sent by a release that kept no record of whom they reached; this notice goes to every recipient")
		}
	}
	if !stopping {
		lanes, closeLanes, err := e.o.Channels(ctx, rw, e.o.Reader, e.o.Clock)
		if err != nil {
			return executor.Result{}, err
		}
		defer closeLanes()
		p.lanes = lanes
		if !r.preflighted && r.state.empty() {
			// Before the first message of a notice goes out, render it for
			// every recipient: a template that fails for one fails the
			// notice before anyone got it, not halfway through.
			if _, err := e.recipients.Each(ctx, rw, p.preflight); err != nil {
				return executor.Result{}, err
			}
			r.preflighted = true
		}
	}

	if r.walker == nil {
		r.walker = &sources.Walker[objectTally]{Objects: e.recipients}
	}
	sum, err := r.walker.Walk(ctx, rw, p)
	if err == nil {
		err = p.flush(ctx)
	}
	if err != nil {
		// What was committed stays committed; the rest is sent again on
		// the next call, with the same keys.
		if p.newFailed > 0 {
			e.eventFailures(rw, p)
		}
		return executor.Result{}, err
	}

	res := p.result(sum)
	if !r.sourcesReported && len(sum.Failed) > 0 && e.o.Recorder != nil {
		e.o.Recorder.Eventf(rw, nil, "Warning", ReasonRecipientSourceFailed, "Notify", "%s: %s; the other sources' recipients are notified",
			a.ID, strings.Join(sum.Failed, "; "))
		r.sourcesReported = true
	}
	if !r.reported && (sum.ProblemCount > 0 || sum.DuplicateCount > 0) && e.o.Recorder != nil {
		e.o.Recorder.Eventf(rw, nil, "Warning", ReasonRecipientsSkipped, "Notify", "%s: %s", a.ID, problemSummary(sum))
		r.reported = true
	}
	if p.newFailed > 0 {
		e.eventFailures(rw, p)
	}
	if stopping {
		res.Done = true
		res.Message = fmt.Sprintf("stopped because the withdrawal is cancelled: %d of %d recipients had the %s", p.sent, p.total, strings.ToLower(string(a.Notice)))
		if e.o.Recorder != nil {
			e.o.Recorder.Eventf(rw, nil, "Normal", ReasonNoticeStopped, "Notify", "%s: %s", a.ID, res.Message)
		}
	}
	if res.Done {
		e.forget(rw, noticeID)
	}
	log.V(1).Info("notice pass", "recipients", p.total, "sent", p.sent, "failed", p.failedN, "pending", p.pending, "sentThisCall", p.sentNow)
	return res, nil
}

// ToldOnly says whether notice action a goes only to the recipients some
// earlier notice tried to reach: a Rescheduled notice corrects a date they
// were told, and a cancellation takes back what they were told. Anyone
// else was told nothing, and a notice about a change to it would only
// confuse them.
func ToldOnly(a planner.Action) bool {
	return a.Notice == v1.NoticeRescheduled || a.Notice == v1.NoticeCancellation
}

// Audience is who notice action a goes to.
func Audience(rw *v1.RegionWithdrawal, a planner.Action) v1.NoticeAudience {
	if a.Notice == v1.NoticeReminder && rw.Spec.Notify != nil && rw.Spec.Notify.Reminders != nil && rw.Spec.Notify.Reminders.Audience != "" {
		return rw.Spec.Notify.Reminders.Audience
	}
	return v1.AudienceAll
}

func (e *Executor) eventFailures(rw *v1.RegionWithdrawal, p *pass) {
	if e.o.Recorder == nil {
		return
	}
	e.o.Recorder.Eventf(rw, nil, "Warning", ReasonNoticeDeliveryFail, "Notify",
		"%s: %d recipients could not be sent to (first: %s); per-recipient reasons in ConfigMaps -l %s",
		p.a.ID, p.newFailed, p.firstFailure, RecordsSelector(rw, p.a.NoticeID()))
}

func problemSummary(sum *sources.Summary) string {
	var parts []string
	if sum.ProblemCount > 0 {
		parts = append(parts, fmt.Sprintf("%d malformed records skipped (first: %s)", sum.ProblemCount, sum.Problems[0]))
	}
	if sum.DuplicateCount > 0 {
		parts = append(parts, fmt.Sprintf("%d duplicate recipient ids notified once (first: %s)", sum.DuplicateCount, sum.Duplicates[0]))
	}
	return strings.Join(parts, "; ")
}
