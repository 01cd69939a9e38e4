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

package ledger

// A ledger kept as tiles: its statements in an object store, as C2SP
// tlog-tiles (package tiles) under <location>/<withdrawal UID>/, and in
// the cluster one small ConfigMap (shard 0, keys KeyCheckpoint, KeyPending
// and KeyLocation) with the latest signed checkpoint and the name of the
// last append's staged object.
//
// An append first stores its statements as one gzipped object named by
// its first index and hash (pending/<from>-<hash>), then writes the
// ConfigMap with the new checkpoint and that object's name, with the
// ConfigMap's resourceVersion: two writers (leader election does not
// fence) race on the ConfigMap alone, and the loser's staged object is
// never named (the loser removes it). Only then are the tiles of the append published (in the
// background; the next append waits for them), at paths whose bytes
// depend only on the statements before them, so that every writer that
// publishes a size writes the same bytes. A process that dies before
// publishing leaves the staged object named in the ConfigMap: the next
// append publishes it first, and only then replaces it. So every
// statement before the staged object's first is in the tiles, and the
// rest are in the staged object.
//
// Nothing read back is trusted, as for the ConfigMap shards: a process
// that loads the ledger reads every entry bundle and the staged object,
// recomputes the tree and checks its root against the checkpoint in the
// ConfigMap (which must be the operator's), the one the withdrawal's
// status recorded, and the one last published in the store (never ahead
// of the ConfigMap's). An object missing or changed is a *TamperedError;
// a store that cannot be reached is an error to retry.

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/tiles"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
)

// The keys of a tiled ledger's ConfigMap, in place of KeyState and
// KeyLeaves: one each, so that `kubectl get -o yaml` shows the checkpoint
// as the note it is, and nothing is stored twice (the ConfigMap is stored
// again with each append).
const (
	// KeyCheckpoint holds the latest signed checkpoint; it marks a tiled
	// ledger.
	KeyCheckpoint = "checkpoint"
	// KeyLocation holds the object store's location (s3://bucket/prefix):
	// the ledger is under <location>/<withdrawal UID>/.
	KeyLocation = "location"
	// KeyPending holds the last append's staged object's name, after
	// PendingPrefix: <first statement>-<the first 8 bytes of its SHA-256,
	// in hex>.
	KeyPending = "pending"
)

// TiledState is what the cluster holds of a ledger kept as tiles.
type TiledState struct {
	// Key is the verifier key the checkpoint is signed with: not in the
	// ConfigMap but in the store (KeyObject), written once.
	Key string
	// Location is the object store's location, for readers. It only says
	// where to look; what is there is checked.
	Location string
	// Checkpoint is the latest signed note; its size is the ledger's.
	Checkpoint string
	// Pending is the last append's staged object.
	Pending Pending
}

// Pending is a staged object: the statements from From to the
// checkpoint's size, as an entry bundle, which may not be in the tiles
// yet. Its name differs for each writer's append; what it holds is
// checked against the checkpoint like the rest.
type Pending struct {
	From   uint64
	Object string
}

// data is the ConfigMap data of st.
func (st TiledState) data() map[string]string {
	return map[string]string{KeyLocation: st.Location, KeyCheckpoint: st.Checkpoint,
		KeyPending: strings.TrimPrefix(st.Pending.Object, PendingPrefix)}
}

// PendingPrefix is where staged objects go, under a ledger's location.
const PendingPrefix = "pending/"

// pendingName is what follows PendingPrefix.
var pendingName = regexp.MustCompile(`^[0-9]{1,20}-[0-9a-f]{16}$`)

// KeyObject is the object, under a ledger's location, that holds the
// verifier key its checkpoints are signed with, so that an exporter needs
// no access to the key Secret. Like everything in the store it only says
// which key to try: an auditor pins the key.
const KeyObject = "key"

// TileStore is an object store that keeps ledgers as tiles: each under
// Location/<withdrawal UID>/.
type TileStore struct {
	Store tiles.Store
	// Location names the store, as readers reach it: s3://bucket/prefix.
	Location string
}

// of is the store of one withdrawal's ledger.
func (t *TileStore) of(uid types.UID) tiles.Store { return tiles.Prefixed(t.Store, string(uid)) }

// ErrNoTileStore refuses to read or append to a ledger kept as tiles
// without the object store.
var ErrNoTileStore = errors.New("the evidence ledger is kept as tiles in an object store, and none is configured here")

// TiledStateOf decodes a tiled ledger's state; ok is false for a shard of
// the ConfigMap layout.
func TiledStateOf(cm *corev1.ConfigMap) (st TiledState, ok bool, err error) {
	if _, ok := cm.Data[KeyCheckpoint]; !ok {
		return st, false, nil
	}
	st = TiledState{Location: cm.Data[KeyLocation], Checkpoint: cm.Data[KeyCheckpoint]}
	// Only names the operator makes: it removes this object later.
	if !pendingName.MatchString(cm.Data[KeyPending]) {
		return st, true, fmt.Errorf("the evidence ledger %s: %s is not <first statement>-<16 hex digits>: %q", cm.Name, KeyPending, cm.Data[KeyPending])
	}
	from, _, _ := strings.Cut(cm.Data[KeyPending], "-")
	if st.Pending.From, err = strconv.ParseUint(from, 10, 64); err != nil {
		return st, true, fmt.Errorf("the evidence ledger %s: %s: %w", cm.Name, KeyPending, err)
	}
	st.Pending.Object = PendingPrefix + cm.Data[KeyPending]
	return st, true, nil
}

// writeTiles appends leaves to a tiled ledger.
func (l *Ledger) writeTiles(ctx context.Context, rw *v1.RegionWithdrawal, lg *log, leaves []Sealed) error {
	if l.Tiles == nil {
		return fmt.Errorf("%w: %s/%s", ErrNoTileStore, rw.Namespace, rw.Name)
	}
	store := l.Tiles.of(rw.UID)
	// The last append's staged object is about to be replaced: its
	// statements must be in the tiles first.
	if err := lg.tiled.settle(ctx, store); err != nil {
		return err
	}
	if lg.shard == nil {
		// A new ledger: its key first, which readers take from the store.
		if err := store.Put(ctx, KeyObject, []byte(l.VerifierKey())); err != nil {
			return fmt.Errorf("starting the evidence ledger of %s/%s: %w", rw.Namespace, rw.Name, err)
		}
	}
	var body []byte
	hashes := make([][]byte, len(leaves))
	for i, lf := range leaves {
		var err error
		if body, err = tiles.AppendEntry(body, lf.envelope); err != nil {
			return err
		}
		if hashes[i] = lf.leaf; hashes[i] == nil {
			hashes[i] = evidence.LeafHash(lf.envelope)
		}
	}
	staged, err := gzipStaged(body)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(staged)
	pending := Pending{From: lg.state.Tree.Size}
	pending.Object = PendingPrefix + strconv.FormatUint(pending.From, 10) + "-" + hex.EncodeToString(sum[:8])
	if err := store.Put(ctx, pending.Object, staged); err != nil {
		return fmt.Errorf("staging %d statements of %s/%s: %w", len(leaves), rw.Namespace, rw.Name, err)
	}
	tree := clone(lg.state.Tree)
	if err := tree.AppendHashes(hashes...); err != nil {
		return err
	}
	note, err := l.signer.SignCheckpoint(evidence.Origin(Withdrawal(rw)), tree)
	if err != nil {
		return fmt.Errorf("signing the checkpoint: %w", err)
	}
	data := TiledState{Key: l.VerifierKey(), Location: l.Tiles.Location, Checkpoint: string(note), Pending: pending}.data()

	var cm *corev1.ConfigMap
	if lg.shard != nil {
		cm = lg.shard.DeepCopy()
		cm.Data = data
		err = l.Client.Update(ctx, cm)
	} else {
		cm = &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name: ShardName(rw.UID, 0), Namespace: l.Namespace,
				// Every byte here is stored again with each append: only
				// what finds the ledger (the withdrawal's namespace and
				// name are in the checkpoint's origin).
				Labels: map[string]string{
					executor.LabelWithdrawalUID: string(rw.UID),
					LabelShard:                  "0",
				},
				Annotations: map[string]string{AnnotationIdentity: rw.ID()},
			},
			Data: data,
		}
		err = l.Client.Create(ctx, cm)
	}
	switch {
	case apierrors.IsConflict(err), apierrors.IsNotFound(err), apierrors.IsAlreadyExists(err):
		// Another writer won, and this staged object is named nowhere.
		err := l.reread(ctx, rw, lg)
		if errors.Is(err, errRaced) && lg.tiled.pending != pending.Object && lg.state.Tree.Size > pending.From {
			// It never will be: a name carries the statement it starts
			// at, and the ledger has grown past it, so every writer that
			// could stage these bytes under this name starts from a
			// ConfigMap that is gone, and loses as this one did. (Had the
			// winner staged the same bytes, under the same name, the
			// ConfigMap would name it.) So it is removed, as a replaced
			// one is; one the store keeps is only bytes no reader reads.
			if derr := store.Delete(ctx, pending.Object); derr != nil {
				ctrl.LoggerFrom(ctx).Info("Could not remove a staged evidence object another writer's append made unneeded; it is left in the store", "object", pending.Object, "error", derr.Error())
			}
		}
		return err
	case err != nil:
		return fmt.Errorf("writing the evidence ledger %s: %w", cm.Name, err)
	}

	// In: the tiles of these statements are published now, or by the next
	// append, which must publish them before it replaces the staged object.
	replaced := lg.tiled.pending
	lg.open(cm)
	lg.next, lg.tiled.on = 1, true
	lg.state = ShardState{Key: l.VerifierKey(), Tree: tree, Checkpoints: []string{string(note)}}
	for i, lf := range leaves {
		lg.keys.Add(lf.hash)
		lg.sealed = lg.sealed || lf.seal
		if err := lg.tiled.edge.Append(lf.envelope, hashes[i]); err != nil {
			return err
		}
	}
	lg.tiled.todo.objects = append(lg.tiled.todo.objects, lg.tiled.edge.Objects()...)
	lg.tiled.todo.stale = append(lg.tiled.todo.stale, lg.tiled.edge.Stale()...)
	lg.tiled.todo.checkpoint, lg.tiled.pending = note, pending.Object
	if replaced != "" {
		lg.tiled.todo.stale = append(lg.tiled.todo.stale, replaced)
	}
	if lg.sealed {
		// The last append: no next one would publish its tiles. An error
		// is returned though the statements are in; the caller's retry
		// finds them there and publishes (appendLocked).
		return lg.tiled.settle(ctx, store)
	}
	// Recorded: the tiles are published while the caller goes on (a
	// notice sends its next batch), and the next append waits for them.
	lg.tiled.publishInBackground(ctx, store, rw.Namespace+"/"+rw.Name)
	return nil
}

// Flush waits for the tiles of a ledger's appends to be published, and
// publishes what is left: before its store is read directly, or at the
// end of a process's work.
func (l *Ledger) Flush(ctx context.Context, uid types.UID) error {
	if l == nil || l.Tiles == nil {
		return nil
	}
	unlock := l.lock(uid)
	defer unlock()
	l.mu.Lock()
	lg := l.open[uid]
	l.mu.Unlock()
	if lg == nil || !lg.tiled.on {
		return nil
	}
	return lg.tiled.settle(ctx, l.Tiles.of(uid))
}

// tiledLog is what the process knows of a tiled ledger beyond log's.
type tiledLog struct {
	// on says the ledger is kept as tiles.
	on   bool
	edge tiles.Edge
	// todo is what is to publish; inflight, when not nil, is being
	// published in the background and reports what it left.
	todo     publication
	inflight chan publication
	// pending is the staged object the ConfigMap names.
	pending string
}

// publication is what an append leaves to publish, in order: tiles, the
// checkpoint, then the objects no longer needed, to remove: staged objects
// no longer named, and partial tiles whose full tiles are published.
type publication struct {
	objects    []tiles.Object
	checkpoint []byte
	stale      []string
	// err is why a background publication stopped.
	err error
}

// publishTimeout bounds a publication in the background, which outlives
// the call that started it.
const publishTimeout = 2 * time.Minute

// publishInBackground publishes todo in a goroutine; settle waits for it.
func (t *tiledLog) publishInBackground(ctx context.Context, store tiles.Store, withdrawal string) {
	job := t.todo
	t.todo = publication{}
	done := make(chan publication, 1)
	t.inflight = done
	log := ctrl.LoggerFrom(ctx)
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
		defer cancel()
		if job.err = job.publish(ctx, store); job.err != nil {
			// Recorded all the same: the next append publishes it first.
			log.Error(job.err, "Failed to publish the evidence tiles; the next append publishes them", "withdrawal", withdrawal)
		}
		done <- job
	}()
}

// settle waits for a background publication, then publishes what it and
// earlier ones left; an error leaves the rest for the next call.
func (t *tiledLog) settle(ctx context.Context, store tiles.Store) error {
	if t.inflight != nil {
		var left publication
		select {
		case left = <-t.inflight:
		case <-ctx.Done():
			return ctx.Err()
		}
		t.inflight = nil
		// What the background left comes first; a later checkpoint wins.
		if t.todo.checkpoint == nil {
			t.todo.checkpoint = left.checkpoint
		}
		t.todo.objects = append(left.objects, t.todo.objects...)
		t.todo.stale = append(left.stale, t.todo.stale...)
	}
	return t.todo.publish(ctx, store)
}

// publish writes the tiles, then the checkpoint, then removes the staged
// objects no longer named. It stops at the first failure, keeping what is
// left.
func (p *publication) publish(ctx context.Context, store tiles.Store) error {
	for len(p.objects) > 0 {
		o := p.objects[0]
		if err := store.Put(ctx, o.Path, o.Body); err != nil {
			return fmt.Errorf("publishing the evidence tile %s: %w", o.Path, err)
		}
		p.objects = p.objects[1:]
	}
	if p.checkpoint != nil {
		if err := store.Put(ctx, tiles.CheckpointPath, p.checkpoint); err != nil {
			return fmt.Errorf("publishing the evidence checkpoint: %w", err)
		}
		p.checkpoint = nil
	}
	// Staged objects no longer named, and partial tiles of full ones, are
	// garbage, their statements in the tiles: a store that refuses to
	// delete (a bucket that keeps everything) leaves them there, and the
	// ledger goes on.
	for _, name := range p.stale {
		if err := store.Delete(ctx, name); err != nil {
			ctrl.LoggerFrom(ctx).Info("Could not remove an evidence object no longer needed; it is left in the store", "object", name, "error", err.Error())
		}
	}
	p.stale = nil
	return nil
}

// tiled checks a tiled ledger's ConfigMap and its objects, as shard does
// a shard: every statement, in order, then the root at the checkpoint.
func (c *checker) tiled(ctx context.Context, cm *corev1.ConfigMap, st TiledState) error {
	if c.tree.Size != 0 || cm.Labels[LabelShard] != "0" {
		return c.tampered(cm.Name, "a ledger kept as tiles has one ConfigMap, shard 0")
	}
	cp, err := evidence.OpenCheckpoint([]byte(st.Checkpoint), c.origin, c.l.verifier)
	if err != nil {
		return c.tampered(cm.Name, "its checkpoint is not the operator's: %v", err)
	}
	if c.l.Tiles == nil {
		return fmt.Errorf("%w: %s (its tiles are at %s/%s)", ErrNoTileStore, c.name, st.Location, cm.Labels[executor.LabelWithdrawalUID])
	}
	if st.Location != c.l.Tiles.Location {
		// Another store than this process's: a configuration to fix, not
		// a ledger changed.
		return fmt.Errorf("%w: %s is kept at %s, and this operator's store is %s", ErrNoTileStore, c.name, st.Location, c.l.Tiles.Location)
	}
	if st.Pending.From >= cp.Size {
		// Every append stages at least one statement.
		return c.tampered(cm.Name, "its staged statements start at %d, not before its checkpoint's size %d", st.Pending.From, cp.Size)
	}
	store := c.l.Tiles.of(types.UID(cm.Labels[executor.LabelWithdrawalUID]))
	signed := map[uint64][]byte{cp.Size: cp.Hash}
	// The checkpoint last published in the store is at or behind the
	// ConfigMap's (it is published after): one ahead means the ConfigMap
	// was rolled back to an earlier checkpoint the operator signed, which
	// only the status's pin would find otherwise, after a reconcile.
	if published, err := store.Get(ctx, tiles.CheckpointPath); err == nil {
		if p, err := evidence.OpenCheckpoint(published, c.origin, c.l.verifier); err == nil {
			if p.Size > cp.Size {
				return c.tampered(cm.Name, "its checkpoint is at %d statements, and the one published in the store at %d: it was rolled back", cp.Size, p.Size)
			}
			if _, pinned := c.pins[p.Size]; !pinned && p.Size > 0 {
				c.pins[p.Size] = pin{size: p.Size, root: p.Hash, from: "the checkpoint published in the store"}
			}
		}
	} else if !errors.Is(err, tiles.ErrNotFound) {
		return c.storeError(cm.Name, err)
	}
	edge := &c.lg.tiled.edge
	add := func(leaf []byte) error {
		h := evidence.LeafHash(leaf)
		if err := c.leaf(cm.Name, leaf, h); err != nil {
			if errors.Is(err, errUnreadable) {
				return c.tampered(cm.Name, "statement %d: %v", c.tree.Size, err)
			}
			return err
		}
		if err := edge.Append(leaf, h); err != nil {
			return err
		}
		return c.check(cm.Name, signed)
	}
	err = tiles.ReadEntries(ctx, store, st.Pending.From, func(_ uint64, leaf []byte) error { return add(leaf) })
	if err != nil {
		return c.storeError(cm.Name, err)
	}
	// Published: never written again by this process.
	edge.Discard()
	// Partials an earlier process left, to remove with the others. A
	// store that cannot list them now leaves them, as it would have
	// before: nothing reads them once their tile is full.
	_ = edge.Leftovers(ctx, store)
	if cp.Size > st.Pending.From {
		body, err := store.Get(ctx, st.Pending.Object)
		if errors.Is(err, tiles.ErrNotFound) && c.moved(ctx, cm) {
			return errMovedOn
		}
		if err != nil {
			return c.storeError(cm.Name, err)
		}
		leaves, err := readStaged(body)
		if err != nil {
			return c.tampered(cm.Name, "the staged object %s: %v", st.Pending.Object, err)
		}
		if uint64(len(leaves)) != cp.Size-st.Pending.From {
			return c.tampered(cm.Name, "the staged object %s holds %d statements, not %d", st.Pending.Object, len(leaves), cp.Size-st.Pending.From)
		}
		for _, leaf := range leaves {
			if err := add(bytes.Clone(leaf)); err != nil {
				return err
			}
		}
	}
	if len(signed) > 0 {
		return c.tampered(cm.Name, "it holds a checkpoint at size %d, but the tiles hold %d statements", cp.Size, c.tree.Size)
	}
	c.lg.open(cm)
	c.lg.next = 1
	c.lg.state = ShardState{Key: c.l.VerifierKey(), Tree: clone(c.tree), Checkpoints: []string{st.Checkpoint}}
	c.lg.tiled.on = true
	c.lg.tiled.todo = publication{objects: edge.Objects(), stale: edge.Stale(), checkpoint: []byte(st.Checkpoint)}
	c.lg.tiled.pending = st.Pending.Object
	return nil
}

// errMovedOn says a tiled ledger's ConfigMap changed while it was read: a
// writer replaced the staged object it named, and removed it.
var errMovedOn = errors.New("the evidence ledger moved on while it was read")

// moved says whether cm is no longer the ledger's ConfigMap as stored.
func (c *checker) moved(ctx context.Context, cm *corev1.ConfigMap) bool {
	var meta metav1.PartialObjectMetadata
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
	err := c.l.Reader.Get(ctx, client.ObjectKeyFromObject(cm), &meta)
	return err == nil && meta.ResourceVersion != cm.ResourceVersion
}

// storeError is a TamperedError for an object the store does not hold, or
// the store's error to retry.
func (c *checker) storeError(shard string, err error) error {
	var t *TamperedError
	switch {
	case errors.As(err, &t):
		return err
	case errors.Is(err, tiles.ErrNotFound):
		return c.tampered(shard, "the object store does not hold all of it: %v", err)
	case errors.Is(err, tiles.ErrMalformed):
		return c.tampered(shard, "%v", err)
	}
	return fmt.Errorf("reading the evidence tiles of %s: %w", c.name, err)
}

// originWithdrawal is the withdrawal a checkpoint's origin names
// (evidence.Origin): a tiled ledger's ConfigMap does not repeat it.
func originWithdrawal(checkpoint string) (namespace, name string) {
	origin, _, _ := strings.Cut(checkpoint, "\n")
	parts := strings.Split(strings.TrimPrefix(origin, evidence.OriginPrefix), "/")
	if len(parts) != 3 {
		return "", ""
	}
	return parts[0], parts[1]
}

// eachTile calls fn with a tiled ledger's statements, a bundle at a time,
// as eachShard does with shards, the checkpoint with the last call.
func eachTile(ctx context.Context, o readOptions, cm *corev1.ConfigMap, st TiledState, fn func(*corev1.ConfigMap, ShardState, [][]byte) error) error {
	var s tiles.Store
	switch {
	case o.tiles != nil:
		s = o.tiles.of(types.UID(cm.Labels[executor.LabelWithdrawalUID]))
	case o.open != nil:
		var err error
		if s, err = o.open(st.Location + "/" + cm.Labels[executor.LabelWithdrawalUID]); err != nil {
			return fmt.Errorf("the evidence ledger %s is kept as tiles at %s/%s: %w", cm.Name, st.Location, cm.Labels[executor.LabelWithdrawalUID], err)
		}
	default:
		return fmt.Errorf("%w: the tiles are at %s/%s", ErrNoTileStore, st.Location, cm.Labels[executor.LabelWithdrawalUID])
	}
	size, err := evidence.CheckpointSize([]byte(st.Checkpoint))
	if err != nil {
		return fmt.Errorf("the evidence ledger %s: %w", cm.Name, err)
	}
	if st.Pending.From > size {
		return fmt.Errorf("the evidence ledger %s: its staged statements start at %d, after its checkpoint's size %d", cm.Name, st.Pending.From, size)
	}
	key, err := s.Get(ctx, KeyObject)
	if err != nil {
		return fmt.Errorf("the evidence ledger %s: its key: %w", cm.Name, err)
	}
	st.Key = string(key)
	var batch [][]byte
	first := uint64(0)
	err = tiles.ReadEntries(ctx, s, st.Pending.From, func(i uint64, leaf []byte) error {
		batch = append(batch, bytes.Clone(leaf))
		if len(batch) == tiles.Width {
			err := fn(cm, ShardState{Key: st.Key, First: first}, batch)
			first, batch = i+1, nil
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if size > st.Pending.From {
		body, err := s.Get(ctx, st.Pending.Object)
		if errors.Is(err, tiles.ErrNotFound) {
			return fmt.Errorf("%w: the staged object %s is gone, replaced by a later append, or removed: read it again", ErrChanged, st.Pending.Object)
		}
		if err != nil {
			return err
		}
		leaves, err := readStaged(body)
		if err != nil {
			return fmt.Errorf("the staged object %s: %w", st.Pending.Object, err)
		}
		batch = append(batch, leaves...)
	}
	return fn(cm, ShardState{Key: st.Key, First: first, Checkpoints: []string{st.Checkpoint}}, batch)
}

// A staged object is an entry bundle, gzipped (it is this package's own,
// not a tile, and a batch's statements are written twice: staged, then in
// the tiles).
func gzipStaged(bundle []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(bundle)/3 + 64)
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	if _, err := zw.Write(bundle); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// maxStaged bounds a staged object once unzipped: a batch of statements.
const maxStaged = 256 << 20

// readStaged returns a staged object's statements.
func readStaged(staged []byte) ([][]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(staged))
	if err != nil {
		return nil, err
	}
	bundle, err := io.ReadAll(io.LimitReader(zr, maxStaged+1))
	if err != nil {
		return nil, err
	}
	if len(bundle) > maxStaged {
		return nil, fmt.Errorf("over %d bytes unzipped", maxStaged)
	}
	return tiles.SplitBundle(bundle)
}

// tiledBytes is what a tiled ledger's ConfigMap stores.
func tiledBytes(cm *corev1.ConfigMap) int64 {
	if _, ok := cm.Data[KeyCheckpoint]; !ok {
		return 0
	}
	n := 0
	for k, v := range cm.Data {
		n += len(k) + len(v)
	}
	return int64(n)
}
