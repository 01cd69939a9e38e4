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
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

// userHZ is the unit of utime and stime in /proc/PID/stat: USER_HZ, which
// the kernel fixes at 100 for every process on Linux.
const userHZ = 100

// buildOperator builds the operator binary from the repository, as
// `go build -o DIR/region-withdrawal-operator .` would.
func buildOperator(dir string) (string, error) {
	bin := filepath.Join(dir, "region-withdrawal-operator")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the operator: %w\n%s", err, out)
	}
	return bin, nil
}

// operator is the operator binary running against the simulated cluster,
// with its metrics served over plain HTTP on a loopback port.
type operator struct {
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
	metrics string
}

// startOperator runs the binary with main.go's defaults, except for the
// metrics endpoint (loopback, plain HTTP, so that it can be scraped without
// a token) and the health probes (off), and waits until its controller has
// synced its caches and started its workers.
func startOperator(ctx context.Context, bin, kubeconfig, logPath string, extra []string) (*operator, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	args := append([]string{
		"--kubeconfig", kubeconfig,
		"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(port), "--metrics-secure=false",
		"--health-probe-bind-address=0",
	}, extra...)
	o := &operator{cmd: exec.Command(bin, args...), done: make(chan struct{}), logPath: logPath,
		metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", port)}
	o.cmd.Stdout, o.cmd.Stderr = logf, logf
	if err := o.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = o.cmd.Wait(); close(o.done) }()
	if err := o.waitStarted(ctx, 2*time.Minute); err != nil {
		_ = o.stop()
		return nil, err
	}
	return o, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitStarted waits for controller-runtime's "Starting workers" line of the
// regionwithdrawal controller, which it logs once every informer it needs
// has synced, and for the metrics endpoint to answer.
func (o *operator) waitStarted(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-o.done:
			return fmt.Errorf("the operator exited at start-up:\n%s", o.logTail(30))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		b, err := os.ReadFile(o.logPath)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "Starting workers") && strings.Contains(line, `"regionwithdrawal"`) {
				_, err := o.scrape()
				if err == nil {
					return nil
				}
			}
		}
	}
	return fmt.Errorf("the operator did not start its workers within %s:\n%s", timeout, o.logTail(30))
}

// stop sends SIGTERM and waits for the process to exit, with SIGKILL after
// 30 s.
func (o *operator) stop() error {
	_ = o.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-o.done:
		return nil
	case <-time.After(30 * time.Second):
		_ = o.cmd.Process.Kill()
		<-o.done
		return errors.New("the operator did not exit within 30s of SIGTERM and was killed")
	}
}

// logTail returns the last n lines of the operator's output.
func (o *operator) logTail(n int) string {
	b, _ := os.ReadFile(o.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// scrape reads the metrics endpoint into series -> value, where a series
// is the metric name with its labels as exposed, e.g.
// controller_runtime_reconcile_total{controller="regionwithdrawal",result="success"}.
func (o *operator) scrape() (metrics, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.metrics, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", o.metrics, resp.Status)
	}
	return parseMetrics(resp.Body)
}

type metrics map[string]float64

func parseMetrics(r io.Reader) (metrics, error) {
	m := metrics{}
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		line := s.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, s.Err()
}

// sum adds up every series of the metric name whose labels contain each of
// the given label="value" strings.
func (m metrics) sum(name string, labels ...string) float64 {
	total := 0.0
	for series, v := range m {
		base, rest, _ := strings.Cut(series, "{")
		if base != name {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(rest, l)
		}
		if ok {
			total += v
		}
	}
	return total
}

// reconciles is controller-runtime's count of the controller's reconciles.
func (m metrics) reconciles() float64 {
	return m.sum("controller_runtime_reconcile_total", `controller="regionwithdrawal"`)
}

// usage is what the kernel says about a process at one instant.
type usage struct {
	at       time.Time
	cpuTicks int64 // utime + stime, in 1/userHZ s
	rssKiB   int64 // VmRSS
	hwmKiB   int64 // VmHWM: peak RSS since start or since resetPeak
}

func (o *operator) usage() (usage, error) {
	pid := o.cmd.Process.Pid
	u := usage{at: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// The command name, in parentheses, may contain spaces: count fields
	// after its closing parenthesis. utime and stime are fields 14 and 15
	// of the line, so 12 and 13 after "pid (comm)".
	i := strings.LastIndexByte(string(stat), ')')
	f := strings.Fields(string(stat)[i+1:])
	if len(f) < 13 {
		return u, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return u, err
	}
	u.cpuTicks = ut + st
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			u.rssKiB = kib
		case "VmHWM":
			u.hwmKiB = kib
		}
	}
	return u, nil
}

// resetPeak resets the process's VmHWM to its current RSS ("5" to
// /proc/PID/clear_refs), so that the next reading is the peak of a phase.
func (o *operator) resetPeak() error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", o.cmd.Process.Pid), []byte("5"), 0)
}

// cpuPercent is the CPU time used between two readings as a percentage of
// one core over the wall time between them.
func cpuPercent(a, b usage) float64 {
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return 0
	}
	return float64(b.cpuTicks-a.cpuTicks) / userHZ / wall * 100
}

func mib(kib int64) float64 { return float64(kib) / 1024 }
