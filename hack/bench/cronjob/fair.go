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

package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
	"github.com/ops-dev/region-withdrawal-operator/internal/stats"
	"github.com/ops-dev/region-withdrawal-operator/test/e2e/cluster"
)

// fairCronJob names the CronJobs of the fair round.
const fairCronJob = "tick-fair"

// benchCronFair gives the CronJob controller the operator's client budget
// and measures it again: kube-controller-manager is restarted with
// --kube-api-qps 100 --kube-api-burst 300 (main.go's defaults; its own
// are 20 and 30), and n new CronJobs in the due namespaces fall due in the
// same minute. It prints due → Job ADDED, as the due phase does.
func benchCronFair(ctx context.Context, c client.Client, kwok *cluster.Cluster, n int, lead, timeout time.Duration) error {
	if err := kwok.Restart("kube-controller-manager", "--kube-api-qps=100", "--kube-api-burst=300"); err != nil {
		return fmt.Errorf("restarting kube-controller-manager: %w", err)
	}
	due := time.Now().Add(lead).Truncate(time.Minute).Add(time.Minute).UTC()
	schedule := fmt.Sprintf("%d %d * * *", due.Minute(), due.Hour())

	obsCtx, stop := context.WithCancel(ctx)
	defer stop()
	added, wait, err := watchFairJobs(obsCtx, kwok.Config)
	if err != nil {
		return err
	}
	if err := parallel(n, func(i int) error { return c.Create(ctx, cronJob(dueNamespace(duePrefix, i), fairCronJob, schedule)) }); err != nil {
		return err
	}
	if time.Until(due) < 5*time.Second {
		return fmt.Errorf("the fair round's CronJobs were created %s before their due time; raise -lead", time.Until(due).Round(time.Second))
	}
	if err := sleep(ctx, time.Until(due)); err != nil {
		return err
	}
	complete := wait(ctx, due.Add(timeout), n)
	ds := added(due)
	fmt.Printf("fair baseline: cronjob controller with the operator's client budget (kube-controller-manager --kube-api-qps 100 --kube-api-burst 300), %d CronJobs due at %s: due → Job ADDED (watch): %s [%d/%d]\n",
		n, due.Format(time.RFC3339), summary(ds), len(ds), n)
	if !complete {
		return fmt.Errorf("only %d of %d fair-round Jobs were seen within %s of the due time", len(ds), n, timeout)
	}
	return nil
}

// summary is stats.Summary, or "-" for no samples.
func summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	return stats.Summary(ds)
}

// watchFairJobs records when each due namespace's first Job of the fair
// CronJob is seen ADDED. added returns the delays from due; wait waits for
// n of them or the deadline.
func watchFairJobs(ctx context.Context, cfg *rest.Config) (added func(due time.Time) []time.Duration, wait func(context.Context, time.Time, int) bool, err error) {
	var mu sync.Mutex
	seen := map[string]time.Time{}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 1000, 2000
	informers, err := cache.New(cfg, cache.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, nil, err
	}
	inf, err := informers.GetInformer(ctx, &batchv1.Job{})
	if err != nil {
		return nil, nil, err
	}
	on := func(obj any) {
		now := time.Now()
		job, ok := obj.(*batchv1.Job)
		if !ok {
			return
		}
		if owner := metav1.GetControllerOf(job); owner == nil || owner.Name != fairCronJob {
			return
		}
		mu.Lock()
		if _, ok := seen[job.Namespace]; !ok {
			seen[job.Namespace] = now
		}
		mu.Unlock()
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: on, UpdateFunc: func(_, obj any) { on(obj) }}); err != nil {
		return nil, nil, err
	}
	go func() { _ = informers.Start(ctx) }()
	syncCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if !informers.WaitForCacheSync(syncCtx) {
		return nil, nil, fmt.Errorf("the fair round's Job informer did not sync")
	}
	added = func(due time.Time) []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		out := make([]time.Duration, 0, len(seen))
		for _, t := range seen {
			out = append(out, t.Sub(due))
		}
		return out
	}
	wait = func(ctx context.Context, deadline time.Time, n int) bool {
		for time.Now().Before(deadline) && ctx.Err() == nil {
			mu.Lock()
			done := len(seen) >= n
			mu.Unlock()
			if done {
				return true
			}
			time.Sleep(50 * time.Millisecond)
		}
		return false
	}
	return added, wait, nil
}
