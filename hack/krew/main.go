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

// Command krew packages the kubectl plugin for krew: one archive per
// platform (the plugin and the licence, with fixed owners and times so that
// the same source gives the same bytes) and the krew manifest naming each
// archive's URL and SHA-256. `make krew` runs it; a release uploads dist/*
// and submits dist/withdrawal.yaml to the krew index.
//
//	go run ./hack/krew [-version v0.1.0] [-platforms linux/amd64,...] [-out dist] [-base-url URL]
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// platforms are those a release builds.
var platforms = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64"}

const repoURL = "https://github.com/ops-dev/region-withdrawal-operator"

func main() {
	f := options{}
	flag.StringVar(&f.version, "version", "", "plugin version (default: the chart's appVersion)")
	list := flag.String("platforms", strings.Join(platforms, ","), "comma-separated os/arch pairs")
	flag.StringVar(&f.out, "out", "dist", "directory for the archives and withdrawal.yaml")
	flag.StringVar(&f.baseURL, "base-url", "", "where the release serves the archives (default: the GitHub release of -version)")
	flag.StringVar(&f.root, "root", ".", "repository root")
	flag.Parse()
	f.platforms = strings.Split(*list, ",")
	manifest, err := build(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, "krew:", err)
		os.Exit(1)
	}
	fmt.Println(manifest)
}

type options struct {
	version, out, baseURL, root string
	platforms                   []string
}

// build writes an archive per platform and the manifest into o.out, and
// returns the manifest's path.
func build(o options) (string, error) {
	if o.version == "" {
		v, err := chartAppVersion(o.root)
		if err != nil {
			return "", err
		}
		o.version = v
	}
	if o.baseURL == "" {
		o.baseURL = repoURL + "/releases/download/" + o.version
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return "", err
	}
	licence, err := os.ReadFile(filepath.Join(o.root, "LICENSE"))
	if err != nil {
		return "", err
	}
	m := newManifest(o.version)
	for _, p := range o.platforms {
		goos, goarch, ok := strings.Cut(p, "/")
		if !ok {
			return "", fmt.Errorf("platform %q is not os/arch", p)
		}
		bin := "kubectl-withdrawal"
		if goos == "windows" {
			bin += ".exe"
		}
		exe, err := compile(o.root, o.version, goos, goarch)
		if err != nil {
			return "", err
		}
		name := fmt.Sprintf("kubectl-withdrawal_%s_%s.tar.gz", goos, goarch)
		archive, err := tarball(map[string][]byte{bin: exe, "LICENSE": licence}, []string{bin, "LICENSE"})
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(o.out, name), archive, 0o644); err != nil {
			return "", err
		}
		sum := sha256.Sum256(archive)
		m.Spec.Platforms = append(m.Spec.Platforms, platform{
			Selector: selector{MatchLabels: map[string]string{"os": goos, "arch": goarch}},
			URI:      o.baseURL + "/" + name,
			Sha256:   hex.EncodeToString(sum[:]),
			Files:    []file{{From: bin, To: "."}, {From: "LICENSE", To: "."}},
			Bin:      bin,
		})
	}
	y, err := yaml.Marshal(m)
	if err != nil {
		return "", err
	}
	path := filepath.Join(o.out, "withdrawal.yaml")
	return path, os.WriteFile(path, y, 0o644)
}

// versionVar and commitVar are the plugin's version and commit variables:
// `kubectl withdrawal version` prints what the release sets them to (the
// build has no VCS stamp, so that it is reproducible).
const (
	versionVar = "github.com/ops-dev/region-withdrawal-operator/internal/plugin.Version"
	commitVar  = "github.com/ops-dev/region-withdrawal-operator/internal/plugin.Commit"
)

// compile builds the plugin for one platform, statically and reproducibly.
func compile(root, version, goos, goarch string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "krew-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "kubectl-withdrawal")
	ldflags := "-s -w -X " + versionVar + "=" + version
	// The commit, when the root is a git checkout (not a source archive).
	if commit, err := exec.Command("git", "-C", root, "rev-parse", "--verify", "-q", "HEAD").Output(); err == nil {
		ldflags += " -X " + commitVar + "=" + strings.TrimSpace(string(commit))
	}
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, "./cmd/kubectl-withdrawal")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build for %s/%s: %w\n%s", goos, goarch, err, b)
	}
	return os.ReadFile(out)
}

// tarball is a gzipped tar of files in order, owned by root, dated at the
// epoch, so that its bytes depend only on the files.
func tarball(files map[string][]byte, order []string) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, name := range order {
		mode := int64(0o644)
		if strings.HasPrefix(name, "kubectl-") {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(files[name])), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(files[name]); err != nil {
			return nil, err
		}
	}
	if err := errors.Join(tw.Close(), gz.Close()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func chartAppVersion(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "charts", "region-withdrawal-operator", "Chart.yaml"))
	if err != nil {
		return "", err
	}
	var c struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil || c.AppVersion == "" {
		return "", fmt.Errorf("no appVersion in Chart.yaml: %v", err)
	}
	return c.AppVersion, nil
}

// The krew manifest (krew.googlecontainertools.github.com/v1alpha2 Plugin).
type manifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string     `json:"version"`
		Homepage         string     `json:"homepage"`
		ShortDescription string     `json:"shortDescription"`
		Description      string     `json:"description"`
		Caveats          string     `json:"caveats"`
		Platforms        []platform `json:"platforms"`
	} `json:"spec"`
}

type platform struct {
	Selector selector `json:"selector"`
	URI      string   `json:"uri"`
	Sha256   string   `json:"sha256"`
	Files    []file   `json:"files"`
	Bin      string   `json:"bin"`
}

type selector struct {
	MatchLabels map[string]string `json:"matchLabels"`
}

type file struct {
	From string `json:"from"`
	To   string `json:"to"`
}

func newManifest(version string) manifest {
	var m manifest
	m.APIVersion = "krew.googlecontainertools.github.com/v1alpha2"
	m.Kind = "Plugin"
	m.Metadata.Name = "withdrawal"
	m.Spec.Version = version
	m.Spec.Homepage = repoURL
	m.Spec.ShortDescription = "Plan, watch and steer RegionWithdrawals"
	m.Spec.Description = `Plans, watches and steers the RegionWithdrawals of region-withdrawal-operator,
which withdraws a service from a region by a legal cutoff: it notifies every
customer, exports their data, drains the regional endpoints and switches
routing off at the cutoff.

  plan      the dated timeline, offline or against the cluster
  status    progress, time left and per-notice counts, optionally watched
  approve   let a step that requires approval run
  suspend, resume, cancel
  restore   put back what a deleted withdrawal changed
  evidence  export the signed evidence ledger, and verify it offline
`
	m.Spec.Caveats = `The plugin needs region-withdrawal-operator's CRD in the cluster.

Shell completion of "kubectl withdrawal" (kubectl 1.26 or later) needs a
link named kubectl_complete-withdrawal on PATH, for example:

  ln -s "$(command -v kubectl-withdrawal)" "$HOME/.krew/bin/kubectl_complete-withdrawal"

"kubectl withdrawal completion bash|zsh|fish|powershell" writes a script
for the kubectl-withdrawal command itself.
`
	return m
}
