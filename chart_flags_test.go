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

// The chart turns values into the operator's command line. These tests
// render it with the real helm and parse what it rendered with the binary's
// own flags, so that a value reaches the operator as the value says, and a
// flag the chart writes is one the binary has.

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/ops-dev/region-withdrawal-operator/internal/routing"
)

const chartDir = "charts/region-withdrawal-operator"

// chartManagerArgs renders the chart and returns the operator container's
// arguments after the "manager" subcommand.
func chartManagerArgs(t *testing.T, helmArgs ...string) []string {
	t.Helper()
	helm, err := filepath.Abs("bin/helm")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(helm); err != nil {
		t.Fatal("this test needs bin/helm: run hack/tools.sh helm (make test does)")
	}
	home := t.TempDir()
	cmd := exec.Command(helm, append([]string{"template", "rwo", chartDir, "--namespace", "rwo-system"}, helmArgs...)...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm template: %v\n%s", err, stderr.String())
	}
	dec := utilyaml.NewYAMLReader(bufio.NewReader(&out))
	for {
		doc, err := dec.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var d appsv1.Deployment
		if err := yaml.Unmarshal(doc, &d); err != nil || d.Kind != "Deployment" || d.Name != "rwo-region-withdrawal-operator" {
			continue
		}
		args := d.Spec.Template.Spec.Containers[0].Args
		if len(args) == 0 || args[0] != "manager" {
			t.Fatalf("the operator container's args %v do not start with the manager subcommand", args)
		}
		return args[1:]
	}
	t.Fatal("helm template rendered no operator Deployment")
	return nil
}

// binaryCommandLine gives the test a fresh flag.CommandLine holding only
// what libraries registered, as the binary's has (the test binary's own
// -test.* flags left out), and puts the old one back after it.
func binaryCommandLine(t *testing.T) {
	t.Helper()
	saved := flag.CommandLine
	t.Cleanup(func() { flag.CommandLine = saved })
	flag.CommandLine = flag.NewFlagSet("region-withdrawal-operator", flag.ContinueOnError)
	flag.CommandLine.SetOutput(io.Discard)
	saved.VisitAll(func(f *flag.Flag) {
		if !strings.HasPrefix(f.Name, "test.") {
			flag.CommandLine.Var(f.Value, f.Name, f.Usage)
		}
	})
}

// parseAsBinary parses args as the binary would.
func parseAsBinary(t *testing.T, args []string) (*managerFlags, error) {
	t.Helper()
	binaryCommandLine(t)
	return parseManagerFlags(args)
}

func TestTheChartsDefaultsParse(t *testing.T) {
	f, err := parseAsBinary(t, chartManagerArgs(t))
	if err != nil {
		t.Fatalf("the binary refuses the command line the chart renders by default: %v", err)
	}
	nb := f.noticeBackend
	if nb.Replicas != 2 || nb.MinAvailable == nil || *nb.MinAvailable != intstr.FromInt32(1) || nb.MaxUnavailable != nil {
		t.Errorf("default notice backend: replicas %d, minAvailable %v, maxUnavailable %v; want 2, 1, none", nb.Replicas, nb.MinAvailable, nb.MaxUnavailable)
	}
	if sc := nb.PodSecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 65532 {
		t.Errorf("default notice backend pod security context %+v, want UID 65532", sc)
	}
	if p := f.exportPods; p.ServiceAccount != "region-withdrawal-exporter" || p.AllowToken || len(p.Secrets) != 1 || !p.Secrets["region-withdrawal-export"] || len(p.VolumeKinds) == 0 || slices.Contains(p.VolumeKinds, "hostPath") {
		t.Errorf("the chart's default export pod policy reached the operator as %+v; want the exporter ServiceAccount, no token, the conventional Secret alone, no hostPath", p)
	}
	if !slices.Equal(f.serviceAccounts, []string{"region-withdrawal"}) {
		t.Errorf("the chart lets withdrawals act as %v, want only the default region-withdrawal", f.serviceAccounts)
	}
	if f.executeTimeout != 2*time.Minute || f.legacyWebhookHeaders {
		t.Errorf("default execute timeout %s, legacy headers %t; want 2m, false", f.executeTimeout, f.legacyWebhookHeaders)
	}
}

// TestEveryDayTwoValueReachesTheOperator renders ci/day-two-values.yaml,
// in which every such value differs from its default.
func TestEveryDayTwoValueReachesTheOperator(t *testing.T) {
	f, err := parseAsBinary(t, chartManagerArgs(t, "--values", filepath.Join(chartDir, "ci", "day-two-values.yaml")))
	if err != nil {
		t.Fatalf("the binary refuses the command line the chart renders from ci/day-two-values.yaml: %v", err)
	}
	if f.executeTimeout != 5*time.Minute+30*time.Second {
		t.Errorf("executeTimeout reached the operator as %s, want 5m30s", f.executeTimeout)
	}
	if !f.legacyWebhookHeaders {
		t.Error("webhookLegacyHeaders did not reach the operator")
	}
	// extraArgs come last, so they win over the chart's own.
	if f.riskWindow != 48*time.Hour {
		t.Errorf("extraArgs --risk-window=48h reached the operator as %s", f.riskWindow)
	}
	if f.evidenceStore != "s3://evidence-ledgers/prod" || f.evidenceS3.Endpoint != "http://seaweedfs.storage:8333" || !f.evidenceS3.PathStyle || f.evidenceS3.Region != "us-east-1" {
		t.Errorf("evidence.store reached the operator as %q, %+v", f.evidenceStore, f.evidenceS3)
	}
	if !strings.Contains(f.noticeBackendImage, "@sha256:0123") {
		t.Errorf("the notice backend image %q is not pinned by image.digest", f.noticeBackendImage)
	}

	nb := f.noticeBackend
	want := routing.NoticeBackendOptions{
		Replicas:          3,
		MaxUnavailable:    new(intstr.FromInt32(1)),
		PriorityClassName: "region-critical",
		NodeSelector:      map[string]string{"node-role.example.com/edge": "true"},
		Tolerations:       []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "edge", Effect: corev1.TaintEffectNoSchedule}},
		ImagePullSecrets:  []corev1.LocalObjectReference{{Name: "regcred"}, {Name: "mirror"}},
	}
	if nb.Replicas != want.Replicas || nb.MinAvailable != nil || nb.MaxUnavailable == nil || *nb.MaxUnavailable != *want.MaxUnavailable ||
		nb.PriorityClassName != want.PriorityClassName || !equalYAML(t, nb.NodeSelector, want.NodeSelector) ||
		!equalYAML(t, nb.Tolerations, want.Tolerations) || !equalYAML(t, nb.ImagePullSecrets, want.ImagePullSecrets) {
		t.Errorf("noticeBackend reached the operator as\n%s\nwant\n%s", asYAML(t, nb), asYAML(t, want))
	}
	if nb.Resources == nil || !nb.Resources.Requests.Cpu().Equal(resource.MustParse("20m")) || !nb.Resources.Limits.Memory().Equal(resource.MustParse("64Mi")) {
		t.Errorf("noticeBackend.resources reached the operator as %+v", nb.Resources)
	}
	// OpenShift: with runAsUser and runAsGroup nulled, no fixed ID is left.
	if sc := nb.PodSecurityContext; sc == nil || sc.RunAsUser != nil || sc.RunAsGroup != nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("noticeBackend.podSecurityContext reached the operator as %s", asYAML(t, sc))
	}
}

func equalYAML(t *testing.T, a, b any) bool { return asYAML(t, a) == asYAML(t, b) }

func asYAML(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
