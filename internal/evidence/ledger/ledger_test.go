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
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
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
func setUp(t testing.TB, name string) (string, *v1.RegionWithdrawal) {
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
	r, err := evidence.Verify(b, evidence.VerifyOptions{Key: l.VerifierKey(), AllowOpen: true})
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
	if r.Statements != 1050 {
		t.Fatalf("%d statements, want 1050: one per event", r.Statements)
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

// TestAppendBatch: statements gathered in a Batch by many goroutines at
// once go in as their batch compressed them, in the order it holds them;
// a batch part of which the ledger already holds, or that repeats a
// statement, goes in once per event like AppendSealed; and a new process
// finds the ledger as the operator wrote it.
func TestAppendBatch(t *testing.T) {
	ctx := context.Background()
	ns, rw := setUp(t, "batch")
	l := newLedger(t, ns, 64<<10)
	gather := func(events []evidence.Event) *ledger.Batch {
		t.Helper()
		var b ledger.Batch
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := w; i < len(events); i += 8 {
					s, err := l.Seal(rw, events[i])
					if err != nil {
						t.Error(err)
						return
					}
					b.Add(s)
				}
			})
		}
		wg.Wait()
		return &b
	}
	for first := 0; first < 600; first += 200 {
		b := gather(deliveries(l, rw, first, 200))
		if b.Len() != 200 || len(b.Leaves()) != 200 {
			t.Fatalf("the batch holds %d (%d leaves), want 200", b.Len(), len(b.Leaves()))
		}
		if err := l.AppendBatch(ctx, rw, b); err != nil {
			t.Fatal(err)
		}
	}
	// Half already in the ledger, and one statement twice.
	again := deliveries(l, rw, 500, 200)
	again = append(again, deliveries(l, rw, 650, 1)...)
	if err := l.AppendBatch(ctx, rw, gather(again)); err != nil {
		t.Fatal(err)
	}
	if err := l.AppendBatch(ctx, rw, &ledger.Batch{}); err != nil {
		t.Fatalf("an empty batch: %v", err)
	}
	if err := newLedger(t, ns, 64<<10).AppendBatch(ctx, rw, gather(deliveries(l, rw, 690, 20))); err != nil {
		t.Fatalf("a new process: %v", err)
	}
	if r := bundle(t, l, ns, rw); r.Statements != 710 {
		t.Fatalf("%d statements, want 710: one per event", r.Statements)
	}
	var nothing *ledger.Ledger
	if err := nothing.AppendBatch(ctx, rw, gather(deliveries(l, rw, 0, 1))); err != nil {
		t.Errorf("a nil ledger: %v", err)
	}
}

// TestRacingWritersMerge: two replicas (leader election does not fence)
// append overlapping batches at the same time. Neither overwrites the
// other: every event is in the ledger once, and it verifies.
func TestRacingWritersMerge(t *testing.T) {
	ctx := context.Background()
	ns, rw := setUp(t, "race")
	a, b := newLedger(t, ns, 48<<10), newLedger(t, ns, 48<<10)
	if err := appendRacing(ctx, rw, a, b); err != nil {
		t.Fatal(err)
	}
	r := bundle(t, a, ns, rw)
	if r.Statements != 600 {
		t.Fatalf("%d statements, want 600: one per event", r.Statements)
	}
}

// appendRacing has a and b, two processes, each append recipients 0–599
// in batches of 50, one of them from the other end, so that they collide
// on every write.
func appendRacing(ctx context.Context, rw *v1.RegionWithdrawal, a, b *ledger.Ledger) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, l := range []*ledger.Ledger{a, b} {
		wg.Go(func() {
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
	return errors.Join(errs...)
}

// written is an honest ledger of 120 deliveries in three appends, over
// several shards, and the withdrawal with the head its status would record.
func written(t *testing.T, name string) (string, *v1.RegionWithdrawal, *ledger.Ledger) {
	t.Helper()
	ns, rw := setUp(t, name)
	l := newLedger(t, ns, 16<<10)
	for first := 0; first < 120; first += 40 {
		if err := l.Append(context.Background(), rw, deliveries(l, rw, first, 40)...); err != nil {
			t.Fatal(err)
		}
	}
	head, ok := l.Head(rw.UID)
	if !ok || head.Statements != 120 || head.Sealed {
		t.Fatalf("head %+v (%v), want 120 statements, open", head, ok)
	}
	rw.Status.Evidence = &head
	return ns, rw, l
}

// shards reads a ledger's shards, in order.
func shards(t *testing.T, ns string, rw *v1.RegionWithdrawal) []corev1.ConfigMap {
	t.Helper()
	var out []corev1.ConfigMap
	if err := ledger.Shards(context.Background(), env.Client, ns, rw.UID, func(cm *corev1.ConfigMap) error {
		out = append(out, *cm.DeepCopy())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(out) < 3 {
		t.Fatalf("%d shards, want several", len(out))
	}
	return out
}

// encodeLeaves writes leaves as a shard stores them.
func encodeLeaves(t *testing.T, leaves [][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for _, l := range leaves {
		_, _ = zw.Write(binary.AppendUvarint(nil, uint64(len(l))))
		_, _ = zw.Write(l)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// editState rewrites a shard's state.
func editState(t *testing.T, cm *corev1.ConfigMap, edit func(*ledger.ShardState)) {
	t.Helper()
	st, err := ledger.State(cm)
	if err != nil {
		t.Fatal(err)
	}
	edit(&st)
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	cm.Data[ledger.KeyState] = string(b)
}

// TestALedgerChangedInTheClusterIsNeverSignedOver: whoever can write the
// installation's namespace changes a ledger. The operator's next append,
// from a new process that checks it against the withdrawal's status,
// finds the change, refuses with a TamperedError, and writes nothing; once
// the shards are put back, it appends again.
func TestALedgerChangedInTheClusterIsNeverSignedOver(t *testing.T) {
	forger, err := evidence.NewSigner(ledger.KeyName, []byte("another key, 32 bytes long......"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		// tamper changes the shards, in place; it returns the names of
		// those to delete.
		tamper func(t *testing.T, rw *v1.RegionWithdrawal, shards []corev1.ConfigMap) []string
		want   string
		// open is true when the change touches the open shard, which the
		// writer finds at its next write; a change to an earlier shard
		// is found by the next process that loads the ledger.
		open bool
	}{{
		name: "a statement replaced with a copy of the one before",
		tamper: func(t *testing.T, rw *v1.RegionWithdrawal, shards []corev1.ConfigMap) []string {
			leaves, err := ledger.Decode(&shards[1])
			if err != nil {
				t.Fatal(err)
			}
			leaves[3] = leaves[2]
			shards[1].BinaryData[ledger.KeyLeaves] = encodeLeaves(t, leaves)
			return nil
		},
		want: "repeats the key",
	}, {
		name: "a statement re-signed by another key, saying it was delivered earlier",
		tamper: func(t *testing.T, rw *v1.RegionWithdrawal, shards []corev1.ConfigMap) []string {
			leaves, err := ledger.Decode(&shards[0])
			if err != nil {
				t.Fatal(err)
			}
			l := newLedger(t, "unused", 0)
			forged := deliveries(l, rw, 3, 1)[0].(*evidence.NoticeDelivered)
			forged.At = sentAt.Add(-time.Hour)
			if leaves[3], err = forger.Seal(ledger.Withdrawal(rw), forged); err != nil {
				t.Fatal(err)
			}
			shards[0].BinaryData[ledger.KeyLeaves] = encodeLeaves(t, leaves)
			return nil
		},
		want: "not those the operator signed",
	}, {
		name: "a key planted so that a future event is never recorded",
		tamper: func(t *testing.T, rw *v1.RegionWithdrawal, shards []corev1.ConfigMap) []string {
			editState(t, &shards[len(shards)-1], func(st *ledger.ShardState) {
				sum := sha256.Sum256([]byte(evidence.SealKey))
				st.Keys = append(st.Keys[:len(st.Keys)-8], sum[:8]...)
			})
			return nil
		},
		want: "list of keys",
		open: true,
	}, {
		name: "the state corrupted",
		tamper: func(t *testing.T, rw *v1.RegionWithdrawal, shards []corev1.ConfigMap) []string {
			shards[1].Data[ledger.KeyState] = `{"key":`
			return nil
		},
		want: "unexpected end of JSON input",
	}, {
		name: "the last shard deleted",
		tamper: func(t *testing.T, rw *v1.RegionWithdrawal, shards []corev1.ConfigMap) []string {
			return []string{shards[len(shards)-1].Name}
		},
		want: "shards were removed or cut short",
		open: true,
	}, {
		name: "a shard in the middle deleted",
		tamper: func(t *testing.T, rw *v1.RegionWithdrawal, shards []corev1.ConfigMap) []string {
			return []string{shards[1].Name}
		},
		want: "is missing",
	}, {
		name: "a statement added under a checkpoint signed by another key",
		tamper: func(t *testing.T, rw *v1.RegionWithdrawal, shards []corev1.ConfigMap) []string {
			last := &shards[len(shards)-1]
			leaves, err := ledger.Decode(last)
			if err != nil {
				t.Fatal(err)
			}
			env, err := forger.Seal(ledger.Withdrawal(rw), &evidence.Cancelled{Header: evidence.Header{At: sentAt}})
			if err != nil {
				t.Fatal(err)
			}
			last.BinaryData[ledger.KeyLeaves] = encodeLeaves(t, append(leaves, env))
			editState(t, last, func(st *ledger.ShardState) {
				if err := st.Tree.Append(env); err != nil {
					t.Fatal(err)
				}
				cp, err := forger.SignCheckpoint(evidence.Origin(ledger.Withdrawal(rw)), st.Tree)
				if err != nil {
					t.Fatal(err)
				}
				st.Checkpoints = append(st.Checkpoints, string(cp))
			})
			return nil
		},
		want: "is not the operator's",
		open: true,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			ns, rw, honest := written(t, "tamper")
			original := shards(t, ns, rw)
			changed := shards(t, ns, rw)
			deleted := tc.tamper(t, rw, changed)
			for i := range changed {
				cm := &changed[i]
				switch {
				case slices.Contains(deleted, cm.Name):
					if err := env.Client.Delete(ctx, cm); err != nil {
						t.Fatal(err)
					}
				case !equality.Semantic.DeepEqual(cm.Data, original[i].Data) || !equality.Semantic.DeepEqual(cm.BinaryData, original[i].BinaryData):
					if err := env.Client.Update(ctx, cm); err != nil {
						t.Fatal(err)
					}
				}
			}

			// A new process refuses, and writes nothing.
			refused := func(who string, l *ledger.Ledger) {
				t.Helper()
				before := resourceVersions(t, ns, rw)
				err := l.Append(ctx, rw, deliveries(l, rw, 500, 5)...)
				tampered, ok := ledger.AsTampered(err)
				if !ok {
					t.Fatalf("%s appended to a changed ledger: %v", who, err)
				}
				if !strings.Contains(tampered.Error(), tc.want) || !errors.Is(err, ledger.ErrTampered) {
					t.Errorf("%s: %v, want it to say %q", who, err, tc.want)
				}
				if after := resourceVersions(t, ns, rw); !maps.Equal(before, after) {
					t.Fatalf("%s wrote to a changed ledger: %v, then %v", who, before, after)
				}
			}
			refused("a new process", newLedger(t, ns, 16<<10))
			// The writer finds a change to its open shard at once. A change
			// before it, it does not read again; what it signs is its own
			// tree, so it never signs the change over, and the next process
			// still finds it.
			if tc.open {
				refused("the writer", honest)
			} else {
				if err := honest.Append(ctx, rw, deliveries(honest, rw, 500, 5)...); err != nil {
					t.Fatalf("the writer: %v", err)
				}
				refused("a new process after the writer appended", newLedger(t, ns, 16<<10))
			}

			// Put back as it was, the ledger takes appends again.
			for i := range original {
				if !slices.Contains(deleted, original[i].Name) && equality.Semantic.DeepEqual(changed[i].Data, original[i].Data) &&
					equality.Semantic.DeepEqual(changed[i].BinaryData, original[i].BinaryData) {
					continue // untouched
				}
				cm := original[i].DeepCopy()
				cm.ResourceVersion = ""
				if slices.Contains(deleted, cm.Name) {
					if err := env.Client.Create(ctx, cm); err != nil {
						t.Fatal(err)
					}
					continue
				}
				var now corev1.ConfigMap
				if err := env.Client.Get(ctx, client.ObjectKeyFromObject(cm), &now); err != nil {
					t.Fatal(err)
				}
				cm.ResourceVersion = now.ResourceVersion
				if err := env.Client.Update(ctx, cm); err != nil {
					t.Fatal(err)
				}
			}
			if err := honest.Append(ctx, rw, deliveries(honest, rw, 500, 5)...); err != nil {
				t.Fatalf("the restored ledger: %v", err)
			}
			if r := bundle(t, honest, ns, rw); r.Statements != 125 {
				t.Errorf("%d statements after the restore, want 125", r.Statements)
			}
		})
	}
}

// resourceVersions maps each shard of a ledger to its resourceVersion.
func resourceVersions(t *testing.T, ns string, rw *v1.RegionWithdrawal) map[string]string {
	t.Helper()
	var list corev1.ConfigMapList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns), ledger.Selector(rw.UID)); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, cm := range list.Items {
		out[cm.Name] = cm.ResourceVersion
	}
	return out
}

// TestTheSealIsLast: once sealed, a ledger takes no new statement; the
// seal replayed adds nothing, and the head says sealed.
func TestTheSealIsLast(t *testing.T) {
	ctx := context.Background()
	ns, rw, l := written(t, "seal")
	seal := &evidence.LedgerSealed{Header: evidence.Header{At: sentAt.Add(time.Hour)}, Reason: evidence.SealCompleted}
	// The seal goes last even when it is handed over first.
	if err := l.Append(ctx, rw, seal, deliveries(l, rw, 200, 1)[0]); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ctx, rw, &evidence.LedgerSealed{Header: evidence.Header{At: sentAt.Add(2 * time.Hour)}, Reason: evidence.SealDeleted}); err != nil {
		t.Fatalf("a second seal: %v", err)
	}
	if err := newLedger(t, ns, 16<<10).Append(ctx, rw, deliveries(l, rw, 300, 1)...); !errors.Is(err, ledger.ErrSealed) {
		t.Errorf("appending after the seal: %v, want ErrSealed", err)
	}
	head, _ := l.Head(rw.UID)
	r := bundle(t, l, ns, rw)
	if r.Seal == nil || r.Seal.Reason != evidence.SealCompleted || r.Statements != 122 || !head.Sealed || head.Statements != 122 {
		t.Errorf("seal %+v, %d statements, head %+v; want the completed seal last of 122", r.Seal, r.Statements, head)
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

// TestHeadSaysWhatTheShardsStore: status.evidence.storedBytes, which the
// etcd-quota alert sums, is what the shards hold, for the process that
// wrote them and for a new one that read them back.
func TestHeadSaysWhatTheShardsStore(t *testing.T) {
	ns, rw, l := written(t, "stored")
	var want int64
	for _, cm := range shards(t, ns, rw) {
		want += int64(len(cm.BinaryData[ledger.KeyLeaves]) + len(cm.Data[ledger.KeyState]))
	}
	head, _ := l.Head(rw.UID)
	if head.StoredBytes != want {
		t.Errorf("the writer says %d bytes stored, the shards hold %d", head.StoredBytes, want)
	}
	fresh := newLedger(t, ns, 16<<10)
	if err := fresh.Append(context.Background(), rw, deliveries(fresh, rw, 0, 1)...); err != nil { // a replay: loads, adds nothing
		t.Fatal(err)
	}
	if again, _ := fresh.Head(rw.UID); again.StoredBytes != want || again.Statements != 120 {
		t.Errorf("a new process says %d bytes in %d statements, want %d in 120", again.StoredBytes, again.Statements, want)
	}
}

// TestExportReadsTheStatementsTwice: Summarize keeps 32 bytes a statement,
// WriteStatements reads the shards again as it writes; the bundle is the
// one the whole ledger in memory makes, and a shard changed between the
// two reads fails the export instead of mixing two ledgers.
func TestExportReadsTheStatementsTwice(t *testing.T) {
	ctx := context.Background()
	ns, rw, l := written(t, "twice")
	sum, err := ledger.Summarize(ctx, env.Client, ns, rw.UID)
	if err != nil {
		t.Fatal(err)
	}
	head, err := sum.Head(nil)
	if err != nil {
		t.Fatal(err)
	}
	var streamed bytes.Buffer
	w, err := evidence.NewBundleWriter(&streamed, head)
	if err != nil {
		t.Fatal(err)
	}
	if err := sum.WriteStatements(ctx, env.Client, ns, w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	contents, err := ledger.Read(ctx, env.Client, ns, rw.UID)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := contents.Bundle(nil)
	if err != nil {
		t.Fatal(err)
	}
	var inMemory bytes.Buffer
	if err := evidence.WriteBundle(&inMemory, whole); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(streamed.Bytes(), inMemory.Bytes()) {
		t.Fatal("the bundle written from the summary is not the one written from the whole ledger")
	}
	if _, err := evidence.VerifyReader(&streamed, evidence.VerifyOptions{Key: l.VerifierKey(), AllowOpen: true}); err != nil {
		t.Fatal(err)
	}

	// Between the reads, a statement of the second shard is swapped for
	// the first's.
	cms := shards(t, ns, rw)
	leaves, err := ledger.Decode(&cms[0])
	if err != nil {
		t.Fatal(err)
	}
	second := cms[1]
	mine, err := ledger.Decode(&second)
	if err != nil {
		t.Fatal(err)
	}
	mine[0] = leaves[0]
	second.BinaryData[ledger.KeyLeaves] = encodeLeaves(t, mine)
	if err := env.Client.Update(ctx, &second); err != nil {
		t.Fatal(err)
	}
	w, err = evidence.NewBundleWriter(io.Discard, head)
	if err != nil {
		t.Fatal(err)
	}
	if err := sum.WriteStatements(ctx, env.Client, ns, w); !errors.Is(err, ledger.ErrChanged) {
		t.Fatalf("a ledger changed between the reads: %v, want %v", err, ledger.ErrChanged)
	}
}

// TestAnExportRefusesStatementsNoCheckpointCovers: someone with write
// access to the shards appends a statement to the last one without a
// checkpoint (they have no key to sign one); export refuses the ledger
// rather than hand the statement out.
func TestAnExportRefusesStatementsNoCheckpointCovers(t *testing.T) {
	ctx := context.Background()
	ns, rw, _ := written(t, "uncovered")
	cms := shards(t, ns, rw)
	last := cms[len(cms)-1]
	leaves, err := ledger.Decode(&last)
	if err != nil {
		t.Fatal(err)
	}
	last.BinaryData[ledger.KeyLeaves] = encodeLeaves(t, append(leaves, leaves[0]))
	if err := env.Client.Update(ctx, &last); err != nil {
		t.Fatal(err)
	}
	sum, err := ledger.Summarize(ctx, env.Client, ns, rw.UID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sum.Head(nil); !errors.Is(err, evidence.ErrUncovered) {
		t.Fatalf("a statement under no checkpoint: %v, want %v", err, evidence.ErrUncovered)
	}
}
