//go:build e2e

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

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/mail"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/keysecret"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
)

// The invariants of DESIGN.md section 5, checked after every scenario
// against what the receivers got and what the API server recorded in its
// audit log, never against what the operator says it did alone.

// received is what the receivers saw: notice id -> recipient -> the
// distinct keys it arrived with (the idempotency key for a webhook, the
// Message-Id for a mail).
type received map[string]map[string]map[string]bool

// checkNotices: every recipient has every notice, a duplicate only under
// the same idempotency key, and the status counts equal what the receivers
// saw. It returns what they saw.
func checkNotices(t *testing.T, rw *v1.RegionWithdrawal, hook *testsrv.Webhook, smtp *testsrv.SMTP) received {
	t.Helper()
	failedBefore := t.Failed()
	if rw.Status.Notify == nil {
		t.Fatal("no notify status")
	}
	got := received{}
	add := func(notice, recipient, key string) {
		if got[notice] == nil {
			got[notice] = map[string]map[string]bool{}
		}
		if got[notice][recipient] == nil {
			got[notice][recipient] = map[string]bool{}
		}
		got[notice][recipient][key] = true
	}
	var ids []string
	for i := range webhookRecipients {
		id := "w" + twoDigits(i)
		ids = append(ids, id)
		for _, d := range hook.Deliveries(id) {
			add(d.Body.Notice.ID, id, d.Key)
		}
	}
	for i := range emailRecipients {
		ids = append(ids, "e"+twoDigits(i))
	}
	for _, m := range smtp.Mails() {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Errorf("unreadable mail to %s: %v", m.To, err)
			continue
		}
		add(msg.Header.Get("X-Withdrawal-Notice"), strings.TrimSuffix(m.To, "@example.com"), msg.Header.Get("Message-Id"))
	}
	if _, bad := hook.Totals(); bad != 0 {
		t.Errorf("%d webhook deliveries had a bad signature", bad)
	}

	kinds := map[v1.NoticeKind]int{}
	for _, n := range rw.Status.Notify.Notices {
		if n.DryRun {
			t.Errorf("notice %s is a dry run", n.ID)
			continue
		}
		kinds[n.Kind]++
		missing := 0
		for _, id := range ids {
			switch keys := got[n.ID][id]; {
			case len(keys) == 0:
				missing++
			case len(keys) > 1:
				t.Errorf("%s got notice %s %d times under different keys: %v", id, n.ID, len(keys), keys)
			}
		}
		if missing > 0 {
			t.Errorf("%d of %d recipients never got notice %s", missing, len(ids), n.ID)
		}
		if int(n.Sent) != len(got[n.ID]) || n.Failed != 0 || n.Pending != 0 {
			t.Errorf("notice %s: status says sent %d, failed %d, pending %d; the receivers saw %d recipients", n.ID, n.Sent, n.Failed, n.Pending, len(got[n.ID]))
		}
	}
	if kinds[v1.NoticeAnnouncement] != 1 || kinds[v1.NoticeFinal] != 1 || kinds[v1.NoticeReminder] < 1 {
		t.Errorf("notices by kind %v, want one announcement, at least one reminder, one final notice", kinds)
	}
	if t.Failed() && !failedBefore {
		return got // the failures above say what broke
	}
	t.Logf("invariant: %d notices (%v), each received by all %d recipients once per key", len(rw.Status.Notify.Notices), kinds, len(ids))
	return got
}

// verifyLedger exports rw's evidence ledger and verifies it pinned as an
// auditor would: to the operator's key, the withdrawal, and the checkpoint
// its status recorded. It returns the report and the withdrawal's salt.
func verifyLedger(t *testing.T, c client.Client, rw *v1.RegionWithdrawal) (*evidence.Report, []byte) {
	t.Helper()
	ctx := context.Background()
	key, err := keysecret.Read(ctx, c, rw.Namespace, evidenceKeySecret)
	if err != nil {
		t.Fatalf("the evidence key: %v", err)
	}
	l, err := ledger.New(ledger.Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	salt := l.Salt(rw.IdentityKey())
	contents, err := ledger.Read(ctx, c, rw.Namespace, rw.UID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := contents.Bundle(salt)
	if err != nil {
		t.Fatalf("exporting the evidence: %v", err)
	}
	if rw.Status.Evidence == nil {
		t.Fatal("status.evidence is empty: the ledger's head was never recorded")
	}
	r, err := evidence.Verify(b, evidence.VerifyOptions{Key: l.VerifierKey(), UID: string(rw.UID), Checkpoints: [][]byte{[]byte(rw.Status.Evidence.Checkpoint)}})
	if err != nil {
		t.Fatalf("the evidence does not verify: %v", err)
	}
	return r, salt
}

// awaitWithdrawal polls the withdrawal at key until cond holds, and fails
// with what it last saw after within.
func awaitWithdrawal(t *testing.T, c client.Client, key client.ObjectKey, what string, within time.Duration, cond func(*v1.RegionWithdrawal) bool) *v1.RegionWithdrawal {
	t.Helper()
	var got v1.RegionWithdrawal
	deadline := time.Now().Add(within)
	for {
		if err := c.Get(context.Background(), key, &got); err == nil && cond(&got) {
			return &got
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: phase %s, steps %+v, notify %+v, cutoff %+v, conditions %+v",
				what, got.Status.Phase, got.Status.Steps, got.Status.Notify, got.Status.Cutoff, got.Status.Conditions)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkEvidence: the evidence ledger verifies against the operator's key,
// and holds one statement per delivery the receivers saw (per notice,
// recipient and channel), none missing and none extra, each webhook
// delivery's under the key the receiver got; and one routing switch, no
// earlier than the cutoff.
func checkEvidence(t *testing.T, c client.Client, rw *v1.RegionWithdrawal, got received) {
	t.Helper()
	// Sealed, since it completed.
	r, salt := verifyLedger(t, c, rw)
	if r.Seal == nil || r.Seal.Reason != evidence.SealCompleted || !rw.Status.Evidence.Sealed || rw.Status.Evidence.Statements != int64(r.Statements) {
		t.Errorf("the ledger of a completed withdrawal: seal %+v, status.evidence %+v, %d statements", r.Seal, rw.Status.Evidence, r.Statements)
	}

	// recipient hash -> id, for every recipient the receivers saw.
	ids := map[string]string{}
	for _, byRecipient := range got {
		for id := range byRecipient {
			ids[evidence.RecipientHash(salt, id)] = id
		}
	}
	recorded := received{}
	for _, e := range r.Entries {
		d, ok := e.Event.(*evidence.NoticeDelivered)
		if !ok {
			continue
		}
		id, known := ids[d.Recipient]
		if !known {
			t.Errorf("statement %d records a delivery of %s to a recipient no receiver saw", e.Index, d.Notice)
			continue
		}
		if recorded[d.Notice] == nil {
			recorded[d.Notice] = map[string]map[string]bool{}
		}
		if recorded[d.Notice][id] == nil {
			recorded[d.Notice][id] = map[string]bool{}
		}
		recorded[d.Notice][id][d.Channel] = true
		if d.Channel == "webhook" && !got[d.Notice][id][d.IdempotencyKey] {
			t.Errorf("statement %d: %s got %s under keys %v, not the recorded %s", e.Index, id, d.Notice, got[d.Notice][id], d.IdempotencyKey)
		}
		if d.Webhook == nil && d.Email == nil {
			t.Errorf("statement %d: a delivery without the receiver's receipt", e.Index)
		}
	}
	deliveries := 0
	for notice, byRecipient := range got {
		for id := range byRecipient {
			deliveries++
			if len(recorded[notice][id]) != 1 {
				t.Errorf("notice %s to %s: %d statements in the ledger, want 1", notice, id, len(recorded[notice][id]))
			}
		}
	}
	switched := r.RoutingStopped()
	if len(switched) != 1 || switched[0].At.Before(rw.Spec.Cutoff.Time.Truncate(time.Second)) {
		t.Errorf("routing switches in the ledger %+v, want one, no earlier than the cutoff %s", switched, rw.Spec.Cutoff.Time)
	}
	if r.Counts()[evidence.KindDrainFinished] != 1 {
		t.Errorf("statements %v, want one drain-finished", r.Counts())
	}
	t.Logf("invariant: the evidence ledger verifies: %d statements (%v) under %d checkpoints, one per delivery the receivers saw (%d)",
		r.Statements, r.Counts(), len(r.Checkpoints), deliveries)
}

func twoDigits(i int) string { return string(rune('0'+i/10)) + string(rune('0'+i%10)) }

// checkDrainAndRouting: every drained workload is at zero with its
// EndpointSlices empty, the drain finished before the cutoff, routing
// switched, and — from the audit log — no target was touched before its
// export was verified, no workload before the drain was due, no route
// before the cutoff, and the route switched within the stated bound.
func checkDrainAndRouting(t *testing.T, c client.Client, rw *v1.RegionWithdrawal, w *world, bound time.Duration) {
	t.Helper()
	failedBefore := t.Failed()
	ctx := context.Background()
	dr := stepOf(rw, v1.StepDrain)
	if dr.State != v1.StepSucceeded || dr.FinishedAt == nil || dr.FinishedAt.After(w.cutoff) {
		t.Errorf("drain = %+v, want finished before the cutoff %s", dr, w.cutoff)
	}
	for _, name := range scenarioApps {
		var d appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: name}, &d); err != nil {
			t.Fatal(err)
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 0 {
			t.Errorf("Deployment %s has %v replicas after the drain", name, d.Spec.Replicas)
		}
		var slices discoveryv1.EndpointSliceList
		if err := c.List(ctx, &slices, client.InNamespace(w.ns), client.MatchingLabels{discoveryv1.LabelServiceName: name}); err != nil {
			t.Fatal(err)
		}
		for _, s := range slices.Items {
			if len(s.Endpoints) != 0 {
				t.Errorf("EndpointSlice %s of Service %s still has %d endpoints", s.Name, name, len(s.Endpoints))
			}
		}
	}
	ing := &networkingv1.Ingress{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "pk-edge"}, ing); err != nil {
		t.Fatal(err)
	}
	if svc := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name; !strings.HasPrefix(svc, "rwo-notice-") {
		t.Errorf("the Ingress routes to %q, want the notice backend", svc)
	}
	rt := stepOf(rw, v1.StepRouting)
	if rt.Lateness != nil {
		t.Logf("routing: the operator recorded its start %s after the cutoff", rt.Lateness.Duration)
	}

	a := readAudit(t, w.ns)
	if a.exportVerified.IsZero() {
		t.Fatalf("the audit log has no status write that verified the export")
	}
	var drains, routes []time.Time
	for _, e := range a.operatorWrites {
		switch {
		case e.ObjectRef.Resource == "deployments" && slices.Contains(scenarioApps, e.ObjectRef.Name):
			drains = append(drains, e.RequestReceivedTimestamp.Time)
			if e.RequestReceivedTimestamp.Time.Before(w.drain) {
				t.Errorf("Deployment %s was written at %s, before the drain was due at %s", e.ObjectRef.Name, e.RequestReceivedTimestamp.Time, w.drain)
			}
		case e.ObjectRef.Resource == "ingresses" && e.ObjectRef.Name == "pk-edge":
			routes = append(routes, e.StageTimestamp.Time)
			if e.RequestReceivedTimestamp.Time.Before(w.cutoff) {
				t.Errorf("the Ingress was written at %s, before the cutoff %s", e.RequestReceivedTimestamp.Time, w.cutoff)
			}
		default:
			continue
		}
		if !e.RequestReceivedTimestamp.Time.After(a.exportVerified) {
			t.Errorf("%s %s/%s %s at %s, before the export was verified at %s", e.Verb, e.ObjectRef.Resource, e.ObjectRef.Subresource, e.ObjectRef.Name,
				e.RequestReceivedTimestamp.Format(time.StampMicro), a.exportVerified.Format(time.StampMicro))
		}
	}
	if len(drains) < len(scenarioApps) || len(routes) == 0 {
		t.Fatalf("the audit log has %d operator writes to the Deployments and %d to the Ingress; want at least %d and 1", len(drains), len(routes), len(scenarioApps))
	}
	switched := slices.MinFunc(routes, func(a, b time.Time) int { return a.Compare(b) })
	late := switched.Sub(w.cutoff)
	if late > bound {
		t.Errorf("routing switched %s after the cutoff, over the stated bound of %s", late, bound)
	}
	if t.Failed() && !failedBefore {
		t.Logf("routing switched %s after the cutoff (stated bound %s)", late.Round(time.Millisecond), bound)
		return
	}
	t.Logf("invariant: export verified at %s; %d drain and %d routing writes all after it; routing switched %s after the cutoff (stated bound %s)",
		a.exportVerified.Format(time.StampMicro), len(drains), len(routes), late.Round(time.Millisecond), bound)
}

// auditEvent is the part of an audit.k8s.io/v1 Event the checks read.
type auditEvent struct {
	Stage     string `json:"stage"`
	Verb      string `json:"verb"`
	UserAgent string `json:"userAgent"`
	ObjectRef struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	ResponseObject           json.RawMessage  `json:"responseObject"`
	RequestReceivedTimestamp metav1.MicroTime `json:"requestReceivedTimestamp"`
	StageTimestamp           metav1.MicroTime `json:"stageTimestamp"`
}

type auditRecord struct {
	// exportVerified is when the API server completed the first status
	// write that said the export succeeded.
	exportVerified time.Time
	// operatorWrites are the operator's successful writes to workloads and
	// routes.
	operatorWrites []auditEvent
}

// readAudit reads the API server's audit log for one namespace. The
// operator is told apart from the test by its user agent (its binary name).
func readAudit(t *testing.T, ns string) auditRecord {
	t.Helper()
	f, err := os.Open(kwok.AuditLog)
	if err != nil {
		t.Fatalf("reading the audit log: %v", err)
	}
	defer f.Close()
	var rec auditRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		var e auditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit log line: %v", err)
		}
		if e.ObjectRef.Namespace != ns || e.Stage != "ResponseComplete" || e.ResponseStatus.Code >= 300 ||
			!strings.HasPrefix(e.UserAgent, "region-withdrawal-operator/") {
			continue
		}
		if e.ObjectRef.Resource == "regionwithdrawals" && e.ObjectRef.Subresource == "status" {
			var rw v1.RegionWithdrawal
			if err := json.Unmarshal(e.ResponseObject, &rw); err != nil {
				t.Fatalf("audit log: status response: %v", err)
			}
			if stepOf(&rw, v1.StepExport).State == v1.StepSucceeded && (rec.exportVerified.IsZero() || e.StageTimestamp.Time.Before(rec.exportVerified)) {
				rec.exportVerified = e.StageTimestamp.Time
			}
			continue
		}
		rec.operatorWrites = append(rec.operatorWrites, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading the audit log: %v", err)
	}
	return rec
}
