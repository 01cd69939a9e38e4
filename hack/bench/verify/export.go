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
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/hack/bench/internal/kubeconfig"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

const operatorNS = "rwo-system"

// runExport writes a ledger of n deliveries into an envtest API server, a
// batch of 1,000 per append as the notify executor does, then runs the
// plugin's `evidence export` on it and, on the bundle, `evidence verify`.
// The ledger is written by this process, which measure keeps out of the
// plugin's figures.
func runExport(ctx context.Context, plugin, dir string, n int) error {
	ctrllog.SetLogger(logr.Discard())
	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNS}}); err != nil {
		return err
	}
	l, err := ledger.New(ledger.Options{Client: env.Client, Reader: env.Client, Namespace: operatorNS, Key: []byte("the benchmark's evidence key, 32")})
	if err != nil {
		return err
	}
	rw := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Namespace: withdrawal.Namespace, Name: withdrawal.Name, UID: types.UID(withdrawal.UID)}}
	start := time.Now()
	const batch = 1000
	for first := 0; first < n; first += batch {
		sealed, err := sealBatch(l, rw, first, min(batch, n-first))
		if err != nil {
			return err
		}
		if err := l.AppendSealed(ctx, rw, sealed...); err != nil {
			return err
		}
	}
	head, _ := l.Head(rw.UID)
	fmt.Printf("\nexport: wrote a ledger of %d deliveries into envtest in %s (not measured below): %d bytes in etcd, %.0f per statement\n",
		n, time.Since(start).Round(time.Second), head.StoredBytes, float64(head.StoredBytes)/float64(n))

	kc := filepath.Join(dir, "kubeconfig")
	if err := kubeconfig.Write(kc, withdrawal.Namespace, kubeconfig.Cluster{Name: "envtest", Config: env.Config}); err != nil {
		return err
	}
	file := filepath.Join(dir, "exported.evidence.jsonl.gz")
	m, out, err := measure(ctx, plugin, "--kubeconfig", kc, "evidence", "export", withdrawal.Name, "--uid", withdrawal.UID,
		"--operator-namespace", operatorNS, "-f", file)
	if err != nil {
		return fmt.Errorf("export: %w: %s", err, out)
	}
	if want := fmt.Sprintf(": %d statements", n); !strings.Contains(out, want) {
		return fmt.Errorf("export says %q, not %q", out, want)
	}
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	fmt.Printf("export of %d statements (the built plugin, from the API server, two reads of every shard): %.1fs, peak %.1f MiB, bundle %.0f bytes per statement\n",
		n, m.took.Seconds(), m.peakMiB, float64(st.Size())/float64(n))
	v, err := verify(ctx, plugin, file, l.VerifierKey(), n, "--allow-open")
	if err != nil {
		return fmt.Errorf("verify of the exported bundle: %w", err)
	}
	fmt.Printf("verify of the exported bundle: %.1fs, peak %.1f MiB\n", v.took.Seconds(), v.peakMiB)
	return nil
}

// sealBatch seals deliveries first..first+n on every core.
func sealBatch(l *ledger.Ledger, rw *v1.RegionWithdrawal, first, n int) ([]ledger.Sealed, error) {
	out := make([]ledger.Sealed, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				out[i], errs[i] = l.Seal(rw, delivery(first+i))
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// delivery is the i-th webhook delivery of the benchmark's notice.
func delivery(i int) *evidence.NoticeDelivered {
	return &evidence.NoticeDelivered{Header: evidence.Header{At: cutoff.Add(-30*24*time.Hour + time.Duration(i)*time.Millisecond)},
		Notice: "announcement", Recipient: evidence.RecipientHash(salt, "cust-"+strconv.Itoa(i)), Channel: "webhook",
		IdempotencyKey: fmt.Sprintf("0f3a9c2e4b6d8f10a2c4e6f8091b3d5f/announcement/%d/webhook", i),
		Webhook:        &evidence.WebhookReceipt{Status: 200, BodySHA256: strings.Repeat("ab", 32)}}
}

// measure runs the plugin and reads its wall time and peak RSS: the
// VmHWM of its own address space, read every 10 ms until it exits (the
// child's rusage would start from this process's peak, which a fork
// shares).
func measure(ctx context.Context, plugin string, args ...string) (measured, string, error) {
	cmd := exec.CommandContext(ctx, plugin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return measured{}, "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	var peakKiB int64
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return measured{took: time.Since(start), peakMiB: float64(peakKiB) / 1024}, out.String(), err
		case <-tick.C:
			peakKiB = max(peakKiB, vmHWM(status))
		}
	}
}

// vmHWM reads a process's peak resident set in KiB, 0 once it is gone.
func vmHWM(status string) int64 {
	b, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kib
		}
	}
	return 0
}
