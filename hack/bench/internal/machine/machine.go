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

// Package machine describes the machine a benchmark runs on, from /proc,
// /etc/os-release and the pinned binaries in bin/, so that figures are
// never quoted without the hardware and versions they were measured on.
package machine

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Info is what a benchmark report says about the machine.
type Info struct {
	CPU           string // model name of the first processor
	Cores         int    // logical CPUs this process may use
	MemoryGiB     float64
	Kernel        string
	OS            string // PRETTY_NAME of /etc/os-release
	Go            string
	KubeAPIServer string // bin/kube-apiserver --version
}

// Read collects Info; repoRoot locates bin/kube-apiserver. A field that
// cannot be read says "unknown" rather than failing the benchmark.
func Read(repoRoot string) Info {
	return Info{
		CPU:           cpuModel(),
		Cores:         runtime.NumCPU(),
		MemoryGiB:     memTotalGiB(),
		Kernel:        firstLine("/proc/sys/kernel/osrelease"),
		OS:            osRelease(),
		Go:            runtime.Version(),
		KubeAPIServer: apiServerVersion(repoRoot),
	}
}

// String is one line, as the benchmarks print it.
func (i Info) String() string {
	return fmt.Sprintf("%s, %d cores, %.1f GiB, Linux %s, %s, %s, kube-apiserver %s",
		i.CPU, i.Cores, i.MemoryGiB, i.Kernel, i.OS, i.Go, i.KubeAPIServer)
}

// LoadAverage returns the 1, 5 and 15 minute load averages as written in
// /proc/loadavg; on a shared machine it says how quiet the run was.
func LoadAverage() string {
	f := strings.Fields(firstLine("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func memTotalGiB() float64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kib, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kib / (1 << 20)
		}
	}
	return 0
}

func osRelease() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "unknown"
}

// apiServerVersion asks bin/kube-apiserver. Built from source by
// hack/tools.sh, it has no version stamped in and says v0.0.0-master; the
// version it was built at is then the one hack/tools.sh recorded.
func apiServerVersion(repoRoot string) string {
	out, err := exec.Command(filepath.Join(repoRoot, "bin", "kube-apiserver"), "--version").Output()
	if err != nil {
		return "unknown"
	}
	// "Kubernetes v1.37.2"
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return "unknown"
	}
	v := f[len(f)-1]
	if strings.HasPrefix(v, "v0.0.0") {
		if stamp := firstLine(filepath.Join(repoRoot, "bin", ".stamp", "kube-apiserver")); stamp != "unknown" {
			return stamp + " (built from source by hack/tools.sh)"
		}
	}
	return v
}

func firstLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line)
}
