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

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/hack/bench/internal/kubeconfig"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/hashset"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/webhook"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

// keyCounter counts, at the receiver, the deliveries of each idempotency
// key: how many recipients were reached, and how many deliveries repeated
// a key already reached (a re-send after the kill).
type keyCounter struct {
	seed  maphash.Seed
	mu    sync.Mutex
	keys  hashset.Set
	again int64
}

func (k *keyCounter) add(r *http.Request) {
	h := maphash.String(k.seed, r.Header.Get(webhook.HeaderID))
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys.Has(h) {
		k.again++
		return
	}
	k.keys.Add(h)
}

func (k *keyCounter) counts() (reached int, again int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys.Len(), k.again
}

// childMemoryLimit is GOMEMLIMIT for the child: what main.go sets under
// the chart's default memory limit of 256Mi (--memory-limit-ratio 0.9).
const childMemoryLimit = "230MiB"

// killed is what the phase with a SIGKILL measured.
type killed struct {
	atReached  int
	reached    int
	again      int64
	peakBefore int64
	child      childReport
	elapsed    time.Duration
	// rw is the withdrawal, whose ledger's cost the caller measures.
	rw   *v1.RegionWithdrawal
	cost cost
}

// childReport is what a child process prints when its notice is done.
type childReport struct {
	PeakKiB int64 `json:"peakKiB"`
	Calls   int   `json:"calls"`
}

// runKilled sends the notice of another withdrawal (the same recipients,
// the ledger on, in ConfigMaps) from a child process, this program run
// with -child-withdrawal, as the operator's process would: the child is
// killed with SIGKILL once the receiver has reached half the recipients,
// with no chance to write anything, and a new one started, which sends
// the rest. The receiver counts each idempotency key: every recipient
// must be reached, and only the batch in flight at the kill sent again.
// The child's peak RSS is the executor's alone, without the receiver.
// The caller exports and verifies the ledger.
func runKilled(ctx context.Context, c client.Client, cfg *rest.Config, rw *v1.RegionWithdrawal, n int, counter *atomic.Pointer[keyCounter]) (killed, error) {
	var out killed
	dir, err := os.MkdirTemp("", "rwo-bench-kill-")
	if err != nil {
		return out, err
	}
	defer os.RemoveAll(dir)
	kc := filepath.Join(dir, "kubeconfig")
	if err := kubeconfig.Write(kc, namespace, kubeconfig.Cluster{Name: "envtest", Config: cfg}); err != nil {
		return out, err
	}
	killedRW := rw.DeepCopy()
	killedRW.ObjectMeta = metav1.ObjectMeta{Name: "pakistan-killed", Namespace: namespace}
	killedRW.Status = v1.RegionWithdrawalStatus{}
	if err := c.Create(ctx, killedRW); err != nil {
		return out, err
	}
	keys := &keyCounter{seed: maphash.MakeSeed()}
	counter.Store(keys)
	defer counter.Store(nil)
	self, err := os.Executable()
	if err != nil {
		return out, err
	}
	child := func() *exec.Cmd {
		cmd := exec.CommandContext(ctx, self, "-child-kubeconfig", kc, "-child-withdrawal", killedRW.Name, "-recipients", fmt.Sprint(n))
		cmd.Stderr = os.Stderr
		// The soft memory limit the operator sets itself under the
		// chart's default memory limit (0.9 of 256Mi), unless told
		// otherwise: the child's peak is the operator's as installed.
		cmd.Env = os.Environ()
		if os.Getenv("GOMEMLIMIT") == "" {
			cmd.Env = append(cmd.Env, "GOMEMLIMIT="+childMemoryLimit)
		}
		return cmd
	}

	start := time.Now()
	first := child()
	if err := first.Start(); err != nil {
		return out, err
	}
	// Half way, the first child is killed. The loop is bounded by the
	// child: if it exits (it should not before half way), so does the wait.
	exited := make(chan error, 1)
	go func() { exited <- first.Wait() }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case err := <-exited:
			return out, fmt.Errorf("the child exited before it was killed: %v", err)
		case <-tick.C:
			if reached, _ := keys.counts(); reached >= n/2 {
				out.peakBefore = vmHWM(strconv.Itoa(first.Process.Pid))
				if err := first.Process.Signal(syscall.SIGKILL); err != nil {
					return out, err
				}
				<-exited
				waiting = false
			}
		}
	}
	out.atReached, _ = keys.counts()

	second := child()
	stdout, err := second.Output()
	if err != nil {
		return out, fmt.Errorf("the child started after the kill: %w", err)
	}
	out.elapsed = time.Since(start)
	if err := json.Unmarshal(stdout, &out.child); err != nil {
		return out, fmt.Errorf("the child's report %q: %w", stdout, err)
	}
	out.reached, out.again = keys.counts()
	out.rw = killedRW
	return out, nil
}

// runChild is this program as a child of runKilled: it sends withdrawal's
// notice with the ledger on until it is done (unless it is killed first)
// and prints its report.
func runChild(kubeconfigPath, withdrawal string, n int) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		return err
	}
	ctx := context.Background()
	rw := &v1.RegionWithdrawal{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: withdrawal}, rw); err != nil {
		return err
	}
	l, err := ledger.New(ledger.Options{Client: c, Reader: c, Namespace: namespace, Key: evidenceKey})
	if err != nil {
		return err
	}
	var requests, delivered atomic.Int64
	f, calls, err := runBatched(ctx, c, rw, announcement(rw), n, l, "", &requests, &delivered)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(childReport{PeakKiB: f.peakKiB, Calls: calls})
}

// announcement is the benchmark's notice.
func announcement(rw *v1.RegionWithdrawal) planner.Action {
	return planner.Action{ID: "notify/announcement", Kind: planner.ActionNotice, Step: v1.StepNotify, Notice: v1.NoticeAnnouncement,
		DueAt: rw.Spec.Cutoff.Add(-720 * time.Hour)}
}
