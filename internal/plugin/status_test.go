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
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
)

// TestOneLineCutsAtACharacter: a message in Urdu cut to fit a line stays
// valid UTF-8 and within the width.
func TestOneLineCutsAtACharacter(t *testing.T) {
	msg := strings.Repeat("پاکستان میں سروس بند\n", 20)
	for n := 10; n < 120; n++ {
		got := oneLine(msg, n)
		if !utf8.ValidString(got) || len(got) > n || strings.Contains(got, "\n") {
			t.Fatalf("oneLine(_, %d) = %q: want valid UTF-8 on one line within %d bytes", n, got, n)
		}
	}
}

// closingWatches ends each watch it opens soon after, as an API server
// does at its request timeout.
type closingWatches struct {
	cache.ListerWatcher
	opened atomic.Int32
}

func (c *closingWatches) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	w, err := c.ListerWatcher.Watch(opts)
	if err != nil {
		return nil, err
	}
	c.opened.Add(1)
	time.AfterFunc(100*time.Millisecond, w.Stop)
	return w, nil
}

// TestFollowOutlivesClosedWatches: status -w goes on printing changes
// after the server has closed its watch, and ends when the withdrawal is
// deleted.
func TestFollowOutlivesClosedWatches(t *testing.T) {
	const ns = "plugin-follow"
	setup(t, ns)
	out := &syncBuffer{}
	o := &Options{IOStreams: genericiooptions.IOStreams{Out: out, ErrOut: out}, Clock: clocktesting.NewFakeClock(beforeEverything)}
	c, err := client.NewWithWatch(env.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	rw := get(t, ns)
	lw := &closingWatches{ListerWatcher: nameListWatch(c, ns, rw.Name)}
	done := make(chan error, 1)
	go func() { done <- o.followWith(context.Background(), lw, rw) }()
	// Wait for the first watch to have been closed and another opened.
	if err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return lw.opened.Load() >= 2, nil
	}); err != nil {
		t.Fatalf("the watch was not reopened: %v", err)
	}
	rw = get(t, ns)
	rw.Status.NextAction = "after-the-reopened-watch"
	if err := env.Client.Status().Update(context.Background(), rw); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return strings.Contains(out.String(), "after-the-reopened-watch"), nil
	}); err != nil {
		t.Fatalf("the change after the watch closed was not printed:\n%s", out.String())
	}
	if err := env.Client.Delete(context.Background(), rw); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil || !strings.Contains(out.String(), "deleted") {
		t.Fatalf("follow = %v, want it to end when the withdrawal is deleted\n%s", err, out.String())
	}
}
