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

// Package chart tests the Helm chart with the real helm binary and the real
// API server: lint, the values schema, and a server-side dry run of what it
// renders, pod security included.
package chart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

var (
	env   *testenv.Env
	chart = filepath.Join(testenv.RepoRoot(), "charts", "region-withdrawal-operator")
	helm  = filepath.Join(testenv.RepoRoot(), "bin", "helm")
)

func TestMain(m *testing.M) {
	if _, err := os.Stat(helm); err != nil {
		fmt.Fprintln(os.Stderr, "the chart tests need bin/helm: run hack/tools.sh helm (make test does)")
		os.Exit(1)
	}
	var err error
	if env, err = testenv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

func runHelm(args ...string) (string, error) {
	cmd := exec.Command(helm, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+os.TempDir(), "HELM_CONFIG_HOME="+os.TempDir(), "HELM_DATA_HOME="+os.TempDir())
	err := cmd.Run()
	return out.String(), err
}

func TestLint(t *testing.T) {
	if out, err := runHelm("lint", "--strict", chart); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
}

func TestSchemaRejectsWrongValues(t *testing.T) {
	tests := []struct {
		name    string
		set     string
		wantMsg string
	}{
		{name: "replica count as a string", set: "replicaCount=two", wantMsg: "replicaCount"},
		{name: "zero replicas", set: "replicaCount=0", wantMsg: "replicaCount"},
		{name: "unknown log level", set: "logLevel=loud", wantMsg: "logLevel"},
		{name: "unknown pull policy", set: "image.pullPolicy=Sometimes", wantMsg: "pullPolicy"},
		{name: "a typo in a key", set: "replicaCont=2", wantMsg: "replicaCont"},
		{name: "a namespace name with capitals", set: "watchNamespaces={Tenant-A}", wantMsg: "watchNamespaces"},
		{name: "a risk window that is not a duration", set: "riskWindow=a day", wantMsg: "riskWindow"},
		{name: "metrics on a privileged port", set: "metrics.port=443", wantMsg: "port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runHelm("template", "rwo", chart, "--set", tt.set)
			if err == nil || !strings.Contains(out, tt.wantMsg) {
				t.Fatalf("helm template --set %s: err=%v, output:\n%s\nwant a rejection naming %q", tt.set, err, out, tt.wantMsg)
			}
		})
	}
}

// render runs helm template and decodes every object.
func render(t *testing.T, namespace string, sets ...string) []*unstructured.Unstructured {
	t.Helper()
	args := []string{"template", "rwo", chart, "--namespace", namespace}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	out, err := runHelm(args...)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(out), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("decoding helm output: %v", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

func TestRenderedObjectsAreAcceptedByTheAPIServer(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	restricted := map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}
	for _, ns := range []string{"rwo-system", "tenant-a", "tenant-b"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: restricted}}); err != nil {
			t.Fatal(err)
		}
	}
	// The namespaces really enforce the restricted standard: a plain pod
	// with no security context is refused, so the check below can fail.
	plain := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: "rwo-system"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if err := c.Create(ctx, plain, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "violates PodSecurity") {
		t.Fatalf("a pod without a security context was not refused by PodSecurity: %v", err)
	}
	for _, tc := range []struct {
		name string
		sets []string
	}{
		{name: "defaults"},
		{name: "two replicas watching two namespaces, with a network policy", sets: []string{"replicaCount=2", "watchNamespaces={tenant-a,tenant-b}", "networkPolicy.enabled=true"}},
		{name: "no metrics, no leader election", sets: []string{"metrics.enabled=false", "leaderElection.enabled=false"}},
		{name: "an egress policy that matches the egress guard", sets: []string{"networkPolicy.enabled=true", "networkPolicy.egress.enabled=true",
			"networkPolicy.egress.apiServerCIDRs={10.96.0.1/32}", "egress.allowCIDRs={10.20.30.40}"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := render(t, "rwo-system", tc.sets...)
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.GetKind()]++
				if o.GetNamespace() == "" && isNamespaced(o.GetKind()) {
					o.SetNamespace("rwo-system")
				}
				if err := c.Create(ctx, o, client.DryRunAll); err != nil {
					t.Fatalf("the API server refused %s %s: %v", o.GetKind(), o.GetName(), err)
				}
				if o.GetKind() == "Deployment" {
					podPassesRestricted(t, c, o)
				}
			}
			if kinds["Deployment"] != 1 || kinds["ServiceAccount"] != 1 || kinds["ClusterRole"] == 0 {
				t.Fatalf("rendered kinds %v", kinds)
			}
		})
	}
}

// podPassesRestricted creates (dry run) a Pod from the Deployment's template
// in a namespace that enforces the restricted Pod Security Standard.
func podPassesRestricted(t *testing.T, c client.Client, o *unstructured.Unstructured) {
	t.Helper()
	var d appsv1.Deployment
	if err := runtimeConvert(o, &d); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "operator-pod", Namespace: "rwo-system", Labels: d.Spec.Template.Labels},
		Spec:       d.Spec.Template.Spec,
	}
	pod.Spec.ServiceAccountName = "default"
	if err := c.Create(context.Background(), pod, client.DryRunAll); err != nil {
		t.Fatalf("the operator pod violates the restricted Pod Security Standard: %v", err)
	}
	sc := pod.Spec.Containers[0].SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Fatal("the root filesystem is not read-only")
	}
}

func TestChartCRDMatchesGenerated(t *testing.T) {
	gen, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "crd", "bases", "*.yaml"))
	if err != nil || len(gen) == 0 {
		t.Fatalf("no generated CRDs: %v", err)
	}
	for _, f := range gen {
		want, _ := os.ReadFile(f)
		got, err := os.ReadFile(filepath.Join(chart, "crds", filepath.Base(f)))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("charts/.../crds/%s differs from config/crd/bases (run make manifests): %v", filepath.Base(f), err)
		}
	}
}

// TestEgressNetworkPolicy checks the egress rules: DNS, the API server,
// the allowed internal receivers, and public addresses without the ranges
// the egress guard refuses. Without the API server's addresses the chart
// refuses to render rather than cut the operator off.
func TestEgressNetworkPolicy(t *testing.T) {
	var policy networkingv1.NetworkPolicy
	for _, o := range render(t, "rwo-system", "networkPolicy.enabled=true", "networkPolicy.egress.enabled=true",
		"networkPolicy.egress.apiServerCIDRs={10.96.0.1/32}", "egress.allowCIDRs={10.20.30.40}") {
		if o.GetKind() == "NetworkPolicy" {
			if err := runtimeConvert(o, &policy); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !slices.Contains(policy.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) || len(policy.Spec.Egress) != 4 {
		t.Fatalf("policy types %v, %d egress rules; want Egress and 4 rules", policy.Spec.PolicyTypes, len(policy.Spec.Egress))
	}
	var cidrs, excepted []string
	for _, rule := range policy.Spec.Egress {
		for _, peer := range rule.To {
			if peer.IPBlock != nil {
				cidrs = append(cidrs, peer.IPBlock.CIDR)
				excepted = append(excepted, peer.IPBlock.Except...)
			}
		}
	}
	for _, want := range []string{"10.96.0.1/32", "10.20.30.40/32", "0.0.0.0/0", "::/0"} {
		if !slices.Contains(cidrs, want) {
			t.Errorf("no egress to %s: %v", want, cidrs)
		}
	}
	for _, want := range []string{"10.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "fc00::/7"} {
		if !slices.Contains(excepted, want) {
			t.Errorf("public egress does not except %s: %v", want, excepted)
		}
	}
	out, err := runHelm("template", "rwo", chart, "--set", "networkPolicy.enabled=true", "--set", "networkPolicy.egress.enabled=true")
	if err == nil || !strings.Contains(out+err.Error(), "apiServerCIDRs") {
		t.Fatalf("rendering without the API server's addresses: %v\n%s", err, out)
	}
}

func isNamespaced(kind string) bool {
	switch kind {
	case "ClusterRole", "ClusterRoleBinding", "Namespace", "CustomResourceDefinition":
		return false
	}
	return true
}

// TestArgoCDCustomizations: argocd.customizations renders the repo's
// health check and every action, byte for byte, in argocd-cm's keys.
func TestArgoCDCustomizations(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(), "argocd", "resource_customizations", "withdrawal.ops.dev", "RegionWithdrawal")
	read := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if objs := render(t, "rwo-system"); slices.ContainsFunc(objs, func(u *unstructured.Unstructured) bool {
		return strings.HasSuffix(u.GetName(), "-argocd-customizations")
	}) {
		t.Fatal("rendered without being asked for")
	}
	var cm *unstructured.Unstructured
	for _, u := range render(t, "rwo-system", "argocd.customizations.enabled=true", "argocd.customizations.namespace=argocd") {
		if u.GetKind() == "ConfigMap" && strings.HasSuffix(u.GetName(), "-argocd-customizations") {
			cm = u
		}
	}
	if cm == nil || cm.GetNamespace() != "argocd" {
		t.Fatalf("no customizations ConfigMap in argocd: %v", cm)
	}
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	if got := data["resource.customizations.health.withdrawal.ops.dev_RegionWithdrawal"]; got != read("health.lua") {
		t.Errorf("the rendered health check differs from health.lua:\n%s", got)
	}
	var actions struct {
		Discovery   string `json:"discovery.lua"`
		Definitions []struct {
			Name   string `json:"name"`
			Action string `json:"action.lua"`
		} `json:"definitions"`
	}
	if err := yaml.Unmarshal([]byte(data["resource.customizations.actions.withdrawal.ops.dev_RegionWithdrawal"]), &actions); err != nil {
		t.Fatal(err)
	}
	if actions.Discovery != read("actions/discovery.lua") || len(actions.Definitions) != 7 {
		t.Fatalf("discovery differs, or %d definitions, want 7", len(actions.Definitions))
	}
	for _, d := range actions.Definitions {
		if d.Action != read(filepath.Join("actions", d.Name, "action.lua")) {
			t.Errorf("action %s differs from the repo's", d.Name)
		}
	}
}

// TestMonitoring: metrics.prometheusRule renders the repo's alert rules as a
// PrometheusRule that promtool accepts, and metrics.grafanaDashboard renders
// the dashboard, byte for byte, in a ConfigMap the Grafana sidecar loads.
func TestMonitoring(t *testing.T) {
	for _, u := range render(t, "rwo-system") {
		if u.GetKind() == "PrometheusRule" || strings.HasSuffix(u.GetName(), "-dashboard") {
			t.Fatalf("%s %s rendered without being asked for", u.GetKind(), u.GetName())
		}
	}
	var rule, dash *unstructured.Unstructured
	for _, u := range render(t, "rwo-system", "metrics.prometheusRule.enabled=true", "metrics.prometheusRule.labels.release=kps",
		"metrics.grafanaDashboard.enabled=true", "metrics.grafanaDashboard.namespace=monitoring") {
		switch {
		case u.GetKind() == "PrometheusRule":
			rule = u
		case u.GetKind() == "ConfigMap" && strings.HasSuffix(u.GetName(), "-dashboard"):
			dash = u
		}
	}
	if rule == nil || rule.GetNamespace() != "rwo-system" || rule.GetLabels()["release"] != "kps" {
		t.Fatalf("no PrometheusRule in rwo-system labelled release=kps: %v", rule)
	}
	src, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "prometheus", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := yaml.Unmarshal(src, &want); err != nil {
		t.Fatal(err)
	}
	spec, _, _ := unstructured.NestedMap(rule.Object, "spec")
	got, _ := yaml.Marshal(spec)
	wantY, _ := yaml.Marshal(want)
	if !bytes.Equal(got, wantY) {
		t.Fatalf("the PrometheusRule's spec differs from config/prometheus/rules.yaml:\n%s", got)
	}
	// What the Prometheus Operator hands Prometheus is the spec as a rule
	// file; promtool must accept it.
	if promtool, err := exec.LookPath("promtool"); err == nil {
		f := filepath.Join(t.TempDir(), "rules.yaml")
		if err := os.WriteFile(f, got, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput(); err != nil {
			t.Fatalf("promtool check rules refused the rendered rules: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool is not on PATH (hack/tools.sh promtool builds it); the rendered rules were compared, not checked")
	}

	if dash == nil || dash.GetNamespace() != "monitoring" || dash.GetLabels()["grafana_dashboard"] != "1" {
		t.Fatalf("no dashboard ConfigMap in monitoring labelled grafana_dashboard=1: %v", dash)
	}
	board, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "grafana", "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if data, _, _ := unstructured.NestedString(dash.Object, "data", "region-withdrawal.json"); data != string(board) {
		t.Fatal("the rendered dashboard differs from config/grafana/dashboard.json")
	}
}
