//go:build e2e

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

package realnode

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

// The release this test installs beside the suite's own, so that it runs
// alone (-run TestPrometheus) and leaves the suite's release untouched.
const (
	promRelease  = "rwo-prom"
	promNS       = "rwo-prom"
	lateNS       = "prom-late"
	lateName     = "late"
	metricsSvc   = promRelease + "-metrics"
	metricsCert  = promRelease + "-metrics-cert"
	metricsCA    = promRelease + "-metrics-ca"
	metricsSANs  = metricsSvc + "." + promNS + ".svc"
	lateAlert    = "RegionWithdrawalRoutingNotSwitched"
	promDeadline = 3 * time.Minute
)

// monitoringCRDs stand in for the Prometheus Operator's ServiceMonitor and
// PrometheusRule CRDs, which cannot be fetched here: the same group,
// version and kind, with no schema, so that Helm installs the chart's
// ServiceMonitor, PrometheusRule and scraper ServiceAccount as it would in a
// cluster running the Prometheus Operator. The test then does the
// Prometheus Operator's part: it reads them back and writes Prometheus's
// configuration from them.
const monitoringCRDs = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: prometheusrules.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  names: {kind: PrometheusRule, listKind: PrometheusRuleList, plural: prometheusrules, singular: prometheusrule}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`

// serviceMonitor is the part of a ServiceMonitor this test turns into a
// scrape configuration, field for field as the Prometheus Operator does.
type serviceMonitor struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
	Spec     struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Scheme        string `json:"scheme"`
			Path          string `json:"path"`
			HonorLabels   bool   `json:"honorLabels"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
			Authorization *struct {
				Type        string                    `json:"type"`
				Credentials *corev1.SecretKeySelector `json:"credentials"`
			} `json:"authorization"`
			TLSConfig *struct {
				CA *struct {
					Secret *corev1.SecretKeySelector `json:"secret"`
				} `json:"ca"`
				ServerName         string `json:"serverName"`
				InsecureSkipVerify bool   `json:"insecureSkipVerify"`
			} `json:"tlsConfig"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// TestPrometheusScrapesTheOperator runs a real Prometheus on this machine
// that scrapes the operator on the real node with the chart's own scrape
// settings (its ServiceMonitor: honorLabels, the scraper ServiceAccount bound
// to the metrics-reader ClusterRole, TLS verified against the serving
// certificate's CA) and evaluates the rules the chart ships, and checks in
// Prometheus's API that the target is up, that a withdrawal's metrics carry
// the withdrawal's namespace, and that a withdrawal past its cutoff whose
// routing has not switched fires RegionWithdrawalRoutingNotSwitched.
func TestPrometheusScrapesTheOperator(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	dir := t.TempDir()

	// Prometheus itself first: a test of monitoring that cannot start its
	// Prometheus fails here rather than skipping.
	promBin := filepath.Join(testenv.RepoRoot(), "bin", "prometheus")
	if _, err := os.Stat(promBin); err != nil {
		t.Fatalf("no Prometheus to scrape with (hack/tools.sh prometheus builds it): %v", err)
	}

	// This release leaves the RegionWithdrawal CRD to the suite's own
	// release (crds.enabled=false: only one release may own it). Run
	// before that release exists, the test applies the CRD itself, and
	// deletes it, waiting, so that the suite's release can take it over.
	crds := []string{"servicemonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com"}
	if _, err := real.Kubectl("get", "crd", "regionwithdrawals.withdrawal.ops.dev"); err != nil {
		if err := real.InstallCRDs(); err != nil {
			t.Fatal(err)
		}
		crds = append(crds, "regionwithdrawals.withdrawal.ops.dev")
	}
	t.Cleanup(func() {
		if out, err := real.Kubectl(append([]string{"delete", "crd", "--ignore-not-found", "--wait=true", "--timeout=2m"}, crds...)...); err != nil {
			t.Errorf("deleting the CRDs this test made: %v\n%s", err, out)
		}
	})
	kubectlApply(t, filepath.Join(dir, "monitoring-crds.yaml"), monitoringCRDs)
	for _, crd := range crds[:2] {
		if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
			out, err := real.Kubectl("get", "crd", crd, "-o", `jsonpath={.status.conditions[?(@.type=="Established")].status}`)
			return err == nil && string(out) == "True", nil
		}); err != nil {
			t.Fatalf("CRD %s is not served: %v", crd, err)
		}
	}

	createNamespace(t, c, promNS, map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"})
	createNamespace(t, c, lateNS, nil)
	t.Cleanup(func() {
		for _, ns := range []string{lateNS, promNS} {
			_ = c.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		}
	})

	// The metrics endpoint's serving certificate, from a CA of the test's,
	// for the metrics Service's name. The operator (controller-runtime's
	// metrics server) serves tls.crt and tls.key from
	// /tmp/k8s-metrics-server/serving-certs when they are there, and a
	// self-signed certificate of its own, which no client can verify, when
	// not; the chart's volumes and volumeMounts put them there.
	caPEM, certPEM, keyPEM := servingCert(t, metricsSANs)
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: metricsCert, Namespace: promNS}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM}},
		{ObjectMeta: metav1.ObjectMeta{Name: metricsCA, Namespace: promNS}, Data: map[string][]byte{"ca.crt": caPEM}},
	} {
		if err := c.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}

	values := filepath.Join(dir, "values.yaml")
	writeTestFile(t, values, `
fullnameOverride: `+promRelease+`
crds: {enabled: false}
watchNamespaces: [`+lateNS+`]
tenancy: {namespaces: [`+lateNS+`]}
metrics:
  serviceMonitor:
    enabled: true
    interval: 2s
    # How a user verifies the endpoint with the Prometheus Operator: the
    # CA's Secret and the Service's name. insecureSkipVerify is the chart's
    # default and must be turned off explicitly, since Helm merges maps.
    tlsConfig:
      insecureSkipVerify: false
      ca: {secret: {name: `+metricsCA+`, key: ca.crt}}
      serverName: `+metricsSANs+`
  prometheusRule: {enabled: true}
volumes:
  - name: metrics-cert
    secret: {secretName: `+metricsCert+`}
volumeMounts:
  - name: metrics-cert
    mountPath: /tmp/k8s-metrics-server/serving-certs
    readOnly: true
`)
	runHelm(t, append([]string{"install", promRelease}, append(current.ChartArgs(),
		"--namespace", promNS, "-f", values, "--wait", "--timeout", "3m")...)...)
	t.Cleanup(func() {
		cmd := exec.Command(filepath.Join(testenv.RepoRoot(), "bin", "helm"), "uninstall", promRelease, "--namespace", promNS, "--wait", "--kubeconfig", real.Kubeconfig)
		cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+dir, "HELM_CONFIG_HOME="+dir, "HELM_DATA_HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("helm uninstall: %v\n%s", err, out)
		}
	})

	// What the Prometheus Operator would read: the chart's ServiceMonitor,
	// the Secrets it names, and the chart's PrometheusRule.
	var sm serviceMonitor
	kubectlGetJSON(t, &sm, "get", "servicemonitor", promRelease, "-n", promNS)
	promConfig := scrapeConfig(t, c, &sm, dir)

	var rule struct {
		Spec map[string]any `json:"spec"`
	}
	kubectlGetJSON(t, &rule, "get", "prometheusrule", promRelease, "-n", promNS)
	shipped := readTestYAML(t, filepath.Join(testenv.RepoRoot(), "config", "prometheus", "rules.yaml"))
	if !reflect.DeepEqual(rule.Spec, shipped) {
		t.Fatalf("the chart's PrometheusRule does not carry config/prometheus/rules.yaml's groups")
	}
	rulesFile := filepath.Join(dir, "rules.yaml")
	writeTestYAML(t, rulesFile, rule.Spec)

	// The rules are evaluated every second instead of Prometheus' default
	// minute; the rules themselves are loaded as the chart ships them,
	// `for:` and all.
	cfgFile := filepath.Join(dir, "prometheus.yml")
	writeTestYAML(t, cfgFile, map[string]any{
		"global":         map[string]any{"evaluation_interval": "1s"},
		"rule_files":     []string{rulesFile},
		"scrape_configs": []any{promConfig},
	})
	prom := startPrometheus(t, promBin, cfgFile, dir)

	// A withdrawal made late on purpose: its cutoff passed ten minutes ago
	// and its routing step waits for an approval nobody gives.
	zero := v1.Moment{Offset: &metav1.Duration{}}
	late := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: lateName, Namespace: lateNS},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Cutoff: metav1.NewTime(time.Now().Add(-10 * time.Minute).Truncate(time.Second)), TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"bes.example.com/region": "late"}},
			Routing: &v1.RoutingStep{At: &zero, Mode: v1.RoutingBlock451, RequireApproval: true,
				NoticeBackend: &v1.NoticeBackend{BlockedBy: blockedBy}},
		},
	}
	if err := c.Create(ctx, late); err != nil {
		t.Fatal(err)
	}
	// Gone before the operator is uninstalled, which must remove its
	// finalizer first, or its namespace would stay Terminating.
	t.Cleanup(func() { deleteWithdrawal(t, c, late) })

	// (a) The target is up: discovered from the Service the ServiceMonitor
	// selects, TLS verified, and the scraper's token accepted (a 403 or a
	// certificate error shows as down, with the reason in lastError).
	var target promTarget
	prom.poll(t, "the operator's target to be up", func() (bool, string) {
		var targets struct {
			ActiveTargets []promTarget `json:"activeTargets"`
		}
		prom.api(t, "/api/v1/targets?state=active", &targets)
		for _, tg := range targets.ActiveTargets {
			if tg.ScrapePool == promConfig["job_name"] {
				target = tg
				return tg.Health == "up", fmt.Sprintf("%+v", tg)
			}
		}
		return false, fmt.Sprintf("no target in %+v", targets.ActiveTargets)
	})
	if target.Labels["namespace"] != promNS || target.Labels["service"] != metricsSvc {
		t.Errorf("target labels %v, want namespace %s and service %s as the Prometheus Operator sets them", target.Labels, promNS, metricsSvc)
	}
	t.Logf("target %s is up (scrape pool %s)", target.ScrapeURL, target.ScrapePool)

	// (b) The withdrawal's metrics keep its own namespace: honorLabels wins
	// over the target's namespace label (the operator's), and nothing is
	// renamed exported_namespace.
	sel := fmt.Sprintf(`region_withdrawal_seconds_until_cutoff{name=%q}`, lateName)
	var series []promSample
	prom.poll(t, "the withdrawal's metrics to be scraped", func() (bool, string) {
		series = prom.query(t, sel)
		return len(series) > 0, fmt.Sprintf("%s: %v", sel, series)
	})
	for _, s := range series {
		if s.Metric["namespace"] != lateNS || s.Metric["exported_namespace"] != "" {
			t.Errorf("%s has namespace %q and exported_namespace %q, want namespace %s and no exported_namespace", sel, s.Metric["namespace"], s.Metric["exported_namespace"], lateNS)
		}
	}
	// The operator's own metrics, which have no namespace label, get the
	// target's: the OperatorAbsent alert's expression finds the leader.
	if got := prom.query(t, `absent(controller_runtime_reconcile_total{controller="regionwithdrawal"})`); len(got) != 0 {
		t.Errorf("RegionWithdrawalOperatorAbsent's expression is true: %v", got)
	}
	if got := prom.query(t, `controller_runtime_reconcile_total{controller="regionwithdrawal"}`); len(got) == 0 || got[0].Metric["namespace"] != promNS {
		t.Errorf("controller_runtime_reconcile_total: %v, want the operator's namespace %s", got, promNS)
	}

	// Every shipped rule is loaded and evaluates without error.
	var rules struct {
		Groups []struct {
			Rules []struct {
				Name, Health, LastError string
			} `json:"rules"`
		} `json:"groups"`
	}
	prom.poll(t, "every rule to be evaluated", func() (bool, string) {
		prom.api(t, "/api/v1/rules", &rules)
		n, bad := 0, []string{}
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				n++
				if r.Health != "ok" {
					bad = append(bad, r.Name+": "+r.Health+" "+r.LastError)
				}
			}
		}
		return n > 0 && len(bad) == 0, fmt.Sprintf("%d rules, not ok: %v", n, bad)
	})

	// (c) The late withdrawal fires its alert in Prometheus's own alerts API,
	// labelled with the withdrawal, as its runbook command needs.
	prom.poll(t, lateAlert+" to fire", func() (bool, string) {
		var alerts struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		}
		prom.api(t, "/api/v1/alerts", &alerts)
		for _, a := range alerts.Alerts {
			if a.Labels["alertname"] == lateAlert && a.Labels["namespace"] == lateNS && a.Labels["name"] == lateName && a.State == "firing" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", alerts.Alerts)
	})
	t.Logf("%s fires for %s/%s", lateAlert, lateNS, lateName)
}

// deleteWithdrawal deletes rw and waits until the operator has let it go.
func deleteWithdrawal(t *testing.T, c client.Client, rw *v1.RegionWithdrawal) {
	t.Helper()
	ctx := context.Background()
	if err := c.Delete(ctx, rw); client.IgnoreNotFound(err) != nil {
		t.Errorf("deleting %s: %v", rw.Name, err)
		return
	}
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(rw), &v1.RegionWithdrawal{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		t.Errorf("withdrawal %s/%s was not deleted: %v", rw.Namespace, rw.Name, err)
	}
}

// scrapeConfig turns the ServiceMonitor's one endpoint into the scrape
// configuration the Prometheus Operator generates for it: Kubernetes
// service discovery of the Service's EndpointSlices, kept by the selector's
// labels and the port's name, the target labels namespace, service, pod,
// container, endpoint and job, and the endpoint's settings.
func scrapeConfig(t *testing.T, c client.Client, sm *serviceMonitor, dir string) map[string]any {
	t.Helper()
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("the ServiceMonitor has %d endpoints, want 1", len(sm.Spec.Endpoints))
	}
	ep := sm.Spec.Endpoints[0]
	cfg := map[string]any{
		"job_name":        fmt.Sprintf("serviceMonitor/%s/%s/0", sm.Metadata.Namespace, sm.Metadata.Name),
		"honor_labels":    ep.HonorLabels,
		"scheme":          ep.Scheme,
		"metrics_path":    ep.Path,
		"scrape_interval": ep.Interval,
		"kubernetes_sd_configs": []any{map[string]any{
			"role":            "endpointslice",
			"kubeconfig_file": real.Kubeconfig,
			"namespaces":      map[string]any{"names": []string{sm.Metadata.Namespace}},
		}},
	}
	if ep.ScrapeTimeout != "" {
		cfg["scrape_timeout"] = ep.ScrapeTimeout
	}
	if len(sm.Spec.Selector.MatchExpressions) != 0 {
		t.Fatalf("the ServiceMonitor's selector has matchExpressions, which this test does not translate")
	}
	var relabel []any
	for k, v := range sm.Spec.Selector.MatchLabels {
		relabel = append(relabel, map[string]any{
			"action": "keep", "regex": regexp.QuoteMeta(v),
			"source_labels": []string{"__meta_kubernetes_service_label_" + promLabelName(k)},
		})
	}
	relabel = append(relabel,
		map[string]any{"action": "keep", "regex": regexp.QuoteMeta(ep.Port), "source_labels": []string{"__meta_kubernetes_endpointslice_port_name"}},
		map[string]any{"target_label": "namespace", "source_labels": []string{"__meta_kubernetes_namespace"}},
		map[string]any{"target_label": "service", "source_labels": []string{"__meta_kubernetes_service_name"}},
		map[string]any{"target_label": "pod", "source_labels": []string{"__meta_kubernetes_pod_name"}},
		map[string]any{"target_label": "container", "source_labels": []string{"__meta_kubernetes_pod_container_name"}},
		map[string]any{"target_label": "endpoint", "replacement": ep.Port},
		map[string]any{"target_label": "job", "source_labels": []string{"__meta_kubernetes_service_name"}},
	)
	cfg["relabel_configs"] = relabel

	// The bearer token: the ServiceMonitor names the scraper's token Secret;
	// the token is one the API server issues to the ServiceAccount that
	// Secret is for (kubectl create token), so that the test does not
	// depend on the token controller filling the Secret in.
	if ep.Authorization == nil || ep.Authorization.Credentials == nil {
		t.Fatalf("the ServiceMonitor's endpoint has no authorization: Prometheus would scrape anonymously and get 401")
	}
	var tokenSecret corev1.Secret
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: sm.Metadata.Namespace, Name: ep.Authorization.Credentials.Name}, &tokenSecret); err != nil {
		t.Fatalf("the ServiceMonitor's token Secret: %v", err)
	}
	sa := tokenSecret.Annotations[corev1.ServiceAccountNameKey]
	if tokenSecret.Type != corev1.SecretTypeServiceAccountToken || sa == "" {
		t.Fatalf("Secret %s is not a ServiceAccount token Secret: type %s, annotations %v", tokenSecret.Name, tokenSecret.Type, tokenSecret.Annotations)
	}
	token, err := real.Kubectl("create", "token", sa, "-n", sm.Metadata.Namespace, "--duration=1h")
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "token")
	writeTestFile(t, tokenFile, strings.TrimSpace(string(token)))
	cfg["authorization"] = map[string]any{"type": ep.Authorization.Type, "credentials_file": tokenFile}

	// TLS as the ServiceMonitor says, and verified: this test's chart values
	// name a CA, so skipping verification would be a bug of the chart.
	tlsCfg := map[string]any{}
	if tc := ep.TLSConfig; tc != nil {
		if tc.InsecureSkipVerify {
			t.Fatalf("the ServiceMonitor skips TLS verification although a CA was given")
		}
		tlsCfg["server_name"] = tc.ServerName
		if tc.CA != nil && tc.CA.Secret != nil {
			var ca corev1.Secret
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: sm.Metadata.Namespace, Name: tc.CA.Secret.Name}, &ca); err != nil {
				t.Fatalf("the ServiceMonitor's CA Secret: %v", err)
			}
			caFile := filepath.Join(dir, "ca.crt")
			writeTestFile(t, caFile, string(ca.Data[tc.CA.Secret.Key]))
			tlsCfg["ca_file"] = caFile
		}
	}
	if tlsCfg["ca_file"] == nil {
		t.Fatalf("the ServiceMonitor names no CA to verify the metrics endpoint with: %+v", ep.TLSConfig)
	}
	cfg["tls_config"] = tlsCfg
	return cfg
}

// promLabelName is a Kubernetes label name as Prometheus's service discovery
// writes it into a meta label: every character outside [a-zA-Z0-9_] is _.
func promLabelName(s string) string {
	return regexp.MustCompile(`[^a-zA-Z0-9_]`).ReplaceAllString(s, "_")
}

// prometheus is a Prometheus server this test runs on the loopback.
type prometheus struct {
	base   string
	log    string
	exited chan error
}

type promTarget struct {
	Labels     map[string]string `json:"labels"`
	ScrapePool string            `json:"scrapePool"`
	ScrapeURL  string            `json:"scrapeUrl"`
	Health     string            `json:"health"`
	LastError  string            `json:"lastError"`
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  []any             `json:"value"`
}

// startPrometheus starts Prometheus with its API on a free loopback port and
// its TSDB in dir, waits until it is ready, and stops it when the test
// ends. It fails the test when Prometheus does not start.
func startPrometheus(t *testing.T, bin, cfgFile, dir string) *prometheus {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting Prometheus: %v", err)
	}
	p := &prometheus{base: "http://" + addr, log: logFile.Name(), exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			p.dumpLog(t)
		}
	})
	p.poll(t, "Prometheus to be ready", func() (bool, string) {
		resp, err := http.Get(p.base + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return p
}

// poll calls check until it is true, for at most promDeadline, and fails
// the test with check's last word when it never is or Prometheus exits.
func (p *prometheus) poll(t *testing.T, what string, check func() (bool, string)) {
	t.Helper()
	last := ""
	err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, promDeadline, true, func(context.Context) (bool, error) {
		select {
		case err := <-p.exited:
			p.exited <- err
			return false, fmt.Errorf("prometheus exited: %v", err)
		default:
		}
		var ok bool
		ok, last = check()
		return ok, nil
	})
	if err != nil {
		p.dumpLog(t)
		t.Fatalf("waiting for %s: %v; last: %s", what, err, last)
	}
}

// api gets a Prometheus HTTP API path and decodes its data into v.
func (p *prometheus) api(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get(p.base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: %s: %v", path, resp.Status, err)
	}
	if body.Status != "success" {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body.Error)
	}
	if err := json.Unmarshal(body.Data, v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// query evaluates an instant PromQL query.
func (p *prometheus) query(t *testing.T, q string) []promSample {
	t.Helper()
	var res struct {
		Result []promSample `json:"result"`
	}
	p.api(t, "/api/v1/query?query="+url.QueryEscape(q), &res)
	return res.Result
}

func (p *prometheus) dumpLog(t *testing.T) {
	t.Helper()
	b, _ := os.ReadFile(p.log)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	t.Logf("prometheus log (tail):\n%s", b)
}

// servingCert makes a CA and a serving certificate for dnsName signed by it.
func servingCert(t *testing.T, dnsName string) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rwo-prom test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: dnsName}, DNSNames: []string{dnsName, dnsName + ".cluster.local"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

func kubectlApply(t *testing.T, file, manifest string) {
	t.Helper()
	writeTestFile(t, file, manifest)
	if out, err := real.Kubectl("apply", "-f", file); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

// kubectlGetJSON reads an object with kubectl (the monitoring kinds have no Go
// types here) and decodes it into v.
func kubectlGetJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out, err := real.Kubectl(append(args, "-o", "json")...)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("decoding %s: %v", strings.Join(args, " "), err)
	}
}

func writeTestFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeTestYAML(t *testing.T, name string, v any) {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, name, string(b))
}

// readTestYAML reads a YAML file as JSON would decode it, to compare with an
// object read from the API server.
func readTestYAML(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.NewDecoder(bytes.NewReader(j)).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}
