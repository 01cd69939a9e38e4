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

package cluster

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

// RegistryAddress is the real node's OCI registry (hack/real-node.sh):
// plain HTTP on the bridge address, which containerd pulls from.
const RegistryAddress = NodeAddress + ":5000"

// Release is what hack/release pushed, as its release.json says.
type Release struct {
	Version      string   `json:"version"`
	Commit       string   `json:"commit"`
	Image        string   `json:"image"`
	ImageDigest  string   `json:"imageDigest"`
	Platforms    []string `json:"platforms"`
	SBOM         string   `json:"sbom"`
	Chart        string   `json:"chart"`
	ChartVersion string   `json:"chartVersion"`
	ChartDigest  string   `json:"chartDigest"`
	// Dir holds the release's files (binaries, chart archive, SBOM,
	// SHA256SUMS, release.json).
	Dir string `json:"-"`
}

// PushRelease releases the checkout src as version to the real node's
// registry, as `make release` does, for platforms (hack/release's default
// when none), with its files in out.
func PushRelease(src, version, out string, platforms ...string) (*Release, error) {
	args := []string{"run", "./hack/release", "-src", src, "-version", version, "-registry", RegistryAddress,
		"-plain-http", "-out", out, "-bin", filepath.Join(testenv.RepoRoot(), "bin")}
	if len(platforms) > 0 {
		args = append(args, "-platforms", strings.Join(platforms, ","))
	}
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = testenv.RepoRoot(), os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("releasing %s from %s: %w", version, src, err)
	}
	b, err := os.ReadFile(filepath.Join(out, "release.json"))
	if err != nil {
		return nil, err
	}
	r := &Release{Dir: out}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("%s/release.json: %w", out, err)
	}
	return r, nil
}

// ChartArgs are the arguments helm install and helm upgrade take to
// install this release's chart from the registry.
func (r *Release) ChartArgs() []string {
	return []string{r.Chart, "--version", r.ChartVersion, "--plain-http"}
}
