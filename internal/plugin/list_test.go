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
	"strings"
	"testing"
)

// TestListInOneAndEveryNamespace: list shows the namespace's withdrawals,
// -A every namespace's with a NAMESPACE column, and -o takes kubectl's
// formats (name, jsonpath, wide).
func TestListInOneAndEveryNamespace(t *testing.T) {
	setup(t, "list-a")
	setup(t, "list-b")
	out, err := run(t, "list-a", "list")
	if err != nil || !strings.Contains(out, "germany") || strings.Contains(out, "NAMESPACE") {
		t.Fatalf("list = %v\n%s", err, out)
	}
	out, err = run(t, "list-a", "list", "-A")
	if err != nil || !strings.Contains(out, "NAMESPACE") || !strings.Contains(out, "list-a") || !strings.Contains(out, "list-b") {
		t.Fatalf("list -A = %v\n%s", err, out)
	}
	out, err = run(t, "list-a", "list", "-o", "name")
	if err != nil || strings.TrimSpace(out) != "regionwithdrawal.withdrawal.ops.dev/germany" {
		t.Fatalf("list -o name = %v\n%q", err, out)
	}
	out, err = run(t, "list-a", "list", "-A", "-o", "jsonpath={range .items[*]}{.metadata.namespace}/{.spec.region} {end}")
	if err != nil || !strings.Contains(out, "list-a/DE") || !strings.Contains(out, "list-b/DE") {
		t.Fatalf("list -o jsonpath = %v\n%q", err, out)
	}
	out, err = run(t, "list-a", "list", "-o", "wide")
	if err != nil || !strings.Contains(out, "DEADLINE") {
		t.Fatalf("list -o wide = %v\n%s", err, out)
	}
	if _, err := run(t, "list-a", "list", "-o", "bogus"); err == nil {
		t.Fatal("list -o bogus succeeded")
	}
	out, err = run(t, "list-a", "version")
	if err != nil || !strings.HasPrefix(out, "kubectl-withdrawal ") {
		t.Fatalf("version = %v\n%s", err, out)
	}
}
