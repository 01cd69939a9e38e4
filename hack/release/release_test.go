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
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestReleaseToARegistry releases a stand-in of the operator (testdata/fake:
// a tiny binary and a chart with the real one's image values) to
// go-containerregistry's registry, with the real helm and cyclonedx-gomod,
// and reads back what a user's tools would: an image index whose every
// platform's image holds a binary built for it, the SBOM among the index's
// referrers, the chart from helm pull with its image pinned to the index,
// and SHA256SUMS that hold. The real-node test releases the operator
// itself to the node's registry and installs it from there.
func TestReleaseToARegistry(t *testing.T) {
	bin, err := filepath.Abs(filepath.Join("..", "..", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"helm", "cyclonedx-gomod"} {
		if _, err := os.Stat(filepath.Join(bin, tool)); err != nil {
			t.Fatalf("this test needs bin/%s: run hack/tools.sh %s (make test does)", tool, tool)
		}
	}
	helmHome := t.TempDir()
	for _, v := range []string{"HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"} {
		t.Setenv(v, helmHome)
	}

	// The source is a commit of its own, as a release's is.
	src := t.TempDir()
	if err := copyDir(filepath.Join("testdata", "fake"), src); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "fake"}} {
		if out, err := exec.Command("git", append([]string{"-C", src}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}

	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	out := t.TempDir()
	o := options{version: "v1.2.3-rc.1", registry: host + "/ops", plainHTTP: true,
		platforms: []string{"linux/amd64", "linux/arm64"}, src: src, out: out, bin: bin}

	if _, err := release(options{version: "1.2.3", registry: o.registry}); err == nil || !strings.Contains(err.Error(), "vMAJOR") {
		t.Errorf("a version without its v: %v, want refused", err)
	}
	rel, err := release(o)
	if err != nil {
		t.Fatal(err)
	}

	// The index: one image per platform, each with a binary for it.
	ref, err := name.ParseReference(host+"/ops/region-withdrawal-operator:v1.2.3-rc.1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	index, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	im, err := index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	digest, _ := index.Digest()
	if rel.ImageDigest != digest.String() || rel.Image != ref.String()+"@"+digest.String() {
		t.Errorf("release.json names %s (%s), the tag is %s", rel.Image, rel.ImageDigest, digest)
	}
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	if len(im.Manifests) != 2 {
		t.Fatalf("the index has %d manifests, want 2", len(im.Manifests))
	}
	for i, d := range im.Manifests {
		arch := strings.TrimPrefix(o.platforms[i], "linux/")
		if d.Platform == nil || d.Platform.OS != "linux" || d.Platform.Architecture != arch {
			t.Errorf("manifest %d is for %+v, want linux/%s", i, d.Platform, arch)
			continue
		}
		img, err := index.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Architecture != arch || cf.Config.Labels["org.opencontainers.image.version"] != o.version || cf.Config.Labels["org.opencontainers.image.revision"] != rel.Commit {
			t.Errorf("image %s: architecture %s, labels %v", arch, cf.Architecture, cf.Config.Labels)
		}
		if m := managerMachine(t, img); m != machines[arch] {
			t.Errorf("image %s holds a binary for %v", arch, m)
		}
	}

	// The SBOM refers to the index.
	referrers, err := remote.Referrers(ref.Context().Digest(digest.String()))
	if err != nil {
		t.Fatal(err)
	}
	rm, err := referrers.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(rm.Manifests) != 1 || !strings.HasSuffix(rel.SBOM, "@"+rm.Manifests[0].Digest.String()) {
		t.Fatalf("the index's referrers: %+v, want the SBOM %s", rm.Manifests, rel.SBOM)
	}
	// This registry reports the config's media type in the referrers list
	// rather than the manifest's artifactType; the manifest says what it is.
	art, err := remote.Image(ref.Context().Digest(rm.Manifests[0].Digest.String()))
	if err != nil {
		t.Fatal(err)
	}
	am, err := art.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if am.ArtifactType != sbomType || am.Subject == nil || am.Subject.Digest != digest || len(am.Layers) != 1 || string(am.Layers[0].MediaType) != sbomType {
		t.Errorf("the SBOM artifact's manifest: %+v", am)
	}
	sbom, err := os.ReadFile(filepath.Join(out, "region-withdrawal-operator-v1.2.3-rc.1.cdx.json"))
	if err != nil || !strings.Contains(string(sbom), `"bomFormat": "CycloneDX"`) || !strings.Contains(string(sbom), "example.com/fake") {
		t.Errorf("the SBOM file (%v) is not CycloneDX for the binary's module:\n%.300s", err, sbom)
	}

	// The chart, as helm pulls it, runs the index.
	pulled := t.TempDir()
	if b, err := exec.Command(filepath.Join(bin, "helm"), "pull", rel.Chart, "--version", rel.ChartVersion, "--plain-http", "--untar", "-d", pulled).CombinedOutput(); err != nil {
		t.Fatalf("helm pull %s: %v\n%s", rel.Chart, err, b)
	}
	values, err := os.ReadFile(filepath.Join(pulled, chartName, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "  repository: " + host + "/ops/region-withdrawal-operator\n  tag: \"\"\n  digest: \"" + rel.ImageDigest + "\"\n"; !strings.Contains(string(values), want) {
		t.Errorf("the released chart's values:\n%s\nwant them to hold:\n%s", values, want)
	}
	chart, _ := os.ReadFile(filepath.Join(pulled, chartName, "Chart.yaml"))
	if !strings.Contains(string(chart), "version: 1.2.3-rc.1\n") || !strings.Contains(string(chart), "appVersion: v1.2.3-rc.1\n") {
		t.Errorf("the released Chart.yaml:\n%s", chart)
	}
	if !strings.HasPrefix(rel.ChartDigest, "sha256:") {
		t.Errorf("release.json's chart digest %q", rel.ChartDigest)
	}

	// The files are as SHA256SUMS says.
	f, err := os.Open(filepath.Join(out, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); n++ {
		want, file, _ := strings.Cut(sc.Text(), "  ")
		data, err := os.ReadFile(filepath.Join(out, file))
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != want {
			t.Errorf("SHA256SUMS: %s does not match", file)
		}
	}
	if n != 4 {
		t.Errorf("SHA256SUMS lists %d files, want the 2 binaries, the SBOM and the chart", n)
	}
}

// managerMachine is the ELF machine of /manager in the image.
func managerMachine(t *testing.T, img v1.Image) elf.Machine {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			t.Fatal("no /manager in the image")
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(h.Name, "/") != "manager" {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		f, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("/manager: %v", err)
		}
		return f.Machine
	}
}
