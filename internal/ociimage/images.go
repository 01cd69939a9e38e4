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
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The images the project builds. The operator image has the content the
// Dockerfile describes (distroless static:nonroot plus the binary): CA
// certificates, time zone data, a passwd and group file naming the nonroot
// user 65532, /tmp, and the static binary at /manager.
const (
	// OperatorRepository is the chart's default image repository.
	OperatorRepository = "ghcr.io/ops-dev/region-withdrawal-operator"
	// PauseRef is the sandbox image of the local cluster's real node.
	PauseRef = "rwo.local/pause:dev"
	// SampleAppRef is the sample regional app of the demo and the tests.
	SampleAppRef = "rwo.local/sample-app:dev"

	// NonRootUID is distroless' nonroot user, the Dockerfile's USER.
	NonRootUID = 65532
)

// Host files the operator image copies, as distroless does from Debian.
const (
	HostCABundle = "/etc/ssl/certs/ca-certificates.crt"
	HostZoneinfo = "/usr/share/zoneinfo"
)

// Operator is the operator image: the same binary serves the manager, the
// exporter and the notice backend.
func Operator(tag string, binary []byte, caBundle []byte, zoneinfo []File) Spec {
	files := append(baseFiles(), File{Path: "/manager", Mode: 0o755, Data: binary},
		File{Path: "/etc/ssl/certs/ca-certificates.crt", Mode: 0o644, Data: caBundle})
	files = append(files, zoneinfo...)
	return Spec{
		Ref:        OperatorRepository + ":" + tag,
		Files:      files,
		User:       fmt.Sprintf("%d:%d", NonRootUID, NonRootUID),
		Entrypoint: []string{"/manager"},
		WorkingDir: "/",
		Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		Labels:     map[string]string{"org.opencontainers.image.source": "https://github.com/ops-dev/region-withdrawal-operator"},
	}
}

// Pause is the sandbox image: a static binary that waits for a signal.
func Pause(binary []byte) Spec {
	return Spec{
		Ref:        PauseRef,
		Files:      []File{{Path: "/pause", Mode: 0o755, Data: binary}},
		User:       "65535:65535",
		Entrypoint: []string{"/pause"},
		WorkingDir: "/",
	}
}

// SampleApp is the sample regional app: it answers 200 on every path.
func SampleApp(binary []byte) Spec {
	return Spec{
		Ref:        SampleAppRef,
		Files:      append(baseFiles(), File{Path: "/sample-app", Mode: 0o755, Data: binary}),
		User:       fmt.Sprintf("%d:%d", NonRootUID, NonRootUID),
		Entrypoint: []string{"/sample-app"},
		WorkingDir: "/",
	}
}

// baseFiles are the users, groups and directories distroless
// static:nonroot provides.
func baseFiles() []File {
	return []File{
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/sbin/nologin\n" +
			"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
			"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{Path: "/etc/group", Mode: 0o644, Data: []byte("root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n")},
		{Path: "/etc/nsswitch.conf", Mode: 0o644, Data: []byte("hosts: files dns\n")},
		{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
		{Path: "/home/nonroot", Mode: fs.ModeDir | 0o700, UID: NonRootUID, GID: NonRootUID},
		{Path: "/root", Mode: fs.ModeDir | 0o700},
	}
}

// ZoneinfoFiles reads a zoneinfo tree (Debian's tzdata) into image files
// under /usr/share/zoneinfo, links kept as links. The posix/ and right/
// copies are left out, as distroless leaves them out.
func ZoneinfoFiles(root string) ([]File, error) {
	var out []File
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		top := strings.SplitN(filepath.ToSlash(rel), "/", 2)[0]
		if top == "posix" || top == "right" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		dest := "/usr/share/zoneinfo/" + filepath.ToSlash(rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if strings.HasPrefix(target, "posix/") || strings.HasPrefix(target, "right/") {
				return nil
			}
			out = append(out, File{Path: dest, Mode: fs.ModeSymlink | 0o777, Link: target})
		case d.IsDir():
			out = append(out, File{Path: dest, Mode: fs.ModeDir | 0o755})
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out = append(out, File{Path: dest, Mode: 0o644, Data: b})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading time zone data from %s: %w", root, err)
	}
	return out, nil
}
