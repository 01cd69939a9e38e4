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

// The demo's teardown (hack/demo.sh) has no Go package of its own; it is
// tested here, beside the demo's other program.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// standInCluster plays hack/local-cluster.sh: up starts a stand-in for the
// real node's daemons, in a session of its own as real-node.sh starts them,
// so that no signal to the terminal reaches it; down stops it. Like the real
// scripts, it logs to stderr under set -e, so a teardown that gives it a
// dead pipe for stderr stops it at its first line, the node left running.
const standInCluster = `#!/usr/bin/env bash
set -euo pipefail
log() { printf '[local-cluster] %s\n' "$*" >&2; }
case "$1" in
  up)
    setsid bash -c 'echo $$ >"$1"; exec sleep 600' node "$STATE/node.pid" </dev/null >/dev/null 2>&1 &
    for _ in $(seq 1 50); do [[ -s "$STATE/node.pid" ]] && break; sleep 0.1; done
    log "cluster is ready"
    echo "$STATE/kubeconfig.yaml"
    ;;
  load-images) ;;
  down)
    log "stopping the real node"
    # Time for a second signal to arrive in the middle of it.
    sleep 0.5
    pid="$(cat "$STATE/node.pid")"
    kill "$pid"
    # As real-node.sh does, wait until the node is gone.
    for _ in $(seq 1 50); do
      if [[ ! -e "/proc/$pid" ]] || grep -q ') Z ' "/proc/$pid/stat" 2>/dev/null; then break; fi
      sleep 0.1
    done
    log "cluster rwo-dev is down"
    echo down >"$STATE/down"
    ;;
esac
`

// demoWithStandIns runs hack/demo.sh's main with its trap and teardown,
// the stand-in cluster, and nothing that needs root or takes long. Its
// watch_withdrawal is a background process printing to stdout, as the
// status watch is; with DEMO_WRITES set, the demo's shell logs meanwhile.
const demoWithStandIns = `set -euo pipefail
source "$DEMO"
LOCAL_CLUSTER="$STATE/local-cluster.sh"
require_root() { :; }
build() { :; }
install_operator() { :; }
start_customers() { :; }
create_app() { :; }
create_withdrawal() { :; }
watch_withdrawal() {
  ( while :; do echo "[status] pakistan: Scheduled"; sleep 0.1; done ) &
  PIDS+=($!)
  echo $! >"$STATE/watch.pid"
  echo READY
  if [[ -n "${DEMO_WRITES:-}" ]]; then
    # The demo's own shell writes, as every step before the watch does.
    while :; do log "still building"; sleep 0.1; done
  fi
  wait "${PIDS[-1]}"
}
main
`

// makefile runs the demo as the Makefile's demo target does.
const makefile = `SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec
demo:
	DEMO_DRY_RUN=0 exec bash "$(STATE)/demo.sh"
`

// TestDemoTearsDownWhateverEndsIt runs the demo under make and ends it the
// ways a demo ends, and checks that the stand-in node and the watch are
// gone, and the teardown ran to its end and logged it.
func TestDemoTearsDownWhateverEndsIt(t *testing.T) {
	for _, tool := range []string{"bash", "setsid", "ps", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	demo, err := filepath.Abs("../demo.sh")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		// closeReader closes the reading end of the demo's output pipe
		// first, as Ctrl-C does to tee.
		closeReader bool
		// signals go, in order, to the process group of make and the demo
		// (as the terminal sends them) or to make alone, gap apart.
		signals []syscall.Signal
		group   bool
		gap     time.Duration
		// demoWrites has the demo's own shell write to its output too.
		demoWrites bool
	}{
		{name: "Ctrl-C on make demo | tee", closeReader: true, signals: []syscall.Signal{syscall.SIGINT}, group: true},
		{name: "Ctrl-C twice", closeReader: true, signals: []syscall.Signal{syscall.SIGINT, syscall.SIGINT}, group: true, gap: 250 * time.Millisecond},
		{name: "the terminal hangs up", closeReader: true, signals: []syscall.Signal{syscall.SIGHUP}, group: true},
		{name: "SIGTERM to make, which passes it on", signals: []syscall.Signal{syscall.SIGTERM}},
		// The demo gets it twice at once: from kill, and from make.
		{name: "SIGTERM to the process group", closeReader: true, signals: []syscall.Signal{syscall.SIGTERM}, group: true},
		{name: "the reader of its output goes away", closeReader: true},
		{name: "the reader goes away while the demo writes", closeReader: true, demoWrites: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			for name, content := range map[string]string{"local-cluster.sh": standInCluster, "demo.sh": demoWithStandIns, "Makefile": makefile} {
				if err := os.WriteFile(filepath.Join(state, name), []byte(content), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			logPath := filepath.Join(state, "teardown.log")
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("make", "-s", "-f", filepath.Join(state, "Makefile"), "demo")
			cmd.Env = append(os.Environ(), "DEMO="+demo, "STATE="+state, "DEMO_TEARDOWN_LOG="+logPath, "TMPDIR="+state)
			if tc.demoWrites {
				cmd.Env = append(cmd.Env, "DEMO_WRITES=1")
			}
			cmd.Stdout, cmd.Stderr = w, w
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			w.Close()
			node := 0
			t.Cleanup(func() {
				// Whatever the teardown left, the test does not.
				if node > 0 {
					_ = syscall.Kill(node, syscall.SIGKILL)
				}
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			})

			lines := make(chan string, 1000)
			go func() {
				defer close(lines)
				sc := bufio.NewScanner(r)
				for sc.Scan() {
					lines <- sc.Text()
				}
			}()
			waitForLine(t, lines, "READY")
			node = readPid(t, filepath.Join(state, "node.pid"))
			watch := readPid(t, filepath.Join(state, "watch.pid"))

			if tc.closeReader {
				r.Close()
			}
			for i, sig := range tc.signals {
				if i > 0 {
					time.Sleep(tc.gap)
				}
				pid := cmd.Process.Pid
				if tc.group {
					pid = -pid
				}
				if err := syscall.Kill(pid, sig); err != nil {
					t.Fatalf("sending %v: %v", sig, err)
				}
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the demo did not end within 30 s")
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Errorf("the demo ended with %v, want a failing exit status", err)
			}

			teardownLog, _ := os.ReadFile(logPath)
			for _, p := range []struct {
				what string
				pid  int
			}{{"the stand-in node", node}, {"the status watch", watch}} {
				if running(p.pid) {
					t.Errorf("%s (pid %d) still runs after the demo ended; teardown log:\n%s", p.what, p.pid, teardownLog)
				}
			}
			if left, _ := filepath.Glob(filepath.Join(state, "rwo-demo-*")); len(left) > 0 {
				t.Errorf("the demo's work directory is left: %v", left)
			}
			if _, err := os.Stat(filepath.Join(state, "down")); err != nil {
				t.Errorf("the cluster's down did not finish (%v); teardown log:\n%s", err, teardownLog)
			}
			for _, want := range []string{"[local-cluster] cluster rwo-dev is down", "[demo] stopped"} {
				if !strings.Contains(string(teardownLog), want) {
					t.Errorf("the teardown log lacks %q:\n%s", want, teardownLog)
				}
			}
			if !tc.closeReader {
				// Whoever still reads the demo's output sees the teardown.
				var seen []string
				for l := range lines {
					seen = append(seen, l)
				}
				if !strings.Contains(strings.Join(seen, "\n"), "[local-cluster] cluster rwo-dev is down") {
					t.Errorf("the reader did not see the teardown; it saw:\n%s", strings.Join(seen, "\n"))
				}
			}
		})
	}
}

func waitForLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the demo's output ended before %q", want)
			}
			if l == want {
				return
			}
		case <-deadline:
			t.Fatalf("no %q from the demo within 30 s", want)
		}
	}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pid
}

// running says whether a process runs: it exists and is not a zombie
// waiting to be reaped.
func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
