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

// Command image builds the project's container images as OCI archives
// without a container engine (`make image`): the operator image, with the
// content the Dockerfile describes, and the two small images the local
// cluster's real node needs, the sandbox (pause) image and the sample
// regional app. Each binary is built static, as the Dockerfile builds it.
//
//	go run ./hack/image [-out bin/images] [-tag dev] [operator|pause|sample-app ...]
//
// It prints one line per archive: its path, the image name and its size.
// hack/local-cluster.sh loads the archives into the real node's containerd.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/ops-dev/region-withdrawal-operator/internal/ociimage"
)

func main() {
	out := flag.String("out", "bin/images", "directory the archives are written to")
	tag := flag.String("tag", "dev", "tag of the operator image")
	flag.Parse()
	names := flag.Args()
	if len(names) == 0 {
		names = []string{"operator", "pause", "sample-app"}
	}
	if err := run(*out, *tag, names); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// packages are the Go packages each image's binary is built from.
var packages = map[string]string{
	"operator":   ".",
	"pause":      "./test/images/pause",
	"sample-app": "./test/images/sample-app",
}

func run(out, tag string, names []string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "rwo-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	for _, name := range names {
		pkg, ok := packages[name]
		if !ok {
			return fmt.Errorf("unknown image %q (known: operator, pause, sample-app)", name)
		}
		bin, err := build(pkg, filepath.Join(work, name))
		if err != nil {
			return err
		}
		var spec ociimage.Spec
		switch name {
		case "operator":
			ca, err := os.ReadFile(ociimage.HostCABundle)
			if err != nil {
				return fmt.Errorf("the operator image takes this machine's CA bundle (Debian's ca-certificates): %w", err)
			}
			zi, err := ociimage.ZoneinfoFiles(ociimage.HostZoneinfo)
			if err != nil {
				return fmt.Errorf("the operator image takes this machine's time zone data (Debian's tzdata): %w", err)
			}
			spec = ociimage.Operator(tag, bin, ca, zi)
		case "pause":
			spec = ociimage.Pause(bin)
		case "sample-app":
			spec = ociimage.SampleApp(bin)
		}
		dest := filepath.Join(out, name+".tar")
		if err := ociimage.WriteArchive(dest, spec); err != nil {
			return fmt.Errorf("image %s: %w", name, err)
		}
		st, err := os.Stat(dest)
		if err != nil {
			return err
		}
		fmt.Printf("%s\t%s\t%.1f MiB\n", dest, spec.Ref, float64(st.Size())/(1<<20))
	}
	return nil
}

// build compiles pkg as the Dockerfile does: static, trimmed, stripped, for
// linux on this machine's architecture.
func build(pkg, dest string) ([]byte, error) {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", dest, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("building %s: %w", pkg, err)
	}
	return os.ReadFile(dest)
}
