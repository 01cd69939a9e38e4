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

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestKrewInstallsThePlugin packages the plugin for this machine's
// platform, has krew's own validator check the manifest, installs it with
// krew from the archive (offline), and runs it through kubectl, including
// kubectl's completion of plugin arguments through the
// kubectl_complete-withdrawal link the caveats describe. krew,
// validate-krew-manifest and kubectl come from bin/ (hack/tools.sh).
func TestKrewInstallsThePlugin(t *testing.T) {
	tools := map[string]string{}
	for _, name := range []string{"krew", "validate-krew-manifest", "kubectl"} {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Skipf("%s is not on PATH (make test puts bin/ there; hack/tools.sh builds it)", name)
		}
		tools[name] = p
	}
	dir := t.TempDir()
	platform := runtime.GOOS + "/" + runtime.GOARCH
	manifest, err := build(options{version: "v0.0.0-test", out: dir, baseURL: "https://example.invalid/releases", root: filepath.Join("..", ".."), platforms: []string{platform}})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tools["validate-krew-manifest"], "-manifest", manifest, "-skip-install").CombinedOutput(); err != nil {
		t.Fatalf("validate-krew-manifest: %v\n%s", err, out)
	}

	home := filepath.Join(dir, "home")
	root := filepath.Join(home, ".krew")
	env := append(os.Environ(), "HOME="+home, "KREW_ROOT="+root, "PATH="+filepath.Join(root, "bin")+string(os.PathListSeparator)+filepath.Dir(tools["kubectl"]),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"))
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	archive := filepath.Join(dir, "kubectl-withdrawal_"+runtime.GOOS+"_"+runtime.GOARCH+".tar.gz")
	run(tools["krew"], "install", "--manifest="+manifest, "--archive="+archive)
	// krew list needs the index, which is not here; the receipt is what it
	// would read.
	if _, err := os.Stat(filepath.Join(root, "receipts", "withdrawal.yaml")); err != nil {
		t.Fatalf("krew wrote no receipt: %v", err)
	}
	if out := run(tools["kubectl"], "withdrawal", "--help"); !strings.Contains(out, "plans, watches and steers RegionWithdrawals") {
		t.Fatalf("kubectl withdrawal --help:\n%s", out)
	}
	if out := run(tools["kubectl"], "withdrawal", "version", "--client"); !regexp.MustCompile(`^kubectl-withdrawal v0\.0\.0-test commit [0-9a-f]{12}\n$`).MatchString(out) {
		t.Fatalf("kubectl withdrawal version --client = %q, want the release's version and commit", out)
	}

	// The caveats' link, then kubectl's own completion of the plugin.
	installed, err := os.Readlink(filepath.Join(root, "bin", "kubectl-withdrawal"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(installed, filepath.Join(root, "bin", "kubectl_complete-withdrawal")); err != nil {
		t.Fatal(err)
	}
	out := run(tools["kubectl"], "__complete", "withdrawal", "")
	for _, sub := range []string{"approve", "cancel", "plan", "restore", "resume", "status", "suspend", "evidence", "completion"} {
		if !strings.Contains(out, sub+"\t") && !strings.Contains(out, sub+"\n") {
			t.Errorf("kubectl __complete withdrawal '' lacks %s:\n%s", sub, out)
		}
	}
}

// TestArchivesAreReproducible: the same files give the same archive bytes,
// so a release's SHA-256 can be checked by rebuilding.
func TestArchivesAreReproducible(t *testing.T) {
	files := map[string][]byte{"kubectl-withdrawal": []byte("binary"), "LICENSE": []byte("licence")}
	order := []string{"kubectl-withdrawal", "LICENSE"}
	a, err := tarball(files, order)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tarball(files, order)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two archives of the same files differ")
	}
	files["LICENSE"] = []byte("other")
	if c, _ := tarball(files, order); bytes.Equal(a, c) {
		t.Fatal("archives of different files are equal")
	}
}
