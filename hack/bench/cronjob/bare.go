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

// benchBare measures the limit the operator's route writes run against:
// the same n Ingresses (those of the due phase) written by a bare client,
// with no controller logic at all, bareWorkers at a time from a common
// start, each write one merge patch (an annotation), timed from the start
// to its response. It prints the p99 of each budget and returns the p99
// with the operator's budget.
func benchBare(ctx context.Context, cfg *rest.Config, prefix string, n int, operatorP99 time.Duration) (time.Duration, error) {
	var limited time.Duration
	for i, b := range []clientBudget{operatorBudget, unlimitedBudget} {
		ds, err := bareWrites(ctx, cfg, prefix, n, b, i)
		if err != nil {
			return 0, err
		}
		fmt.Printf("limit: bare client, %s, %d writers from a common start → Ingress patch returned: %s [%d/%d]\n", b.name, bareWorkers, stats.Summary(ds), len(ds), n)
		if b == operatorBudget {
			limited = stats.Quantile(ds, 0.99)
		}
	}
	if limited > 0 && operatorP99 > 0 {
		fmt.Printf("limit: operator p99 (due → Ingress seen switched) / bare p99 with the same budget: %.2f× (goal ≤ 1.5×; the operator's figure also holds its wake-up at the due time and the watch delivering the change)\n",
			float64(operatorP99)/float64(limited))
	}
	return limited, nil
}

// bareWrites patches the n due-phase Ingresses once each, round names the
// annotation's value so that every round is a real change.
func bareWrites(ctx context.Context, cfg *rest.Config, prefix string, n int, b clientBudget, round int) ([]time.Duration, error) {
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
	patch := client.RawPatch("application/merge-patch+json", fmt.Appendf(nil, `{"metadata":{"annotations":{"bench.withdrawal.ops.dev/bare-write":"%d"}}}`, round))
	return bare.Writes(n, bareWorkers, func(i int) error {
		ing := &networkingv1.Ingress{}
		ing.Namespace, ing.Name = dueNamespace(prefix, i), "route"
		return c.Patch(ctx, ing, patch)
	})
}
