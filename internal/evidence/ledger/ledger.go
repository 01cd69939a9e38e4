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

// Package ledger keeps each withdrawal's evidence ledger in the cluster:
// signed statements appended to a Merkle tree, in bounded ConfigMap shards
// in the installation's own namespace, where a withdrawal's author cannot
// write (see docs/evidence.md).
//
// A shard holds its statements, the tree's compact range after its last
// statement, and the checkpoints signed while it was the open shard, so one
// write appends statements, advances the tree and signs it together: the
// process may die before or after it, never in the middle. Writers use the
// shard's resourceVersion; two replicas (leader election does not fence)
// merge by reading the shard that beat them and dropping what it already
// holds. A statement's key says which event it records, and the ledger
// holds one statement per key: an event replayed after a crash finds its
// statement already there and appends nothing.
package ledger

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
)

// Labels, annotations and keys of the shards. See docs/evidence.md.
const (
	// LabelShard is the shard's index; shards are named
	// evidence-<withdrawal UID>-<index>.
	LabelShard = "withdrawal.ops.dev/evidence-shard"
	// Annotations name the withdrawal a ledger belongs to, which may be
	// deleted long before its ledger is.
	AnnotationWithdrawalNamespace = "withdrawal.ops.dev/withdrawal-namespace"
	AnnotationWithdrawalName      = "withdrawal.ops.dev/withdrawal-name"

	// KeyLeaves holds the shard's statements: gzip members, one per
	// append, each a sequence of uvarint length and DSSE envelope.
	KeyLeaves = "leaves"
	// KeyState is JSON: the index of the shard's first statement, the
	// tree after its last, and the checkpoints signed on it.
	KeyState = "state"

	// DefaultShardBytes bounds one shard, under the ~1 MiB an object may
	// hold with room for its checkpoints.
	DefaultShardBytes = 768 << 10
)

// ShardState is a shard's KeyState.
type ShardState struct {
	// Key is the verifier key the checkpoints are signed with, so that an
	// exporter needs no access to the key Secret.
	Key string `json:"key"`
	// First is the tree index of the shard's first statement.
	First uint64 `json:"first"`
	// Tree is the compact range of the whole ledger after the shard's
	// last statement.
	Tree evidence.State `json:"tree"`
	// Keys holds, per statement of the shard in order, the first 8 bytes
	// of SHA-256 of its key, so that a writer learns which events are
	// recorded without decoding statements.
	Keys []byte `json:"keys"`
	// Checkpoints are the signed notes made while this shard was open, in
	// size order.
	Checkpoints []string `json:"checkpoints"`
}

// Options configure a Ledger.
type Options struct {
	// Client writes the shards, as the operator itself (not as a tenant).
	Client client.Client
	// Reader reads them, uncached: nothing else reads them, and a cache
	// would hold every ConfigMap of the namespace.
	Reader client.Reader
	// Namespace is the installation's namespace, where the shards live.
	Namespace string
	// Key is the installation's evidence key (see keysecret): the seed of
	// the Ed25519 signing key, and of each withdrawal's recipient salt.
	Key []byte
	// ShardBytes bounds one shard; default DefaultShardBytes.
	ShardBytes int
	// CopyTo, when set, gets a copy of each shard as it grows.
	CopyTo Copier
}

// KeyName is the signed-note key name of the ledgers' checkpoints.
const KeyName = "withdrawal.ops.dev"

// Ledger appends statements to withdrawals' ledgers. It is safe for
// concurrent use; appends to one ledger are serialised in the process. A
// nil *Ledger records nothing: the ledger is off.
type Ledger struct {
	Options
	signer *evidence.Signer

	mu    sync.Mutex
	open  map[types.UID]*log
	locks map[types.UID]*sync.Mutex
}

// New returns the ledger that signs with o.Key.
func New(o Options) (*Ledger, error) {
	if len(o.Key) < evidence.SeedSize {
		return nil, fmt.Errorf("the evidence key has %d bytes; want %d", len(o.Key), evidence.SeedSize)
	}
	signer, err := evidence.NewSigner(KeyName, o.Key[:evidence.SeedSize])
	if err != nil {
		return nil, err
	}
	if o.ShardBytes <= 0 {
		o.ShardBytes = DefaultShardBytes
	}
	return &Ledger{Options: o, signer: signer}, nil
}

// VerifierKey is the signed-note key an auditor pins to check the
// ledgers: "withdrawal.ops.dev+<hash>+<public key>".
func (l *Ledger) VerifierKey() string { return l.signer.VerifierKey() }

// Salt is a withdrawal's recipient salt: recipient ids are hashed with it
// so that the ledger holds no personal data. It is derived from the key,
// so it is never stored; `kubectl withdrawal evidence export --salt` gives
// it to an auditor who must ask about a recipient.
func (l *Ledger) Salt(uid types.UID) []byte {
	return Salt(l.Key, uid)
}

// Salt derives a withdrawal's recipient salt from the evidence key.
func Salt(key []byte, uid types.UID) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("region-withdrawal-operator/evidence/recipient-salt/v1\x00"))
	m.Write([]byte(uid))
	return m.Sum(nil)
}

// log is what the process knows of one withdrawal's ledger.
type log struct {
	keys  map[uint64]struct{}
	state ShardState
	// shard is the open shard as last read or written; nil before the
	// first.
	shard *corev1.ConfigMap
	// next is the index of the next shard to create.
	next int
	// uncopied are the shards, by name, written (or found) since their
	// last copy, when Options.CopyTo is set.
	uncopied map[string]*corev1.ConfigMap
}

// ShardName is the name of one shard of a withdrawal's ledger.
func ShardName(uid types.UID, shard int) string {
	return fmt.Sprintf("evidence-%s-%d", uid, shard)
}

// Selector selects a withdrawal's shards: its other records (notice
// checkpoints, route snapshots) carry its UID too, and may share the
// namespace when the withdrawal lives in the installation's.
func Selector(uid types.UID) client.ListOption {
	return client.MatchingLabelsSelector{Selector: labels.SelectorFromSet(labels.Set{executor.LabelWithdrawalUID: string(uid)}).Add(hasShard)}
}

var hasShard = func() labels.Requirement {
	r, err := labels.NewRequirement(LabelShard, selection.Exists, nil)
	if err != nil {
		panic(err)
	}
	return *r
}()

func keyHash(key string) uint64 {
	sum := sha256.Sum256([]byte(key))
	return binary.BigEndian.Uint64(sum[:8])
}

// Append seals the events and appends those the ledger does not hold yet;
// see AppendSealed.
func (l *Ledger) Append(ctx context.Context, rw *v1.RegionWithdrawal, events ...evidence.Event) error {
	if l == nil || len(events) == 0 {
		return nil
	}
	sealed := make([]Sealed, 0, len(events))
	for _, e := range events {
		s, err := l.Seal(rw, e)
		if err != nil {
			return err
		}
		sealed = append(sealed, s)
	}
	return l.AppendSealed(ctx, rw, sealed...)
}

// Sealed is a signed statement ready to append. Sealing costs most of an
// append's CPU (a JSON encoding and an Ed25519 signature), so a caller with
// many events seals each where it happens, concurrently, and appends them
// together.
type Sealed struct {
	hash     uint64
	envelope []byte
}

// Seal signs the statement of one event of rw. A nil Ledger seals nothing.
func (l *Ledger) Seal(rw *v1.RegionWithdrawal, e evidence.Event) (Sealed, error) {
	if l == nil {
		return Sealed{}, nil
	}
	env, err := l.signer.Seal(Withdrawal(rw), e)
	if err != nil {
		return Sealed{}, fmt.Errorf("sealing the %s statement: %w", e.Kind(), err)
	}
	return Sealed{hash: keyHash(e.EventKey()), envelope: env}, nil
}

// AppendSealed appends the statements the ledger does not hold yet, with
// one signed checkpoint, in one write when nobody else writes. It returns
// once they are stored: a caller appends before it counts the events as
// done, so a crash in between replays events whose statements are already
// there, and nothing is appended twice.
func (l *Ledger) AppendSealed(ctx context.Context, rw *v1.RegionWithdrawal, leaves ...Sealed) error {
	if l == nil || len(leaves) == 0 {
		return nil
	}
	unlock := l.lock(rw.UID)
	defer unlock()
	lg, err := l.load(ctx, rw.UID)
	if err != nil {
		return err
	}
	// The copies follow the writes, whatever this append does.
	defer l.copyShards(ctx, lg)
	for attempt := range maxRaces {
		todo := lg.missing(leaves)
		if len(todo) == 0 {
			return nil
		}
		err := l.write(ctx, rw, lg, todo)
		if !errors.Is(err, errRaced) {
			return err
		}
		// Two writers that race again at once would keep colliding: the
		// loser waits a little, longer each time, before it tries again.
		t := time.NewTimer(time.Duration(rand.Int64N(int64(attempt+1) * int64(5*time.Millisecond))))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return fmt.Errorf("the evidence ledger of %s/%s is being written by another replica", rw.Namespace, rw.Name)
}

// missing returns the leaves whose keys the ledger does not hold, the first
// of each key only.
func (lg *log) missing(leaves []Sealed) []Sealed {
	seen := map[uint64]struct{}{}
	var out []Sealed
	for _, lf := range leaves {
		if _, ok := lg.keys[lf.hash]; ok {
			continue
		}
		if _, ok := seen[lf.hash]; ok {
			continue
		}
		seen[lf.hash] = struct{}{}
		out = append(out, lf)
	}
	return out
}

// maxRaces bounds how often one append loses to another writer before it
// gives up (and its caller tries again later).
const maxRaces = 16

// errRaced means another writer wrote the shard first; its shard was read
// and merged, and the append is tried again.
var errRaced = errors.New("raced")

// write appends leaves to the open shard, or creates the next one when
// they would not fit.
func (l *Ledger) write(ctx context.Context, rw *v1.RegionWithdrawal, lg *log, leaves []Sealed) error {
	member, err := encode(leaves)
	if err != nil {
		return err
	}
	// Append to the open shard if the result fits, else start the next.
	fits := lg.shard != nil
	var stateJSON []byte
	var st ShardState
	for {
		st = ShardState{Key: l.VerifierKey(), First: lg.state.First, Tree: clone(lg.state.Tree), Keys: slices.Clone(lg.state.Keys), Checkpoints: slices.Clone(lg.state.Checkpoints)}
		if !fits {
			st = ShardState{Key: l.VerifierKey(), First: lg.state.Tree.Size, Tree: clone(lg.state.Tree)}
		}
		for _, lf := range leaves {
			if err := st.Tree.Append(lf.envelope); err != nil {
				return err
			}
			st.Keys = binary.BigEndian.AppendUint64(st.Keys, lf.hash)
		}
		note, err := l.signer.SignCheckpoint(evidence.Origin(Withdrawal(rw)), st.Tree)
		if err != nil {
			return fmt.Errorf("signing the checkpoint: %w", err)
		}
		st.Checkpoints = append(st.Checkpoints, string(note))
		if stateJSON, err = json.Marshal(st); err != nil {
			return err
		}
		if !fits || len(lg.shard.BinaryData[KeyLeaves])+len(member)+len(stateJSON) <= l.ShardBytes {
			break
		}
		fits = false
	}

	if fits {
		cm := lg.shard.DeepCopy()
		cm.BinaryData[KeyLeaves] = append(cm.BinaryData[KeyLeaves], member...)
		cm.Data[KeyState] = string(stateJSON)
		err := l.Client.Update(ctx, cm)
		switch {
		case err == nil:
			lg.accept(cm, st, leaves)
			l.toCopy(lg, cm)
			return nil
		case apierrors.IsConflict(err), apierrors.IsNotFound(err):
			return l.reread(ctx, rw.UID, lg, cm.Name)
		default:
			return fmt.Errorf("writing the evidence shard %s: %w", cm.Name, err)
		}
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: ShardName(rw.UID, lg.next), Namespace: l.Namespace,
			Labels: map[string]string{
				"app.kubernetes.io/managed-by": "region-withdrawal-operator",
				executor.LabelWithdrawalUID:    string(rw.UID),
				LabelShard:                     strconv.Itoa(lg.next),
			},
			// No owner: the ledger outlives its withdrawal, which is
			// in another namespace anyway.
			Annotations: map[string]string{AnnotationWithdrawalNamespace: rw.Namespace, AnnotationWithdrawalName: rw.Name},
		},
		BinaryData: map[string][]byte{KeyLeaves: member},
		Data:       map[string]string{KeyState: string(stateJSON)},
	}
	err = l.Client.Create(ctx, cm)
	switch {
	case err == nil:
		lg.next++
		lg.accept(cm, st, leaves)
		l.toCopy(lg, cm)
		return nil
	case apierrors.IsAlreadyExists(err):
		// Proof of another writer: take its shard, then go on after it.
		return l.reread(ctx, rw.UID, lg, cm.Name)
	default:
		return fmt.Errorf("creating the evidence shard %s: %w", cm.Name, err)
	}
}

// toCopy marks a written shard for copying, when copies are kept.
func (l *Ledger) toCopy(lg *log, cm *corev1.ConfigMap) {
	if l.CopyTo != nil {
		lg.uncopied[cm.Name] = cm
	}
}

// clone copies a tree state, whose hashes an append must not share.
func clone(s evidence.State) evidence.State {
	return evidence.State{Size: s.Size, Hashes: slices.Clone(s.Hashes)}
}

// Withdrawal identifies rw in its statements.
func Withdrawal(rw *v1.RegionWithdrawal) evidence.Withdrawal {
	return evidence.Withdrawal{Namespace: rw.Namespace, Name: rw.Name, UID: string(rw.UID)}
}

// accept makes a written shard the open one.
func (lg *log) accept(cm *corev1.ConfigMap, st ShardState, leaves []Sealed) {
	lg.shard, lg.state = cm, st
	for _, lf := range leaves {
		lg.keys[lf.hash] = struct{}{}
	}
}

// reread reads the shard another writer won, merges it, and reports the
// race. A shard that is gone (deleted by hand) drops the process's view,
// which the next append loads again.
func (l *Ledger) reread(ctx context.Context, uid types.UID, lg *log, name string) error {
	var cm corev1.ConfigMap
	err := l.Reader.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: name}, &cm)
	if apierrors.IsNotFound(err) {
		fresh, err := l.readAll(ctx, uid)
		if err != nil {
			return err
		}
		*lg = *fresh
		return errRaced
	}
	if err != nil {
		return fmt.Errorf("reading the evidence shard %s: %w", name, err)
	}
	if err := lg.merge(&cm); err != nil {
		return err
	}
	return errRaced
}

// merge takes a shard as the open one, if it is not behind what lg holds.
func (lg *log) merge(cm *corev1.ConfigMap) error {
	st, err := State(cm)
	if err != nil {
		return err
	}
	for i := 0; i+8 <= len(st.Keys); i += 8 {
		lg.keys[binary.BigEndian.Uint64(st.Keys[i:])] = struct{}{}
	}
	idx, _ := strconv.Atoi(cm.Labels[LabelShard])
	if idx+1 >= lg.next {
		lg.next = idx + 1
	}
	if st.Tree.Size >= lg.state.Tree.Size {
		lg.shard, lg.state = cm, st
	}
	return nil
}

// lock serialises appends to one ledger.
func (l *Ledger) lock(uid types.UID) func() {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[types.UID]*sync.Mutex{}
	}
	m, ok := l.locks[uid]
	if !ok {
		m = &sync.Mutex{}
		l.locks[uid] = m
	}
	l.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// load returns the process's view of a ledger, reading its shards the
// first time. It is called with the ledger's lock held.
func (l *Ledger) load(ctx context.Context, uid types.UID) (*log, error) {
	l.mu.Lock()
	lg := l.open[uid]
	l.mu.Unlock()
	if lg != nil {
		return lg, nil
	}
	lg, err := l.readAll(ctx, uid)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if l.open == nil {
		l.open = map[types.UID]*log{}
	}
	l.open[uid] = lg
	l.mu.Unlock()
	return lg, nil
}

// readAll reads every shard's state, a page at a time.
func (l *Ledger) readAll(ctx context.Context, uid types.UID) (*log, error) {
	lg := &log{keys: map[uint64]struct{}{}, uncopied: map[string]*corev1.ConfigMap{}}
	err := Shards(ctx, l.Reader, l.Namespace, uid, func(cm *corev1.ConfigMap) error {
		if l.CopyTo != nil {
			// A new process cannot tell whether a shard was copied.
			lg.uncopied[cm.Name] = cm.DeepCopy()
		}
		return lg.merge(cm)
	})
	if err != nil {
		return nil, err
	}
	return lg, nil
}

// Forget drops the process's view of a ledger (its key set), for a
// withdrawal that is gone or finished; a later append reads it again.
func (l *Ledger) Forget(uid types.UID) {
	l.mu.Lock()
	delete(l.open, uid)
	l.mu.Unlock()
}

// Shards calls fn with each shard of a ledger in index order, reading one
// at a time by name (after a List of their metadata), so that a large
// ledger is never held whole.
func Shards(ctx context.Context, r client.Reader, namespace string, uid types.UID, fn func(*corev1.ConfigMap) error) error {
	// Names are evidence-<uid>-<n>: read them by name in order, so that
	// pages need no sorting; a List first says how many there are.
	var names metav1.PartialObjectMetadataList
	names.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMapList"))
	if err := r.List(ctx, &names, client.InNamespace(namespace), Selector(uid)); err != nil {
		return fmt.Errorf("listing the evidence shards: %w", err)
	}
	n := len(names.Items)
	for i := range n {
		var cm corev1.ConfigMap
		if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ShardName(uid, i)}, &cm); err != nil {
			return fmt.Errorf("reading the evidence shard %d of %d: %w", i, n, err)
		}
		if err := fn(&cm); err != nil {
			return err
		}
	}
	return nil
}

// State decodes a shard's state.
func State(cm *corev1.ConfigMap) (ShardState, error) {
	var st ShardState
	if err := json.Unmarshal([]byte(cm.Data[KeyState]), &st); err != nil {
		return st, fmt.Errorf("the evidence shard %s: %s: %w", cm.Name, KeyState, err)
	}
	if len(st.Keys)%8 != 0 {
		return st, fmt.Errorf("the evidence shard %s: %d key bytes, not a multiple of 8", cm.Name, len(st.Keys))
	}
	return st, nil
}

// encode writes leaves as one gzip member.
func encode(leaves []Sealed) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	var n [binary.MaxVarintLen64]byte
	for _, lf := range leaves {
		if _, err := zw.Write(n[:binary.PutUvarint(n[:], uint64(len(lf.envelope)))]); err != nil {
			return nil, err
		}
		if _, err := zw.Write(lf.envelope); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// maxEnvelope bounds one statement read back from a shard.
const maxEnvelope = 1 << 20

// Decode returns a shard's statements (DSSE envelopes) in order.
func Decode(cm *corev1.ConfigMap) ([][]byte, error) {
	raw := cm.BinaryData[KeyLeaves]
	if len(raw) == 0 {
		return nil, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("the evidence shard %s: %w", cm.Name, err)
	}
	br := &byteReader{r: zr}
	var out [][]byte
	for {
		size, err := binary.ReadUvarint(br)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("the evidence shard %s: statement %d: %w", cm.Name, len(out), err)
		}
		if size > maxEnvelope {
			return nil, fmt.Errorf("the evidence shard %s: statement %d claims %d bytes", cm.Name, len(out), size)
		}
		env := make([]byte, size)
		if _, err := io.ReadFull(zr, env); err != nil {
			return nil, fmt.Errorf("the evidence shard %s: statement %d: %w", cm.Name, len(out), err)
		}
		out = append(out, env)
	}
}

// byteReader adapts an io.Reader to io.ByteReader for ReadUvarint.
type byteReader struct {
	r io.Reader
	b [1]byte
}

func (b *byteReader) ReadByte() (byte, error) {
	_, err := io.ReadFull(b.r, b.b[:])
	return b.b[0], err
}

// Contents is a whole ledger as read back: what a bundle is made of.
type Contents struct {
	// Withdrawal is whose ledger it is, from its shards (the withdrawal
	// may be gone).
	Withdrawal evidence.Withdrawal
	// Key is the verifier key its shards name.
	Key string
	// Leaves are the statements, in order; Checkpoints the signed notes, in
	// size order.
	Leaves, Checkpoints [][]byte
	// Shards and Bytes say how much was read.
	Shards int
	Bytes  int64
}

// Read reads a withdrawal's whole ledger, a shard at a time, and checks
// that no shard is missing between the first and the last.
func Read(ctx context.Context, r client.Reader, namespace string, uid types.UID) (*Contents, error) {
	c := &Contents{Withdrawal: evidence.Withdrawal{UID: string(uid)}}
	err := Shards(ctx, r, namespace, uid, func(cm *corev1.ConfigMap) error {
		st, err := State(cm)
		if err != nil {
			return err
		}
		if st.First != uint64(len(c.Leaves)) {
			return fmt.Errorf("the evidence shard %s starts at statement %d, after %d: a shard is missing", cm.Name, st.First, len(c.Leaves))
		}
		leaves, err := Decode(cm)
		if err != nil {
			return err
		}
		c.Leaves = append(c.Leaves, leaves...)
		for _, cp := range st.Checkpoints {
			c.Checkpoints = append(c.Checkpoints, []byte(cp))
		}
		c.Key = st.Key
		c.Withdrawal.Namespace, c.Withdrawal.Name = cm.Annotations[AnnotationWithdrawalNamespace], cm.Annotations[AnnotationWithdrawalName]
		c.Shards++
		c.Bytes += int64(len(cm.BinaryData[KeyLeaves]) + len(cm.Data[KeyState]))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Bundle makes the ledger's bundle, with salt when it is not nil; it
// checks every checkpoint against the statements.
func (c *Contents) Bundle(salt []byte) (*evidence.Bundle, error) {
	return evidence.NewBundle(evidence.Origin(c.Withdrawal), c.Key, salt, c.Leaves, c.Checkpoints)
}
