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
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/ops-dev/region-withdrawal-operator/internal/hashset"
)

// FleetBundleFormat identifies the fleet bundle WriteFleetBundle and
// FleetBundleWriter write: a gzip stream of JSON lines, the first the
// fleet's head (FleetHead: the withdrawal's ID and, per cluster, its name,
// role and number of ledgers), then every ledger of every cluster in that
// order, each as a bundle in BundleFormat is inside its gzip: its head
// line, then its statements, a line each. It is read a statement at a
// time (VerifyFleetReader), so its size is not bounded by memory.
const FleetBundleFormat = "withdrawal.ops.dev/evidence-fleet-bundle/v2"

// FleetBundleFormatV1 is the first fleet format, one JSON document holding
// bundles of the first format, which earlier releases wrote. It is still
// read, whole, at most MaxBundleBytes.
const FleetBundleFormatV1 = "withdrawal.ops.dev/evidence-fleet-bundle/v1"

// A FleetBundle gathers the ledgers of one withdrawal (one ID) across the
// clusters of a fleet: per cluster, the ledger of every object that
// carried the ID there (a withdrawal deleted and created again leaves two),
// each a Bundle as `evidence export` writes it. It is a fleet bundle held
// in memory; `fleet evidence export` streams one with FleetBundleWriter.
type FleetBundle struct {
	Format string `json:"format"`
	// ID is the withdrawal's ID, namespace/withdrawalID.
	ID       string         `json:"id"`
	Clusters []FleetCluster `json:"clusters"`
}

// FleetCluster is one cluster's part of a fleet bundle.
type FleetCluster struct {
	// Cluster names the cluster: the kubeconfig context it was read in.
	Cluster string `json:"cluster"`
	// Role is the role its copy acted in, as its status said; what the
	// ledgers hold is checked, not this.
	Role string `json:"role,omitempty"`
	// Ledgers are its objects' ledgers, oldest first.
	Ledgers []*Bundle `json:"ledgers"`
}

// FleetHead is a fleet bundle without its ledgers, which it counts: the
// first line of one in FleetBundleFormat.
type FleetHead struct {
	Format   string             `json:"format"`
	ID       string             `json:"id"`
	Clusters []FleetClusterHead `json:"clusters"`
}

// FleetClusterHead is one cluster's part of the head: its ledgers follow,
// in the order of the clusters.
type FleetClusterHead struct {
	Cluster string `json:"cluster"`
	Role    string `json:"role,omitempty"`
	Ledgers int    `json:"ledgers"`
}

// Head is fb's head.
func (fb *FleetBundle) Head() *FleetHead {
	h := &FleetHead{Format: fb.Format, ID: fb.ID, Clusters: make([]FleetClusterHead, 0, len(fb.Clusters))}
	for _, c := range fb.Clusters {
		h.Clusters = append(h.Clusters, FleetClusterHead{Cluster: c.Cluster, Role: c.Role, Ledgers: len(c.Ledgers)})
	}
	return h
}

// WriteFleetBundle writes fb in FleetBundleFormat.
func WriteFleetBundle(w io.Writer, fb *FleetBundle) error {
	fw, err := NewFleetBundleWriter(w, fb.Head())
	if err != nil {
		return err
	}
	for _, c := range fb.Clusters {
		for _, b := range c.Ledgers {
			bw, err := fw.Ledger(b.Head())
			if err != nil {
				return err
			}
			for _, leaf := range b.Statements {
				if err := bw.Write(leaf); err != nil {
					return err
				}
			}
			if err := bw.Close(); err != nil {
				return err
			}
		}
	}
	return fw.Close()
}

// FleetBundleWriter writes a fleet bundle in FleetBundleFormat a statement
// at a time.
type FleetBundleWriter struct {
	zw       *gzip.Writer
	bw       *bufio.Writer
	expected int // ledgers, in all
	written  int
	open     *BundleWriter
}

// NewFleetBundleWriter writes the head; the ledgers it counts must follow,
// in the order of its clusters.
func NewFleetBundleWriter(w io.Writer, h *FleetHead) (*FleetBundleWriter, error) {
	head := *h
	head.Format = FleetBundleFormat
	hb, err := json.Marshal(head)
	if err != nil {
		return nil, fmt.Errorf("encoding fleet bundle: %w", err)
	}
	fw := &FleetBundleWriter{zw: gzip.NewWriter(w)}
	for _, c := range h.Clusters {
		fw.expected += c.Ledgers
	}
	fw.bw = bufio.NewWriterSize(fw.zw, 64<<10)
	_, _ = fw.bw.Write(append(hb, '\n'))
	return fw, nil
}

// Ledger starts the next ledger with its head; its statements are written
// to the BundleWriter returned, and it is closed before the next ledger.
func (w *FleetBundleWriter) Ledger(h *BundleHead) (*BundleWriter, error) {
	if err := w.closed(); err != nil {
		return nil, err
	}
	if w.written == w.expected {
		return nil, fmt.Errorf("encoding fleet bundle: more ledgers than the %d its head counts", w.expected)
	}
	bw, err := writeBundleHead(w.bw, h)
	if err != nil {
		return nil, err
	}
	w.written++
	w.open = bw
	return bw, nil
}

// closed checks that the ledger written last is complete.
func (w *FleetBundleWriter) closed() error {
	if w.open != nil && w.open.written != w.open.expected {
		return fmt.Errorf("encoding fleet bundle: ledger %d holds %d statements, its head says %d", w.written-1, w.open.written, w.open.expected)
	}
	return nil
}

// Close flushes the fleet bundle, which must hold every ledger its head
// counts.
func (w *FleetBundleWriter) Close() error {
	if err := w.closed(); err != nil {
		return err
	}
	if w.written != w.expected {
		return fmt.Errorf("encoding fleet bundle: %d ledgers written, its head counts %d", w.written, w.expected)
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("writing fleet bundle: %w", err)
	}
	if err := w.zw.Close(); err != nil {
		return fmt.Errorf("writing fleet bundle: %w", err)
	}
	return nil
}

// ReadFleetBundle reads a whole fleet bundle, of either format, into
// memory: at most MaxBundleBytes of it (uncompressed). VerifyFleetReader
// checks one of any size without holding it.
func ReadFleetBundle(r io.Reader) (*FleetBundle, error) {
	in := bufio.NewReaderSize(r, 64<<10)
	if !gzipped(in) {
		return readFleetBundleV1(in)
	}
	l, err := openLines(in, MaxBundleBytes)
	if err != nil {
		return nil, err
	}
	h, err := readFleetHead(l)
	if err != nil {
		return nil, err
	}
	fb := &FleetBundle{Format: h.Format, ID: h.ID}
	for _, ch := range h.Clusters {
		c := FleetCluster{Cluster: ch.Cluster, Role: ch.Role}
		for range ch.Ledgers {
			br, err := l.bundle()
			if err != nil {
				return nil, fmt.Errorf("cluster %s: %w", ch.Cluster, err)
			}
			b, err := br.readAll()
			if err != nil {
				return nil, fmt.Errorf("cluster %s: %w", ch.Cluster, err)
			}
			c.Ledgers = append(c.Ledgers, b)
		}
		fb.Clusters = append(fb.Clusters, c)
	}
	if err := l.end(); err != nil {
		return nil, err
	}
	return fb, nil
}

// gzipped says whether in starts a gzip stream: a bundle in the current
// formats, not the first.
func gzipped(in *bufio.Reader) bool {
	magic, _ := in.Peek(2)
	return len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b
}

// readFleetHead reads a fleet bundle's first line.
func readFleetHead(l *lineReader) (*FleetHead, error) {
	h, err := readHead(l, "fleet bundle", func(h *FleetHead) string { return h.Format }, FleetBundleFormat)
	if err != nil {
		return nil, err
	}
	for _, c := range h.Clusters {
		if c.Ledgers < 0 {
			return nil, fmt.Errorf("%w: fleet bundle head: cluster %s has %d ledgers", ErrMalformed, c.Cluster, c.Ledgers)
		}
	}
	return h, nil
}

// end checks that nothing follows the last ledger.
func (l *lineReader) end() error {
	if _, err := l.line(MaxEnvelopeBytes); !errors.Is(err, io.EOF) {
		if err == nil {
			err = fmt.Errorf("%w: more than the ledgers its head counts", ErrMalformed)
		}
		return err
	}
	return nil
}

func readFleetBundleV1(r io.Reader) (*FleetBundle, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBundleBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxBundleBytes {
		return nil, fmt.Errorf("%w: a fleet bundle larger than %d bytes", ErrMalformed, MaxBundleBytes)
	}
	var fb FleetBundle
	if err := json.Unmarshal(data, &fb); err != nil {
		return nil, fmt.Errorf("%w: fleet bundle: %w", ErrMalformed, err)
	}
	if fb.Format != FleetBundleFormatV1 {
		return nil, fmt.Errorf("%w: fleet bundle format %q, want %q or %q", ErrMalformed, fb.Format, FleetBundleFormat, FleetBundleFormatV1)
	}
	return &fb, nil
}

// FleetVerifyOptions say what a fleet bundle must prove.
type FleetVerifyOptions struct {
	// Keys pins each cluster's operator key, by cluster name. It is also
	// the fleet: a cluster named here whose ledgers the bundle lacks fails,
	// as does a cluster in the bundle not named here.
	Keys map[string]string
	// Tolerance is how long after the cutoff a cluster may cut its routes.
	Tolerance time.Duration
	// AllowOpen accepts ledgers without their seal, and clusters that have
	// not cut yet: a withdrawal still running.
	AllowOpen bool
	// ID pins the withdrawal (namespace/withdrawalID): the bundle, and
	// every statement in it, must be about it. Required: a bundle of
	// another withdrawal, signed by the same clusters, is as
	// self-consistent as this one's.
	ID string
}

// FleetReport is what VerifyFleet established.
type FleetReport struct {
	ID       string
	Clusters []ClusterReport
	// Told counts, per notice, the customers told across the fleet.
	Told map[string]int
	// Problems are the first MaxProblems found; Omitted counts the rest.
	Problems []error
	Omitted  int
	// complete says every ledger the head counts was read.
	complete bool
}

// ClusterReport is one cluster's part.
type ClusterReport struct {
	Cluster, Role string
	Ledgers       []*Report
	// CutAt is when its routes were switched, and Cutoff the cutoff then
	// in effect; zero when it has not cut.
	CutAt, Cutoff time.Time
	// Notified is how many notice statements its ledgers hold.
	Notified int
}

// VerifyFleet checks a fleet bundle held in memory as a whole: every
// cluster of the fleet is there and each of its ledgers verifies under its
// own pinned key (see Verify); every statement is about the bundle's
// withdrawal; every cluster cut its routes no later than the cutoff plus
// the tolerance; only one cluster notified customers, and none was told a
// notice twice: under two keys, or by two of the cluster's objects. The
// report is non-nil.
func VerifyFleet(fb *FleetBundle, opts FleetVerifyOptions) (*FleetReport, error) {
	var ledgers []*Bundle
	for _, c := range fb.Clusters {
		ledgers = append(ledgers, c.Ledgers...)
	}
	next := func() (*bundleReader, error) {
		b := ledgers[0]
		ledgers = ledgers[1:]
		return readerOf(b), nil
	}
	return verifyFleet(fb.Head(), next, opts)
}

// VerifyFleetReader checks a fleet bundle of either format as VerifyFleet
// does. One in FleetBundleFormat is read as it is checked: memory holds
// what VerifyReader holds for the ledger being checked, and about 16 bytes
// for each customer told by the cluster being checked. One in the first
// format is read whole, at most MaxBundleBytes.
func VerifyFleetReader(r io.Reader, opts FleetVerifyOptions) (*FleetReport, error) {
	in := bufio.NewReaderSize(r, 64<<10)
	failed := func(err error) (*FleetReport, error) {
		rep := &FleetReport{Told: map[string]int{}}
		rep.problem(err)
		return rep, rep.err()
	}
	if !gzipped(in) {
		fb, err := readFleetBundleV1(in)
		if err != nil {
			return failed(err)
		}
		return VerifyFleet(fb, opts)
	}
	l, err := openLines(in, math.MaxInt64)
	if err != nil {
		return failed(err)
	}
	h, err := readFleetHead(l)
	if err != nil {
		return failed(err)
	}
	rep, verr := verifyFleet(h, l.bundle, opts)
	if rep.complete {
		if err := l.end(); err != nil {
			rep.problem(err)
			return rep, rep.err()
		}
	}
	return rep, verr
}

// verifyFleet checks the fleet bundle whose head is h; next yields its
// ledgers in order, as many as h counts, each read to its end (io.EOF)
// before the next is asked for.
func verifyFleet(h *FleetHead, next func() (*bundleReader, error), opts FleetVerifyOptions) (*FleetReport, error) {
	r := &FleetReport{ID: h.ID, Told: map[string]int{}}
	if h.Format != FleetBundleFormat && h.Format != FleetBundleFormatV1 {
		r.problem(fmt.Errorf("%w: fleet bundle format %q, want %q", ErrMalformed, h.Format, FleetBundleFormat))
		return r, r.err()
	}
	if len(opts.Keys) == 0 {
		r.problem(fmt.Errorf("%w: pin each cluster's operator key; a bundle's own keys prove nothing", ErrKeyRequired))
		return r, r.err()
	}
	if opts.ID == "" || h.ID != opts.ID {
		r.problem(fmt.Errorf("%w: the bundle is of withdrawal %q; pin the withdrawal you mean to check (%q)", ErrWrongLedger, h.ID, opts.ID))
		return r, r.err()
	}
	seen := map[string]bool{}
	for _, c := range h.Clusters {
		key, pinned := opts.Keys[c.Cluster]
		var cc *clusterCheck
		switch {
		case seen[c.Cluster]:
			r.problem(fmt.Errorf("%w: cluster %s appears twice", ErrMalformed, c.Cluster))
		case !pinned:
			r.problem(fmt.Errorf("%w: the bundle holds cluster %s, which is not in the fleet pinned (no key for it)", ErrKeyRequired, c.Cluster))
		default:
			cc = &clusterCheck{r: r, id: h.ID, cr: ClusterReport{Cluster: c.Cluster, Role: c.Role}}
		}
		seen[c.Cluster] = true
		for i := range c.Ledgers {
			br, err := next()
			if err != nil {
				// The stream is broken: nothing after it can be read.
				r.problem(fmt.Errorf("cluster %s, ledger %d: %w", c.Cluster, i, err))
				return r, r.err()
			}
			if cc != nil {
				// Only the last object may still run: an earlier one was
				// deleted, and its deletion sealed its ledger.
				cc.ledger(br, key, opts.AllowOpen && i == c.Ledgers-1)
			}
			// What the check did not read (it stops at a bundle it cannot
			// check, and a cluster not checked is not read at all).
			for {
				if _, err := br.next(); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					r.problem(fmt.Errorf("cluster %s, ledger %d: %w", c.Cluster, i, err))
					return r, r.err()
				}
			}
		}
		if cc != nil {
			r.Clusters = append(r.Clusters, cc.finish(c.Ledgers, opts))
		}
	}
	r.complete = true
	for _, name := range slices.Sorted(maps.Keys(opts.Keys)) {
		if !seen[name] {
			r.problem(fmt.Errorf("%w: cluster %s of the fleet has no ledger in the bundle", ErrLedgerMissing, name))
		}
	}
	var notifying []string
	for _, c := range r.Clusters {
		if c.Notified > 0 {
			notifying = append(notifying, c.Cluster)
		}
	}
	// One cutoff for the fleet: a cluster that cut on time for a cutoff
	// of its own did not cut on time.
	cutoffs := map[time.Time][]string{}
	for _, c := range r.Clusters {
		if !c.Cutoff.IsZero() {
			cutoffs[c.Cutoff.UTC()] = append(cutoffs[c.Cutoff.UTC()], c.Cluster)
		}
	}
	if len(cutoffs) > 1 {
		var parts []string
		for _, t := range slices.SortedFunc(maps.Keys(cutoffs), time.Time.Compare) {
			parts = append(parts, fmt.Sprintf("%s (%s)", t.Format(time.RFC3339), strings.Join(cutoffs[t], ", ")))
		}
		r.problem(fmt.Errorf("%w: the clusters cut for different cutoffs: %s", ErrCutLate, strings.Join(parts, "; ")))
	}
	if len(notifying) > 1 {
		r.problem(fmt.Errorf("%w: clusters %s all notified customers; one coordinator notifies for the fleet", ErrNotifiedTwice, strings.Join(notifying, ", ")))
	}
	if len(r.Problems) > 0 {
		return r, r.err()
	}
	return r, nil
}

// ErrLedgerMissing, ErrNotifiedTwice and ErrCutLate are the fleet's
// problems beyond a ledger's own.
var (
	ErrLedgerMissing = errors.New("ledger missing")
	ErrNotifiedTwice = errors.New("notified twice")
	ErrCutLate       = errors.New("cut late")
)

func (r *FleetReport) problem(err error) {
	if len(r.Problems) == MaxProblems {
		r.Omitted++
		return
	}
	r.Problems = append(r.Problems, err)
}

func (r *FleetReport) err() error { return &VerifyError{Problems: r.Problems, Omitted: r.Omitted} }

// clusterCheck is the check of one cluster's ledgers, as they are read.
type clusterCheck struct {
	r  *FleetReport
	id string
	cr ClusterReport
	// told maps each (notice, recipient, channel) told, across the
	// cluster's objects, which share a salt, to the key it was told
	// under: 64 bits of each (hash64).
	told hashset.Map[uint64]
}

// ledger checks one of the cluster's ledgers, and every statement in it.
func (cc *clusterCheck) ledger(br *bundleReader, key string, allowOpen bool) {
	c, origin := cc.cr.Cluster, br.head.Origin
	var wrongID int
	each := func(e Entry) {
		// Statements of an earlier release name no ID: such a ledger
		// could be any withdrawal's, so it cannot be checked as part of
		// a fleet.
		if got := e.Event.header().Withdrawal.ID; got != cc.id {
			if wrongID++; wrongID == 1 {
				cc.r.problem(fmt.Errorf("%w: cluster %s, ledger %s, statement %d is about withdrawal %q, not %s", ErrWrongLedger, c, origin, e.Index, got, cc.id))
			}
		}
		switch ev := e.Event.(type) {
		case *NoticeDelivered:
			cc.cr.Notified++
			k, told := hash64(ev.Notice+"\x00"+ev.Recipient+"\x00"+ev.Channel), hash64(ev.IdempotencyKey)
			if prev, ok := cc.told.Get(k); ok {
				under := "another key"
				if prev == told {
					under = "the same key"
				}
				cc.r.problem(fmt.Errorf("%w: cluster %s: recipient %s was told %s over %s again (key %s, statement %d of ledger %s; before under %s)", ErrNotifiedTwice, c, short(ev.Recipient), ev.Notice, ev.Channel, short(ev.IdempotencyKey), e.Index, origin, under))
				return
			}
			cc.told.Put(k, told)
			cc.r.Told[ev.Notice]++
		case *NoticeFailed:
			cc.cr.Notified++
		case *RoutingSwitched:
			cc.cr.CutAt, cc.cr.Cutoff = ev.At, ev.Cutoff
			switch {
			case ev.SwitchedAt.IsZero():
			case !ev.SwitchedAt.Before(ev.At.Truncate(time.Second).Add(time.Second)):
				// The routes were switched before the step finished (At,
				// to the second): a later switch time is not the cut.
				cc.r.problem(fmt.Errorf("%w: cluster %s says its routes were switched at %s, after the step finished (%s)", ErrCutLate, c,
					ev.SwitchedAt.UTC().Format(time.RFC3339Nano), ev.At.UTC().Format(time.RFC3339)))
			default:
				cc.cr.CutAt = ev.SwitchedAt // to the microsecond
			}
		}
	}
	rep, err := check(br.head, br.next, VerifyOptions{Key: key, AllowOpen: allowOpen, each: each}, false)
	cc.cr.Ledgers = append(cc.cr.Ledgers, rep)
	if wrongID > 1 {
		cc.r.problem(fmt.Errorf("%w: cluster %s, ledger %s: %d statements in all are not about withdrawal %s", ErrWrongLedger, c, origin, wrongID, cc.id))
	}
	if err != nil {
		for _, p := range rep.Problems {
			cc.r.problem(fmt.Errorf("cluster %s, ledger %s: %w", c, origin, p))
		}
		cc.r.Omitted += rep.Omitted
	}
}

// finish checks what the cluster's ledgers say as a whole.
func (cc *clusterCheck) finish(ledgers int, opts FleetVerifyOptions) ClusterReport {
	cr := cc.cr
	switch {
	case ledgers == 0:
		cc.r.problem(fmt.Errorf("%w: cluster %s: no ledger", ErrLedgerMissing, cr.Cluster))
	case cr.CutAt.IsZero() && !opts.AllowOpen:
		cc.r.problem(fmt.Errorf("%w: cluster %s never cut its routes", ErrCutLate, cr.Cluster))
	case !cr.CutAt.IsZero() && cr.CutAt.After(cr.Cutoff.Add(opts.Tolerance)):
		cc.r.problem(fmt.Errorf("%w: cluster %s cut its routes at %s, %s after the cutoff %s (tolerance %s)", ErrCutLate, cr.Cluster,
			cr.CutAt.UTC().Format(time.RFC3339Nano), cr.CutAt.Sub(cr.Cutoff).Round(time.Millisecond), cr.Cutoff.UTC().Format(time.RFC3339), opts.Tolerance))
	}
	return cr
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// WriteText writes the report for people: one line per cluster, the
// spread of the cut times, the customers told per notice, the problems.
func (r *FleetReport) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "withdrawal %s across %d clusters\n", r.ID, len(r.Clusters))
	var cuts []time.Time
	for _, c := range r.Clusters {
		statements, sealed := 0, 0
		for _, l := range c.Ledgers {
			statements += l.Statements
			if l.Seal != nil {
				sealed++
			}
		}
		cut := "not cut"
		if !c.CutAt.IsZero() {
			cuts = append(cuts, c.CutAt)
			cut = fmt.Sprintf("cut at %s (%s after the cutoff)", c.CutAt.UTC().Format("2006-01-02T15:04:05.000Z07:00"), c.CutAt.Sub(c.Cutoff).Round(time.Millisecond))
		}
		fmt.Fprintf(&b, "  %s (%s): %d ledgers (%d sealed), %d statements, %d notice statements, %s\n",
			c.Cluster, cmpOr(c.Role, "role not given"), len(c.Ledgers), sealed, statements, c.Notified, cut)
	}
	if len(cuts) > 0 {
		slices.SortFunc(cuts, time.Time.Compare)
		fmt.Fprintf(&b, "%d clusters cut; spread %s\n", len(cuts), cuts[len(cuts)-1].Sub(cuts[0]).Round(time.Millisecond))
	}
	for _, n := range slices.Sorted(maps.Keys(r.Told)) {
		fmt.Fprintf(&b, "notice %s: %d customers told once across the fleet\n", n, r.Told[n])
	}
	if len(r.Problems) == 0 {
		b.WriteString("every cluster's ledgers verify; one cluster notified; no customer told twice\n")
	} else {
		fmt.Fprintf(&b, "FAILED: %d problems\n", len(r.Problems)+r.Omitted)
		for _, p := range r.Problems[:min(len(r.Problems), 10)] {
			fmt.Fprintf(&b, "  %v\n", p)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
