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

package drain

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
	"github.com/ops-dev/region-withdrawal-operator/internal/summarize"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
)

var drainStarts = time.Date(2026, 12, 28, 19, 0, 0, 0, time.UTC)

func TestBatchSize(t *testing.T) {
	for _, tc := range []struct {
		name           string
		maxUnavailable *intstr.IntOrString
		total          int
		want           int
	}{
		{name: "default is a quarter, rounded up", total: 10, want: 3},
		{name: "count", maxUnavailable: ptr.To(intstr.FromInt32(4)), total: 10, want: 4},
		{name: "count above total", maxUnavailable: ptr.To(intstr.FromInt32(40)), total: 10, want: 40},
		{name: "percentage rounds up", maxUnavailable: ptr.To(intstr.FromString("10%")), total: 11, want: 2},
		{name: "at least one", maxUnavailable: ptr.To(intstr.FromString("1%")), total: 0, want: 1},
		{name: "all at once", maxUnavailable: ptr.To(intstr.FromString("100%")), total: 300, want: 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := BatchSize(tc.maxUnavailable, tc.total); got != tc.want {
				t.Fatalf("BatchSize = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestNextBatch(t *testing.T) {
	t0 := drainStarts
	z := time.Time{}
	for _, tc := range []struct {
		name        string
		drainedAt   []time.Time
		n           int
		now         time.Time
		wantPick    []int
		wantBatchAt time.Time
		wantNextAt  time.Time
	}{
		{name: "first batch", drainedAt: []time.Time{z, z, z, z, z}, n: 2, now: t0, wantPick: []int{0, 1}, wantBatchAt: t0, wantNextAt: t0.Add(time.Minute)},
		{name: "within the interval nothing", drainedAt: []time.Time{t0, t0, z, z, z}, n: 2, now: t0.Add(59 * time.Second), wantNextAt: t0.Add(time.Minute)},
		{name: "second batch after the interval", drainedAt: []time.Time{t0, t0, z, z, z}, n: 2, now: t0.Add(time.Minute), wantPick: []int{2, 3}, wantBatchAt: t0.Add(time.Minute), wantNextAt: t0.Add(2 * time.Minute)},
		{name: "last, short batch", drainedAt: []time.Time{t0, t0, t0, t0, z}, n: 2, now: t0.Add(5 * time.Minute), wantPick: []int{4}, wantBatchAt: t0.Add(5 * time.Minute)},
		{name: "batch cut short by a crash is finished with its instant", drainedAt: []time.Time{t0, z, z, z, z}, n: 2, now: t0.Add(time.Second), wantPick: []int{1}, wantBatchAt: t0, wantNextAt: t0.Add(time.Minute)},
		{name: "all drained", drainedAt: []time.Time{t0, t0}, n: 2, now: t0.Add(time.Hour)},
		{name: "nothing to drain", n: 2, now: t0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pick, batchAt, nextAt := NextBatch(tc.drainedAt, tc.n, time.Minute, tc.now)
			if !slices.Equal(pick, tc.wantPick) || !batchAt.Equal(tc.wantBatchAt) || !nextAt.Equal(tc.wantNextAt) {
				t.Fatalf("NextBatch = %v, %v, %v; want %v, %v, %v", pick, batchAt, nextAt, tc.wantPick, tc.wantBatchAt, tc.wantNextAt)
			}
		})
	}
}

const ns = "pk"

var regionLabels = map[string]string{"bes.example.com/region": "pk"}

func deployment(name string, replicas int32) *appsv1.Deployment {
	l := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: regionLabels},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: l},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}},
	}
}

func withdrawal(maxUnavailable intstr.IntOrString) *v1.RegionWithdrawal {
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: ns, UID: "uid-1"},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Selector: metav1.LabelSelector{MatchLabels: regionLabels},
			Drain: &v1.DrainStep{MaxUnavailable: &maxUnavailable, Interval: &metav1.Duration{Duration: time.Minute}, Timeout: &metav1.Duration{Duration: time.Hour}},
		},
	}
	s := planner.StepStatus(&rw.Status, v1.StepDrain)
	s.State, s.StartedAt = v1.StepRunning, &metav1.Time{Time: drainStarts}
	return rw
}

type fixture struct {
	c   client.Client
	clk *clocktesting.FakeClock
	e   *Executor
	rw  *v1.RegionWithdrawal
}

func newFixture(t *testing.T, rw *v1.RegionWithdrawal, objs ...client.Object) *fixture {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(objs...).Build()
	clk := clocktesting.NewFakeClock(drainStarts)
	return &fixture{c: c, clk: clk, rw: rw, e: &Executor{Client: c, Targets: &targets.Resolver{Reader: c, Clock: clk}, Clock: clk}}
}

func (f *fixture) run(t *testing.T, kind planner.ActionKind) (res executorResult) {
	t.Helper()
	r, err := f.e.Execute(context.Background(), f.rw, planner.Action{ID: "drain", Kind: kind, Step: v1.StepDrain})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	summarize.RecordDetail(&f.rw.Status, v1.StepDrain, r.Detail)
	return executorResult{r.Done, r.Failed, r.Message, r.RequeueAfter, r.Progress}
}

type executorResult struct {
	done, failed bool
	msg          string
	requeue      time.Duration
	progress     *v1.Progress
}

func (f *fixture) replicas(t *testing.T, names ...string) []int32 {
	t.Helper()
	var out []int32
	for _, n := range names {
		var d appsv1.Deployment
		if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: n}, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, *d.Spec.Replicas)
	}
	return out
}

func TestDrainInBatchesCorrectsScaleUpsAndReverts(t *testing.T) {
	names := []string{"a", "b", "c", "d", "e"}
	var objs []client.Object
	for _, n := range names {
		objs = append(objs, deployment(n, 3))
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "e-hpa", Namespace: ns, Labels: map[string]string{"team": "chat"}},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "e"},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 10,
		},
	}
	objs = append(objs, hpa.DeepCopy())
	f := newFixture(t, withdrawal(intstr.FromInt32(2)), objs...)
	ctx := context.Background()

	type want struct {
		replicas []int32
		done     bool
		drained  int64
	}
	steps := []struct {
		name  string
		after time.Duration
		act   func(t *testing.T)
		want  want
	}{
		{name: "first batch at once", want: want{replicas: []int32{0, 0, 3, 3, 3}, drained: 2}},
		{name: "nothing within the interval", after: 30 * time.Second, want: want{replicas: []int32{0, 0, 3, 3, 3}, drained: 2}},
		{name: "second batch after the interval", after: 30 * time.Second, want: want{replicas: []int32{0, 0, 0, 0, 3}, drained: 4}},
		{name: "a scale-up by someone else is corrected", after: time.Second, act: func(t *testing.T) {
			var d appsv1.Deployment
			if err := f.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "a"}, &d); err != nil {
				t.Fatal(err)
			}
			d.Spec.Replicas = ptr.To[int32](5)
			if err := f.c.Update(ctx, &d); err != nil {
				t.Fatal(err)
			}
		}, want: want{replicas: []int32{0, 0, 0, 0, 3}, drained: 4}},
		{name: "last batch, and done", after: time.Minute, want: want{replicas: []int32{0, 0, 0, 0, 0}, drained: 5, done: true}},
	}
	for _, s := range steps {
		f.clk.Step(s.after)
		if s.act != nil {
			s.act(t)
		}
		res := f.run(t, planner.ActionStart)
		if got := f.replicas(t, names...); !slices.Equal(got, s.want.replicas) {
			t.Fatalf("%s: replicas %v, want %v", s.name, got, s.want.replicas)
		}
		if res.done != s.want.done || res.failed || res.progress.Done != s.want.drained || res.progress.Total != 5 {
			t.Fatalf("%s: result %+v, want done=%v drained=%d/5", s.name, res, s.want.done, s.want.drained)
		}
		if !res.done && res.requeue <= 0 {
			t.Fatalf("%s: no requeue while unfinished", s.name)
		}
	}
	st := planner.StepStatus(&f.rw.Status, v1.StepDrain).Drain
	if st.Corrections != 1 || !strings.Contains(st.LastCorrection, "Deployment pk/a was scaled back up to 5") {
		t.Fatalf("drain status %+v, want one correction of pk/a", st)
	}
	var d appsv1.Deployment
	if err := f.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "a"}, &d); err != nil {
		t.Fatal(err)
	}
	if d.Annotations[AnnotationOriginalReplicas] != "3" {
		t.Fatalf("original replicas %q after the correction, want 3", d.Annotations[AnnotationOriginalReplicas])
	}
	// The HPA aimed at e is set aside.
	if err := f.c.Get(ctx, client.ObjectKeyFromObject(hpa), &autoscalingv2.HorizontalPodAutoscaler{}); !apierrors.IsNotFound(err) {
		t.Fatalf("HPA still there (%v), want it set aside", err)
	}
	if st.AutoscalersSetAside != 1 {
		t.Fatalf("autoscalersSetAside %d, want 1", st.AutoscalersSetAside)
	}

	// Cancel restores every count and the HPA, and a second revert is a no-op.
	for range 2 {
		res := f.run(t, planner.ActionRevert)
		if !res.done || res.failed {
			t.Fatalf("revert: %+v", res)
		}
	}
	if got := f.replicas(t, names...); !slices.Equal(got, []int32{3, 3, 3, 3, 3}) {
		t.Fatalf("replicas after revert %v, want all 3", got)
	}
	if err := f.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "a"}, &d); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Labels[LabelDrainedBy]; ok {
		t.Fatalf("label %s left on %s after revert", LabelDrainedBy, d.Name)
	}
	var back autoscalingv2.HorizontalPodAutoscaler
	if err := f.c.Get(ctx, client.ObjectKeyFromObject(hpa), &back); err != nil {
		t.Fatalf("HPA not restored: %v", err)
	}
	if !equality.Semantic.DeepEqual(back.Spec, hpa.Spec) || !equality.Semantic.DeepEqual(back.Labels, hpa.Labels) {
		t.Fatalf("restored HPA %+v, want %+v", back.Spec, hpa.Spec)
	}
}

func TestDrainWaitsForEndpointsAndPodsThenTimesOut(t *testing.T) {
	ready := true
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "chat-x1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: "chat"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "chat", Namespace: ns, Labels: regionLabels}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a-1", Namespace: ns, Labels: map[string]string{"app": "a"}, Finalizers: []string{"example.com/hold"}}}
	f := newFixture(t, withdrawal(intstr.FromString("100%")), deployment("a", 2), svc, slice, pod)
	ctx := context.Background()
	if err := f.c.Delete(ctx, pod); err != nil {
		t.Fatal(err)
	}

	res := f.run(t, planner.ActionStart)
	if res.done {
		t.Fatalf("done with a ready endpoint and a pod left: %+v", res)
	}
	st := planner.StepStatus(&f.rw.Status, v1.StepDrain).Drain
	if st.ReadyEndpoints != 1 || st.RemainingPods != 1 {
		t.Fatalf("status %+v, want 1 ready endpoint and 1 pod", st)
	}
	for _, want := range []string{"pod pk/a-1 of Deployment pk/a is terminating", "Service pk/chat has 1 ready endpoints"} {
		if !slices.ContainsFunc(st.BlockedBy, func(b string) bool { return strings.Contains(b, want) }) {
			t.Fatalf("blockedBy %q lacks %q", st.BlockedBy, want)
		}
	}

	f.clk.Step(time.Hour)
	res = f.run(t, planner.ActionStart)
	if !res.done || !res.failed || !strings.Contains(res.msg, "timed out after 1h0m0s") || !strings.Contains(res.msg, "terminating") {
		t.Fatalf("after the timeout: %+v, want a failure naming the stuck pod", res)
	}
}

func TestDrainDoneWhenEndpointsEmpty(t *testing.T) {
	notReady := false
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "chat-x1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: "chat"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &notReady}}},
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "chat", Namespace: ns, Labels: regionLabels}}
	f := newFixture(t, withdrawal(intstr.FromString("100%")), deployment("a", 2), deployment("b", 0), svc, slice)
	res := f.run(t, planner.ActionStart)
	if !res.done || res.failed {
		t.Fatalf("want done: %+v", res)
	}
	// A workload that had zero replicas is restored to zero.
	f.run(t, planner.ActionRevert)
	if got := f.replicas(t, "a", "b"); !slices.Equal(got, []int32{2, 0}) {
		t.Fatalf("replicas after revert %v, want [2 0]", got)
	}
}

func TestRevertFindsWorkloadsOutsideTheSelector(t *testing.T) {
	f := newFixture(t, withdrawal(intstr.FromString("100%")), deployment("a", 4))
	f.run(t, planner.ActionStart)
	// Someone edits the selector after the drain: cancel still restores.
	f.rw.Spec.Selector = metav1.LabelSelector{MatchLabels: map[string]string{"nothing": "matches"}}
	res := f.run(t, planner.ActionRevert)
	if got := f.replicas(t, "a"); !res.done || got[0] != 4 {
		t.Fatalf("after revert: %+v, replicas %v; want 4", res, got)
	}
}

func TestRevertReportsDamagedRecord(t *testing.T) {
	d := deployment("a", 0)
	d.Labels = map[string]string{LabelDrainedBy: "uid-1"}
	d.Annotations = map[string]string{AnnotationOriginalReplicas: "many"}
	f := newFixture(t, withdrawal(intstr.FromString("100%")), d)
	r, err := f.e.Execute(context.Background(), f.rw, planner.Action{ID: "revert/drain", Kind: planner.ActionRevert, Step: v1.StepDrain})
	if err != nil {
		t.Fatal(err)
	}
	summarize.RecordDetail(&f.rw.Status, v1.StepDrain, r.Detail)
	if !r.Done || len(r.Irreversible) != 1 || !strings.Contains(r.Message, `original-replicas="many"`) {
		t.Fatalf("revert with a damaged record: %+v", r)
	}
}

func TestWatchMapsOnlyActiveDrains(t *testing.T) {
	active := withdrawal(intstr.FromInt32(1))
	idle := withdrawal(intstr.FromInt32(1))
	idle.Name, idle.UID = "idle", "uid-2"
	planner.StepStatus(&idle.Status, v1.StepDrain).State = v1.StepPending
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(active, idle).WithStatusSubresource(active, idle).Build()
	ctx := context.Background()
	for _, rw := range []*v1.RegionWithdrawal{active, idle} {
		st := rw.Status
		if err := c.Get(ctx, client.ObjectKeyFromObject(rw), rw); err != nil {
			t.Fatal(err)
		}
		rw.Status = st
		if err := c.Status().Update(ctx, rw); err != nil {
			t.Fatal(err)
		}
	}
	e := &Executor{Client: c}
	for _, tc := range []struct {
		name string
		obj  client.Object
		fn   func(context.Context, client.Object) []string
		want []string
	}{
		{name: "selected deployment", obj: deployment("a", 1), want: []string{"pakistan"}},
		{name: "unselected deployment", obj: func() client.Object { d := deployment("x", 1); d.Labels = nil; return d }(), want: nil},
		{name: "deployment in another namespace", obj: func() client.Object { d := deployment("x", 1); d.Namespace = "in"; return d }(), want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, r := range e.mapSelected(ctx, tc.obj) {
				got = append(got, r.Name)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("mapped to %v, want %v", got, tc.want)
			}
		})
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns}}
	if got := e.mapNamespace(ctx, pod); len(got) != 1 || got[0].Name != "pakistan" {
		t.Fatalf("pod mapped to %v, want pakistan", got)
	}
}

// TestDrainDecidesOnAFreshRead: the cache answers while the drain waits,
// the API server when it would end. After an API server outage the cache
// can be behind for as long as its watches back off: a pod it still shows
// must not fail a drain at its deadline, and a pod it does not show yet
// must not let the drain end.
func TestDrainDecidesOnAFreshRead(t *testing.T) {
	ready := true
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "chat-x1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: "chat"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "chat", Namespace: ns, Labels: regionLabels}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a-1", Namespace: ns, Labels: map[string]string{"app": "a"}}}

	t.Run("stale cache still shows pods at the deadline", func(t *testing.T) {
		f := newFixture(t, withdrawal(intstr.FromString("100%")), deployment("a", 2), svc.DeepCopy(), slice.DeepCopy(), pod.DeepCopy())
		f.e.APIReader = fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(deployment("a", 0), svc.DeepCopy()).Build()
		if res := f.run(t, planner.ActionStart); res.done {
			t.Fatalf("done while the cache shows a pod and before the deadline: %+v", res)
		}
		f.clk.Step(time.Hour)
		res := f.run(t, planner.ActionStart)
		if !res.done || res.failed {
			t.Fatalf("at the deadline with nothing left on the API server: %+v, want done", res)
		}
		if st := planner.StepStatus(&f.rw.Status, v1.StepDrain).Drain; st.RemainingPods != 0 || st.ReadyEndpoints != 0 {
			t.Fatalf("status %+v, want the API server's counts", st)
		}
	})
	t.Run("cache does not show a pod yet", func(t *testing.T) {
		f := newFixture(t, withdrawal(intstr.FromString("100%")), deployment("a", 2), svc.DeepCopy())
		f.e.APIReader = fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(svc.DeepCopy(), pod.DeepCopy()).Build()
		res := f.run(t, planner.ActionStart)
		if res.done {
			t.Fatalf("done while the API server has a pod: %+v", res)
		}
		if !strings.Contains(res.msg, "pod pk/a-1 of Deployment pk/a is not deleted yet") {
			t.Fatalf("message %q does not name the pod", res.msg)
		}
	})
}
