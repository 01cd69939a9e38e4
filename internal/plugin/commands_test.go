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
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }

// run runs the plugin against envtest in namespace ns and returns its output.
func run(t *testing.T, ns string, args ...string) (string, error) {
	t.Helper()
	return runWith(t, env.Config, ns, args...)
}

// runWith is run with the credentials in cfg.
func runWith(t *testing.T, cfg *rest.Config, ns string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	o := &Options{IOStreams: genericiooptions.IOStreams{Out: &out, ErrOut: &out}, Flags: genericclioptions.NewConfigFlags(true),
		Clock: clocktesting.NewFakeClock(beforeEverything)}
	o.NewClient = func() (client.WithWatch, error) {
		return client.NewWithWatch(cfg, client.Options{Scheme: scheme.New()})
	}
	o.OpenTiles = o.defaultOpenTiles
	cmd := newRootCommand(o)
	cmd.SetArgs(append(args, "--namespace", ns))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func setup(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	c := env.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	one := int32(1)
	if err := c.Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "messaging", Namespace: ns, Labels: map[string]string{"bes.example.com/region": "de"}},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "m"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "m"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "de-recipients", Namespace: ns},
		Data: map[string]string{"list.csv": "id,email\nc1,a@example.com\nc2,b@example.com\n"}}); err != nil {
		t.Fatal(err)
	}
	rw, err := readFile("testdata/berlin-dst.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rw.Namespace = ns
	if err := c.Create(ctx, rw); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, ns string) *v1.RegionWithdrawal {
	t.Helper()
	rw := &v1.RegionWithdrawal{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "germany"}, rw); err != nil {
		t.Fatal(err)
	}
	return rw
}

func TestPlanAgainstTheCluster(t *testing.T) {
	setup(t, "plan")
	out, err := run(t, "plan", "plan", "germany")
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, out)
	}
	for _, want := range []string{"notify: 2 recipients", "drain: Deployment plan/messaging", "routing: nothing matches the selectors", "HTTPRoute API (Gateway API) is not installed", "2026-03-29 03:00 CEST Sun"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
}

func TestSteeringCommands(t *testing.T) {
	setup(t, "steer")
	tests := []struct {
		name    string
		args    []string
		wantOut string
		wantErr string
		check   func(*v1.RegionWithdrawal) bool
	}{
		{name: "approve a step", args: []string{"approve", "germany", "drain"}, wantOut: "drain approved",
			check: func(rw *v1.RegionWithdrawal) bool {
				return len(rw.Spec.Approvals) == 1 && rw.Spec.Approvals[0].Step == v1.StepDrain && rw.Spec.Approvals[0].SpecDigest == planner.SpecDigest(&rw.Spec) && rw.Spec.Approvals[0].By != ""
			}},
		{name: "approving twice keeps one entry", args: []string{"approve", "germany", "drain"},
			check: func(rw *v1.RegionWithdrawal) bool { return len(rw.Spec.Approvals) == 1 }},
		{name: "an unknown step is refused", args: []string{"approve", "germany", "exfiltrate"}, wantErr: "unknown step"},
		{name: "suspend", args: []string{"suspend", "germany"}, wantOut: "suspended",
			check: func(rw *v1.RegionWithdrawal) bool { return rw.Spec.Suspend }},
		{name: "resume", args: []string{"resume", "germany"}, wantOut: "resumed",
			check: func(rw *v1.RegionWithdrawal) bool { return !rw.Spec.Suspend }},
		{name: "suspend -o jsonpath prints the object", args: []string{"suspend", "germany", "-o", "jsonpath={.kind}/{.spec.suspend}"}, wantOut: "RegionWithdrawal/true",
			check: func(rw *v1.RegionWithdrawal) bool { return rw.Spec.Suspend }},
		{name: "resume -o name", args: []string{"resume", "germany", "-o", "name"}, wantOut: "regionwithdrawal.withdrawal.ops.dev/germany\n",
			check: func(rw *v1.RegionWithdrawal) bool { return !rw.Spec.Suspend }},
		{name: "an unknown -o changes nothing", args: []string{"suspend", "germany", "-o", "bogus"}, wantErr: "output format",
			check: func(rw *v1.RegionWithdrawal) bool { return !rw.Spec.Suspend }},
		{name: "cancel with a reason", args: []string{"cancel", "germany", "--reason", "court order lifted"}, wantOut: "cancel requested",
			check: func(rw *v1.RegionWithdrawal) bool {
				return rw.Spec.Cancel && rw.Spec.CancelReason == "court order lifted" && !rw.Spec.AllowCancelAfterCutoff
			}},
		{name: "a missing withdrawal", args: []string{"suspend", "nowhere"}, wantErr: "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, "steer", tt.args...)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			case err != nil || !strings.Contains(out, tt.wantOut):
				t.Fatalf("out %q err %v, want %q", out, err, tt.wantOut)
			}
			if tt.check != nil && !tt.check(get(t, "steer")) {
				t.Fatalf("spec after %v: %+v", tt.args, get(t, "steer").Spec)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	setup(t, "status")
	rw := get(t, "status")
	started := metav1.NewTime(time.Date(2026, 3, 26, 9, 0, 0, 0, time.UTC))
	rw.Status = v1.RegionWithdrawalStatus{
		ObservedGeneration: rw.Generation, Phase: v1.PhaseInProgress, NextAction: "notify:reminder",
		NextActionAt: &metav1.Time{Time: time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)},
		Steps: []v1.StepStatus{{Name: v1.StepNotify, State: v1.StepRunning, StartedAt: &started, Progress: &v1.Progress{Done: 1, Total: 2}, Message: "sending"},
			// A message in Urdu, longer than a line: cut at a character.
			{Name: v1.StepDrain, State: v1.StepFailed, LastError: strings.Repeat("ڈرین\tناکام ہو گیا\n", 12)},
			{Name: v1.StepExport, State: v1.StepSucceeded, Export: &v1.ExportStatus{Targets: 4, Verified: 4, ManifestsRead: 4, Customers: 9998,
				Handoff: &v1.HandoffStatus{Links: 9998, Fetched: 4999, NotFetched: 4999, LastFetchAt: &started, ExpiresAt: &metav1.Time{Time: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}}}}},
		Conditions: []metav1.Condition{{Type: v1.ConditionDeadlineAtRisk, Status: metav1.ConditionTrue, Reason: v1.ReasonApprovalMissing,
			Message: "drain is not approved", LastTransitionTime: started}},
		Notify: &v1.NotifyStatus{
			Notices: []v1.NoticeStatus{{ID: "initial", Kind: v1.NoticeAnnouncement, ScheduledAt: started, StartedAt: &started,
				Recipients: 1200, Sent: 900, Failed: 7, Pending: 293},
				{ID: "reminder-20260327t0800z", Kind: v1.NoticeReminder, ScheduledAt: started, StartedAt: &started, FinishedAt: &started,
					Recipients: 600, Sent: 600, Excluded: 600}},
			Missed: []string{"final"},
		},
	}
	if err := env.Client.Status().Update(context.Background(), rw); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "status", "status", "germany")
	if err != nil {
		t.Fatal(err)
	}
	// The plugin's clock reads 2026-03-01 00:00 UTC; the cutoff is
	// 2026-04-01 12:00 in Berlin (10:00 UTC).
	if !utf8.ValidString(out) {
		t.Errorf("status is not valid UTF-8:\n%q", out)
	}
	for _, want := range []string{"cutoff 2026-04-01 12:00 CEST (in 31d 10h 0m)", "Phase: InProgress",
		"error: ڈرین ناکام ہو گیا ڈرین ناکام ہو گیا ڈرین ناکام ہو …\n",
		"Next:  notify:reminder at 2026-03-29 03:00 CEST (in 28d 1h 0m)", "notify  Running", "1/2",
		"NOTICE                   SCHEDULED             RECIPIENTS  SENT  FAILED  PENDING  STATE",
		"initial                  2026-03-26 10:00 CET  1200        900   7       293      sending",
		"Missed (due after the cutoff, not sent): final",
		"Exports: 4 of 4 verified; 9998 customers have their own archive (from 4 manifests)",
		"Handoff links: 9998; FETCHED 4999, NOT FETCHED 4999; last fetch 2026-03-26 10:00 CET; links expire 2026-05-01 12:00 CEST",
		"600         600   0       0        finished (600 left out: fetched)",
		"DeadlineAtRisk=True (ApprovalMissing): drain is not approved"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	out, err = run(t, "status", "status", "germany", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var obj v1.RegionWithdrawal
	if err := json.Unmarshal([]byte(out), &obj); err != nil || obj.Status.Phase != v1.PhaseInProgress || obj.Kind != "RegionWithdrawal" {
		t.Fatalf("status -o json: %v, %+v", err, obj)
	}
	out, err = run(t, "status", "status", "germany", "-o", "jsonpath={.status.phase}")
	if err != nil || out != string(v1.PhaseInProgress) {
		t.Fatalf("status -o jsonpath: %v, %q", err, out)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStatusWatch: status -w prints the status again on a change, and
// returns by itself when the withdrawal completes or is deleted; on one
// that has ended already it prints once and returns.
func TestStatusWatch(t *testing.T) {
	tests := []struct {
		name string
		args []string
		// end is what the test does to the withdrawal after its change
		// has been printed.
		end     func(t *testing.T, ns string)
		wantOut []string
	}{
		{name: "until it completes", args: []string{"status", "germany", "-w"},
			end: func(t *testing.T, ns string) {
				setStatus(t, ns, func(st *v1.RegionWithdrawalStatus) { st.Phase = v1.PhaseCompleted })
			},
			wantOut: []string{"Next:  round-1", "Phase: Completed"}},
		{name: "until it is deleted", args: []string{"status", "germany", "-w"},
			end: func(t *testing.T, ns string) {
				if err := env.Client.Delete(context.Background(), get(t, ns)); err != nil {
					t.Fatal(err)
				}
			},
			wantOut: []string{"Next:  round-1", "regionwithdrawal/germany deleted"}},
		{name: "through -o jsonpath", args: []string{"status", "germany", "-w", "-o", "jsonpath={.status.nextAction}{\"\\n\"}"},
			end: func(t *testing.T, ns string) {
				setStatus(t, ns, func(st *v1.RegionWithdrawalStatus) { st.Phase, st.NextAction = v1.PhaseCancelled, "round-2" })
			},
			wantOut: []string{"round-0\nround-1\nround-2\n"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := fmt.Sprintf("watch-%d", i)
			setup(t, ns)
			setStatus(t, ns, func(st *v1.RegionWithdrawalStatus) { st.Phase, st.NextAction = v1.PhaseInProgress, "round-0" })
			out := &syncBuffer{}
			o := &Options{IOStreams: genericiooptions.IOStreams{Out: out, ErrOut: out}, Flags: genericclioptions.NewConfigFlags(true),
				Clock: clocktesting.NewFakeClock(beforeEverything)}
			o.NewClient = func() (client.WithWatch, error) {
				return client.NewWithWatch(env.Config, client.Options{Scheme: scheme.New()})
			}
			cmd := newRootCommand(o)
			cmd.SetArgs(append(tt.args, "--namespace", ns))
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			done := make(chan error, 1)
			go func() { done <- cmd.ExecuteContext(ctx) }()

			// Once the first status is printed, a change made now is
			// printed whether or not the watch has opened yet: its list
			// sees it.
			waitFor(t, out, "round-0")
			setStatus(t, ns, func(st *v1.RegionWithdrawalStatus) { st.NextAction = "round-1" })
			waitFor(t, out, "round-1")
			tt.end(t, ns)
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("status -w = %v\n%s", err, out.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("status -w did not return\n%s", out.String())
			}
			for _, want := range tt.wantOut {
				if !strings.Contains(out.String(), want) {
					t.Errorf("status -w printed no %q:\n%s", want, out.String())
				}
			}
		})
	}
	// Ended already (by the first case): printed once, and no waiting.
	got, err := run(t, "watch-0", "status", "germany", "-w")
	if err != nil || strings.Count(got, "Phase: Completed") != 1 || !strings.Contains(got, "nothing more to follow") {
		t.Fatalf("status -w of a completed withdrawal = %v\n%s", err, got)
	}
}

// waitFor waits until out holds want.
func waitFor(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return strings.Contains(out.String(), want), nil
	}); err != nil {
		t.Fatalf("no %q in:\n%s", want, out.String())
	}
}

// complete runs cobra's hidden __complete command, as a shell (or kubectl's
// plugin completion) does, in namespace ns.
func complete(t *testing.T, ns string, args ...string) []string {
	t.Helper()
	var out bytes.Buffer
	o := &Options{IOStreams: genericiooptions.IOStreams{Out: &out, ErrOut: io.Discard}, Flags: genericclioptions.NewConfigFlags(true),
		Clock: clocktesting.NewFakeClock(beforeEverything)}
	o.NewClient = func() (client.WithWatch, error) {
		return client.NewWithWatch(env.Config, client.Options{Scheme: scheme.New()})
	}
	cmd := newRootCommand(o)
	cmd.SetOut(&out)
	cmd.SetArgs(append([]string{"__complete", "--namespace", ns}, args...))
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(out.String()), "\n")
}

// TestCompletion: names complete from the cluster, with region and phase;
// approve completes the steps still waiting for an approval; the shell is
// told not to offer files.
func TestCompletion(t *testing.T) {
	setup(t, "complete")
	const noFiles = ":4" // cobra.ShellCompDirectiveNoFileComp
	got := complete(t, "complete", "status", "ger")
	if len(got) != 2 || got[0] != "germany\tDE, -" || got[1] != noFiles {
		t.Fatalf("status ger<TAB> = %q", got)
	}
	if got := complete(t, "complete", "status", "x"); len(got) != 1 || got[0] != noFiles {
		t.Fatalf("status x<TAB> = %q, want nothing", got)
	}
	// The berlin sample requires approval of drain only.
	got = complete(t, "complete", "approve", "germany", "")
	if len(got) != 2 || !strings.HasPrefix(got[0], "drain\t") || got[1] != noFiles {
		t.Fatalf("approve germany <TAB> = %q", got)
	}
	if _, err := run(t, "complete", "approve", "germany", "drain"); err != nil {
		t.Fatal(err)
	}
	if got := complete(t, "complete", "approve", "germany", ""); len(got) != 1 || got[0] != noFiles {
		t.Fatalf("approve germany <TAB> after approving = %q, want nothing", got)
	}
	// The completion script itself.
	var script bytes.Buffer
	o := &Options{IOStreams: genericiooptions.IOStreams{Out: &script, ErrOut: &script}, Flags: genericclioptions.NewConfigFlags(true), Clock: clocktesting.NewFakeClock(beforeEverything)}
	cmd := newRootCommand(o)
	cmd.SetOut(&script)
	cmd.SetArgs([]string{"completion", "bash"})
	if err := cmd.Execute(); err != nil || !strings.Contains(script.String(), "__start_kubectl-withdrawal") {
		t.Fatalf("completion bash: %v\n%.300s", err, script.String())
	}
}
