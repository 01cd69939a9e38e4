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

// Command drain benchmarks the drain and routing executors on a
// kwok-simulated cluster it starts and stops itself:
//
//   - the time to drain N Deployments of 2 pods each across M namespaces
//     (scale down in batches, then wait until every EndpointSlice is empty
//     and every pod is gone), and the API requests the executor made per
//     workload, counted by a RoundTripper under a manager-like cached client;
//
//   - for R routes, the p50 and p99 time from the cutoff (the call of the
//     routing executor) to each route being seen switched through a watch.
//
//     go run ./hack/bench/drain [-deployments 300] [-namespaces 20] [-routes 200]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/drain"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/routing"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
	"github.com/ops-dev/region-withdrawal-operator/internal/summarize"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
	"github.com/ops-dev/region-withdrawal-operator/test/e2e/cluster"
)

var region = map[string]string{"bes.example.com/region": "pk"}

// counter counts the requests that pass through it.
type counter struct {
	next  http.RoundTripper
	total atomic.Int64
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.total.Add(1)
	return c.next.RoundTrip(r)
}

func main() {
	deployments := flag.Int("deployments", 300, "Deployments to drain, 2 pods each")
	namespaces := flag.Int("namespaces", 20, "namespaces to spread them over")
	routes := flag.Int("routes", 200, "Ingresses to switch at the cutoff")
	maxUnavailable := flag.String("max-unavailable", "25%", "drain batch size")
	interval := flag.Duration("interval", time.Second, "pause between drain batches")
	nodes := flag.Int("nodes", 10, "simulated nodes")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard())
	if err := run(*deployments, *namespaces, *routes, *maxUnavailable, *interval, *nodes); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(deployments, namespaces, routes int, maxUnavailable string, interval time.Duration, nodes int) (err error) {
	kwok, err := cluster.Start("rwo-bench-drain", nodes)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, kwok.Stop()) }()
	if err := kwok.InstallCRDs(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	plain, err := client.New(kwok.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}

	// The executors' client: reads through an informer cache and writes to
	// the API server, as in the operator, with every request counted.
	cfg := rest.CopyConfig(kwok.Config)
	cnt := &counter{}
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { cnt.next = rt; return cnt }
	informers, err := cache.New(cfg, cache.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	go func() { _ = informers.Start(ctx) }()
	c, err := client.New(cfg, client.Options{Scheme: scheme.New(), Cache: &client.CacheOptions{Reader: informers}})
	if err != nil {
		return err
	}

	fmt.Printf("setting up %d Deployments (2 pods each) with Services in %d namespaces, %d Ingresses\n", deployments, namespaces, routes)
	nsName := func(i int) string { return fmt.Sprintf("bench-%02d", i) }
	for i := range namespaces {
		if err := plain.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsName(i), Labels: map[string]string{"bench": "drain"}}}); err != nil {
			return err
		}
	}
	if err := parallel(deployments, func(i int) error { return createApp(ctx, plain, nsName(i%namespaces), fmt.Sprintf("app-%03d", i)) }); err != nil {
		return err
	}
	if err := parallel(routes, func(i int) error {
		return createIngress(ctx, plain, nsName(i%namespaces), fmt.Sprintf("route-%03d", i))
	}); err != nil {
		return err
	}
	fmt.Printf("waiting for %d pods to be Ready\n", 2*deployments)
	if err := wait.PollUntilContextTimeout(ctx, time.Second, 10*time.Minute, true, func(ctx context.Context) (bool, error) {
		var list appsv1.DeploymentList
		if err := plain.List(ctx, &list, client.MatchingLabels(region)); err != nil {
			return false, err
		}
		ready := 0
		for _, d := range list.Items {
			if d.Status.ReadyReplicas == 2 {
				ready++
			}
		}
		return ready == deployments, nil
	}); err != nil {
		return fmt.Errorf("waiting for the pods: %w", err)
	}

	spec := v1.RegionWithdrawalSpec{
		Region: "PK", Cutoff: metav1.Now(), TimeZone: "Asia/Karachi",
		Selector:          metav1.LabelSelector{MatchLabels: region},
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"bench": "drain"}},
		Drain: &v1.DrainStep{Start: v1.Moment{Offset: &metav1.Duration{Duration: -time.Hour}}, MaxUnavailable: ptr.To(intstr.Parse(maxUnavailable)),
			Interval: &metav1.Duration{Duration: interval}, Timeout: &metav1.Duration{Duration: 30 * time.Minute}},
		Routing: &v1.RoutingStep{Mode: v1.RoutingBlock451},
	}
	rw := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: nsName(0)}, Spec: spec}
	if err := plain.Create(ctx, rw); err != nil {
		return err
	}
	resolver := &targets.Resolver{Reader: c, Mapper: c.RESTMapper()}
	// Warm the caches the operator would have warm at start-up.
	if _, err := resolver.Resolve(ctx, rw); err != nil {
		return err
	}
	d := drain.New(c, c, resolver, clock.RealClock{}, nil)
	for _, w := range d.Watches() {
		if _, err := informers.GetInformer(ctx, w.Object); err != nil {
			return err
		}
	}
	informers.WaitForCacheSync(ctx)

	// Drain.
	step := planner.StepStatus(&rw.Status, v1.StepDrain)
	step.State, step.StartedAt = v1.StepRunning, &metav1.Time{Time: time.Now()}
	before := cnt.total.Load()
	start := time.Now()
	calls := 0
	for {
		calls++
		res, err := d.Execute(ctx, rw, planner.Action{ID: "drain", Kind: planner.ActionStart, Step: v1.StepDrain})
		if err != nil {
			return fmt.Errorf("drain: %w", err)
		}
		summarize.RecordDetail(&rw.Status, v1.StepDrain, res.Detail) // as the controller does
		if res.Done {
			if res.Failed {
				return fmt.Errorf("drain failed: %s", res.Message)
			}
			break
		}
		// The operator is woken by watch events; here a short pause stands
		// in for them, capped by what the executor asked for.
		time.Sleep(min(res.RequeueAfter, 200*time.Millisecond))
	}
	took := time.Since(start)
	reqs := cnt.total.Load() - before
	batches := (deployments + drain.BatchSize(spec.Drain.MaxUnavailable, deployments) - 1) / drain.BatchSize(spec.Drain.MaxUnavailable, deployments)
	fmt.Printf("drain: %d Deployments (%d pods) in %d namespaces, batches of %s every %s (%d batches): %s until every EndpointSlice was empty and every pod gone\n",
		deployments, 2*deployments, namespaces, maxUnavailable, interval, batches, took.Round(time.Millisecond))
	if st := step.Drain; st != nil && st.LastBatchAt != nil {
		fmt.Printf("drain: the last batch was scaled down %s after the start; the rest is the simulated cluster's controllers deleting the pods and emptying the EndpointSlices\n",
			st.LastBatchAt.Sub(start).Round(time.Millisecond))
	}
	fmt.Printf("drain: %d Execute calls, %d API requests = %.2f per workload (reads come from the cache)\n", calls, reqs, float64(reqs)/float64(deployments))

	// Routing: a watch records when each Ingress is seen switched.
	seen := make(map[string]time.Time, routes)
	var mu sync.Mutex
	watchCache, err := cache.New(kwok.Config, cache.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	inf, err := watchCache.GetInformer(ctx, &networkingv1.Ingress{})
	if err != nil {
		return err
	}
	record := func(obj any) {
		ing, ok := obj.(*networkingv1.Ingress)
		if !ok || ing.Annotations[routing.AnnotationSnapshot] == "" {
			return
		}
		mu.Lock()
		if _, ok := seen[ing.Namespace+"/"+ing.Name]; !ok {
			seen[ing.Namespace+"/"+ing.Name] = time.Now()
		}
		mu.Unlock()
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: record, UpdateFunc: func(_, o any) { record(o) }}); err != nil {
		return err
	}
	go func() { _ = watchCache.Start(ctx) }()
	watchCache.WaitForCacheSync(ctx)

	r := routing.New(c, c, resolver, "")
	rstep := planner.StepStatus(&rw.Status, v1.StepRouting)
	rstep.State, rstep.StartedAt = v1.StepRunning, &metav1.Time{Time: time.Now()}
	before = cnt.total.Load()
	cutoff := time.Now()
	for {
		res, err := r.Execute(ctx, rw, planner.Action{ID: "routing", Kind: planner.ActionStart, Step: v1.StepRouting})
		if err != nil {
			return fmt.Errorf("routing: %w", err)
		}
		summarize.RecordDetail(&rw.Status, v1.StepRouting, res.Detail)
		if res.Done {
			break
		}
		time.Sleep(res.RequeueAfter)
	}
	returned := time.Since(cutoff)
	rreqs := cnt.total.Load() - before
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == routes, nil
	}); err != nil {
		return fmt.Errorf("waiting to see every route switched: %w", err)
	}
	lat := make([]time.Duration, 0, routes)
	for _, t := range seen {
		lat = append(lat, t.Sub(cutoff))
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Printf("routing: %d Ingresses in %d namespaces, cutoff to switched (seen through a watch): p50 %s, p99 %s, max %s; Execute returned after %s; %d API requests (%.2f per route)\n",
		routes, namespaces, pct(0.50).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond), returned.Round(time.Millisecond), rreqs, float64(rreqs)/float64(routes))
	return nil
}

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

func createApp(ctx context.Context, c client.Client, ns, name string) error {
	sel := map[string]string{"app": name}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: region},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel}, Spec: corev1.PodSpec{
				TerminationGracePeriodSeconds: ptr.To[int64](1),
				Containers:                    []corev1.Container{{Name: "app", Image: "example.com/app"}}}}},
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: region},
		// Headless: the simulated cluster's Service IP range is small, and
		// EndpointSlices are managed all the same.
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: sel, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
	if err := c.Create(ctx, dep); err != nil {
		return err
	}
	return c.Create(ctx, svc)
}

func createIngress(ctx context.Context, c client.Client, ns, name string) error {
	return c.Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: region},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: name + ".pk.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix),
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "app", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}},
	})
}
