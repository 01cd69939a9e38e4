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
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clocktesting "k8s.io/utils/clock/testing"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// TestFleetStatusReadsEveryContext writes a kubeconfig of three contexts,
// as a platform engineer's would be: two clusters' copies (here two
// namespaces of one real API server, each context naming its own) and a
// cluster that does not answer. fleet status reads each through the
// kubeconfig, puts the unreachable and the stalled first, and gives each
// cut time and the spread.
func TestFleetStatusReadsEveryContext(t *testing.T) {
	setup(t, "fleet-core")
	setup(t, "fleet-edge")
	cutoff := get(t, "fleet-core").Spec.Cutoff.Time
	cut := func(after time.Duration) func(*v1.RegionWithdrawalStatus) {
		return func(st *v1.RegionWithdrawalStatus) {
			at := metav1.NewTime(cutoff.Add(after))
			st.Phase = v1.PhaseCompleted
			st.Steps = []v1.StepStatus{{Name: v1.StepRouting, State: v1.StepSucceeded, StartedAt: &at, FinishedAt: &at}}
			st.Conditions = []metav1.Condition{{Type: v1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Completed", LastTransitionTime: at}}
		}
	}
	setStatus(t, "fleet-core", cut(time.Second))
	setStatus(t, "fleet-edge", func(st *v1.RegionWithdrawalStatus) {
		cut(3 * time.Second)(st)
		st.Fleet = &v1.FleetStatus{Role: v1.FleetMember, ClockOffset: &metav1.Duration{Duration: 4 * time.Millisecond}, ClockOffsetWithin: &metav1.Duration{Duration: 5 * time.Millisecond}}
		st.Conditions = append(st.Conditions, metav1.Condition{Type: v1.ConditionStalled, Status: metav1.ConditionTrue, Reason: "PermissionDenied",
			Message: "cannot patch\ningresses", LastTransitionTime: metav1.Now()})
	})

	kc := clientcmdapi.NewConfig()
	kc.Clusters["real"] = &clientcmdapi.Cluster{Server: env.Config.Host, CertificateAuthorityData: env.Config.CAData}
	kc.Clusters["gone"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1", InsecureSkipTLSVerify: true}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: env.Config.CertData, ClientKeyData: env.Config.KeyData, Token: env.Config.BearerToken}
	kc.Contexts["pk-core"] = &clientcmdapi.Context{Cluster: "real", AuthInfo: "admin", Namespace: "fleet-core"}
	kc.Contexts["pk-edge-1"] = &clientcmdapi.Context{Cluster: "real", AuthInfo: "admin", Namespace: "fleet-edge"}
	kc.Contexts["pk-edge-2"] = &clientcmdapi.Context{Cluster: "gone", AuthInfo: "admin", Namespace: "fleet-edge"}
	kc.CurrentContext = "pk-core"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	o := &Options{IOStreams: genericiooptions.IOStreams{Out: &out, ErrOut: &out}, Flags: genericclioptions.NewConfigFlags(true),
		Clock: clocktesting.NewFakeClock(beforeEverything)}
	o.NewClientFor = o.defaultClientFor
	cmd := newRootCommand(o)
	cmd.SetArgs([]string{"fleet", "status", "germany", "--kubeconfig", path})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("fleet status: %v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	space := regexp.MustCompile(`\s+`)
	for i := range lines {
		lines[i] = space.ReplaceAllString(lines[i], " ")
	}
	t.Log("\n" + out.String())
	want := []*regexp.Regexp{
		regexp.MustCompile(`^CONTEXT ROLE PHASE READY CUT AT AFTER CUTOFF CLOCK PROBLEM$`),
		regexp.MustCompile(`^pk-edge-2 - - - - - - .*(connection refused|connect)`),
		regexp.MustCompile(`^pk-edge-1 Member Completed True \S+ \S+ \S+ 3s \+4ms ±5ms PermissionDenied: cannot patch ingresses$`),
		regexp.MustCompile(`^pk-core Coordinator Completed True \S+ \S+ \S+ 1s - $`),
		regexp.MustCompile(`^$`),
		regexp.MustCompile(`^2 of 3 clusters have cut their routes; spread 2s `),
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d", len(lines), len(want))
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			t.Errorf("line %d %q does not match %s", i, lines[i], re)
		}
	}

	// --as holds in every context: a user with no rights reads nothing.
	out.Reset()
	o = &Options{IOStreams: genericiooptions.IOStreams{Out: &out, ErrOut: &out}, Flags: genericclioptions.NewConfigFlags(true)}
	o.NewClientFor = o.defaultClientFor
	cmd = newRootCommand(o)
	cmd.SetArgs([]string{"fleet", "status", "germany", "--kubeconfig", path, "--contexts", "pk-core,pk-edge-1", "--as", "nobody@example.com"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("fleet status --as: %v\n%s", err, out.String())
	}
	if n := strings.Count(out.String(), "forbidden"); n != 2 {
		t.Errorf("fleet status --as nobody: %d rows forbidden, want 2:\n%s", n, out.String())
	}
}
