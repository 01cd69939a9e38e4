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

// Command release builds a versioned release and pushes it to an OCI
// registry (`make release VERSION=v1.2.3 REGISTRY=host:port/path`):
//
//   - the operator image for every platform (linux/amd64 and linux/arm64 by
//     default), built without a container engine as `make image` builds it,
//     and pushed as one multi-arch OCI image index, tagged VERSION;
//   - an SBOM of the operator binary (CycloneDX JSON, by cyclonedx-gomod from
//     the module information Go records in the binary), pushed as an OCI
//     artifact that refers to the index (the registry's referrers API lists
//     it) and written to -out;
//   - the Helm chart, versioned VERSION (without its "v"), its image pinned
//     to the pushed index by repository and digest, pushed as an OCI
//     artifact with `helm push` to REGISTRY/charts;
//   - the binaries, the chart archive, the SBOM, SHA256SUMS over them, and
//     release.json naming what was pushed where, in -out.
//
// -src builds another checkout of this repository (hack/release builds the
// previous release from a pinned commit for the upgrade test); its chart and
// binary are used, this tree's image layout.
//
// Credentials for the registry come from $REGISTRY_USERNAME and
// $REGISTRY_PASSWORD (anonymous without them), and for helm push from
// `helm registry login`; -plain-http talks HTTP to a local registry.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ops-dev/region-withdrawal-operator/internal/ociimage"
)

const (
	imageName = "region-withdrawal-operator"
	chartName = "region-withdrawal-operator"
	// sbomType is CycloneDX JSON's media type, the SBOM artifact's type.
	sbomType = "application/vnd.cyclonedx+json"
	// emptyConfigType and emptyConfig are the OCI 1.1 empty descriptor an
	// artifact without a config of its own carries.
	emptyConfigType = "application/vnd.oci.empty.v1+json"
	emptyConfig     = "{}"
)

// A release version is SemVer with a leading "v", as the chart's
// appVersion and the image tag carry it; the chart's version drops the v.
var versionPattern = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`)

type options struct {
	version   string
	registry  string
	plainHTTP bool
	platforms []string
	src       string
	out       string
	bin       string
}

// Release is what release.json records.
type Release struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	// Image is the index, as repository:tag@digest.
	Image       string   `json:"image"`
	ImageDigest string   `json:"imageDigest"`
	Platforms   []string `json:"platforms"`
	// SBOM is the SBOM artifact, as repository@digest.
	SBOM string `json:"sbom"`
	// Chart is what `helm install` takes, with ChartVersion.
	Chart        string `json:"chart"`
	ChartVersion string `json:"chartVersion"`
	ChartDigest  string `json:"chartDigest"`
}

func main() {
	var o options
	var platforms string
	flag.StringVar(&o.version, "version", "", "release version, vMAJOR.MINOR.PATCH[-PRE] (required)")
	flag.StringVar(&o.registry, "registry", "", "registry and path the image and chart are pushed under, e.g. ghcr.io/ops-dev or 10.244.0.1:5000 (required)")
	flag.BoolVar(&o.plainHTTP, "plain-http", false, "talk plain HTTP to the registry (a local one)")
	flag.StringVar(&platforms, "platforms", "linux/amd64,linux/arm64", "comma-separated platforms of the image index")
	flag.StringVar(&o.src, "src", ".", "checkout of this repository to build")
	flag.StringVar(&o.out, "out", "dist", "directory the release's files are written to")
	flag.StringVar(&o.bin, "bin", "bin", "directory holding helm and cyclonedx-gomod (hack/tools.sh)")
	flag.Parse()
	o.platforms = strings.Split(platforms, ",")
	rel, err := release(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
	fmt.Printf("image  %s\nsbom   %s\nchart  %s --version %s (%s)\nfiles  %s\n",
		rel.Image, rel.SBOM, rel.Chart, rel.ChartVersion, rel.ChartDigest, o.out)
}

func release(o options) (*Release, error) {
	if !versionPattern.MatchString(o.version) {
		return nil, fmt.Errorf("-version %q is not vMAJOR.MINOR.PATCH[-PRE]", o.version)
	}
	if o.registry == "" {
		return nil, errors.New("-registry is required")
	}
	var err error
	for _, p := range []*string{&o.src, &o.out, &o.bin} {
		if *p, err = filepath.Abs(*p); err != nil {
			return nil, err
		}
	}
	for _, tool := range []string{"helm", "cyclonedx-gomod"} {
		if _, err := os.Stat(filepath.Join(o.bin, tool)); err != nil {
			return nil, fmt.Errorf("%s is missing from %s: run hack/tools.sh %s", tool, o.bin, tool)
		}
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return nil, err
	}
	commit, err := output(o.src, nil, "git", "rev-parse", "--verify", "-q", "HEAD")
	if err != nil {
		return nil, fmt.Errorf("the commit of %s: %w", o.src, err)
	}
	rel := &Release{Version: o.version, Commit: strings.TrimSpace(commit), Platforms: o.platforms}
	var remoteOpts []remote.Option
	if u := os.Getenv("REGISTRY_USERNAME"); u != "" {
		remoteOpts = append(remoteOpts, remote.WithAuth(&authn.Basic{Username: u, Password: os.Getenv("REGISTRY_PASSWORD")}))
	}
	var nameOpts []name.Option
	if o.plainHTTP {
		nameOpts = append(nameOpts, name.Insecure)
	}
	repo, err := name.NewRepository(o.registry+"/"+imageName, nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("-registry: %w", err)
	}

	// The image index, one image per platform.
	ca, err := os.ReadFile(ociimage.HostCABundle)
	if err != nil {
		return nil, fmt.Errorf("the image takes this machine's CA bundle (Debian's ca-certificates): %w", err)
	}
	zi, err := ociimage.ZoneinfoFiles(ociimage.HostZoneinfo)
	if err != nil {
		return nil, fmt.Errorf("the image takes this machine's time zone data (Debian's tzdata): %w", err)
	}
	files := []string{}
	var index v1.ImageIndex = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var sbomFrom string
	for _, p := range o.platforms {
		goos, arch, ok := strings.Cut(p, "/")
		if !ok || goos != "linux" || arch == "" {
			return nil, fmt.Errorf("-platforms: %q is not linux/ARCH", p)
		}
		binName := fmt.Sprintf("%s-%s-linux-%s", imageName, o.version, arch)
		binPath := filepath.Join(o.out, binName)
		if _, err := output(o.src, []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + arch},
			"go", "build", "-trimpath", "-ldflags", "-s -w -X main.Version="+o.version+" -X main.Commit="+rel.Commit, "-o", binPath, "."); err != nil {
			return nil, fmt.Errorf("building for %s: %w", p, err)
		}
		files = append(files, binName)
		if sbomFrom == "" {
			sbomFrom = binPath
		}
		binary, err := os.ReadFile(binPath)
		if err != nil {
			return nil, err
		}
		spec := ociimage.Operator(o.version, binary, ca, zi)
		spec.Arch = arch
		spec.Labels["org.opencontainers.image.version"] = o.version
		spec.Labels["org.opencontainers.image.revision"] = rel.Commit
		img, err := spec.Image()
		if err != nil {
			return nil, fmt.Errorf("image for %s: %w", p, err)
		}
		index = mutate.AppendManifests(index, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: goos, Architecture: arch},
		}})
	}
	tag := repo.Tag(o.version)
	if err := remote.WriteIndex(tag, index, remoteOpts...); err != nil {
		return nil, fmt.Errorf("pushing %s: %w", tag, err)
	}
	indexDigest, err := index.Digest()
	if err != nil {
		return nil, err
	}
	indexManifest, err := index.RawManifest()
	if err != nil {
		return nil, err
	}
	rel.ImageDigest = indexDigest.String()
	rel.Image = tag.String() + "@" + rel.ImageDigest

	// The SBOM, a file and an artifact referring to the index.
	sbomName := fmt.Sprintf("%s-%s.cdx.json", imageName, o.version)
	sbomPath := filepath.Join(o.out, sbomName)
	if _, err := output(o.src, nil, filepath.Join(o.bin, "cyclonedx-gomod"), "bin", "-json",
		"-version", o.version, "-output", sbomPath, sbomFrom); err != nil {
		return nil, fmt.Errorf("the SBOM: %w", err)
	}
	files = append(files, sbomName)
	sbom, err := os.ReadFile(sbomPath)
	if err != nil {
		return nil, err
	}
	sbomDigest, err := pushArtifact(repo, sbom, sbomType, sbomName, v1.Descriptor{
		MediaType: types.OCIImageIndex, Digest: indexDigest, Size: int64(len(indexManifest)),
	}, remoteOpts)
	if err != nil {
		return nil, fmt.Errorf("pushing the SBOM: %w", err)
	}
	rel.SBOM = repo.String() + "@" + sbomDigest.String()

	// The chart, its image pinned to the index.
	rel.ChartVersion = strings.TrimPrefix(o.version, "v")
	chartArchive, err := packageChart(o, repo.String(), rel.ImageDigest, rel.ChartVersion)
	if err != nil {
		return nil, err
	}
	files = append(files, filepath.Base(chartArchive))
	chartRepo := "oci://" + o.registry + "/charts"
	args := []string{"push", chartArchive, chartRepo}
	if o.plainHTTP {
		args = append(args, "--plain-http")
	}
	pushed, err := output(o.out, nil, filepath.Join(o.bin, "helm"), args...)
	if err != nil {
		return nil, fmt.Errorf("helm push: %w", err)
	}
	if m := regexp.MustCompile(`Digest: (sha256:[0-9a-f]{64})`).FindStringSubmatch(pushed); m != nil {
		rel.ChartDigest = m[1]
	}
	rel.Chart = chartRepo + "/" + chartName

	if err := writeSums(o.out, files); err != nil {
		return nil, err
	}
	manifest, err := json.MarshalIndent(rel, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(o.out, "release.json"), append(manifest, '\n'), 0o644); err != nil {
		return nil, err
	}
	return rel, nil
}

// packageChart copies the chart of -src, sets its version, appVersion and
// image (repository and digest, so every pod runs exactly the pushed index),
// and packages it into -out.
func packageChart(o options, repository, digest, chartVersion string) (string, error) {
	src := filepath.Join(o.src, "charts", chartName)
	work, err := os.MkdirTemp("", "rwo-release-chart-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	dir := filepath.Join(work, chartName)
	if err := copyDir(src, dir); err != nil {
		return "", err
	}
	if err := rewrite(filepath.Join(dir, "Chart.yaml"), map[string]string{
		`(?m)^version: .*$`:    "version: " + chartVersion,
		`(?m)^appVersion: .*$`: fmt.Sprintf("appVersion: %q", o.version),
	}); err != nil {
		return "", err
	}
	values := map[string]string{
		`(?m)^  repository: ghcr\.io/ops-dev/region-withdrawal-operator$`: "  repository: " + repository,
	}
	// A chart older than image.digest is pinned by tag (its appVersion).
	if b, err := os.ReadFile(filepath.Join(dir, "values.yaml")); err == nil && regexp.MustCompile(`(?m)^  digest: ""$`).Match(b) {
		values[`(?m)^  digest: ""$`] = fmt.Sprintf("  digest: %q", digest)
	}
	if err := rewrite(filepath.Join(dir, "values.yaml"), values); err != nil {
		return "", err
	}
	if _, err := output(o.out, nil, filepath.Join(o.bin, "helm"), "package", dir, "-d", o.out); err != nil {
		return "", fmt.Errorf("helm package: %w", err)
	}
	return filepath.Join(o.out, fmt.Sprintf("%s-%s.tgz", chartName, chartVersion)), nil
}

// rewrite replaces, in file, the one match of each pattern; a pattern that
// does not match is an error, so a chart whose layout moved is noticed.
func rewrite(file string, replacements map[string]string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	for pattern, with := range replacements {
		re := regexp.MustCompile(pattern)
		if n := len(re.FindAllIndex(b, -1)); n != 1 {
			return fmt.Errorf("%s: %d lines match %s, want 1", file, n, pattern)
		}
		b = re.ReplaceAllLiteral(b, []byte(with))
	}
	return os.WriteFile(file, b, 0o644)
}

// pushArtifact pushes content as an OCI 1.1 artifact of artifactType whose
// subject is subject, and returns its manifest's digest.
func pushArtifact(repo name.Repository, content []byte, artifactType, title string, subject v1.Descriptor, opts []remote.Option) (v1.Hash, error) {
	layer := static.NewLayer(content, types.MediaType(artifactType))
	config := static.NewLayer([]byte(emptyConfig), emptyConfigType)
	for _, l := range []v1.Layer{config, layer} {
		if err := remote.WriteLayer(repo, l, opts...); err != nil {
			return v1.Hash{}, err
		}
	}
	layerDigest, _ := layer.Digest()
	configDigest, _ := config.Digest()
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  artifactType,
		Config:        v1.Descriptor{MediaType: emptyConfigType, Digest: configDigest, Size: int64(len(emptyConfig))},
		Layers: []v1.Descriptor{{
			MediaType: types.MediaType(artifactType), Digest: layerDigest, Size: int64(len(content)),
			Annotations: map[string]string{"org.opencontainers.image.title": title},
		}},
		Subject: &subject,
	}
	body, err := json.Marshal(m)
	if err != nil {
		return v1.Hash{}, err
	}
	digest, _, err := v1.SHA256(bytes.NewReader(body))
	if err != nil {
		return v1.Hash{}, err
	}
	return digest, remote.Put(repo.Digest(digest.String()), rawManifest{body: body, mediaType: types.OCIManifestSchema1}, opts...)
}

type rawManifest struct {
	body      []byte
	mediaType types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.body, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mediaType, nil }

// writeSums writes SHA256SUMS in the format sha256sum -c reads.
func writeSums(dir string, files []string) error {
	sort.Strings(files)
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), f)
	}
	return os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(b.String()), 0o644)
}

// output runs a command in dir and returns its standard output and error
// (helm push says the digest on the latter), which also go to our
// standard error.
func output(dir string, env []string, command string, args ...string) (string, error) {
	cmd := exec.Command(command, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, io.MultiWriter(os.Stderr, &stderr)
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w", command, strings.Join(args, " "), err)
	}
	return stdout.String() + stderr.String(), nil
}

func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}
