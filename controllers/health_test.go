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

package controllers

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

// argoHealth runs the Argo CD health check the repo ships on rw, as Argo
// CD does: obj is the object as a Lua table, the script returns a table
// with status and message.
func argoHealth(t *testing.T, rw *v1.RegionWithdrawal) (status, message string) {
	t.Helper()
	ret := runLua(t, "health.lua", rw)
	return ret.RawGetString("status").String(), ret.RawGetString("message").String()
}

func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		t := L.NewTable()
		for k, e := range v {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	case []any:
		t := L.NewTable()
		for _, e := range v {
			t.Append(toLua(L, e))
		}
		return t
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case bool:
		return lua.LBool(v)
	}
	return lua.LNil
}

// kstatusOf is what Flux's and Helm's --wait (kstatus) make of rw.
func kstatusOf(t *testing.T, rw *v1.RegionWithdrawal) kstatus.Status {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(rw)
	if err != nil {
		t.Fatal(err)
	}
	res, err := kstatus.Compute(&unstructured.Unstructured{Object: m})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}

// TestGitOpsToolsReadTheStatus carries withdrawals through every state the
// controller writes, captures each status from the API server, and checks
// what Argo CD's health check and kstatus (Flux, Helm --wait) make of it. A
// withdrawal on schedule for weeks is Healthy and Current, so a GitOps
// wait does not time out before the cutoff.
func TestGitOpsToolsReadTheStatus(t *testing.T) {
	check := func(t *testing.T, what string, rw *v1.RegionWithdrawal, wantArgo string, wantK kstatus.Status) {
		t.Helper()
		capture(t, what, rw)
		got, msg := argoHealth(t, rw)
		k := kstatusOf(t, rw)
		if got != wantArgo || k != wantK {
			t.Errorf("%s (phase %q): Argo CD %s (%s), kstatus %s; want %s and %s", what, rw.Status.Phase, got, msg, k, wantArgo, wantK)
		}
	}

	h := newHarness(t, beforeAnnouncement)
	h.regionApp()
	h.pakistan(func(s *v1.RegionWithdrawalSpec) { s.Drain.RequireApproval = true })
	check(t, "just applied", h.get(), "Progressing", kstatus.CurrentStatus)
	h.reconcile()
	check(t, "weeks before the cutoff", h.get(), "Healthy", kstatus.CurrentStatus)

	h.update(func(s *v1.RegionWithdrawalSpec) { s.Suspend = true })
	check(t, "a new generation not yet observed", h.get(), "Progressing", kstatus.InProgressStatus)
	h.reconcile()
	check(t, "suspended", h.get(), "Suspended", kstatus.CurrentStatus)
	h.update(func(s *v1.RegionWithdrawalSpec) { s.Suspend = false })
	h.reconcile()

	h.at(drainStart)
	check(t, "the drain waits for approval", h.get(), "Suspended", kstatus.CurrentStatus)
	h.update(func(s *v1.RegionWithdrawalSpec) { planner.Approve(s, "alice", v1.StepDrain) })
	h.reconcile()
	h.at(finalNoticeDue)
	h.at(cutoff)
	h.at(cutoff.Add(time.Minute))
	check(t, "completed", h.get(), "Healthy", kstatus.CurrentStatus)

	t.Run("stalled", func(t *testing.T) {
		h := newHarness(t, announcementDue)
		h.regionApp()
		h.pakistan(func(s *v1.RegionWithdrawalSpec) { s.Export, s.Drain, s.Routing, s.DryRun = nil, nil, nil, false })
		h.r.Executors = executor.Set{v1.StepNotify: specErrExecutor{}}
		h.reconcile()
		check(t, "a template that does not render", h.get(), "Degraded", kstatus.FailedStatus)
	})
	t.Run("running", func(t *testing.T) {
		h := newHarness(t, announcementDue)
		h.regionApp()
		h.pakistan(func(s *v1.RegionWithdrawalSpec) { s.Export, s.Drain, s.Routing, s.DryRun = nil, nil, nil, false })
		h.r.Executors = executor.Set{v1.StepNotify: slowExecutor{}}
		h.reconcile()
		check(t, "a notice being sent", h.get(), "Progressing", kstatus.InProgressStatus)
	})
	t.Run("cancelled", func(t *testing.T) {
		h := newHarness(t, announcementDue)
		h.regionApp()
		h.pakistan()
		h.reconcile()
		h.update(func(s *v1.RegionWithdrawalSpec) { s.Cancel = true })
		h.reconcile()
		h.reconcile()
		check(t, "cancelled", h.get(), "Healthy", kstatus.CurrentStatus)
	})
	t.Run("the cutoff missed", func(t *testing.T) {
		h := newHarness(t, cutoff.Add(time.Hour))
		h.regionApp()
		h.pakistan(func(s *v1.RegionWithdrawalSpec) { s.Export, s.Drain, s.Routing = nil, nil, nil })
		h.reconcile()
		check(t, "created after its cutoff", h.get(), "Degraded", kstatus.CurrentStatus)
	})
}

// argoDir is the Argo CD resource customization the repo ships.
func argoDir() string {
	return filepath.Join(testenv.RepoRoot(), "argocd", "resource_customizations", "withdrawal.ops.dev", "RegionWithdrawal")
}

// capture writes rw, as the API server returned it, into the Argo CD
// customization's testdata when RWO_CAPTURE_ARGOCD is set: that is how its
// testdata was made, from these runs.
func capture(t *testing.T, what string, rw *v1.RegionWithdrawal) {
	t.Helper()
	if os.Getenv("RWO_CAPTURE_ARGOCD") == "" {
		return
	}
	obj := rw.DeepCopy()
	obj.APIVersion, obj.Kind = v1.GroupVersion.String(), "RegionWithdrawal"
	obj.ManagedFields, obj.UID, obj.ResourceVersion = nil, "", ""
	b, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.ReplaceAll(strings.ToLower(what), " ", "-") + ".yaml"
	if err := os.WriteFile(filepath.Join(argoDir(), "testdata", name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestArgoCDHealthTests runs health.lua on every case of the shipped
// health_test.yaml, as Argo CD's own customization tests do.
func TestArgoCDHealthTests(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(argoDir(), "health_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Tests []struct {
			HealthStatus struct{ Status, Message string } `json:"healthStatus"`
			InputPath    string                           `json:"inputPath"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	if len(spec.Tests) < 8 {
		t.Fatalf("%d cases in health_test.yaml, want every state", len(spec.Tests))
	}
	for _, tc := range spec.Tests {
		raw, err := os.ReadFile(filepath.Join(argoDir(), tc.InputPath))
		if err != nil {
			t.Fatal(err)
		}
		rw := &v1.RegionWithdrawal{}
		if err := yaml.Unmarshal(raw, rw); err != nil {
			t.Fatal(err)
		}
		got, msg := argoHealth(t, rw)
		if got != tc.HealthStatus.Status || (tc.HealthStatus.Message != "" && msg != tc.HealthStatus.Message) {
			t.Errorf("%s: %s %q, want %s %q", tc.InputPath, got, msg, tc.HealthStatus.Status, tc.HealthStatus.Message)
		}
	}
}

// slowExecutor never finishes: a notice still being sent.
type slowExecutor struct{}

func (slowExecutor) Execute(context.Context, *v1.RegionWithdrawal, planner.Action) (executor.Result, error) {
	return executor.Result{Message: "sending", RequeueAfter: time.Minute}, nil
}

// runLua runs a script of the customization with obj set to rw and
// returns the table it returns.
func runLua(t *testing.T, path string, rw *v1.RegionWithdrawal) *lua.LTable {
	t.Helper()
	script, err := os.ReadFile(filepath.Join(argoDir(), path))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(rw)
	if err != nil {
		t.Fatal(err)
	}
	var obj any
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	L := lua.NewState()
	t.Cleanup(L.Close)
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(string(script)); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("%s returned %v, want a table", path, L.Get(-1))
	}
	return ret
}

// fromLua turns a Lua table back into JSON-shaped Go values: a table with
// keys 1..n is a list.
func fromLua(v lua.LValue) any {
	switch v := v.(type) {
	case *lua.LTable:
		if n := v.Len(); n > 0 {
			list := make([]any, 0, n)
			for i := 1; i <= n; i++ {
				list = append(list, fromLua(v.RawGetInt(i)))
			}
			return list
		}
		m := map[string]any{}
		v.ForEach(func(k, e lua.LValue) { m[k.String()] = fromLua(e) })
		return m
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return float64(v)
	case lua.LBool:
		return bool(v)
	}
	return nil
}

// TestArgoCDActions: on a drain waiting for approval, Argo CD offers
// approve-drain (and not the other steps'); running it writes an approval
// the API server accepts, and the drain then runs.
func TestArgoCDActions(t *testing.T) {
	h := newHarness(t, beforeAnnouncement)
	h.regionApp()
	h.pakistan(func(s *v1.RegionWithdrawalSpec) { s.Drain.RequireApproval = true })
	h.reconcile()
	h.at(drainStart)
	rw := h.get()

	offered := runLua(t, "actions/discovery.lua", rw)
	enabled := func(name string) bool {
		a, ok := offered.RawGetString(name).(*lua.LTable)
		return ok && a.RawGetString("disabled") == lua.LFalse
	}
	for name, want := range map[string]bool{"approve-drain": true, "approve-export": false, "approve-routing": false, "suspend": true, "resume": false, "cancel": true} {
		if enabled(name) != want {
			t.Errorf("action %s enabled %v, want %v", name, enabled(name), want)
		}
	}

	b, err := json.Marshal(fromLua(runLua(t, "actions/approve-drain/action.lua", rw)))
	if err != nil {
		t.Fatal(err)
	}
	approved := &v1.RegionWithdrawal{}
	if err := json.Unmarshal(b, approved); err != nil {
		t.Fatal(err)
	}
	if a := approved.Spec.Approvals; len(a) != 1 || a[0].By != "system:serviceaccount:argocd:argocd-server" || a[0].SpecDigest != rw.Status.SpecDigest {
		t.Fatalf("approve-drain wrote %+v, want argocd-server's approval of %s", a, rw.Status.SpecDigest)
	}
	if err := h.c.Update(h.ctx, approved); err != nil {
		t.Fatalf("the API server refused what approve-drain wrote: %v", err)
	}
	h.reconcile()
	if s := step(h.get(), v1.StepDrain); s.StartedAt == nil {
		t.Fatalf("the drain did not start after approve-drain: %+v", s)
	}
	suspended := &v1.RegionWithdrawal{}
	b, _ = json.Marshal(fromLua(runLua(t, "actions/suspend/action.lua", h.get())))
	if err := json.Unmarshal(b, suspended); err != nil || !suspended.Spec.Suspend {
		t.Fatalf("suspend wrote %s (%v)", b, err)
	}
}
