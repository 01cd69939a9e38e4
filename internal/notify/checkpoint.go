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

package notify

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/hashset"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/channel"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// Labels and keys of the checkpoint ConfigMaps. See docs/notify.md.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	managedBy      = "region-withdrawal-operator"
	LabelNotice    = "withdrawal.ops.dev/notice"
	LabelShard     = "withdrawal.ops.dev/shard"
	// AnnotationTold marks a shard created by an operator that records
	// who was told (KeyTold). A shard without it, and with outcomes in it,
	// was written by an earlier release: its told records are missing.
	AnnotationTold = "withdrawal.ops.dev/told-records"

	// KeyDelivered holds 8 bytes per delivered (recipient, channel): the
	// first 8 bytes, big-endian, of SHA-256(idempotency key + "/" + channel).
	KeyDelivered = "delivered"
	// KeyFailed holds one JSON object per line per permanent failure.
	KeyFailed = "failed"
	// KeyDeferred holds one JSON object per line per transient failure
	// waiting for its next attempt.
	KeyDeferred = "deferred"
	// KeyTold holds 8 bytes per recipient this notice was the first
	// to try to reach (see toldHash), written before the batch is sent:
	// who has been told anything, which the Rescheduled and Cancellation
	// notices are sent to.
	KeyTold = "told"

	// DefaultShardBytes bounds one checkpoint ConfigMap, well under the
	// ~1 MiB an object may hold, so that rewriting the open shard after
	// each batch stays cheap.
	DefaultShardBytes = 256 << 10
	// maxReason caps the reason kept per failure.
	maxReason = 300
)

// IdempotencyKey is the key of one notice to one recipient: hex SHA-256
// over the withdrawal's UID, the notice ID and the recipient ID. It depends
// on nothing else, so every retry and every run after a crash sends the same key.
func IdempotencyKey(uid, noticeID, recipientID string) string {
	h := sha256.New()
	h.Write([]byte(uid))
	h.Write([]byte{0})
	h.Write([]byte(noticeID))
	h.Write([]byte{0})
	h.Write([]byte(recipientID))
	return hex.EncodeToString(h.Sum(nil))
}

// unitHash identifies one (recipient, channel) delivery within a notice.
// 64 bits make a collision among 100,000 recipients about 3 in 10^10.
func unitHash(key string, ch channel.Name) uint64 {
	sum := sha256.Sum256([]byte(key + "/" + string(ch)))
	return binary.BigEndian.Uint64(sum[:8])
}

// toldHash identifies a recipient across the notices of one withdrawal:
// the first 8 bytes, big-endian, of SHA-256("told", UID, recipient id).
func toldHash(uid, recipientID string) uint64 {
	h := sha256.New()
	h.Write([]byte("told"))
	h.Write([]byte{0})
	h.Write([]byte(uid))
	h.Write([]byte{0})
	h.Write([]byte(recipientID))
	return binary.BigEndian.Uint64(h.Sum(nil)[:8])
}

// toldAheadID names the shards of the told records written ahead of the
// batches of notice noticeID. Not a notice's ID, and not a reminder's: the
// shards are never loaded as a notice's, nor compacted.
func toldAheadID(noticeID string) string { return "told-" + noticeID }

// toldShardBytes bounds a shard of told records written ahead: 4,096
// recipients, so that each write before a batch stays small.
const toldShardBytes = 32 << 10

// Told is the set of recipients some notice of a withdrawal has tried to
// reach, by their told hashes.
type Told struct{ set hashset.Set }

// Has says whether recipientID of the withdrawal with uid was told.
func (t *Told) Has(uid, recipientID string) bool {
	return t.set.Has(toldHash(uid, recipientID))
}

// recordsTold says whether cm's told records are complete: it was
// created by a release that writes them, or holds no outcome at all.
func recordsTold(cm *corev1.ConfigMap) bool {
	return cm.Annotations[AnnotationTold] == "true" || (len(cm.BinaryData[KeyDelivered]) == 0 && cm.Data[KeyFailed] == "" && cm.Data[KeyDeferred] == "")
}

func (t *Told) mergeFrom(cm *corev1.ConfigMap) error {
	b := cm.BinaryData[KeyTold]
	if len(b)%8 != 0 {
		return fmt.Errorf("checkpoint %s: %s has %d bytes, not a multiple of 8", cm.Name, KeyTold, len(b))
	}
	for i := 0; i < len(b); i += 8 {
		t.set.Add(binary.BigEndian.Uint64(b[i:]))
	}
	return nil
}

// noChannel stands for a recipient no configured channel reaches: it is
// recorded as failed under this pseudo-channel.
const noChannel channel.Name = "none"

type recordKind int

const (
	recDelivered recordKind = iota
	recFailed
	recDeferred
	// recTold marks a recipient as told (hash is its toldHash).
	recTold
)

// record is the outcome of one delivery unit.
type record struct {
	kind      recordKind
	hash      uint64
	id        string
	ch        channel.Name
	attempts  int
	reason    string
	notBefore time.Time
	// key, at and receipt are for the evidence ledger, which the
	// checkpoint does not hold: the idempotency key, when the outcome
	// came, and the receiver's answer to the last attempt.
	key     string
	at      time.Time
	receipt channel.Receipt
}

// line is how failed and deferred records are written.
type line struct {
	Hash      string     `json:"h"`
	ID        string     `json:"id"`
	Channel   string     `json:"ch"`
	Attempts  int        `json:"attempts"`
	Reason    string     `json:"reason"`
	NotBefore *time.Time `json:"notBefore,omitempty"`
}

// deferral is a unit waiting for another attempt.
type deferral struct {
	attempts  int
	notBefore time.Time
}

// State is what the checkpoint says about one notice: which units are
// delivered, failed, or waiting to be retried.
type State struct {
	// delivered holds as many hashes as the notice has recipients:
	// a hashset, not a map, for its memory.
	delivered hashset.Set
	failed    map[uint64]struct{}
	deferred  map[uint64]deferral
	// Who the notice recorded as told is not kept here: Store.Told reads
	// it from the shards, and the executor keeps it once per notice
	// (run.told), a million hashes at a million recipients.
	// open is the last shard, which batches append to until it is full.
	open *corev1.ConfigMap
	// next is the index of the next shard to create.
	next int
}

func newState() *State {
	return &State{failed: map[uint64]struct{}{}, deferred: map[uint64]deferral{}}
}

// empty is true before anything was recorded for the notice.
func (s *State) empty() bool {
	return s.delivered.Len() == 0 && len(s.failed) == 0 && len(s.deferred) == 0 && s.next == 0
}

// apply merges one record. Delivered beats failed beats deferred, and a
// later deferral (more attempts) beats an earlier one, so merging is order
// independent: two writers' records can be merged in any order.
func (s *State) apply(r record) {
	switch r.kind {
	case recDelivered:
		s.delivered.Add(r.hash)
		delete(s.failed, r.hash)
		delete(s.deferred, r.hash)
	case recFailed:
		if !s.delivered.Has(r.hash) {
			s.failed[r.hash] = struct{}{}
			delete(s.deferred, r.hash)
		}
	case recDeferred:
		d := s.delivered.Has(r.hash)
		_, f := s.failed[r.hash]
		if old, ok := s.deferred[r.hash]; !d && !f && (!ok || old.attempts <= r.attempts) {
			s.deferred[r.hash] = deferral{attempts: r.attempts, notBefore: r.notBefore}
		}
	}
}

// merge applies every record of a shard.
func (s *State) merge(cm *corev1.ConfigMap) error {
	b := cm.BinaryData[KeyDelivered]
	if len(b)%8 != 0 {
		return fmt.Errorf("checkpoint %s: %s has %d bytes, not a multiple of 8", cm.Name, KeyDelivered, len(b))
	}
	for i := 0; i < len(b); i += 8 {
		s.apply(record{kind: recDelivered, hash: binary.BigEndian.Uint64(b[i:])})
	}
	if n := len(cm.BinaryData[KeyTold]); n%8 != 0 {
		return fmt.Errorf("checkpoint %s: %s has %d bytes, not a multiple of 8", cm.Name, KeyTold, n)
	}
	for key, kind := range map[string]recordKind{KeyFailed: recFailed, KeyDeferred: recDeferred} {
		sc := bufio.NewScanner(strings.NewReader(cm.Data[key]))
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		for sc.Scan() {
			var l line
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				return fmt.Errorf("checkpoint %s key %s: %w", cm.Name, key, err)
			}
			h, err := strconv.ParseUint(l.Hash, 16, 64)
			if err != nil {
				return fmt.Errorf("checkpoint %s key %s: hash %q: %w", cm.Name, key, l.Hash, err)
			}
			r := record{kind: kind, hash: h, attempts: l.Attempts}
			if l.NotBefore != nil {
				r.notBefore = *l.NotBefore
			}
			s.apply(r)
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("checkpoint %s key %s: %w", cm.Name, key, err)
		}
	}
	return nil
}

// Store keeps the checkpoints of notices in ConfigMaps owned by the
// withdrawal, named <withdrawal>-notice-<notice ID>-<shard>.
type Store struct {
	// Client writes the shards.
	Client client.Client
	// Reader reads them, uncached: the shards are large and only this
	// executor reads them.
	Reader client.Reader
	// ShardBytes bounds one shard; default DefaultShardBytes.
	ShardBytes int
}

// ShardName is the name of one checkpoint shard.
func ShardName(rw *v1.RegionWithdrawal, noticeID string, shard int) string {
	suffix := fmt.Sprintf("-notice-%s-%d", noticeID, shard)
	base := rw.Name
	if len(base)+len(suffix) > 253 {
		sum := sha256.Sum256([]byte(rw.Name))
		base = strings.TrimRight(base[:253-len(suffix)-9], "-.") + "-" + hex.EncodeToString(sum[:4])
	}
	return base + suffix
}

// RecordsSelector is the label selector of a notice's per-recipient records,
// for `kubectl get configmaps -l ...`.
func RecordsSelector(rw *v1.RegionWithdrawal, noticeID string) string {
	return executor.LabelWithdrawalUID + "=" + string(rw.IdentityKey()) + "," + LabelNotice + "=" + noticeID
}

// CompactReminders deletes the checkpoints of reminders that have
// finished: the planner never sends a finished reminder again (status keeps
// its slot), so its per-recipient records are only weight, a month of
// hourly reminders' worth. A reminder counts as finished when status says
// so, or when status no longer lists it (only finished reminders are
// trimmed from it). Who a reminder told is not in these shards but in its
// told-ahead shards (toldAheadID), which are never compacted. One List,
// and a Delete per shard.
func (s *Store) CompactReminders(ctx context.Context, rw *v1.RegionWithdrawal) (int, error) {
	var list corev1.ConfigMapList
	if err := s.Reader.List(ctx, &list, client.InNamespace(rw.Namespace),
		client.MatchingLabels{executor.LabelWithdrawalUID: string(rw.IdentityKey())}, client.HasLabels{LabelNotice}); err != nil {
		return 0, fmt.Errorf("listing notice checkpoints: %w", err)
	}
	deleted := 0
	for i := range list.Items {
		cm := &list.Items[i]
		id := cm.Labels[LabelNotice]
		if !strings.HasPrefix(id, "reminder-") || !recordsTold(cm) {
			// Not a reminder, or one an earlier release wrote: its
			// outcomes are the only sign that it told someone, so they
			// stay (Told reports the set incomplete while they do).
			continue
		}
		if n := planner.Notice(&rw.Status, id); n != nil && n.FinishedAt == nil {
			continue // in flight, or not yet recorded as finished
		}
		// Only as read: a shard written since (a replica that still
		// thinks it leads) is left for the next compaction.
		err := s.Client.Delete(ctx, cm, client.Preconditions{UID: &cm.UID, ResourceVersion: &cm.ResourceVersion})
		switch {
		case apierrors.IsConflict(err):
			continue
		case err != nil && !apierrors.IsNotFound(err):
			return deleted, fmt.Errorf("deleting the checkpoint %s of %s: %w", cm.Name, id, err)
		}
		deleted++
	}
	return deleted, nil
}

// Told reads who any notice of rw has tried to reach: the told records of
// every checkpoint shard. One List. complete is false when a shard written
// by an earlier release, which kept no told records, is among them: the
// set then misses whom that shard reached.
func (s *Store) Told(ctx context.Context, rw *v1.RegionWithdrawal) (t *Told, complete bool, err error) {
	var list corev1.ConfigMapList
	if err := s.Reader.List(ctx, &list, client.InNamespace(rw.Namespace),
		client.MatchingLabels{executor.LabelWithdrawalUID: string(rw.IdentityKey())}, client.HasLabels{LabelNotice}); err != nil {
		return nil, false, fmt.Errorf("reading who was told: %w", err)
	}
	t, complete = &Told{}, true
	for i := range list.Items {
		if err := t.mergeFrom(&list.Items[i]); err != nil {
			return nil, false, err
		}
		complete = complete && recordsTold(&list.Items[i])
	}
	return t, complete, nil
}

// Load reads every shard of a notice: one List.
func (s *Store) Load(ctx context.Context, rw *v1.RegionWithdrawal, noticeID string) (*State, error) {
	var list corev1.ConfigMapList
	if err := s.Reader.List(ctx, &list, client.InNamespace(rw.Namespace),
		client.MatchingLabels{executor.LabelWithdrawalUID: string(rw.IdentityKey()), LabelNotice: noticeID}); err != nil {
		return nil, fmt.Errorf("reading the checkpoint of notice %s: %w", noticeID, err)
	}
	st := newState()
	idx := func(cm *corev1.ConfigMap) int {
		n, err := strconv.Atoi(cm.Labels[LabelShard])
		if err != nil {
			return -1
		}
		return n
	}
	slices.SortFunc(list.Items, func(a, b corev1.ConfigMap) int { return idx(&a) - idx(&b) })
	for i := range list.Items {
		cm := &list.Items[i]
		if idx(cm) < 0 {
			continue
		}
		if err := st.merge(cm); err != nil {
			return nil, err
		}
		st.next = idx(cm) + 1
	}
	if n := len(list.Items); n > 0 && idx(&list.Items[n-1]) >= 0 {
		st.open = list.Items[n-1].DeepCopy()
	}
	return st, nil
}

// encoded is a chunk of records as shard data.
type encoded struct {
	delivered, told  []byte
	failed, deferred strings.Builder
	records          []record
}

func (e *encoded) size() int {
	return (len(e.delivered)+len(e.told))*4/3 + e.failed.Len() + e.deferred.Len()
}

func encodeLine(r record) string {
	l := line{Hash: strconv.FormatUint(r.hash, 16), ID: r.id, Channel: string(r.ch), Attempts: r.attempts, Reason: r.reason}
	if r.kind == recDeferred {
		t := r.notBefore.UTC()
		l.NotBefore = &t
	}
	b, _ := json.Marshal(l)
	return string(b) + "\n"
}

// chunks encodes records into chunks that each fit half a shard.
func (s *Store) chunks(recs []record) []*encoded {
	limit := s.shardBytes() / 2
	out := []*encoded{{}}
	for _, r := range recs {
		c := out[len(out)-1]
		if c.size() >= limit {
			c = &encoded{}
			out = append(out, c)
		}
		switch r.kind {
		case recDelivered:
			c.delivered = binary.BigEndian.AppendUint64(c.delivered, r.hash)
		case recFailed:
			c.failed.WriteString(encodeLine(r))
		case recDeferred:
			c.deferred.WriteString(encodeLine(r))
		case recTold:
			c.told = binary.BigEndian.AppendUint64(c.told, r.hash)
		}
		c.records = append(c.records, r)
	}
	return out
}

func (s *Store) shardBytes() int {
	if s.ShardBytes > 0 {
		return s.ShardBytes
	}
	return DefaultShardBytes
}

func shardSize(cm *corev1.ConfigMap) int {
	return (len(cm.BinaryData[KeyDelivered])+len(cm.BinaryData[KeyTold]))*4/3 + len(cm.Data[KeyFailed]) + len(cm.Data[KeyDeferred])
}

// errCheckpointContended is returned when other writers keep winning.
var errCheckpointContended = errors.New("the checkpoint is being written by another replica")

// Commit appends records to the notice's checkpoint and then to st. It is
// one request per chunk when nobody else writes: an Update of the open
// shard with the resourceVersion it read, or a Create of the next shard.
// A conflict or an AlreadyExists means another replica (leader election
// does not fence) or an earlier run wrote: its shard is read and merged,
// and the write is tried again, so no record of either writer is lost.
func (s *Store) Commit(ctx context.Context, rw *v1.RegionWithdrawal, noticeID string, st *State, recs []record) error {
	if len(recs) == 0 {
		return nil
	}
	for _, c := range s.chunks(recs) {
		if err := s.commitChunk(ctx, rw, noticeID, st, c); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) commitChunk(ctx context.Context, rw *v1.RegionWithdrawal, noticeID string, st *State, c *encoded) error {
	for range 5 {
		if st.open != nil && shardSize(st.open)+c.size() <= s.shardBytes() {
			cm := st.open.DeepCopy()
			if cm.BinaryData == nil {
				cm.BinaryData = map[string][]byte{}
			}
			if cm.Data == nil {
				cm.Data = map[string]string{}
			}
			cm.BinaryData[KeyDelivered] = append(cm.BinaryData[KeyDelivered], c.delivered...)
			if len(c.told) > 0 {
				cm.BinaryData[KeyTold] = append(cm.BinaryData[KeyTold], c.told...)
			}
			cm.Data[KeyFailed] += c.failed.String()
			cm.Data[KeyDeferred] += c.deferred.String()
			err := s.Client.Update(ctx, cm)
			switch {
			case err == nil:
				st.open = cm
				for _, r := range c.records {
					st.apply(r)
				}
				return nil
			case apierrors.IsConflict(err):
				if err := s.refresh(ctx, st, rw, st.open.Name); err != nil {
					return err
				}
				continue
			case apierrors.IsNotFound(err):
				st.open = nil
				continue
			default:
				return fmt.Errorf("writing checkpoint %s: %w", cm.Name, err)
			}
		}
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name: ShardName(rw, noticeID, st.next), Namespace: rw.Namespace,
				Labels: map[string]string{
					LabelManagedBy: managedBy, executor.LabelWithdrawalUID: string(rw.IdentityKey()),
					LabelNotice: noticeID, LabelShard: strconv.Itoa(st.next),
				},
				Annotations: map[string]string{AnnotationTold: "true"},
			},
			BinaryData: map[string][]byte{KeyDelivered: c.delivered},
			Data:       map[string]string{KeyFailed: c.failed.String(), KeyDeferred: c.deferred.String()},
		}
		if len(c.told) > 0 {
			cm.BinaryData[KeyTold] = c.told
		}
		// No owner reference: the records are the identity's, not this
		// object's, and outlive it until it ends (Executor.Finalize).
		err := s.Client.Create(ctx, cm)
		switch {
		case err == nil:
			st.open = cm
			st.next++
			for _, r := range c.records {
				st.apply(r)
			}
			return nil
		case apierrors.IsAlreadyExists(err):
			// Proof of another writer: read its shard, then carry on
			// after it.
			if err := s.refresh(ctx, st, rw, cm.Name); err != nil {
				return err
			}
			st.next++
			continue
		default:
			return fmt.Errorf("creating checkpoint %s: %w", cm.Name, err)
		}
	}
	return errCheckpointContended
}

// refresh reads one shard of rw's again and merges it into st. A
// ConfigMap of that name kept under another identity (an earlier
// withdrawal of the same name whose records are kept under its UID, on
// their way to the garbage collector) is never merged or written into:
// the write waits until it is gone.
func (s *Store) refresh(ctx context.Context, st *State, rw *v1.RegionWithdrawal, name string) error {
	var cm corev1.ConfigMap
	key := client.ObjectKey{Namespace: rw.Namespace, Name: name}
	if err := s.Reader.Get(ctx, key, &cm); err != nil {
		if apierrors.IsNotFound(err) {
			st.open = nil
			return nil
		}
		return fmt.Errorf("reading checkpoint %s: %w", name, err)
	}
	if got := cm.Labels[executor.LabelWithdrawalUID]; got != string(rw.IdentityKey()) {
		return fmt.Errorf("the ConfigMap %s, where this notice's next checkpoint goes, holds another withdrawal's records (%s=%s): "+
			"waiting for it to go (an earlier withdrawal of this name's records, deleted with it)", name, executor.LabelWithdrawalUID, got)
	}
	if err := st.merge(&cm); err != nil {
		return err
	}
	st.open = &cm
	return nil
}
