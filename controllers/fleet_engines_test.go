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
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/cel-go/cel"
	lua "github.com/yuin/gopher-lua"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/jsonpath"
	"sigs.k8s.io/yaml"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// The multi-cluster engines cannot run here (their modules are not served),
// so what the repo ships for them is run the way each runs it: Karmada's
// Lua with gopher-lua, OCM's feedback JSONPaths with client-go's jsonpath,
// Flux's health expressions with cel-go. The inputs are withdrawals as the
// operator writes them (typed, so a renamed field breaks the test).

func fleetDir() string { return filepath.Join("..", "config", "fleet") }

// fleetCopy is a withdrawal copy's object as an engine sees it.
func fleetCopy(t *testing.T, role v1.FleetRole, phase v1.Phase, mutate func(*v1.RegionWithdrawal)) map[string]any {
	t.Helper()
	rw := &v1.RegionWithdrawal{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1.GroupVersion.String(), Kind: "RegionWithdrawal"},
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: "messaging", Generation: 3},
		Status: v1.RegionWithdrawalStatus{ObservedGeneration: 3, Phase: phase,
			Fleet: &v1.FleetStatus{Role: role, ClockOffset: &metav1.Duration{Duration: 12 * time.Millisecond}},
			Conditions: []metav1.Condition{
				{Type: v1.ConditionReady, Status: metav1.ConditionTrue, Reason: "OnSchedule"},
				{Type: v1.ConditionStalled, Status: metav1.ConditionFalse, Reason: "AsExpected"},
			}},
	}
	if mutate != nil {
		mutate(rw)
	}
	b, err := json.Marshal(rw)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func switchedAt(at time.Time) func(*v1.RegionWithdrawal) {
	return func(rw *v1.RegionWithdrawal) {
		t := metav1.NewTime(at)
		rw.Status.Steps = append(rw.Status.Steps, v1.StepStatus{Name: v1.StepRouting, State: v1.StepSucceeded, StartedAt: &t, FinishedAt: &t})
	}
}

func stalled(rw *v1.RegionWithdrawal) {
	rw.Status.Phase = v1.PhaseStalled
	rw.Status.Conditions[1] = metav1.Condition{Type: v1.ConditionStalled, Status: metav1.ConditionTrue, Reason: "PermissionDenied"}
}

// karmada runs one function of the Karmada customization.
func karmada(t *testing.T, section, function string, args ...any) any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fleetDir(), "karmada", "resourceinterpretercustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ric struct {
		Spec struct {
			Customizations map[string]struct {
				LuaScript string `json:"luaScript"`
			} `json:"customizations"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &ric); err != nil {
		t.Fatal(err)
	}
	script := ric.Spec.Customizations[section].LuaScript
	if script == "" {
		t.Fatalf("no %s script", section)
	}
	L := lua.NewState()
	defer L.Close()
	if err := L.DoString(script); err != nil {
		t.Fatalf("%s: %v", section, err)
	}
	var in []lua.LValue
	for _, a := range args {
		in = append(in, toLua(L, a))
	}
	if err := L.CallByParam(lua.P{Fn: L.GetGlobal(function), NRet: 1, Protect: true}, in...); err != nil {
		t.Fatalf("%s: %v", function, err)
	}
	return fromLua(L.Get(-1))
}

func TestKarmadaReadsTheFleet(t *testing.T) {
	cut := time.Date(2026, 12, 29, 19, 0, 0, 0, time.UTC)
	t.Run("health", func(t *testing.T) {
		for name, tc := range map[string]struct {
			obj  map[string]any
			want bool
		}{
			"on schedule": {fleetCopy(t, v1.FleetMember, v1.PhaseScheduled, nil), true},
			"stalled":     {fleetCopy(t, v1.FleetMember, v1.PhaseScheduled, stalled), false},
			"not observed yet": {fleetCopy(t, v1.FleetMember, v1.PhaseScheduled, func(rw *v1.RegionWithdrawal) {
				rw.Status.ObservedGeneration = 2
			}), false},
			"cutoff missed": {fleetCopy(t, v1.FleetMember, v1.PhaseInProgress, func(rw *v1.RegionWithdrawal) {
				rw.Status.Conditions = append(rw.Status.Conditions, metav1.Condition{Type: v1.ConditionDeadlineAtRisk, Status: metav1.ConditionTrue, Reason: "CutoffMissed"})
			}), false},
		} {
			if got := karmada(t, "healthInterpretation", "InterpretHealth", tc.obj); got != tc.want {
				t.Errorf("%s: healthy = %v, want %v", name, got, tc.want)
			}
		}
	})
	reflect := func(obj map[string]any) map[string]any {
		return karmada(t, "statusReflection", "ReflectStatus", obj).(map[string]any)
	}
	t.Run("each cluster reports its role, phase and cut time", func(t *testing.T) {
		got := reflect(fleetCopy(t, v1.FleetMember, v1.PhaseCompleted, switchedAt(cut)))
		if got["role"] != "Member" || got["phase"] != "Completed" || got["ready"] != "True" || got["cutAt"] != cut.Format(time.RFC3339) || got["clockOffset"] != "12ms" {
			t.Errorf("reflected %v", got)
		}
		rehearsed := reflect(fleetCopy(t, v1.FleetMember, v1.PhaseCompleted, func(rw *v1.RegionWithdrawal) {
			switchedAt(cut)(rw)
			rw.Status.Steps[0].DryRun = true
		}))
		if _, ok := rehearsed["cutAt"]; ok {
			t.Errorf("a rehearsal reports a cut time: %v", rehearsed)
		}
	})
	t.Run("the control plane shows the fleet's worst phase and every member", func(t *testing.T) {
		items := []any{
			map[string]any{"clusterName": "pk-edge-2", "status": reflect(fleetCopy(t, v1.FleetMember, v1.PhaseScheduled, stalled))},
			map[string]any{"clusterName": "pk-core", "status": reflect(fleetCopy(t, v1.FleetCoordinator, v1.PhaseCompleted, switchedAt(cut)))},
			map[string]any{"clusterName": "pk-edge-1", "status": reflect(fleetCopy(t, v1.FleetMember, v1.PhaseCompleted, switchedAt(cut.Add(300*time.Millisecond))))},
		}
		// The engine sets status.phase from the worst member; a stalled
		// member is what the fleet's owner must see first.
		got := karmada(t, "statusAggregation", "AggregateStatus", fleetCopy(t, "", "", nil), items).(map[string]any)
		status := got["status"].(map[string]any)
		if status["phase"] != "Stalled" {
			t.Errorf("fleet phase %v, want the worst member's, Stalled", status["phase"])
		}
		members := status["fleet"].(map[string]any)["members"].([]any)
		var rows []string
		for _, m := range members {
			m := m.(map[string]any)
			rows = append(rows, fmt.Sprintf("%v %v %v %v %v", m["cluster"], m["role"], m["phase"], m["cutAt"], m["clockOffset"]))
		}
		want := []string{"pk-core Coordinator Completed " + cut.Format(time.RFC3339) + " 12ms", "pk-edge-1 Member Completed " + cut.Format(time.RFC3339) + " 12ms", "pk-edge-2 Member Stalled <nil> 12ms"}
		if strings.Join(rows, "\n") != strings.Join(want, "\n") {
			t.Errorf("members:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
		}
		// What the aggregation writes fits the CRD's schema: it reads back
		// into the typed status.
		b, _ := json.Marshal(status)
		var typed v1.RegionWithdrawalStatus
		if err := json.Unmarshal(b, &typed); err != nil || len(typed.Fleet.Members) != 3 || typed.Fleet.Members[0].CutAt == nil || typed.Fleet.Members[0].ClockOffset == nil {
			t.Errorf("the aggregated status does not read back as status.fleet.members: %v, %+v", err, typed.Fleet)
		}
	})
	t.Run("approvals made on a member are retained", func(t *testing.T) {
		observed := fleetCopy(t, v1.FleetMember, v1.PhaseWaitingForApproval, func(rw *v1.RegionWithdrawal) {
			rw.Spec.Approvals = []v1.Approval{{Step: v1.StepDrain, By: "alice", SpecDigest: "abc"}}
		})
		desired := fleetCopy(t, "", "", nil)
		got := karmada(t, "retention", "Retain", desired, observed).(map[string]any)
		approvals, _ := got["spec"].(map[string]any)["approvals"].([]any)
		if len(approvals) != 1 {
			t.Errorf("retained spec %v: the member's approval is lost", got["spec"])
		}
	})
}

func TestOCMFeedbackRulesReadTheCopy(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(fleetDir(), "ocm", "manifestworkreplicaset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var mwrs struct {
		Spec struct {
			ManifestWorkTemplate struct {
				ManifestConfigs []struct {
					FeedbackRules []struct {
						JSONPaths []struct{ Name, Path string } `json:"jsonPaths"`
					} `json:"feedbackRules"`
				} `json:"manifestConfigs"`
				Workload struct {
					Manifests []map[string]any `json:"manifests"`
				} `json:"workload"`
			} `json:"manifestWorkTemplate"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &mwrs); err != nil {
		t.Fatal(err)
	}
	// The manifest is a withdrawal the API server would take.
	b, _ := json.Marshal(mwrs.Spec.ManifestWorkTemplate.Workload.Manifests[0])
	var manifest v1.RegionWithdrawal
	if err := json.Unmarshal(b, &manifest); err != nil || manifest.Spec.Routing == nil || manifest.Spec.Fleet != nil {
		t.Fatalf("the manifest: %v, %+v; want a withdrawal with routing and no per-cluster role", err, manifest.Spec)
	}
	cut := time.Date(2026, 12, 29, 19, 0, 0, 0, time.UTC)
	obj := fleetCopy(t, v1.FleetMember, v1.PhaseCompleted, switchedAt(cut))
	got := map[string]string{}
	for _, p := range mwrs.Spec.ManifestWorkTemplate.ManifestConfigs[0].FeedbackRules[0].JSONPaths {
		// As OCM does: the path in braces, one scalar value.
		jp := jsonpath.New(p.Name).AllowMissingKeys(true)
		if err := jp.Parse("{" + p.Path + "}"); err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		res, err := jp.FindResults(obj)
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if len(res) != 1 || len(res[0]) != 1 {
			t.Fatalf("%s (%s) found %v, want one value", p.Name, p.Path, res)
		}
		got[p.Name] = fmt.Sprint(res[0][0].Interface())
	}
	want := map[string]string{"phase": "Completed", "role": "Member", "ready": "True", "stalled": "False", "cutAt": cut.Format(time.RFC3339), "observedGeneration": "3", "clockOffset": "12ms"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("feedback %s = %q, want %q", k, got[k], v)
		}
	}
}

func TestFluxHealthExpressions(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(fleetDir(), "flux", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ks struct {
		Spec struct {
			HealthCheckExprs []struct {
				Current, Failed, InProgress string
			} `json:"healthCheckExprs"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &ks); err != nil || len(ks.Spec.HealthCheckExprs) != 1 {
		t.Fatalf("%v, %+v", err, ks)
	}
	exprs := ks.Spec.HealthCheckExprs[0]
	// As Flux does: the object's top-level fields are the variables.
	env, err := cel.NewEnv(cel.Variable("apiVersion", cel.StringType), cel.Variable("kind", cel.StringType),
		cel.Variable("metadata", cel.DynType), cel.Variable("spec", cel.DynType), cel.Variable("status", cel.DynType))
	if err != nil {
		t.Fatal(err)
	}
	eval := func(expr string, obj map[string]any) bool {
		t.Helper()
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			t.Fatalf("%s: %v", expr, iss.Err())
		}
		prg, err := env.Program(ast)
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := prg.Eval(obj)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return out.Value().(bool)
	}
	for name, tc := range map[string]struct {
		obj                         map[string]any
		inProgress, current, failed bool
	}{
		"on schedule":      {obj: fleetCopy(t, v1.FleetMember, v1.PhaseScheduled, nil), current: true},
		"stalled":          {obj: fleetCopy(t, v1.FleetMember, v1.PhaseScheduled, stalled), current: true, failed: true},
		"not observed yet": {obj: fleetCopy(t, v1.FleetMember, v1.PhaseScheduled, func(rw *v1.RegionWithdrawal) { rw.Status.ObservedGeneration = 2 }), inProgress: true, current: true},
		"no Stalled condition": {obj: fleetCopy(t, v1.FleetMember, v1.PhaseScheduled, func(rw *v1.RegionWithdrawal) {
			rw.Status.Conditions = rw.Status.Conditions[:1]
		}), current: true},
	} {
		if got := eval(exprs.InProgress, tc.obj); got != tc.inProgress {
			t.Errorf("%s: inProgress = %v", name, got)
		}
		if got := eval(exprs.Current, tc.obj); got != tc.current {
			t.Errorf("%s: current = %v", name, got)
		}
		if got := eval(exprs.Failed, tc.obj); got != tc.failed {
			t.Errorf("%s: failed = %v", name, got)
		}
	}
}

// TestArgoCDApplicationSetOrdersTheFleet checks the ApplicationSet as
// YAML only (Argo CD does not run here): the coordinator's step comes
// first, nothing is pruned, and approvals made on a cluster are left alone.
func TestArgoCDApplicationSetOrdersTheFleet(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(fleetDir(), "argocd", "applicationset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var as struct {
		Kind string `json:"kind"`
		Spec struct {
			Generators []struct {
				Clusters *struct{} `json:"clusters"`
			} `json:"generators"`
			Strategy struct {
				Type        string `json:"type"`
				RollingSync struct {
					Steps []struct {
						MatchExpressions []struct {
							Key    string   `json:"key"`
							Values []string `json:"values"`
						} `json:"matchExpressions"`
					} `json:"steps"`
				} `json:"rollingSync"`
			} `json:"strategy"`
			Template struct {
				Spec struct {
					SyncPolicy struct {
						Automated *struct {
							Prune bool `json:"prune"`
						} `json:"automated"`
					} `json:"syncPolicy"`
					IgnoreDifferences []struct {
						JSONPointers []string `json:"jsonPointers"`
					} `json:"ignoreDifferences"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &as); err != nil {
		t.Fatal(err)
	}
	s := as.Spec
	if as.Kind != "ApplicationSet" || len(s.Generators) != 1 || s.Generators[0].Clusters == nil || s.Strategy.Type != "RollingSync" {
		t.Fatalf("%+v", as)
	}
	steps := s.Strategy.RollingSync.Steps
	if len(steps) != 2 || steps[0].MatchExpressions[0].Values[0] != "coordinator" || steps[1].MatchExpressions[0].Values[0] != "member" {
		t.Errorf("rolling sync steps %+v: the coordinator first, then the members", steps)
	}
	if a := s.Template.Spec.SyncPolicy.Automated; a != nil && a.Prune {
		t.Error("the Applications prune: a withdrawal removed from Git would be deleted under way")
	}
	if len(s.Template.Spec.IgnoreDifferences) != 1 || s.Template.Spec.IgnoreDifferences[0].JSONPointers[0] != "/spec/approvals" {
		t.Errorf("ignoreDifferences %+v: approvals made on a cluster would be undone", s.Template.Spec.IgnoreDifferences)
	}
}
