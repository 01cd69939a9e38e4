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

package controllers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/dryrun"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/metrics"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients/sources"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

// The Pakistan timeline: cutoff 30 December 2026 00:00 PKT (19:00 UTC on the 29th).
var (
	cutoff             = mustTime("2026-12-29T19:00:00Z")
	beforeAnnouncement = mustTime("2026-11-20T10:00:00Z")
	announcementDue    = mustTime("2026-11-29T19:00:00Z")
	firstReminder      = mustTime("2026-11-30T04:00:00Z")
	secondReminder     = mustTime("2026-12-07T04:00:00Z")
	exportStart        = mustTime("2026-12-22T19:00:00Z")
	drainStart         = mustTime("2026-12-27T19:00:00Z")
	finalNoticeDue     = mustTime("2026-12-28T19:00:00Z")
)

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func offset(d time.Duration) v1.Moment { return v1.Moment{Offset: &metav1.Duration{Duration: d}} }

// harness drives the reconciler by hand against the real API server, with a
// fake clock, so each instant of the timeline can be inspected.
type harness struct {
	t     *testing.T
	ctx   context.Context
	c     client.Client
	clock *clocktesting.FakeClock
	rec   *events.FakeRecorder
	r     *RegionWithdrawalReconciler
	ns    string
	key   types.NamespacedName
	// calls counts Execute calls per action ID, across reconcilers.
	calls *countingExecutor
	// ledger is the evidence ledger realExecutors turned on, if it did.
	ledger *ledger.Ledger
}

// countingExecutor wraps the rehearsal and counts how often each action is
// carried out, so tests can prove nothing runs twice.
type countingExecutor struct {
	inner executor.Executor
	n     map[string]*atomic.Int32
}

func (c *countingExecutor) Execute(ctx context.Context, rw *v1.RegionWithdrawal, a planner.Action) (executor.Result, error) {
	if c.n[a.ID] == nil {
		c.n[a.ID] = &atomic.Int32{}
	}
	c.n[a.ID].Add(1)
	return c.inner.Execute(ctx, rw, a)
}

func (c *countingExecutor) ReadOnly() bool { return true }

var nsCounter atomic.Int32

func newHarness(t *testing.T, now time.Time) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ns := fmt.Sprintf("rw-test-%d", nsCounter.Add(1))
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ctx: ctx, c: env.Client, clock: clocktesting.NewFakeClock(now), ns: ns,
		calls: &countingExecutor{n: map[string]*atomic.Int32{}}}
	h.calls.inner = &dryrun.Executor{Targets: &targets.Resolver{Reader: env.Client}, Recipients: &sources.Objects{Reader: env.Client}}
	h.restart()
	return h
}

// restart builds a new reconciler, as a restarted controller would: it
// keeps nothing but what is in the API server.
func (h *harness) restart() {
	h.rec = events.NewFakeRecorder(1000)
	h.r = &RegionWithdrawalReconciler{
		Client: env.Client, APIReader: env.Client, Recorder: h.rec, Clock: h.clock,
		Executors: executor.Set{}, Rehearsal: h.calls, Metrics: metrics.New(h.clock), Evidence: h.ledger,
	}
}

// regionApp creates two Deployments, a StatefulSet, a Service and an
// Ingress that belong to the region, one Deployment that does not, and a
// ConfigMap of recipients with one malformed row.
func (h *harness) regionApp() {
	h.t.Helper()
	pk := map[string]string{"bes.example.com/region": "pk"}
	replicas := int32(2)
	podTemplate := func(app string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example/app:1"}}},
		}
	}
	for _, d := range []struct {
		name   string
		labels map[string]string
	}{{"messaging", pk}, {"gateway", pk}, {"billing-global", map[string]string{"bes.example.com/region": "global"}}} {
		h.create(&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: d.name, Namespace: h.ns, Labels: d.labels},
			Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": d.name}},
				Template: podTemplate(d.name)},
		})
	}
	h.create(&appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "store", Namespace: h.ns, Labels: pk},
		Spec: appsv1.StatefulSetSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "store"}},
			Template: podTemplate("store")},
	})
	h.create(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "messaging", Namespace: h.ns, Labels: pk},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "messaging"}, Ports: []corev1.ServicePort{{Port: 443, TargetPort: intstr.FromInt32(8443)}}},
	})
	prefix := networkingv1.PathTypePrefix
	h.create(&networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "pk-edge", Namespace: h.ns, Labels: pk},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "pk.bes.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{
				Service: &networkingv1.IngressServiceBackend{Name: "messaging", Port: networkingv1.ServiceBackendPort{Number: 443}}}}}}}}}},
	})
	h.create(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "pk-recipients", Namespace: h.ns},
		Data: map[string]string{"customers.csv": "id,name,email,webhook,locale\n" +
			"c1,Acme,ops@acme.example,,en\n" +
			"c2,Globex,,https://hooks.globex.example/n,ur\n" +
			"c3,Broken,not-an-address,,en\n"},
	})
}

func (h *harness) create(obj client.Object) {
	h.t.Helper()
	if err := h.c.Create(h.ctx, obj); err != nil {
		h.t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// pakistan is the Pakistan sample, as a rehearsal, in the harness namespace.
func (h *harness) pakistan(mutate ...func(*v1.RegionWithdrawalSpec)) *v1.RegionWithdrawal {
	at := offset(0)
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: h.ns},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Cutoff: metav1.NewTime(cutoff), TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"bes.example.com/region": "pk"}},
			DryRun:   true,
			Notify: &v1.NotifyStep{
				Announce:   offset(-720 * time.Hour),
				Reminders:  &v1.ReminderSchedule{Schedule: "0 9 * * MON"},
				Final:      offset(-24 * time.Hour),
				Recipients: v1.RecipientSources{ConfigMaps: []v1.RecipientObjectRef{{Name: "pk-recipients"}}},
				Webhook:    &v1.WebhookChannel{SigningSecretRef: v1.SecretKeyReference{Name: "pk-webhook", Key: "hmac"}},
			},
			Export:  &v1.ExportStep{Start: offset(-168 * time.Hour), Deadline: offset(-72 * time.Hour), JobTemplate: exportJobTemplate()},
			Drain:   &v1.DrainStep{Start: offset(-48 * time.Hour)},
			Routing: &v1.RoutingStep{At: &at},
		},
	}
	for _, m := range mutate {
		m(&rw.Spec)
	}
	h.create(rw)
	h.key = client.ObjectKeyFromObject(rw)
	return rw
}

// reconcile runs one reconcile at the fake clock's instant. A transient
// error fails the test; a terminal one is returned.
func (h *harness) reconcile() (ctrl.Result, error) {
	h.t.Helper()
	res, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key})
	if err != nil && !errors.Is(err, reconcile.TerminalError(nil)) {
		h.t.Fatalf("reconcile at %s: %v", h.clock.Now(), err)
	}
	return res, err
}

// at moves the clock to t and reconciles.
func (h *harness) at(t time.Time) ctrl.Result {
	h.t.Helper()
	h.clock.SetTime(t)
	res, err := h.reconcile()
	if err != nil {
		h.t.Fatalf("reconcile at %s: %v", t, err)
	}
	return res
}

func (h *harness) get() *v1.RegionWithdrawal {
	h.t.Helper()
	rw := &v1.RegionWithdrawal{}
	if err := h.c.Get(h.ctx, h.key, rw); err != nil {
		h.t.Fatal(err)
	}
	return rw
}

func (h *harness) update(mutate func(*v1.RegionWithdrawalSpec)) {
	h.t.Helper()
	// A running manager may write status between the read and the
	// update; read again and reapply, as kubectl edit would.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		rw := h.get()
		mutate(&rw.Spec)
		return h.c.Update(h.ctx, rw)
	}); err != nil {
		h.t.Fatal(err)
	}
}

// events drains the Events recorded so far.
func (h *harness) events() []string {
	var out []string
	for {
		select {
		case e := <-h.rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func hasEvent(evs []string, substrings ...string) bool {
	for _, e := range evs {
		all := true
		for _, s := range substrings {
			all = all && strings.Contains(e, s)
		}
		if all {
			return true
		}
	}
	return false
}

func step(rw *v1.RegionWithdrawal, name v1.StepName) v1.StepStatus {
	for _, s := range rw.Status.Steps {
		if s.Name == name {
			return s
		}
	}
	return v1.StepStatus{}
}

func condition(rw *v1.RegionWithdrawal, typ string) metav1.Condition {
	for _, c := range rw.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

func exportJobTemplate() batchv1.JobTemplateSpec {
	return batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers:    []corev1.Container{{Name: "exporter", Image: "example/exporter:1"}},
	}}}}
}
