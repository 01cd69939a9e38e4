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

// Command cronjob runs the operator binary on a kwok-simulated cluster it
// starts and stops itself, and measures it against the CronJob controller
// of the same cluster, then measures the operator process's own resources.
// A fresh operator process runs each phase:
//
//  1. due: N CronJobs ("M H * * *" in Etc/UTC) and N RegionWithdrawals
//     (routing, mode Remove, at the cutoff, one Ingress each) fall due in
//     the same minute. One watch-based observer records, from the due
//     time, when each CronJob's Job is ADDED, when each withdrawal's Ingress
//     is seen switched (its action, as the Job is the CronJob controller's)
//     and when its routing step is seen recorded in status (after the
//     switch, in a second pass); the operator's own recorded lateness is
//     read from status.
//
//     Then the limit: the same N Ingresses patched by a bare client, as many
//     at a time as the operator has workers, from a common start, with the
//     operator's client budget and with none, each timed to its response
//     and to the change seen through the same observer's watch. The
//     operator's p99 is printed as a ratio to the bare client's with its
//     budget, seen through the watch (like for like) and to the response.
//     Then the fair baseline: kube-controller-manager restarted with the
//     operator's client budget, and N new CronJobs due in one minute.
//
//  2. idle: I withdrawals wait for a cutoff hours away; reconciles per
//     minute (controller_runtime_reconcile_total from the operator's
//     metrics endpoint), CPU (utime+stime) and RSS over a window.
//
//  3. drain: one withdrawal drains D Deployments of 2 pods each; the time,
//     CPU and peak RSS (VmHWM, reset at the start) over the drain.
//
// The kwok tools must be in bin/ (make tools). A phase is skipped when its
// count is 0. For a diagnosis, -trace puts a recording proxy between the
// operator and the API server and prints the operator's requests of the due
// minute, and -operator-args changes its flags; neither is for the figures.
//
//  4. curve (-curve 1,10,100,500): one more due minute per number of
//     withdrawals, the operator alone, each with its bare-client limit;
//     a table of p50/p99 due → Ingress switched, the ratio to the limit,
//     API requests per withdrawal, CPU and peak RSS.
//
// The operator runs with --namespace, as the chart installs it, so it keeps
// its evidence ledgers.
//
//	go run ./hack/bench/cronjob [-n 200] [-idle 1000] [-deployments 300] [-curve 1,10,100,500]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/controllers"
	"github.com/ops-dev/region-withdrawal-operator/hack/bench/internal/machine"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
	"github.com/ops-dev/region-withdrawal-operator/test/e2e/cluster"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

var (
	region = map[string]string{"bes.example.com/region": "pk"}
	// drainPodLabels mark the pods of the drain phase, for its pod watch.
	drainPodLabels = map[string]string{"bench": "drain"}
)

type options struct {
	n            int
	lead         time.Duration
	dueTimeout   time.Duration
	idle         int
	idleAhead    time.Duration
	idleWindow   time.Duration
	deployments  int
	namespaces   int
	drainTimeout time.Duration
	nodes        int
	operatorArgs []string
	trace        bool
	curve        []int
}

// operatorNamespace is the operator's own namespace, where it keeps the
// evidence ledgers, as the chart's release namespace.
const operatorNamespace = "rwo-system"

func main() {
	var o options
	var extra string
	flag.IntVar(&o.n, "n", 200, "CronJobs, and withdrawals, due in the same minute")
	flag.DurationVar(&o.lead, "lead", 60*time.Second, "the due minute is the first whole minute at least this far ahead of the setup")
	flag.DurationVar(&o.dueTimeout, "due-timeout", 3*time.Minute, "how long after the due time to wait for both sides")
	flag.IntVar(&o.idle, "idle", 1000, "withdrawals waiting, for the idle measurement")
	flag.DurationVar(&o.idleAhead, "idle-ahead", 6*time.Hour, "how far ahead the idle withdrawals' cutoff is")
	flag.DurationVar(&o.idleWindow, "idle-window", time.Minute, "how long to measure the idle operator")
	flag.IntVar(&o.deployments, "deployments", 300, "Deployments, 2 pods each, for the operator to drain")
	flag.IntVar(&o.namespaces, "namespaces", 20, "namespaces to spread the Deployments over")
	flag.DurationVar(&o.drainTimeout, "drain-timeout", 10*time.Minute, "how long the drain may take")
	flag.IntVar(&o.nodes, "nodes", 10, "simulated nodes")
	flag.StringVar(&extra, "operator-args", "", "extra flags for the operator, space-separated (for experiments; the figures are for main.go's defaults without)")
	flag.BoolVar(&o.trace, "trace", false, "diagnostic: put a recording proxy between the operator and the API server and print its requests of the due minute")
	curve := flag.String("curve", "", "comma-separated numbers of withdrawals due at once (e.g. 1,10,100,500): one more due minute each, the operator alone, for the scaling curve; -n is its point too")
	flag.Parse()
	o.operatorArgs = append([]string{"--namespace=" + operatorNamespace}, strings.Fields(extra)...)
	for _, f := range strings.Split(*curve, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "error: -curve: %q is not a number of withdrawals\n", f)
			os.Exit(2)
		}
		o.curve = append(o.curve, n)
	}
	ctrllog.SetLogger(logr.Discard())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) (err error) {
	began := time.Now()
	work, err := os.MkdirTemp("", "rwo-bench-cronjob-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin, err := buildOperator(work)
	if err != nil {
		return err
	}
	kwok, err := cluster.Start("rwo-bench-cronjob", o.nodes)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, kwok.Stop()) }()
	if err := kwok.InstallCRDs(); err != nil {
		return err
	}
	c, err := client.New(kwok.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}

	info := machine.Read(testenv.RepoRoot())
	fmt.Printf("# the operator binary and the CronJob controller on a kwok cluster (kube-apiserver %s, %d simulated nodes)\n", info.KubeAPIServer, o.nodes)
	fmt.Printf("machine: %s\n", info)
	fmt.Printf("load average at start: %s\n", machine.LoadAverage())
	args := fmt.Sprintf("main.go's defaults (%d workers, --kube-api-qps 100, --kube-api-burst 300) and --namespace=%s (its evidence ledgers, as the chart installs it)", controllers.DefaultMaxConcurrentReconciles, operatorNamespace)
	if len(o.operatorArgs) > 1 {
		args = "main.go's defaults overridden by " + strings.Join(o.operatorArgs, " ")
	}
	fmt.Printf("operator: built from this tree, run with %s, metrics on loopback; a fresh process per phase\n", args)
	kubeconfig := kwok.Kubeconfig
	var tr *tracer
	if o.trace {
		if tr, err = startTracer(kwok.Config, work); err != nil {
			return err
		}
		defer tr.close()
		kubeconfig = tr.kubeconfig
		fmt.Println("trace: the operator talks to the API server through a recording proxy; its figures include that extra hop")
	}
	fmt.Println()

	// Each phase runs its own operator process, whose log is printed if
	// the phase fails.
	phase := func(name string, fn func(op *operator) error) error {
		op, err := startOperator(ctx, bin, kubeconfig, filepath.Join(work, name+".log"), o.operatorArgs)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		err = fn(op)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: the operator's last output:\n%s\n", name, op.logTail(40))
		}
		if stopErr := op.stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Println()
		return nil
	}

	// The operator keeps its evidence ledger in its own namespace, as the
	// chart installs it.
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}); err != nil {
		return err
	}
	var curve []duePoint
	// dueRound runs one due minute in a fresh operator and removes its
	// withdrawals.
	dueRound := func(name, prefix string, withCron bool, n int) error {
		return phase(name, func(op *operator) error {
			point, err := benchDue(ctx, c, kwok.Config, op, tr, prefix, withCron, n, o.lead, o.dueTimeout)
			if err != nil {
				return err
			}
			curve = append(curve, point)
			ns := make([]string, n)
			for i := range ns {
				ns[i] = dueNamespace(prefix, i)
			}
			return deleteWithdrawals(ctx, c, ns, 3*time.Minute)
		})
	}
	if o.n > 0 {
		if err := dueRound("due", duePrefix, true, o.n); err != nil {
			return err
		}
		// The CronJob controller above ran with kube-controller-manager's
		// default client budget (20 per second, burst 30); this round gives
		// it the operator's, so the two are compared on equal terms.
		if err := benchCronFair(ctx, c, kwok, o.n, o.lead, o.dueTimeout); err != nil {
			return fmt.Errorf("fair baseline: %w", err)
		}
		fmt.Println()
	}
	for _, n := range o.curve {
		if n == o.n {
			continue // the due phase above is this point
		}
		fmt.Printf("curve: %d withdrawals\n", n)
		if err := dueRound(fmt.Sprintf("curve-%d", n), curvePrefix(n), false, n); err != nil {
			return err
		}
	}
	if len(o.curve) > 0 {
		printCurve(curve)
	}
	if o.idle > 0 {
		if err := phase("idle", func(op *operator) error {
			if err := benchIdle(ctx, c, op, o.idle, o.idleAhead, o.idleWindow); err != nil {
				return err
			}
			return deleteWithdrawals(ctx, c, []string{idleNamespace}, 5*time.Minute)
		}); err != nil {
			return err
		}
	}
	if o.deployments > 0 {
		if err := setUpDrain(ctx, c, o.deployments, o.namespaces); err != nil {
			return err
		}
		if err := phase("drain", func(op *operator) error {
			return benchDrain(ctx, c, kwok.Config, op, o.deployments, o.namespaces, o.drainTimeout)
		}); err != nil {
			return err
		}
	}
	fmt.Printf("load average at end: %s; the whole run took %s\n", machine.LoadAverage(), time.Since(began).Round(time.Second))
	return nil
}

// printCurve prints the scaling curve, one row per number of withdrawals
// due at once, sorted.
func printCurve(points []duePoint) {
	slices.SortFunc(points, func(a, b duePoint) int { return a.n - b.n })
	fmt.Println("curve: withdrawals due at once → Ingress seen switched (watch), against a bare client's Ingress patches with the operator's budget seen through the same watch (and to their response), the operator's API requests per withdrawal, CPU and RSS from the due time until its last switch")
	fmt.Printf("curve: %8s %10s %10s %14s %8s %12s %8s %10s %16s\n", "N", "p50", "p99", "bare p99", "ratio", "requests/N", "CPU", "peak RSS", "bare answered p99")
	for _, p := range points {
		ratio := 0.0
		if p.bareP99 > 0 {
			ratio = float64(p.switchedP99) / float64(p.bareP99)
		}
		fmt.Printf("curve: %8d %10s %10s %14s %7.2f× %12.1f %7.0f%% %7.1f MiB %16s\n", p.n, p.switchedP50.Round(time.Millisecond), p.switchedP99.Round(time.Millisecond),
			p.bareP99.Round(time.Millisecond), ratio, p.requests, p.cpuPercent, p.peakMiB, p.bareAnsweredP99.Round(time.Millisecond))
	}
	fmt.Println()
}

// waitScheduled waits until n withdrawals in ns (every namespace if empty)
// that keep passes have been looked at by the operator and are Scheduled.
func waitScheduled(ctx context.Context, c client.Client, ns string, n int, limit time.Duration, keep func(*v1.RegionWithdrawal) bool) error {
	deadline := time.Now().Add(limit)
	ready := 0
	for time.Now().Before(deadline) {
		var list v1.RegionWithdrawalList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		ready = 0
		for i := range list.Items {
			rw := &list.Items[i]
			if (keep == nil || keep(rw)) && rw.Status.ObservedGeneration == rw.Generation && rw.Status.Phase == v1.PhaseScheduled {
				ready++
			}
		}
		if ready == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fmt.Errorf("only %d of %d withdrawals were Scheduled within %s", ready, n, limit.Round(time.Second))
}

// sleep waits for d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// parallel runs fn(0..n-1), 16 at a time.
func parallel(n int, fn func(int) error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	sem := make(chan struct{}, 16)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() { defer func() { <-sem }(); errs[i] = fn(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// createApp creates a Deployment of 2 pods and its headless Service, as
// hack/bench/drain does, with the pods labelled for the pod watch.
func createApp(ctx context.Context, c client.Client, ns, name string) error {
	sel := map[string]string{"app": name}
	podLabels := map[string]string{"app": name}
	maps.Copy(podLabels, drainPodLabels)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: region},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: podLabels}, Spec: corev1.PodSpec{
				TerminationGracePeriodSeconds: ptr.To[int64](1),
				Containers:                    []corev1.Container{{Name: "app", Image: "example.com/app"}}}}},
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: region},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: sel, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
	if err := c.Create(ctx, dep); err != nil {
		return err
	}
	return c.Create(ctx, svc)
}

// createIngress creates an Ingress of the region with one rule.
func createIngress(ctx context.Context, c client.Client, ns, name string) error {
	return c.Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: region},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: ns + ".pk.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix),
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "app", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}},
	})
}
