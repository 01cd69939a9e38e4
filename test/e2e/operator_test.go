//go:build e2e

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

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

// goBinary is a command of this module built once for the whole package,
// in the cluster's directory, which its reaper removes too if the package
// dies past -timeout.
type goBinary struct {
	name, pkg string
	once      sync.Once
	path      string
	err       error
}

func (b *goBinary) build(t *testing.T) string {
	t.Helper()
	b.once.Do(func() {
		dir, err := os.MkdirTemp(kwok.Dir, "bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, b.name)
		build := exec.Command("go", "build", "-o", b.path, b.pkg)
		build.Dir = testenv.RepoRoot()
		if out, err := build.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("building %s: %w\n%s", b.name, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

var operatorBuild = &goBinary{name: "region-withdrawal-operator", pkg: "."}

// operatorBinary builds the operator once for the whole package.
func operatorBinary(t *testing.T) string {
	t.Helper()
	return operatorBuild.build(t)
}

// operatorProcess is the operator binary running against the simulated
// cluster. The chaos tests kill it and start it again; like a kubelet, it
// is also restarted when it exits by itself (leader election lost while the
// API server is down), and those exits are counted.
type operatorProcess struct {
	t    *testing.T
	name string
	args []string
	out  *syncBuffer

	mu         sync.Mutex
	cmd        *exec.Cmd
	done       chan struct{}
	mark       int  // where this run's output starts in out
	expectExit bool // stop was called: the exit is ours
	closed     bool // the test is over: never restart
	selfExits  int
}

// startOperator runs the operator against the simulated cluster and stops
// it when the test ends.
func startOperator(t *testing.T, args ...string) *operatorProcess {
	t.Helper()
	return startNamedOperator(t, "operator", args...)
}

func startNamedOperator(t *testing.T, name string, args ...string) *operatorProcess {
	t.Helper()
	p := &operatorProcess{t: t, name: name, out: &syncBuffer{},
		// The tests' receivers listen on loopback, which the operator
		// refuses to dial unless allowed.
		args: append([]string{"--kubeconfig", kwok.Kubeconfig, "--metrics-bind-address=0", "--health-probe-bind-address=0", "--egress-allow-cidrs=127.0.0.0/8",
			// The compressed scenario sends minutely reminders.
			"--min-reminder-spacing=1m"}, args...)}
	operatorBinary(t)
	p.start()
	t.Cleanup(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("%s output:\n%s", p.name, p.out.String())
		}
	})
	return p
}

func (p *operatorProcess) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.startLocked()
}

func (p *operatorProcess) startLocked() {
	cmd := exec.Command(operatorBuild.path, p.args...)
	cmd.Stdout, cmd.Stderr = p.out, p.out
	p.mark = p.out.Len()
	if err := cmd.Start(); err != nil {
		p.t.Errorf("starting %s: %v", p.name, err)
		return
	}
	done := make(chan struct{})
	p.cmd, p.done, p.expectExit = cmd, done, false
	go func() {
		err := cmd.Wait()
		close(done)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.expectExit || p.closed || p.cmd != cmd {
			return
		}
		p.selfExits++
		fmt.Fprintf(p.out, "[e2e] %s exited by itself (%v); restarting it in 1s\n", p.name, err)
		time.AfterFunc(time.Second, func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			// Not if the test stopped it meanwhile: it starts it itself,
			// and a second process would escape stop.
			if !p.closed && !p.expectExit && p.cmd == cmd {
				p.startLocked()
			}
		})
	}()
}

// stop sends sig and waits for the process to exit (SIGKILL after 30s).
func (p *operatorProcess) stop(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.expectExit = true
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// leading says whether this run of the process holds the leader lease.
func (p *operatorProcess) leading() bool {
	p.mu.Lock()
	mark, running := p.mark, p.cmd != nil && !p.expectExit
	p.mu.Unlock()
	out := p.out.String()
	// controller-runtime logs "Successfully acquired lease", client-go's
	// klog "successfully acquired lease".
	return running && len(out) >= mark && strings.Contains(strings.ToLower(out[mark:]), "successfully acquired lease")
}

func (p *operatorProcess) exitsByItself() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.selfExits
}

// syncBuffer is a buffer safe for the process's writes and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(b)
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestOperatorRunsACompressedWithdrawal runs the operator binary on the
// simulated cluster through the whole Pakistan withdrawal squeezed into
// two and a half minutes, with nothing going wrong: notices by webhook and
// email, an export, a batched drain that empties the EndpointSlices before
// the cutoff, and routing switched to the 451 notice backend at the cutoff.
// The chaos tests run the same scenario with faults.
func TestOperatorRunsACompressedWithdrawal(t *testing.T) {
	runScenario(t, scenario{name: "operator-e2e", routingBound: 5 * time.Second})
}

func stepOf(rw *v1.RegionWithdrawal, name v1.StepName) v1.StepStatus {
	for _, s := range rw.Status.Steps {
		if s.Name == name {
			return s
		}
	}
	return v1.StepStatus{}
}
