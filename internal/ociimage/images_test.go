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

package ociimage

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

// finalStage is what the Dockerfile's last stage says about the image.
type finalStage struct {
	From       string
	User       string
	Entrypoint []string
	WorkingDir string
	// Copied are the paths COPY puts into the image.
	Copied []string
}

func parseDockerfile(t *testing.T, file string) finalStage {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st finalStage
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		word, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(word) {
		case "FROM":
			st = finalStage{From: strings.Fields(rest)[0], WorkingDir: "/"}
		case "USER":
			st.User = rest
		case "WORKDIR":
			st.WorkingDir = rest
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(rest), &st.Entrypoint); err != nil {
				t.Fatalf("ENTRYPOINT %s is not in exec form: %v", rest, err)
			}
		case "COPY":
			fields := strings.Fields(rest)
			var args []string
			for _, a := range fields {
				if !strings.HasPrefix(a, "--") {
					args = append(args, a)
				}
			}
			src, dest := args[len(args)-2], args[len(args)-1]
			if dest == "." || strings.HasSuffix(dest, "/") {
				dest = path.Join(st.WorkingDir, dest, path.Base(src))
			}
			st.Copied = append(st.Copied, path.Join(st.WorkingDir, dest))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestOperatorImageMatchesDockerfile builds the operator image archive the
// way `make image` does (with a stand-in binary) and checks it against the
// Dockerfile's final stage: the same user, entrypoint, working directory
// and copied files, and the content of distroless static:nonroot that the
// Dockerfile's base image provides.
func TestOperatorImageMatchesDockerfile(t *testing.T) {
	want := parseDockerfile(t, filepath.Join(testenv.RepoRoot(), "Dockerfile"))
	if want.From != "gcr.io/distroless/static:nonroot" {
		t.Fatalf("the Dockerfile's base image is %s; this test knows what distroless static:nonroot holds, update it with the base", want.From)
	}
	zi, err := ZoneinfoFiles(HostZoneinfo)
	if err != nil {
		t.Fatal(err)
	}
	binary := []byte("\x7fELF stand-in for the operator binary")
	spec := Operator("test", binary, []byte("-----BEGIN CERTIFICATE-----\n"), zi)
	archive := filepath.Join(t.TempDir(), "operator.tar")
	if err := WriteArchive(archive, spec); err != nil {
		t.Fatal(err)
	}
	img, ref, err := ReadArchive(archive)
	if err != nil {
		t.Fatal(err)
	}
	if ref != OperatorRepository+":test" {
		t.Errorf("archive names the image %q, want %q", ref, OperatorRepository+":test")
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != want.User {
		t.Errorf("user %q, Dockerfile says %q", cf.Config.User, want.User)
	}
	if !slices.Equal(cf.Config.Entrypoint, want.Entrypoint) {
		t.Errorf("entrypoint %q, Dockerfile says %q", cf.Config.Entrypoint, want.Entrypoint)
	}
	if cf.Config.WorkingDir != want.WorkingDir {
		t.Errorf("working directory %q, Dockerfile says %q", cf.Config.WorkingDir, want.WorkingDir)
	}
	if cf.OS != "linux" {
		t.Errorf("OS %q, want linux", cf.OS)
	}

	files, err := Files(img)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range want.Copied {
		h, ok := files[p]
		if !ok {
			t.Errorf("the Dockerfile copies %s into the image; the archive has no such file", p)
			continue
		}
		if h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 {
			t.Errorf("%s: type %c mode %o, want an executable file", p, h.Typeflag, h.Mode)
		}
	}
	if ep := want.Entrypoint[0]; files[ep] == nil || files[ep].Size != int64(len(binary)) {
		t.Errorf("the entrypoint %s is not the binary given to the build", ep)
	}
	// What distroless static:nonroot provides.
	for _, p := range []string{"/etc/ssl/certs/ca-certificates.crt", "/usr/share/zoneinfo/Asia/Karachi", "/usr/share/zoneinfo/UTC", "/etc/passwd", "/etc/group"} {
		if h, ok := files[p]; !ok || (h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeSymlink) {
			t.Errorf("the image has no %s", p)
		}
	}
	if h := files["/tmp"]; h == nil || h.Typeflag != tar.TypeDir || h.Mode&0o1777 != 0o1777 {
		t.Errorf("/tmp is not a world-writable sticky directory: %+v", h)
	}
	if h := files["/home/nonroot"]; h == nil || h.Uid != NonRootUID {
		t.Errorf("/home/nonroot is not owned by %d: %+v", NonRootUID, h)
	}
	for p := range files {
		if strings.HasPrefix(p, "/usr/share/zoneinfo/posix/") || strings.HasPrefix(p, "/usr/share/zoneinfo/right/") {
			t.Errorf("%s: the posix/ and right/ copies of the zone data do not belong in the image", p)
			break
		}
	}
}

// TestImageIsReproducible: the same inputs give the same digest, so an
// unchanged rebuild does not replace the image the node runs.
func TestImageIsReproducible(t *testing.T) {
	digest := func() string {
		img, err := SampleApp([]byte("binary")).Image()
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	if a, b := digest(), digest(); a != b {
		t.Errorf("two builds of the same image: %s and %s", a, b)
	}
}

func TestSpecRejectsBadPaths(t *testing.T) {
	for _, f := range []File{{Path: "relative"}, {Path: "/"}} {
		if _, err := (Spec{Ref: "x", Files: []File{f}}).Image(); err == nil {
			t.Errorf("path %q was accepted", f.Path)
		}
	}
	if _, err := (Spec{Ref: "x", Files: []File{{Path: "/a"}, {Path: "/a/"}}}).Image(); err == nil {
		t.Error("a path listed twice was accepted")
	}
}
