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

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
)

// Statements kept for later. A caller that did something it cannot undo
// (notices delivered) and then found the ledger refusing its statements
// keeps them here instead of doing the thing again: Keep stores them in
// ConfigMaps beside the ledger (named evidence-kept-..., so that only the
// operator may write them), and the next append of the withdrawal's
// ledger puts them in first, then deletes them.

// LabelKept marks a ConfigMap of statements kept for a later append:
// "true" until they are appended, then keptAppended.
const (
	LabelKept    = "withdrawal.ops.dev/evidence-kept"
	keptAppended = "appended"
)

// Keep stores leaves until the withdrawal's ledger takes them: its next
// append (AppendSealed, even of nothing) appends them before its own. It
// is idempotent: the same leaves are kept under the same names.
func (l *Ledger) Keep(ctx context.Context, rw *v1.RegionWithdrawal, leaves ...Sealed) error {
	if l == nil || len(leaves) == 0 {
		return nil
	}
	unlock := l.lock(rw.UID)
	defer unlock()
	kept, err := l.kept(ctx, rw)
	if err != nil {
		return err
	}
	for i, chunk := range l.chunk(leaves) {
		data, err := encode(chunk)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name: fmt.Sprintf("evidence-kept-%s-%s-%d", rw.UID, hex.EncodeToString(sum[:8]), i), Namespace: l.Namespace,
				Labels:      map[string]string{executor.LabelWithdrawalUID: string(rw.UID), LabelKept: "true"},
				Annotations: map[string]string{AnnotationWithdrawalNamespace: rw.Namespace, AnnotationWithdrawalName: rw.Name},
			},
			BinaryData: map[string][]byte{KeyLeaves: data},
		}
		if err := l.Client.Create(ctx, cm); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("keeping %d statements of %s/%s for later: %w", len(chunk), rw.Namespace, rw.Name, err)
		}
		kept.add(cm.Name, chunk)
	}
	return nil
}

// chunk splits leaves so that each ConfigMap stays under a shard's size.
func (l *Ledger) chunk(leaves []Sealed) [][]Sealed {
	var out [][]Sealed
	size := 0
	for _, lf := range leaves {
		if len(out) == 0 || size+len(lf.envelope) > l.ShardBytes {
			out, size = append(out, nil), 0
		}
		out[len(out)-1] = append(out[len(out)-1], lf)
		size += len(lf.envelope)
	}
	return out
}

// keptSet is what a withdrawal has kept: ConfigMap names and their leaves.
type keptSet struct {
	names  []string
	leaves []Sealed
}

func (k *keptSet) add(name string, leaves []Sealed) {
	if slices.Contains(k.names, name) {
		return
	}
	k.names = append(k.names, name)
	k.leaves = append(k.leaves, leaves...)
}

// kept returns what rw has kept, reading it once per process (Keep and
// the appends keep it current after that). The caller holds rw's lock.
// Only the operator writes these ConfigMaps (the chart's records policy),
// and every statement must open with the operator's key and be about rw,
// or the ledger refuses, as for a tampered shard.
func (l *Ledger) kept(ctx context.Context, rw *v1.RegionWithdrawal) (*keptSet, error) {
	l.mu.Lock()
	k := l.keptBy[rw.UID]
	l.mu.Unlock()
	if k != nil {
		return k, nil
	}
	var list corev1.ConfigMapList
	if err := l.Reader.List(ctx, &list, client.InNamespace(l.Namespace),
		client.MatchingLabels{executor.LabelWithdrawalUID: string(rw.UID), LabelKept: "true"}); err != nil {
		return nil, fmt.Errorf("reading the statements kept for %s/%s: %w", rw.Namespace, rw.Name, err)
	}
	k = &keptSet{}
	for i := range list.Items {
		cm := &list.Items[i]
		envs, err := Decode(cm)
		if err != nil {
			return nil, &TamperedError{Withdrawal: rw.Namespace + "/" + rw.Name, Problem: err.Error()}
		}
		leaves := make([]Sealed, 0, len(envs))
		for _, env := range envs {
			lf, err := l.reopen(rw, env)
			if err != nil {
				return nil, &TamperedError{Withdrawal: rw.Namespace + "/" + rw.Name, Problem: fmt.Sprintf("%s: %v", cm.Name, err)}
			}
			leaves = append(leaves, lf)
		}
		k.add(cm.Name, leaves)
	}
	l.mu.Lock()
	if l.keptBy == nil {
		l.keptBy = map[types.UID]*keptSet{}
	}
	l.keptBy[rw.UID] = k
	l.mu.Unlock()
	return k, nil
}

// reopen turns a stored envelope back into a leaf, if the operator's key
// signed it and it is about rw.
func (l *Ledger) reopen(rw *v1.RegionWithdrawal, env []byte) (Sealed, error) {
	st, err := evidence.OpenEnvelope(env, l.verifier)
	if err != nil {
		return Sealed{}, err
	}
	if !st.About(Withdrawal(rw)) {
		return Sealed{}, fmt.Errorf("a statement about another withdrawal (%v)", st.Subject)
	}
	ev, err := st.Event()
	if err != nil {
		return Sealed{}, err
	}
	return sealed(ev, env), nil
}

// dropKept empties what was kept once the ledger holds it, and marks it
// appended: the operator may not delete ConfigMaps in its namespace (the
// handoff endpoint's records live there too), so an emptied one stays, a
// few hundred bytes. One that cannot be emptied now is appended again next
// time (to no effect: the ledger holds its statements) and emptied then.
func (l *Ledger) dropKept(ctx context.Context, k *keptSet) error {
	var left []string
	var errs []error
	for _, name := range k.names {
		var cm corev1.ConfigMap
		err := l.Reader.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: name}, &cm)
		if err == nil {
			cm.Labels[LabelKept] = keptAppended
			cm.BinaryData = nil
			err = l.Client.Update(ctx, &cm)
		}
		if err != nil && !apierrors.IsNotFound(err) {
			left, errs = append(left, name), append(errs, err)
		}
	}
	if len(left) == 0 {
		k.names, k.leaves = nil, nil
		return nil
	}
	// The leaves stay too: appending them again costs a lookup each.
	k.names = left
	return fmt.Errorf("deleting statements kept and since appended: %v", errs)
}
