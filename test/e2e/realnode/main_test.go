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

// Package realnode carries out a withdrawal for real: the operator's image,
// installed by Helm, runs on the local cluster's real node (a kubelet,
// containerd and runc on this machine), the exporter runs in a container
// over a real volume, the regional app's pods are really terminated, and a
// client on this machine gets the region's answers through a real ingress
// controller (Traefik): 200 before the cutoff, 451 after. It fails, never
// skips, when the real node cannot start. The simulated-cluster tests in
// test/e2e stay for scale; this one is for truth.
package realnode

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ops-dev/region-withdrawal-operator/test/e2e/cluster"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

var real *cluster.Cluster

// currentVersion is the version this tree is released as for the test, and
// current what that release pushed to the node's registry.
const currentVersion = "v0.2.0-e2e"

var current *cluster.Release

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) (code int) {
	ctrllog.SetLogger(logr.Discard())
	// The node's own images (the sandbox and the sample app) are imported
	// from archives; the operator comes from a release of this tree pushed
	// to the node's registry, as users get it.
	build := exec.Command("go", "run", "./hack/image", "-out", filepath.Join(testenv.RepoRoot(), "bin", "images"), "pause", "sample-app")
	build.Dir, build.Stdout, build.Stderr = testenv.RepoRoot(), os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the images:", err)
		return 1
	}
	var err error
	if real, err = cluster.Start("rwo-real", 0, cluster.WithRealNode()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		// The node must leave nothing behind: hack/real-node.sh down fails
		// when a process, mount, interface or rule of it is left, and so
		// does the run.
		if err := real.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the cluster:", err)
			code = 1
		}
	}()
	// In the cluster's directory, which its reaper removes too if the
	// package dies past -timeout.
	out, err := os.MkdirTemp(real.Dir, "release-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(out)
	// This machine's platform only: a second one would build the operator
	// and every dependency once more; hack/release's own test pushes both.
	if current, err = cluster.PushRelease(testenv.RepoRoot(), currentVersion, out, "linux/"+runtime.GOARCH); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	operatorImage = current.Image
	return m.Run()
}

func newClient(t *testing.T) client.Client {
	t.Helper()
	c, err := client.New(real.Config, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
