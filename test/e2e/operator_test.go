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
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/testenv"
)

// receiver is a real HTTPS webhook receiver that checks every signature.
type receiver struct {
	srv *httptest.Server
	key []byte

	mu        sync.Mutex
	got       map[string]map[string]string // notice kind -> recipient -> idempotency key
	badSigned int
}

func newReceiver(key []byte) *receiver {
	r := &receiver{key: key, got: map[string]map[string]string{}}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		mac := hmac.New(sha256.New, r.key)
		mac.Write([]byte(req.Header.Get("X-Withdrawal-Timestamp") + "." + string(body)))
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		var msg struct {
			Notice    struct{ Kind string } `json:"notice"`
			Recipient struct{ ID string }   `json:"recipient"`
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if !hmac.Equal([]byte(want), []byte(req.Header.Get("X-Withdrawal-Signature"))) || json.Unmarshal(body, &msg) != nil {
			r.badSigned++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if r.got[msg.Notice.Kind] == nil {
			r.got[msg.Notice.Kind] = map[string]string{}
		}
		if prev, ok := r.got[msg.Notice.Kind][msg.Recipient.ID]; ok && prev != req.Header.Get("Idempotency-Key") {
			r.badSigned++ // a duplicate with another key breaks the contract
		}
		r.got[msg.Notice.Kind][msg.Recipient.ID] = req.Header.Get("Idempotency-Key")
		w.WriteHeader(http.StatusAccepted)
	}))
	return r
}

func (r *receiver) count(kind string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got[kind])
}

func (r *receiver) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.srv.Certificate().Raw})
}

var (
	buildOnce   sync.Once
	operatorBin string
	buildErr    error
)

// operatorBinary builds the operator once for the whole package.
func operatorBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rwo-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		operatorBin = filepath.Join(dir, "region-withdrawal-operator")
		build := exec.Command("go", "build", "-o", operatorBin, ".")
		build.Dir = testenv.RepoRoot()
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building the operator: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return operatorBin
}

// operatorProcess is the operator binary running against the simulated
// cluster; the chaos tests kill it and start it again.
type operatorProcess struct {
	t    *testing.T
	args []string
	cmd  *exec.Cmd
	done chan struct{}
	out  *syncBuffer
}

// startOperator runs the operator against the simulated cluster and stops
// it when the test ends.
func startOperator(t *testing.T, args ...string) *operatorProcess {
	t.Helper()
	p := &operatorProcess{t: t, out: &syncBuffer{},
		args: append([]string{"--kubeconfig", kwok.Kubeconfig, "--metrics-bind-address=0", "--health-probe-bind-address=0"}, args...)}
	p.start()
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("operator output:\n%s", p.out.String())
		}
	})
	return p
}

func (p *operatorProcess) start() {
	p.t.Helper()
	p.cmd = exec.Command(operatorBinary(p.t), p.args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(p.cmd, p.done)
}

// stop sends sig and waits for the process to exit (SIGKILL after 30s).
func (p *operatorProcess) stop(sig syscall.Signal) {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// syncBuffer is a buffer safe for the process's writes and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(b)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestOperatorRunsACompressedWithdrawal runs the operator binary on the
// simulated cluster through a whole withdrawal squeezed into a minute and a
// half: notices to a real HTTPS receiver, a batched drain that empties the
// EndpointSlices before the cutoff, and routing switched to the 451 notice
// backend at the cutoff.
func TestOperatorRunsACompressedWithdrawal(t *testing.T) {
	runCompressedWithdrawal(t, "operator-e2e", nil)
}

// TestOperatorKilledDuringAWithdrawal kills the operator with SIGKILL at
// three random moments of the same withdrawal — during the notices, the
// drain and around the cutoff — and starts it again after a short downtime.
// The invariants are checked, not assumed: every recipient got every notice
// (a duplicate only under the same idempotency key), the status counts equal
// what the receiver saw, the drain finished before the cutoff, routing
// switched, and nothing is left Stalled. `-run Killed -count 5` runs it more.
func TestOperatorKilledDuringAWithdrawal(t *testing.T) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	runCompressedWithdrawal(t, "chaos-e2e", func(op *operatorProcess, start, cutoff time.Time) {
		// One kill in each third of the run, the last one close to the cutoff.
		span := cutoff.Sub(start)
		for i := range 3 {
			at := start.Add(span*time.Duration(i)/3 + time.Duration(rng.Int64N(int64(span/3))))
			time.Sleep(time.Until(at)) // the chaos schedule itself, not a synchronisation
			op.stop(syscall.SIGKILL)
			down := time.Duration(500+rng.IntN(2500)) * time.Millisecond
			t.Logf("killed the operator at %s before the cutoff; down for %s", cutoff.Sub(time.Now()).Round(time.Millisecond), down)
			time.Sleep(down)
			op.start()
		}
	})
}

// runCompressedWithdrawal runs a whole withdrawal squeezed into about a
// minute and a quarter, with chaos (if any) running alongside, and checks
// the invariants at the end.
func runCompressedWithdrawal(t *testing.T, ns string, chaos func(op *operatorProcess, start, cutoff time.Time)) {
	ctx := context.Background()
	c := newClient(t)
	createNamespace(t, c, ns)
	apps := []string{"messaging", "gateway", "media"}
	for _, name := range apps {
		app(t, c, ns, name, regionLabels)
	}
	if err := c.Create(ctx, regionIngress(ns, "pk-edge", regionLabels)); err != nil {
		t.Fatal(err)
	}

	key := []byte("e2e-signing-key")
	rcv := newReceiver(key)
	defer rcv.srv.Close()
	var csv strings.Builder
	csv.WriteString("id,name,email,webhook,locale\n")
	const recipients = 25
	for i := range recipients {
		fmt.Fprintf(&csv, "c%02d,Customer %d,,%s/hook,ur\n", i, i, rcv.srv.URL)
	}
	for _, obj := range []client.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "pk-recipients", Namespace: ns}, Data: map[string]string{"list.csv": csv.String()}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pk-webhook", Namespace: ns}, Data: map[string][]byte{"hmac-key": key}},
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	op := startOperator(t, "--watch-namespaces="+ns)

	offset := func(d time.Duration) v1.Moment { return v1.Moment{Offset: &metav1.Duration{Duration: d}} }
	zero := offset(0)
	one := intstr.FromInt32(1)
	cutoff := time.Now().Add(75 * time.Second).Truncate(time.Second)
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: ns},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Cutoff: metav1.NewTime(cutoff), TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: regionLabels},
			Notify: &v1.NotifyStep{
				Announce: offset(-60 * time.Second), Final: offset(-25 * time.Second),
				Recipients: v1.RecipientSources{ConfigMaps: []v1.RecipientObjectRef{{Name: "pk-recipients", Format: v1.RecipientFormatCSV}}},
				Webhook: &v1.WebhookChannel{SigningSecretRef: v1.SecretKeyReference{Name: "pk-webhook", Key: "hmac-key"}, CABundle: rcv.caPEM(),
					Limits: v1.DeliveryLimits{RatePerSecond: 100, Concurrency: 8, MaxAttempts: 5, Timeout: &metav1.Duration{Duration: 5 * time.Second}}},
			},
			Drain:   &v1.DrainStep{Start: offset(-45 * time.Second), MaxUnavailable: &one, Interval: &metav1.Duration{Duration: 3 * time.Second}, Timeout: &metav1.Duration{Duration: 40 * time.Second}},
			Routing: &v1.RoutingStep{At: &zero, Mode: v1.RoutingBlock451},
		},
	}
	if err := c.Create(ctx, rw); err != nil {
		t.Fatal(err)
	}
	if chaos != nil {
		chaosDone := make(chan struct{})
		go func() { defer close(chaosDone); chaos(op, time.Now(), cutoff) }()
		defer func() { <-chaosDone }()
	}

	// Everything is done, at the latest, a little after the cutoff.
	// (With chaos, the last kill is before the cutoff; the poll below also
	// waits through any restart.)
	var got v1.RegionWithdrawal
	if err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Until(cutoff)+60*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(rw), &got); err != nil {
			return false, err
		}
		return got.Status.Phase == v1.PhaseCompleted, nil
	}); err != nil {
		t.Fatalf("the withdrawal did not complete: phase %s, steps %+v, conditions %+v", got.Status.Phase, got.Status.Steps, got.Status.Conditions)
	}

	// Every recipient got the announcement and the final notice, signed.
	for _, kind := range []string{"Announcement", "Final"} {
		if n := rcv.count(kind); n != recipients {
			t.Errorf("%d of %d recipients got the %s", n, recipients, kind)
		}
	}
	// The status counts equal what the receiver saw.
	for _, n := range got.Status.Notify.Notices {
		if n.Kind == v1.NoticeAnnouncement || n.Kind == v1.NoticeFinal {
			if int(n.Sent) != rcv.count(string(n.Kind)) || n.Failed != 0 || n.Pending != 0 {
				t.Errorf("%s: status says sent %d failed %d pending %d; the receiver saw %d", n.ID, n.Sent, n.Failed, n.Pending, rcv.count(string(n.Kind)))
			}
		}
	}
	if rcv.badSigned != 0 {
		t.Errorf("%d deliveries had a bad signature or changed their idempotency key", rcv.badSigned)
	}
	// The drain emptied every Service of the region before the cutoff.
	drainStep, routingStep := stepOf(&got, v1.StepDrain), stepOf(&got, v1.StepRouting)
	if drainStep.State != v1.StepSucceeded || drainStep.FinishedAt == nil || drainStep.FinishedAt.After(cutoff) {
		t.Errorf("drain = %+v, want finished before the cutoff %s", drainStep, cutoff)
	}
	for _, name := range apps {
		if n, err := readyEndpoints(ctx, c, ns, name); err != nil || n != 0 {
			t.Errorf("Service %s has %d ready endpoints (%v) after the drain", name, n, err)
		}
	}
	// Routing switched at the cutoff.
	ing := &networkingv1.Ingress{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "pk-edge"}, ing); err != nil {
		t.Fatal(err)
	}
	if svc := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name; !strings.HasPrefix(svc, "rwo-notice-") {
		t.Errorf("the Ingress routes to %q, want the notice backend", svc)
	}
	if routingStep.StartedAt == nil || routingStep.Lateness == nil {
		t.Fatalf("routing = %+v", routingStep)
	}
	t.Logf("routing started %s after the cutoff; finished at %s", routingStep.Lateness.Duration, routingStep.FinishedAt)
	// The stated bound: even with the operator killed just before the
	// cutoff (down for up to 3 s, then a restart), routing starts within 15 s.
	if routingStep.Lateness.Duration > 15*time.Second {
		t.Errorf("routing started %s after the cutoff, over the 15 s bound", routingStep.Lateness.Duration)
	}
	if strings.Contains(op.out.String(), "panic") {
		t.Errorf("the operator panicked:\n%s", op.out.String())
	}
	for _, cond := range got.Status.Conditions {
		if cond.Type == v1.ConditionStalled && cond.Status == metav1.ConditionTrue {
			t.Errorf("Stalled left behind: %+v", cond)
		}
	}
}

func stepOf(rw *v1.RegionWithdrawal, name v1.StepName) v1.StepStatus {
	for _, s := range rw.Status.Steps {
		if s.Name == name {
			return s
		}
	}
	return v1.StepStatus{}
}
