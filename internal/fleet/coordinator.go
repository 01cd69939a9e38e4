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

// Package fleet reads, for a fleet member, what the coordinator's copy of
// a withdrawal has done that the member must wait for: its export.
package fleet

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// Coordinator reads the coordinator's copies from its cluster, with a
// client whose credentials may only read RegionWithdrawals there (the
// installation's --fleet-coordinator-kubeconfig). A reconcile never waits
// for it: Export answers from what the last read found, and starts a new
// read in the background when that is older than MaxAge, so a slow or
// unreachable coordinator cannot delay a member's routing switch.
type Coordinator struct {
	Reader client.Reader
	// Name names the coordinator's cluster in messages.
	Name  string
	Clock clock.PassiveClock
	// MaxAge is how old an answer may be before it is read again;
	// default 10s.
	MaxAge time.Duration

	mu   sync.Mutex
	read map[string]*reading
}

// reading is the last answer for one withdrawal ID.
type reading struct {
	state    v1.CoordinatorExportState
	message  string
	at       time.Time
	inFlight bool
}

// readTimeout bounds one read.
const readTimeout = 5 * time.Second

// Export says what is known of the coordinator's export of rw's copy (the
// withdrawal in the same namespace with the same ID), and when it was
// read: nil before the first read has come back.
func (c *Coordinator) Export(rw *v1.RegionWithdrawal) (v1.CoordinatorExportState, string, *time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.read == nil {
		c.read = map[string]*reading{}
	}
	id := rw.ID()
	r := c.read[id]
	if r == nil {
		r = &reading{state: v1.CoordinatorExportUnknown, message: fmt.Sprintf("reading the coordinator's copy of %s on %s", id, c.Name)}
		c.read[id] = r
	}
	maxAge := c.MaxAge
	if maxAge <= 0 {
		maxAge = 10 * time.Second
	}
	if !r.inFlight && (r.at.IsZero() || c.Clock.Since(r.at) >= maxAge) {
		r.inFlight = true
		ns := rw.Namespace
		go func() {
			state, msg := c.lookup(ns, id)
			c.mu.Lock()
			defer c.mu.Unlock()
			r.state, r.message, r.at, r.inFlight = state, msg, c.Clock.Now(), false
		}()
	}
	if r.at.IsZero() {
		return r.state, r.message, nil
	}
	at := r.at
	return r.state, r.message, &at
}

// lookup reads the coordinator's copy of withdrawal id in namespace ns.
// Only the coordinator's operator writes that status (the chart's records
// policy), so the member trusts it as far as it trusts that cluster's API
// server.
func (c *Coordinator) lookup(ns, id string) (v1.CoordinatorExportState, string) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	var list v1.RegionWithdrawalList
	if err := c.Reader.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return v1.CoordinatorExportUnknown, fmt.Sprintf("reading the coordinator's withdrawals in %s on %s: %v", ns, c.Name, err)
	}
	// The copy that holds the ID there: planned (a copy refused for an
	// ID another holds never plans a step), not a member, the oldest.
	var copy *v1.RegionWithdrawal
	for i := range list.Items {
		o := &list.Items[i]
		if o.ID() != id || !o.DeletionTimestamp.IsZero() || len(o.Status.Steps) == 0 ||
			(o.Status.Fleet != nil && o.Status.Fleet.Role == v1.FleetMember) {
			continue
		}
		if copy == nil || o.HoldsIDBefore(copy) {
			copy = o
		}
	}
	if copy == nil {
		return v1.CoordinatorExportPending, fmt.Sprintf("the coordinator (%s) has no withdrawal %s", c.Name, id)
	}
	for _, s := range copy.Status.Steps {
		if s.Name != v1.StepExport {
			continue
		}
		if s.State == v1.StepSucceeded && !s.DryRun {
			verified := int32(0)
			if s.Export != nil {
				verified = s.Export.Verified
			}
			return v1.CoordinatorExportVerified, fmt.Sprintf("the coordinator's (%s) export of %s is verified (%d artifacts)", c.Name, copy.Name, verified)
		}
		return v1.CoordinatorExportPending, fmt.Sprintf("the coordinator's (%s) export of %s is %s", c.Name, copy.Name, s.State)
	}
	return v1.CoordinatorExportPending, fmt.Sprintf("the coordinator's (%s) copy %s has not begun its export", c.Name, copy.Name)
}
