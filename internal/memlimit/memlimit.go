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

// Package memlimit sets the Go runtime's soft memory limit from the
// container's memory limit (its cgroup's), so that the garbage collector
// works harder as the process nears the limit instead of letting the heap
// double past it and the kernel kill the process. A notice to a million
// recipients holds more live state than one to a thousand; without a soft
// limit the heap grows to twice what is live before a collection.
package memlimit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// Files where the container's memory limit is read, in order: cgroup v2,
// then v1. A v1 limit this high or higher means none.
const (
	cgroupV2  = "sys/fs/cgroup/memory.max"
	cgroupV1  = "sys/fs/cgroup/memory/memory.limit_in_bytes"
	v1NoLimit = 1 << 62
)

// ContainerLimit reads the memory limit of the cgroup the process runs in,
// under root ("/" on a node). ok is false when there is none.
func ContainerLimit(root string) (limit int64, ok bool, err error) {
	for _, name := range []string{cgroupV2, cgroupV1} {
		b, err := os.ReadFile(filepath.Join(root, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, false, err
		}
		v := strings.TrimSpace(string(b))
		if v == "max" {
			return 0, false, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("%s: %q is not a number of bytes", name, v)
		}
		return n, n > 0 && n < v1NoLimit, nil
	}
	return 0, false, nil
}

// Apply sets the soft memory limit to ratio of the container's limit read
// under root, unless GOMEMLIMIT is set (the runtime has read it) or ratio
// is 0. It returns the limit it set, 0 when it set none.
func Apply(root string, ratio float64) (int64, error) {
	if ratio <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return 0, nil
	}
	if ratio > 1 {
		return 0, fmt.Errorf("a ratio of %.2f of the container's memory limit is over it", ratio)
	}
	limit, ok, err := ContainerLimit(root)
	if err != nil || !ok {
		return 0, err
	}
	soft := int64(float64(limit) * ratio)
	debug.SetMemoryLimit(soft)
	return soft, nil
}
