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

// Command notify benchmarks the notify executor against envtest and a
// loopback HTTPS webhook receiver: deliveries per second, peak memory of
// this process (VmHWM, reset between phases) and requests to the API server
// per 1,000 recipients, for the batched, checkpointing executor (without
// and with the evidence ledger, whose cost per 100,000 deliveries it
// prints: time, bytes, API requests, and the time to verify it) and for a
// plain sender that sends one recipient at a time and records each delivery
// with one API request. It also prints the CPU time this process and the
// API server and etcd used per 100,000 deliveries, with and without the
// ledger: a figure that depends less than deliveries/s on what else the
// machine runs, though not at all only where a slower run makes no more
// Execute calls (each walks every recipient).
//
// With -http (on by default) it sends the notice once more, to the same
// customers read from a paged HTTP source it serves (pages of 5,000 with
// strong ETags), and prints how many pages were read in full and how many
// answered 304 Not Modified.
//
// With -kill (on by default) it sends the notice once more from a child
// process, this program run again, which it kills with SIGKILL half way
// and starts again: it prints how many recipients the receiver saw, how
// many deliveries repeated a key, and the executor's peak RSS in a
// process of its own.
//
//	go run ./hack/bench/notify [-recipients 100000] [-plain-recipients 2000] [-email] [-store] [-http] [-kill]
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/channel"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/render"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/webhook"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients/sources"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv/s3srv"
)

// evidenceKey is the ledgers' key in every phase and child process.
var evidenceKey = []byte("the notify benchmark's evidence key")

const (
	namespace = "bench"
	key       = "bench-signing-key"
	perObject = 5000
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

type counting struct {
	rt http.RoundTripper
	n  *atomic.Int64
}

func (c counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

type figures struct {
	name       string
	recipients int
	elapsed    time.Duration
	requests   int64
	peakKiB    int64
	// cpu is the CPU time this process, and the API server and etcd (its
	// child processes), used in the phase: less dependent than the elapsed
	// time on what else the machine runs, though a slower run takes more
	// Execute calls, each of which walks every recipient.
	cpu, serverCPU time.Duration
}

func (f figures) rate() float64 { return float64(f.recipients) / f.elapsed.Seconds() }
func (f figures) perK() float64 { return float64(f.requests) * 1000 / float64(f.recipients) }

func run() error {
	ctrl.SetLogger(logr.Discard())
	n := flag.Int("recipients", 100000, "recipients for the batched executor")
	plainN := flag.Int("plain-recipients", 2000, "recipients for the plain one-at-a-time sender (it is slow; its figures are per recipient)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run with the evidence ledger on to this file")
	heapProfile := flag.String("memprofile", "", "write a heap profile to this file half way through the run with the evidence ledger on (in ConfigMaps), and to this file with .http and .tiles appended half way through those phases")
	withEmail := flag.Bool("email", true, "also send the notice to the same recipients by email, to a real SMTP server, against a bare net/smtp sender")
	withStore := flag.Bool("store", true, "also send it with the evidence ledger kept as tiles in a real S3-compatible store (SeaweedFS, bin/weed)")
	withHTTP := flag.Bool("http", true, "also send it, with the ledger on, to the same customers read from a paged HTTP source (strong ETags) the benchmark serves")
	withKill := flag.Bool("kill", true, "also send it, with the ledger on, from a child process killed with SIGKILL half way and started again")
	childKubeconfig := flag.String("child-kubeconfig", "", "(internal) run as the child of the -kill phase, against this kubeconfig")
	childWithdrawal := flag.String("child-withdrawal", "", "(internal) the withdrawal whose notice the child sends")
	flag.Parse()
	if *childKubeconfig != "" {
		return runChild(*childKubeconfig, *childWithdrawal, *n)
	}

	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	var requests atomic.Int64
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 1000, 2000
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return counting{rt: rt, n: &requests} })
	c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		return err
	}
	ctx := context.Background()

	var (
		delivered atomic.Int64
		keys      atomic.Pointer[keyCounter]
	)
	rcv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := bufio.NewReader(r.Body).WriteTo(discard{}); err != nil {
			return
		}
		delivered.Add(1)
		if k := keys.Load(); k != nil {
			k.add(r)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	caPEM := pemOf(rcv)

	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return err
	}
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "webhook-key", Namespace: namespace},
		Data: map[string][]byte{"key": []byte(key)}}); err != nil {
		return err
	}
	objects := (*n + perObject - 1) / perObject
	for o := range objects {
		var b strings.Builder
		b.WriteString("id,name,email,locale,plan\n")
		for i := o * perObject; i < min((o+1)*perObject, *n); i++ {
			// Two in three read Urdu (the ur templates), the rest English.
			fmt.Fprintf(&b, "cust-%06d,Customer %d,billing-%06d@example.com,%s,gold\n", i, i, i, []string{"ur-PK", "ur", "en-GB"}[i%3])
		}
		if err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("recipients-%03d", o), Namespace: namespace},
			Data: map[string]string{"customers.csv": b.String()}}); err != nil {
			return err
		}
	}
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: namespace},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Cutoff: metav1.NewTime(time.Date(2026, 12, 29, 19, 0, 0, 0, time.UTC)), TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"bes.example.com/region": "pk"}},
			Notify: &v1.NotifyStep{
				Announce: v1.Moment{Offset: &metav1.Duration{Duration: -720 * time.Hour}},
				Final:    v1.Moment{Offset: &metav1.Duration{Duration: -24 * time.Hour}},
				Webhook: &v1.WebhookChannel{URL: rcv.URL + "/notices", CABundle: caPEM,
					SigningSecretRef: v1.SecretKeyReference{Name: "webhook-key", Key: "key"},
					Limits:           v1.DeliveryLimits{RatePerSecond: 100000, Concurrency: 64, MaxAttempts: 8}},
				Locales: []v1.LocaleTemplates{{Locale: "ur", NoticeTemplates: v1.NoticeTemplates{Announcement: &v1.NoticeTemplate{
					Subject: "پاکستان میں سروس {{.CutoffDate}} کو بند ہو جائے گی",
					Text:    "محترم {{.Recipient.Name}}، ہم پاکستان میں اپنی سروس {{.CutoffDate}} کو {{.CutoffTime}} پر بند کر دیں گے۔ {{.DaysLeftNumber}} دن باقی ہیں۔",
					HTML:    "<p>محترم {{.Recipient.Name}}،</p><p>{{.CutoffDate}} کو {{.CutoffTime}}</p>",
				}}}},
			},
		},
	}
	for o := range objects {
		rw.Spec.Notify.Recipients.ConfigMaps = append(rw.Spec.Notify.Recipients.ConfigMaps, v1.RecipientObjectRef{Name: fmt.Sprintf("recipients-%03d", o)})
	}
	if err := c.Create(ctx, rw); err != nil {
		return err
	}
	a := announcement(rw)

	// The machine's limit: the same deliveries by a bare net/http client,
	// with the same concurrency, TLS and receiver, and no Kubernetes.
	bare, err := runBare(ctx, *n, rcv.URL+"/notices", caPEM, &delivered)
	if err != nil {
		return fmt.Errorf("bare sender: %w", err)
	}

	// Plain: one recipient at a time, one API request per delivery to
	// record it, which is what crash safety costs without batching.
	plain, err := runPlain(ctx, c, rw, a, *plainN, rcv.URL+"/notices", caPEM, &requests)
	if err != nil {
		return fmt.Errorf("plain sender: %w", err)
	}

	batched, calls, err := runBatched(ctx, c, rw, a, *n, nil, "", &requests, &delivered)
	if err != nil {
		return err
	}

	// The same notice of a second withdrawal (the same recipients), with
	// the evidence ledger on: one signed statement per delivery, appended
	// before each batch's checkpoint.
	evidenceRW := rw.DeepCopy()
	evidenceRW.ObjectMeta = metav1.ObjectMeta{Name: "pakistan-evidence", Namespace: namespace}
	evidenceRW.Status = v1.RegionWithdrawalStatus{}
	if err := c.Create(ctx, evidenceRW); err != nil {
		return err
	}
	// The ledger's writes are counted as what they store in etcd.
	ledgerWrites := &testenv.StoredBytes{Client: c}
	l, err := ledger.New(ledger.Options{Client: ledgerWrites, Reader: c, Namespace: namespace, Key: evidenceKey})
	if err != nil {
		return err
	}
	stopProfile, err := startProfile(*cpuProfile)
	if err != nil {
		return err
	}
	withLedger, _, err := runBatched(ctx, c, evidenceRW, a, *n, l, *heapProfile, &requests, &delivered)
	stopProfile()
	if err != nil {
		return err
	}
	withLedger.name = "batched executor, evidence ledger on"
	cmEtcdBytes := ledgerWrites.Bytes.Load()

	var paged httpFigures
	if *withHTTP {
		if paged, err = runHTTPSource(ctx, c, rw, a, *n, suffixed(*heapProfile, ".http"), &requests, &delivered); err != nil {
			return fmt.Errorf("from the paged HTTP source: %w", err)
		}
	}

	var kill killed
	if *withKill {
		if kill, err = runKilled(ctx, c, env.Config, rw, *n, &keys); err != nil {
			return fmt.Errorf("with a SIGKILL half way: %w", err)
		}
	}

	var mailFigures emailFigures
	if *withEmail {
		if mailFigures, err = runEmail(ctx, c, rw, a, *n, &requests); err != nil {
			return err
		}
	}

	// The ledgers are exported and verified in this process, in memory,
	// after every phase whose peak memory is measured: a verification's
	// heap (about 1.5 GiB at 300,000 statements) leaves the runtime's
	// bookkeeping of it resident, tens of MiB that would count in the
	// phases after it. The object store's phase goes last, for its store
	// is stopped at its end.
	var tiled figures
	var tiledCost cost
	if *withStore {
		if tiled, tiledCost, err = runTiled(ctx, c, rw, a, *n, suffixed(*heapProfile, ".tiles"), &requests, &delivered); err != nil {
			return fmt.Errorf("with the ledger in the object store: %w", err)
		}
	}
	cmCost, err := ledgerCost(ctx, c, evidenceRW, l)
	if err != nil {
		return err
	}
	cmCost.etcdBytes = cmEtcdBytes
	if *withKill {
		if kill.cost, err = ledgerCost(ctx, c, kill.rw, l); err != nil {
			return fmt.Errorf("the ledger of the withdrawal whose sender was killed: %w", err)
		}
	}

	fmt.Printf("notify benchmark: %d recipients by webhook to a loopback HTTPS receiver (envtest API server), two in three in Urdu templates\n\n", *n)
	phases := []figures{bare, batched, withLedger}
	if *withStore {
		phases = append(phases, tiled)
	}
	if *withHTTP {
		phases = append(phases, paged.figures)
	}
	printTable("deliveries/s", append(phases, plain)...)
	fmt.Printf("\nagainst the machine's limit (the bare sender): batched %.2fx, with the ledger %.2fx\n",
		batched.rate()/bare.rate(), withLedger.rate()/bare.rate())
	if *withStore {
		fmt.Printf("with the ledger in the object store: %.2fx\n", tiled.rate()/bare.rate())
	}
	if *withHTTP {
		fmt.Printf("from the paged HTTP source, the ledger on: %.2fx; %d calls, %d pages of %d read in full %d times and answered 304 Not Modified %d times (every call reading every page: %d)\n",
			paged.rate()/bare.rate(), paged.calls, paged.pages, perObject, paged.full, paged.notModified, paged.calls*paged.pages)
	}
	fmt.Printf("\nbatched / plain: %.1fx deliveries/s, %.1fx fewer API requests per 1,000 recipients\n",
		batched.rate()/plain.rate(), plain.perK()/batched.perK())
	fmt.Printf("batched: %d Execute calls, %d receiver deliveries (duplicates: %d)\n", calls, delivered.Load(), delivered.Load()-int64(*n))
	// The goals of a million customers (issue 35): the phases with the
	// ledger on against the limit, and every executor phase's peak.
	slowest, largest := withLedger, batched
	for _, f := range phases[1:] {
		if f.name != batched.name && f.rate() < slowest.rate() {
			slowest = f
		}
		if f.peakKiB > largest.peakKiB {
			largest = f
		}
	}
	fmt.Printf("goals: with the ledger on, >= 0.7x the bare sender: %v (the slowest %.2fx, %s); every phase's peak < 256 MiB: %v (the largest %.1f MiB, %s); API requests per 1,000: %.1f without the ledger, %.1f with it\n",
		slowest.rate() >= 0.7*bare.rate(), slowest.rate()/bare.rate(), slowest.name, largest.peakKiB < 256*1024, float64(largest.peakKiB)/1024, largest.name, batched.perK(), withLedger.perK())

	per100k := 100000 / float64(*n)
	fmt.Printf("\nevidence ledger: %d statements in %d shards, %.1f MiB stored (%.0f bytes per statement), %d checkpoints\n",
		cmCost.statements, cmCost.shards, float64(cmCost.bytes)/(1<<20), float64(cmCost.bytes)/float64(cmCost.statements), cmCost.checkpoints)
	fmt.Printf("evidence ledger per 100,000 deliveries: %.2fs more (%.1fs with, %.1fs without), %.1f MiB, %.0f more API requests (%d with, %d without)\n",
		(withLedger.elapsed-batched.elapsed).Seconds()*per100k, withLedger.elapsed.Seconds()*per100k, batched.elapsed.Seconds()*per100k,
		float64(cmCost.bytes)/(1<<20)*per100k, float64(withLedger.requests-batched.requests)*per100k, withLedger.requests, batched.requests)
	fmt.Printf("CPU per 100,000 deliveries (this process; API server and etcd): batched %.1fs; %.1fs, with the ledger %.1fs; %.1fs: the ledger costs %.1fs; %.1fs more\n",
		batched.cpu.Seconds()*per100k, batched.serverCPU.Seconds()*per100k, withLedger.cpu.Seconds()*per100k, withLedger.serverCPU.Seconds()*per100k,
		(withLedger.cpu-batched.cpu).Seconds()*per100k, (withLedger.serverCPU-batched.serverCPU).Seconds()*per100k)
	fmt.Printf("evidence ledger: exported and verified offline (signatures, every checkpoint's root, consistency, inclusion) in %s (read %s, verify %s)\n",
		(cmCost.read + cmCost.verify).Round(time.Millisecond), cmCost.read.Round(time.Millisecond), cmCost.verify.Round(time.Millisecond))
	fmt.Printf("\nthe ledger's writes to etcd per 1,000 deliveries (the protobuf of each object it wrote): in ConfigMaps %.0f bytes", float64(cmCost.etcdBytes)*1000/float64(*n))
	if *withStore {
		fmt.Printf(", in the object store %.0f bytes (goal <= 1 KiB: %v)\n", float64(tiledCost.etcdBytes)*1000/float64(*n), float64(tiledCost.etcdBytes)*1000/float64(*n) <= 1024)
		fmt.Printf("in the object store: %d statements, read back from the tiles and verified in %s\n", tiledCost.statements, (tiledCost.read + tiledCost.verify).Round(time.Millisecond))
	} else {
		fmt.Println()
	}
	if *withKill {
		fmt.Printf("\nkilled with SIGKILL half way (the executor in a child process, the ledger on, in ConfigMaps): at %d recipients reached, started again, done in %s (%.0f deliveries/s, %.2fx the bare sender, %d calls after the kill)\n",
			kill.atReached, kill.elapsed.Round(time.Millisecond), float64(*n)/kill.elapsed.Seconds(), float64(*n)/kill.elapsed.Seconds()/bare.rate(), kill.child.Calls)
		fmt.Printf("at the receiver: %d of %d recipients reached, %d deliveries sent again under the same key (goal: every one; at most one batch, %d: %v)\n",
			kill.reached, *n, kill.again, notify.DefaultBatchSize, kill.reached == *n && kill.again <= notify.DefaultBatchSize)
		fmt.Printf("the ledger: %d statements, exported and verified in %s\n", kill.cost.statements, (kill.cost.read + kill.cost.verify).Round(time.Millisecond))
		limit := os.Getenv("GOMEMLIMIT")
		if limit == "" {
			limit = childMemoryLimit
		}
		fmt.Printf("the executor's own peak RSS, in its own process without the receiver, GOMEMLIMIT=%s: %.1f MiB before the kill, %.1f MiB after (goal < 256 MiB: %v)\n",
			limit, float64(kill.peakBefore)/1024, float64(kill.child.PeakKiB)/1024, max(kill.peakBefore, kill.child.PeakKiB) < 256*1024)
	}
	if *withEmail {
		fmt.Printf("\nemail: the same %d recipients by SMTP (STARTTLS, AUTH PLAIN) to a loopback go-smtp server, %d connections each\n\n", *n, mailConcurrency)
		printTable("messages/s", mailFigures.bare, mailFigures.executor)
		fmt.Printf("\nemail against the machine's limit (the bare SMTP sender): %.2fx; %d Execute calls\n",
			mailFigures.executor.rate()/mailFigures.bare.rate(), mailFigures.calls)
	}
	return nil
}

// printTable prints the phases' figures, a row each, under a header
// naming the rate's unit.
func printTable(unit string, phases ...figures) {
	fmt.Printf("%-34s %12s %14s %18s %14s\n", "", "recipients", unit, "API req / 1,000", "peak MiB")
	for _, f := range phases {
		fmt.Printf("%-34s %12d %14.0f %18.1f %14.1f\n", f.name, f.recipients, f.rate(), f.perK(), float64(f.peakKiB)/1024)
	}
}

// startProfile starts a CPU profile into path ("" for none) and returns
// what stops it.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	runtime.GC()
	return pprof.WriteHeapProfile(f)
}

// suffixed is path with suffix, or "" for no path.
func suffixed(path, suffix string) string {
	if path == "" {
		return ""
	}
	return path + suffix
}

func startProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); _ = f.Close() }, nil
}

// runTiled sends the notice of a third withdrawal (the same recipients)
// with the evidence ledger kept as tiles in a real S3-compatible store,
// SeaweedFS on loopback, and counts what the ledger stores in etcd.
func runTiled(ctx context.Context, c client.Client, rw *v1.RegionWithdrawal, a planner.Action, n int, heap string, requests, delivered *atomic.Int64) (figures, cost, error) {
	dir, err := os.MkdirTemp("", "rwo-bench-s3-")
	if err != nil {
		return figures{}, cost{}, err
	}
	defer os.RemoveAll(dir)
	store, err := s3srv.StartEvidenceStore(ctx, filepath.Join(testenv.RepoRoot(), "bin", "weed"), "127.0.0.1", dir)
	if err != nil {
		return figures{}, cost{}, err
	}
	defer store.Close()
	ts, err := store.Ledgers("operator")
	if err != nil {
		return figures{}, cost{}, err
	}
	tiledRW := rw.DeepCopy()
	tiledRW.ObjectMeta = metav1.ObjectMeta{Name: "pakistan-tiles", Namespace: namespace}
	tiledRW.Status = v1.RegionWithdrawalStatus{}
	if err := c.Create(ctx, tiledRW); err != nil {
		return figures{}, cost{}, err
	}
	writes := &testenv.StoredBytes{Client: c}
	l, err := ledger.New(ledger.Options{Client: writes, Reader: c, Namespace: namespace, Key: evidenceKey, Tiles: ts})
	if err != nil {
		return figures{}, cost{}, err
	}
	f, _, err := runBatched(ctx, c, tiledRW, a, n, l, heap, requests, delivered)
	if err != nil {
		return figures{}, cost{}, err
	}
	f.name = "batched, ledger in the object store"
	out, err := ledgerCost(ctx, c, tiledRW, l, ledger.WithTiles(ts))
	out.etcdBytes = writes.Bytes.Load()
	return f, out, err
}

// runBatched sends the notice to n recipients with the notify executor
// (appending to l when it is set), writing the counts to status after each
// call as the controller does.
func runBatched(ctx context.Context, c client.Client, rw *v1.RegionWithdrawal, a planner.Action, n int, l *ledger.Ledger, heap string, requests, delivered *atomic.Int64) (figures, int, error) {
	resetPeak()
	requests.Store(0)
	delivered.Store(0)
	e := notify.New(notify.Options{Client: c, Reader: c, Clock: clock.RealClock{}, Egress: egress.Loopback(), Evidence: l})
	cpu0, server0 := cpuTime()
	start := time.Now()
	calls := 0
	for {
		calls++
		res, err := e.Execute(ctx, rw, a)
		if err != nil {
			return figures{}, 0, err
		}
		// The controller writes the counts into status after each call.
		counts := *res.Detail.Notice
		if heap != "" && counts.Sent >= int64(n)/2 {
			// Half way, with what the notice holds live.
			if err := writeHeapProfile(heap); err != nil {
				return figures{}, 0, err
			}
			heap = ""
		}
		if err := patchStatus(ctx, c, rw, counts.Recipients, counts.Sent, counts.Failed); err != nil {
			return figures{}, 0, err
		}
		if res.Done {
			if counts.Sent != int64(n) {
				return figures{}, 0, fmt.Errorf("done with %s", res.Message)
			}
			break
		}
	}
	elapsed := time.Since(start)
	cpu1, server1 := cpuTime()

	return figures{name: "batched executor", recipients: n, elapsed: elapsed, requests: requests.Load(), peakKiB: peak(),
		cpu: cpu1 - cpu0, serverCPU: server1 - server0}, calls, nil
}

// cost is what a ledger takes: its size, and the time to export and
// verify it as an auditor would.
type cost struct {
	statements, shards, checkpoints int
	bytes                           int64
	read, verify                    time.Duration
	// etcdBytes is what the ledger's writes stored in etcd.
	etcdBytes int64
}

func ledgerCost(ctx context.Context, c client.Client, rw *v1.RegionWithdrawal, l *ledger.Ledger, opts ...ledger.ReadOption) (cost, error) {
	var out cost
	start := time.Now()
	contents, err := ledger.Read(ctx, c, namespace, rw.UID, opts...)
	if err != nil {
		return out, err
	}
	out.statements, out.checkpoints, out.shards, out.bytes = len(contents.Leaves), len(contents.Checkpoints), contents.Shards, contents.Bytes
	b, err := contents.Bundle(nil)
	if err != nil {
		return out, err
	}
	out.read = time.Since(start)
	start = time.Now()
	if _, err := evidence.Verify(b, evidence.VerifyOptions{Key: l.VerifierKey(), AllowOpen: true}); err != nil {
		return out, fmt.Errorf("the ledger does not verify: %w", err)
	}
	out.verify = time.Since(start)
	return out, nil
}

// runBare posts n copies of one notice-sized signed body to url with
// bareConcurrency workers over one pooled TLS client: what the machine can
// deliver to the receiver with no recipient list, rendering, checkpoint or
// API server in the way.
func runBare(ctx context.Context, n int, url string, caPEM []byte, delivered *atomic.Int64) (figures, error) {
	resetPeak()
	delivered.Store(0)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return figures{}, fmt.Errorf("no certificate in the receiver's CA")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: bareConcurrency, MaxIdleConns: 2 * bareConcurrency, ForceAttemptHTTP2: false}
	hc := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	body, err := webhook.Encode(&channel.Message{Key: "bare", Namespace: namespace, Name: "bare", NoticeID: "announcement",
		Kind: v1.NoticeAnnouncement, Region: "PK", Recipient: recipients.Recipient{ID: "cust-000000", Name: "Customer 0"},
		Subject: strings.Repeat("s", 60), Text: strings.Repeat("t", 300), HTML: strings.Repeat("h", 200)})
	if err != nil {
		return figures{}, err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, bareConcurrency)
	start := time.Now()
	for range bareConcurrency {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return figures{}, err
	}
	if got := delivered.Load(); got != int64(n) {
		return figures{}, fmt.Errorf("the receiver got %d of %d", got, n)
	}
	return figures{name: "bare sender (net/http, no Kubernetes)", recipients: n, elapsed: time.Since(start), peakKiB: peak()}, nil
}

// bareConcurrency is the batched executor's webhook concurrency here.
const bareConcurrency = 64

func runPlain(ctx context.Context, c client.Client, rw *v1.RegionWithdrawal, a planner.Action, n int, url string, caPEM []byte, requests *atomic.Int64) (figures, error) {
	resetPeak()
	requests.Store(0)
	s, err := webhook.New(webhook.Config{Egress: egress.Loopback(), URL: url, Keys: [][]byte{[]byte(key)}, CABundle: caPEM, Concurrency: 1})
	if err != nil {
		return figures{}, err
	}
	defer s.Close()
	record := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "plain-sender-records", Namespace: namespace}}
	if err := c.Create(ctx, record); err != nil {
		return figures{}, err
	}
	r, err := render.New(rw)
	if err != nil {
		return figures{}, err
	}
	src := &sources.Objects{Reader: c}
	start := time.Now()
	sent := 0
	errStop := fmt.Errorf("enough")
	_, err = src.Each(ctx, rw, func(rc recipients.Recipient) error {
		if sent == n {
			return errStop
		}
		d := r.Data(a.Notice, a.DueAt, rc)
		subject, text, html, err := r.Render(a.Notice, d)
		if err != nil {
			return err
		}
		m := &channel.Message{Key: notify.IdempotencyKey(string(rw.IdentityKey()), a.NoticeID(), rc.ID), Namespace: rw.Namespace, Name: rw.Name,
			UID: string(rw.UID), NoticeID: a.NoticeID(), Kind: a.Notice, Region: rw.Spec.Region, CutoffUTC: rw.Spec.Cutoff.Time,
			Recipient: rc, Lang: d.Lang, Subject: subject, Text: text, HTML: html}
		if _, err := s.Send(ctx, m); err != nil {
			return err
		}
		patch, _ := json.Marshal(map[string]any{"data": map[string]string{rc.ID: "delivered"}})
		if err := c.Patch(ctx, record, client.RawPatch(types.MergePatchType, patch)); err != nil {
			return err
		}
		sent++
		return nil
	})
	if err != nil && err != errStop {
		return figures{}, err
	}
	return figures{name: "plain one-at-a-time sender", recipients: sent, elapsed: time.Since(start), requests: requests.Load(), peakKiB: peak()}, nil
}

func patchStatus(ctx context.Context, c client.Client, rw *v1.RegionWithdrawal, recipients, sent, failed int64) error {
	base := rw.DeepCopy()
	now := metav1.Now()
	rw.Status.Notify = &v1.NotifyStatus{Notices: []v1.NoticeStatus{{ID: "announcement", Kind: v1.NoticeAnnouncement,
		ScheduledAt: now, Recipients: recipients, Sent: sent, Failed: failed}}}
	return c.Status().Patch(ctx, rw, client.MergeFrom(base))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// resetPeak resets VmHWM (Linux: "5" to clear_refs), so each phase reports
// its own peak. The memory an earlier phase freed is returned to the system
// first: VmHWM starts again from the resident size, which would otherwise
// still hold it (the ledger's verification before the email phase).
func resetPeak() {
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peak returns this process's VmHWM in KiB.
func peak() int64 { return vmHWM("self") }

// vmHWM returns the VmHWM of process pid in KiB, -1 if it cannot be read.
func vmHWM(pid string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kib int64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), "%d", &kib)
			return kib
		}
	}
	return -1
}

// cpuTime is the user and system CPU time of this process, and of its
// child processes still running (envtest's kube-apiserver and etcd), read
// from /proc (Linux; zero elsewhere).
func cpuTime() (self, children time.Duration) {
	self = procCPU("self")
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return self, 0
	}
	me := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := procParent(pid); ok && ppid == me {
			children += procCPU(e.Name())
		}
	}
	return self, children
}

// procStat is the fields of /proc/<pid>/stat after the command's name.
func procStat(pid string) []string {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

func procParent(pid int) (int, bool) {
	f := procStat(strconv.Itoa(pid))
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// procCPU is utime+stime of a process, in clock ticks of 1/100 s (USER_HZ).
func procCPU(pid string) time.Duration {
	f := procStat(pid)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func pemOf(s *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
}
