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
	"encoding/json"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// TestListInOneAndEveryNamespace: list shows the namespace's withdrawals,
// -A every namespace's with a NAMESPACE column, and -o takes kubectl's
// formats (json with apiVersion and kind on every item, name, jsonpath,
// wide).
func TestListInOneAndEveryNamespace(t *testing.T) {
	setup(t, "list-a")
	setup(t, "list-b")
	setStatus(t, "list-b", func(st *v1.RegionWithdrawalStatus) {
		st.Phase, st.NextAction = v1.PhaseScheduled, "notify:announce"
		st.NextActionAt = &metav1.Time{Time: beforeEverything.Add(25*24*time.Hour + 9*time.Hour)}
	})
	tests := []struct {
		name    string
		ns      string
		args    []string
		want    []string
		notWant []string
	}{
		{name: "one namespace", ns: "list-a", args: []string{"list"},
			want:    []string{"NAME REGION PHASE CUTOFF NEXT AGE", "germany DE - 2026-04-01 12:00 CEST -"},
			notWant: []string{"NAMESPACE", "list-b"}},
		{name: "every namespace", ns: "list-a", args: []string{"list", "-A"},
			want: []string{"NAMESPACE NAME REGION PHASE CUTOFF NEXT AGE", "list-a germany DE -",
				"list-b germany DE Scheduled 2026-04-01 12:00 CEST notify:announce in 25d 9h 0m"}},
		{name: "wide", ns: "list-a", args: []string{"list", "-o", "wide"}, want: []string{"NEXT AGE READY DEADLINE"}},
		{name: "name", ns: "list-a", args: []string{"list", "-o", "name"}, want: []string{"regionwithdrawal.withdrawal.ops.dev/germany"}, notWant: []string{"list-b"}},
		{name: "jsonpath", ns: "list-a", args: []string{"list", "-A", "-o", "jsonpath={range .items[*]}{.kind}:{.metadata.namespace}/{.spec.region} {end}"},
			want: []string{"RegionWithdrawal:list-a/DE", "RegionWithdrawal:list-b/DE"}},
		{name: "an empty namespace", ns: "list-none", args: []string{"list"}, want: []string{"No withdrawals found in list-none namespace."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, tt.ns, tt.args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			// Columns are as wide as what other tests left in the
			// cluster: compare the cells, one space between them.
			var lines []string
			for _, l := range strings.Split(out, "\n") {
				lines = append(lines, strings.Join(strings.Fields(l), " "))
			}
			out = strings.Join(lines, "\n")
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("no %q in:\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("%q in:\n%s", w, out)
				}
			}
		})
	}

	// -o json: a list whose items carry apiVersion and kind, as kubectl
	// get prints it.
	out, err := run(t, "list-a", "list", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Kind  string
		Items []metav1.TypeMeta
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || list.Kind != "RegionWithdrawalList" || len(list.Items) != 1 ||
		list.Items[0].APIVersion != v1.GroupVersion.String() || list.Items[0].Kind != "RegionWithdrawal" {
		t.Fatalf("list -o json = %v, %+v\n%s", err, list, out)
	}
	// A format that does not exist fails before anything is read.
	if _, err := run(t, "list-a", "list", "-o", "bogus"); err == nil {
		t.Fatal("list -o bogus succeeded")
	}
}

// TestListAge: AGE is the time since the object was created, as kubectl
// prints it.
func TestListAge(t *testing.T) {
	created := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	rw := v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Name: "germany", CreationTimestamp: metav1.NewTime(created)},
		Spec: v1.RegionWithdrawalSpec{Region: "DE", TimeZone: "Europe/Berlin", Cutoff: metav1.NewTime(created.Add(31 * 24 * time.Hour))}}
	var out strings.Builder
	if err := writeList(&out, []v1.RegionWithdrawal{rw}, false, false, created.Add(90*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(strings.Split(out.String(), "\n")[1]); got[len(got)-1] != "90m" {
		t.Fatalf("AGE = %q, want 90m\n%s", got[len(got)-1], out.String())
	}
}

// TestVersion: the plugin's version (the ldflags variable when set), and
// the API versions the cluster serves unless --client.
func TestVersion(t *testing.T) {
	out, err := run(t, "default", "version")
	if err != nil || !strings.HasPrefix(out, "kubectl-withdrawal ") || !strings.Contains(out, "server: RegionWithdrawal withdrawal.ops.dev/v1alpha1\n") {
		t.Fatalf("version = %v\n%s", err, out)
	}
	defer func(v string) { Version = v }(Version)
	Version = "v9.8.7"
	out, err = run(t, "default", "version", "--client")
	if err != nil || out != "kubectl-withdrawal v9.8.7\n" {
		t.Fatalf("version --client = %v\n%q", err, out)
	}
}
