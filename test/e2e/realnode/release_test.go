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
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ops-dev/region-withdrawal-operator/test/e2e/cluster"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

// TestReleaseInTheRegistry checks what TestMain's release (hack/release, as
// make release runs it, for this machine's platform) put in the node's
// registry and its files: an image index for the platform, an SBOM
// (CycloneDX) that the registry's referrers API lists for the index, the
// chart that helm pulls from the registry pinned to that index, checksums
// that hold, and a binary whose version command names the release and its
// commit. The operator the other tests install is this release.
func TestReleaseInTheRegistry(t *testing.T) {
	base := "http://" + cluster.RegistryAddress + "/v2/region-withdrawal-operator"
	getJSON := func(url, accept string, into any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", url, resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}

	// The tag resolves to the index the chart pins.
	var index struct {
		MediaType string `json:"mediaType"`
		Manifests []struct {
			Platform struct{ OS, Architecture string } `json:"platform"`
		} `json:"manifests"`
	}
	getJSON(base+"/manifests/"+current.Version, "application/vnd.oci.image.index.v1+json", &index)
	var platforms []string
	for _, m := range index.Manifests {
		platforms = append(platforms, m.Platform.OS+"/"+m.Platform.Architecture)
	}
	if index.MediaType != "application/vnd.oci.image.index.v1+json" || strings.Join(platforms, ",") != "linux/"+runtime.GOARCH {
		t.Errorf("tag %s is a %s for %v, want an OCI image index for linux/%s", current.Version, index.MediaType, platforms, runtime.GOARCH)
	}

	// The SBOM refers to the index.
	var referrers struct {
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	getJSON(base+"/referrers/"+current.ImageDigest, "application/vnd.oci.image.index.v1+json", &referrers)
	if len(referrers.Manifests) != 1 || !strings.HasSuffix(current.SBOM, "@"+referrers.Manifests[0].Digest) {
		t.Fatalf("referrers of the index: %+v, want the one SBOM %s", referrers.Manifests, current.SBOM)
	}
	var artifact struct {
		ArtifactType string `json:"artifactType"`
		Subject      struct {
			Digest string `json:"digest"`
		} `json:"subject"`
	}
	getJSON(base+"/manifests/"+referrers.Manifests[0].Digest, "application/vnd.oci.image.manifest.v1+json", &artifact)
	if artifact.ArtifactType != "application/vnd.cyclonedx+json" || artifact.Subject.Digest != current.ImageDigest {
		t.Errorf("the SBOM's manifest: %+v, want a CycloneDX artifact whose subject is the index", artifact)
	}
	var sbom struct {
		BOMFormat  string `json:"bomFormat"`
		Components []struct {
			Name string `json:"name"`
		} `json:"components"`
	}
	b, err := os.ReadFile(filepath.Join(current.Dir, "region-withdrawal-operator-"+current.Version+".cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sbom); err != nil {
		t.Fatal(err)
	}
	var hasControllerRuntime bool
	for _, c := range sbom.Components {
		hasControllerRuntime = hasControllerRuntime || c.Name == "sigs.k8s.io/controller-runtime"
	}
	if sbom.BOMFormat != "CycloneDX" || !hasControllerRuntime {
		t.Errorf("the SBOM is %q with %d components and controller-runtime %v, want CycloneDX listing the modules", sbom.BOMFormat, len(sbom.Components), hasControllerRuntime)
	}

	// Every file is as SHA256SUMS says.
	sums, err := os.Open(filepath.Join(current.Dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer sums.Close()
	lines := 0
	for sc := bufio.NewScanner(sums); sc.Scan(); lines++ {
		want, file, _ := strings.Cut(sc.Text(), "  ")
		data, err := os.ReadFile(filepath.Join(current.Dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != want {
			t.Errorf("SHA256SUMS: %s does not match", file)
		}
	}
	if lines != 3 { // the binary, the SBOM, the chart
		t.Errorf("SHA256SUMS lists %d files, want 3", lines)
	}

	// The chart helm pulls from the registry runs that index.
	home := t.TempDir()
	cmd := exec.Command(filepath.Join(testenv.RepoRoot(), "bin", "helm"), append([]string{"show", "values"}, current.ChartArgs()...)...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	values, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helm show values: %v\n%s", err, values)
	}
	if !strings.Contains(string(values), "repository: "+cluster.RegistryAddress+"/region-withdrawal-operator\n") ||
		!strings.Contains(string(values), `digest: "`+current.ImageDigest+`"`) {
		t.Errorf("the released chart does not pin the image to %s/region-withdrawal-operator@%s:\n%s", cluster.RegistryAddress, current.ImageDigest, values)
	}

	// The binary says which release and commit it is.
	bin := filepath.Join(current.Dir, "region-withdrawal-operator-"+current.Version+"-linux-"+runtime.GOARCH)
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", bin, err, out)
	}
	if want := "region-withdrawal-operator " + current.Version + " commit " + current.Commit[:12]; !strings.HasPrefix(string(out), want) {
		t.Errorf("version prints %q, want it to start %q", out, want)
	}
}
