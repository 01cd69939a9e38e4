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

package evidence

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"runtime"
	"slices"
	"sort"
	"sync"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"

	"github.com/ops-dev/region-withdrawal-operator/internal/hashset"
)

// Verify checks a bundle held in memory offline: every statement's
// signature, every checkpoint's signature and root (a root that matches
// proves every statement before it included), the consistency proofs
// between checkpoints, unique keys, and that a checkpoint covers every
// statement. The report, which keeps every entry, is non-nil; the error is
// a *VerifyError listing the problems.
func Verify(b *Bundle, opts VerifyOptions) (*Report, error) {
	br := readerOf(b)
	return check(br.head, br.next, opts, true)
}

// VerifyReader checks a bundle of either format as Verify does, reading
// its statements as it checks them: memory holds a few batches of
// statements and about 30 bytes per statement (64 bits of a hash of each
// key, to find one used twice, with where it was seen, and of each
// recipient told, in sorted slices: internal/hashset), never the bundle.
func VerifyReader(r io.Reader, opts VerifyOptions) (*Report, error) {
	// No bound on a bundle in BundleFormat, which is never held; one in the
	// first format is read whole, as ReadBundle reads it.
	br, err := openBundle(r, math.MaxInt64)
	if err != nil {
		rep := &Report{KeyPinned: opts.Key != ""}
		return rep, rep.fail(err)
	}
	return check(br.head, br.next, opts, false)
}

// checker is one verification: what it has seen of the statements so far.
type checker struct {
	r       *Report
	v       note.Verifier
	origin  string
	keepAll bool
	about   string // the hash of VerifyOptions.Recipient, "" for none
	each    func(Entry)

	tree    *compact.Range
	targets []rootTarget // ascending size
	covered *log.Checkpoint
	// keyAt names the statements at checkpoint sizes, for the message
	// about statements no checkpoint covers.
	keyAt map[uint64]string
	// seen holds, per key's hash, where it was first seen (the low 32
	// bits) and 4 bytes of that leaf's hash (the high 32): enough to tell
	// a byte-identical copy from a different statement.
	seen  hashset.Map[uint64]
	seals []int

	counts  map[Kind]int
	notices map[string]*NoticeSummary
	told    hashset.Set
	failed  map[uint64]string // notice of each (notice, recipient) failed
}

// rootTarget is a size at which the tree's root must match a checkpoint.
type rootTarget struct {
	size   uint64
	bundle int // index in the bundle's checkpoints, or -1
	pinned int // index in the pinned checkpoints, or -1
	cp     *log.Checkpoint
}

func check(h *BundleHead, next func() ([]byte, error), opts VerifyOptions, keepAll bool) (*Report, error) {
	r := &Report{Origin: h.Origin, Key: h.Key, KeyPinned: opts.Key != "", Salt: opts.Salt}
	r.Fingerprint, _ = Fingerprint(h.Key)
	if h.Format != BundleFormat && h.Format != BundleFormatV1 {
		return r, r.fail(fmt.Errorf("%w: bundle format %q, want %q", ErrMalformed, h.Format, BundleFormat))
	}
	if opts.Key == "" {
		return r, r.fail(fmt.Errorf("%w: verifying needs the operator's verifier key; a bundle's own key proves nothing", ErrKeyRequired))
	}
	if opts.Key != h.Key {
		// Nothing signed by another key says anything about the pinned one.
		return r, r.fail(fmt.Errorf("%w: bundle signed by %s, pinned %s", ErrKeyMismatch, h.Key, opts.Key))
	}
	v, err := note.NewVerifier(h.Key)
	if err != nil {
		return r, r.fail(fmt.Errorf("%w: bundle key: %w", ErrMalformed, err))
	}
	if r.Salt == nil && h.Salt != "" {
		if r.Salt, err = hex.DecodeString(h.Salt); err != nil {
			r.problem(fmt.Errorf("%w: salt: %w", ErrMalformed, err))
		}
	}
	c := &checker{r: r, v: v, origin: h.Origin, keepAll: keepAll, each: opts.each, tree: factory.NewEmptyRange(0),
		keyAt: map[uint64]string{}, counts: map[Kind]int{},
		notices: map[string]*NoticeSummary{}, failed: map[uint64]string{}}
	if opts.Recipient != "" && r.Salt != nil {
		c.about = RecipientHash(r.Salt, opts.Recipient)
	}
	r.checkOrigin(h, opts)
	cps := r.checkCheckpoints(h, v)
	r.checkConsistency(h, cps)
	c.aim(cps, opts.Checkpoints)
	if err := c.read(next); err != nil {
		r.problem(err)
	}
	c.finish()
	r.checkWitnessed(v, opts)
	r.checkSealed(opts.AllowOpen)
	if len(r.Problems) > 0 {
		return r, r.err()
	}
	return r, nil
}

// checkCheckpoints returns the checkpoints in bundle order, nil where one
// did not verify.
func (r *Report) checkCheckpoints(h *BundleHead, v note.Verifier) []*log.Checkpoint {
	cps := make([]*log.Checkpoint, len(h.Checkpoints))
	var last *log.Checkpoint
	for i, s := range h.Checkpoints {
		cp, err := OpenCheckpoint([]byte(s), h.Origin, v)
		switch {
		case err != nil:
			r.problem(fmt.Errorf("checkpoint %d (%s): %w", i, uncheckedSize([]byte(s)), err))
			continue
		case last != nil && cp.Size < last.Size:
			r.problem(fmt.Errorf("%w: checkpoint %d (size %d) after size %d", ErrCheckpoint, i, cp.Size, last.Size))
			continue
		}
		cps[i], last = cp, cp
		r.Checkpoints = append(r.Checkpoints, *cp)
	}
	return cps
}

// checkConsistency checks the proof between each pair of checkpoints: the
// later tree extends the earlier one.
func (r *Report) checkConsistency(h *BundleHead, cps []*log.Checkpoint) {
	if want := max(len(h.Checkpoints)-1, 0); len(h.Consistency) != want {
		r.problem(fmt.Errorf("%w: %d proofs for %d checkpoints, want %d", ErrConsistency, len(h.Consistency), len(h.Checkpoints), want))
		return
	}
	for i, p := range h.Consistency {
		from, to := cps[i], cps[i+1]
		if from == nil || to == nil {
			continue // reported with the checkpoint
		}
		err := proof.VerifyConsistency(hasher, from.Size, to.Size, p.Hashes, from.Hash, to.Hash)
		if p.From != from.Size || p.To != to.Size {
			err = fmt.Errorf("proof is for sizes %d→%d", p.From, p.To)
		}
		if err != nil {
			r.problem(fmt.Errorf("%w: checkpoints %d→%d (size %d→%d): %w", ErrConsistency, i, i+1, from.Size, to.Size, err))
		}
	}
}

// aim lists the sizes at which the tree's root is compared: each bundle
// checkpoint that verified, and each checkpoint the auditor pinned.
func (c *checker) aim(cps []*log.Checkpoint, pinned [][]byte) {
	c.keyAt[0] = ""
	for i, cp := range cps {
		if cp != nil {
			c.targets = append(c.targets, rootTarget{size: cp.Size, bundle: i, pinned: -1, cp: cp})
			c.keyAt[cp.Size] = ""
		}
	}
	for i, p := range pinned {
		cp, err := OpenCheckpoint(p, c.origin, c.v)
		if err != nil {
			c.r.problem(fmt.Errorf("%w: pinned checkpoint %d (%s) is not a checkpoint of %s by the pinned key: %w", ErrWrongLedger, i, uncheckedSize(p), c.origin, err))
			continue
		}
		c.targets = append(c.targets, rootTarget{size: cp.Size, bundle: -1, pinned: i, cp: cp})
	}
	sort.SliceStable(c.targets, func(i, j int) bool { return c.targets[i].size < c.targets[j].size })
	c.reach()
}

// reach compares the root with every target at the tree's present size.
func (c *checker) reach() {
	size := c.tree.End()
	if len(c.targets) == 0 || c.targets[0].size != size {
		return
	}
	root := hasher.EmptyRoot()
	if size > 0 {
		var err error
		if root, err = c.tree.GetRootHash(nil); err != nil {
			c.r.problem(fmt.Errorf("%w: the tree at size %d: %w", ErrRootMismatch, size, err))
			return
		}
	}
	for len(c.targets) > 0 && c.targets[0].size == size {
		t := c.targets[0]
		c.targets = c.targets[1:]
		match := bytes.Equal(root, t.cp.Hash)
		switch {
		case t.pinned >= 0 && match:
			c.r.Pinned = append(c.r.Pinned, *t.cp)
		case t.pinned >= 0:
			c.r.problem(fmt.Errorf("%w: pinned checkpoint %d (size %d): the statements before it were rewritten", ErrPinned, t.pinned, size))
		case match:
			c.covered = t.cp
		default:
			c.r.problem(fmt.Errorf("%w: checkpoint %d (size %d)", ErrRootMismatch, t.bundle, size))
		}
	}
}

// A worker opens a batch of statements at a time: verifyBatch of them,
// or fewer that make verifyBatchBytes, so that the few batches in flight
// stay small even of statements near MaxEnvelopeBytes.
const (
	verifyBatch      = 256
	verifyBatchBytes = 1 << 20
)

type verifyJob struct {
	start  int
	leaves [][]byte
	out    []opened
	done   chan struct{}
}

// read opens the statements on every core (Ed25519 checks are most of the
// time) and takes them in order: a few batches are in flight at once.
func (c *checker) read(next func() ([]byte, error)) error {
	workers := max(1, runtime.GOMAXPROCS(0))
	work, order := make(chan *verifyJob, workers), make(chan *verifyJob, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range work {
				for k, leaf := range j.leaves {
					j.out[k] = openLeaf(leaf, j.start+k, c.v, c.origin)
				}
				close(j.done)
			}
		})
	}
	var readErr error
	go func() {
		defer close(order)
		defer close(work)
		for start := 0; ; {
			j := &verifyJob{start: start, leaves: make([][]byte, 0, verifyBatch), done: make(chan struct{})}
			size, end := 0, false
			for len(j.leaves) < verifyBatch && size < verifyBatchBytes {
				leaf, err := next()
				if err != nil {
					if !errors.Is(err, io.EOF) {
						readErr = err
					}
					end = true
					break
				}
				j.leaves = append(j.leaves, leaf)
				size += len(leaf)
			}
			if len(j.leaves) > 0 {
				j.out = make([]opened, len(j.leaves))
				order <- j
				work <- j
				start += len(j.leaves)
			}
			if end {
				return
			}
		}
	}()
	for j := range order {
		<-j.done
		for k := range j.out {
			c.add(j.start+k, &j.out[k])
		}
	}
	wg.Wait()
	return readErr
}

// add takes statement i, in leaf order.
func (c *checker) add(i int, o *opened) {
	c.r.Statements = i + 1
	if err := c.tree.Append(o.hash, nil); err != nil {
		c.r.problem(fmt.Errorf("%w: statement %d: %w", ErrMalformed, i, err))
	}
	if _, ok := c.keyAt[uint64(i)]; ok {
		c.keyAt[uint64(i)] = o.entry.Key
	}
	c.reach()
	if o.err != nil {
		c.r.problem(o.err)
		return
	}
	// The ledger appends one statement per key (a replay finds its
	// statement there), so even a byte-identical copy is a defect: a
	// statement copied over another.
	k, e := hash64(o.entry.Key), o.entry
	leaf := uint64(binary.BigEndian.Uint32(o.hash)) << 32
	if f, seen := c.seen.Get(k); seen {
		if first := f & math.MaxUint32; f&^math.MaxUint32 == leaf {
			c.r.problem(fmt.Errorf("%w: statement %d repeats statement %d (key %q)", ErrDuplicateKey, i, first, e.Key))
		} else {
			c.r.problem(fmt.Errorf("%w: statements %d and %d, key %q", ErrDuplicateKey, first, i, e.Key))
		}
		return
	}
	c.seen.Put(k, leaf|uint64(uint32(i)))
	c.take(e)
	if c.each != nil {
		c.each(e)
	}
}

// take adds a verified entry to the report.
func (c *checker) take(e Entry) {
	c.counts[e.Event.Kind()]++
	keep := c.keepAll
	switch ev := e.Event.(type) {
	case *NoticeDelivered:
		s := c.notice(ev.Notice)
		if k := hash64(ev.Notice + "\x00" + ev.Recipient); !c.told.Has(k) {
			c.told.Add(k)
			s.Told++
		}
		if s.First.IsZero() || ev.At.Before(s.First) {
			s.First = ev.At
		}
		if ev.At.After(s.Last) {
			s.Last = ev.At
		}
		keep = keep || (c.about != "" && ev.Recipient == c.about)
	case *NoticeFailed:
		c.notice(ev.Notice)
		c.failed[hash64(ev.Notice+"\x00"+ev.Recipient)] = ev.Notice
		keep = keep || (c.about != "" && ev.Recipient == c.about)
	case *LedgerSealed:
		c.seals = append(c.seals, e.Index)
		c.r.Seal = ev
		keep = true
	case *Approved, *Suspended, *Resumed, *Cancelled, *CutoffChanged, *DrainRestored, *RoutingSwitched, *SpecRecorded:
		keep = true // a handful in any ledger
	}
	if keep {
		c.r.Entries = append(c.r.Entries, e)
	}
}

func (c *checker) notice(id string) *NoticeSummary {
	if c.notices[id] == nil {
		c.notices[id] = &NoticeSummary{Notice: id}
	}
	return c.notices[id]
}

// finish checks what only the end of the statements shows.
func (c *checker) finish() {
	r, n := c.r, uint64(c.r.Statements)
	for _, t := range c.targets { // those beyond the last statement
		if t.pinned >= 0 {
			r.problem(fmt.Errorf("%w: pinned checkpoint %d is at size %d, the bundle holds %d statements: it was cut short", ErrPinned, t.pinned, t.size, n))
		} else {
			r.problem(fmt.Errorf("%w: checkpoint %d (size %d): the bundle holds %d statements", ErrRootMismatch, t.bundle, t.size, n))
		}
	}
	covered := uint64(0)
	if c.covered != nil {
		covered = c.covered.Size
	}
	if n > covered {
		r.problem(fmt.Errorf("%w: statements %d to %d, from statement %d (key %q)", ErrUncovered, covered, n-1, covered, c.keyAt[covered]))
	}
	for _, i := range c.seals {
		if i != r.Statements-1 {
			r.problem(fmt.Errorf("%w: the seal is statement %d of %d", ErrAfterSeal, i, r.Statements))
		}
	}
	r.counts = c.counts
	for k, id := range c.failed {
		if !c.told.Has(k) {
			c.notices[id].NeverTold++
		}
	}
	for _, id := range slices.Sorted(maps.Keys(c.notices)) {
		r.notices = append(r.notices, *c.notices[id])
	}
}

// checkSealed fails an open ledger unless allowed.
func (r *Report) checkSealed(allowOpen bool) {
	if r.Seal == nil && !allowOpen {
		r.problem(fmt.Errorf("%w: open at size %d: the ledger ends without its seal, so it was cut short or its withdrawal is still running (allow an open ledger to check it so far)", ErrNotSealed, r.Statements))
	}
}

// hash64 is 64 bits of a key's SHA-256: two of a million keys share one
// with odds of about 1 in 30 million. Such a pair would be reported as a
// duplicate that is not one (never hide one), or count a recipient told
// once short.
func hash64(s string) uint64 {
	sum := sha256.Sum256([]byte(s))
	return binary.BigEndian.Uint64(sum[:8])
}

func (r *Report) problem(err error) {
	if len(r.Problems) == MaxProblems {
		r.Omitted++
		return
	}
	r.Problems = append(r.Problems, err)
}

func (r *Report) fail(err error) error {
	r.problem(err)
	return r.err()
}

func (r *Report) err() error { return &VerifyError{Problems: r.Problems, Omitted: r.Omitted} }

// opened is a statement a worker checked: its leaf hash, and its entry or
// what is wrong with it.
type opened struct {
	hash  []byte
	entry Entry
	err   error
}

func openLeaf(leaf []byte, i int, v note.Verifier, origin string) opened {
	o := opened{hash: LeafHash(leaf)}
	st, err := OpenEnvelope(leaf, v)
	if err != nil {
		o.err = fmt.Errorf("statement %d: %w", i, err)
		return o
	}
	ev, err := st.Event()
	if err != nil {
		o.err = fmt.Errorf("%w: statement %d: %w", ErrStatement, i, err)
		return o
	}
	h := ev.header()
	o.entry = Entry{Index: i, Key: h.Key, Statement: st, Event: ev}
	switch {
	case Origin(h.Withdrawal) != origin:
		o.err = fmt.Errorf("%w: statement %d (key %s) is about %s, not this ledger", ErrStatement, i, h.Key, Origin(h.Withdrawal))
	case ev.EventKey() != h.Key:
		o.err = fmt.Errorf("%w: statement %d has key %s, its fields give %s", ErrStatement, i, h.Key, ev.EventKey())
	case !slices.EqualFunc(st.Subject, subjects(h.Withdrawal, ev.recipient()), func(a, b Subject) bool {
		return a.Name == b.Name && maps.Equal(a.Digest, b.Digest)
	}):
		o.err = fmt.Errorf("%w: statement %d (key %s): subjects do not match its predicate", ErrStatement, i, h.Key)
	}
	return o
}
