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
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestIdentityKey(t *testing.T) {
	rw := func(ns, name, id string, st RegionWithdrawalStatus) *RegionWithdrawal {
		return &RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: "0f8fad5b-d9cb-469f-a165-70867728950e"},
			Spec: RegionWithdrawalSpec{WithdrawalID: id}, Status: st}
	}
	fresh := rw("shop", "pakistan", "", RegionWithdrawalStatus{})
	if got, want := fresh.ID(), "shop/pakistan"; got != want {
		t.Fatalf("ID %q, want %q", got, want)
	}
	if fresh.IdentityKey() != IdentityKeyOf("shop/pakistan") || len(fresh.IdentityKey()) != 32 {
		t.Fatalf("a new withdrawal's key %q is not the hash of its ID", fresh.IdentityKey())
	}
	// Created again, or copied to another cluster: a new UID, the same key.
	again := rw("shop", "pakistan", "", RegionWithdrawalStatus{})
	again.UID = "9d2b1c0e-0000-4000-8000-000000000001"
	if again.IdentityKey() != fresh.IdentityKey() {
		t.Fatal("a copy with another UID has another key")
	}
	// An explicit ID survives a rename; the namespace is always part of it.
	if rw("shop", "pk-2026", "pk", RegionWithdrawalStatus{}).IdentityKey() != rw("shop", "pakistan", "pk", RegionWithdrawalStatus{}).IdentityKey() {
		t.Fatal("two names with one withdrawalID have different keys")
	}
	if rw("other", "pakistan", "pk", RegionWithdrawalStatus{}).IdentityKey() == rw("shop", "pakistan", "pk", RegionWithdrawalStatus{}).IdentityKey() {
		t.Fatal("two namespaces share a key: an author in one could collide with the other's idempotency keys")
	}
	// Begun by a release before withdrawalID: its records are under its UID.
	legacy := rw("shop", "pakistan", "", RegionWithdrawalStatus{Phase: PhaseInProgress})
	if legacy.IdentityKey() != legacy.UID {
		t.Fatalf("a withdrawal an earlier release began has key %q, want its UID", legacy.IdentityKey())
	}
	// Once recorded, status decides.
	recorded := rw("shop", "pakistan", "", RegionWithdrawalStatus{Phase: PhaseInProgress, IdentityKey: "abc"})
	if recorded.IdentityKey() != "abc" {
		t.Fatalf("recorded key ignored: %q", recorded.IdentityKey())
	}
}
