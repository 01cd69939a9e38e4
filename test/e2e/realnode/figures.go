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

package realnode

// Figures are what the customers' clients saw at the cutoff of one run of
// TestWithdrawalOnARealNode, written as JSON to the file named by
// RWO_REALNODE_FIGURES (hack/bench/cutoff451 reads it).
type Figures struct {
	Clients int `json:"clients"`
	// PaceMillis is the pause between one client's requests.
	PaceMillis int64 `json:"paceMillis"`
	// FirstMillis: from the cutoff to the first 451 any client got.
	FirstMillis int64 `json:"firstMillis"`
	// P50Millis, P99Millis, EveryMillis: from the cutoff until a client gets
	// only 451 (its first 451 after its last other answer), over clients.
	P50Millis   int64 `json:"p50Millis"`
	P99Millis   int64 `json:"p99Millis"`
	EveryMillis int64 `json:"everyMillis"`
	// AfterCutoff counts the answers to requests sent after the cutoff, by
	// status ("error" for no answer).
	AfterCutoff map[string]int `json:"afterCutoff"`
}
