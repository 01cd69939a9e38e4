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

package memlimit

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func write(t *testing.T, root, name, content string) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTheContainersLimitIsRead(t *testing.T) {
	for _, tc := range []struct {
		name, file, content string
		want                int64
		ok, err             bool
	}{
		{name: "cgroup v2", file: cgroupV2, content: "268435456\n", want: 256 << 20, ok: true},
		{name: "cgroup v2 without a limit", file: cgroupV2, content: "max\n"},
		{name: "cgroup v1", file: cgroupV1, content: "536870912\n", want: 512 << 20, ok: true},
		{name: "cgroup v1 without a limit", file: cgroupV1, content: "9223372036854771712\n"},
		{name: "no cgroup files"},
		{name: "garbage", file: cgroupV2, content: "lots\n", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.file != "" {
				write(t, root, tc.file, tc.content)
			}
			got, ok, err := ContainerLimit(root)
			if (err != nil) != tc.err || ok != tc.ok || (ok && got != tc.want) {
				t.Errorf("ContainerLimit = %d, %v, %v; want %d, %v, error %v", got, ok, err, tc.want, tc.ok, tc.err)
			}
		})
	}
}

func TestApplySetsTheSoftLimitUnderTheContainers(t *testing.T) {
	if os.Getenv("GOMEMLIMIT") != "" {
		t.Skip("GOMEMLIMIT is set for this process, which Apply leaves alone")
	}
	defer debug.SetMemoryLimit(math.MaxInt64)
	root := t.TempDir()
	write(t, root, cgroupV2, "268435456\n")
	got, err := Apply(root, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(241591910); got != want || debug.SetMemoryLimit(-1) != want {
		t.Errorf("Apply set %d (runtime: %d), want %d", got, debug.SetMemoryLimit(-1), want)
	}
	if got, err := Apply(root, 0); got != 0 || err != nil {
		t.Errorf("a ratio of 0: %d, %v; want no limit set", got, err)
	}
	if _, err := Apply(root, 1.5); err == nil {
		t.Error("a ratio over 1 was taken")
	}
}
