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

// Command fleet measures how closely a fleet of clusters cuts at one
// cutoff, and how long `kubectl withdrawal fleet status` takes over it.
// For each fleet size it starts that many API servers (envtest: etcd and
// kube-apiserver from bin/, one pair per cluster), runs the operator's
// controller with its real executors against each (in this process, one
// manager per cluster, as one operator per cluster would), applies the same
// withdrawal to every cluster (the routes removed at a cutoff some seconds
// ahead), and watches each cluster's Ingress: a cluster's cut is when the
// watch here sees its routes go, by this machine's one clock. It prints,
// per fleet, each cut's lateness after the cutoff (p50, p99, max) and the
// spread (last cut minus first), then the fleet status command's time over
// every cluster (the built plugin, the median of five runs).
//
//	go run ./hack/bench/fleet [-clusters 3,10] [-lead 20s]
//
// Every cluster shares this machine's 2 cores, and its clock: the spread
// measured here is the operator's and the API servers', not the clocks'
// (status.fleet.clockOffset reports those on a real fleet).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/controllers"
	"github.com/ops-dev/region-withdrawal-operator/hack/bench/internal/kubeconfig"
	"github.com/ops-dev/region-withdrawal-operator/hack/bench/internal/machine"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/metrics"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
	"github.com/ops-dev/region-withdrawal-operator/internal/stats"
	"github.com/ops-dev/region-withdrawal-operator/internal/steps"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

const ns = "bench"

func main() {
	sizes := flag.String("clusters", "3,10", "fleet sizes to measure, comma-separated")
	lead := flag.Duration("lead", 20*time.Second, "how far ahead of the withdrawal's creation the cutoff is")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard())
	fmt.Println(machine.Read(testenv.RepoRoot()))
	plugin, cleanup, err := buildPlugin()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
	defer cleanup()
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "fleet: bad fleet size %q\n", s)
			os.Exit(2)
		}
		if err := measure(n, *lead, plugin); err != nil {
			fmt.Fprintln(os.Stderr, "fleet:", err)
			os.Exit(1)
		}
	}
}

func buildPlugin() (string, func(), error) {
	dir, err := os.MkdirTemp("", "bench-fleet-")
	if err != nil {
		return "", nil, err
	}
	bin := filepath.Join(dir, "kubectl-withdrawal")
	build := exec.Command("go", "build", "-o", bin, "./cmd/kubectl-withdrawal")
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, fmt.Errorf("building kubectl-withdrawal: %w\n%s", err, out)
	}
	return bin, func() { _ = os.RemoveAll(dir) }, nil
}

// member is one cluster of the fleet.
type member struct {
	env    *testenv.Env
	wc     client.WithWatch
	cancel context.CancelFunc
	done   chan struct{}
}

func measure(n int, lead time.Duration, plugin string) (err error) {
	ctx := context.Background()
	fleet := make([]*member, 0, n)
	defer func() {
		for _, m := range fleet {
			if m.cancel != nil {
				m.cancel()
				<-m.done
			}
			if serr := m.env.Stop(); serr != nil && err == nil {
				err = serr
			}
		}
	}()
	started := time.Now()
	for range n {
		env, err := testenv.Start()
		if err != nil {
			return err
		}
		m := &member{env: env}
		fleet = append(fleet, m)
		if m.wc, err = client.NewWithWatch(env.Config, client.Options{Scheme: scheme.New()}); err != nil {
			return err
		}
		if err := prepare(ctx, env.Client); err != nil {
			return err
		}
		if err := m.startOperator(); err != nil {
			return err
		}
	}
	fmt.Printf("\n%d clusters: API servers and operators up in %s\n", n, time.Since(started).Round(time.Millisecond))

	// Watch every cluster's Ingress before the withdrawal exists.
	cutoff := time.Now().Add(lead).Truncate(time.Second)
	cuts := make([]time.Time, n)
	var wg sync.WaitGroup
	werrs := make([]error, n)
	for i, m := range fleet {
		w, err := m.wc.Watch(ctx, &networkingv1.IngressList{}, client.InNamespace(ns))
		if err != nil {
			return err
		}
		wg.Go(func() {
			defer w.Stop()
			cuts[i], werrs[i] = awaitCut(w, cutoff.Add(time.Minute))
		})
	}
	for _, m := range fleet {
		if err := m.env.Client.Create(ctx, withdrawal(cutoff)); err != nil {
			return err
		}
	}
	wg.Wait()
	for i, err := range werrs {
		if err != nil {
			return fmt.Errorf("cluster %d: %w", i, err)
		}
	}
	late := make([]time.Duration, n)
	for i, c := range cuts {
		late[i] = c.Sub(cutoff)
	}
	slices.Sort(late)
	fmt.Printf("%d clusters: cut after the cutoff p50 %s, p99 %s, max %s; spread (last − first) %s\n", n,
		stats.Quantile(late, 0.5).Round(time.Millisecond), stats.Quantile(late, 0.99).Round(time.Millisecond),
		late[n-1].Round(time.Millisecond), (late[n-1] - late[0]).Round(time.Millisecond))

	kubeconfig, cleanup, err := writeKubeconfig(fleet)
	if err != nil {
		return err
	}
	defer cleanup()
	var took []time.Duration
	for range 5 {
		start := time.Now()
		out, err := exec.Command(plugin, "fleet", "status", "pakistan", "--kubeconfig", kubeconfig, "-n", ns).CombinedOutput()
		took = append(took, time.Since(start))
		if err != nil || !strings.Contains(string(out), fmt.Sprintf("%d of %d clusters have cut their routes", n, n)) {
			return fmt.Errorf("fleet status: %v\n%s", err, out)
		}
	}
	slices.Sort(took)
	fmt.Printf("%d clusters: kubectl withdrawal fleet status, median of 5 runs %s (min %s, max %s)\n", n,
		took[2].Round(time.Millisecond), took[0].Round(time.Millisecond), took[4].Round(time.Millisecond))
	return nil
}

// prepare creates the namespace and the region's Ingress.
func prepare(ctx context.Context, c client.Client) error {
	prefix := networkingv1.PathTypePrefix
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: "pk-edge", Namespace: ns, Labels: map[string]string{"bes.example.com/region": "pk"}},
			Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "pk.bes.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
				HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{
					Service: &networkingv1.IngressServiceBackend{Name: "messaging", Port: networkingv1.ServiceBackendPort{Number: 443}}}}}}}}}},
		},
	} {
		if err := c.Create(ctx, obj); err != nil {
			return err
		}
	}
	return nil
}

// withdrawal removes the region's routes at cutoff.
func withdrawal(cutoff time.Time) *v1.RegionWithdrawal {
	zero := v1.Moment{Offset: &metav1.Duration{}}
	return &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: ns},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Cutoff: metav1.NewTime(cutoff), TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"bes.example.com/region": "pk"}},
			Routing:  &v1.RoutingStep{At: &zero, Mode: v1.RoutingRemove},
		},
	}
}

// startOperator runs the controller with the real executors against the
// member's API server.
func (m *member) startOperator() error {
	mgr, err := ctrl.NewManager(m.env.Config, ctrl.Options{
		Scheme: scheme.New(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return err
	}
	clk := clock.RealClock{}
	r := &controllers.RegionWithdrawalReconciler{Clock: clk, Metrics: metrics.New(clk)}
	r.Executors, r.Rehearsal = steps.New(steps.Options{Egress: egress.Loopback(), Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Mapper: mgr.GetRESTMapper(), Clock: clk})
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan struct{})
	go func() {
		defer close(m.done)
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	return nil
}

// awaitCut returns when the watch first sees the Ingress without routes.
func awaitCut(w watch.Interface, limit time.Time) (time.Time, error) {
	timeout := time.NewTimer(time.Until(limit))
	defer timeout.Stop()
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return time.Time{}, fmt.Errorf("the watch ended")
			}
			at := time.Now()
			ing, isIngress := ev.Object.(*networkingv1.Ingress)
			switch {
			case ev.Type == watch.Deleted:
				return at, nil
			case isIngress && ev.Type == watch.Modified && !hasPaths(ing):
				return at, nil
			}
		case <-timeout.C:
			return time.Time{}, fmt.Errorf("the routes were not removed by %s", limit.Format(time.RFC3339))
		}
	}
}

func hasPaths(ing *networkingv1.Ingress) bool {
	if ing.Spec.DefaultBackend != nil {
		return true
	}
	for _, r := range ing.Spec.Rules {
		if r.HTTP != nil && len(r.HTTP.Paths) > 0 {
			return true
		}
	}
	return false
}

// writeKubeconfig writes a kubeconfig with a context per cluster.
func writeKubeconfig(fleet []*member) (string, func(), error) {
	clusters := make([]kubeconfig.Cluster, len(fleet))
	for i, m := range fleet {
		clusters[i] = kubeconfig.Cluster{Name: fmt.Sprintf("cluster-%02d", i), Config: m.env.Config}
	}
	dir, err := os.MkdirTemp("", "bench-fleet-kubeconfig-")
	if err != nil {
		return "", nil, err
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := kubeconfig.Write(path, ns, clusters...); err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, err
	}
	return path, func() { _ = os.RemoveAll(dir) }, nil
}
