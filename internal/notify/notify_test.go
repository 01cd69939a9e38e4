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

package notify_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/export"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/render"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/summarize"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

// The Pakistan timeline: cutoff 30 December 2026 00:00 PKT.
var (
	cutoff          = time.Date(2026, 12, 29, 19, 0, 0, 0, time.UTC)
	announcementDue = cutoff.Add(-30 * 24 * time.Hour)
	announcement    = planner.Action{ID: "notify/announcement", Kind: planner.ActionNotice, Step: v1.StepNotify,
		Notice: v1.NoticeAnnouncement, DueAt: announcementDue}
)

const signingKey = "whsec-test-signing-key"

var nsCounter atomic.Int32

type fixture struct {
	t   *testing.T
	ctx context.Context
	ns  string
	rw  *v1.RegionWithdrawal
}

// newFixture creates a namespace, the signing-key Secret, the SMTP
// credentials Secret and recipient ConfigMaps (one per csv).
func newFixture(t *testing.T, csvs ...string) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f := &fixture{t: t, ctx: ctx, ns: fmt.Sprintf("notify-test-%d", nsCounter.Add(1))}
	f.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns}})
	f.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "webhook-key", Namespace: f.ns},
		Data: map[string][]byte{"key": []byte(signingKey)}})
	for i, csv := range csvs {
		f.create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("recipients-%d", i), Namespace: f.ns},
			Data: map[string]string{"customers.csv": csv}})
	}
	return f
}

func (f *fixture) create(obj client.Object) {
	f.t.Helper()
	if err := env.Client.Create(f.ctx, obj); err != nil {
		f.t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// withdrawal creates the RegionWithdrawal with the notify step n.
func (f *fixture) withdrawal(n *v1.NotifyStep, sources int) *v1.RegionWithdrawal {
	f.t.Helper()
	n.Announce = v1.Moment{Offset: &metav1.Duration{Duration: -30 * 24 * time.Hour}}
	n.Final = v1.Moment{Offset: &metav1.Duration{Duration: -24 * time.Hour}}
	for i := range sources {
		n.Recipients.ConfigMaps = append(n.Recipients.ConfigMaps, v1.RecipientObjectRef{Name: fmt.Sprintf("recipients-%d", i), Format: v1.RecipientFormatCSV})
	}
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: f.ns},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Cutoff: metav1.NewTime(cutoff), TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"bes.example.com/region": "pk"}},
			Notify:   n,
		},
	}
	f.create(rw)
	f.rw = rw
	return rw
}

func webhookChannel(rcv *testsrv.Webhook, url string, limits v1.DeliveryLimits) *v1.WebhookChannel {
	return &v1.WebhookChannel{URL: url, SigningSecretRef: v1.SecretKeyReference{Name: "webhook-key", Key: "key"},
		CABundle: rcv.CAPEM(), Limits: limits}
}

// counts is a result's notice counts; zero when it has none.
func counts(r executor.Result) executor.NoticeCounts {
	if r.Detail.Notice == nil {
		return executor.NoticeCounts{}
	}
	return *r.Detail.Notice
}

func newExecutor(rec events.EventRecorder, batch int) *notify.Executor {
	return notify.New(executorOptions(rec, batch))
}

func executorOptions(rec events.EventRecorder, batch int) notify.Options {
	return notify.Options{Client: env.Client, Reader: env.Client, Clock: clock.RealClock{}, Egress: egress.Loopback(),
		Recorder: rec, BatchSize: batch, BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		InlineRetryMax: 2 * time.Second}
}

// evidenceKey signs the tests' evidence ledgers.
var evidenceKey = []byte("the notify tests' evidence key..")

// withEvidence is an executor that appends to an evidence ledger kept in
// the fixture's namespace, as a new process would: it knows only what the
// API server holds.
func (f *fixture) withEvidence(batch int) *notify.Executor {
	f.t.Helper()
	l, err := ledger.New(ledger.Options{Client: env.Client, Reader: env.Client, Namespace: f.ns, Key: evidenceKey})
	if err != nil {
		f.t.Fatal(err)
	}
	o := executorOptions(nil, batch)
	o.Evidence = l
	return notify.New(o)
}

// evidence exports the fixture's withdrawal's ledger and verifies it.
func (f *fixture) evidence() *evidence.Report {
	f.t.Helper()
	l, err := ledger.New(ledger.Options{Client: env.Client, Reader: env.Client, Namespace: f.ns, Key: evidenceKey})
	if err != nil {
		f.t.Fatal(err)
	}
	contents, err := ledger.Read(f.ctx, env.Client, f.ns, f.rw.UID)
	if err != nil {
		f.t.Fatal(err)
	}
	b, err := contents.Bundle(l.Salt(f.rw.IdentityKey()))
	if err != nil {
		f.t.Fatal(err)
	}
	r, err := evidence.Verify(b, evidence.VerifyOptions{Key: l.VerifierKey(), AllowOpen: true})
	if err != nil {
		f.t.Fatalf("the evidence does not verify: %v", err)
	}
	return r
}

// untilDone calls Execute as the controller would, until Done; it waits
// the requeue the executor asks for, as the controller would.
func untilDone(t *testing.T, ctx context.Context, e executor.Executor, rw *v1.RegionWithdrawal, a planner.Action) executor.Result {
	t.Helper()
	var last executor.Result
	for range 500 {
		res, err := e.Execute(ctx, rw, a)
		if err != nil {
			t.Fatalf("Execute: %v", err)
		}
		if res.Detail.Notice.Recipients != res.Detail.Notice.Sent+res.Detail.Notice.Failed && res.Done {
			t.Fatalf("done with %d recipients, %d sent, %d failed", res.Detail.Notice.Recipients, res.Detail.Notice.Sent, res.Detail.Notice.Failed)
		}
		if res.Done {
			return res
		}
		if now, before := counts(res), counts(last); now.Sent < before.Sent || now.Failed < before.Failed {
			t.Fatalf("counts went backwards: %+v after %+v", res, last)
		}
		last = res
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(res.RequeueAfter):
		}
	}
	t.Fatalf("not done after 500 calls: %+v", last)
	return last
}

const (
	urduSubject = `اطلاع: {{.Region}} میں سروس {{.Cutoff.Format "2006-01-02"}} کو بند ہو جائے گی`
	urduText    = `محترم {{.Recipient.Name}}،
سروس {{.Cutoff.Format "15:04 MST"}} ({{.CutoffUTC.Format "15:04"}} UTC) پر بند ہو جائے گی۔ {{.DaysLeft}} دن باقی ہیں۔ منصوبہ: {{.Recipient.Fields.plan}}
`
	urduHTML = `<p>محترم {{.Recipient.Name}}</p><p>{{.DaysLeft}} دن باقی ہیں</p>`
)

// TestEveryRecipientGetsTheNotice sends one notice by webhook and SMTP to
// receivers that fail in every way the issue lists, and checks that every
// recipient has the notice or a recorded failure with its reason.
func TestEveryRecipientGetsTheNotice(t *testing.T) {
	rcv := testsrv.NewWebhook([]byte(signingKey))
	defer rcv.Close()
	rcv.Record = true
	rcv.Fail = func(id string, attempt int, w http.ResponseWriter, r *http.Request) bool {
		switch {
		case id == "w-500" && attempt <= 2:
			http.Error(w, "internal error", http.StatusInternalServerError)
		case id == "w-429" && attempt == 1:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "slow down", http.StatusTooManyRequests)
		case id == "w-timeout" && attempt == 1:
			<-r.Context().Done()
		case id == "w-drop" && attempt == 1:
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		case id == "w-400":
			http.Error(w, "unknown customer", http.StatusBadRequest)
		case id == "w-503":
			http.Error(w, "down", http.StatusServiceUnavailable)
		default:
			return false
		}
		return true
	}
	srv, err := testsrv.NewSMTP(true)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.Rcpt = func(to string, attempt int) error {
		switch {
		case to == "e-451@example.com" && attempt == 1:
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted"}
		case to == "e-550@example.com":
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	}

	hook := rcv.Server.URL + "/hooks/"
	var b strings.Builder
	b.WriteString("id,name,email,webhook,timezone,plan\n")
	wantWebhook, wantEmail := map[string]bool{}, map[string]bool{}
	for i := range 40 {
		id := fmt.Sprintf("w-%02d", i)
		fmt.Fprintf(&b, "%s,گاہک %d,,%s%s,,gold\n", id, i, hook, id)
		wantWebhook[id] = true
	}
	for i := range 20 {
		id := fmt.Sprintf("e-%02d", i)
		fmt.Fprintf(&b, "%s,عائشہ %d,%s@example.com,,,silver\n", id, i, id)
		wantEmail[id] = true
	}
	for i := range 10 {
		id := fmt.Sprintf("both-%02d", i)
		fmt.Fprintf(&b, "%s,Both %d,%s@example.com,%s%s,,\n", id, i, id, hook, id)
		wantWebhook[id], wantEmail[id] = true, true
	}
	for _, id := range []string{"w-500", "w-429", "w-timeout", "w-drop", "w-400", "w-503"} {
		fmt.Fprintf(&b, "%s,%s,,%s%s,,\n", id, id, hook, id)
		wantWebhook[id] = true
	}
	fmt.Fprintf(&b, "w-nyc,New York,,%sw-nyc,America/New_York,\n", hook)
	wantWebhook["w-nyc"] = true
	for _, id := range []string{"e-451", "e-550"} {
		fmt.Fprintf(&b, "%s,%s,%s@example.com,,,\n", id, id, id)
		wantEmail[id] = true
	}
	b.WriteString("bad-row,No Channel,not-an-address,,,\n") // malformed: reported, skipped
	b.WriteString("w-00,Duplicate,,https://127.0.0.1:1/dup,,\n")

	f := newFixture(t, b.String())
	f.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "smtp", Namespace: f.ns},
		Data: map[string][]byte{"username": []byte(srv.Username), "password": []byte(srv.Password)}})
	limits := v1.DeliveryLimits{RatePerSecond: 1000, Concurrency: 8, MaxAttempts: 3, Timeout: &metav1.Duration{Duration: 300 * time.Millisecond}}
	rw := f.withdrawal(&v1.NotifyStep{
		Webhook: webhookChannel(rcv, "", limits),
		Email: &v1.EmailChannel{Host: "127.0.0.1", Port: int32(srv.Addr.Port), Security: v1.SMTPStartTLS,
			From: "Service Notices <notices@example.com>", CredentialsSecretRef: &v1.LocalObjectReference{Name: "smtp"},
			CABundle: srv.CertPEM, Limits: limits},
		Templates: &v1.NoticeTemplates{Announcement: &v1.NoticeTemplate{Subject: urduSubject, Text: urduText, HTML: urduHTML}},
	}, 1)

	rec := events.NewFakeRecorder(100)
	res := untilDone(t, f.ctx, newExecutor(rec, 16), rw, announcement)

	total := len(unionKeys(wantWebhook, wantEmail))
	failed := []string{"w-400", "w-503", "e-550"}
	if res.Detail.Notice.Recipients != int64(total) || res.Detail.Notice.Failed != int64(len(failed)) || res.Detail.Notice.Sent != int64(total-len(failed)) {
		t.Fatalf("result %d recipients, %d sent, %d failed; want %d, %d, %d (%s)", res.Detail.Notice.Recipients, res.Detail.Notice.Sent, res.Detail.Notice.Failed,
			total, total-len(failed), len(failed), res.Message)
	}
	if !strings.Contains(res.Message, "malformed") || !strings.Contains(res.Message, "duplicate") {
		t.Errorf("message %q does not report the malformed row and the duplicate id", res.Message)
	}

	// Webhooks: every recipient but the refused ones, signed, one key each.
	keys := rcv.Keys()
	for id := range wantWebhook {
		if id == "w-400" || id == "w-503" {
			if len(keys[id]) != 0 {
				t.Errorf("%s was refused, yet has deliveries", id)
			}
			continue
		}
		want := notify.IdempotencyKey(string(rw.IdentityKey()), "announcement", id)
		if len(keys[id]) != 1 || keys[id][want] == 0 {
			t.Errorf("%s: keys %v, want only %s", id, keys[id], want)
		}
	}
	if _, bad := rcv.Totals(); bad != 0 {
		t.Errorf("%d deliveries had a signature that does not verify", bad)
	}
	if n := rcv.Attempts("w-500"); n != 3 {
		t.Errorf("w-500 took %d attempts, want 3 (two 500s, then success)", n)
	}
	if n := rcv.Attempts("w-503"); n != 3 {
		t.Errorf("w-503 took %d attempts, want maxAttempts = 3", n)
	}
	if n := rcv.Attempts("w-400"); n != 1 {
		t.Errorf("w-400 took %d attempts, want 1: a 400 is not retried", n)
	}
	d := rcv.Deliveries("w-nyc")
	if len(d) == 0 || !strings.Contains(d[0].Body.Text, "14:00 EST") || !strings.Contains(d[0].Body.Text, "19:00") {
		t.Errorf("w-nyc text %+v does not show the cutoff in New York time and UTC", d)
	}
	d = rcv.Deliveries("w-01")
	if len(d) == 0 || !strings.Contains(d[0].Body.Text, "00:00 PKT") || !strings.Contains(d[0].Body.Text, "30 دن باقی") ||
		!strings.Contains(d[0].Body.Text, "گاہک 1") || !strings.Contains(d[0].Body.Text, "gold") {
		t.Errorf("w-01 text %+v lacks the cutoff in PKT, the days left, the Urdu name or the plan", d)
	}

	// Email: every recipient but the 550 one, well-formed, Urdu intact.
	got := map[string]int{}
	for _, m := range srv.Mails() {
		id := strings.TrimSuffix(m.To, "@example.com")
		got[id]++
		checkMail(t, m.Data, notify.IdempotencyKey(string(rw.IdentityKey()), "announcement", id))
	}
	for id := range wantEmail {
		if id == "e-550" {
			if got[id] != 0 {
				t.Errorf("e-550 was refused, yet has a message")
			}
			continue
		}
		if got[id] != 1 {
			t.Errorf("%s has %d messages, want 1", id, got[id])
		}
	}

	// The failures are recorded per recipient, with their reasons, in
	// ConfigMaps kept under the withdrawal's identity, which no object
	// owns (they outlive one deleted mid-withdrawal: keep.go).
	var cms corev1.ConfigMapList
	if err := env.Client.List(f.ctx, &cms, client.InNamespace(f.ns), client.MatchingLabels{executor.LabelWithdrawalUID: string(rw.IdentityKey())}); err != nil {
		t.Fatal(err)
	}
	var failures string
	for _, cm := range cms.Items {
		failures += cm.Data[notify.KeyFailed]
		if len(cm.OwnerReferences) != 0 {
			t.Errorf("checkpoint %s is owned: %v", cm.Name, cm.OwnerReferences)
		}
	}
	for _, want := range []string{`"id":"w-400"`, "400 Bad Request", `"id":"w-503"`, "gave up after 3 attempts", `"id":"e-550"`, "550"} {
		if !strings.Contains(failures, want) {
			t.Errorf("the failure records lack %q:\n%s", want, failures)
		}
	}
	if strings.Contains(failures, srv.Password) || strings.Contains(failures, signingKey) {
		t.Error("a failure record shows a credential")
	}
	close(rec.Events)
	var evs []string
	for e := range rec.Events {
		evs = append(evs, e)
	}
	if joined := strings.Join(evs, "\n"); !strings.Contains(joined, notify.ReasonNoticeDeliveryFail) || !strings.Contains(joined, notify.ReasonRecipientsSkipped) {
		t.Errorf("events %q lack %s and %s", joined, notify.ReasonNoticeDeliveryFail, notify.ReasonRecipientsSkipped)
	}
}

func unionKeys(a, b map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func checkMail(t *testing.T, data []byte, key string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("a message does not parse: %v", err)
	}
	if got := msg.Header.Get("Message-ID"); got != "<"+key+"@withdrawal.ops.dev>" {
		t.Errorf("Message-ID %q, want <%s@withdrawal.ops.dev>", got, key)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || !strings.HasPrefix(subject, "اطلاع: PK میں سروس 2026-12-30") {
		t.Errorf("Subject %q (%v)", subject, err)
	}
	parts := mailParts(t, msg)
	for ctype, body := range parts {
		if !strings.Contains(body, "محترم") || !strings.Contains(body, "دن باقی ہیں") {
			t.Errorf("part %s lost its Urdu text: %q", ctype, body)
		}
	}
	if len(parts) != 2 {
		t.Errorf("%d parts, want text and HTML", len(parts))
	}
}

// mailParts decodes the parts of a multipart message, by media type.
func mailParts(t *testing.T, msg *mail.Message) map[string]string {
	t.Helper()
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	out := map[string]string{}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p)
		mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		out[mt] = string(body)
	}
}

// TestCrashesResendOnlyTheInFlightBatch stops the executor at random points
// of a 10,000-recipient notice, starts a new one each time, and checks that
// every recipient has the notice and that duplicates carry the same key.
func TestCrashesResendOnlyTheInFlightBatch(t *testing.T) {
	const (
		recipients = 10000
		batch      = 500
		crashes    = 4
	)
	rcv := testsrv.NewWebhook([]byte(signingKey))
	defer rcv.Close()
	var csvs []string
	for part := range 2 {
		var b strings.Builder
		b.WriteString("id,name,email\n")
		for i := part * recipients / 2; i < (part+1)*recipients/2; i++ {
			fmt.Fprintf(&b, "c%05d,Customer %d,c%05d@example.com\n", i, i, i)
		}
		csvs = append(csvs, b.String())
	}
	f := newFixture(t, csvs...)
	// Email is not configured: every recipient goes to the channel's URL.
	rw := f.withdrawal(&v1.NotifyStep{Webhook: webhookChannel(rcv, rcv.Server.URL+"/notices",
		v1.DeliveryLimits{RatePerSecond: 100000, Concurrency: 32, MaxAttempts: 3})}, 2)

	rng := rand.New(rand.NewPCG(1, 2))
	var crashAt atomic.Int64
	for i := range crashes {
		// Crash somewhere within the next two batches' worth of deliveries.
		total, _ := rcv.Totals()
		crashAt.Store(int64(total) + 1 + rng.Int64N(2*batch))
		ctx, crash := context.WithCancel(f.ctx)
		rcv.OnDelivery = func(n int) {
			if int64(n) >= crashAt.Load() {
				crash()
			}
		}
		e := f.withEvidence(batch) // a new process: it knows only what the API server holds
		for range 100 {
			if _, err := e.Execute(ctx, rw, announcement); err != nil {
				break
			}
		}
		if ctx.Err() == nil {
			t.Fatalf("crash %d never happened", i+1)
		}
		crash()
	}
	rcv.OnDelivery = nil
	res := untilDone(t, f.ctx, f.withEvidence(batch), rw, announcement)
	if res.Detail.Notice.Sent != recipients || res.Detail.Notice.Failed != 0 {
		t.Fatalf("after the crashes: %s", res.Message)
	}
	keys := rcv.Keys()
	dups := 0
	for i := range recipients {
		id := fmt.Sprintf("c%05d", i)
		want := notify.IdempotencyKey(string(rw.IdentityKey()), "announcement", id)
		if len(keys[id]) != 1 || keys[id][want] == 0 {
			t.Fatalf("%s: keys %v, want only %s", id, keys[id], want)
		}
		dups += keys[id][want] - 1
	}
	if dups > crashes*batch {
		t.Fatalf("%d duplicate deliveries after %d crashes, want at most one batch (%d) per crash", dups, crashes, batch)
	}
	t.Logf("%d duplicates after %d crashes (batch %d)", dups, crashes, batch)

	// The evidence ledger holds one statement per recipient, whatever the
	// crashes resent, each with the key the receiver got and its answer.
	r := f.evidence()
	byKey := map[string]int{}
	for _, e := range r.Entries {
		d, ok := e.Event.(*evidence.NoticeDelivered)
		if !ok {
			t.Fatalf("statement %d is a %s, want only deliveries", e.Index, e.Statement.Kind())
		}
		if d.Webhook == nil || d.Webhook.Status != 204 {
			t.Errorf("statement %d: receipt %+v, want the receiver's 204", e.Index, d.Webhook)
		}
		byKey[d.IdempotencyKey]++
	}
	if r.Statements != recipients {
		t.Fatalf("%d statements for %d recipients, want one each", r.Statements, recipients)
	}
	for i := range recipients {
		id := fmt.Sprintf("c%05d", i)
		if k := notify.IdempotencyKey(string(rw.IdentityKey()), "announcement", id); byKey[k] != 1 {
			t.Fatalf("%s: %d statements under its key", id, byKey[k])
		}
	}
	if told, _ := r.ToldBefore("c04242", r.Salt, time.Now()); !told {
		t.Errorf("the ledger does not say c04242 was told")
	}

	// The status stays small: the per-recipient records are in a few shards.
	var cms corev1.ConfigMapList
	if err := env.Client.List(f.ctx, &cms, client.InNamespace(f.ns), client.MatchingLabels{notify.LabelNotice: "announcement"}); err != nil {
		t.Fatal(err)
	}
	if len(cms.Items) == 0 || len(cms.Items) > 3 {
		t.Fatalf("%d checkpoint shards for %d recipients", len(cms.Items), recipients)
	}
}

func TestTemplateErrorsStopBeforeAnythingIsSent(t *testing.T) {
	tests := []struct {
		name string
		tmpl v1.NoticeTemplate
	}{
		{name: "does not parse", tmpl: v1.NoticeTemplate{Subject: "s", Text: "{{.Region"}},
		{name: "does not render", tmpl: v1.NoticeTemplate{Subject: "s", Text: "{{.NoSuchField}}"}},
		{name: "html does not parse", tmpl: v1.NoticeTemplate{Subject: "s", Text: "t", HTML: "{{if}}"}},
		{name: "subject renders empty", tmpl: v1.NoticeTemplate{Subject: "{{.ExportLocation}}", Text: "t"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := testsrv.NewWebhook([]byte(signingKey))
			defer rcv.Close()
			f := newFixture(t, "id,name,webhook\nc1,A,"+rcv.Server.URL+"\n")
			rw := f.withdrawal(&v1.NotifyStep{Webhook: webhookChannel(rcv, "", v1.DeliveryLimits{}),
				Templates: &v1.NoticeTemplates{Announcement: &tt.tmpl}}, 1)
			_, err := newExecutor(nil, 10).Execute(f.ctx, rw, announcement)
			if !errors.Is(err, render.ErrTemplate) {
				t.Fatalf("Execute = %v, want render.ErrTemplate", err)
			}
			if total, _ := rcv.Totals(); total != 0 || rcv.Attempts("c1") != 0 {
				t.Fatal("a notice went out despite the broken template")
			}
		})
	}
}

func TestCancelStopsTheNoticeAndReportsWhatWasSent(t *testing.T) {
	rcv := testsrv.NewWebhook([]byte(signingKey))
	defer rcv.Close()
	var b strings.Builder
	b.WriteString("id,name\n")
	for i := range 50 {
		fmt.Fprintf(&b, "c%d,C\n", i)
	}
	f := newFixture(t, b.String())
	rw := f.withdrawal(&v1.NotifyStep{Webhook: webhookChannel(rcv, rcv.Server.URL, v1.DeliveryLimits{RatePerSecond: 1000})}, 1)
	e := newExecutor(nil, 10)
	res := untilDone(t, f.ctx, e, rw, announcement)
	if res.Detail.Notice.Sent != 50 {
		t.Fatalf("announcement: %s", res.Message)
	}
	rw.Status.Notify = &v1.NotifyStatus{Notices: []v1.NoticeStatus{{ID: "announcement", Kind: v1.NoticeAnnouncement, Sent: res.Detail.Notice.Sent}}}

	rw.Spec.Cancel = true
	reminder := planner.Action{ID: "notify/" + planner.ReminderID(announcementDue.Add(7*24*time.Hour)), Kind: planner.ActionNotice,
		Step: v1.StepNotify, Notice: v1.NoticeReminder, DueAt: announcementDue.Add(7 * 24 * time.Hour)}
	before, _ := rcv.Totals()
	res, err := e.Execute(f.ctx, rw, reminder)
	if err != nil || !res.Done || res.Detail.Notice.Sent != 0 {
		t.Fatalf("a reminder of a cancelled withdrawal: %+v, %v; want done with nothing sent", res, err)
	}
	rev, err := e.Execute(f.ctx, rw, planner.Action{ID: "revert/notify", Kind: planner.ActionRevert, Step: v1.StepNotify})
	if err != nil || !rev.Done || len(rev.Irreversible) != 1 || rev.Irreversible[0] != "1 notices already delivered to 50 recipients" {
		t.Fatalf("revert: %+v, %v", rev, err)
	}
	cancellation := planner.Action{ID: "notify/cancellation", Kind: planner.ActionNotice, Step: v1.StepNotify, Notice: v1.NoticeCancellation, DueAt: announcementDue.Add(time.Hour)}
	res = untilDone(t, f.ctx, e, rw, cancellation)
	after, _ := rcv.Totals()
	if res.Detail.Notice.Sent != 50 || after-before != 50 {
		t.Fatalf("cancellation sent to %d (%d deliveries), want 50", res.Detail.Notice.Sent, after-before)
	}
}

// TestRetryAfterIsCapped: a receiver that asks to be retried in a day
// cannot hold its notice for a day; the wait is capped at the backoff
// maximum, so the retry comes within the same call.
func TestRetryAfterIsCapped(t *testing.T) {
	rcv := testsrv.NewWebhook([]byte(signingKey))
	defer rcv.Close()
	rcv.Fail = func(id string, attempt int, w http.ResponseWriter, r *http.Request) bool {
		if attempt == 1 {
			w.Header().Set("Retry-After", "86400")
			http.Error(w, "come back tomorrow", http.StatusTooManyRequests)
			return true
		}
		return false
	}
	f := newFixture(t, "id,name,email,webhook\nc1,Ayesha,,"+rcv.Server.URL+"/hooks/c1\n")
	limits := v1.DeliveryLimits{RatePerSecond: 100, Concurrency: 1, MaxAttempts: 3, Timeout: &metav1.Duration{Duration: time.Second}}
	rw := f.withdrawal(&v1.NotifyStep{Webhook: webhookChannel(rcv, "", limits)}, 1)
	ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
	defer cancel()
	res, err := newExecutor(nil, 16).Execute(ctx, rw, announcement)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Done || counts(res).Sent != 1 || res.RequeueAfter > time.Minute {
		t.Fatalf("result %+v: the notice waits on the receiver's Retry-After instead of the capped backoff", res)
	}
}

// TestFinishedRemindersCheckpointsAreCompacted: a month of hourly
// reminders would leave 720 notices' per-recipient records behind; the
// records of finished reminders go, the others stay.
func TestFinishedRemindersCheckpointsAreCompacted(t *testing.T) {
	f := newFixture(t)
	rw := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "pakistan", UID: "uid-compact"}}
	done := metav1.NewTime(announcementDue)
	rw.Status.Notify = &v1.NotifyStatus{Notices: []v1.NoticeStatus{
		{ID: "announcement", Kind: v1.NoticeAnnouncement, StartedAt: &done, FinishedAt: &done},
		{ID: "reminder-20261207t0400z", Kind: v1.NoticeReminder, StartedAt: &done, FinishedAt: &done},
		{ID: "reminder-20261214t0400z", Kind: v1.NoticeReminder, StartedAt: &done},
	}}
	for _, id := range []string{"announcement", "reminder-20261130t0400z", "reminder-20261207t0400z", "reminder-20261214t0400z"} {
		for shard := range 2 {
			f.create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: fmt.Sprintf("%s-%d", id, shard),
				Labels: map[string]string{executor.LabelWithdrawalUID: string(rw.IdentityKey()), notify.LabelNotice: id, notify.LabelShard: fmt.Sprint(shard)}}})
		}
	}
	store := &notify.Store{Client: env.Client, Reader: env.Client}
	n, err := store.CompactReminders(f.ctx, rw)
	if err != nil || n != 4 {
		t.Fatalf("CompactReminders = %d, %v; want the 4 shards of the two finished reminders", n, err)
	}
	var left corev1.ConfigMapList
	if err := env.Client.List(f.ctx, &left, client.InNamespace(f.ns), client.HasLabels{notify.LabelNotice}); err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, cm := range left.Items {
		kept = append(kept, cm.Labels[notify.LabelNotice])
	}
	slices.Sort(kept)
	if want := []string{"announcement", "announcement", "reminder-20261214t0400z", "reminder-20261214t0400z"}; !slices.Equal(kept, want) {
		t.Fatalf("kept %v, want %v: the announcement and the reminder in flight", kept, want)
	}
}

// TestEachRecipientInTheirLanguage sends the announcement to a real
// webhook receiver and a real SMTP server: Urdu customers get the Urdu
// templates with the HTML marked right to left and the language on the
// wire; the others get English, dated their English's way.
func TestEachRecipientInTheirLanguage(t *testing.T) {
	rcv := testsrv.NewWebhook([]byte(signingKey))
	defer rcv.Close()
	rcv.Record = true
	srv, err := testsrv.NewSMTP(true)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	hook := rcv.Server.URL + "/hooks/"
	csv := "id,name,email,webhook,locale\n" +
		"w-ur,کراچی ٹیکسٹائل,," + hook + "w-ur,ur-PK\n" +
		"w-en,Indus Logistics,," + hook + "w-en,\n" +
		"e-ur,لاہور ہیلتھ,e-ur@example.com,,ur\n" +
		"e-gb,Quetta Mining,e-gb@example.com,,en-GB\n"
	f := newFixture(t, csv)
	f.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "smtp", Namespace: f.ns},
		Data: map[string][]byte{"username": []byte(srv.Username), "password": []byte(srv.Password)}})
	limits := v1.DeliveryLimits{RatePerSecond: 1000, Concurrency: 4, MaxAttempts: 2}
	rw := f.withdrawal(&v1.NotifyStep{
		Webhook: webhookChannel(rcv, "", limits),
		Email: &v1.EmailChannel{Host: "127.0.0.1", Port: int32(srv.Addr.Port), Security: v1.SMTPStartTLS,
			From: "Service Notices <notices@example.com>", CredentialsSecretRef: &v1.LocalObjectReference{Name: "smtp"},
			CABundle: srv.CertPEM, Limits: limits},
		Locales: []v1.LocaleTemplates{{Locale: "ur", NoticeTemplates: v1.NoticeTemplates{Announcement: &v1.NoticeTemplate{
			Subject: "پاکستان میں سروس {{.CutoffDate}} کو بند ہو جائے گی",
			Text:    "محترم {{.Recipient.Name}}، {{.DaysLeftNumber}} دن باقی ہیں۔",
			HTML:    "<p>محترم {{.Recipient.Name}}</p>",
		}}}},
	}, 1)
	res := untilDone(t, f.ctx, newExecutor(events.NewFakeRecorder(100), 16), rw, announcement)
	if c := counts(res); c.Sent != 4 || c.Failed != 0 {
		t.Fatalf("sent %d, failed %d; want 4 and 0 (%s)", c.Sent, c.Failed, res.Message)
	}

	for id, want := range map[string]struct{ lang, subject, html string }{
		"w-ur": {"ur-PK", "پاکستان میں سروس 30 دسمبر، 2026 کو بند ہو جائے گی", `<div lang="ur-PK" dir="rtl"><p>محترم کراچی ٹیکسٹائل</p></div>`},
		"w-en": {"en", "Service in PK ends on 30 December 2026", `<div lang="en" dir="ltr"><p>Dear Indus Logistics,</p>`},
	} {
		d := rcv.Deliveries(id)
		if len(d) != 1 {
			t.Fatalf("%s: %d deliveries, want 1", id, len(d))
		}
		if b := d[0].Body; b.Lang != want.lang || b.Subject != want.subject || !strings.HasPrefix(b.HTML, want.html) {
			t.Errorf("%s got lang %q, subject %q, HTML %q; want %q, %q, HTML starting %q", id, b.Lang, b.Subject, b.HTML, want.lang, want.subject, want.html)
		}
	}

	mails := map[string][]byte{}
	for _, m := range srv.Mails() {
		mails[m.To] = m.Data
	}
	for to, want := range map[string]struct{ lang, html string }{
		"e-ur@example.com": {"ur", `<div lang="ur" dir="rtl"><p>محترم لاہور ہیلتھ</p></div>`},
		// en-GB has no templates of its own: English, marked en-GB.
		"e-gb@example.com": {"en-GB", `<div lang="en-GB" dir="ltr">`},
	} {
		msg, err := mail.ReadMessage(bytes.NewReader(mails[to]))
		if err != nil {
			t.Fatalf("%s: %v", to, err)
		}
		if got := msg.Header.Get("Content-Language"); got != want.lang {
			t.Errorf("%s: Content-Language %q, want %q", to, got, want.lang)
		}
		if html := mailParts(t, msg)["text/html"]; !strings.HasPrefix(html, want.html) {
			t.Errorf("%s: HTML %q, want it to start %q", to, html, want.html)
		}
	}
}

// TestEveryCustomerGetsTheirOwnExport: 120 customers, each with their own
// verified export, more than status lists (the rest are in the export
// step's ConfigMaps). Every notice carries its customer's own location,
// size and SHA-256; a customer without an export is told one is coming.
func TestEveryCustomerGetsTheirOwnExport(t *testing.T) {
	rcv := testsrv.NewWebhook([]byte(signingKey))
	defer rcv.Close()
	rcv.Record = true
	const n = 120
	hook := rcv.Server.URL + "/hooks/"
	var csv strings.Builder
	csv.WriteString("id,name,webhook\n")
	for i := range n + 1 {
		fmt.Fprintf(&csv, "c-%03d,Customer %d,%sc-%03d\n", i, i, hook, i)
	}
	f := newFixture(t, csv.String())
	rw := f.withdrawal(&v1.NotifyStep{Webhook: webhookChannel(rcv, "", v1.DeliveryLimits{RatePerSecond: 1000, Concurrency: 8, MaxAttempts: 2})}, 1)

	// The export step's record, as it leaves it for 120 artifacts: the
	// first 50 in status, all in a ConfigMap it owns. c-120 has none.
	artifact := func(i int) v1.ExportArtifact {
		return v1.ExportArtifact{Target: fmt.Sprintf("Namespace/c-%03d", i), Location: fmt.Sprintf("https://exports.example/pk/c-%03d.tar.gz.age", i),
			Bytes: int64(3 << 20), SHA256: fmt.Sprintf("%064x", i), Recipient: fmt.Sprintf("c-%03d", i), Encrypted: true}
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: export.ArtifactConfigMapName(rw, '0'), Namespace: f.ns,
		Labels: map[string]string{executor.LabelWithdrawalUID: string(rw.UID)}}, Data: map[string]string{}}
	st := &v1.ExportStatus{Verified: n, ArtifactConfigMaps: []string{cm.Name}, ArtifactsInConfigMaps: n}
	for i := range n {
		b, err := json.Marshal(artifact(i))
		if err != nil {
			t.Fatal(err)
		}
		cm.Data[fmt.Sprintf("k%03d", i)] = string(b)
		if i < export.MaxStatusArtifacts {
			st.Artifacts = append(st.Artifacts, artifact(i))
		}
	}
	f.create(cm)
	rw.Status.Steps = []v1.StepStatus{{Name: v1.StepExport, State: v1.StepSucceeded, Export: st}}
	if err := env.Client.Status().Update(f.ctx, rw); err != nil {
		t.Fatal(err)
	}

	e := notify.New(notify.Options{Client: env.Client, Reader: env.Client, Clock: clock.RealClock{}, Egress: egress.Loopback(),
		Recorder: events.NewFakeRecorder(100), BatchSize: 50,
		Exports: func(ctx context.Context, rw *v1.RegionWithdrawal) (map[string]v1.ExportArtifact, error) {
			return export.Artifacts(ctx, env.Client, rw)
		}})
	if c := counts(untilDone(t, f.ctx, e, rw, announcement)); c.Sent != n+1 {
		t.Fatalf("sent %d, want %d", c.Sent, n+1)
	}
	for i := range n + 1 {
		id := fmt.Sprintf("c-%03d", i)
		d := rcv.Deliveries(id)
		if len(d) != 1 {
			t.Fatalf("%s: %d deliveries, want 1", id, len(d))
		}
		want := fmt.Sprintf("ready for export at https://exports.example/pk/%s.tar.gz.age (3.0 MiB; SHA-256 %064x)", id, i)
		if i == n {
			want = "We will tell you where to collect an export of your data before then."
		}
		if !strings.Contains(d[0].Body.Text, want) {
			t.Errorf("%s's notice lacks %q:\n%s", id, want, d[0].Body.Text)
		}
	}
}

// TestAHandoffLinkOpensInTheNoticesLanguage: the personal link in a
// customer's notice names their locale, as the notice is written for it,
// so that the page it opens is in their language; a customer without a
// locale gets the bare link, whose page follows their browser.
func TestAHandoffLinkOpensInTheNoticesLanguage(t *testing.T) {
	rcv := testsrv.NewWebhook([]byte(signingKey))
	defer rcv.Close()
	rcv.Record = true
	hook := rcv.Server.URL + "/hooks/"
	f := newFixture(t, "id,name,webhook,locale\n"+
		"c-ur,U,"+hook+"c-ur,ur_PK\nc-en,E,"+hook+"c-en,en\nc-none,N,"+hook+"c-none,\n")
	rw := f.withdrawal(&v1.NotifyStep{Webhook: webhookChannel(rcv, "", v1.DeliveryLimits{RatePerSecond: 1000, Concurrency: 4, MaxAttempts: 2})}, 1)
	// The links are the endpoint's: a withdrawal that asks for them, as
	// the notify step reads it.
	rw.Spec.Export = &v1.ExportStep{Handoff: &v1.ExportHandoff{}}
	arts := map[string]v1.ExportArtifact{}
	for _, id := range []string{"c-ur", "c-en", "c-none"} {
		arts[id] = v1.ExportArtifact{Target: "Namespace/" + id, Location: "https://exports.example/pk/" + id + ".tar.gz.age",
			Bytes: 1 << 20, SHA256: strings.Repeat("ab", 32), Recipient: id, Encrypted: true}
	}
	links := handoff.Links{BaseURL: "https://handoff.example", Key: handoff.Key(bytes.Repeat([]byte{7}, 32))}
	e := notify.New(notify.Options{Client: env.Client, Reader: env.Client, Clock: clock.RealClock{}, Egress: egress.Loopback(),
		Recorder: events.NewFakeRecorder(100), Handoff: &handoff.Service{Links: links},
		Exports: func(context.Context, *v1.RegionWithdrawal) (map[string]v1.ExportArtifact, error) { return arts, nil }})
	if c := counts(untilDone(t, f.ctx, e, rw, announcement)); c.Sent != 3 {
		t.Fatalf("sent %d, want 3", c.Sent)
	}
	for id, query := range map[string]string{"c-ur": "?lang=ur-PK", "c-en": "?lang=en", "c-none": ""} {
		link, _ := links.Link(rw, id)
		d := rcv.Deliveries(id)
		if want := "ready for export at " + link + query + " ("; len(d) != 1 || !strings.Contains(d[0].Body.Text, want) {
			t.Errorf("%s's notice lacks %q: %+v", id, want, d)
		}
	}
}

// TestASourceRefusedForGoodFailsAloneAndTheOthersAreNotified gives a
// notice a ConfigMap of recipients and a paged HTTP source whose first
// page redirects to another origin, which the egress policy refuses
// whatever the retry. The ConfigMap's recipients get the notice; the
// notice finishes instead of refetching the source for ever, saying which
// source was not read, in its message, its counts and an Event; and the
// notify step ends Failed saying so once its last notice is sent.
func TestASourceRefusedForGoodFailsAloneAndTheOthersAreNotified(t *testing.T) {
	rcv := testsrv.NewWebhook([]byte(signingKey))
	defer rcv.Close()
	var elsewhere atomic.Int32
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		fmt.Fprintln(w, `{"id":"x","webhook":"`+rcv.Server.URL+`"}`)
	}))
	defer other.Close()
	source := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/customers", http.StatusFound)
	}))
	defer source.Close()
	ca := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: source.Certificate().Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Certificate().Raw})...)

	f := newFixture(t, "id,name,webhook\nc1,A,"+rcv.Server.URL+"\nc2,B,"+rcv.Server.URL+"\n")
	rw := f.withdrawal(&v1.NotifyStep{Webhook: webhookChannel(rcv, "", v1.DeliveryLimits{}),
		Recipients: v1.RecipientSources{HTTP: &v1.HTTPRecipientSource{URL: source.URL + "/customers?token=secret", CABundle: ca}}}, 1)
	rec := events.NewFakeRecorder(100)
	res := untilDone(t, f.ctx, newExecutor(rec, 10), rw, announcement)

	for _, id := range []string{"c1", "c2"} {
		if rcv.Attempts(id) == 0 {
			t.Errorf("%s, of the ConfigMap, did not get the notice", id)
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the other origin was asked %d times", n)
	}
	c := counts(res)
	if c.Sent != 2 || len(c.FailedSources) != 1 || !strings.Contains(c.FailedSources[0], "origin") || strings.Contains(c.FailedSources[0], "secret") {
		t.Fatalf("counts %+v: want 2 sent and the http source failed for its origin, its query left out", c)
	}
	if !strings.Contains(res.Message, "not notified") {
		t.Errorf("the message does not say the source's recipients are not notified: %s", res.Message)
	}
	close(rec.Events)
	var found bool
	for e := range rec.Events {
		found = found || strings.Contains(e, notify.ReasonRecipientSourceFailed)
	}
	if !found {
		t.Error("no RecipientSourceFailed Event")
	}

	// What the controller records of it: the step ends Failed with the
	// final notice.
	st := &v1.RegionWithdrawalStatus{}
	planner.RecordStarted(st, announcement, announcementDue, false)
	summarize.Record(st, announcement, res, announcementDue)
	final := planner.NoticeAction(v1.NoticeFinal, planner.NoticeIDFinal, cutoff.Add(-24*time.Hour))
	planner.RecordStarted(st, final, final.DueAt, false)
	summarize.Record(st, final, executor.Result{Done: true, Detail: executor.Detail{Notice: &executor.NoticeCounts{Recipients: 2, Sent: 2}}}, final.DueAt)
	if s := planner.LookupStep(st, v1.StepNotify); s.State != v1.StepFailed || !strings.Contains(s.Message, "http source") {
		t.Errorf("the notify step is %s (%s), want Failed naming the http source", s.State, s.Message)
	}
}

// TestOnlyCustomersToldAnythingHearOfACancel plays a withdrawal whose
// recipient list grew after its notices went out: the cancellation goes to
// everyone some notice tried to reach (whose announcement was refused too,
// and one reached only by a reminder whose checkpoint was compacted away
// since), and to nobody who was told nothing.
func TestOnlyCustomersToldAnythingHearOfACancel(t *testing.T) {
	rcv := testsrv.NewWebhook([]byte(signingKey))
	defer rcv.Close()
	var refuse atomic.Bool
	rcv.Fail = func(id string, _ int, w http.ResponseWriter, _ *http.Request) bool {
		if id == "c3" && refuse.Load() {
			http.Error(w, "no such customer", http.StatusNotFound)
			return true
		}
		return false
	}
	rows := func(n int) string {
		var b strings.Builder
		b.WriteString("id,name\n")
		for i := range n {
			fmt.Fprintf(&b, "c%d,C\n", i)
		}
		return b.String()
	}
	f := newFixture(t, rows(10))
	rw := f.withdrawal(&v1.NotifyStep{Webhook: webhookChannel(rcv, rcv.Server.URL, v1.DeliveryLimits{RatePerSecond: 1000})}, 1)
	grow := func(n int) {
		t.Helper()
		var cm corev1.ConfigMap
		if err := env.Client.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: "recipients-0"}, &cm); err != nil {
			t.Fatal(err)
		}
		cm.Data["customers.csv"] = rows(n)
		if err := env.Client.Update(f.ctx, &cm); err != nil {
			t.Fatal(err)
		}
	}
	e := newExecutor(nil, 4)
	refuse.Store(true)
	res := untilDone(t, f.ctx, e, rw, announcement)
	refuse.Store(false)
	if c := counts(res); c.Sent != 9 || c.Failed != 1 {
		t.Fatalf("announcement: %s", res.Message)
	}
	started := metav1.NewTime(announcementDue)
	rw.Status.Notify = &v1.NotifyStatus{Notices: []v1.NoticeStatus{{ID: "announcement", Kind: v1.NoticeAnnouncement, StartedAt: &started, FinishedAt: &started}}}

	// c10 and c11 join before a reminder, which is their first notice.
	grow(12)
	slot := announcementDue.Add(7 * 24 * time.Hour)
	reminder := planner.Action{ID: "notify/" + planner.ReminderID(slot), Kind: planner.ActionNotice, Step: v1.StepNotify, Notice: v1.NoticeReminder, DueAt: slot}
	if res := untilDone(t, f.ctx, e, rw, reminder); counts(res).Sent != 12 {
		t.Fatalf("reminder: %s", res.Message)
	}
	rw.Status.Notify.Notices = append(rw.Status.Notify.Notices, v1.NoticeStatus{ID: reminder.NoticeID(), Kind: v1.NoticeReminder, StartedAt: &started, FinishedAt: &started})

	// c12 joins after every notice; then the withdrawal is called off.
	// A new process compacts the finished reminder before the cancellation.
	grow(13)
	rw.Spec.Cancel = true
	e = newExecutor(nil, 4)
	cancellation := planner.Action{ID: "notify/cancellation", Kind: planner.ActionNotice, Step: v1.StepNotify, Notice: v1.NoticeCancellation, DueAt: slot.Add(time.Hour)}
	res = untilDone(t, f.ctx, e, rw, cancellation)
	if c := counts(res); c.Sent != 12 || c.Excluded != 1 || !strings.Contains(res.Message, "1 left out, who had been told nothing") {
		t.Fatalf("cancellation: %+v %q; want 12 sent and c12 left out", c, res.Message)
	}
	var shards corev1.ConfigMapList
	if err := env.Client.List(f.ctx, &shards, client.InNamespace(f.ns), client.MatchingLabels{notify.LabelNotice: reminder.NoticeID()}); err != nil || len(shards.Items) != 0 {
		t.Fatalf("the finished reminder's checkpoint is still there (%d shards, %v): nothing was compacted", len(shards.Items), err)
	}
	keys := rcv.Keys()
	cancelKey := func(id string) string { return notify.IdempotencyKey(string(rw.IdentityKey()), "cancellation", id) }
	for _, id := range []string{"c0", "c3", "c10", "c11"} {
		if keys[id][cancelKey(id)] != 1 {
			t.Errorf("%s was told something and has %d cancellations, want 1", id, keys[id][cancelKey(id)])
		}
	}
	if n := rcv.Attempts("c12"); n != 0 {
		t.Errorf("c12 was told nothing but got %d requests", n)
	}
}

// TestAnUpgradeMidWithdrawalTellsEveryoneOfACancel: notices sent by a
// release that kept no told records leave it unknown who was reached, so
// the cancellation goes to every recipient rather than to too few.
func TestAnUpgradeMidWithdrawalTellsEveryoneOfACancel(t *testing.T) {
	rcv := testsrv.NewWebhook([]byte(signingKey))
	defer rcv.Close()
	f := newFixture(t, "id,name\nc0,C\nc1,C\n")
	rw := f.withdrawal(&v1.NotifyStep{Webhook: webhookChannel(rcv, rcv.Server.URL, v1.DeliveryLimits{RatePerSecond: 1000})}, 1)
	if res := untilDone(t, f.ctx, newExecutor(nil, 4), rw, announcement); counts(res).Sent != 2 {
		t.Fatalf("announcement: %s", res.Message)
	}
	// What the earlier release wrote: the outcomes, and nothing of whom
	// they told.
	var shards corev1.ConfigMapList
	if err := env.Client.List(f.ctx, &shards, client.InNamespace(f.ns), client.HasLabels{notify.LabelNotice}); err != nil || len(shards.Items) == 0 {
		t.Fatalf("no checkpoint: %v", err)
	}
	for i := range shards.Items {
		cm := &shards.Items[i]
		delete(cm.Annotations, notify.AnnotationTold)
		delete(cm.BinaryData, notify.KeyTold)
		if err := env.Client.Update(f.ctx, cm); err != nil {
			t.Fatal(err)
		}
	}
	var cm corev1.ConfigMap
	if err := env.Client.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: "recipients-0"}, &cm); err != nil {
		t.Fatal(err)
	}
	cm.Data["customers.csv"] += "c2,C\n"
	if err := env.Client.Update(f.ctx, &cm); err != nil {
		t.Fatal(err)
	}
	rw.Spec.Cancel = true
	cancellation := planner.Action{ID: "notify/cancellation", Kind: planner.ActionNotice, Step: v1.StepNotify, Notice: v1.NoticeCancellation, DueAt: announcementDue.Add(time.Hour)}
	if res := untilDone(t, f.ctx, newExecutor(nil, 4), rw, cancellation); counts(res).Sent != 3 || counts(res).Excluded != 0 {
		t.Fatalf("cancellation after an upgrade: %s; want all 3 recipients", res.Message)
	}
}

// TestACustomerReachedJustBeforeACrashHearsOfTheCancel: the process dies
// (its context ends) after the receiver took the announcement and before
// the checkpoint recorded it; then the withdrawal is called off, so the
// announcement is never sent again. The customer it reached is still
// recorded as told, and gets the cancellation.
func TestACustomerReachedJustBeforeACrashHearsOfTheCancel(t *testing.T) {
	rcv := testsrv.NewWebhook([]byte(signingKey))
	defer rcv.Close()
	f := newFixture(t, "id,name\nc0,C\nc1,C\nc2,C\n")
	rw := f.withdrawal(&v1.NotifyStep{Webhook: webhookChannel(rcv, rcv.Server.URL, v1.DeliveryLimits{RatePerSecond: 1000, Concurrency: 1})}, 1)
	ctx, die := context.WithCancel(f.ctx)
	rcv.OnAccept = func(d testsrv.Delivery) { die() }
	if _, err := newExecutor(nil, 16).Execute(ctx, rw, announcement); err == nil {
		t.Fatal("the announcement's call went on after its process died")
	}
	rcv.OnAccept = nil
	reached := 0
	for _, id := range []string{"c0", "c1", "c2"} {
		reached += rcv.Attempts(id)
	}
	if reached == 0 {
		t.Fatal("nobody was reached before the crash: the test shows nothing")
	}
	rw.Spec.Cancel = true
	cancellation := planner.Action{ID: "notify/cancellation", Kind: planner.ActionNotice, Step: v1.StepNotify, Notice: v1.NoticeCancellation, DueAt: announcementDue.Add(time.Hour)}
	res := untilDone(t, f.ctx, newExecutor(nil, 16), rw, cancellation)
	for _, id := range []string{"c0", "c1", "c2"} {
		if rcv.Attempts(id) > 0 && rcv.Keys()[id][notify.IdempotencyKey(string(rw.IdentityKey()), "cancellation", id)] != 1 {
			t.Errorf("%s got the announcement before the crash and no cancellation (%s)", id, res.Message)
		}
	}
}

// TestAListLongerThanACallsBudgetStillGoesOut: every call walks the whole
// list, the recipients told already too. Where walking them takes longer
// than a call's budget (a million recipients; here, a paged HTTP source
// that takes 10 ms a page of 10, against a budget of 150 ms), each call
// must still send: the budget starts at the first batch, not at the walk.
// Counted from the walk, calls stopped sending once the list told so far
// took the budget to walk, and the notice never finished.
func TestAListLongerThanACallsBudgetStillGoesOut(t *testing.T) {
	rcv := testsrv.NewWebhook([]byte(signingKey))
	defer rcv.Close()
	const n, perPage = 400, 10
	pages := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		time.Sleep(10 * time.Millisecond) // a slow source: the cost of walking, not a wait for anything
		if (page+1)*perPage < n {
			w.Header().Set("Link", fmt.Sprintf(`</customers?page=%d>; rel="next"`, page+1))
		}
		for i := page * perPage; i < (page+1)*perPage && i < n; i++ {
			fmt.Fprintf(w, `{"id":"c%03d","webhook":"%s"}`+"\n", i, rcv.Server.URL)
		}
	}))
	defer pages.Close()
	f := newFixture(t)
	rw := f.withdrawal(&v1.NotifyStep{Webhook: webhookChannel(rcv, rcv.Server.URL, v1.DeliveryLimits{RatePerSecond: 1000}),
		Recipients: v1.RecipientSources{HTTP: &v1.HTTPRecipientSource{URL: pages.URL + "/customers?page=0",
			CABundle: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pages.Certificate().Raw})}}}, 0)
	o := executorOptions(nil, 40)
	o.CallBudget = 150 * time.Millisecond
	e := notify.New(o)
	sent := int64(0)
	for call := 1; ; call++ {
		res, err := e.Execute(f.ctx, rw, announcement)
		if err != nil {
			t.Fatal(err)
		}
		now := counts(res).Sent
		if res.Done {
			if now != n {
				t.Fatalf("done with %d of %d sent", now, n)
			}
			t.Logf("%d recipients in %d calls", n, call)
			break
		}
		if now <= sent {
			t.Fatalf("call %d sent nothing (%d sent before it): walking those told took the call's budget", call, sent)
		}
		sent = now
	}
	if total, _ := rcv.Totals(); total != n {
		t.Errorf("the receiver got %d deliveries, want %d", total, n)
	}
}

// objectReads counts the reads of recipient ConfigMaps: in full, and of
// their metadata only.
type objectReads struct {
	client.Reader
	full, meta atomic.Int64
}

func (r *objectReads) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if strings.HasPrefix(key.Name, "recipients-") {
		switch obj.(type) {
		case *corev1.ConfigMap:
			r.full.Add(1)
		case *metav1.PartialObjectMetadata:
			r.meta.Add(1)
		}
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}

// TestEachCallReadsOnlyTheRecipientObjectsItNeeds: a notice sent over many
// calls reads each recipient ConfigMap in full only while it has someone
// to send to (and once more to find it settled); the calls pass over the
// objects they settled, and, once they stop sending, those nothing was
// sent from, yet count every recipient every call, duplicates across
// objects once. An object changed mid-notice is read again, with every one
// after it: its new recipient is notified, and an id it now shares with a
// later object is counted once.
func TestEachCallReadsOnlyTheRecipientObjectsItNeeds(t *testing.T) {
	const objects, per = 20, 50
	rcv := testsrv.NewWebhook([]byte(signingKey))
	defer rcv.Close()
	var csvs []string
	for o := range objects {
		var b strings.Builder
		b.WriteString("id,name\n")
		for i := range per {
			fmt.Fprintf(&b, "c%02d-%02d,Customer\n", o, i)
		}
		if o == 3 || o == 12 {
			b.WriteString("shared,In two objects\n") // one recipient, twice
		}
		csvs = append(csvs, b.String())
	}
	f := newFixture(t, csvs...)
	rw := f.withdrawal(&v1.NotifyStep{Webhook: webhookChannel(rcv, rcv.Server.URL, v1.DeliveryLimits{RatePerSecond: 500, Concurrency: 8})}, objects)
	reads := &objectReads{Reader: env.Client}
	o := executorOptions(nil, per)
	o.Reader = reads
	o.CallBudget = 150 * time.Millisecond
	e := notify.New(o)

	want := int64(objects*per + 1)
	var (
		calls     int
		changed   bool
		changedAt int
		// touched is how many objects the previous call sent to.
		sentBefore, fullBefore, touched int64
	)
	for calls = 1; calls <= 200; calls++ {
		res, err := e.Execute(f.ctx, rw, announcement)
		if err != nil {
			t.Fatal(err)
		}
		if got := counts(res).Recipients; got != want {
			t.Fatalf("call %d counted %d recipients, want %d: %s", calls, got, want, res.Message)
		}
		// A call reads in full the objects it sends to (a batch may span
		// two), and those the call before sent to, to find them settled;
		// not the others. The first reads all of them, twice (the first
		// renders every recipient before anything is sent), and so does
		// the call after the change.
		sent, full := counts(res).Sent, reads.full.Load()
		now := (sent-sentBefore+per-1)/per + 1
		if read := full - fullBefore; calls > 1 && read > now+touched && !(changed && calls == changedAt+1) {
			t.Errorf("call %d read %d recipient objects in full; it sent to %d recipients, the call before to %d objects: want at most %d", calls, read, sent-sentBefore, touched, now+touched)
		}
		sentBefore, fullBefore, touched = sent, full, now
		if res.Done {
			break
		}
		if !changed && sent > 5*per {
			// The first object is settled by now: it gains a recipient,
			// and one it shares with an object not yet sent to.
			var cm corev1.ConfigMap
			if err := env.Client.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: "recipients-0"}, &cm); err != nil {
				t.Fatal(err)
			}
			cm.Data["customers.csv"] += "late,Added mid-notice\nc19-00,Also in the last object\n"
			if err := env.Client.Update(f.ctx, &cm); err != nil {
				t.Fatal(err)
			}
			changed, changedAt, want = true, calls, want+1
		}
	}
	if !changed {
		t.Fatalf("done in %d calls, before the list was changed", calls)
	}
	if calls < 5 {
		t.Fatalf("done in %d calls: too few to tell passing over objects from reading them all", calls)
	}
	t.Logf("%d calls; %d full reads and %d metadata reads of the %d recipient objects (every call reading all: %d)",
		calls, reads.full.Load(), reads.meta.Load(), objects, calls*objects)
	keys := rcv.Keys()
	if len(keys) != int(want) {
		t.Errorf("the receiver heard from %d recipients, want %d", len(keys), want)
	}
	for id, ks := range keys {
		for k, n := range ks {
			if n != 1 {
				t.Errorf("%s got the notice %d times under key %s", id, n, k)
			}
		}
	}
}

// TestEachCallAsksOnlyForThePagesItNeeds is TestEachCallReadsOnlyTheRecipientObjectsItNeeds
// for the paged HTTP source: a server that tags each page with a strong
// entity tag is asked with If-None-Match for the pages a call would pass
// over, and its 304s spare reading and parsing them; a page changed
// mid-notice is read, with every page after it, and its new recipient is
// notified, once.
func TestEachCallAsksOnlyForThePagesItNeeds(t *testing.T) {
	const pages, per = 20, 50
	rcv := testsrv.NewWebhook([]byte(signingKey))
	defer rcv.Close()
	var (
		mu               sync.Mutex
		bodies           []string
		full, notChanged atomic.Int64
	)
	for p := range pages {
		var b strings.Builder
		for i := range per {
			fmt.Fprintf(&b, `{"id":"c%02d-%02d","name":"Customer"}`+"\n", p, i)
		}
		bodies = append(bodies, b.String())
	}
	src := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := strconv.Atoi(r.URL.Query().Get("page"))
		mu.Lock()
		body := bodies[p]
		mu.Unlock()
		etag := fmt.Sprintf(`"%x"`, sha256.Sum256([]byte(body)))
		if r.Header.Get("If-None-Match") == etag {
			notChanged.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		full.Add(1)
		w.Header().Set("ETag", etag)
		if p+1 < pages {
			w.Header().Set("Link", fmt.Sprintf(`</customers?page=%d>; rel="next"`, p+1))
		}
		fmt.Fprint(w, body)
	}))
	defer src.Close()
	f := newFixture(t)
	rw := f.withdrawal(&v1.NotifyStep{Webhook: webhookChannel(rcv, rcv.Server.URL, v1.DeliveryLimits{RatePerSecond: 500, Concurrency: 8}),
		Recipients: v1.RecipientSources{HTTP: &v1.HTTPRecipientSource{URL: src.URL + "/customers?page=0",
			CABundle: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: src.Certificate().Raw})}}}, 0)
	o := executorOptions(nil, per)
	o.CallBudget = 150 * time.Millisecond
	e := notify.New(o)

	want := int64(pages * per)
	var (
		calls                           int
		changed                         bool
		changedAt                       int
		sentBefore, fullBefore, touched int64
	)
	for calls = 1; calls <= 200; calls++ {
		res, err := e.Execute(f.ctx, rw, announcement)
		if err != nil {
			t.Fatal(err)
		}
		if got := counts(res).Recipients; got != want {
			t.Fatalf("call %d counted %d recipients, want %d: %s", calls, got, want, res.Message)
		}
		// As for ConfigMaps: a call reads in full the pages it sends to
		// and those the call before sent to; the first reads every page
		// twice, and so does the call after the change.
		sent, read := counts(res).Sent, full.Load()
		now := (sent-sentBefore+per-1)/per + 1
		if n := read - fullBefore; calls > 1 && n > now+touched && !(changed && calls == changedAt+1) {
			t.Errorf("call %d read %d pages in full; it sent to %d recipients, the call before to %d pages: want at most %d", calls, n, sent-sentBefore, touched, now+touched)
		}
		sentBefore, fullBefore, touched = sent, read, now
		if res.Done {
			break
		}
		if !changed && sent > 5*per {
			// The first page is settled by now: it gains a recipient, and
			// one it shares with a page not yet sent to.
			mu.Lock()
			bodies[0] += `{"id":"late","name":"Added mid-notice"}` + "\n" + `{"id":"c19-00","name":"Also on the last page"}` + "\n"
			mu.Unlock()
			changed, changedAt, want = true, calls, want+1
		}
	}
	if !changed {
		t.Fatalf("done in %d calls, before the list was changed", calls)
	}
	if calls < 5 {
		t.Fatalf("done in %d calls: too few to tell passing over pages from reading them all", calls)
	}
	if notChanged.Load() == 0 {
		t.Errorf("no page was answered 304 Not Modified")
	}
	t.Logf("%d calls; %d pages read in full and %d answered 304 (every call reading all: %d)", calls, full.Load(), notChanged.Load(), calls*pages)
	keys := rcv.Keys()
	if len(keys) != int(want) {
		t.Errorf("the receiver heard from %d recipients, want %d", len(keys), want)
	}
	for id, ks := range keys {
		for k, n := range ks {
			if n != 1 {
				t.Errorf("%s got the notice %d times under key %s", id, n, k)
			}
		}
	}
}
