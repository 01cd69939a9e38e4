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

package sources

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
)

// Where FuzzEach's Objects.Each reads the fuzzed data from, and the source
// its problems name; Parse is called with the same source so that problems
// compare equal.
const (
	fuzzNamespace = "ns"
	fuzzConfigMap = "customers"
	fuzzKey       = "list"
	fuzzSource    = "ConfigMap " + fuzzNamespace + "/" + fuzzConfigMap + " key " + fuzzKey
)

// fuzzFormats are the formats FuzzEach picks from; "" is the default, CSV.
var fuzzFormats = []v1.RecipientFormat{v1.RecipientFormatCSV, v1.RecipientFormatJSONLines, ""}

// FuzzEach reads arbitrary bytes, as CSV or JSON lines (chosen by the first
// argument), through Objects.Each and checks what it promises beyond Parse
// (which FuzzParse in package recipients checks, and which calls fn for
// every valid record): fn is called once per distinct id, with the first
// record of the id, in source order; the later records are counted exactly,
// and so are the problems, of which the first maxReportedProblems are kept.
//
// Its seeds run in every `go test`; `make fuzz` fuzzes it. The short
// fuzzing in `make test` leaves it out: its instrumented build would compile
// controller-runtime and client-go a second time, for a walk whose only
// logic of its own is a set of the ids seen.
func FuzzEach(f *testing.F) {
	var many strings.Builder
	many.WriteString("id,email\n")
	for i := range 3 * maxReportedProblems {
		fmt.Fprintf(&many, "c%d,a@b\nc%d,not-an-email\nc%d,a@b\n", i%7, i, i%7)
	}
	for _, s := range []string{
		"id,name,email\nc1,Acme,ops@acme.example\nc2,,b@c\nc1,Again,x@y\n",
		"id\nc1\nc1\nC1\n c1 \n",
		"id,email\nc1\nc2,a@b,extra\nc3,c@d\nc3,c@d\n",
		"id,email,webhook\nc1,not-an-email,\nc2,,ftp://x\nc3,a@b,https://h/\n,a@b,\n",
		"{\"id\":\"c1\"}\n{\"id\":\"c1\"}\n{\"id\":\"c2\"}\n",
		"not json\n{\"id\":\"c1\"}\n[1,2]\nnull\n{\"id\":\"c1\",\"email\":\"a@b\"}\n",
		many.String(),
		"",
	} {
		for sel := range len(fuzzFormats) {
			f.Add(byte(sel), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, sel byte, data []byte) {
		format := fuzzFormats[int(sel)%len(fuzzFormats)]
		var all []recipients.Recipient
		problems, err := recipients.Parse(bytes.NewReader(data), format, fuzzSource, func(r recipients.Recipient) error {
			all = append(all, r)
			return nil
		})
		if err != nil {
			t.Fatalf("Parse(%s) returned an error though neither reading nor fn failed: %v", format, err)
		}
		checkEach(t, data, format, all, problems)
	})
}

// checkEach reads data through Objects.Each, which promises one call per
// distinct id: the first record with the id, in source order. all and
// problems are what Parse read from data.
func checkEach(t *testing.T, data []byte, format v1.RecipientFormat, all []recipients.Recipient, problems []recipients.Problem) {
	t.Helper()
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "rw", Namespace: fuzzNamespace},
		Spec: v1.RegionWithdrawalSpec{Notify: &v1.NotifyStep{Recipients: v1.RecipientSources{
			ConfigMaps: []v1.RecipientObjectRef{{Name: fuzzConfigMap, Keys: []string{fuzzKey}, Format: format}},
		}}},
	}
	reader := oneConfigMap{&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: fuzzConfigMap, Namespace: fuzzNamespace},
		BinaryData: map[string][]byte{fuzzKey: data},
	}}
	var got []recipients.Recipient
	sum, err := (&Objects{Reader: reader}).Each(context.Background(), rw, func(r recipients.Recipient) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Each: %v", err)
	}
	var distinct []recipients.Recipient
	var dups []string
	seen := map[string]bool{}
	for _, r := range all {
		if seen[r.ID] {
			dups = append(dups, r.ID)
			continue
		}
		seen[r.ID] = true
		distinct = append(distinct, r)
	}
	if !reflect.DeepEqual(got, distinct) {
		t.Fatalf("Each called fn with %+v, want the first of each id: %+v", got, distinct)
	}
	wantDups := dups[:min(len(dups), maxReportedProblems)]
	if sum.Recipients != int64(len(distinct)) || sum.DuplicateCount != len(dups) || !slices.Equal(sum.Duplicates, wantDups) {
		t.Fatalf("Each counted %d recipients and duplicates %d %q; want %d, %d %q",
			sum.Recipients, sum.DuplicateCount, sum.Duplicates, len(distinct), len(dups), wantDups)
	}
	wantProblems := problems[:min(len(problems), maxReportedProblems)]
	if sum.ProblemCount != len(problems) || !slices.Equal(sum.Problems, wantProblems) {
		t.Fatalf("Each reported %d problems %v; want %d %v", sum.ProblemCount, sum.Problems, len(problems), wantProblems)
	}
}

// oneConfigMap is a client.Reader holding a single ConfigMap.
type oneConfigMap struct{ cm *corev1.ConfigMap }

func (o oneConfigMap) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok || key.Namespace != o.cm.Namespace || key.Name != o.cm.Name {
		return fmt.Errorf("no %T %s", obj, key)
	}
	o.cm.DeepCopyInto(cm)
	return nil
}

func (oneConfigMap) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("not implemented")
}
