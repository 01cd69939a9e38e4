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

// Command verify measures what an auditor's `kubectl withdrawal evidence
// verify` costs on a ledger of a million deliveries: the built plugin is
// run on a bundle this program writes, and its wall time and peak RSS
// (the child's rusage) are printed, with the bundle's bytes per statement.
// For comparison it runs the same on a smaller bundle in the first format
// (one JSON document, base64 envelopes, read whole), which is what earlier
// releases wrote and could verify.
//
//	go run ./hack/bench/verify [-statements 1000000] [-v1 100000] [-every 1000] [-export 1000000] [-fleet=true]
//
// The statements are webhook deliveries as the notify executor seals them,
// one checkpoint every -every, and the seal last. Signing them takes most
// of this program's own time; only the plugin's runs are measured. With
// -export (it needs KUBEBUILDER_ASSETS, or bin/), a ledger of that many
// deliveries is also written into an envtest API server, a batch of 1,000
// per append, and the plugin's `evidence export` of it is measured. With
// -fleet, the same deliveries are also the coordinator's ledger in a
// fleet bundle of three clusters, and `fleet evidence verify` of it is
// measured.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ops-dev/region-withdrawal-operator/hack/bench/internal/machine"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

var (
	withdrawal = evidence.Withdrawal{Namespace: "bes", Name: "pakistan", UID: "6f1c2a9e-3b1d-4c5e-9f00-2d7a8b1c0e11", ID: "bes/pakistan"}
	salt       = []byte("the benchmark's recipient salt")
	cutoff     = time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC)
)

func main() {
	n := flag.Int("statements", 1_000_000, "deliveries in the bundle verified streamed (the seal is one more)")
	v1 := flag.Int("v1", 100_000, "deliveries in the bundles of both formats compared (0: none)")
	every := flag.Int("every", 1000, "statements per checkpoint (the notify executor's batch)")
	export := flag.Int("export", 1_000_000, "deliveries in a ledger written into envtest and exported with the plugin (0: none)")
	fleet := flag.Bool("fleet", true, "also verify a fleet bundle of three clusters, the coordinator's ledger holding the -statements deliveries")
	writeTo := flag.String("write", "", "only write the bundles into this directory, with key.txt (used by the program itself)")
	flag.Parse()
	var err error
	if *writeTo != "" {
		err = writeBundles(*writeTo, plan(*n, *v1), *every, *fleet)
	} else {
		err = run(*n, *v1, *every, *export, *fleet)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// bundleRun is one bundle verified.
type bundleRun struct {
	label  string
	size   int // deliveries
	format string
}

func (r bundleRun) file(dir string) string {
	return filepath.Join(dir, fmt.Sprintf("%d-%s.bundle", r.size, filepath.Base(r.format)))
}

func plan(n, v1 int) []bundleRun {
	var runs []bundleRun
	if v1 > 0 {
		runs = append(runs, bundleRun{"first format (JSON, base64), read whole", v1, evidence.BundleFormatV1},
			bundleRun{"streamed (gzip JSON lines)", v1, evidence.BundleFormat})
	}
	return append(runs, bundleRun{"streamed (gzip JSON lines)", n, evidence.BundleFormat})
}

func run(n, v1, every, export int, fleet bool) error {
	ctx, runs := context.Background(), plan(n, v1)
	dir, err := os.MkdirTemp("", "rwo-bench-verify-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	plugin := filepath.Join(dir, "kubectl-withdrawal")
	build := exec.CommandContext(ctx, "go", "build", "-o", plugin, "./cmd/kubectl-withdrawal")
	build.Dir, build.Stderr = testenv.RepoRoot(), os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the plugin: %w", err)
	}
	fmt.Printf("verify benchmark: `kubectl withdrawal evidence verify` (the built plugin) on bundles of signed webhook deliveries, a checkpoint every %d, sealed\n", every)
	fmt.Printf("machine: %s\n\n", machine.Read(testenv.RepoRoot()))
	// The bundles are written by another process, so that this one, which
	// runs the plugin, stays small.
	self, err := os.Executable()
	if err != nil {
		return err
	}
	start := time.Now()
	args := []string{"-write", dir, "-every", strconv.Itoa(every), "-statements", strconv.Itoa(n), "-v1", strconv.Itoa(v1), "-fleet=" + strconv.FormatBool(fleet)}
	gen := exec.CommandContext(ctx, self, args...)
	gen.Stdout, gen.Stderr = os.Stdout, os.Stderr
	if err := gen.Run(); err != nil {
		return fmt.Errorf("writing the bundles: %w", err)
	}
	fmt.Printf("signed and wrote the bundles in %s (not measured below)\n\n", time.Since(start).Round(time.Second))
	key, err := os.ReadFile(filepath.Join(dir, "key.txt"))
	if err != nil {
		return err
	}

	fmt.Printf("%-44s %12s %12s %10s %12s %12s\n", "bundle", "statements", "bytes/stmt", "seconds", "stmts/s", "peak MiB")
	for _, r := range runs {
		file, statements := r.file(dir), r.size+1
		st, err := os.Stat(file)
		if err != nil {
			return err
		}
		m, err := verify(ctx, plugin, file, string(key), statements)
		if err != nil {
			return fmt.Errorf("%s of %d: %w", r.label, r.size, err)
		}
		perStatement := float64(st.Size()) / float64(statements)
		fmt.Printf("%-44s %12d %12.0f %10.1f %12.0f %12.1f\n", r.label, statements, perStatement, m.took.Seconds(), float64(statements)/m.took.Seconds(), m.peakMiB)
		if r == runs[len(runs)-1] {
			fmt.Printf("\nstreamed verify of %d statements: %.1fs, peak %.1f MiB, %.0f bytes per statement (goals: < 60 s: %v; < 256 MiB: %v)\n",
				statements, m.took.Seconds(), m.peakMiB, perStatement, m.took < time.Minute, m.peakMiB < 256)
		}
		_ = os.Remove(file)
	}
	if fleet {
		if err := verifyFleet(ctx, plugin, dir, n); err != nil {
			return err
		}
	}
	if export > 0 {
		return runExport(ctx, plugin, dir, export)
	}
	return nil
}

// writeBundles signs the deliveries once and writes each run's bundle, and
// the verifier key, into dir.
func writeBundles(dir string, runs []bundleRun, every int, fleet bool) error {
	s, err := evidence.NewSigner("withdrawal.ops.dev", evidence.GenerateSeed())
	if err != nil {
		return err
	}
	most := 0
	for _, r := range runs {
		most = max(most, r.size)
	}
	leaves, err := seal(s, most)
	if err != nil {
		return err
	}
	for _, r := range runs {
		b, err := bundleOf(s, withdrawal, leaves[:r.size], every)
		if err != nil {
			return err
		}
		if err := write(r.file(dir), b, r.format); err != nil {
			return err
		}
	}
	if fleet {
		if err := writeFleet(dir, s, leaves[:runs[len(runs)-1].size], every); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "key.txt"), []byte(s.VerifierKey()), 0o600)
}

// seal signs n deliveries on every core.
func seal(s *evidence.Signer, n int) ([][]byte, error) {
	leaves := make([][]byte, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				env, err := s.Seal(withdrawal, delivery(i))
				if err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					return
				}
				leaves[i] = env
			}
		})
	}
	wg.Wait()
	return leaves, first
}

// bundleOf is w's ledger of the statements, then the seal, with a
// checkpoint every `every` statements and after the last.
func bundleOf(s *evidence.Signer, w evidence.Withdrawal, deliveries [][]byte, every int) (*evidence.Bundle, error) {
	sealed, err := s.Seal(w, &evidence.LedgerSealed{Header: evidence.Header{At: cutoff}, Reason: evidence.SealCompleted})
	if err != nil {
		return nil, err
	}
	leaves := append(deliveries[:len(deliveries):len(deliveries)], sealed)
	var st evidence.State
	var cps [][]byte
	for i, l := range leaves {
		if err := st.Append(l); err != nil {
			return nil, err
		}
		if (i+1)%every == 0 || i == len(leaves)-1 {
			cp, err := s.SignCheckpoint(evidence.Origin(w), st)
			if err != nil {
				return nil, err
			}
			cps = append(cps, cp)
		}
	}
	return evidence.NewBundle(evidence.Origin(w), s.VerifierKey(), salt, leaves, cps)
}

func write(file string, b *evidence.Bundle, format string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	if format == evidence.BundleFormatV1 {
		v := *b
		v.Format = evidence.BundleFormatV1
		if err := json.NewEncoder(w).Encode(&v); err != nil {
			return err
		}
	} else if err := evidence.WriteBundle(w, b); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

type measured struct {
	took    time.Duration
	peakMiB float64
}

// verify runs the plugin on file and checks it verified all of it.
func verify(ctx context.Context, plugin, file, key string, statements int, extra ...string) (measured, error) {
	m, out, err := measure(ctx, plugin, append([]string{"evidence", "verify", file, "--key", key}, extra...)...)
	if err != nil {
		return m, fmt.Errorf("%w: %s", err, out)
	}
	want := fmt.Sprintf(": %s statements,", commas(statements))
	if !strings.Contains(out, want) || !strings.Contains(out, "all signatures valid") {
		return m, fmt.Errorf("the plugin's report does not say %q and all valid:\n%s", want, out)
	}
	return m, nil
}

func commas(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
