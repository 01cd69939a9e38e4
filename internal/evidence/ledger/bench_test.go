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

package ledger_test

import (
	"context"
	"testing"

	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
)

// BenchmarkAppendSealed1000 appends batches of 1,000 sealed deliveries, as
// the notify executor does after each batch (its default size), to a
// ledger in envtest: the time an append holds up the next batch. Sealing
// is not timed: the executor seals as each delivery is made.
func BenchmarkAppendSealed1000(b *testing.B) {
	const batch = 1000
	ns, rw := setUp(b, "bench")
	l, err := ledger.New(ledger.Options{Client: env.Client, Reader: env.Client, Namespace: ns, Key: key})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		sealed := make([]ledger.Sealed, 0, batch)
		for _, e := range deliveries(l, rw, i*batch, batch) {
			s, err := l.Seal(rw, e)
			if err != nil {
				b.Fatal(err)
			}
			sealed = append(sealed, s)
		}
		b.StartTimer()
		if err := l.AppendSealed(ctx, rw, sealed...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/append")
}

// BenchmarkAppendBatch1000 is BenchmarkAppendSealed1000 with the
// statements gathered in a Batch, which compresses them as they are added
// (untimed: the executor adds each as its delivery is made).
func BenchmarkAppendBatch1000(b *testing.B) {
	const batch = 1000
	ns, rw := setUp(b, "bench")
	l, err := ledger.New(ledger.Options{Client: env.Client, Reader: env.Client, Namespace: ns, Key: key})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		var sealed ledger.Batch
		for _, e := range deliveries(l, rw, i*batch, batch) {
			s, err := l.Seal(rw, e)
			if err != nil {
				b.Fatal(err)
			}
			sealed.Add(s)
		}
		b.StartTimer()
		if err := l.AppendBatch(ctx, rw, &sealed); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/append")
}
