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

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
)

const idleNamespace = "idle"

// benchIdle counts the operator's reconciles, CPU and memory while n
// withdrawals wait for a cutoff hours away.
func benchIdle(ctx context.Context, c client.Client, op *operator, n int, ahead, window time.Duration) error {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: idleNamespace}}); err != nil {
		return err
	}
	cutoff := time.Now().Add(ahead).Truncate(time.Minute)
	start := time.Now()
	if err := parallel(n, func(i int) error {
		return c.Create(ctx, routingWithdrawal(idleNamespace, fmt.Sprintf("idle-%04d", i), cutoff))
	}); err != nil {
		return err
	}
	if err := waitScheduled(ctx, c, idleNamespace, n, 5*time.Minute, nil); err != nil {
		return err
	}
	fmt.Printf("idle: %d withdrawals (routing due at a cutoff %s ahead) created and Scheduled in %s\n", n, ahead, time.Since(start).Round(time.Millisecond))
	// The last status writes may still be on their way: wait for the
	// reconcile count to stand still before counting.
	if err := settle(ctx, op, 5*time.Second, 2*time.Minute); err != nil {
		return err
	}
	m0, err := op.scrape()
	if err != nil {
		return err
	}
	u0, err := op.usage()
	if err != nil {
		return err
	}
	if err := sleep(ctx, window); err != nil { // the measurement window itself
		return err
	}
	m1, err := op.scrape()
	if err != nil {
		return err
	}
	u1, err := op.usage()
	if err != nil {
		return err
	}
	count := m1.reconciles() - m0.reconciles()
	fmt.Printf("idle: %.0f reconciles in %s while nothing was due = %.1f per minute (goal: 0); %.0f API requests\n",
		count, window, count/window.Minutes(), m1.sum("rest_client_requests_total")-m0.sum("rest_client_requests_total"))
	fmt.Printf("idle: operator process: CPU %.1f%% of one core over the window, RSS %.1f MiB at its end, peak RSS since start %.1f MiB (VmHWM, includes creating the %d)\n",
		cpuPercent(u0, u1), mib(u1.rssKiB), mib(u1.hwmKiB), n)
	return nil
}

// settle waits until the operator's reconcile count has not changed for
// quiet, or fails after timeout.
func settle(ctx context.Context, op *operator, quiet, timeout time.Duration) error {
	last, since := -1.0, time.Now()
	return wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		m, err := op.scrape()
		if err != nil {
			return false, err
		}
		if n := m.reconciles(); n != last {
			last, since = n, time.Now()
		}
		return time.Since(since) >= quiet, nil
	})
}

// deleteWithdrawals deletes every withdrawal and waits until the operator
// has let them go (it holds a finalizer on each), so that the next phase's
// operator starts with none of them in its cache.
func deleteWithdrawals(ctx context.Context, c client.Client, namespaces []string, timeout time.Duration) error {
	if err := parallel(len(namespaces), func(i int) error {
		return c.DeleteAllOf(ctx, &v1.RegionWithdrawal{}, client.InNamespace(namespaces[i]))
	}); err != nil {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		var list v1.RegionWithdrawalList
		if err := c.List(ctx, &list, client.Limit(1)); err != nil {
			return false, err
		}
		return len(list.Items) == 0, nil
	})
}

// setUpDrain creates deployments Deployments of 2 pods each, with their
// Services, across namespaces namespaces, and waits for every pod to be
// Ready.
func setUpDrain(ctx context.Context, c client.Client, deployments, namespaces int) error {
	for i := range namespaces {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: drainNamespace(i), Labels: map[string]string{"bench": "drain"}}}); err != nil {
			return err
		}
	}
	start := time.Now()
	if err := parallel(deployments, func(i int) error {
		return createApp(ctx, c, drainNamespace(i%namespaces), fmt.Sprintf("app-%03d", i))
	}); err != nil {
		return err
	}
	err := wait.PollUntilContextTimeout(ctx, time.Second, 10*time.Minute, true, func(ctx context.Context) (bool, error) {
		var list appsv1.DeploymentList
		if err := c.List(ctx, &list, client.MatchingLabels(region)); err != nil {
			return false, err
		}
		ready := 0
		for _, d := range list.Items {
			if d.Status.ReadyReplicas == 2 {
				ready++
			}
		}
		return ready == deployments, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %d pods to be Ready: %w", 2*deployments, err)
	}
	fmt.Printf("drain: %d Deployments (%d pods Ready) with Services in %d namespaces set up in %s\n", deployments, 2*deployments, namespaces, time.Since(start).Round(time.Millisecond))
	return nil
}

func drainNamespace(i int) string { return fmt.Sprintf("drain-%02d", i) }

// benchDrain has the operator drain every Deployment set up by setUpDrain
// through one withdrawal, and measures the time, its CPU and peak memory.
// A watch on the pods says when the cluster had deleted the last of them,
// so that the operator's share of the time can be told from the cluster's.
func benchDrain(ctx context.Context, c client.Client, cfg *rest.Config, op *operator, deployments, namespaces int, timeout time.Duration) error {
	pods, err := watchPods(ctx, cfg)
	if err != nil {
		return err
	}
	// Due at once: the drain starts an hour before a cutoff an hour away.
	cutoff := time.Now().Add(time.Hour).Truncate(time.Second)
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "drain", Namespace: drainNamespace(0)},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Cutoff: metav1.NewTime(cutoff), TimeZone: "Etc/UTC",
			Selector:          metav1.LabelSelector{MatchLabels: region},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"bench": "drain"}},
			Drain: &v1.DrainStep{Start: v1.Moment{Offset: &metav1.Duration{Duration: -time.Hour}}, MaxUnavailable: ptr.To(intstr.FromString("25%")),
				Interval: &metav1.Duration{Duration: time.Second}, Timeout: &metav1.Duration{Duration: 30 * time.Minute}},
		},
	}
	m0, err := op.scrape()
	if err != nil {
		return err
	}
	u0, err := op.usage()
	if err != nil {
		return err
	}
	peakReset := op.resetPeak() == nil
	start := time.Now()
	if err := c.Create(ctx, rw); err != nil {
		return err
	}
	var step v1.StepStatus
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(rw), rw); err != nil {
			return false, err
		}
		for _, s := range rw.Status.Steps {
			if s.Name == v1.StepDrain {
				step = s
			}
		}
		return step.State == v1.StepSucceeded || step.State == v1.StepFailed, nil
	})
	took := time.Since(start)
	u1, uerr := op.usage()
	if err != nil {
		return fmt.Errorf("the drain did not finish within %s: state %q, %s", timeout, step.State, step.Message)
	}
	if uerr != nil {
		return uerr
	}
	if step.State != v1.StepSucceeded {
		return fmt.Errorf("the drain failed: %s", step.Message)
	}
	m1, err := op.scrape()
	if err != nil {
		return err
	}
	peak := "peak RSS (VmHWM could not be reset: since start)"
	if peakReset {
		peak = "peak RSS"
	}
	fmt.Printf("drain: the operator drained %d Deployments (%d pods) in %s from creating the withdrawal to the step seen Succeeded\n",
		deployments, 2*deployments, took.Round(time.Millisecond))
	if step.StartedAt != nil && step.FinishedAt != nil && step.Drain != nil && step.Drain.LastBatchAt != nil {
		fmt.Printf("drain: recorded: started %s after creation, last batch scaled down %s after the start, finished %s after the start\n",
			step.StartedAt.Sub(start).Round(time.Second), step.Drain.LastBatchAt.Sub(step.StartedAt.Time).Round(time.Second), step.FinishedAt.Sub(step.StartedAt.Time).Round(time.Second))
	}
	if left, gone := pods.state(); left == 0 {
		fmt.Printf("drain: the last pod was seen deleted (watch) %s after creation, %s before the step was seen Succeeded\n",
			gone.Sub(start).Round(time.Millisecond), start.Add(took).Sub(gone).Round(time.Millisecond))
	} else {
		fmt.Printf("drain: %d pods were still seen (watch) when the step was seen Succeeded\n", left)
	}
	fmt.Printf("drain: operator process over the drain: CPU %.0f%% of one core (%.1f s CPU), RSS %.1f MiB before, %s %.1f MiB; %.0f reconciles, %.0f API requests\n",
		cpuPercent(u0, u1), float64(u1.cpuTicks-u0.cpuTicks)/userHZ, mib(u0.rssKiB), peak, mib(u1.hwmKiB),
		m1.reconciles()-m0.reconciles(), m1.sum("rest_client_requests_total")-m0.sum("rest_client_requests_total"))
	return nil
}

// podWatch counts the drain's pods through a watch and notes when the last
// one went.
type podWatch struct {
	mu   sync.Mutex
	left int
	gone time.Time
}

func watchPods(ctx context.Context, cfg *rest.Config) (*podWatch, error) {
	informers, err := cache.New(cfg, cache.Options{Scheme: scheme.New(), DefaultLabelSelector: labels.SelectorFromSet(drainPodLabels)})
	if err != nil {
		return nil, err
	}
	pod := &metav1.PartialObjectMetadata{}
	pod.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Pod"))
	inf, err := informers.GetInformer(ctx, pod)
	if err != nil {
		return nil, err
	}
	w := &podWatch{}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { w.mu.Lock(); w.left++; w.mu.Unlock() },
		DeleteFunc: func(any) {
			w.mu.Lock()
			if w.left--; w.left == 0 {
				w.gone = time.Now()
			}
			w.mu.Unlock()
		},
	}); err != nil {
		return nil, err
	}
	go func() { _ = informers.Start(ctx) }()
	syncCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if !informers.WaitForCacheSync(syncCtx) {
		return nil, fmt.Errorf("the pod watch did not sync")
	}
	return w, nil
}

func (w *podWatch) state() (int, time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.left, w.gone
}
