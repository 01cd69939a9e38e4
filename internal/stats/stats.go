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

// Package stats summarises the latencies the benchmark programs measure.
package stats

import (
	"fmt"
	"slices"
	"time"
)

// Quantile returns the p-quantile (0..1) of ds by nearest rank below,
// rounded to the millisecond. ds must not be empty; it is not modified.
func Quantile(ds []time.Duration, p float64) time.Duration {
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	return sorted[int(float64(len(sorted)-1)*p)].Round(time.Millisecond)
}

// Summary formats the p50, p99 and max of ds as the benchmark report reads
// them: "p50 …, p99 …, max …".
func Summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "p50 -, p99 -, max -"
	}
	return fmt.Sprintf("p50 %s, p99 %s, max %s", Quantile(ds, 0.50), Quantile(ds, 0.99), Quantile(ds, 1))
}
