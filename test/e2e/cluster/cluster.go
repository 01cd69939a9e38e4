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
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ops-dev/region-withdrawal-operator/internal/testenv"
)

// Cluster is a running simulated cluster.
type Cluster struct {
	Name       string
	Dir        string
	Kubeconfig string
	Config     *rest.Config
	env        []string
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
func Start(prefix string, nodes int) (*Cluster, error) {
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
	_, err := c.Kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/regionwithdrawals.withdrawal.ops.dev")
	return err
}

// InstallGatewayAPI applies the standard Gateway API CRDs from the
// sigs.k8s.io/gateway-api module (downloaded through the module proxy) and
// waits for HTTPRoute to be served.
func (c *Cluster) InstallGatewayAPI(version string) error {
	dl := exec.Command("go", "mod", "download", "-json", "sigs.k8s.io/gateway-api@"+version)
	// Outside the repository, so that go.mod and go.sum stay as they are.
	dl.Dir = c.Dir
	out, err := dl.Output()
	if err != nil {
		return fmt.Errorf("go mod download sigs.k8s.io/gateway-api@%s: %w", version, err)
	}
	var dir string
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == `"Dir"` {
			dir = strings.Trim(strings.TrimSpace(v), `",`)
		}
	}
	if dir == "" {
		return fmt.Errorf("no Dir in go mod download output: %s", out)
	}
	crd := filepath.Join(dir, "config", "crd", "standard", "gateway.networking.k8s.io_httproutes.yaml")
	if _, err := c.Kubectl("apply", "--server-side", "-f", crd); err != nil {
		return err
	}
	_, err = c.Kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/httproutes.gateway.networking.k8s.io")
	return err
}

// Stop deletes the cluster, stops its processes and removes its directory.
func (c *Cluster) Stop() error {
	_, err := c.script("down")
	if rmErr := os.RemoveAll(c.Dir); err == nil {
		err = rmErr
	}
	return err
}
