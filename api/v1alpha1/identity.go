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

package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"

	"k8s.io/apimachinery/pkg/types"
)

// ID is the withdrawal's identity as people read it: namespace/withdrawalID,
// where withdrawalID defaults to the object's name. Copies of a
// withdrawal on several clusters, and a withdrawal created again after its
// deletion, share it.
func (rw *RegionWithdrawal) ID() string {
	id := rw.Spec.WithdrawalID
	if id == "" {
		id = rw.Name
	}
	return rw.Namespace + "/" + id
}

// IdentityKey is the key the withdrawal's notices and records are kept
// under (its idempotency keys, notice checkpoints, told records and the
// evidence salt): status.identityKey once the operator has recorded it;
// before that, the hash of ID, or the UID for a withdrawal an earlier
// release began (its status has a phase but no key), whose records are
// already kept under its UID. It fits a label value.
//
// The namespace is in the hash so that an author in another namespace
// cannot name a withdrawal whose keys collide with this one's: a
// receiver that drops a repeated key would drop the real notice.
func (rw *RegionWithdrawal) IdentityKey() types.UID {
	switch {
	case rw.Status.IdentityKey != "":
		return types.UID(rw.Status.IdentityKey)
	case rw.Status.Phase != "" || len(rw.Status.Steps) > 0:
		return rw.UID
	}
	return IdentityKeyOf(rw.ID())
}

// IdentityKeyOf is the identity key of the withdrawal whose ID is id: 32
// hex digits, unlike a UID's 36 characters with dashes.
func IdentityKeyOf(id string) types.UID {
	sum := sha256.Sum256([]byte("region-withdrawal-operator/withdrawal-id/v1\x00" + id))
	return types.UID(hex.EncodeToString(sum[:16]))
}

// HoldsIDBefore says whether rw holds its ID (ID) before other, which has
// the same: created first (to the second), or, created in the same
// second, already planned (its steps in status, which a withdrawal refused
// for an ID another holds never gets) when other is not, or else by UID.
// Of two objects exactly one holds it, and a withdrawal already under way
// never loses it to a copy.
func (rw *RegionWithdrawal) HoldsIDBefore(other *RegionWithdrawal) bool {
	if !rw.CreationTimestamp.Equal(&other.CreationTimestamp) {
		return rw.CreationTimestamp.Before(&other.CreationTimestamp)
	}
	if planned, otherPlanned := len(rw.Status.Steps) > 0, len(other.Status.Steps) > 0; planned != otherPlanned {
		return planned
	}
	return rw.UID < other.UID
}
