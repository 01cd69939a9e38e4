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
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/admission"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
)

// TestDeadlineExtendedThenCalledOff plays the real case compressed to
// minutes: the withdrawal is announced for date A, the government extends
// the deadline to B, and at B it drops its demand, so the provider cancels
// and stays. Every customer must learn of the change exactly once, in every
// channel, with both dates; everything after the change must name B; the
// cancellation must reach everyone; nothing may have been drained or
// switched; and the ledger must tell the whole story: A, then B, then
// cancelled.
func TestDeadlineExtendedThenCalledOff(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	const ns = "reschedule"
	createNamespace(t, c, ns)
	for _, name := range scenarioApps {
		app(t, c, ns, name, regionLabels)
	}
	if err := c.Create(ctx, regionIngress(ns, "pk-edge", regionLabels)); err != nil {
		t.Fatal(err)
	}
	var ingressBefore networkingv1.Ingress
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "pk-edge"}, &ingressBefore); err != nil {
		t.Fatal(err)
	}

	key := []byte("e2e-signing-key")
	hook := testsrv.NewWebhook(key)
	hook.Record = true
	defer hook.Close()
	smtp, err := testsrv.NewSMTP(true)
	if err != nil {
		t.Fatal(err)
	}
	defer smtp.Close()
	const webhooks, mails = 12, 6
	var csv strings.Builder
	csv.WriteString("id,name,email,webhook,locale\n")
	var ids []string
	for i := range webhooks {
		fmt.Fprintf(&csv, "w%02d,Customer %d,,%s/hook,en\n", i, i, hook.Server.URL)
		ids = append(ids, fmt.Sprintf("w%02d", i))
	}
	for i := range mails {
		fmt.Fprintf(&csv, "e%02d,Customer %d,e%02d@example.com,,en\n", i, i, i)
		ids = append(ids, fmt.Sprintf("e%02d", i))
	}
	for _, obj := range []client.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "pk-recipients", Namespace: ns}, Data: map[string]string{"list.csv": csv.String()}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pk-webhook", Namespace: ns}, Data: map[string][]byte{"hmac-key": key}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pk-smtp", Namespace: ns}, Data: map[string][]byte{"username": []byte(smtp.Username), "password": []byte(smtp.Password)}},
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	startNamedOperator(t, "operator", "--watch-namespaces="+ns, "--namespace="+ns, "--evidence-key-secret="+evidenceKeySecret)

	// A is 110 s away: the announcement goes out 10 s from now, a reminder
	// every minute, the final notice 40 s before the cutoff, the drain 10 s
	// before it, the routing switch at it.
	dateA := time.Now().Add(110 * time.Second).Truncate(time.Second)
	dateB := dateA.Add(time.Minute)
	at := func(d time.Duration) v1.Moment { return v1.Moment{Offset: &metav1.Duration{Duration: d}} }
	zero, one := at(0), intstr.FromInt32(1)
	limits := v1.DeliveryLimits{RatePerSecond: 50, Concurrency: 8, MaxAttempts: 5, Timeout: &metav1.Duration{Duration: 3 * time.Second}}
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: ns},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Cutoff: metav1.NewTime(dateA), TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: regionLabels},
			Notify: &v1.NotifyStep{
				Announce: at(-100 * time.Second), Final: at(-40 * time.Second),
				Reminders:  &v1.ReminderSchedule{Schedule: "* * * * *"},
				Recipients: v1.RecipientSources{ConfigMaps: []v1.RecipientObjectRef{{Name: "pk-recipients", Format: v1.RecipientFormatCSV}}},
				Webhook:    &v1.WebhookChannel{SigningSecretRef: v1.SecretKeyReference{Name: "pk-webhook", Key: "hmac-key"}, CABundle: hook.CAPEM(), Limits: limits},
				Email: &v1.EmailChannel{Host: "127.0.0.1", Port: int32(smtp.Addr.Port), Security: v1.SMTPStartTLS,
					From: "Service Notices <notices@example.com>", CredentialsSecretRef: &v1.LocalObjectReference{Name: "pk-smtp"},
					CABundle: smtp.CertPEM, Limits: limits},
			},
			Drain:   &v1.DrainStep{Start: at(-10 * time.Second), MaxUnavailable: &one, Interval: &metav1.Duration{Duration: 3 * time.Second}},
			Routing: &v1.RoutingStep{At: &zero, Mode: v1.RoutingBlock451},
		},
	}
	if err := c.Create(ctx, rw); err != nil {
		t.Fatal(err)
	}
	key1 := client.ObjectKeyFromObject(rw)
	notice := func(rw *v1.RegionWithdrawal, id string) *v1.NoticeStatus {
		if rw.Status.Notify == nil {
			return nil
		}
		for i := range rw.Status.Notify.Notices {
			if rw.Status.Notify.Notices[i].ID == id {
				return &rw.Status.Notify.Notices[i]
			}
		}
		return nil
	}
	waitFor := func(what string, within time.Duration, cond func(*v1.RegionWithdrawal) bool) *v1.RegionWithdrawal {
		t.Helper()
		return awaitWithdrawal(t, c, key1, what, within, cond)
	}
	finished := func(id string) func(*v1.RegionWithdrawal) bool {
		return func(rw *v1.RegionWithdrawal) bool {
			n := notice(rw, id)
			return n != nil && n.FinishedAt != nil
		}
	}

	// Announced for A.
	waitFor("the announcement", time.Until(dateA), finished("announcement"))

	// The government extends the deadline by a minute.
	var cur v1.RegionWithdrawal
	if err := c.Get(ctx, key1, &cur); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(cur.DeepCopy())
	cur.Spec.Cutoff = metav1.NewTime(dateB)
	if err := c.Patch(ctx, &cur, patch); err != nil {
		t.Fatal(err)
	}
	got := waitFor("the Rescheduled notice", 30*time.Second, finished("rescheduled-1"))
	moved := meta.FindStatusCondition(got.Status.Conditions, v1.ConditionCutoffMoved)
	if moved == nil || moved.Status != metav1.ConditionTrue || moved.Reason != v1.ReasonPostponed {
		t.Errorf("CutoffMoved after a postponement: %+v", moved)
	}
	if h := got.Status.Cutoff; h == nil || !h.Original.Time.Equal(dateA) || !h.Current.Time.Equal(dateB) || len(h.Changes) != 1 || h.Changes[0].NoticeID != "rescheduled-1" {
		t.Errorf("status.cutoff after one postponement: %+v", h)
	}

	// The final notice for B, then the government drops its demand before
	// anything is drained: the provider cancels and stays.
	waitFor("the final notice for B", time.Until(dateB.Add(-12*time.Second)), func(rw *v1.RegionWithdrawal) bool {
		return finished(planner.NoticeIDFinal)(rw)
	})
	// A customer who signs up now was told nothing, so there is nothing
	// to take back: the cancellation leaves them out.
	var list corev1.ConfigMap
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "pk-recipients"}, &list); err != nil {
		t.Fatal(err)
	}
	list.Data["list.csv"] += fmt.Sprintf("late,Late Customer,,%s/hook,en\n", hook.Server.URL)
	if err := c.Update(ctx, &list); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, key1, &cur); err != nil {
		t.Fatal(err)
	}
	patch = client.MergeFrom(cur.DeepCopy())
	cur.Spec.Cancel, cur.Spec.CancelReason = true, "the demand was dropped"
	if err := c.Patch(ctx, &cur, patch); err != nil {
		t.Fatal(err)
	}
	if time.Now().After(dateB.Add(-10 * time.Second)) {
		t.Fatalf("cancelled %s after the drain was due: the test ran too slowly to say anything", time.Since(dateB.Add(-10*time.Second)))
	}
	got = waitFor("the cancellation", time.Minute, func(rw *v1.RegionWithdrawal) bool {
		return rw.Status.Phase == v1.PhaseCancelled && finished("cancellation")(rw)
	})

	// What the customers saw.
	webhookSeen := map[string][]testsrv.Delivery{}
	for _, id := range ids[:webhooks] {
		webhookSeen[id] = hook.Deliveries(id)
	}
	type mailSeen struct{ notice, text string }
	mailsTo := map[string][]mailSeen{}
	for _, m := range smtp.Mails() {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatalf("unreadable mail to %s: %v", m.To, err)
		}
		to := strings.TrimSuffix(m.To, "@example.com")
		mailsTo[to] = append(mailsTo[to], mailSeen{msg.Header.Get("X-Withdrawal-Notice"), plainText(t, msg)})
	}
	karachi, err := time.LoadLocation("Asia/Karachi")
	if err != nil {
		t.Fatal(err)
	}
	clockA, clockB := dateA.In(karachi).Format("15:04 MST"), dateB.In(karachi).Format("15:04 MST")
	for _, id := range ids {
		// In the order received: the notices before the change name A,
		// the change names both, the ones after name B.
		type seen struct {
			notice string
			cutoff time.Time
			prev   *time.Time
			text   string
		}
		var in []seen
		if strings.HasPrefix(id, "w") {
			for _, d := range webhookSeen[id] {
				in = append(in, seen{d.Body.Notice.ID, d.Body.Cutoff, d.Body.PreviousCutoff, d.Body.Text})
			}
		} else {
			for _, m := range mailsTo[id] {
				in = append(in, seen{notice: m.notice, text: m.text})
			}
		}
		count := map[string]int{}
		after := false
		var order []string
		for _, s := range in {
			count[s.notice]++
			order = append(order, s.notice)
			want := dateA
			switch {
			case s.notice == "rescheduled-1":
				after = true
				want = dateB
				if !strings.Contains(s.text, clockA) || !strings.Contains(s.text, clockB) {
					t.Errorf("%s: the Rescheduled notice does not name both %s and %s:\n%s", id, clockA, clockB, s.text)
				}
				if s.prev == nil && strings.HasPrefix(id, "w") || s.prev != nil && !s.prev.Equal(dateA) {
					t.Errorf("%s: the Rescheduled notice's previousCutoff is %v, want %s", id, s.prev, dateA)
				}
			case after:
				want = dateB
				if s.notice != "cancellation" && !strings.Contains(s.text, clockB) {
					t.Errorf("%s: notice %s after the change does not name %s:\n%s", id, s.notice, clockB, s.text)
				}
			}
			if strings.HasPrefix(id, "w") && !s.cutoff.Equal(want) {
				t.Errorf("%s: notice %s names the cutoff %s, want %s (received in the order %v)", id, s.notice, s.cutoff, want, order)
			}
		}
		for _, n := range []string{"announcement", "rescheduled-1", planner.NoticeIDFinal, "cancellation"} {
			if count[n] != 1 {
				t.Errorf("%s got %s %d times, want once (received in the order %v)", id, n, count[n], order)
			}
		}
		if !after {
			t.Errorf("%s never got the Rescheduled notice (received in the order %v)", id, order)
		}
	}
	if d := hook.Deliveries("late"); len(d) != 0 {
		t.Errorf("a customer added after every notice, told nothing, got %d notices; the first is %s", len(d), d[0].Body.Notice.ID)
	}
	if n := notice(got, "cancellation"); n == nil || n.Excluded != 1 {
		t.Errorf("the cancellation's status %+v: want the late customer counted as left out", n)
	}
	reminders := 0
	for _, n := range got.Status.Notify.Notices {
		if n.Kind == v1.NoticeReminder && n.StartedAt != nil && n.StartedAt.Time.After(got.Status.Cutoff.Changes[0].ObservedAt.Time) {
			reminders++
		}
		if n.Sent != int64(len(ids)) || n.Failed != 0 {
			t.Errorf("notice %s: sent %d, failed %d; want %d sent", n.ID, n.Sent, n.Failed, len(ids))
		}
	}
	if reminders == 0 {
		t.Errorf("no reminder after the change: notices %+v", got.Status.Notify.Notices)
	}

	// Nothing was drained or switched.
	for _, s := range []v1.StepName{v1.StepDrain, v1.StepRouting} {
		if st := stepOf(got, s); st.StartedAt != nil {
			t.Errorf("step %s started at %s in a withdrawal called off before it", s, st.StartedAt)
		}
	}
	for _, name := range scenarioApps {
		var d appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d); err != nil {
			t.Fatal(err)
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas == 0 {
			t.Errorf("deployment %s was scaled to %v", name, d.Spec.Replicas)
		}
	}
	var ingressAfter networkingv1.Ingress
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "pk-edge"}, &ingressAfter); err != nil {
		t.Fatal(err)
	}
	if ingressAfter.Generation != ingressBefore.Generation {
		t.Errorf("the Ingress changed: generation %d, was %d", ingressAfter.Generation, ingressBefore.Generation)
	}

	// The ledger verifies, pinned to the key, the withdrawal and its last
	// checkpoint, and tells A, then B, then cancelled.
	got = waitFor("the sealed ledger", 30*time.Second, func(rw *v1.RegionWithdrawal) bool {
		return rw.Status.Evidence != nil && rw.Status.Evidence.Sealed
	})
	r, _ := verifyLedger(t, c, got)
	if r.Seal == nil || r.Seal.Reason != evidence.SealCancelled {
		t.Errorf("the ledger's seal %+v, want %s", r.Seal, evidence.SealCancelled)
	}
	var story []string
	for _, e := range r.Entries {
		switch ev := e.Event.(type) {
		case *evidence.CutoffChanged:
			story = append(story, fmt.Sprintf("moved %s -> %s", ev.From.UTC().Format(time.RFC3339), ev.To.UTC().Format(time.RFC3339)))
		case *evidence.Cancelled:
			story = append(story, "cancelled")
		}
	}
	want := []string{fmt.Sprintf("moved %s -> %s", dateA.UTC().Format(time.RFC3339), dateB.UTC().Format(time.RFC3339)), "cancelled"}
	if strings.Join(story, "; ") != strings.Join(want, "; ") {
		t.Errorf("the ledger tells %q, want %q", story, want)
	}
	t.Logf("%d customers told of A, of the move to B once each, reminded and given the final notice for B, then of the cancellation; the ledger (%d statements) tells %q", len(ids), r.Statements, story)
}

// plainText returns a mail's text/plain part, decoded (the operator's
// mails are multipart/alternative, quoted-printable).
func plainText(t *testing.T, msg *mail.Message) string {
	t.Helper()
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("a mail's Content-Type: %v", err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no text/plain part: %v", err)
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			b, err := io.ReadAll(p) // NextPart decodes quoted-printable
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}

// TestCutoffBroughtForward: with the operator's admission webhook on and a
// minimum notice of a minute, a cutoff brought forward after customers
// were told is refused at admission when it would leave them less, naming
// the notice they were promised and what would be left; brought forward
// leaving more, it is accepted, customers get the Rescheduled notice, and
// CutoffMoved says loudly how much notice they lost.
func TestCutoffBroughtForward(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	const ns = "brought-forward"
	createNamespace(t, c, ns)
	key := []byte("e2e-signing-key")
	hook := testsrv.NewWebhook(key)
	hook.Record = true
	defer hook.Close()
	var csv strings.Builder
	csv.WriteString("id,name,email,webhook,locale\n")
	for i := range 5 {
		fmt.Fprintf(&csv, "w%02d,Customer %d,,%s/hook,en\n", i, i, hook.Server.URL)
	}
	for _, obj := range []client.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "pk-recipients", Namespace: ns}, Data: map[string]string{"list.csv": csv.String()}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pk-webhook", Namespace: ns}, Data: map[string][]byte{"hmac-key": key}},
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	// The webhook serves on loopback, where the simulated cluster's API
	// server runs too, with a certificate of its own.
	cert, certPEM, err := testsrv.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	certDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(certDir, "tls.crt"), certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certDir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	startNamedOperator(t, "operator", "--watch-namespaces="+ns, "--namespace="+ns, "--evidence-key-secret="+evidenceKeySecret,
		"--webhook-bind-address="+addr, "--webhook-cert-dir="+certDir, "--min-notice=60s", "--min-notice-floor=30s")
	url := "https://" + addr + admission.CutoffNoticePath
	fail, none := admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-" + ns},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:         "cutoff-notice.withdrawal.ops.dev",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: certPEM},
			Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{v1.GroupVersion.Group}, APIVersions: []string{"*"}, Resources: []string{"regionwithdrawals"}}}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
			MatchConditions:         []admissionregistrationv1.MatchCondition{{Name: "cutoff-brought-forward", Expression: "object.spec.cutoff < oldObject.spec.cutoff"}},
			FailurePolicy:           &fail,
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	if err := c.Create(ctx, vwc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), vwc) })

	dateA := time.Now().Add(5 * time.Minute).Truncate(time.Second)
	at := func(d time.Duration) v1.Moment { return v1.Moment{Offset: &metav1.Duration{Duration: d}} }
	zero := at(0)
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: ns},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Cutoff: metav1.NewTime(dateA), TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: regionLabels},
			Notify: &v1.NotifyStep{
				Announce: at(-5*time.Minute + 10*time.Second), Final: at(-20 * time.Second),
				Recipients: v1.RecipientSources{ConfigMaps: []v1.RecipientObjectRef{{Name: "pk-recipients", Format: v1.RecipientFormatCSV}}},
				Webhook: &v1.WebhookChannel{SigningSecretRef: v1.SecretKeyReference{Name: "pk-webhook", Key: "hmac-key"}, CABundle: hook.CAPEM(),
					Limits: v1.DeliveryLimits{RatePerSecond: 50, Concurrency: 4, MaxAttempts: 5, Timeout: &metav1.Duration{Duration: 3 * time.Second}}},
			},
			Routing: &v1.RoutingStep{At: &zero, Mode: v1.RoutingBlock451},
		},
	}
	if err := c.Create(ctx, rw); err != nil {
		t.Fatal(err)
	}
	var got v1.RegionWithdrawal
	eventually(t, "the announcement", func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(rw), &got); err != nil {
			return false, err
		}
		return got.Status.Cutoff != nil && got.Status.Cutoff.Promised != nil && got.Status.Notify.Notices[0].FinishedAt != nil, nil
	})
	move := func(to time.Time, opts ...client.PatchOption) error {
		var cur v1.RegionWithdrawal
		if err := c.Get(ctx, client.ObjectKeyFromObject(rw), &cur); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(cur.DeepCopy())
		cur.Spec.Cutoff = metav1.NewTime(to)
		return c.Patch(ctx, &cur, patch, opts...)
	}

	// Thirty seconds' notice: refused, naming both periods. The API server
	// loads the webhook configuration and the operator starts its server
	// asynchronously; until both are ready the (dry-run) move is refused
	// for another reason, never let through (failurePolicy: Fail).
	soon := time.Now().Add(30 * time.Second).Truncate(time.Second)
	var refusal error
	eventually(t, "the webhook refusing a cutoff thirty seconds away", func(context.Context) (bool, error) {
		refusal = move(soon, client.DryRunAll)
		return refusal != nil && strings.Contains(refusal.Error(), "leaves customers"), nil
	})
	if err := move(soon); err == nil || !strings.Contains(err.Error(), "they were told of "+dateA.UTC().Format(time.RFC3339)) || !strings.Contains(err.Error(), "at least 1m0s must be left") {
		t.Fatalf("bringing the cutoff forward to thirty seconds away: %v", err)
	}
	// An author cannot waive the minimum below the installation's floor.
	var cur v1.RegionWithdrawal
	if err := c.Get(ctx, client.ObjectKeyFromObject(rw), &cur); err != nil {
		t.Fatal(err)
	}
	waive := client.MergeFrom(cur.DeepCopy())
	cur.Spec.Notify.MinNotice = &metav1.Duration{Duration: 10 * time.Second}
	cur.Spec.Cutoff = metav1.NewTime(soon)
	if err := c.Patch(ctx, &cur, waive); err == nil || !strings.Contains(err.Error(), "below the 30s this installation allows") {
		t.Fatalf("waiving the minimum notice while bringing the cutoff forward: %v", err)
	}

	// Two minutes' notice: accepted, told, and said loudly.
	dateB := time.Now().Add(2 * time.Minute).Truncate(time.Second)
	if err := move(dateB); err != nil {
		t.Fatalf("bringing the cutoff forward to two minutes away: %v", err)
	}
	eventually(t, "the Rescheduled notice and CutoffMoved", func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(rw), &got); err != nil {
			return false, err
		}
		moved := meta.FindStatusCondition(got.Status.Conditions, v1.ConditionCutoffMoved)
		for _, n := range got.Status.Notify.Notices {
			if n.ID == "rescheduled-1" && n.FinishedAt != nil && n.Sent == 5 {
				return moved != nil && moved.Status == metav1.ConditionTrue && moved.Reason == v1.ReasonNoticeShortened, nil
			}
		}
		return false, nil
	})
	moved := meta.FindStatusCondition(got.Status.Conditions, v1.ConditionCutoffMoved)
	if lost := dateA.Sub(dateB).Round(time.Second).String(); !strings.Contains(moved.Message, lost+" earlier than the") {
		t.Errorf("CutoffMoved does not say customers lose %s: %s", lost, moved.Message)
	}
	for i := range 5 {
		var n int
		for _, d := range hook.Deliveries(fmt.Sprintf("w%02d", i)) {
			if d.Body.Notice.ID == "rescheduled-1" {
				n++
				if !d.Body.Cutoff.Equal(dateB) || d.Body.PreviousCutoff == nil || !d.Body.PreviousCutoff.Equal(dateA) {
					t.Errorf("w%02d: the Rescheduled notice says %s, before %v", i, d.Body.Cutoff, d.Body.PreviousCutoff)
				}
			}
		}
		if n != 1 {
			t.Errorf("w%02d got the Rescheduled notice %d times", i, n)
		}
	}
	var events corev1.EventList
	if err := c.List(ctx, &events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	warned := false
	for _, e := range events.Items {
		warned = warned || e.Reason == v1.ReasonNoticeShortened && e.Type == corev1.EventTypeWarning
	}
	if !warned {
		t.Error("no NoticeShortened Warning Event")
	}
	t.Logf("refused: %v; accepted two minutes' notice: %s", refusal, moved.Message)
}
