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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// FleetBundleFormat identifies a fleet bundle of this version.
const FleetBundleFormat = "withdrawal.ops.dev/evidence-fleet-bundle/v1"

// A FleetBundle gathers the ledgers of one withdrawal (one ID) across the
// clusters of a fleet: per cluster, the ledger of every object that
// carried the ID there (a withdrawal deleted and created again leaves two),
// each a Bundle as `evidence export` writes it.
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

// WriteFleetBundle writes fb as JSON.
func WriteFleetBundle(w io.Writer, fb *FleetBundle) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(fb)
}

// ReadFleetBundle reads a fleet bundle, at most MaxBundleBytes.
func ReadFleetBundle(r io.Reader) (*FleetBundle, error) {
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
	if fb.Format != FleetBundleFormat {
		return nil, fmt.Errorf("%w: fleet bundle format %q, want %q", ErrMalformed, fb.Format, FleetBundleFormat)
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
	Told     map[string]int
	Problems []error
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

// VerifyFleet checks a fleet bundle as a whole: every cluster of the fleet
// is there and each of its ledgers verifies under its own pinned key (see
// Verify); every statement is about the bundle's withdrawal; every
// cluster cut its routes no later than the cutoff plus the tolerance; only
// one cluster notified customers, and none was told a notice twice: under
// two keys, or by two of the cluster's objects. The report is non-nil.
func VerifyFleet(fb *FleetBundle, opts FleetVerifyOptions) (*FleetReport, error) {
	r := &FleetReport{ID: fb.ID, Told: map[string]int{}}
	if fb.Format != FleetBundleFormat {
		r.Problems = append(r.Problems, fmt.Errorf("%w: fleet bundle format %q, want %q", ErrMalformed, fb.Format, FleetBundleFormat))
		return r, &VerifyError{Problems: r.Problems}
	}
	if len(opts.Keys) == 0 {
		r.Problems = append(r.Problems, fmt.Errorf("%w: pin each cluster's operator key; a bundle's own keys prove nothing", ErrKeyRequired))
		return r, &VerifyError{Problems: r.Problems}
	}
	if opts.ID == "" || fb.ID != opts.ID {
		r.Problems = append(r.Problems, fmt.Errorf("%w: the bundle is of withdrawal %q; pin the withdrawal you mean to check (%q)", ErrWrongLedger, fb.ID, opts.ID))
		return r, &VerifyError{Problems: r.Problems}
	}
	seen := map[string]bool{}
	for _, c := range fb.Clusters {
		if seen[c.Cluster] {
			r.problem(fmt.Errorf("%w: cluster %s appears twice", ErrMalformed, c.Cluster))
			continue
		}
		seen[c.Cluster] = true
		key, pinned := opts.Keys[c.Cluster]
		if !pinned {
			r.problem(fmt.Errorf("%w: the bundle holds cluster %s, which is not in the fleet pinned (no key for it)", ErrKeyRequired, c.Cluster))
			continue
		}
		r.Clusters = append(r.Clusters, r.cluster(fb.ID, c, key, opts))
	}
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
		return r, &VerifyError{Problems: r.Problems}
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

func (r *FleetReport) problem(err error) { r.Problems = append(r.Problems, err) }

// cluster verifies one cluster's ledgers.
func (r *FleetReport) cluster(id string, c FleetCluster, key string, opts FleetVerifyOptions) ClusterReport {
	cr := ClusterReport{Cluster: c.Cluster, Role: c.Role}
	if len(c.Ledgers) == 0 {
		r.problem(fmt.Errorf("%w: cluster %s: no ledger", ErrLedgerMissing, c.Cluster))
		return cr
	}
	// (notice, recipient, channel) → the key it was told under, across
	// the cluster's objects, which share a salt.
	told := map[[3]string]string{}
	for i, b := range c.Ledgers {
		// Only the last object may still run: an earlier one was deleted,
		// and its deletion sealed its ledger.
		rep, err := Verify(b, VerifyOptions{Key: key, AllowOpen: opts.AllowOpen && i == len(c.Ledgers)-1})
		cr.Ledgers = append(cr.Ledgers, rep)
		if err != nil {
			for _, p := range rep.Problems {
				r.problem(fmt.Errorf("cluster %s, ledger %s: %w", c.Cluster, b.Origin, p))
			}
			continue
		}
		for _, e := range rep.Entries {
			// Statements of an earlier release name no ID: such a ledger
			// could be any withdrawal's, so it cannot be checked as part
			// of a fleet.
			if got := e.Event.header().Withdrawal.ID; got != id {
				r.problem(fmt.Errorf("%w: cluster %s, ledger %s, statement %d is about withdrawal %q, not %s", ErrWrongLedger, c.Cluster, b.Origin, e.Index, got, id))
			}
			switch ev := e.Event.(type) {
			case *NoticeDelivered:
				cr.Notified++
				k := [3]string{ev.Notice, ev.Recipient, ev.Channel}
				if prev, ok := told[k]; ok {
					r.problem(fmt.Errorf("%w: cluster %s: recipient %s was told %s over %s again (key %s, before %s)", ErrNotifiedTwice, c.Cluster, short(ev.Recipient), ev.Notice, ev.Channel, short(ev.IdempotencyKey), short(prev)))
					continue
				}
				told[k] = ev.IdempotencyKey
				r.Told[ev.Notice]++
			case *NoticeFailed:
				cr.Notified++
			case *RoutingSwitched:
				cr.CutAt, cr.Cutoff = ev.At, ev.Cutoff
				switch {
				case ev.SwitchedAt.IsZero():
				case !ev.SwitchedAt.Before(ev.At.Truncate(time.Second).Add(time.Second)):
					// The routes were switched before the step finished (At,
					// to the second): a later switch time is not the cut.
					r.problem(fmt.Errorf("%w: cluster %s says its routes were switched at %s, after the step finished (%s)", ErrCutLate, c.Cluster,
						ev.SwitchedAt.UTC().Format(time.RFC3339Nano), ev.At.UTC().Format(time.RFC3339)))
				default:
					cr.CutAt = ev.SwitchedAt // to the microsecond
				}
			}
		}
	}
	switch {
	case cr.CutAt.IsZero() && !opts.AllowOpen:
		r.problem(fmt.Errorf("%w: cluster %s never cut its routes", ErrCutLate, c.Cluster))
	case !cr.CutAt.IsZero() && cr.CutAt.After(cr.Cutoff.Add(opts.Tolerance)):
		r.problem(fmt.Errorf("%w: cluster %s cut its routes at %s, %s after the cutoff %s (tolerance %s)", ErrCutLate, c.Cluster,
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
		fmt.Fprintf(&b, "FAILED: %d problems\n", len(r.Problems))
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
