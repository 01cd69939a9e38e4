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

// Command cutoff451 measures what a customer sees at the cutoff: the time
// from the cutoff until a client on this machine gets HTTP 451 through the
// real node's ingress controller (Traefik, with its default settings), the
// first client and every client. Each run is the real-node withdrawal test
// (test/e2e/realnode): the operator installed by Helm on the real node,
// 16 clients sending a request every 25 ms each through the ingress from
// five seconds before the cutoff. It needs root, as the real node does.
//
//	go run ./hack/bench/cutoff451 [-runs 2]
//
// The Ingress object switching is not the cutoff as a customer sees it:
// the answer is, so the figures include the ingress controller noticing the
// change and the notice backend's pods becoming ready.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ops-dev/region-withdrawal-operator/internal/stats"
	"github.com/ops-dev/region-withdrawal-operator/test/e2e/realnode"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

func main() {
	runs := flag.Int("runs", 2, "how many withdrawals to carry out, one after another")
	flag.Parse()
	if err := run(*runs); err != nil {
		fmt.Fprintln(os.Stderr, "cutoff451:", err)
		os.Exit(1)
	}
}

func run(runs int) error {
	dir, err := os.MkdirTemp("", "cutoff451-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var first, every []time.Duration
	for i := 1; i <= runs; i++ {
		out := filepath.Join(dir, fmt.Sprintf("run-%d.json", i))
		cmd := exec.Command("go", "test", "-tags=e2e", "./test/e2e/realnode", "-run", "^TestWithdrawalOnARealNode$", "-count=1", "-v", "-timeout=15m")
		cmd.Dir = testenv.RepoRoot()
		cmd.Env = append(os.Environ(), "RWO_REALNODE_FIGURES="+out, "PATH="+filepath.Join(testenv.RepoRoot(), "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("run %d: the real-node withdrawal failed: %w", i, err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			return fmt.Errorf("run %d wrote no figures: %w", i, err)
		}
		var f realnode.Figures
		if err := json.Unmarshal(b, &f); err != nil {
			return err
		}
		first = append(first, time.Duration(f.FirstMillis)*time.Millisecond)
		every = append(every, time.Duration(f.EveryMillis)*time.Millisecond)
		fmt.Printf("run %d: %d clients, a request every %d ms each: first 451 %d ms after the cutoff; clients p50 %d ms, p99 %d ms, every client %d ms; answers after the cutoff: %s\n",
			i, f.Clients, f.PaceMillis, f.FirstMillis, f.P50Millis, f.P99Millis, f.EveryMillis, statuses(f.AfterCutoff))
	}
	fmt.Printf("cutoff -> first client 451 over %d runs: %s\n", runs, stats.Summary(first))
	fmt.Printf("cutoff -> every client 451 over %d runs: %s\n", runs, stats.Summary(every))
	return nil
}

func statuses(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s x%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
