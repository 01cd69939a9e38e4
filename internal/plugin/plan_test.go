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

package plugin

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// beforeEverything is an instant before both sample timelines start.
var beforeEverything = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func TestPlanOfflineGolden(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		output string
		golden string
	}{
		{name: "the Pakistan sample", file: filepath.Join(testenv.RepoRoot(), "config", "samples", "pakistan.yaml"), golden: "plan-pakistan.txt"},
		{name: "a timeline across the spring-forward change", file: "testdata/berlin-dst.yaml", golden: "plan-berlin-dst.txt"},
		{name: "as JSON", file: "testdata/berlin-dst.yaml", output: "json", golden: "plan-berlin-dst.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			cmd := newRootCommand(&Options{IOStreams: genericiooptions.IOStreams{Out: &out, ErrOut: &out},
				Flags: genericclioptions.NewConfigFlags(true), Clock: clocktesting.NewFakeClock(beforeEverything)})
			args := []string{"plan", "-f", tt.file}
			if tt.output != "" {
				args = append(args, "-o", tt.output)
			}
			cmd.SetArgs(args)
			if err := cmd.ExecuteContext(context.Background()); err != nil {
				t.Fatalf("plan: %v\n%s", err, out.String())
			}
			golden := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/plugin -run TestPlanOfflineGolden -update)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Fatalf("plan output differs from %s:\n--- got\n%s\n--- want\n%s", golden, out.String(), want)
			}
		})
	}
}
