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

package notify_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv/s3srv"
)

// TestFiftyThousandCustomersWithTheLedgerInAnObjectStore: a notice to
// 50,000 recipients in five ConfigMaps, by webhook, with the evidence
// ledger kept as tiles in a real S3-compatible store (SeaweedFS on
// loopback). The process is killed twice mid-notice (its context cancelled
// at a random delivery; a new executor and ledger know only what the API
// server and the store hold). Every recipient gets the notice under its one
// idempotency key, re-sent at most one batch per kill; the ledger holds one
// statement per recipient and verifies; and the ledger wrote at most 1 KiB
// to etcd per 1,000 deliveries.
func TestFiftyThousandCustomersWithTheLedgerInAnObjectStore(t *testing.T) {
	const (
		recipients = 50_000
		sources    = 5
		batch      = notify.DefaultBatchSize
		kills      = 2
	)
	rcv := testsrv.NewWebhook([]byte(signingKey))
	defer rcv.Close()
	var csvs []string
	for part := range sources {
		var b strings.Builder
		b.WriteString("id,name,email\n")
		for i := part * recipients / sources; i < (part+1)*recipients/sources; i++ {
			fmt.Fprintf(&b, "c%05d,Customer %d,c%05d@example.com\n", i, i, i)
		}
		csvs = append(csvs, b.String())
	}
	f := newFixture(t, csvs...)
	rw := f.withdrawal(&v1.NotifyStep{Webhook: webhookChannel(rcv, rcv.Server.URL+"/notices",
		v1.DeliveryLimits{RatePerSecond: 100000, Concurrency: 32, MaxAttempts: 3})}, sources)

	store, err := s3srv.StartEvidenceStore(f.ctx, filepath.Join(testenv.RepoRoot(), "bin", "weed"), "127.0.0.1", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	tiles, err := store.Ledgers("operator")
	if err != nil {
		t.Fatal(err)
	}
	etcd := &testenv.StoredBytes{Client: env.Client}
	// A new process: it knows only what the API server and the store hold.
	process := func() (*notify.Executor, *ledger.Ledger) {
		l, err := ledger.New(ledger.Options{Client: etcd, Reader: env.Client, Namespace: f.ns, Key: evidenceKey, Tiles: tiles})
		if err != nil {
			t.Fatal(err)
		}
		o := executorOptions(nil, batch)
		o.Evidence = l
		return notify.New(o), l
	}

	rng := rand.New(rand.NewPCG(3, 4))
	var killAt atomic.Int64
	for i := range kills {
		total, _ := rcv.Totals()
		killAt.Store(int64(total) + 1 + rng.Int64N(int64(recipients/kills)))
		ctx, kill := context.WithCancel(f.ctx)
		rcv.OnDelivery = func(n int) {
			if int64(n) >= killAt.Load() {
				kill()
			}
		}
		e, _ := process()
		for range 200 {
			if _, err := e.Execute(ctx, rw, announcement); err != nil {
				break
			}
		}
		if ctx.Err() == nil {
			t.Fatalf("kill %d never happened", i+1)
		}
		kill()
	}
	rcv.OnDelivery = nil
	e, l := process()
	res := untilDone(t, f.ctx, e, rw, announcement)
	if res.Detail.Notice.Sent != recipients || res.Detail.Notice.Failed != 0 {
		t.Fatalf("after the kills: %s", res.Message)
	}

	keys := rcv.Keys()
	resent := 0
	for i := range recipients {
		id := fmt.Sprintf("c%05d", i)
		want := notify.IdempotencyKey(string(rw.IdentityKey()), "announcement", id)
		if len(keys[id]) != 1 || keys[id][want] == 0 {
			t.Fatalf("%s: keys %v, want only %s", id, keys[id], want)
		}
		resent += keys[id][want] - 1
	}
	if resent > kills*batch {
		t.Fatalf("%d deliveries re-sent after %d kills, want at most one batch (%d) per kill", resent, kills, batch)
	}

	contents, err := ledger.Read(f.ctx, env.Client, f.ns, rw.UID, ledger.WithTiles(tiles))
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := contents.Bundle(l.Salt(rw.IdentityKey()))
	if err != nil {
		t.Fatal(err)
	}
	r, err := evidence.Verify(bundle, evidence.VerifyOptions{Key: l.VerifierKey(), AllowOpen: true})
	if err != nil {
		t.Fatalf("the ledger does not verify: %v", err)
	}
	byKey := map[string]int{}
	for _, d := range r.Deliveries() {
		byKey[d.IdempotencyKey]++
	}
	if r.Statements != recipients || len(byKey) != recipients {
		t.Fatalf("%d statements, %d keys, for %d recipients: want one each", r.Statements, len(byKey), recipients)
	}

	perK := float64(etcd.Bytes.Load()) * 1000 / recipients
	t.Logf("%d re-sent after %d kills; the ledger wrote %d objects, %d bytes to etcd: %.0f bytes per 1,000 deliveries",
		resent, kills, etcd.Writes.Load(), etcd.Bytes.Load(), perK)
	if perK > 1024 {
		t.Errorf("the ledger wrote %.0f bytes to etcd per 1,000 deliveries, want at most 1 KiB with an object store", perK)
	}
}
