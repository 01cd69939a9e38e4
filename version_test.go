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
	"io"
	"os"
	"strings"
	"testing"
)

// TestVersionSubcommand: `region-withdrawal-operator version` prints the
// version a release sets, and the API version it serves.
func TestVersionSubcommand(t *testing.T) {
	saved, stdout := Version, os.Stdout
	t.Cleanup(func() { Version, os.Stdout = saved, stdout })
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	Version, os.Stdout = "v9.8.7", w
	if err := subcommands["version"](nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	out, _ := io.ReadAll(r)
	if got := strings.TrimSpace(string(out)); got != "region-withdrawal-operator v9.8.7 (API withdrawal.ops.dev/v1alpha1)" {
		t.Fatalf("version printed %q", got)
	}
	if err := subcommands["version"]([]string{"--json"}); err == nil {
		t.Fatal("version took an argument")
	}
}
