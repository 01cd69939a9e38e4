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
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
)

// scenario is the Pakistan withdrawal compressed to a few minutes, run by
// the operator binary on the simulated cluster, with faults (if any)
// injected alongside. The timeline, relative to the cutoff:
//
//	-lead+10s  announcement (webhook and email), then a reminder every
//	           minute ("* * * * *" in Asia/Karachi)
//	-lead+15s  export starts (one Job per namespace; the test plays the
//	           exporter), deadline 40 s later
//	-90s       drain starts: one Deployment every 3 s; timeout 85 s
//	-60s       final notice
//	0          routing switches to the 451 notice backend
type scenario struct {
	name string
	// lead is how long before the cutoff the withdrawal is created;
	// zero means 150 s.
	lead time.Duration
	// replicas is how many operator processes run; with more than one
	// they elect a leader.
	replicas int
	// leaderElect runs a single replica with leader election too, as the
	// chart does.
	leaderElect bool
	// selfExitsAllowed says the operator may exit by itself (leader
	// election lost while the API server is down); it is restarted then.
	selfExitsAllowed bool
	// routingBound is the stated bound: the Ingress is switched at most
	// this long after the cutoff (from the API server's audit log).
	routingBound time.Duration
	// flap makes the webhook receiver fail (errors and timeouts) for this
	// long from the announcement on.
	flap time.Duration
	// faults runs alongside the withdrawal.
	faults func(w *world)
}

// world is what a scenario's faults act on.
type world struct {
	t        *testing.T
	ns       string
	ops      []*operatorProcess
	webhook  *testsrv.Webhook
	created  time.Time
	announce time.Time
	drain    time.Time
	final    time.Time
	cutoff   time.Time
}

// until sleeps until at. It schedules faults; it never waits for a result.
func until(at time.Time) { time.Sleep(time.Until(at)) }

// leader returns the operator process that holds the lease, waiting for
// one to take it (a minute at most).
func (w *world) leader() *operatorProcess {
	var found *operatorProcess
	_ = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		for _, op := range w.ops {
			if op.leading() {
				found = op
				return true, nil
			}
		}
		return false, nil
	})
	return found
}

// stopAPIServer kills the kube-apiserver at the given moment and starts it
// again down later.
func (w *world) stopAPIServer(at time.Time, down time.Duration) {
	until(at)
	start, err := kwok.StopAPIServer()
	if err != nil {
		w.t.Errorf("stopping the API server: %v", err)
		return
	}
	w.t.Logf("chaos: API server stopped %s before the cutoff, for %s", w.cutoff.Sub(time.Now()).Round(time.Millisecond), down)
	time.Sleep(down)
	if err := start(); err != nil {
		w.t.Errorf("starting the API server again: %v", err)
		return
	}
	w.t.Logf("chaos: API server ready again %s before the cutoff", w.cutoff.Sub(time.Now()).Round(time.Millisecond))
}

const (
	webhookRecipients = 25
	emailRecipients   = 10
)

var scenarioApps = []string{"messaging", "gateway", "media"}

// evidenceKeySecret is the evidence key the scenarios' operators sign with.
const evidenceKeySecret = "e2e-evidence-key"

func runScenario(t *testing.T, sc scenario) {
	ctx := context.Background()
	c := newClient(t)
	ns := sc.name
	createNamespace(t, c, ns)
	for _, name := range scenarioApps {
		app(t, c, ns, name, regionLabels)
	}
	if err := c.Create(ctx, regionIngress(ns, "pk-edge", regionLabels)); err != nil {
		t.Fatal(err)
	}

	// Real receivers: an HTTPS webhook that checks signatures, and an SMTP
	// server with STARTTLS and AUTH.
	key := []byte("e2e-signing-key")
	hook := testsrv.NewWebhook(key)
	hook.Record = true
	defer hook.Close()
	mail, err := testsrv.NewSMTP(true)
	if err != nil {
		t.Fatal(err)
	}
	defer mail.Close()
	var csv strings.Builder
	csv.WriteString("id,name,email,webhook,locale\n")
	for i := range webhookRecipients {
		fmt.Fprintf(&csv, "w%02d,Customer %d,,%s/hook,ur\n", i, i, hook.Server.URL)
	}
	for i := range emailRecipients {
		fmt.Fprintf(&csv, "e%02d,Customer %d,e%02d@example.com,,en\n", i, i, i)
	}
	for _, obj := range []client.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "pk-recipients", Namespace: ns}, Data: map[string]string{"list.csv": csv.String()}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pk-webhook", Namespace: ns}, Data: map[string][]byte{"hmac-key": key}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pk-smtp", Namespace: ns}, Data: map[string][]byte{"username": []byte(mail.Username), "password": []byte(mail.Password)}},
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	// The scenario's namespace stands for the installation's: the evidence
	// ledger and its key live there.
	args := []string{"--watch-namespaces=" + ns, "--namespace=" + ns, "--evidence-key-secret=" + evidenceKeySecret}
	if sc.replicas > 1 || sc.leaderElect {
		args = append(args, "--leader-elect", "--leader-election-namespace="+ns)
	}
	w := &world{t: t, ns: ns, webhook: hook}
	for i := range max(sc.replicas, 1) {
		w.ops = append(w.ops, startNamedOperator(t, fmt.Sprintf("operator-%d", i), args...))
	}

	lead := sc.lead
	if lead == 0 {
		lead = 150 * time.Second
	}
	w.created = time.Now()
	w.cutoff = w.created.Add(lead).Truncate(time.Second)
	// The reminders fire on the minute. Keep the first slot after the
	// announcement (-lead+10s) before the drain: faults injected during
	// the drain (an API server outage) could otherwise hold the only slot
	// until the final notice supersedes it, and the run would have no
	// reminder to check. Moving the cutoff on by up to 12 s does that.
	drainAt := -90 * time.Second
	if slot := w.cutoff.Add(-lead + 11*time.Second).Truncate(time.Minute).Add(time.Minute); !slot.Before(w.cutoff.Add(drainAt)) {
		w.cutoff = w.cutoff.Add(slot.Sub(w.cutoff.Add(drainAt)) + time.Second)
	}
	at := func(d time.Duration) v1.Moment { return v1.Moment{Offset: &metav1.Duration{Duration: d}} }
	announce, exportStart := -lead+10*time.Second, -lead+15*time.Second
	w.announce, w.drain, w.final = w.cutoff.Add(announce), w.cutoff.Add(drainAt), w.cutoff.Add(-60*time.Second)
	zero, one := at(0), intstr.FromInt32(1)
	// Slow enough (5 s for the 25 webhooks) that a kill two seconds into a
	// notice lands while it is being sent.
	limits := v1.DeliveryLimits{RatePerSecond: 5, Concurrency: 8, MaxAttempts: 10, Timeout: &metav1.Duration{Duration: 3 * time.Second}}
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: ns},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Cutoff: metav1.NewTime(w.cutoff), TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: regionLabels},
			Notify: &v1.NotifyStep{
				Announce: at(announce), Final: at(-60 * time.Second),
				Reminders:  &v1.ReminderSchedule{Schedule: "* * * * *"},
				Recipients: v1.RecipientSources{ConfigMaps: []v1.RecipientObjectRef{{Name: "pk-recipients", Format: v1.RecipientFormatCSV}}},
				Webhook:    &v1.WebhookChannel{SigningSecretRef: v1.SecretKeyReference{Name: "pk-webhook", Key: "hmac-key"}, CABundle: hook.CAPEM(), Limits: limits},
				Email: &v1.EmailChannel{Host: "127.0.0.1", Port: int32(mail.Addr.Port), Security: v1.SMTPStartTLS,
					From: "Service Notices <notices@example.com>", CredentialsSecretRef: &v1.LocalObjectReference{Name: "pk-smtp"},
					CABundle: mail.CertPEM, Limits: limits},
			},
			Export: &v1.ExportStep{Start: at(exportStart), Deadline: at(exportStart + 40*time.Second), Per: v1.ExportPerNamespace, MaxAttempts: 3,
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					SchedulingGates: []corev1.PodSchedulingGate{{Name: exportGate}}, RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "exporter", Image: "ghcr.io/ops-dev/region-withdrawal-operator:v0.1.0", Args: []string{"export", "--source=/data"}}},
				}}}}},
			// The timeout leaves room for a 30 s API server outage during the
			// drain: the controller manager's watches back off up to 30 s
			// before it deletes the pods of a Deployment scaled meanwhile.
			Drain:   &v1.DrainStep{Start: at(drainAt), MaxUnavailable: &one, Interval: &metav1.Duration{Duration: 3 * time.Second}, Timeout: &metav1.Duration{Duration: 85 * time.Second}},
			Routing: &v1.RoutingStep{At: &zero, Mode: v1.RoutingBlock451},
		},
	}
	if sc.flap > 0 {
		hook.Fail = flapping(w.announce.Add(-time.Second), w.announce.Add(sc.flap), limits.Timeout.Duration)
	}
	if err := c.Create(ctx, rw); err != nil {
		t.Fatal(err)
	}

	// The exporter and the faults run alongside until the end.
	runCtx, stopRun := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Go(func() { playExporter(runCtx, c, ns) })
	if sc.faults != nil {
		bg.Go(func() { sc.faults(w) })
	}
	defer func() { stopRun(); bg.Wait() }()

	var got v1.RegionWithdrawal
	if err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Until(w.cutoff)+90*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(rw), &got); err != nil {
			return false, nil // the API server may be down: try again
		}
		return got.Status.Phase == v1.PhaseCompleted, nil
	}); err != nil {
		if out, err := kwok.Kubectl("get", "deployments,replicasets,pods,endpointslices", "-n", ns, "-o", "wide"); err == nil {
			t.Logf("namespace %s:\n%s", ns, out)
		}
		if out, err := kwok.Kubectl("get", "pods", "-n", ns, "-o", "custom-columns=NAME:.metadata.name,DELETED:.metadata.deletionTimestamp,PHASE:.status.phase,NODE:.spec.nodeName"); err == nil {
			t.Logf("%s", out)
		}
		t.Fatalf("the withdrawal did not complete: phase %s, steps %+v, conditions %+v", got.Status.Phase, got.Status.Steps, got.Status.Conditions)
	}
	stopRun()
	bg.Wait()

	received := checkNotices(t, &got, hook, mail)
	checkEvidence(t, c, &got, received)
	checkDrainAndRouting(t, c, &got, w, sc.routingBound)
	for _, op := range w.ops {
		if out := op.out.String(); strings.Contains(out, "panic:") {
			t.Errorf("%s panicked:\n%s", op.name, out)
		}
		if n := op.exitsByItself(); n > 0 && !sc.selfExitsAllowed {
			t.Errorf("%s exited by itself %d times", op.name, n)
		}
	}
	for _, cond := range got.Status.Conditions {
		if cond.Type == v1.ConditionStalled && cond.Status == metav1.ConditionTrue {
			t.Errorf("Stalled left behind: %+v", cond)
		}
	}
}

// playExporter completes every export pod as the reference exporter would:
// its result, as the termination message, names a location, a size and a
// checksum. The pods carry a scheduling gate, so nothing else runs them.
func playExporter(ctx context.Context, c client.Client, ns string) {
	playExporterAt(ctx, c, ns, func(*corev1.Pod) string { return "file:///exports/" + ns + ".tar.gz" })
}

// playExporterAt is playExporter with the archive's location for each pod.
func playExporterAt(ctx context.Context, c client.Client, ns string, location func(*corev1.Pod) string) {
	done := map[string]bool{}
	_ = wait.PollUntilContextCancel(ctx, 300*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(ns), client.HasLabels{executor.LabelWithdrawalUID}); err != nil {
			return false, nil // the API server may be down
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if done[p.Name] || p.Status.Phase == corev1.PodSucceeded {
				continue
			}
			msg := fmt.Sprintf(`{"version":1,"location":%q,"bytes":4096,"sha256":"%s","encrypted":false}`, location(p), strings.Repeat("cd", 32))
			now := metav1.Now()
			p.Status.Phase = corev1.PodSucceeded
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "exporter", Image: p.Spec.Containers[0].Image, ImageID: "sha256:" + strings.Repeat("ef", 32),
				ContainerID: "containerd://" + p.Name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 0, Reason: "Completed", Message: msg, StartedAt: now, FinishedAt: now}}}}
			if err := c.Status().Update(ctx, p); err == nil {
				done[p.Name] = true
			}
		}
		return false, nil
	})
}

// flapping makes the webhook receiver fail for a while: every other request
// gets a 503, the others hang past the delivery timeout and then get a 504.
func flapping(from, to time.Time, timeout time.Duration) func(string, int, http.ResponseWriter, *http.Request) bool {
	var mu sync.Mutex
	n := 0
	return func(_ string, _ int, w http.ResponseWriter, r *http.Request) bool {
		now := time.Now()
		if now.Before(from) || !now.Before(to) {
			return false
		}
		mu.Lock()
		n++
		hang := n%2 == 0
		mu.Unlock()
		if hang {
			select {
			case <-r.Context().Done():
			case <-time.After(timeout + time.Second):
			}
			http.Error(w, "upstream timed out", http.StatusGatewayTimeout)
			return true
		}
		http.Error(w, "flapping", http.StatusServiceUnavailable)
		return true
	}
}
