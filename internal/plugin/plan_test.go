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
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// TestPlanNeverTruncatesForMachines: an hourly reminder over a month is
// about 700 reminders. The text plan sums up those past the sixtieth
// unless --all; the JSON plan always lists every one.
func TestPlanNeverTruncatesForMachines(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", "pakistan.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	hourly := filepath.Join(t.TempDir(), "hourly.yaml")
	if err := os.WriteFile(hourly, bytes.Replace(b, []byte(`schedule: "0 9 * * MON"`), []byte(`schedule: "0 * * * *"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := func(args ...string) string {
		var out bytes.Buffer
		cmd := newRootCommand(&Options{IOStreams: genericiooptions.IOStreams{Out: &out, ErrOut: &out},
			Flags: genericclioptions.NewConfigFlags(true), Clock: clocktesting.NewFakeClock(beforeEverything)})
		cmd.SetArgs(append([]string{"plan", "-f", hourly}, args...))
		if err := cmd.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("plan %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	var p Plan
	if err := json.Unmarshal([]byte(plan("-o", "json")), &p); err != nil {
		t.Fatal(err)
	}
	reminders := 0
	for _, e := range p.Timeline {
		if e.Action == "notify:reminder" {
			reminders++
			if strings.Contains(e.Note, "more") {
				t.Fatalf("the JSON plan sums up reminders: %+v", e)
			}
		}
	}
	// 29 days of hourly slots between the announcement and the final notice.
	if reminders < 29*24-2 || reminders > 29*24+2 {
		t.Fatalf("the JSON plan lists %d reminders, want every hourly slot (about %d)", reminders, 29*24)
	}
	text := plan()
	if n := strings.Count(text, "notify:reminder"); n != 61 || !strings.Contains(text, fmt.Sprintf("and %d more reminders to the final notice (--all lists them)", reminders-60)) {
		t.Fatalf("the text plan has %d reminder lines:\n%s", n, text)
	}
	if n := strings.Count(plan("--all"), "notify:reminder"); n != reminders {
		t.Fatalf("plan --all lists %d reminders, want %d", n, reminders)
	}
}

func TestTimeLeft(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Second:                                  "now",
		-30 * time.Second:                                 "now",
		90 * time.Second:                                  "in 1m",
		2*time.Hour + 5*time.Minute:                       "in 2h 5m",
		3*24*time.Hour + 59*time.Second:                   "in 3d 0h 0m",
		-(26*time.Hour + 30*time.Minute + 10*time.Second): "1d 2h 30m ago",
	} {
		if got := timeLeft(d); got != want {
			t.Errorf("timeLeft(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestCompletionHelperName(t *testing.T) {
	for argv0, want := range map[string]bool{
		"/usr/local/bin/kubectl_complete-withdrawal": true,
		`C:\bin\kubectl_complete-withdrawal.exe`:     false, // a Windows path is not split on Linux
		"kubectl_complete-withdrawal.exe":            true,
		"/usr/local/bin/kubectl-withdrawal":          false,
	} {
		if got := CompletionHelper(argv0); got != want {
			t.Errorf("CompletionHelper(%q) = %v, want %v", argv0, got, want)
		}
	}
}
