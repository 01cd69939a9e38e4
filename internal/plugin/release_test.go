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

package plugin

import (
	"context"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// TestReleaseLetsOnlyADeletedWithdrawalGo: release refuses a withdrawal
// that is not being deleted; on one that is, it removes the operator's
// finalizer and no other, and the deletion finishes.
func TestReleaseLetsOnlyADeletedWithdrawalGo(t *testing.T) {
	const ns = "plugin-release"
	setup(t, ns)
	ctx := context.Background()
	rw := get(t, ns)
	rw.Finalizers = []string{"example.com/other", finalizer}
	if err := env.Client.Update(ctx, rw); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, ns, "release", "germany"); err == nil || !strings.Contains(err.Error(), "not being deleted") {
		t.Fatalf("release of a live withdrawal = %v, want a refusal", err)
	}
	if err := env.Client.Delete(ctx, get(t, ns)); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, ns, "release", "germany")
	if err != nil || !strings.Contains(out, "released") {
		t.Fatalf("release = %v\n%s", err, out)
	}
	got := get(t, ns)
	if !slices.Equal(got.Finalizers, []string{"example.com/other"}) {
		t.Fatalf("finalizers %v, want only the other writer's", got.Finalizers)
	}
	// The other writer lets go too: the deletion finishes.
	got.Finalizers = nil
	if err := env.Client.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(got), &v1.RegionWithdrawal{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get after release = %v, want NotFound", err)
	}
}
