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

package handoff

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
)

// Withdrawal names the withdrawal a fetch belongs to.
type Withdrawal struct {
	UID             types.UID
	Namespace, Name string
}

// Recorder writes fetches to the records before the endpoint answers, so
// a fetch the customer was answered is never lost: a crash before the
// write leaves the customer without an answer, and they ask again.
//
// Fetches of one record that arrive while it is being written wait and
// go in its next write (group commit), so a burst of fetches costs about
// one write per record, not one per fetch. Every write is a read-merge-
// update on the record's resourceVersion: two replicas recording in the
// same record never overwrite each other.
type Recorder struct {
	Client client.Client
	// Namespace holds the records: the installation's own.
	Namespace string
	// Attempts bounds the tries of one write on conflicts; default 8.
	Attempts int
	// Every is how long after a customer's recorded fetch another fetch of
	// theirs is answered without being written: a download manager's
	// retries, or someone looping on a forwarded link, must not become a
	// write each. The first fetch is always recorded, and the last to
	// within Every. Zero records every fetch.
	Every time.Duration

	mu      sync.Mutex
	records map[string]*record
	// recent is when each customer's latest fetch was written, by this
	// process.
	recent map[string]time.Time
}

type record struct {
	w       Withdrawal
	name    string
	pending Fetches
	waiters []chan error
	writing bool
	// last is the record as last written, to skip the read before the
	// next write; nil after a conflict.
	last *corev1.ConfigMap
}

// Record records that customer fetched their archive at at, and returns
// once the record is written.
func (r *Recorder) Record(ctx context.Context, w Withdrawal, customer string, at time.Time) error {
	key, _ := CustomerKey(customer)
	return r.RecordKey(ctx, w, key, at)
}

// RecordKey is Record for the customer whose record key (CustomerKey) is
// key: what the link index holds.
func (r *Recorder) RecordKey(ctx context.Context, w Withdrawal, key string, at time.Time) error {
	shard, err := strconv.ParseUint(key[:min(2, len(key))], 16, 8)
	if err != nil || len(key) != 32 {
		return fmt.Errorf("%q is not a customer's record key", key)
	}
	name := RecordName(w.UID, int(shard))
	done := make(chan error, 1)
	r.mu.Lock()
	if last, ok := r.recent[name+"/"+key]; ok && r.Every > 0 && at.Sub(last) < r.Every {
		r.mu.Unlock()
		return nil
	}
	if r.records == nil {
		r.records = map[string]*record{}
	}
	rec := r.records[name]
	if rec == nil {
		rec = &record{w: w, name: name, pending: Fetches{}}
		r.records[name] = rec
	}
	rec.pending[key] = rec.pending[key].Merge(Fetch{First: at.UTC(), Last: at.UTC(), Count: 1})
	rec.waiters = append(rec.waiters, done)
	if !rec.writing {
		rec.writing = true
		// The writer outlives the request that started it: the fetches
		// it carries may belong to other requests.
		go r.drain(context.WithoutCancel(ctx), rec)
	}
	r.mu.Unlock()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// drain writes rec's pending fetches until none are left.
func (r *Recorder) drain(ctx context.Context, rec *record) {
	for {
		r.mu.Lock()
		if len(rec.pending) == 0 {
			rec.writing = false
			r.mu.Unlock()
			return
		}
		batch, waiters := rec.pending, rec.waiters
		rec.pending, rec.waiters = Fetches{}, nil
		r.mu.Unlock()

		err := r.write(ctx, rec, batch)
		if err == nil && r.Every > 0 {
			r.mu.Lock()
			if r.recent == nil {
				r.recent = map[string]time.Time{}
			}
			for k, f := range batch {
				r.recent[rec.name+"/"+k] = f.Last
			}
			r.mu.Unlock()
		}
		for _, w := range waiters {
			w <- err
		}
	}
}

// writeTimeout bounds one write of a record, conflicts and all.
const writeTimeout = 10 * time.Second

// write merges batch into the record, retrying on conflicts.
func (r *Recorder) write(ctx context.Context, rec *record, batch Fetches) error {
	attempts := r.Attempts
	if attempts <= 0 {
		attempts = 8
	}
	// A write that hangs must not hold the fetches behind it forever: the
	// customers waiting on it are answered 503 and ask again.
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	var err error
	for range attempts {
		if err = r.writeOnce(ctx, rec, batch); err == nil {
			return nil
		}
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
			break
		}
		rec.last = nil
	}
	rec.last = nil
	return fmt.Errorf("recording fetches in ConfigMap %s/%s: %w", r.Namespace, rec.name, err)
}

func (r *Recorder) writeOnce(ctx context.Context, rec *record, batch Fetches) error {
	cm := rec.last
	if cm == nil {
		cm = &corev1.ConfigMap{}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: rec.name}, cm)
		if apierrors.IsNotFound(err) {
			cm = r.newRecord(rec)
			if err := fill(cm, batch); err != nil {
				return err
			}
			if err := r.Client.Create(ctx, cm); err != nil {
				return err
			}
			rec.last = cm
			return nil
		}
		if err != nil {
			return err
		}
	}
	next := cm.DeepCopy()
	if err := fill(next, batch); err != nil {
		return err
	}
	if err := r.Client.Update(ctx, next); err != nil {
		return err
	}
	rec.last = next
	return nil
}

func (r *Recorder) newRecord(rec *record) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: r.Namespace, Name: rec.name,
			Labels: map[string]string{LabelRecord: RecordFetches, executor.LabelWithdrawalUID: string(rec.w.UID)},
			Annotations: map[string]string{
				AnnotationWithdrawalNamespace: rec.w.Namespace,
				AnnotationWithdrawalName:      rec.w.Name,
			},
		},
	}
}

// fill merges batch into cm's data.
func fill(cm *corev1.ConfigMap, batch Fetches) error {
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	for k, f := range batch {
		if v, ok := cm.Data[k]; ok {
			var old Fetch
			if err := json.Unmarshal([]byte(v), &old); err == nil {
				f = old.Merge(f)
			}
		}
		b, err := json.Marshal(f)
		if err != nil {
			return err
		}
		cm.Data[k] = string(b)
	}
	return nil
}
