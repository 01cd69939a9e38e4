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
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/tiles"
	"github.com/ops-dev/region-withdrawal-operator/internal/s3store"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv/s3srv"
)

// TestLedgersKeptAsTiles runs the tests of tiled ledgers against one real
// S3-compatible store (SeaweedFS) on loopback: it takes seconds to take
// its first write.
func TestLedgersKeptAsTiles(t *testing.T) {
	// The operator reads and writes the bucket; an intruder has write
	// access to it too, which is what the ledger must survive.
	s, err := s3srv.StartEvidenceStore(context.Background(), filepath.Join(testenv.RepoRoot(), "bin", "weed"), "127.0.0.1", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	t.Run("ALedgerKeptAsTiles", func(t *testing.T) { testALedgerKeptAsTiles(t, s) })
	t.Run("TilesNotPublishedArePublishedByTheNextAppend", func(t *testing.T) { testTilesNotPublishedArePublishedByTheNextAppend(t, s) })
	t.Run("RacingTiledWritersMerge", func(t *testing.T) { testRacingTiledWritersMerge(t, s) })
	t.Run("ALosingWritersStagedObjectIsRemoved", func(t *testing.T) { testALosingWritersStagedObjectIsRemoved(t, s) })
	t.Run("ATiledLedgerChangedInTheStoreIsNeverSignedOver", func(t *testing.T) { testATiledLedgerChangedInTheStoreIsNeverSignedOver(t, s) })
	t.Run("ALedgerBegunInConfigMapsStaysThere", func(t *testing.T) { testALedgerBegunInConfigMapsStaysThere(t, s) })
}

// testALedgerBegunInConfigMapsStaysThere: an installation that configures
// an object store mid-withdrawal keeps appending to the ledgers it began in
// ConfigMap shards there, and reads them as before.
func testALedgerBegunInConfigMapsStaysThere(t *testing.T, s *s3srv.SeaweedFS) {
	ctx := context.Background()
	ns, rw := setUp(t, "stays")
	before := newLedger(t, ns, 0)
	if err := before.Append(ctx, rw, deliveries(before, rw, 0, 50)...); err != nil {
		t.Fatal(err)
	}
	ts, _ := tileStore(t, s, "operator")
	l := newTiledLedger(t, ns, ts)
	if err := l.Append(ctx, rw, deliveries(l, rw, 50, 50)...); err != nil {
		t.Fatal(err)
	}
	var states int
	if err := ledger.Shards(ctx, env.Client, ns, rw.UID, func(cm *corev1.ConfigMap) error {
		if _, tiled, _ := ledger.TiledStateOf(cm); tiled {
			t.Errorf("%s is kept as tiles", cm.Name)
		}
		states++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	contents, err := ledger.Read(ctx, env.Client, ns, rw.UID)
	if err != nil || len(contents.Leaves) != 100 || states == 0 {
		t.Fatalf("%d statements in %d shards (%v), want 100 in ConfigMaps", len(contents.Leaves), states, err)
	}
}

// tileStore is the bucket's ledgers as identity reaches them.
func tileStore(t *testing.T, s *s3srv.SeaweedFS, identity string) (*ledger.TileStore, *s3store.Bucket) {
	t.Helper()
	ts, err := s.Ledgers(identity)
	if err != nil {
		t.Fatal(err)
	}
	return ts, ts.Store.(*s3store.Bucket)
}

func newTiledLedger(t *testing.T, ns string, ts *ledger.TileStore) *ledger.Ledger {
	t.Helper()
	l, err := ledger.New(ledger.Options{Client: env.Client, Reader: env.Client, Namespace: ns, Key: key, Tiles: ts})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// tiledState is the ledger's one ConfigMap and its state.
func tiledState(t *testing.T, ns string, rw *v1.RegionWithdrawal) (*corev1.ConfigMap, ledger.TiledState) {
	t.Helper()
	var cms []corev1.ConfigMap
	if err := ledger.Shards(context.Background(), env.Client, ns, rw.UID, func(cm *corev1.ConfigMap) error {
		cms = append(cms, *cm.DeepCopy())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(cms) != 1 {
		t.Fatalf("%d ConfigMaps, want one", len(cms))
	}
	st, ok, err := ledger.TiledStateOf(&cms[0])
	if !ok || err != nil {
		t.Fatalf("not a tiled ledger: %v", err)
	}
	return &cms[0], st
}

// tileReader reads hash tiles for x/mod's tlog, an implementation of
// tiles independent of ours.
type tileReader struct {
	ctx   context.Context
	store tiles.Store
}

func (tileReader) Height() int { return 8 }
func (r tileReader) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	var out [][]byte
	for _, t := range ts {
		b, err := r.store.Get(r.ctx, tiles.TilePath(t.L, uint64(t.N), t.W))
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
func (tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// testALedgerKeptAsTiles: with an object store, a ledger's statements go
// to a real S3-compatible store as C2SP tlog-tiles and the cluster holds
// one ConfigMap of under a kilobyte, whatever the ledger's size. Appends
// are once per event, across processes; the ledger reads back and
// verifies; a tlog-tiles client (x/mod's tlog) proves statements from the
// hash tiles against the operator's checkpoint; and a reader without the
// store is told where the tiles are.
func testALedgerKeptAsTiles(t *testing.T, s *s3srv.SeaweedFS) {
	ctx := context.Background()
	ts, bucket := tileStore(t, s, "operator")
	ns, rw := setUp(t, "tiles")
	l := newTiledLedger(t, ns, ts)
	var etcdBytes []int
	for first := 0; first < 1000; first += 100 {
		if err := l.Append(ctx, rw, deliveries(l, rw, first, 100)...); err != nil {
			t.Fatal(err)
		}
		cm, _ := tiledState(t, ns, rw)
		etcdBytes = append(etcdBytes, cm.Size())
	}
	// A process that died left partial tiles of the tile at the edge
	// (statements 768 to 1023) that this one never knew of: the new
	// process below finds them when it loads, and removes them (the
	// tile fills before it).
	for _, leftover := range []string{tiles.EntriesPath(3, 5), tiles.TilePath(0, 3, 5)} {
		if err := bucket.Put(ctx, string(rw.UID)+"/"+leftover, []byte("left by a process that died")); err != nil {
			t.Fatal(err)
		}
	}
	// Replays, in this process and in a new one (which reads the ledger
	// from the store), add nothing; the new process appends after them.
	if err := l.Append(ctx, rw, deliveries(l, rw, 900, 150)...); err != nil {
		t.Fatal(err)
	}
	l2 := newTiledLedger(t, ns, ts)
	if err := l2.Append(ctx, rw, deliveries(l, rw, 0, 1100)...); err != nil {
		t.Fatal(err)
	}
	// Tiles are published in the background: wait for both processes'.
	for _, l := range []*ledger.Ledger{l, l2} {
		if err := l.Flush(ctx, rw.UID); err != nil {
			t.Fatal(err)
		}
	}
	cm, st := tiledState(t, ns, rw)
	if _, ok := cm.BinaryData[ledger.KeyLeaves]; ok || len(cm.Data) != 3 {
		t.Errorf("the ConfigMap holds %v, want only its state", cm.Data)
	}
	// What etcd stores: the object's protobuf, with its metadata.
	for i, n := range append(etcdBytes, cm.Size()) {
		if n > 1024 {
			t.Errorf("after append %d the ConfigMap is %d bytes, want under 1 KiB whatever the ledger's size", i, n)
		}
	}
	head, ok := newTiledLedger(t, ns, ts).Head(rw.UID)
	if ok {
		t.Fatalf("a new process has a head before it loads: %+v", head)
	}

	contents, err := ledger.Read(ctx, env.Client, ns, rw.UID, ledger.WithTiles(ts))
	if err != nil {
		t.Fatal(err)
	}
	b, err := contents.Bundle(l.Salt(rw.UID))
	if err != nil {
		t.Fatal(err)
	}
	r, err := evidence.Verify(b, evidence.VerifyOptions{Key: l.VerifierKey(), AllowOpen: true})
	if err != nil {
		t.Fatalf("the ledger does not verify: %v", err)
	}
	if r.Statements != 1100 || len(contents.Checkpoints) != 1 {
		t.Fatalf("%d statements, %d checkpoints; want 1100, the latest only", r.Statements, len(contents.Checkpoints))
	}

	// The published checkpoint is the ConfigMap's, and x/mod's tlog
	// proves statements from the hash tiles against it.
	store := tiles.Prefixed(bucket, string(rw.UID))
	published, err := store.Get(ctx, tiles.CheckpointPath)
	if err != nil || string(published) != st.Checkpoint {
		t.Fatalf("the published checkpoint %q (%v) is not the ConfigMap's %q", published, err, st.Checkpoint)
	}
	v, err := note.NewVerifier(l.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	cp, err := evidence.OpenCheckpoint(published, evidence.Origin(ledger.Withdrawal(rw)), v)
	if err != nil {
		t.Fatal(err)
	}
	tree := tlog.Tree{N: int64(cp.Size), Hash: tlog.Hash(cp.Hash)}
	hr := tlog.TileHashReader(tree, tileReader{ctx, store})
	for _, i := range []int64{0, 255, 256, 1099} {
		p, err := tlog.ProveRecord(tree.N, i, hr)
		if err != nil {
			t.Fatalf("proving statement %d from the tiles: %v", i, err)
		}
		if err := tlog.CheckRecord(p, tree.N, tree.Hash, i, tlog.RecordHash(contents.Leaves[i])); err != nil {
			t.Fatalf("statement %d: %v", i, err)
		}
	}
	// One staged object is left: the last append's.
	if staged := stagedObjects(t, s, bucket, rw); len(staged) != 1 || !strings.HasSuffix(staged[0], st.Pending.Object) {
		t.Errorf("staged objects %v, want only %s", staged, st.Pending.Object)
	}

	// No partial tile of a full one is left (the appends of 100 made
	// several of each of the first tiles, and a dead process two of the
	// fourth), and the edge's are there.
	objects := listObjects(t, s, bucket.Prefix+string(rw.UID)+"/tile/")
	var partials []string
	for o := range objects {
		if i := strings.Index(o, ".p/"); i >= 0 {
			partials = append(partials, o)
			if objects[o[:i]] {
				t.Errorf("%s is left, though its full tile is published", o)
			}
		}
	}
	if edge := bucket.Prefix + string(rw.UID) + "/" + tiles.EntriesPath(4, 1100-4*tiles.Width); !objects[edge] || len(partials) == 0 {
		t.Errorf("partial tiles %v; want the edge's, %s, among them", partials, edge)
	}

	if _, err := ledger.Read(ctx, env.Client, ns, rw.UID); !errors.Is(err, ledger.ErrNoTileStore) || !strings.Contains(err.Error(), ts.Location) {
		t.Errorf("a reader without the store: %v; want ErrNoTileStore naming %s", err, ts.Location)
	}
}

// listObjects lists the objects under prefix, as the bucket's admin sees
// them.
func listObjects(t *testing.T, s *s3srv.SeaweedFS, prefix string) map[string]bool {
	t.Helper()
	c, err := s.Client("admin")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for o := range c.ListObjects(context.Background(), s3srv.EvidenceBucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		out[o.Key] = true
	}
	return out
}

// stagedObjects lists the staged objects of rw's ledger in the store, as
// the bucket's admin sees them.
func stagedObjects(t *testing.T, s *s3srv.SeaweedFS, bucket *s3store.Bucket, rw *v1.RegionWithdrawal) []string {
	t.Helper()
	return slices.Sorted(maps.Keys(listObjects(t, s, bucket.Prefix+string(rw.UID)+"/"+ledger.PendingPrefix)))
}

// testALosingWritersStagedObjectIsRemoved: a process whose append loses the
// race for the ConfigMap to another process's removes the object it staged,
// which nothing names; the object store keeps only the one the ConfigMap
// names. (Left, each lost race of two processes would leave a batch's
// statements in the store for good.)
func testALosingWritersStagedObjectIsRemoved(t *testing.T, s *s3srv.SeaweedFS) {
	ctx := context.Background()
	ts, bucket := tileStore(t, s, "operator")
	ns, rw := setUp(t, "tilelost")
	a, b := newTiledLedger(t, ns, ts), newTiledLedger(t, ns, ts)
	if err := b.Append(ctx, rw, deliveries(b, rw, 0, 10)...); err != nil {
		t.Fatal(err)
	}
	if err := a.Append(ctx, rw, deliveries(a, rw, 10, 10)...); err != nil {
		t.Fatal(err)
	}
	// b still holds the ConfigMap of its own append: this one stages its
	// statements, loses, reads the ledger again and appends after a's.
	lost := &recordingTiles{Store: bucket}
	b.Tiles = &ledger.TileStore{Store: lost, Location: ts.Location}
	if err := b.Append(ctx, rw, deliveries(b, rw, 20, 10)...); err != nil {
		t.Fatal(err)
	}
	for _, l := range []*ledger.Ledger{a, b} {
		if err := l.Flush(ctx, rw.UID); err != nil {
			t.Fatal(err)
		}
	}
	if staged := lost.staged(); len(staged) != 2 {
		t.Fatalf("b staged %v; want two objects, the one that lost and the one that won", staged)
	}
	_, st := tiledState(t, ns, rw)
	if staged := stagedObjects(t, s, bucket, rw); len(staged) != 1 || !strings.HasSuffix(staged[0], st.Pending.Object) {
		t.Errorf("staged objects %v, want only %s, which the ConfigMap names", staged, st.Pending.Object)
	}
	contents, err := ledger.Read(ctx, env.Client, ns, rw.UID, ledger.WithTiles(ts))
	if err != nil || len(contents.Leaves) != 30 {
		t.Fatalf("%d statements (%v), want 30", len(contents.Leaves), err)
	}
}

// recordingTiles records the names of the staged objects put through it.
type recordingTiles struct {
	tiles.Store
	mu    sync.Mutex
	names []string
}

func (r *recordingTiles) Put(ctx context.Context, name string, body []byte) error {
	if strings.Contains(name, "/"+ledger.PendingPrefix) {
		r.mu.Lock()
		r.names = append(r.names, name)
		r.mu.Unlock()
	}
	return r.Store.Put(ctx, name, body)
}

func (r *recordingTiles) staged() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.names)
}

// failingTiles fails every write of a tile, as a store that went away
// between an append's ConfigMap write and its tiles would.
type failingTiles struct {
	tiles.Store
	mu    sync.Mutex
	fail  bool
	tried int
}

func (f *failingTiles) Put(ctx context.Context, name string, body []byte) error {
	f.mu.Lock()
	fail := f.fail && strings.Contains(name, "/tile/")
	if fail {
		f.tried++
	}
	f.mu.Unlock()
	if fail {
		return fmt.Errorf("the store is away")
	}
	return f.Store.Put(ctx, name, body)
}

// testTilesNotPublishedArePublishedByTheNextAppend: an append whose tiles
// fail to publish is recorded all the same (its statements are in the
// staged object the ConfigMap names); a new process reads the ledger from
// the tiles and that object, and its next append publishes them first.
func testTilesNotPublishedArePublishedByTheNextAppend(t *testing.T, s *s3srv.SeaweedFS) {
	ctx := context.Background()
	ts, bucket := tileStore(t, s, "operator")
	ns, rw := setUp(t, "publish")
	l := newTiledLedger(t, ns, ts)
	if err := l.Append(ctx, rw, deliveries(l, rw, 0, 300)...); err != nil {
		t.Fatal(err)
	}
	// A second process loads the ledger and appends while the store is
	// up, then the store goes away between its ConfigMap write and its
	// tiles.
	f := &failingTiles{Store: ts.Store}
	down := newTiledLedger(t, ns, &ledger.TileStore{Store: f, Location: ts.Location})
	if err := down.Append(ctx, rw, deliveries(l, rw, 300, 100)...); err != nil {
		t.Fatal(err)
	}
	if err := down.Flush(ctx, rw.UID); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.fail = true
	f.mu.Unlock()
	if err := down.Append(ctx, rw, deliveries(l, rw, 400, 200)...); err != nil {
		t.Fatalf("an append whose tiles could not be published: %v", err)
	}
	if err := down.Flush(ctx, rw.UID); err == nil {
		t.Fatal("the tiles were published through a store that fails every tile")
	}
	f.mu.Lock()
	tried := f.tried
	f.mu.Unlock()
	if tried == 0 {
		t.Fatal("no tile was tried: the test does not test")
	}
	store := tiles.Prefixed(bucket, string(rw.UID))
	if err := tiles.ReadEntries(ctx, store, 600, func(uint64, []byte) error { return nil }); !errors.Is(err, tiles.ErrNotFound) {
		t.Fatalf("the tiles of the failed publish are there: %v", err)
	}
	// A new process reads all 600, and appends after them.
	l2 := newTiledLedger(t, ns, ts)
	if err := l2.Append(ctx, rw, deliveries(l, rw, 0, 700)...); err != nil {
		t.Fatal(err)
	}
	if err := l2.Flush(ctx, rw.UID); err != nil {
		t.Fatal(err)
	}
	if err := tiles.ReadEntries(ctx, store, 600, func(uint64, []byte) error { return nil }); err != nil {
		t.Fatalf("the new process did not publish what the failed one left: %v", err)
	}
	contents, err := ledger.Read(ctx, env.Client, ns, rw.UID, ledger.WithTiles(ts))
	if err != nil || len(contents.Leaves) != 700 {
		t.Fatalf("%d statements (%v), want 700", len(contents.Leaves), err)
	}
}

// testRacingTiledWritersMerge: two processes append to one tiled ledger
// at once; every event is recorded once, and the tiles they both publish
// are one ledger's.
func testRacingTiledWritersMerge(t *testing.T, s *s3srv.SeaweedFS) {
	ctx := context.Background()
	ts, _ := tileStore(t, s, "operator")
	ns, rw := setUp(t, "tilerace")
	a, b := newTiledLedger(t, ns, ts), newTiledLedger(t, ns, ts)
	if err := appendRacing(ctx, rw, a, b); err != nil {
		t.Fatal(err)
	}
	// A third process loads it all from the store, checked.
	if err := newTiledLedger(t, ns, ts).Append(ctx, rw, deliveries(a, rw, 600, 1)...); err != nil {
		t.Fatal(err)
	}
	contents, err := ledger.Read(ctx, env.Client, ns, rw.UID, ledger.WithTiles(ts))
	if err != nil {
		t.Fatal(err)
	}
	b2, err := contents.Bundle(nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := evidence.Verify(b2, evidence.VerifyOptions{Key: a.VerifierKey(), AllowOpen: true})
	if err != nil || r.Statements != 601 {
		t.Fatalf("%v statements (%v), want 601: one per event", r, err)
	}
}

// testATiledLedgerChangedInTheStoreIsNeverSignedOver: an intruder with
// write access to the bucket (its own credentials) changes a ledger's
// tiles, removes one, or rolls the ConfigMap back to an earlier state.
// The operator's next process finds it, refuses with a TamperedError and
// writes nothing; once put back, it appends again.
func testATiledLedgerChangedInTheStoreIsNeverSignedOver(t *testing.T, s *s3srv.SeaweedFS) {
	ctx := context.Background()
	ts, _ := tileStore(t, s, "operator")
	_, intruderBucket := tileStore(t, s, "intruder")
	ns, rw := setUp(t, "tiletamper")
	// Whoever rolls the ConfigMap back may only read and update
	// ConfigMaps in the installation's namespace: mallory, impersonated.
	if err := env.Client.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "configmaps", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "update"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "mallory", Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "configmaps"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "mallory"}}}); err != nil {
		t.Fatal(err)
	}
	as := rest.CopyConfig(env.Config)
	as.Impersonate = rest.ImpersonationConfig{UserName: "mallory"}
	mallory, err := client.New(as, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	l := newTiledLedger(t, ns, ts)
	for first := 0; first < 600; first += 300 {
		if err := l.Append(ctx, rw, deliveries(l, rw, first, 300)...); err != nil {
			t.Fatal(err)
		}
	}
	intruder := tiles.Prefixed(intruderBucket, string(rw.UID))
	// What the intruder saves of the ledger at 600 statements: the
	// ConfigMap, and the staged object it names (the next append removes
	// it), to put back later.
	earlier, earlierState := tiledState(t, ns, rw)
	earlierStaged, err := intruder.Get(ctx, earlierState.Pending.Object)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ctx, rw, deliveries(l, rw, 600, 300)...); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(ctx, rw.UID); err != nil {
		t.Fatal(err)
	}
	head, _ := l.Head(rw.UID)
	rw.Status.Evidence = &head
	first := tiles.EntriesPath(0, tiles.Width)
	original, err := intruder.Get(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	next := 900
	var latest map[string]string

	appendAfter := func() error {
		l := newTiledLedger(t, ns, ts)
		if err := l.Append(ctx, rw, deliveries(l, rw, next, 1)...); err != nil {
			return err
		}
		// Its tiles and checkpoint in the store before the next case.
		return l.Flush(ctx, rw.UID)
	}
	for _, c := range []struct {
		name    string
		tamper  func() error
		restore func() error
		want    string
	}{{
		name: "a statement changed in an entry bundle",
		tamper: func() error {
			entries, err := tiles.SplitBundle(original)
			if err != nil {
				return err
			}
			var b []byte
			for i, e := range entries {
				if i == 7 {
					e = entries[6] // a copy of the one before
				}
				b, _ = tiles.AppendEntry(b, e)
			}
			return intruder.Put(ctx, first, b)
		},
		restore: func() error { return intruder.Put(ctx, first, original) },
		want:    "repeats the key",
	}, {
		name:    "an entry bundle removed",
		tamper:  func() error { return intruder.Delete(ctx, first) },
		restore: func() error { return intruder.Put(ctx, first, original) },
		want:    "does not hold all of it",
	}, {
		// Whoever may write the namespace, not the bucket: the ConfigMap
		// rolled back to an earlier checkpoint (whose staged object the
		// intruder saved and put back), found by the checkpoint published
		// in the store, before any status is read.
		name: "the ConfigMap rolled back to an earlier checkpoint",
		tamper: func() error {
			if err := intruder.Put(ctx, earlierState.Pending.Object, earlierStaged); err != nil {
				return err
			}
			cm, _ := tiledState(t, ns, rw)
			latest = cm.Data
			cm.Data = earlier.Data
			return mallory.Update(ctx, cm)
		},
		restore: func() error {
			cm, _ := tiledState(t, ns, rw)
			cm.Data = latest
			return env.Client.Update(ctx, cm)
		},
		want: "it was rolled back",
	}, {
		// Both: the store's checkpoint rolled back too; the status's pin
		// finds it.
		name: "the ConfigMap and the store's checkpoint rolled back",
		tamper: func() error {
			if err := intruder.Put(ctx, earlierState.Pending.Object, earlierStaged); err != nil {
				return err
			}
			if err := intruder.Put(ctx, tiles.CheckpointPath, []byte(earlierState.Checkpoint)); err != nil {
				return err
			}
			cm, _ := tiledState(t, ns, rw)
			cm.Data = earlier.Data
			return mallory.Update(ctx, cm)
		},
		restore: nil, // the last case
		want:    "the checkpoint status.evidence recorded",
	}} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.tamper(); err != nil {
				t.Fatal(err)
			}
			before, _ := tiledState(t, ns, rw)
			err := appendAfter()
			te, ok := ledger.AsTampered(err)
			if !ok || !strings.Contains(te.Problem, c.want) && !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want a TamperedError saying %q", err, c.want)
			}
			after, _ := tiledState(t, ns, rw)
			if after.ResourceVersion != before.ResourceVersion {
				t.Fatal("the operator wrote to a ledger it found changed")
			}
			if c.restore == nil {
				return
			}
			if err := c.restore(); err != nil {
				t.Fatal(err)
			}
			if err := appendAfter(); err != nil {
				t.Fatalf("after the change was undone: %v", err)
			}
			next++
		})
	}
}
