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
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

var sentAt = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// setUp makes a namespace for the ledgers and a withdrawal identity (the
// ledger needs no RegionWithdrawal object, only its name and UID).
func setUp(t *testing.T, name string) (string, *v1.RegionWithdrawal) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: name + "-"}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	rw := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Namespace: "bes", Name: name, UID: types.UID(fmt.Sprintf("uid-%s-%d", name, time.Now().UnixNano()))}}
	return ns.Name, rw
}

func newLedger(t *testing.T, ns string, shardBytes int) *ledger.Ledger {
	t.Helper()
	l, err := ledger.New(ledger.Options{Client: env.Client, Reader: env.Client, Namespace: ns, Key: key, ShardBytes: shardBytes})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var key = []byte("0123456789abcdef0123456789abcdef")

// deliveries are n deliveries of one notice, from recipient first on.
func deliveries(l *ledger.Ledger, rw *v1.RegionWithdrawal, first, n int) []evidence.Event {
	out := make([]evidence.Event, 0, n)
	for i := first; i < first+n; i++ {
		id := fmt.Sprintf("cust-%05d", i)
		out = append(out, &evidence.NoticeDelivered{Header: evidence.Header{At: sentAt.Add(time.Duration(i) * time.Second)},
			Notice: "announcement", Recipient: evidence.RecipientHash(l.Salt(rw.UID), id), Channel: "webhook",
			IdempotencyKey: fmt.Sprintf("%064x", i), Webhook: &evidence.WebhookReceipt{Status: 204, BodySHA256: fmt.Sprintf("%064x", 0)}})
	}
	return out
}

// bundle reads the ledger back as `kubectl withdrawal evidence export`
// does and verifies it with the pinned key.
func bundle(t *testing.T, l *ledger.Ledger, ns string, rw *v1.RegionWithdrawal) *evidence.Report {
	t.Helper()
	contents, err := ledger.Read(context.Background(), env.Client, ns, rw.UID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := contents.Bundle(l.Salt(rw.UID))
	if err != nil {
		t.Fatalf("bundling %d statements of %d shards: %v", len(contents.Leaves), contents.Shards, err)
	}
	r, err := evidence.Verify(b, evidence.VerifyOptions{Key: l.VerifierKey()})
	if err != nil {
		t.Fatalf("the ledger does not verify: %v", err)
	}
	return r
}

// TestAppendIsOncePerEvent: an event appended again (a crash between the
// append and the count replays it) adds nothing, even from a new process
// whose first look at the ledger is after the crash; and everything
// appended verifies, across shards.
func TestAppendIsOncePerEvent(t *testing.T) {
	ctx := context.Background()
	ns, rw := setUp(t, "once")
	// Small shards, so that 1,000 statements span several.
	l := newLedger(t, ns, 64<<10)
	for first := 0; first < 1000; first += 100 {
		if err := l.Append(ctx, rw, deliveries(l, rw, first, 100)...); err != nil {
			t.Fatal(err)
		}
	}
	// A replay of a batch in the same process, and in a new one, with a
	// later receipt time: the statement already there stays the only one.
	replay := deliveries(l, rw, 900, 150)
	for _, e := range replay {
		e.(*evidence.NoticeDelivered).At = sentAt.Add(time.Hour)
	}
	if err := l.Append(ctx, rw, replay...); err != nil {
		t.Fatal(err)
	}
	if err := newLedger(t, ns, 64<<10).Append(ctx, rw, deliveries(l, rw, 0, 1050)...); err != nil {
		t.Fatal(err)
	}

	r := bundle(t, l, ns, rw)
	if r.Statements != 1050 || len(r.Duplicates) != 0 {
		t.Fatalf("%d statements (%d duplicates), want 1050 and none", r.Statements, len(r.Duplicates))
	}
	var list corev1.ConfigMapList
	if err := env.Client.List(ctx, &list, client.InNamespace(ns), ledger.Selector(rw.UID)); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) < 3 {
		t.Errorf("%d shards, want the 1,050 statements spread over several of 64 KiB", len(list.Items))
	}
	for _, cm := range list.Items {
		if size := len(cm.BinaryData[ledger.KeyLeaves]) + len(cm.Data[ledger.KeyState]); size > 64<<10 {
			t.Errorf("shard %s holds %d bytes, over its bound", cm.Name, size)
		}
		if cm.OwnerReferences != nil {
			t.Errorf("shard %s has owners %v: the ledger must outlive the withdrawal", cm.Name, cm.OwnerReferences)
		}
	}
	if ok, _ := r.ToldBefore("cust-00999", l.Salt(rw.UID), sentAt.Add(time.Hour)); !ok {
		t.Errorf("the report does not find cust-00999 told")
	}
}

// TestRacingWritersMerge: two replicas (leader election does not fence)
// append overlapping batches at the same time. Neither overwrites the
// other: every event is in the ledger once, and it verifies.
func TestRacingWritersMerge(t *testing.T) {
	ctx := context.Background()
	ns, rw := setUp(t, "race")
	a, b := newLedger(t, ns, 48<<10), newLedger(t, ns, 48<<10)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, l := range []*ledger.Ledger{a, b} {
		wg.Go(func() {
			// Both send recipients 0–599 in batches of 50, one of them
			// from the other end, so they collide on every shard.
			for k := range 12 {
				first := k * 50
				if i == 1 {
					first = 550 - k*50
				}
				if err := l.Append(ctx, rw, deliveries(l, rw, first, 50)...); err != nil {
					errs[i] = errors.Join(errs[i], err)
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	r := bundle(t, a, ns, rw)
	if r.Statements != 600 {
		t.Fatalf("%d statements, want 600: one per event", r.Statements)
	}
}

// TestTamperedShardIsCaught: a statement changed in the cluster (by anyone
// who can write the namespace) no longer verifies.
func TestTamperedShardIsCaught(t *testing.T) {
	ctx := context.Background()
	ns, rw := setUp(t, "tamper")
	l := newLedger(t, ns, 0)
	if err := l.Append(ctx, rw, deliveries(l, rw, 0, 10)...); err != nil {
		t.Fatal(err)
	}
	// Replace statement 3 with one that says it was delivered an hour
	// earlier, sealed with another key.
	var cm corev1.ConfigMap
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: ledger.ShardName(rw.UID, 0)}, &cm); err != nil {
		t.Fatal(err)
	}
	leaves, err := ledger.Decode(&cm)
	if err != nil {
		t.Fatal(err)
	}
	forger, err := evidence.NewSigner(ledger.KeyName, []byte("another key, 32 bytes long......"))
	if err != nil {
		t.Fatal(err)
	}
	forged := deliveries(l, rw, 3, 1)[0].(*evidence.NoticeDelivered)
	forged.At = sentAt.Add(-time.Hour)
	if leaves[3], err = forger.Seal(ledger.Withdrawal(rw), forged); err != nil {
		t.Fatal(err)
	}
	var checkpoints [][]byte
	st, err := ledger.State(&cm)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Checkpoints {
		checkpoints = append(checkpoints, []byte(c))
	}
	if _, err := evidence.NewBundle(evidence.Origin(ledger.Withdrawal(rw)), l.VerifierKey(), nil, leaves, checkpoints); !errors.Is(err, evidence.ErrRootMismatch) {
		t.Errorf("exporting a tampered ledger: %v, want %v", err, evidence.ErrRootMismatch)
	}
}

// TestNilLedgerRecordsNothing: with the ledger off, appending is a no-op.
func TestNilLedgerRecordsNothing(t *testing.T) {
	var l *ledger.Ledger
	if err := l.Append(context.Background(), &v1.RegionWithdrawal{}, &evidence.Cancelled{}); err != nil {
		t.Fatal(err)
	}
}

// TestShardsAreCopiedAsTheyGrow: with a copy URL, each shard's latest
// content is in the object store, and a copy missed while the store was
// down is made at the next append, not lost.
func TestShardsAreCopiedAsTheyGrow(t *testing.T) {
	ctx := context.Background()
	ns, rw := setUp(t, "copy")
	store, err := testsrv.NewObjectStore("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var down atomic.Bool
	l, err := ledger.New(ledger.Options{Client: env.Client, Reader: env.Client, Namespace: ns, Key: key, ShardBytes: 64 << 10,
		CopyTo: &ledger.HTTPCopier{BaseURL: store.URL + "/evidence", Client: &http.Client{Transport: refusing{down: &down, rt: http.DefaultTransport}}}})
	if err != nil {
		t.Fatal(err)
	}
	for first := 0; first < 600; first += 100 {
		// The store is down for the last batch: its append still lands.
		down.Store(first == 500)
		if err := l.Append(ctx, rw, deliveries(l, rw, first, 100)...); err != nil {
			t.Fatal(err)
		}
	}
	// The store is back; the next append (here a replay, which writes
	// nothing) makes the copy that was missed.
	down.Store(false)
	if err := l.Append(ctx, rw, deliveries(l, rw, 550, 10)...); err != nil {
		t.Fatal(err)
	}
	var list corev1.ConfigMapList
	if err := env.Client.List(ctx, &list, client.InNamespace(ns), ledger.Selector(rw.UID)); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) < 2 {
		t.Fatalf("%d shards, want several", len(list.Items))
	}
	for i := range list.Items {
		cm := &list.Items[i]
		b, ok := store.Get("/evidence/" + ledger.CopyName(cm))
		if !ok {
			t.Errorf("shard %s was never copied", cm.Name)
			continue
		}
		var copied corev1.ConfigMap
		if err := json.Unmarshal(b, &copied); err != nil {
			t.Fatal(err)
		}
		if copied.ResourceVersion != cm.ResourceVersion || !bytes.Equal(copied.BinaryData[ledger.KeyLeaves], cm.BinaryData[ledger.KeyLeaves]) {
			t.Errorf("the copy of shard %s is at resourceVersion %s, the shard at %s", cm.Name, copied.ResourceVersion, cm.ResourceVersion)
		}
	}
}

// refusing fails every request while down is set, as a store that is down.
type refusing struct {
	down *atomic.Bool
	rt   http.RoundTripper
}

func (r refusing) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.down.Load() {
		return nil, errors.New("connection refused")
	}
	return r.rt.RoundTrip(req)
}
