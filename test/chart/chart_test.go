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
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
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
		{name: "a handoff URL without a scheme", set: "handoff.publicURL=export.example.com", wantMsg: "publicURL"},
		{name: "a handoff URL with a query", set: "handoff.publicURL=https://export.example.com/?a=b", wantMsg: "publicURL"},
		{name: "an unknown handoff Service type", set: "handoff.service.type=External", wantMsg: "type"},
		// minAvailable defaults to 1: maxUnavailable alone is both.
		{name: "both disruption budgets", set: "podDisruptionBudget.maxUnavailable=1", wantMsg: "/podDisruptionBudget/minAvailable"},
		{name: "no disruption budget", set: "podDisruptionBudget.minAvailable=null", wantMsg: "maxUnavailable"},
		{name: "a budget that is neither a count nor a percentage", set: "podDisruptionBudget.minAvailable=most", wantMsg: "minAvailable"},
		{name: "both notice backend budgets", set: "noticeBackend.podDisruptionBudget.maxUnavailable=50%", wantMsg: "/noticeBackend/podDisruptionBudget/minAvailable"},
		{name: "a notice backend at zero replicas", set: "noticeBackend.replicas=0", wantMsg: "replicas"},
		{name: "a notice backend pull Secret without a name", set: "noticeBackend.imagePullSecrets[0].nam=regcred", wantMsg: "imagePullSecrets"},
		{name: "a digest that is a tag", set: "image.digest=latest", wantMsg: "digest"},
		{name: "an execute timeout that is not a duration", set: "executeTimeout=soon", wantMsg: "executeTimeout"},
		{name: "an extra argument that is not a flag", set: "extraArgs={zap-devel}", wantMsg: "extraArgs"},
		{name: "a volume mount without a path", set: "volumeMounts[0].name=ca", wantMsg: "mountPath"},
		{name: "a topology spread without a key", set: "topologySpreadConstraints[0].maxSkew=1", wantMsg: "topologyKey"},
		{name: "a common label that is not a string", set: "commonLabels.cost-centre=42", wantMsg: "commonLabels"},
		{name: "a metrics reader ServiceAccount without a namespace", set: "metrics.readers[0].kind=ServiceAccount,metrics.readers[0].name=prometheus", wantMsg: "namespace"},
		{name: "a security context that is a string", set: "podSecurityContext=restricted", wantMsg: "podSecurityContext"},
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
	return renderValues(t, namespace, "", sets...)
}

// renderValues is render with a values file as well, when values is not
// empty.
func renderValues(t *testing.T, namespace, values string, sets ...string) []*unstructured.Unstructured {
	t.Helper()
	return renderRelease(t, "rwo", namespace, values, sets...)
}

// renderRelease is renderValues for a release of another name.
func renderRelease(t *testing.T, release, namespace, values string, sets ...string) []*unstructured.Unstructured {
	t.Helper()
	args := []string{"template", release, chart, "--namespace", namespace}
	if values != "" {
		f := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(f, []byte(values), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--values", f)
	}
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
		name   string
		values string
		sets   []string
	}{
		{name: "defaults"},
		{name: "every day-two value turned (ci/day-two-values.yaml)", values: dayTwoValues(t)},
		{name: "OpenShift: no fixed UID anywhere", sets: []string{"podSecurityContext.runAsUser=null", "podSecurityContext.runAsGroup=null",
			"noticeBackend.podSecurityContext.runAsUser=null", "noticeBackend.podSecurityContext.runAsGroup=null"}},
		{name: "two replicas watching two namespaces, with a network policy", sets: []string{"replicaCount=2", "watchNamespaces={tenant-a,tenant-b}", "networkPolicy.enabled=true"}},
		{name: "no metrics, no leader election", sets: []string{"metrics.enabled=false", "leaderElection.enabled=false"}},
		{name: "an egress policy that matches the egress guard", sets: []string{"networkPolicy.enabled=true", "networkPolicy.egress.enabled=true",
			"networkPolicy.egress.apiServerCIDRs={10.96.0.1/32}", "egress.allowCIDRs={10.20.30.40}"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := renderValues(t, "rwo-system", tc.values, tc.sets...)
			kinds := map[string]int{}
			for _, o := range objs {
				// The helm test's pod and RBAC are checked apart.
				if o.GetLabels()["app.kubernetes.io/component"] != "test" {
					kinds[o.GetKind()]++
				}
				if o.GetNamespace() == "" && isNamespaced(o.GetKind()) {
					o.SetNamespace("rwo-system")
				}
				if o.GetKind() == "CustomResourceDefinition" {
					// The API server serves it already (config/crd/bases);
					// TestChartCRDMatchesGenerated checks the chart's.
					continue
				}
				if err := c.Create(ctx, o, client.DryRunAll); err != nil {
					t.Fatalf("the API server refused %s %s: %v", o.GetKind(), o.GetName(), err)
				}
				if o.GetKind() == "Deployment" {
					podPassesRestricted(t, c, o)
				}
			}
			if kinds["Deployment"] != 1 || kinds["ServiceAccount"] != 1 || kinds["ClusterRole"] == 0 || kinds["Pod"] != 0 {
				t.Fatalf("rendered kinds %v", kinds)
			}
		})
	}
}

// dayTwoValues is ci/day-two-values.yaml, in which every day-two value
// differs from its default.
func dayTwoValues(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chart, "ci", "day-two-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDayTwoValuesShapeThePods checks where each day-two value lands in
// what the chart renders; the operator's own tests check the flags it
// turns into (chart_flags_test.go).
func TestDayTwoValuesShapeThePods(t *testing.T) {
	objs := renderValues(t, "rwo-system", dayTwoValues(t), "handoff.enabled=true", "handoff.publicURL=https://export.example.com")
	var operator, handoff *appsv1.Deployment
	for _, o := range objs {
		if o.GetLabels()["team"] != "compliance" || o.GetLabels()["cost-centre"] != "42" {
			t.Errorf("%s %s does not carry commonLabels: %v", o.GetKind(), o.GetName(), o.GetLabels())
		}
		switch o.GetKind() {
		case "Deployment":
			d := deployment(t, o)
			if d.Labels["app.kubernetes.io/component"] == "handoff" {
				handoff = d
			} else {
				operator = d
			}
		case "PodDisruptionBudget":
			if o.GetName() != "rwo-region-withdrawal-operator" {
				continue
			}
			spec, _, _ := unstructured.NestedMap(o.Object, "spec")
			if spec["maxUnavailable"] != "34%" || spec["minAvailable"] != nil {
				t.Errorf("PodDisruptionBudget spec %v, want maxUnavailable 34%% and no minAvailable", spec)
			}
			sel, _, _ := unstructured.NestedStringMap(o.Object, "spec", "selector", "matchLabels")
			if _, ok := sel["team"]; ok {
				t.Errorf("commonLabels reached the PodDisruptionBudget's selector: %v", sel)
			}
		}
	}
	if operator == nil || handoff == nil {
		t.Fatal("the operator's and the handoff endpoint's Deployments were not both rendered")
	}
	for _, d := range []*appsv1.Deployment{operator, handoff} {
		if d.Spec.Template.Labels["team"] != "compliance" {
			t.Errorf("%s: commonLabels are not on its pods: %v", d.Name, d.Spec.Template.Labels)
		}
		if _, ok := d.Spec.Selector.MatchLabels["team"]; ok {
			t.Errorf("%s: commonLabels reached the selector, which cannot change on upgrade: %v", d.Name, d.Spec.Selector.MatchLabels)
		}
		if img := d.Spec.Template.Spec.Containers[0].Image; !strings.HasSuffix(img, "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef") {
			t.Errorf("%s: image %s is not pinned by image.digest", d.Name, img)
		}
		psc := d.Spec.Template.Spec.SecurityContext
		if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != 1000650000 || psc.RunAsGroup != nil || psc.FSGroup == nil {
			t.Errorf("%s: pod security context %+v, want podSecurityContext's UID 1000650000, fsGroup, and no runAsGroup", d.Name, psc)
		}
		if sc := d.Spec.Template.Spec.Containers[0].SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			t.Errorf("%s: container security context %+v does not come from securityContext", d.Name, sc)
		}
	}
	spec := operator.Spec.Template.Spec
	c := spec.Containers[0]
	// The evidence store's credentials from its Secret, then extraEnv.
	if len(c.Env) != 4 || c.Env[0].Name != "AWS_ACCESS_KEY_ID" || c.Env[0].ValueFrom == nil || c.Env[0].ValueFrom.SecretKeyRef == nil ||
		c.Env[0].ValueFrom.SecretKeyRef.Name != "evidence-store" || c.Env[1].Name != "AWS_SECRET_ACCESS_KEY" ||
		c.Env[2].Name != "HTTPS_PROXY" || c.Env[3].Name != "NO_PROXY" {
		t.Errorf("evidence.store.credentialsSecret and extraEnv rendered as %+v", c.Env)
	}
	if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool {
		return v.Name == "ca-bundle" && v.ConfigMap != nil && v.ConfigMap.Name == "corporate-ca"
	}) ||
		!slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == "tmp" }) {
		t.Errorf("volumes rendered as %+v; want the chart's tmp and the extra ca-bundle", spec.Volumes)
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == "ca-bundle" && m.MountPath == "/etc/ssl/certs/corporate" && m.ReadOnly
	}) {
		t.Errorf("volumeMounts rendered as %+v", c.VolumeMounts)
	}
	if n := len(c.Args); n < 2 || c.Args[n-2] != "--zap-encoder=console" || c.Args[n-1] != "--risk-window=48h" {
		t.Errorf("extraArgs are not the last arguments: %v", c.Args)
	}
	if len(spec.TopologySpreadConstraints) != 1 {
		t.Fatalf("topologySpreadConstraints rendered as %+v", spec.TopologySpreadConstraints)
	}
	tsc := spec.TopologySpreadConstraints[0]
	if tsc.TopologyKey != "topology.kubernetes.io/zone" || tsc.LabelSelector == nil || !maps.Equal(tsc.LabelSelector.MatchLabels, operator.Spec.Selector.MatchLabels) {
		t.Errorf("a topology spread without a labelSelector should spread the operator's own pods: %+v", tsc)
	}
}

// TestTheSchemaAcceptsWhatHelmAddsForSubcharts: a parent chart passes its
// subcharts a "global" key, which a closed schema must let through.
func TestTheSchemaAcceptsWhatHelmAddsForSubcharts(t *testing.T) {
	if out, err := runHelm("template", "rwo", chart, "--set", "global.imageRegistry=registry.example.com", "--set", "global.storageClass=fast"); err != nil {
		t.Fatalf("helm template with a global key: %v\n%s", err, out)
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
		ObjectMeta: metav1.ObjectMeta{Name: "operator-pod", Namespace: o.GetNamespace(), Labels: d.Spec.Template.Labels},
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

// TestChartCRDMatchesGenerated checks that the chart delivers the CRD
// controller-gen generates, as a template (so that helm upgrade upgrades
// it), kept on uninstall unless crds.keep is off, and not at all with
// crds.enabled off.
func TestChartCRDMatchesGenerated(t *testing.T) {
	gen, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "crd", "bases", "*.yaml"))
	if err != nil || len(gen) == 0 {
		t.Fatalf("no generated CRDs: %v", err)
	}
	crds := func(sets ...string) map[string]*unstructured.Unstructured {
		out := map[string]*unstructured.Unstructured{}
		for _, o := range render(t, "rwo-system", sets...) {
			if o.GetKind() == "CustomResourceDefinition" {
				out[o.GetName()] = o
			}
		}
		return out
	}
	rendered := crds()
	if len(rendered) != len(gen) {
		t.Fatalf("the chart renders %d CRDs, config/crd/bases has %d", len(rendered), len(gen))
	}
	for _, f := range gen {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var want unstructured.Unstructured
		if err := yaml.Unmarshal(b, &want.Object); err != nil {
			t.Fatal(err)
		}
		got := rendered[want.GetName()]
		if got == nil {
			t.Fatalf("the chart does not render CRD %s", want.GetName())
		}
		if !equality.Semantic.DeepEqual(got.Object["spec"], want.Object["spec"]) {
			t.Errorf("the chart's CRD %s differs from config/crd/bases (run make manifests)", want.GetName())
		}
		if got.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
			t.Errorf("CRD %s is not kept on uninstall by default: %v", want.GetName(), got.GetAnnotations())
		}
		if got.GetLabels()["app.kubernetes.io/managed-by"] != "Helm" {
			t.Errorf("CRD %s does not carry the chart's labels: %v", want.GetName(), got.GetLabels())
		}
	}
	for name, o := range crds("crds.keep=false") {
		if _, ok := o.GetAnnotations()["helm.sh/resource-policy"]; ok {
			t.Errorf("CRD %s is kept on uninstall with crds.keep=false", name)
		}
	}
	if got := crds("crds.enabled=false"); len(got) != 0 {
		t.Errorf("crds.enabled=false still renders %d CRDs", len(got))
	}
	// Helm would install a crds/ folder once and never upgrade it.
	if _, err := os.Stat(filepath.Join(chart, "crds")); !os.IsNotExist(err) {
		t.Errorf("the chart has a crds/ folder, which helm upgrade never upgrades: %v", err)
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
	// The approve actions write as the account Argo CD acts with.
	for _, u := range render(t, "rwo-system", "argocd.customizations.enabled=true", "argocd.customizations.approver=system:serviceaccount:gitops:argocd-server") {
		if u.GetKind() == "ConfigMap" && strings.HasSuffix(u.GetName(), "-argocd-customizations") {
			data, _, _ := unstructured.NestedStringMap(u.Object, "data")
			if a := data["resource.customizations.actions.withdrawal.ops.dev_RegionWithdrawal"]; strings.Count(a, `"system:serviceaccount:gitops:argocd-server"`) != 4 {
				t.Errorf("the approve actions do not write as the configured approver:\n%s", a)
			}
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

// TestHandoffEndpoint: handoff.enabled renders the handoff endpoint beside
// the operator, and only then. Its objects are accepted by the API server
// and its pods pass the restricted standard; the operator is told the
// public URL and the key Secret; every selector picks the pods of exactly
// one Deployment (the operator's never the endpoint's, and the other way
// round); and SubjectAccessReview says the endpoint and the operator may
// do what the handoff needs and no more: the key Secret by name, writes
// only in the release namespace. Without a public URL the chart refuses to
// render.
func TestHandoffEndpoint(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	const (
		fullname  = "rwo-region-withdrawal-operator"
		handoff   = fullname + "-handoff"
		keySecret = fullname + "-handoff-key"
		publicURL = "https://export.example.com"
		tenant    = "handoff-tenant"
		other     = "handoff-other"
	)
	restricted := map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}
	for _, ns := range []string{"handoff-a", "handoff-b", tenant, other} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: restricted}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}

	t.Run("off by default", func(t *testing.T) {
		for _, o := range render(t, "handoff-a") {
			if strings.Contains(o.GetName(), "handoff") || o.GetLabels()["app.kubernetes.io/component"] == "handoff" {
				t.Errorf("%s %s rendered without handoff.enabled", o.GetKind(), o.GetName())
			}
			if o.GetKind() == "Deployment" {
				for _, a := range deployment(t, o).Spec.Template.Spec.Containers[0].Args {
					if strings.HasPrefix(a, "--handoff") {
						t.Errorf("the operator gets %s without handoff.enabled", a)
					}
				}
			}
		}
	})

	t.Run("a public URL is required", func(t *testing.T) {
		out, err := runHelm("template", "rwo", chart, "--set", "handoff.enabled=true")
		if err == nil || !strings.Contains(out, "handoff.publicURL is required when handoff.enabled is true") {
			t.Fatalf("rendering without handoff.publicURL: err=%v\n%s", err, out)
		}
		out, err = runHelm("template", "rwo", chart, "--set", "handoff.enabled=true", "--set", "handoff.publicURL=https://example.com/export", "--set", "handoff.ingress.enabled=true")
		if err == nil || !strings.Contains(out, "handoff.publicURL must have no path") {
			t.Fatalf("rendering the chart's Ingress for a URL with a path: err=%v\n%s", err, out)
		}
	})

	for _, tc := range []struct {
		name, ns string
		sets     []string
		// clusterWide: the operator watches every namespace (the endpoint
		// reads only its own either way).
		clusterWide bool
	}{
		{name: "cluster-wide, with an Ingress", ns: "handoff-a", clusterWide: true, sets: []string{"handoff.ingress.enabled=true",
			"handoff.ingress.className=nginx", "handoff.ingress.tls[0].secretName=export-tls", "handoff.ingress.tls[0].hosts[0]=export.example.com"}},
		{name: "watching one namespace, two operator replicas, a network policy", ns: "handoff-b",
			sets: []string{"watchNamespaces={" + tenant + "}", "replicaCount=2", "networkPolicy.enabled=true", "handoff.metrics.enabled=true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := render(t, tc.ns, append([]string{"handoff.enabled=true", "handoff.publicURL=" + publicURL}, tc.sets...)...)
			deployments := map[string]*appsv1.Deployment{}
			kinds := map[string]int{}
			for _, o := range objs {
				if o.GetNamespace() == "" && isNamespaced(o.GetKind()) {
					o.SetNamespace(tc.ns)
				}
				if o.GetKind() == "CustomResourceDefinition" {
					continue // served already; TestChartCRDMatchesGenerated
				}
				if err := c.Create(ctx, o, client.DryRunAll); err != nil {
					t.Fatalf("the API server refused %s %s: %v", o.GetKind(), o.GetName(), err)
				}
				if strings.HasPrefix(o.GetName(), handoff) {
					kinds[o.GetKind()]++
				}
				if o.GetKind() == "Deployment" {
					podPassesRestricted(t, c, o)
					deployments[o.GetName()] = deployment(t, o)
				}
			}
			for _, k := range []string{"Deployment", "Service", "ServiceAccount", "PodDisruptionBudget"} {
				if kinds[k] != 1 {
					t.Errorf("%d handoff %ss rendered, want 1 (%v)", kinds[k], k, kinds)
				}
			}
			manager, endpoint := deployments[fullname], deployments[handoff]
			if manager == nil || endpoint == nil || len(deployments) != 2 {
				t.Fatalf("Deployments %v; want %s and %s", slices.Sorted(maps.Keys(deployments)), fullname, handoff)
			}
			wantArgs(t, manager, "--handoff-url="+publicURL, "--handoff-key-secret="+keySecret, "--namespace="+tc.ns)
			wantArgs(t, endpoint, "handoff", "--listen=:8080", "--namespace="+tc.ns, "--key-secret="+keySecret)
			if ports := endpoint.Spec.Template.Spec.Containers[0].Ports; !slices.ContainsFunc(ports, func(p corev1.ContainerPort) bool {
				return p.Name == "http" && p.ContainerPort == 8080
			}) {
				t.Errorf("the endpoint has no container port http 8080: %v", ports)
			}

			// A selector that picked the other Deployment's pods would have
			// the operator's Deployment adopt the endpoint's pods, or the
			// public Service send customers to the operator.
			selectors := 0
			for _, o := range objs {
				var sel labels.Selector
				switch o.GetKind() {
				case "Service":
					m, _, _ := unstructured.NestedStringMap(o.Object, "spec", "selector")
					sel = labels.SelectorFromSet(m)
				case "Deployment", "PodDisruptionBudget", "NetworkPolicy":
					field := "selector"
					if o.GetKind() == "NetworkPolicy" {
						field = "podSelector"
					}
					m, _, _ := unstructured.NestedMap(o.Object, "spec", field)
					var ls metav1.LabelSelector
					if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &ls); err != nil {
						t.Fatal(err)
					}
					var err error
					if sel, err = metav1.LabelSelectorAsSelector(&ls); err != nil {
						t.Fatal(err)
					}
				default:
					continue
				}
				selectors++
				want := fullname
				if strings.HasPrefix(o.GetName(), handoff) {
					want = handoff
				}
				var matched []string
				for name, d := range deployments {
					if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
						matched = append(matched, name)
					}
				}
				if len(matched) != 1 || matched[0] != want {
					t.Errorf("%s %s selects the pods of %v; want %s's only", o.GetKind(), o.GetName(), matched, want)
				}
			}
			if selectors < 5 {
				t.Errorf("checked %d selectors; want the Deployments', the Services', the PDBs' and more", selectors)
			}

			if tc.clusterWide {
				var ing *networkingv1.Ingress
				for _, o := range objs {
					if o.GetKind() == "Ingress" {
						ing = &networkingv1.Ingress{}
						if err := runtimeConvert(o, ing); err != nil {
							t.Fatal(err)
						}
					}
				}
				if ing == nil || len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != "export.example.com" || ing.Spec.Rules[0].HTTP == nil ||
					len(ing.Spec.Rules[0].HTTP.Paths) != 1 {
					t.Fatalf("no Ingress with one rule for export.example.com: %+v", ing)
				}
				p := ing.Spec.Rules[0].HTTP.Paths[0]
				if p.Path != "/v1/" || p.Backend.Service == nil || p.Backend.Service.Name != handoff || p.Backend.Service.Port.Name != "http" {
					t.Errorf("the Ingress routes %s to %+v; want /v1/ to %s:http", p.Path, p.Backend.Service, handoff)
				}
			}

			// Install the RBAC for real and ask who may do what.
			for _, o := range objs {
				switch o.GetKind() {
				case "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding":
				default:
					continue
				}
				o := o.DeepCopy()
				// What the dry run filled in.
				o.SetResourceVersion("")
				o.SetUID("")
				o.SetCreationTimestamp(metav1.Time{})
				o.SetManagedFields(nil)
				if err := c.Create(ctx, o); err != nil {
					t.Fatalf("creating %s %s: %v", o.GetKind(), o.GetName(), err)
				}
				t.Cleanup(func() { _ = c.Delete(context.Background(), o) })
			}
			sa := func(name string) string { return "system:serviceaccount:" + tc.ns + ":" + name }
			type check struct {
				user string
				attr authorizationv1.ResourceAttributes
				want bool
			}
			secret := func(user, ns, verb, name string, want bool) check {
				return check{user, authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Resource: "secrets", Name: name}, want}
			}
			configMaps := func(user, ns, verb string, want bool) check {
				return check{user, authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Resource: "configmaps"}, want}
			}
			withdrawals := func(user, ns, verb string, want bool) check {
				return check{user, authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Group: "withdrawal.ops.dev", Resource: "regionwithdrawals"}, want}
			}
			ep, mgr := sa(handoff), sa(fullname)
			checks := []check{
				// The endpoint: the key by name, its records and the link
				// indexes in its own namespace, nothing outside it: no
				// withdrawal, no tenant's ConfigMap (recipient lists are
				// customers' personal data).
				secret(ep, tc.ns, "get", keySecret, true),
				configMaps(ep, tc.ns, "watch", true),
				configMaps(ep, tc.ns, "create", true),
				configMaps(ep, tc.ns, "update", true),
				withdrawals(ep, tenant, "watch", false),
				withdrawals(ep, tenant, "get", false),
				configMaps(ep, tenant, "list", false),
				configMaps(ep, tenant, "get", false),
				secret(ep, tc.ns, "get", "another-secret", false),
				secret(ep, tc.ns, "list", "", false),
				secret(ep, tc.ns, "create", "", false),
				secret(ep, tc.ns, "update", keySecret, false),
				secret(ep, tenant, "get", keySecret, false),
				configMaps(ep, tc.ns, "delete", false),
				configMaps(ep, tenant, "create", false),
				configMaps(ep, tenant, "update", false),
				withdrawals(ep, tenant, "update", false),
				withdrawals(ep, other, "list", false),
				configMaps(ep, other, "get", false),
				// The operator: creates the key, reads it by name, reads the
				// records and publishes the link indexes, in the release
				// namespace only.
				secret(mgr, tc.ns, "get", keySecret, true),
				secret(mgr, tc.ns, "create", "", true),
				configMaps(mgr, tc.ns, "list", true),
				configMaps(mgr, tc.ns, "watch", true),
				secret(mgr, tc.ns, "get", "another-secret", false),
				secret(mgr, tc.ns, "list", "", false),
				secret(mgr, tc.ns, "update", keySecret, false),
				secret(mgr, tc.ns, "delete", keySecret, false),
				secret(mgr, tenant, "create", "", false),
				secret(mgr, tenant, "get", keySecret, false),
				configMaps(mgr, tenant, "list", false),
				// The evidence ledger (on by default): its key by name, its
				// shards written in the release namespace only.
				secret(mgr, tc.ns, "get", fullname+"-evidence-key", true),
				configMaps(mgr, tc.ns, "create", true),
				configMaps(mgr, tc.ns, "update", true),
				configMaps(mgr, tc.ns, "delete", true),
				configMaps(mgr, tenant, "create", false),
				configMaps(mgr, tenant, "update", false),
				secret(ep, tc.ns, "get", fullname+"-evidence-key", false),
			}
			cs := kubernetes.NewForConfigOrDie(env.Config)
			allowed := func(ck check) bool {
				attr := ck.attr
				sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: ck.user,
					Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + tc.ns, "system:authenticated"}, ResourceAttributes: &attr}}
				res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return res.Status.Allowed
			}
			// The authorizer sees new RBAC objects after a moment: wait
			// until what is granted is allowed, then check what is not.
			for _, want := range []bool{true, false} {
				for _, ck := range checks {
					if ck.want != want {
						continue
					}
					got := allowed(ck)
					for deadline := time.Now().Add(10 * time.Second); got != want && want && time.Now().Before(deadline); {
						time.Sleep(100 * time.Millisecond)
						got = allowed(ck)
					}
					if got != want {
						t.Errorf("%s may %s %s %s/%s: %v, want %v", ck.user, ck.attr.Verb, ck.attr.Resource, ck.attr.Namespace, ck.attr.Name, got, want)
					}
				}
			}
		})
	}
}

// TestEvidenceLedger: the ledger is on by default, with its key Secret named
// for the release and a Role in the release namespace only; off, neither.
func TestEvidenceLedger(t *testing.T) {
	const fullname = "rwo-region-withdrawal-operator"
	for _, tc := range []struct {
		name     string
		sets     []string
		wantArgs []string
		wantRole bool
	}{
		{name: "on by default", wantRole: true,
			wantArgs: []string{"--evidence=true", "--evidence-key-secret=" + fullname + "-evidence-key", "--namespace=evidence-a"}},
		{name: "copied to an object store", sets: []string{"evidence.copyURL=https://store.example.com/evidence"}, wantRole: true,
			wantArgs: []string{"--evidence=true", "--evidence-copy-url=https://store.example.com/evidence"}},
		{name: "off", sets: []string{"evidence.enabled=false"}, wantArgs: []string{"--evidence=false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			roles := 0
			for _, o := range render(t, "evidence-a", tc.sets...) {
				switch {
				case o.GetKind() == "Deployment" && o.GetName() == fullname:
					wantArgs(t, deployment(t, o), tc.wantArgs...)
				case strings.HasSuffix(o.GetName(), "-manager-evidence"):
					roles++
					if o.GetKind() != "Role" && o.GetKind() != "RoleBinding" {
						t.Errorf("%s %s: the evidence grants must be namespaced", o.GetKind(), o.GetName())
					}
				}
			}
			if got := roles == 2; got != tc.wantRole {
				t.Errorf("%d evidence Role objects rendered; want a Role and its binding: %v", roles, tc.wantRole)
			}
		})
	}
	if out, err := runHelm("template", "rwo", chart, "--set", "evidence.copyURL=https://store.example.com/evidence?token=x"); err == nil {
		t.Errorf("a copy URL with a query rendered:\n%s", out)
	}
}

func deployment(t *testing.T, o *unstructured.Unstructured) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	if err := runtimeConvert(o, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

// wantArgs fails unless the Deployment's first container has every arg.
func wantArgs(t *testing.T, d *appsv1.Deployment, want ...string) {
	t.Helper()
	args := d.Spec.Template.Spec.Containers[0].Args
	for _, w := range want {
		if !slices.Contains(args, w) {
			t.Errorf("Deployment %s: no arg %s in %v", d.Name, w, args)
		}
	}
}

// TestInstallationRules: requireApproval and exportAllowedOrigins reach
// the operator, and the allowed origins the handoff endpoint too, so that
// both refuse the same locations.
func TestInstallationRules(t *testing.T) {
	deployments := 0
	for _, o := range render(t, "rules-a", "handoff.enabled=true", "handoff.publicURL=https://export.example.com",
		"requireApproval={drain,routing}", "exportAllowedOrigins={https://objects.example.com,s3://exports}") {
		if o.GetKind() != "Deployment" {
			continue
		}
		d := deployment(t, o)
		deployments++
		wantArgs(t, d, "--export-allowed-origins=https://objects.example.com,s3://exports")
		if d.Name == "rwo-region-withdrawal-operator" {
			wantArgs(t, d, "--require-approval=drain,routing")
		}
	}
	if deployments < 2 {
		t.Fatalf("%d Deployments rendered, want the operator's and the handoff endpoint's", deployments)
	}
}

// TestHelmTestHook: the test pod is the one hook, runs the image's
// selftest against the release's own Deployment, and its ServiceAccount
// may get that Deployment and nothing else; tests.enabled=false renders
// none of it.
func TestHelmTestHook(t *testing.T) {
	var pod *corev1.Pod
	var role map[string]any
	for _, o := range render(t, "rwo-system") {
		if o.GetLabels()["app.kubernetes.io/component"] != "test" {
			continue
		}
		hook := o.GetAnnotations()["helm.sh/hook"]
		switch o.GetKind() {
		case "Pod":
			pod = &corev1.Pod{}
			if err := runtimeConvert(o, pod); err != nil {
				t.Fatal(err)
			}
			if hook != "test" {
				t.Errorf("the test pod's hook annotation is %q, want test", hook)
			}
		case "Role":
			role = o.Object
			fallthrough
		default:
			if hook != "" {
				t.Errorf("%s %s is a hook: helm test --logs would ask for the log of a pod of its name", o.GetKind(), o.GetName())
			}
		}
	}
	if pod == nil || role == nil {
		t.Fatal("no test pod or no Role for it rendered")
	}
	args := pod.Spec.Containers[0].Args
	if len(args) == 0 || args[0] != "selftest" || !slices.Contains(args, "--deployment=rwo-region-withdrawal-operator") || !slices.Contains(args, "--namespace=rwo-system") {
		t.Errorf("the test pod runs %v, want the selftest of the release's Deployment", args)
	}
	rules, _, _ := unstructured.NestedSlice(role, "rules")
	want := []any{map[string]any{"apiGroups": []any{"apps"}, "resources": []any{"deployments"}, "resourceNames": []any{"rwo-region-withdrawal-operator"}, "verbs": []any{"get"}}}
	if fmt.Sprint(rules) != fmt.Sprint(want) {
		t.Errorf("the test's Role grants %v, want only get on the operator's Deployment", rules)
	}
	for _, o := range render(t, "rwo-system", "tests.enabled=false") {
		if o.GetLabels()["app.kubernetes.io/component"] == "test" {
			t.Errorf("tests.enabled=false still renders %s %s", o.GetKind(), o.GetName())
		}
	}
}

// TestTheServiceMonitorCanScrape installs what the chart makes for a
// Prometheus Operator scrape (the scraper ServiceAccount, the reader
// ClusterRole and its binding) on the real API server, and scrapes a
// metrics endpoint guarded as the operator's is (controller-runtime's
// authentication and authorization filter: a TokenReview, then a
// SubjectAccessReview for get /metrics) the way the rendered ServiceMonitor
// says: over TLS without verification, with the scraper's token. Another
// ServiceAccount's token is refused, and so is no token.
//
// envtest runs no token controller to fill the scraper's token Secret, so
// the test asks the TokenRequest API for a token of the same
// ServiceAccount: the API server authenticates both alike.
func TestTheServiceMonitorCanScrape(t *testing.T) {
	ctx := context.Background()
	const ns = "scrape"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	var monitor *unstructured.Unstructured
	var service *corev1.Service
	for _, o := range renderRelease(t, "scrape", ns, "", "metrics.serviceMonitor.enabled=true") {
		switch {
		case o.GetKind() == "ServiceMonitor":
			monitor = o
		case o.GetKind() == "Service" && strings.HasSuffix(o.GetName(), "-metrics"):
			service = &corev1.Service{}
			if err := runtimeConvert(o, service); err != nil {
				t.Fatal(err)
			}
		case strings.Contains(o.GetName(), "metrics") && slices.Contains([]string{"ClusterRole", "ClusterRoleBinding", "ServiceAccount", "Secret"}, o.GetKind()):
			if err := env.Client.Create(ctx, o); err != nil {
				t.Fatalf("creating %s %s: %v", o.GetKind(), o.GetName(), err)
			}
		}
	}
	if monitor == nil || service == nil {
		t.Fatal("no ServiceMonitor or no metrics Service rendered")
	}
	endpoints, _, _ := unstructured.NestedSlice(monitor.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("the ServiceMonitor has endpoints %v", endpoints)
	}
	ep := endpoints[0].(map[string]any)
	port, _, _ := unstructured.NestedString(ep, "port")
	if !slices.ContainsFunc(service.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == port }) {
		t.Fatalf("the ServiceMonitor scrapes port %q, which the metrics Service does not name", port)
	}
	if honor, _, _ := unstructured.NestedBool(ep, "honorLabels"); !honor {
		t.Error("the ServiceMonitor does not honour the metrics' labels: Prometheus would rename each withdrawal's namespace label exported_namespace")
	}
	scraper, _, _ := unstructured.NestedString(ep, "authorization", "credentials", "name")
	skipVerify, _, _ := unstructured.NestedBool(ep, "tlsConfig", "insecureSkipVerify")
	if scheme, _, _ := unstructured.NestedString(ep, "scheme"); scheme != "https" || scraper == "" {
		t.Fatalf("the ServiceMonitor scrapes over %q with the token of %q", scheme, scraper)
	}

	cs := kubernetes.NewForConfigOrDie(env.Config)
	token := func(sa string) string {
		t.Helper()
		tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("a token of %s: %v", sa, err)
		}
		return tr.Status.Token
	}
	scraperToken := token(scraper)
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "prometheus-itself"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	otherToken := token("prometheus-itself")

	// The operator's endpoint, as main.go builds it.
	addr := freeLoopbackAddr(t)
	httpClient, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := metricsserver.NewServer(metricsserver.Options{BindAddress: addr, SecureServing: true, CertDir: t.TempDir(),
		FilterProvider: filters.WithAuthenticationAndAuthorization}, env.Config, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Start(sctx) }()
	t.Cleanup(func() { stop(); <-served })

	scrape := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: skipVerify}}}
	get := func(bearer string) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/metrics", nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := scrape.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, string(b)
	}
	var code int
	var body string
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		code, body = get(scraperToken)
		return code != 0, nil // 0: not listening yet
	}); err != nil || code != http.StatusOK || !strings.Contains(body, "# TYPE") {
		t.Fatalf("with the scraper's token the scrape got %d: %.300s", code, body)
	}
	if code, body := get(""); code != http.StatusUnauthorized {
		t.Errorf("without a token the scrape got %d, want 401: %.200s", code, body)
	}
	if code, body := get(otherToken); code != http.StatusForbidden {
		t.Errorf("with a token of a ServiceAccount not bound to the reader role the scrape got %d, want 403: %.200s", code, body)
	}
}

// freeLoopbackAddr is a loopback address with a port nothing listens on.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
