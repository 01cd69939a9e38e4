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
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ops-dev/region-withdrawal-operator/controllers"
	"github.com/ops-dev/region-withdrawal-operator/hack/bench/internal/bare"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
	"github.com/ops-dev/region-withdrawal-operator/internal/stats"
)

// clientBudget is a client-side rate limit: requests per second after a
// burst. QPS < 0 is no limit.
type clientBudget struct {
	name  string
	qps   float32
	burst int
}

// The operator's budget is main.go's defaults; an unlimited client shows
// what the API server itself can do.
var (
	operatorBudget  = clientBudget{"the operator's client budget (qps 100, burst 300)", 100, 300}
	unlimitedBudget = clientBudget{"no client-side limit", -1, 0}
)

// bareWorkers matches the operator's reconcile workers.
const bareWorkers = controllers.DefaultMaxConcurrentReconciles

// bareAnnotation is what the bare client writes on each Ingress.
const bareAnnotation = "bench.withdrawal.ops.dev/bare-write"

// benchBare measures the limit the operator's route writes run against:
// the same n Ingresses (those of the due phase) written by a bare client,
// with no controller logic at all, bareWorkers at a time from a common
// start, each write one merge patch (an annotation). Each write is timed
// from the start to its response, and to the change seen through the
// observer's watch, the way the operator's switch is seen. It prints the
// p99s of each budget and the operator's ratios, and returns the p99s with
// the operator's budget: seen, then answered.
func benchBare(ctx context.Context, cfg *rest.Config, obs *observer, prefix string, n int, operatorP99 time.Duration) (seen, answered time.Duration, err error) {
	for i, b := range []clientBudget{operatorBudget, unlimitedBudget} {
		round := fmt.Sprint(i)
		obs.expectBare(round)
		start := time.Now()
		ds, err := bareWrites(ctx, cfg, prefix, n, b, round)
		if err != nil {
			return 0, 0, err
		}
		ws, complete := obs.bareSince(ctx, start, n, time.Now().Add(30*time.Second))
		if !complete {
			return 0, 0, fmt.Errorf("the observer saw %d of the bare client's %d writes", len(ws), n)
		}
		fmt.Printf("limit: bare client, %s, %d writers from a common start → Ingress patch returned: %s [%d/%d]\n", b.name, bareWorkers, stats.Summary(ds), len(ds), n)
		fmt.Printf("limit: bare client, %s, %d writers from a common start → Ingress patch seen (watch): %s [%d/%d]\n", b.name, bareWorkers, stats.Summary(ws), len(ws), n)
		if b == operatorBudget {
			seen, answered = stats.Quantile(ws, 0.99), stats.Quantile(ds, 0.99)
		}
	}
	if seen > 0 && answered > 0 && operatorP99 > 0 {
		fmt.Printf("limit: operator p99 (due → Ingress seen switched) / bare p99 seen through the same watch, same budget: %.2f× (goal ≤ 1.5×; the operator's figure also holds its wake-up at the due time and its planning)\n",
			float64(operatorP99)/float64(seen))
		fmt.Printf("limit: operator p99 (due → Ingress seen switched) / bare p99 to the response, same budget: %.2f× (the operator's figure also holds the watch delivering the change)\n",
			float64(operatorP99)/float64(answered))
	}
	return seen, answered, nil
}

// bareWrites patches the n due-phase Ingresses once each, with round as
// the annotation's value so that every round is a real change.
func bareWrites(ctx context.Context, cfg *rest.Config, prefix string, n int, b clientBudget, round string) ([]time.Duration, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = b.qps, b.burst
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, err
	}
	// Warm the connection and discovery, as the operator's client is warm
	// at its due time.
	var probe networkingv1.Ingress
	if err := c.Get(ctx, client.ObjectKey{Namespace: dueNamespace(prefix, 0), Name: "route"}, &probe); err != nil {
		return nil, err
	}
	patch := client.RawPatch("application/merge-patch+json", fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, bareAnnotation, round))
	return bare.Writes(n, bareWorkers, func(i int) error {
		ing := &networkingv1.Ingress{}
		ing.Namespace, ing.Name = dueNamespace(prefix, i), "route"
		return c.Patch(ctx, ing, patch)
	})
}
