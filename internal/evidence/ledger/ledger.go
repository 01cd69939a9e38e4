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
// merge by reading the ledger again, checked as at load, and dropping what
// it already holds. A statement's key says which event it records, and the ledger
// holds one statement per key: an event replayed after a crash finds its
// statement already there and appends nothing.
//
// Nothing read back is trusted. A process that loads a ledger recomputes
// its tree from the statements, checks the root at every checkpoint the
// operator signed and at the checkpoint the withdrawal's status recorded,
// and takes each statement's key from the statement itself. A ledger that
// does not check out is never appended to, so never signed over: see
// TamperedError. The last statement is the seal (evidence.LedgerSealed);
// nothing is appended after it.
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
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
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
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/tiles"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/hashset"
	"golang.org/x/mod/sumdb/note"
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
	// AnnotationIdentity is the withdrawal's ID (namespace/withdrawalID),
	// by which `kubectl withdrawal fleet evidence export` finds the
	// ledgers of every object that carried it. It only finds them: what a
	// ledger is about is its signed statements' to say.
	AnnotationIdentity = "withdrawal.ops.dev/withdrawal-id"

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
	// Tiles, when set, is the object store new ledgers are kept in, as
	// tiles, with only their latest checkpoint in the cluster. A ledger
	// begun in ConfigMap shards stays there.
	Tiles *TileStore
}

// KeyName is the signed-note key name of the ledgers' checkpoints.
const KeyName = "withdrawal.ops.dev"

// ErrTampered is what every TamperedError wraps.
var ErrTampered = errors.New("the evidence ledger was changed by someone other than the operator")

// ErrSealed refuses an event for a ledger already sealed.
var ErrSealed = errors.New("the evidence ledger is sealed")

// TamperedError says a ledger read back is not what the operator wrote: a
// statement changed, removed, added or copied, a shard missing or
// rewritten, or a checkpoint that does not sign what is there. Whoever can
// write the installation's namespace could do it; the operator stops
// appending to that ledger, so it never signs over the change.
type TamperedError struct {
	// Withdrawal is namespace/name.
	Withdrawal string
	// Shard names the shard where the problem was found, if any.
	Shard string
	// Problem says what was found.
	Problem string
}

func (e *TamperedError) Error() string {
	where := ""
	if e.Shard != "" {
		where = " (shard " + e.Shard + ")"
	}
	return fmt.Sprintf("the evidence ledger of %s was changed behind the operator's back%s: %s; nothing more is recorded in it until its shards are restored (see docs/evidence.md)", e.Withdrawal, where, e.Problem)
}

func (e *TamperedError) Unwrap() error { return ErrTampered }

// Refusal is the ledger's refusal to record found in err (a
// *TamperedError, or ErrSealed), or nil: an error the ledger will keep
// returning until a person acts, unlike a failed request.
func Refusal(err error) error {
	if t, ok := AsTampered(err); ok {
		return t
	}
	if errors.Is(err, ErrSealed) {
		return err
	}
	return nil
}

// AsTampered finds a TamperedError in err.
func AsTampered(err error) (*TamperedError, bool) {
	var t *TamperedError
	ok := errors.As(err, &t)
	return t, ok
}

// Ledger appends statements to withdrawals' ledgers. It is safe for
// concurrent use; appends to one ledger are serialised in the process. A
// nil *Ledger records nothing: the ledger is off.
type Ledger struct {
	Options
	signer   *evidence.Signer
	verifier note.Verifier

	mu    sync.Mutex
	open  map[types.UID]*log
	locks map[types.UID]*sync.Mutex
	// keptBy is what each withdrawal kept for a later append (kept.go).
	keptBy map[types.UID]*keptSet
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
	verifier, err := note.NewVerifier(signer.VerifierKey())
	if err != nil {
		return nil, err
	}
	if o.ShardBytes <= 0 {
		o.ShardBytes = DefaultShardBytes
	}
	return &Ledger{Options: o, signer: signer, verifier: verifier}, nil
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
	// keys holds the key hash of every statement: a hashset, not a map,
	// since a ledger may hold millions.
	keys  hashset.Set
	state ShardState
	// sealed is true once the seal is in.
	sealed bool
	// shard is the open shard as last read or written; nil before the
	// first.
	shard *corev1.ConfigMap
	// next is the index of the next shard to create.
	next int
	// closedBytes is the stored size of the shards before the open one.
	closedBytes int64
	// uncopied are the shards, by name, written (or found) since their
	// last copy, when Options.CopyTo is set.
	uncopied map[string]*corev1.ConfigMap
	// tiled is the rest of what the process knows of a tiled ledger.
	tiled tiledLog
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
	// leaf is the envelope's RFC 6962 leaf hash, taken where it was sealed
	// (concurrently), not in the append that holds the ledger's lock.
	leaf []byte
	// seal is true for the ledger's seal, which goes last.
	seal bool
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
	return sealed(e, env), nil
}

// sealed is the leaf of e's envelope env.
func sealed(e evidence.Event, env []byte) Sealed {
	return Sealed{hash: keyHash(e.EventKey()), envelope: env, leaf: evidence.LeafHash(env), seal: e.Kind() == evidence.KindSealed}
}

// AppendSealed appends the statements the ledger does not hold yet, with
// one signed checkpoint, in one write when nobody else writes. It returns
// once they are stored: a caller appends before it counts the events as
// done, so a crash in between replays events whose statements are already
// there, and nothing is appended twice.
//
// Statements kept for later (Keep) go in first, even when leaves is empty,
// and are deleted once in.
func (l *Ledger) AppendSealed(ctx context.Context, rw *v1.RegionWithdrawal, leaves ...Sealed) error {
	if l == nil {
		return nil
	}
	return l.appendSealed(ctx, rw, leaves, nil)
}

// A Batch gathers the sealed statements of a batch of events as they are
// made, from many goroutines at once, and compresses them as they come
// (the shard's gzip member), so that AppendBatch finds the bytes to write
// ready instead of compressing them while its caller waits. The zero
// Batch is ready to use; a Batch is appended once.
type Batch struct {
	mu     sync.Mutex
	leaves []Sealed
	z      *member
	err    error
}

// batchMember is the size a Batch's member is first given room for: a
// notify batch of 1,000 deliveries.
const batchMember = 1000 * 900

// Add adds a sealed statement; a zero Sealed (from a nil Ledger) is
// ignored.
func (b *Batch) Add(s Sealed) {
	if s.envelope == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.leaves = append(b.leaves, s)
	if b.err != nil {
		return
	}
	if b.z == nil {
		b.z = newMember(batchMember)
	}
	b.err = b.z.add(s)
}

// Leaves are the statements added, in order.
func (b *Batch) Leaves() []Sealed {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.leaves)
}

// Len is the number of statements added.
func (b *Batch) Len() int {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.leaves)
}

// finish ends the member and returns the leaves with it; nil bytes when
// it could not be made, for the append to encode the leaves itself.
func (b *Batch) finish() ([]Sealed, []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.z == nil {
		return b.leaves, nil
	}
	data, err := b.z.close()
	b.z = nil
	if err != nil || b.err != nil {
		data = nil
	}
	return b.leaves, data
}

// AppendBatch appends a batch's statements as AppendSealed does, writing
// the member the batch compressed when the ledger takes all of its
// statements in its order (none already there, none repeated, no kept
// statements first), and compressing what it takes otherwise. A nil
// Ledger or Batch appends nothing.
func (l *Ledger) AppendBatch(ctx context.Context, rw *v1.RegionWithdrawal, b *Batch) error {
	if l == nil || b == nil {
		return nil
	}
	leaves, data := b.finish()
	return l.appendSealed(ctx, rw, leaves, data)
}

// appendSealed is AppendSealed, with leaves' gzip member when the caller
// has it (nil otherwise).
func (l *Ledger) appendSealed(ctx context.Context, rw *v1.RegionWithdrawal, leaves []Sealed, data []byte) error {
	unlock := l.lock(rw.UID)
	defer unlock()
	kept, err := l.kept(ctx, rw)
	if err != nil {
		return err
	}
	if len(kept.names) == 0 {
		return l.appendLocked(ctx, rw, leaves, data)
	}
	if err := l.appendLocked(ctx, rw, append(slices.Clone(kept.leaves), leaves...), nil); err != nil {
		return err
	}
	// In the ledger now; one not deleted is appended again (to no effect)
	// and deleted next time.
	_ = l.dropKept(ctx, kept)
	return nil
}

// appendLocked appends leaves; the caller holds rw's lock. data, when
// not nil, is the gzip member of all of leaves, in order.
func (l *Ledger) appendLocked(ctx context.Context, rw *v1.RegionWithdrawal, leaves []Sealed, data []byte) error {
	if len(leaves) == 0 {
		return nil
	}
	lg, err := l.load(ctx, rw)
	if err != nil {
		return err
	}
	// The copies follow the writes, whatever this append does.
	defer l.copyShards(ctx, lg)
	for attempt := range maxRaces {
		todo := lg.missing(leaves)
		if len(todo) == 0 {
			if lg.tiled.on && lg.sealed && l.Tiles != nil {
				// A sealed ledger's last tiles, if their publication failed.
				return lg.tiled.settle(ctx, l.Tiles.of(rw.UID))
			}
			return nil
		}
		if lg.sealed {
			return fmt.Errorf("%w: %s/%s reached its end, and %d more statements were not recorded", ErrSealed, rw.Namespace, rw.Name, len(todo))
		}
		if !sameLeaves(todo, leaves) {
			data = nil
		}
		err := l.write(ctx, rw, lg, todo, data)
		if _, ok := AsTampered(err); ok {
			// Never signed over: the next append reads the ledger again,
			// and finds it restored or still broken.
			l.Forget(rw.UID)
			return err
		}
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

// sameLeaves says whether a and b are the same leaves in the same order.
func sameLeaves(a, b []Sealed) bool {
	return slices.EqualFunc(a, b, func(x, y Sealed) bool { return x.hash == y.hash && bytes.Equal(x.envelope, y.envelope) })
}

// missing returns the leaves whose keys the ledger does not hold, the first
// of each key only, with the seal last.
func (lg *log) missing(leaves []Sealed) []Sealed {
	seen := map[uint64]struct{}{}
	var out, seal []Sealed
	for _, lf := range leaves {
		if lf.seal {
			if !lg.keys.Has(lf.hash) && len(seal) == 0 {
				seal = append(seal, lf)
			}
			continue
		}
		if lg.keys.Has(lf.hash) {
			continue
		}
		if _, ok := seen[lf.hash]; ok {
			continue
		}
		seen[lf.hash] = struct{}{}
		out = append(out, lf)
	}
	return append(out, seal...)
}

// maxRaces bounds how often one append loses to another writer before it
// gives up (and its caller tries again later).
const maxRaces = 16

// errRaced means another writer wrote the shard first; its shard was read
// and merged, and the append is tried again.
var errRaced = errors.New("raced")

// write appends leaves to the open shard, or creates the next one when
// they would not fit.
func (l *Ledger) write(ctx context.Context, rw *v1.RegionWithdrawal, lg *log, leaves []Sealed, member []byte) error {
	if lg.tiled.on || (lg.shard == nil && l.Tiles != nil) {
		return l.writeTiles(ctx, rw, lg, leaves)
	}
	if member == nil {
		var err error
		if member, err = encode(leaves); err != nil {
			return err
		}
	}
	hashes := make([][]byte, len(leaves))
	for i, lf := range leaves {
		if hashes[i] = lf.leaf; hashes[i] == nil {
			hashes[i] = evidence.LeafHash(lf.envelope)
		}
	}
	// Append to the open shard if the result fits and the shard is still
	// small, else start the next. An append rewrites the whole shard (a
	// ConfigMap is written whole), so one that already holds a quarter of
	// its bound is closed: a batch of deliveries then goes into a new
	// shard with a Create of its own bytes, rather than an Update that
	// sends, stores and reads back everything before it too.
	fits := lg.shard != nil && len(lg.shard.BinaryData[KeyLeaves]) < l.ShardBytes/4
	var stateJSON []byte
	var st ShardState
	for {
		st = ShardState{Key: l.VerifierKey(), First: lg.state.First, Tree: clone(lg.state.Tree), Keys: slices.Clone(lg.state.Keys), Checkpoints: slices.Clone(lg.state.Checkpoints)}
		if !fits {
			st = ShardState{Key: l.VerifierKey(), First: lg.state.Tree.Size, Tree: clone(lg.state.Tree)}
		}
		if err := st.Tree.AppendHashes(hashes...); err != nil {
			return err
		}
		for _, lf := range leaves {
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
			return l.reread(ctx, rw, lg)
		default:
			return fmt.Errorf("writing the evidence shard %s: %w", cm.Name, err)
		}
	}
	// The open shard is closed: first make sure it is still what this
	// process wrote, as an Update of it would (its resourceVersion), so
	// that a change to it, or its deletion, is found now and never built
	// on, rather than by the next process that loads the ledger.
	if lg.shard != nil {
		var meta metav1.PartialObjectMetadata
		meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
		err := l.Reader.Get(ctx, client.ObjectKeyFromObject(lg.shard), &meta)
		switch {
		case apierrors.IsNotFound(err), err == nil && meta.ResourceVersion != lg.shard.ResourceVersion:
			return l.reread(ctx, rw, lg)
		case err != nil:
			return fmt.Errorf("reading the evidence shard %s: %w", lg.shard.Name, err)
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
			Annotations: map[string]string{AnnotationWithdrawalNamespace: rw.Namespace, AnnotationWithdrawalName: rw.Name,
				AnnotationIdentity: rw.ID()},
		},
		BinaryData: map[string][]byte{KeyLeaves: member},
		Data:       map[string]string{KeyState: string(stateJSON)},
	}
	err := l.Client.Create(ctx, cm)
	switch {
	case err == nil:
		lg.next++
		lg.accept(cm, st, leaves)
		l.toCopy(lg, cm)
		return nil
	case apierrors.IsAlreadyExists(err):
		// Proof of another writer: take its shard, then go on after it.
		return l.reread(ctx, rw, lg)
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
	return evidence.Withdrawal{Namespace: rw.Namespace, Name: rw.Name, UID: string(rw.UID), ID: rw.ID()}
}

// accept makes a written shard the open one.
func (lg *log) accept(cm *corev1.ConfigMap, st ShardState, leaves []Sealed) {
	lg.open(cm)
	lg.state = st
	for _, lf := range leaves {
		lg.keys.Add(lf.hash)
		lg.sealed = lg.sealed || lf.seal
	}
}

// reread reads the whole ledger again after another writer won a race,
// checked as at load and against what this process saw before, and
// reports the race. What another writer appended is checked like the
// rest: a shard changed or removed by anyone else is found here.
func (l *Ledger) reread(ctx context.Context, rw *v1.RegionWithdrawal, lg *log) error {
	var pins []pin
	if p, ok, err := lg.head(); err != nil {
		return err
	} else if ok {
		pins = append(pins, p)
	}
	fresh, err := l.readAll(ctx, rw, pins)
	if err != nil {
		return err
	}
	// Copies: what was not copied yet, and every shard read (the other
	// writer copies its own too; a second copy of the same bytes is
	// harmless).
	if l.CopyTo != nil {
		for name, cm := range lg.uncopied {
			if _, ok := fresh.uncopied[name]; !ok {
				fresh.uncopied[name] = cm
			}
		}
	}
	*lg = *fresh
	return errRaced
}

// pin is a ledger size and the root the operator signed at it.
type pin struct {
	size uint64
	root []byte
	// from says where the pin came from, for the error.
	from string
}

// head is the pin of what lg holds, if it holds anything.
func (lg *log) head() (pin, bool, error) {
	if lg.state.Tree.Size == 0 {
		return pin{}, false, nil
	}
	root, err := lg.state.Tree.Root()
	if err != nil {
		return pin{}, false, err
	}
	return pin{size: lg.state.Tree.Size, root: root, from: "what this process wrote or read before"}, true, nil
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
// first time, checked against the checkpoint rw's status recorded. It is
// called with the ledger's lock held.
func (l *Ledger) load(ctx context.Context, rw *v1.RegionWithdrawal) (*log, error) {
	uid := rw.UID
	l.mu.Lock()
	lg := l.open[uid]
	l.mu.Unlock()
	if lg != nil {
		return lg, nil
	}
	var pins []pin
	if ev := rw.Status.Evidence; ev != nil && ev.Checkpoint != "" {
		cp, err := evidence.OpenCheckpoint([]byte(ev.Checkpoint), evidence.Origin(Withdrawal(rw)), l.verifier)
		if err != nil {
			// Only the operator writes status; a checkpoint there that is
			// not its own was signed by a key it no longer has.
			return nil, &TamperedError{Withdrawal: rw.Namespace + "/" + rw.Name, Problem: fmt.Sprintf("the checkpoint status.evidence recorded does not open with the operator's key: %v", err)}
		}
		pins = append(pins, pin{size: cp.Size, root: cp.Hash, from: "the checkpoint status.evidence recorded"})
	}
	lg, err := l.readAll(ctx, rw, pins)
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

// readAll reads every shard and checks it, a shard at a time: the tree is
// recomputed from the statements, every checkpoint must be the operator's
// and match the tree at its size, the last at the shard's end, and the
// shard's stored tree and keys must be its statements'. Each pin must
// match too, so that shards removed from the end, which leave a shorter
// ledger that checks out by itself, are found. A ledger that does not
// check out is a *TamperedError.
func (l *Ledger) readAll(ctx context.Context, rw *v1.RegionWithdrawal, pins []pin) (*log, error) {
	for range maxRaces - 1 {
		lg, err := l.readOnce(ctx, rw, pins)
		if !errors.Is(err, errMovedOn) {
			return lg, err
		}
	}
	return l.readOnce(ctx, rw, pins)
}

// readOnce is one try of readAll.
func (l *Ledger) readOnce(ctx context.Context, rw *v1.RegionWithdrawal, pins []pin) (*log, error) {
	lg := &log{uncopied: map[string]*corev1.ConfigMap{}}
	c := &checker{l: l, lg: lg, origin: evidence.Origin(Withdrawal(rw)), name: rw.Namespace + "/" + rw.Name, pins: map[uint64]pin{}}
	for _, p := range pins {
		c.pins[p.size] = p
	}
	err := Shards(ctx, l.Reader, l.Namespace, rw.UID, func(cm *corev1.ConfigMap) error {
		if st, ok, err := TiledStateOf(cm); ok {
			if err != nil {
				return c.tampered(cm.Name, "%v", err)
			}
			return c.tiled(ctx, cm, st)
		}
		if c.lg.tiled.on {
			return c.tampered(cm.Name, "a ledger kept as tiles has one ConfigMap, shard 0")
		}
		if err := c.shard(cm); err != nil {
			return err
		}
		if l.CopyTo != nil {
			// A new process cannot tell whether a shard was copied.
			lg.uncopied[cm.Name] = cm.DeepCopy()
		}
		return nil
	})
	if errors.Is(err, ErrShardMissing) {
		return nil, c.tampered("", "%v", err)
	}
	if err != nil {
		return nil, err
	}
	for _, p := range c.pins {
		return nil, c.tampered("", "the ledger holds %d statements, but the operator signed a checkpoint at %d (%s): shards were removed or cut short", c.tree.Size, p.size, p.from)
	}
	return lg, nil
}

// checker checks a ledger's shards in order as readAll reads them.
type checker struct {
	l      *Ledger
	lg     *log
	origin string
	name   string
	tree   evidence.State
	// pins still to reach, by size.
	pins map[uint64]pin
	// lastKey is the key hash of the statement leaf checked last.
	lastKey uint64
}

func (c *checker) tampered(shard, format string, args ...any) error {
	return &TamperedError{Withdrawal: c.name, Shard: shard, Problem: fmt.Sprintf(format, args...)}
}

// shard checks one shard and makes it the open one.
func (c *checker) shard(cm *corev1.ConfigMap) error {
	st, err := State(cm)
	if err != nil {
		return c.tampered(cm.Name, "%v", err)
	}
	switch {
	case st.Key != c.l.VerifierKey():
		return c.tampered(cm.Name, "it names the key %q, not the operator's %q", st.Key, c.l.VerifierKey())
	case st.First != c.tree.Size:
		return c.tampered(cm.Name, "it starts at statement %d, after %d: a shard is missing", st.First, c.tree.Size)
	}
	// The operator's checkpoints of this shard, by size.
	signed := map[uint64][]byte{}
	var last uint64
	for i, n := range st.Checkpoints {
		cp, err := evidence.OpenCheckpoint([]byte(n), c.origin, c.l.verifier)
		if err != nil {
			return c.tampered(cm.Name, "checkpoint %d is not the operator's: %v", i, err)
		}
		signed[cp.Size], last = cp.Hash, max(last, cp.Size)
	}
	leaves, err := Decode(cm)
	if err != nil {
		return c.tampered(cm.Name, "%v", err)
	}
	var keys []byte
	for i, leaf := range leaves {
		h := evidence.LeafHash(leaf)
		if err := c.leaf(cm.Name, leaf, h); err != nil {
			if errors.Is(err, errUnreadable) {
				return c.tampered(cm.Name, "statement %d (%d of the shard): %v", c.tree.Size, i, err)
			}
			return err
		}
		keys = binary.BigEndian.AppendUint64(keys, c.lastKey)
		if err := c.check(cm.Name, signed); err != nil {
			return err
		}
	}
	switch {
	case len(signed) > 0:
		for size := range signed {
			return c.tampered(cm.Name, "it holds a checkpoint at size %d, outside its statements %d to %d", size, st.First, c.tree.Size)
		}
	case len(leaves) == 0:
		return c.tampered(cm.Name, "it holds no statement")
	case last != c.tree.Size:
		return c.tampered(cm.Name, "statements %d to %d are under no checkpoint of the operator's", last, c.tree.Size-1)
	case !bytes.Equal(keys, st.Keys):
		return c.tampered(cm.Name, "its list of keys is not its statements' keys")
	case !sameTree(st.Tree, c.tree):
		return c.tampered(cm.Name, "its stored tree is not its statements' tree")
	}
	idx, _ := strconv.Atoi(cm.Labels[LabelShard])
	c.lg.open(cm)
	c.lg.state, c.lg.next = st, idx+1
	return nil
}

// errUnreadable marks a statement whose kind and key cannot be read.
var errUnreadable = errors.New("unreadable")

// leaf checks the next statement (leafHash is its leaf hash) and appends it
// to the tree: not after the seal, and not of a key already in.
func (c *checker) leaf(shard string, leaf, leafHash []byte) error {
	if c.lg.sealed {
		return c.tampered(shard, "statement %d comes after the seal", c.tree.Size)
	}
	kind, key, err := evidence.PeekEnvelope(leaf)
	if err != nil {
		return fmt.Errorf("%w: %w", errUnreadable, err)
	}
	h := keyHash(key)
	if c.lg.keys.Has(h) {
		return c.tampered(shard, "statement %d repeats the key %q of an earlier one", c.tree.Size, key)
	}
	c.lg.keys.Add(h)
	c.lg.sealed = kind == evidence.KindSealed
	c.lastKey = h
	return c.tree.AppendHash(leafHash)
}

// open makes cm the open shard: the one before it, if another, is closed.
func (lg *log) open(cm *corev1.ConfigMap) {
	if lg.shard != nil && lg.shard.Name != cm.Name {
		lg.closedBytes += shardBytes(lg.shard)
	}
	lg.shard = cm
}

// storedBytes is what the ledger's shards hold, as stored in etcd: their
// statements and state (each object adds a few hundred bytes of metadata).
func (lg *log) storedBytes() int64 {
	if lg.shard == nil {
		return lg.closedBytes
	}
	return lg.closedBytes + shardBytes(lg.shard)
}

func shardBytes(cm *corev1.ConfigMap) int64 {
	return int64(len(cm.BinaryData[KeyLeaves])+len(cm.Data[KeyState])) + tiledBytes(cm)
}

// check compares the root at the tree's size with a checkpoint of the
// shard and a pin at that size, if there is one.
func (c *checker) check(shard string, signed map[uint64][]byte) error {
	hash, isSigned := signed[c.tree.Size]
	p, isPinned := c.pins[c.tree.Size]
	if !isSigned && !isPinned {
		return nil
	}
	root, err := c.tree.Root()
	if err != nil {
		return err
	}
	if isSigned {
		if !bytes.Equal(root, hash) {
			return c.tampered(shard, "the statements before its checkpoint at size %d are not those the operator signed", c.tree.Size)
		}
		delete(signed, c.tree.Size)
	}
	if isPinned {
		if !bytes.Equal(root, p.root) {
			return c.tampered(shard, "the statements before size %d are not those of %s", c.tree.Size, p.from)
		}
		delete(c.pins, c.tree.Size)
	}
	return nil
}

// sameTree says whether two tree states are the same.
func sameTree(a, b evidence.State) bool {
	return a.Size == b.Size && slices.EqualFunc(a.Hashes, b.Hashes, bytes.Equal)
}

// Head is the latest checkpoint of a withdrawal's ledger that this process
// wrote or checked, for the withdrawal's status: the next process checks
// the ledger against it. ok is false when the process has not loaded the
// ledger.
func (l *Ledger) Head(uid types.UID) (h v1.EvidenceStatus, ok bool) {
	if l == nil {
		return h, false
	}
	unlock := l.lock(uid)
	defer unlock()
	l.mu.Lock()
	lg := l.open[uid]
	l.mu.Unlock()
	if lg == nil || len(lg.state.Checkpoints) == 0 {
		return h, false
	}
	fp, _ := evidence.Fingerprint(l.VerifierKey())
	return v1.EvidenceStatus{
		Statements:  int64(lg.state.Tree.Size),
		Checkpoint:  lg.state.Checkpoints[len(lg.state.Checkpoints)-1],
		Key:         l.VerifierKey(),
		Fingerprint: fp,
		Sealed:      lg.sealed,
		StoredBytes: lg.storedBytes(),
	}, true
}

// Forget drops the process's view of a ledger (its key set), for a
// withdrawal that is gone or finished; a later append reads it again.
func (l *Ledger) Forget(uid types.UID) {
	l.mu.Lock()
	delete(l.open, uid)
	l.mu.Unlock()
}

// ErrShardMissing says a shard is missing between the first and the last.
var ErrShardMissing = errors.New("an evidence shard is missing")

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
		err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ShardName(uid, i)}, &cm)
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: %s, one of %d", ErrShardMissing, ShardName(uid, i), n)
		}
		if err != nil {
			return fmt.Errorf("reading the evidence shard %d of %d: %w", i, n, err)
		}
		if err := fn(&cm); err != nil {
			return err
		}
	}
	return nil
}

// LedgersOf lists the UIDs of every object whose ledger in namespace
// names the withdrawal ID id (v1.RegionWithdrawal.ID), oldest first: a
// withdrawal deleted and created again leaves one per object. Ledgers an
// earlier release began name no ID and are not found. One List of the
// shards' metadata.
func LedgersOf(ctx context.Context, r client.Reader, namespace, id string) ([]types.UID, error) {
	var shards metav1.PartialObjectMetadataList
	shards.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMapList"))
	if err := r.List(ctx, &shards, client.InNamespace(namespace), client.HasLabels{LabelShard}); err != nil {
		return nil, fmt.Errorf("listing the evidence shards: %w", err)
	}
	first := map[types.UID]time.Time{}
	for _, m := range shards.Items {
		if m.Annotations[AnnotationIdentity] != id {
			continue
		}
		uid := types.UID(m.Labels[executor.LabelWithdrawalUID])
		if t, ok := first[uid]; !ok || m.CreationTimestamp.Time.Before(t) {
			first[uid] = m.CreationTimestamp.Time
		}
	}
	uids := slices.Collect(maps.Keys(first))
	slices.SortFunc(uids, func(a, b types.UID) int {
		if c := first[a].Compare(first[b]); c != 0 {
			return c
		}
		return strings.Compare(string(a), string(b))
	})
	return uids, nil
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

// gzipWriters keeps gzip writers (BestSpeed) for reuse: a new one
// allocates and clears its compressor's tables, most of a megabyte.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // a valid level: no error.
	return zw
}}

// encode writes leaves as one gzip member.
func encode(leaves []Sealed) ([]byte, error) {
	size := 0
	for _, lf := range leaves {
		size += len(lf.envelope)
	}
	z := newMember(size)
	for _, lf := range leaves {
		if err := z.add(lf); err != nil {
			return nil, err
		}
	}
	return z.close()
}

// member is a gzip member being written: a sequence of uvarint length and
// envelope.
type member struct {
	buf *bytes.Buffer
	zw  *gzip.Writer
}

// newMember starts a member for about size bytes of envelopes.
func newMember(size int) *member {
	// Envelopes are base64 and JSON: about 2.5 to 1 at BestSpeed.
	z := &member{buf: bytes.NewBuffer(make([]byte, 0, size/2+64)), zw: gzipWriters.Get().(*gzip.Writer)}
	z.zw.Reset(z.buf)
	return z
}

func (z *member) add(lf Sealed) error {
	var n [binary.MaxVarintLen64]byte
	if _, err := z.zw.Write(n[:binary.PutUvarint(n[:], uint64(len(lf.envelope)))]); err != nil {
		return err
	}
	_, err := z.zw.Write(lf.envelope)
	return err
}

// close ends the member and returns its bytes.
func (z *member) close() ([]byte, error) {
	err := z.zw.Close()
	gzipWriters.Put(z.zw)
	z.zw = nil
	if err != nil {
		return nil, err
	}
	return z.buf.Bytes(), nil
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
func Read(ctx context.Context, r client.Reader, namespace string, uid types.UID, opts ...ReadOption) (*Contents, error) {
	c := &Contents{Withdrawal: evidence.Withdrawal{UID: string(uid)}}
	err := eachShard(ctx, r, namespace, uid, &c.Withdrawal, opts, func(cm *corev1.ConfigMap, st ShardState, leaves [][]byte) error {
		c.Leaves = append(c.Leaves, leaves...)
		for _, cp := range st.Checkpoints {
			c.Checkpoints = append(c.Checkpoints, []byte(cp))
		}
		c.Key = st.Key
		c.Shards++
		c.Bytes += shardBytes(cm)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// eachShard calls fn with each shard in order, its state and its
// statements, and checks that each starts where the one before ended. It
// sets w's namespace and name from the shards.
func eachShard(ctx context.Context, r client.Reader, namespace string, uid types.UID, w *evidence.Withdrawal, opts []ReadOption, fn func(*corev1.ConfigMap, ShardState, [][]byte) error) error {
	var o readOptions
	for _, opt := range opts {
		opt(&o)
	}
	next := uint64(0)
	return Shards(ctx, r, namespace, uid, func(cm *corev1.ConfigMap) error {
		if tst, ok, err := TiledStateOf(cm); ok {
			if err != nil {
				return err
			}
			if next != 0 {
				return fmt.Errorf("the evidence ledger %s is kept as tiles, after shards of statements", cm.Name)
			}
			w.Namespace, w.Name = originWithdrawal(tst.Checkpoint)
			return eachTile(ctx, o, cm, tst, func(cm *corev1.ConfigMap, st ShardState, leaves [][]byte) error {
				next += uint64(len(leaves))
				return fn(cm, st, leaves)
			})
		}
		st, err := State(cm)
		if err != nil {
			return err
		}
		if st.First != next {
			return fmt.Errorf("the evidence shard %s starts at statement %d, after %d: a shard is missing", cm.Name, st.First, next)
		}
		leaves, err := Decode(cm)
		if err != nil {
			return err
		}
		next += uint64(len(leaves))
		w.Namespace, w.Name = cm.Annotations[AnnotationWithdrawalNamespace], cm.Annotations[AnnotationWithdrawalName]
		return fn(cm, st, leaves)
	})
}

// ReadOption configures a reader of ledgers.
type ReadOption func(*readOptions)

type readOptions struct {
	tiles *TileStore
	open  func(location string) (tiles.Store, error)
}

// WithTiles reads ledgers kept as tiles from t; without it, or
// WithTileOpener, reading one is an error wrapping ErrNoTileStore.
func WithTiles(t *TileStore) ReadOption { return func(o *readOptions) { o.tiles = t } }

// WithTileOpener reads ledgers kept as tiles from the store open returns
// for the location their ConfigMap names (TiledState.Location, the
// ledger's own prefix). That location is in a namespace others may write:
// it only says where to look, and what is there is checked as any ledger.
func WithTileOpener(open func(location string) (tiles.Store, error)) ReadOption {
	return func(o *readOptions) { o.open = open }
}

// Summary is a ledger read a shard at a time keeping only what a bundle's
// head and a witness need: each statement's leaf hash (32 bytes), not the
// statement. WriteStatements reads the statements again to write them.
type Summary struct {
	Withdrawal  evidence.Withdrawal
	Key         string
	Leaves      evidence.LeafHashes
	Checkpoints [][]byte
	// First is the first statement, which names the withdrawal's ID.
	First []byte
}

// Summarize reads a withdrawal's ledger as Read does, keeping its Summary.
func Summarize(ctx context.Context, r client.Reader, namespace string, uid types.UID, opts ...ReadOption) (*Summary, error) {
	s := &Summary{Withdrawal: evidence.Withdrawal{UID: string(uid)}}
	err := eachShard(ctx, r, namespace, uid, &s.Withdrawal, opts, func(_ *corev1.ConfigMap, st ShardState, leaves [][]byte) error {
		if s.First == nil && len(leaves) > 0 {
			s.First = leaves[0]
		}
		for _, l := range leaves {
			s.Leaves.Append(l)
		}
		for _, cp := range st.Checkpoints {
			s.Checkpoints = append(s.Checkpoints, []byte(cp))
		}
		s.Key = st.Key
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// ErrChanged says the ledger changed between two reads of one export.
var ErrChanged = errors.New("the ledger changed while it was read")

// WriteStatements reads the ledger's shards again and writes its
// statements to w: each must be the one Summarize hashed, so that a bundle
// is one ledger, not two halves of a ledger that changed between the reads.
func (s *Summary) WriteStatements(ctx context.Context, r client.Reader, namespace string, w *evidence.BundleWriter, opts ...ReadOption) error {
	i := uint64(0)
	var again evidence.Withdrawal
	err := eachShard(ctx, r, namespace, types.UID(s.Withdrawal.UID), &again, opts, func(cm *corev1.ConfigMap, _ ShardState, leaves [][]byte) error {
		for _, l := range leaves {
			if i == s.Leaves.Len() {
				return nil // appended since: not in this bundle
			}
			if !bytes.Equal(evidence.LeafHash(l), s.Leaves.At(i)) {
				return fmt.Errorf("%w: statement %d in shard %s", ErrChanged, i, cm.Name)
			}
			if err := w.Write(l); err != nil {
				return err
			}
			i++
		}
		return nil
	})
	switch {
	case err != nil:
		return err
	case i != s.Leaves.Len():
		return fmt.Errorf("%w: %d statements now, %d before", ErrChanged, i, s.Leaves.Len())
	}
	return nil
}

// SaltKey is as Contents.SaltKey.
func (s *Summary) SaltKey() (types.UID, error) {
	return saltKeyOf(s.First, types.UID(s.Withdrawal.UID))
}

// Head makes the bundle's head, with salt when it is not nil; it checks
// every checkpoint against the statements' hashes, and that the last
// covers every statement: the operator signs a checkpoint with every
// append, so statements after it were put there by someone else.
func (s *Summary) Head(salt []byte) (*evidence.BundleHead, error) {
	h, err := evidence.NewBundleHead(evidence.Origin(s.Withdrawal), s.Key, salt, s.Leaves, s.Checkpoints)
	if err != nil {
		return nil, err
	}
	covered := uint64(0)
	if n := len(s.Checkpoints); n > 0 {
		v, err := note.NewVerifier(s.Key)
		if err != nil {
			return nil, err
		}
		cp, err := evidence.OpenCheckpoint(s.Checkpoints[n-1], evidence.Origin(s.Withdrawal), v)
		if err != nil {
			return nil, err
		}
		covered = cp.Size
	}
	if covered != s.Leaves.Len() {
		return nil, fmt.Errorf("%w: statements %d to %d are under no checkpoint", evidence.ErrUncovered, covered, s.Leaves.Len()-1)
	}
	return h, nil
}

// SaltKey is the key the withdrawal's recipient salt is derived from
// (v1.RegionWithdrawal.IdentityKey), for a withdrawal that may be gone:
// the hash of the ID its first statement names, or its UID when that
// statement names none (an earlier release began it). The statement is
// signed, so a bundle verified with this salt is one whose salt is right.
func (c *Contents) SaltKey() (types.UID, error) {
	var first []byte
	if len(c.Leaves) > 0 {
		first = c.Leaves[0]
	}
	return saltKeyOf(first, types.UID(c.Withdrawal.UID))
}

func saltKeyOf(first []byte, uid types.UID) (types.UID, error) {
	if first == nil {
		return uid, nil
	}
	w, err := evidence.PeekWithdrawal(first)
	if err != nil {
		return "", err
	}
	if w.ID == "" {
		return uid, nil
	}
	return v1.IdentityKeyOf(w.ID), nil
}

// Bundle makes the ledger's bundle, with salt when it is not nil; it
// checks every checkpoint against the statements.
func (c *Contents) Bundle(salt []byte) (*evidence.Bundle, error) {
	return evidence.NewBundle(evidence.Origin(c.Withdrawal), c.Key, salt, c.Leaves, c.Checkpoints)
}

// RecordKey derives a key for authenticating the operator's other records
// (export verdicts, the record of created Jobs) from the evidence key: only
// the operator holds it, so a record whose MAC checks was written by it,
// wherever the record is kept. purpose separates the keys of different
// records. A nil Ledger has no key.
func (l *Ledger) RecordKey(purpose string) []byte {
	if l == nil {
		return nil
	}
	m := hmac.New(sha256.New, l.Key)
	m.Write([]byte("region-withdrawal-operator/records/v1\x00" + purpose))
	return m.Sum(nil)
}

// SignRecord signs a record message (evidence.RecordMessage) with the
// evidence key; "" from a nil Ledger.
func (l *Ledger) SignRecord(msg []byte) string {
	if l == nil {
		return ""
	}
	return l.signer.SignRecord(msg)
}
