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

package integration

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// chartMemoryLimit is resources.limits.memory in the chart's values.
const chartMemoryLimit = 256 << 20

// TestABadTemplateStallsOnlyItsWithdrawal runs the operator binary with
// the chart's memory limit as its Go memory limit and gives it templates
// that would once have spun a worker forever or grown without bound. Each
// stalls its own withdrawal with a clear message; the process stays up,
// below the limit, and a good withdrawal beside them completes.
func TestABadTemplateStallsOnlyItsWithdrawal(t *testing.T) {
	const ns = "templates"
	mustCreate(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	// One recipient with 64 fields of 4 KB: nested ranges over them would
	// render 16 MiB per recipient without the cap.
	var header, row strings.Builder
	header.WriteString("id,email")
	row.WriteString("c1,a@example.com")
	for i := range 63 {
		fmt.Fprintf(&header, ",f%02d", i)
		row.WriteString("," + strings.Repeat("v", 4000))
	}
	mustCreate(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "customers"},
		Data: map[string]string{"list.csv": header.String() + "\n" + row.String() + "\n"}})
	mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook"}, StringData: map[string]string{"k": "key"}})

	op := startWithEnv(t, kubeconfig(t), []string{"GOMEMLIMIT=" + strconv.Itoa(chartMemoryLimit)},
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--egress-allow-cidrs=127.0.0.0/8")
	defer op.stop(t)

	notify := func(text string) *v1.NotifyStep {
		return &v1.NotifyStep{Announce: offset(-5 * time.Second), Final: offset(-2 * time.Second),
			Recipients: v1.RecipientSources{ConfigMaps: []v1.RecipientObjectRef{{Name: "customers"}}},
			Webhook:    &v1.WebhookChannel{URL: "https://customer.example.com/hook", SigningSecretRef: v1.SecretKeyReference{Name: "hook", Key: "k"}},
			Templates:  &v1.NoticeTemplates{Announcement: &v1.NoticeTemplate{Subject: "s", Text: text}}}
	}
	for _, tc := range []struct {
		name, text, want string
	}{
		{name: "spin", text: `{{range 1000000000000}}{{end}}`, want: "range only over .Recipient.Fields"},
		{name: "recurse", text: `{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}`, want: "calls itself"},
		{name: "grow", text: `{{range .Recipient.Fields}}{{range $.Recipient.Fields}}{{.}}{{end}}{{end}}`, want: "renders over"},
	} {
		rw := tenantWithdrawal(ns, tc.name, 8*time.Second)
		rw.Spec.Notify = notify(tc.text)
		mustCreate(t, rw)
		c := waitStalled(t, rw, v1.ReasonInvalidSpec)
		if !strings.Contains(c.Message, tc.want) {
			t.Errorf("%s: the Stalled message does not say %q: %s", tc.name, tc.want, c.Message)
		}
	}
	good := tenantWithdrawal(ns, "good", 6*time.Second)
	good.Spec.DryRun = true
	good.Spec.Notify = notify("Dear {{.Recipient.Name}}, the service ends in {{.DaysLeft}} days.")
	mustCreate(t, good)
	waitFor(t, good, "Completed", func(got *v1.RegionWithdrawal) bool { return got.Status.Phase == v1.PhaseCompleted })

	if op.cmd.ProcessState != nil {
		t.Fatalf("the operator exited: %v", op.cmd.ProcessState)
	}
	if hwm := peakRSS(t, op.cmd.Process.Pid); hwm > chartMemoryLimit {
		t.Errorf("the operator's peak RSS was %d MiB, over the chart's limit of %d MiB", hwm>>20, chartMemoryLimit>>20)
	} else {
		t.Logf("peak RSS %d MiB (limit %d MiB)", hwm>>20, chartMemoryLimit>>20)
	}
}

// peakRSS reads a process's peak resident set (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}
