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

// Package cluster starts and stops a throwaway kwok-simulated cluster with
// hack/local-cluster.sh, for the end-to-end tests and the benchmarks. Each
// cluster has its own name and working directory under a temporary
// directory, so it never touches the developer's cluster or another run's.
package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

// Cluster is a running simulated cluster.
type Cluster struct {
	Name       string
	Dir        string
	Kubeconfig string
	Config     *rest.Config
	// AuditLog is the API server's audit log, when started WithAudit.
	AuditLog string
	// IngressURL is where the real node's ingress controller serves, when
	// started WithRealNode.
	IngressURL string
	env        []string
	// reaper takes the cluster down if this process dies without Stop.
	reaper *os.Process
}

// Option changes how Start creates the cluster.
type Option func(c *Cluster) error

// WithAudit makes the API server write an audit log (Cluster.AuditLog) of
// the writes the end-to-end invariants are checked against: every status
// write of a RegionWithdrawal with its response, and every write to
// Deployments, StatefulSets, Ingresses and HTTPRoutes, with the user agent
// and a microsecond timestamp. Reads are not logged.
func WithAudit() Option {
	return func(c *Cluster) error {
		policy := filepath.Join(c.Dir, "audit-policy.yaml")
		if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
			return err
		}
		c.env = append(c.env, "RWO_AUDIT_POLICY="+policy)
		c.AuditLog = filepath.Join(c.clusterDir(), "logs", "audit.log")
		return nil
	}
}

const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: RequestResponse
  verbs: ["update", "patch"]
  resources:
  - group: withdrawal.ops.dev
    resources: ["regionwithdrawals/status"]
- level: Metadata
  verbs: ["create", "update", "patch", "delete"]
  resources:
  - group: apps
    resources: ["deployments", "deployments/scale", "statefulsets", "statefulsets/scale"]
  - group: networking.k8s.io
    resources: ["ingresses"]
  - group: gateway.networking.k8s.io
    resources: ["httproutes"]
- level: None
`

// WithRealNode adds the local cluster's one real node (hack/real-node.sh):
// containerd, a kubelet and kube-proxy run real pods from the images in
// bin/images, and Traefik serves Ingresses at Cluster.IngressURL. It needs
// root; simulated nodes, if any, are tainted so that only pods that
// tolerate kwok.x-k8s.io/node=fake land on them.
func WithRealNode() Option {
	return func(c *Cluster) error {
		c.env = append(c.env, "RWO_REAL_NODE=1", "RWO_INGRESS_PORT="+strconv.Itoa(IngressPort))
		c.IngressURL = fmt.Sprintf("http://127.0.0.1:%d", IngressPort)
		return nil
	}
}

// IngressPort is the loopback port the real node's Traefik serves on.
const IngressPort = 18080

// NodeAddress is the real node's bridge address: pods reach the API server
// and a test's receivers there, and nothing outside this machine can.
const NodeAddress = "10.244.0.1"

// RealNodeName is the real node's name.
const RealNodeName = "rwo-real-node"

// clusterDir is where kwokctl keeps this cluster's files.
func (c *Cluster) clusterDir() string {
	return filepath.Join(c.Dir, "kwok", "clusters", c.Name)
}

func (c *Cluster) script(args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(testenv.RepoRoot(), "hack", "local-cluster.sh"), args...)
	cmd.Env = c.env
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	err := cmd.Run()
	return stdout.Bytes(), err
}

// Start creates a cluster named prefix-<pid> with the given number of
// nodes. The caller must call Stop, which also removes the directory.
func Start(prefix string, nodes int, opts ...Option) (*Cluster, error) {
	dir, err := os.MkdirTemp("", prefix+"-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(testenv.RepoRoot(), "bin")
	c := &Cluster{Name: fmt.Sprintf("%s-%d", prefix, os.Getpid()), Dir: dir}
	c.env = append(os.Environ(),
		"RWO_CLUSTER_NAME="+c.Name,
		"KWOK_WORKDIR="+filepath.Join(dir, "kwok"),
		fmt.Sprintf("RWO_CLUSTER_NODES=%d", nodes),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
	)
	for _, o := range opts {
		if err := o(c); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	if err := c.reap(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	out, err := c.script("up")
	if err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("starting the simulated cluster: %w", err)
	}
	c.Kubeconfig = strings.TrimSpace(string(out))
	if c.Config, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig); err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("reading %s: %w", c.Kubeconfig, err)
	}
	c.Config.QPS, c.Config.Burst = 200, 400
	return c, nil
}

// Kubectl runs kubectl against the cluster.
func (c *Cluster) Kubectl(args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(testenv.RepoRoot(), "bin", "kubectl"), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return out, nil
}

// InstallCRDs applies the operator's CRD and waits for it to be served.
func (c *Cluster) InstallCRDs() error {
	if _, err := c.Kubectl("apply", "--server-side", "-f", filepath.Join(testenv.RepoRoot(), "config", "crd", "bases")); err != nil {
		return err
	}
	return c.waitEstablished("regionwithdrawals.withdrawal.ops.dev")
}

// waitEstablished waits until the API server serves a CRD. Not `kubectl
// wait --for=condition=Established`: right after the apply the CRD may have
// no conditions yet, and kubectl wait fails at once on that instead of
// waiting.
func (c *Cluster) waitEstablished(crd string) error {
	return wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		out, err := c.Kubectl("get", "crd", crd, "-o", `jsonpath={.status.conditions[?(@.type=="Established")].status}`)
		return err == nil && strings.TrimSpace(string(out)) == "True", nil
	})
}

// InstallGatewayAPI applies the standard HTTPRoute CRD of the Gateway API
// release the tests use (testenv.GatewayAPIVersion) and waits for it to be
// served.
func (c *Cluster) InstallGatewayAPI() error {
	crd, err := testenv.GatewayAPICRD("httproutes")
	if err != nil {
		return err
	}
	if _, err := c.Kubectl("apply", "--server-side", "-f", crd); err != nil {
		return err
	}
	return c.waitEstablished("httproutes.gateway.networking.k8s.io")
}

// reap starts a process of its own session that waits for this one to
// end and then takes the cluster down and removes its directory. A test
// binary that runs past -timeout panics past every deferred Stop, and
// kwokctl's components (and a real node's containerd, kubelet and
// Traefik) would otherwise outlive it. Stop ends the reaper first, so it
// acts only when Stop did not run.
func (c *Cluster) reap() error {
	cmd := exec.Command("sh", "-c", `while kill -0 "$1" 2>/dev/null; do sleep 1; done; "$2" down >/dev/null 2>&1; rm -rf "$3"`,
		"reaper", strconv.Itoa(os.Getpid()), filepath.Join(testenv.RepoRoot(), "hack", "local-cluster.sh"), c.Dir)
	cmd.Env = c.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the cluster's reaper: %w", err)
	}
	c.reaper = cmd.Process
	go func() { _ = cmd.Wait() }()
	return nil
}

// Stop deletes the cluster, stops its processes and removes its directory.
func (c *Cluster) Stop() error {
	if c.reaper != nil {
		_ = c.reaper.Kill()
	}
	_, err := c.script("down")
	if rmErr := os.RemoveAll(c.Dir); err == nil {
		err = rmErr
	}
	return err
}

// StopAPIServer kills the kube-apiserver with SIGKILL, as a crash would,
// and leaves etcd and every other component running. The returned start
// runs it again with the same command line and waits until it is ready;
// then it restarts the controller manager and the scheduler, as their
// kubelet would: with leader election (as a real control plane runs them)
// they exit when they cannot renew their lease for the outage. Left
// running instead, their watches back off for up to a minute after the
// API server returns and the cluster stops deleting pods meanwhile, which
// no real control plane does.
func (c *Cluster) StopAPIServer() (start func() error, err error) {
	apiserver, err := c.kill("kube-apiserver")
	if err != nil {
		return nil, err
	}
	return func() error {
		if err := apiserver(); err != nil {
			return err
		}
		if err := c.waitReady(60 * time.Second); err != nil {
			return err
		}
		for _, name := range []string{"kube-controller-manager", "kube-scheduler"} {
			again, err := c.kill(name)
			if err != nil {
				return err
			}
			if err := again(); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// Restart stops a component kwokctl started and starts it again with
// extra flags appended to its command line (a later flag wins), e.g. a
// benchmark giving kube-controller-manager another client budget.
func (c *Cluster) Restart(component string, extra ...string) error {
	start, err := c.killWith(component, extra)
	if err != nil {
		return err
	}
	return start()
}

// kill kills a component kwokctl started (by its pid file) with SIGKILL
// and returns a function that starts it again with the same command line,
// environment and directory, appending to its log. kwokctl's pid file is
// updated, so Stop still finds it.
func (c *Cluster) kill(component string) (start func() error, err error) {
	return c.killWith(component, nil)
}

func (c *Cluster) killWith(component string, extra []string) (start func() error, err error) {
	pidFile := filepath.Join(c.clusterDir(), "pids", component+".pid")
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		return nil, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pidFile, err)
	}
	proc := fmt.Sprintf("/proc/%d", pid)
	cmdline, err := os.ReadFile(proc + "/cmdline")
	if err != nil {
		return nil, fmt.Errorf("reading the command line of %s: %w", component, err)
	}
	environ, err := os.ReadFile(proc + "/environ")
	if err != nil {
		return nil, err
	}
	cwd, err := os.Readlink(proc + "/cwd")
	if err != nil {
		return nil, err
	}
	argv := append(strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00"), extra...)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return nil, err
	}
	// It is not our child (kwokctl started it), so poll for it to be gone.
	gone := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		_, err := os.Stat(proc)
		return os.IsNotExist(err), nil
	})
	if gone != nil {
		return nil, fmt.Errorf("%s (pid %d) did not exit after SIGKILL", component, pid)
	}
	return func() error {
		logf, err := os.OpenFile(filepath.Join(c.clusterDir(), "logs", component+".log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		defer logf.Close()
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir, cmd.Env = cwd, strings.Split(strings.TrimRight(string(environ), "\x00"), "\x00")
		cmd.Stdout, cmd.Stderr = logf, logf
		// A session of its own, like kwokctl's, so that signals to the
		// test's process group do not reach it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			return err
		}
		go func() { _ = cmd.Wait() }() // reaped when Stop kills it
		return os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o600)
	}, nil
}

// waitReady polls /readyz until the API server answers ok.
func (c *Cluster) waitReady(timeout time.Duration) error {
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	return wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", nil
	})
}
