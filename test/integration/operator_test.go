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

// Package integration runs the operator binary, as built from main.go,
// against a real API server: flags, probes, secure metrics, leader
// election and the namespaces it watches.
package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

var (
	env    *testenv.Env
	binary string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rwo-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "region-withdrawal-operator")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Dir = testenv.RepoRoot()
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the operator:", err)
		os.Exit(1)
	}
	if env, err = testenv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a loopback port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// kubeconfig writes a kubeconfig for the envtest API server.
func kubeconfig(t *testing.T) string {
	t.Helper()
	cfg := env.Config
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// operator is a running operator process.
type operator struct {
	cmd *exec.Cmd
	out *bytes.Buffer
}

func start(t *testing.T, args ...string) *operator {
	t.Helper()
	return startWithKubeconfig(t, kubeconfig(t), args...)
}

func startWithKubeconfig(t *testing.T, kubeconfig string, args ...string) *operator {
	t.Helper()
	return startWithEnv(t, kubeconfig, nil, args...)
}

// startWithEnv starts the operator with extra environment variables.
func startWithEnv(t *testing.T, kubeconfig string, env []string, args ...string) *operator {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	op := &operator{cmd: cmd, out: out}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("operator output:\n%s", out.String())
		}
	})
	return op
}

// stop sends SIGTERM and waits for a clean exit.
func (op *operator) stop(t *testing.T) {
	t.Helper()
	if err := op.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- op.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the operator did not exit cleanly: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the operator did not stop within 30s of SIGTERM")
	}
}

// poll retries f until it returns nil or 30 seconds pass; it waits for a
// process to come up, which no watch can tell.
func poll(t *testing.T, what string, f func() error) {
	t.Helper()
	pollWithin(t, 30*time.Second, what, f)
}

// pollWithin is poll with a bound of its own, for what waits on the
// operator's backoff after an error.
func pollWithin(t *testing.T, bound time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func withdrawal(ns, name string) *v1.RegionWithdrawal {
	zero := v1.Moment{Offset: &metav1.Duration{}}
	return &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Cutoff: metav1.NewTime(time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)), TimeZone: "Asia/Karachi", DryRun: true,
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"bes.example.com/region": "pk"}},
			Routing:  &v1.RoutingStep{At: &zero},
		},
	}
}

func TestOperatorBinary(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	for _, ns := range []string{"watched", "ignored", "operator"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range []string{"watched", "ignored"} {
		if err := c.Create(ctx, withdrawal(ns, "pakistan")); err != nil {
			t.Fatal(err)
		}
	}

	metricsPort, probePort := freePort(t), freePort(t)
	op := start(t,
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort),
		"--leader-elect", "--leader-election-namespace=operator",
		"--watch-namespaces=watched",
	)

	t.Run("probes answer", func(t *testing.T) {
		poll(t, "healthz", func() error {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", probePort))
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		})
	})

	t.Run("it reconciles the watched namespace only", func(t *testing.T) {
		poll(t, "the watched withdrawal scheduled", func() error {
			rw := &v1.RegionWithdrawal{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: "watched", Name: "pakistan"}, rw); err != nil {
				return err
			}
			if rw.Status.Phase != v1.PhaseScheduled {
				return fmt.Errorf("phase %q", rw.Status.Phase)
			}
			return nil
		})
		rw := &v1.RegionWithdrawal{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "ignored", Name: "pakistan"}, rw); err != nil {
			t.Fatal(err)
		}
		if rw.Status.Phase != "" || len(rw.Finalizers) != 0 {
			t.Fatalf("the withdrawal outside --watch-namespaces was touched: %+v", rw.Status)
		}
	})

	t.Run("metrics need an authorised token", func(t *testing.T) {
		url := fmt.Sprintf("https://127.0.0.1:%d/metrics", metricsPort)
		// The serving certificate is self-signed at start-up; the caller is
		// checked by the API server, not by the certificate.
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 10 * time.Second}
		get := func(token string) (int, string, error) {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := hc.Do(req)
			if err != nil {
				return 0, "", err
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b), nil
		}
		poll(t, "anonymous scrape refused", func() error {
			code, _, err := get("")
			if err != nil {
				return err
			}
			if code != http.StatusUnauthorized && code != http.StatusForbidden {
				return fmt.Errorf("anonymous scrape got %d", code)
			}
			return nil
		})

		cs := kubernetes.NewForConfigOrDie(env.Config)
		token := func(sa string) string {
			t.Helper()
			if _, err := cs.CoreV1().ServiceAccounts("operator").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			tr, err := cs.CoreV1().ServiceAccounts("operator").CreateToken(ctx, sa, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return tr.Status.Token
		}
		if err := c.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "rwo-metrics-reader"},
			Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}}); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "rwo-metrics-reader"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "rwo-metrics-reader"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "prometheus", Namespace: "operator"}}}); err != nil {
			t.Fatal(err)
		}
		stranger, prometheus := token("stranger"), token("prometheus")
		if code, _, err := get(stranger); err != nil || code != http.StatusForbidden {
			t.Fatalf("a token without the role got %d (%v), want 403", code, err)
		}
		poll(t, "an authorised scrape", func() error {
			code, body, err := get(prometheus)
			if err != nil {
				return err
			}
			if code != http.StatusOK || !strings.Contains(body, `region_withdrawal_seconds_until_cutoff{name="pakistan",namespace="watched",region="PK"}`) {
				return fmt.Errorf("got %d without the cutoff gauge", code)
			}
			return nil
		})
	})

	t.Run("leader election holds a lease and releases it on shutdown", func(t *testing.T) {
		lease := &coordinationv1.Lease{}
		key := client.ObjectKey{Namespace: "operator", Name: "region-withdrawal-operator.withdrawal.ops.dev"}
		poll(t, "the lease held", func() error {
			if err := c.Get(ctx, key, lease); err != nil {
				return err
			}
			if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
				return fmt.Errorf("no holder")
			}
			return nil
		})
		op.stop(t)
		if err := c.Get(ctx, key, lease); err != nil {
			t.Fatal(err)
		}
		if lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "" {
			t.Fatalf("the lease is still held by %q after a clean shutdown", *lease.Spec.HolderIdentity)
		}
	})
}
