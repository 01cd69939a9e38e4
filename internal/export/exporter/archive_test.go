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

package exporter

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAFileSwappedForALinkIsNotFollowed: the tenant's workload replaces a
// file the walk saw with a link to a secret outside the tree (or a
// directory on its path with a link out), between the walk and the read.
// The export fails naming the file, and the secret is not in the archive.
func TestAFileSwappedForALinkIsNotFollowed(t *testing.T) {
	for _, tc := range []struct {
		name string
		swap func(t *testing.T, src, secret string)
	}{
		{"the file becomes a link", func(t *testing.T, src, secret string) {
			path := filepath.Join(src, "data", "orders.db")
			must(t, os.Remove(path))
			must(t, os.Symlink(secret, path))
		}},
		{"its directory becomes a link", func(t *testing.T, src, secret string) {
			dir := filepath.Join(src, "data")
			must(t, os.Rename(dir, filepath.Join(src, "moved")))
			outside := filepath.Dir(secret)
			must(t, os.WriteFile(filepath.Join(outside, "orders.db"), []byte("token: s3cr3t"), 0o600))
			must(t, os.Symlink(outside, dir))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, outside := t.TempDir(), t.TempDir()
			secret := filepath.Join(outside, "token")
			must(t, os.WriteFile(secret, []byte("token: s3cr3t"), 0o600))
			must(t, os.MkdirAll(filepath.Join(src, "data"), 0o755))
			must(t, os.WriteFile(filepath.Join(src, "data", "orders.db"), []byte("orders"), 0o644))
			defer func(f func(string)) { beforeOpen = f }(beforeOpen)
			beforeOpen = func(path string) {
				if strings.HasSuffix(path, "orders.db") {
					tc.swap(t, src, secret)
				}
			}
			var archive bytes.Buffer
			err := writeArchive(context.Background(), &archive, src, 1, io.Discard)
			if !errors.Is(err, ErrArchive) || !strings.Contains(err.Error(), "orders.db") {
				t.Fatalf("writeArchive = %v, want a failure naming the file", err)
			}
			// What was written before the failure, unpacked.
			var content bytes.Buffer
			if zr, err := gzip.NewReader(&archive); err == nil {
				tr := tar.NewReader(zr)
				for {
					if _, err := tr.Next(); err != nil {
						break
					}
					_, _ = io.Copy(&content, tr)
				}
			}
			if bytes.Contains(content.Bytes(), []byte("token")) {
				t.Fatal("the secret outside the tree is in the archive")
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
