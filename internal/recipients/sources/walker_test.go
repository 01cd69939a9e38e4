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

package sources_test

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients/sources"
)

// passing is a visitor that passes over the objects listed in pass, and
// keeps, for each object it walks, the ids it visited in it.
type passing struct {
	pass    map[int]bool
	visited []string
	entered []string
	cur     []string
}

func (p *passing) Passable(i int, kept []string) bool { return p.pass[i] }
func (p *passing) Enter(i int, passed bool, kept []string) {
	p.cur = nil
	if passed {
		p.entered = append(p.entered, "passed")
		return
	}
	p.entered = append(p.entered, "read")
}
func (p *passing) Visit(r recipients.Recipient) error {
	p.visited = append(p.visited, r.ID)
	p.cur = append(p.cur, r.ID)
	return nil
}
func (p *passing) Leave(int) []string { return p.cur }

// TestAWalkerPassesOverUnchangedObjectsAndStillCountsThem: objects passed
// over count in the Summary (recipients, problems, duplicates) as if read,
// and their ids still make duplicates of the same ids later; an object
// changed since the last walk is read, and so is every object after it,
// whatever the visitor would pass over.
func TestAWalkerPassesOverUnchangedObjectsAndStillCountsThem(t *testing.T) {
	ctx := context.Background()
	cms := []string{
		"id,email\na,a@example.com\nb,b@example.com\nbroken\n",
		"id,email\nc,c@example.com\na,a@example.com\n",
		"id,email\nd,d@example.com\nb,b@example.com\n",
	}
	var objs []client.Object
	rw := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Name: "pk", Namespace: "ns"}, Spec: v1.RegionWithdrawalSpec{Notify: &v1.NotifyStep{}}}
	for i, csv := range cms {
		name := []string{"one", "two", "three"}[i]
		objs = append(objs, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Data: map[string]string{"c.csv": csv}})
		rw.Spec.Notify.Recipients.ConfigMaps = append(rw.Spec.Notify.Recipients.ConfigMaps, v1.RecipientObjectRef{Name: name})
	}
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(objs...).Build()
	w := &sources.Walker[[]string]{Objects: &sources.Objects{Reader: c}}

	first := &passing{}
	sum, err := w.Walk(ctx, rw, first)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b", "c", "d"}; !slices.Equal(first.visited, want) {
		t.Fatalf("first walk visited %v, want %v", first.visited, want)
	}

	// The second walk passes over the first two objects: the third's "b"
	// is still a duplicate of the first's.
	second := &passing{pass: map[int]bool{0: true, 1: true}}
	sum2, err := w.Walk(ctx, rw, second)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"d"}; !slices.Equal(second.visited, want) {
		t.Errorf("second walk visited %v, want %v", second.visited, want)
	}
	if want := []string{"passed", "passed", "read"}; !slices.Equal(second.entered, want) {
		t.Errorf("second walk entered %v, want %v", second.entered, want)
	}
	if sum2.Recipients != sum.Recipients || sum2.ProblemCount != sum.ProblemCount || sum2.DuplicateCount != sum.DuplicateCount ||
		!slices.Equal(sum2.Duplicates, sum.Duplicates) || !slices.Equal(sum2.Problems, sum.Problems) {
		t.Errorf("passing over objects changed the summary: %+v, the walk that read them all %+v", sum2, sum)
	}

	// The first object loses "a": the second object's "a" is a recipient
	// now. The first is read, and so is the second, which the visitor
	// would pass over, since what was a duplicate in it may no longer be.
	var one corev1.ConfigMap
	if err := c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "one"}, &one); err != nil {
		t.Fatal(err)
	}
	one.Data["c.csv"] = "id,email\nb,b@example.com\n"
	if err := c.Update(ctx, &one); err != nil {
		t.Fatal(err)
	}
	third := &passing{pass: map[int]bool{0: true, 1: true, 2: true}}
	sum3, err := w.Walk(ctx, rw, third)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"b", "c", "a", "d"}; !slices.Equal(third.visited, want) {
		t.Errorf("after the change the walk visited %v, want %v", third.visited, want)
	}
	if sum3.Recipients != 4 || sum3.ProblemCount != 0 || sum3.DuplicateCount != 1 {
		t.Errorf("after the change: %d recipients, %d problems, %d duplicates; want 4, 0, 1", sum3.Recipients, sum3.ProblemCount, sum3.DuplicateCount)
	}

	// Nothing changed since: all three are passed over, and "b" of the
	// third object is still a duplicate, of the first's.
	fourth := &passing{pass: map[int]bool{0: true, 1: true, 2: true}}
	sum4, err := w.Walk(ctx, rw, fourth)
	if err != nil {
		t.Fatal(err)
	}
	if len(fourth.visited) != 0 || sum4.Recipients != 4 || sum4.DuplicateCount != 1 {
		t.Errorf("an unchanged list: visited %v, %d recipients, %d duplicates; want none, 4, 1", fourth.visited, sum4.Recipients, sum4.DuplicateCount)
	}
}
