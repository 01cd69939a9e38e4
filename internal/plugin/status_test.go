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
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
)

// TestOneLineCutsAtACharacter: a message in Urdu cut to fit a line stays
// valid UTF-8 and within the width.
func TestOneLineCutsAtACharacter(t *testing.T) {
	msg := strings.Repeat("پاکستان میں\tسروس بند\n", 20)
	for n := 10; n < 120; n++ {
		got := oneLine(msg, n)
		if !utf8.ValidString(got) || len(got) > n || strings.ContainsAny(got, "\n\t") {
			t.Fatalf("oneLine(_, %d) = %q: want valid UTF-8 on one line within %d bytes", n, got, n)
		}
	}
}

// unreliableWatches is an API server at its worst: the first watch it
// opens answers 410 Gone (the resourceVersion asked for is too old), the
// second is closed soon after it opens (as a server does at its request
// timeout), the third and later ones stay open. It counts the lists,
// whether made by a List or streamed through a watch (client-go's
// WatchListClient).
type unreliableWatches struct {
	*cache.ListWatch
	opened atomic.Int32
	listed atomic.Int32
}

func (u *unreliableWatches) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	u.listed.Add(1)
	return u.ListWatch.ListWithContext(ctx, opts)
}

func (u *unreliableWatches) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	if opts.SendInitialEvents != nil && *opts.SendInitialEvents {
		u.listed.Add(1) // a list streamed through the watch
	}
	switch u.opened.Add(1) {
	case 1:
		gone := watch.NewFakeWithChanSize(1, false)
		gone.Error(&apierrors.NewResourceExpired("too old resource version").ErrStatus)
		gone.Stop()
		return gone, nil
	case 2:
		w, err := u.ListWatch.WatchWithContext(ctx, opts)
		if err != nil {
			return nil, err
		}
		time.AfterFunc(100*time.Millisecond, w.Stop)
		return w, nil
	}
	return u.ListWatch.WatchWithContext(ctx, opts)
}

// TestFollowOutlivesGoneAndClosedWatches: status -w goes on printing
// changes after the server has answered a watch with 410 Gone and closed
// another, and returns once the withdrawal has ended.
func TestFollowOutlivesGoneAndClosedWatches(t *testing.T) {
	const ns = "plugin-follow"
	setup(t, ns)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // a failed test leaves no watch open
	out := &syncBuffer{}
	o := &Options{IOStreams: genericiooptions.IOStreams{Out: out, ErrOut: out}, Clock: clocktesting.NewFakeClock(beforeEverything)}
	c, err := client.NewWithWatch(env.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	rw := get(t, ns)
	lw := &unreliableWatches{ListWatch: nameListWatch(c, ns, rw.Name)}
	show := func(rw *v1.RegionWithdrawal) error {
		fmt.Fprintf(out, "phase=%s next=%s\n", rw.Status.Phase, rw.Status.NextAction)
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- o.follow(ctx, lw, rw, show) }()
	// Wait for the third watch: the one that stays open.
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return lw.opened.Load() >= 3, nil
	}); err != nil {
		t.Fatalf("the watch was not reopened after 410 Gone and a close: %d opened", lw.opened.Load())
	}
	if lw.listed.Load() < 2 {
		t.Fatalf("listed %d times: a 410 Gone must be followed by a fresh list", lw.listed.Load())
	}
	setStatus(t, ns, func(st *v1.RegionWithdrawalStatus) {
		st.Phase, st.NextAction = v1.PhaseInProgress, "after-the-reopened-watch"
	})
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return strings.Contains(out.String(), "next=after-the-reopened-watch"), nil
	}); err != nil {
		t.Fatalf("the change after the watch closed was not printed:\n%s", out.String())
	}
	select {
	case err := <-done:
		t.Fatalf("follow returned (%v) before the withdrawal ended\n%s", err, out.String())
	default:
	}
	setStatus(t, ns, func(st *v1.RegionWithdrawalStatus) { st.Phase = v1.PhaseCompleted })
	select {
	case err := <-done:
		if err != nil || !strings.Contains(out.String(), "phase=Completed") {
			t.Fatalf("follow = %v, want it to end when the withdrawal completes\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("follow did not return when the withdrawal completed\n%s", out.String())
	}
}

// setStatus changes the status of namespace ns's withdrawal as its
// controller would, for its current generation.
func setStatus(t *testing.T, ns string, change func(*v1.RegionWithdrawalStatus)) {
	t.Helper()
	rw := get(t, ns)
	rw.Status.ObservedGeneration = rw.Generation
	change(&rw.Status)
	if err := env.Client.Status().Update(context.Background(), rw); err != nil {
		t.Fatal(err)
	}
}

// TestStatusAndPlanTellTheCutoffMoved: after a postponement, status says
// from when to when, and plan lists the change with who made it and what
// it did.
func TestStatusAndPlanTellTheCutoffMoved(t *testing.T) {
	dateA := time.Date(2026, 11, 30, 19, 0, 0, 0, time.UTC)
	dateB := dateA.AddDate(0, 1, 0)
	now := dateA.Add(-20 * 24 * time.Hour)
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: "withdrawals", Generation: 2},
		Spec: v1.RegionWithdrawalSpec{Region: "PK", Cutoff: metav1.NewTime(dateA), TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"region": "pk"}},
			Routing:  &v1.RoutingStep{Mode: v1.RoutingBlock451}},
	}
	announced := metav1.NewTime(now.Add(-time.Hour))
	rw.Status.Notify = &v1.NotifyStatus{Notices: []v1.NoticeStatus{{ID: "announcement", Kind: v1.NoticeAnnouncement, StartedAt: &announced, FinishedAt: &announced}}}
	planner.ObserveCutoff(&rw.Status, &rw.Spec, nil, 1, "", now.Add(-time.Hour))
	promised := metav1.NewTime(dateA)
	rw.Status.Cutoff.Promised = &promised
	rw.Spec.Cutoff = metav1.NewTime(dateB)
	if planner.ObserveCutoff(&rw.Status, &rw.Spec, nil, 2, "alice", now) == nil {
		t.Fatal("no change observed")
	}

	var status strings.Builder
	if err := writeStatus(&status, rw, now); err != nil {
		t.Fatal(err)
	}
	if want := "Cutoff moved from 2026-12-01 00:00 PKT to 2026-12-31 00:00 PKT (1 changes; customers were first told of 2026-12-01 00:00 PKT"; !strings.Contains(status.String(), want) {
		t.Errorf("status does not say %q:\n%s", want, status.String())
	}
	p, err := BuildPlan(context.Background(), rw, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	if err := WritePlan(&plan, p, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Cutoff history: first set for 2026-12-01 00:00 PKT (2026-11-30T19:00:00Z); customers were first told of 2026-12-01 00:00 PKT",
		"1. the cutoff moved from 2026-12-01 00:00 PKT (2026-11-30T19:00:00Z) to 2026-12-31 00:00 PKT (2026-12-30T19:00:00Z) (by alice)",
		"customers already told get the Rescheduled notice rescheduled-1",
	} {
		if !strings.Contains(plan.String(), want) {
			t.Errorf("plan does not say %q:\n%s", want, plan.String())
		}
	}
}
