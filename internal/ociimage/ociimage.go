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

// Package ociimage builds the project's container images as OCI image
// layout archives, without a container engine: a Spec lists the files and
// the run configuration, and WriteArchive writes one single-layer image that
// `ctr images import` (and any OCI registry tool) reads. Builds are
// reproducible: every file carries the same timestamp and owner it is given.
package ociimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// epoch is every file's modification time and the image's creation time, so
// that the same inputs give the same image digest.
var epoch = time.Unix(0, 0).UTC()

// File is one entry of the image's file system.
type File struct {
	// Path is the absolute path in the image.
	Path string
	// Mode is the permission bits (and fs.ModeDir for a directory,
	// fs.ModeSymlink for a link).
	Mode fs.FileMode
	// UID and GID own the entry.
	UID, GID int
	// Data is the content of a regular file.
	Data []byte
	// Link is the target of a symbolic link.
	Link string
}

// Spec describes one image.
type Spec struct {
	// Ref names the image, e.g. ghcr.io/ops-dev/region-withdrawal-operator:dev.
	Ref        string
	Files      []File
	User       string
	Entrypoint []string
	WorkingDir string
	Env        []string
	Labels     map[string]string
	// Arch is the GOARCH the image's binaries are built for; empty, this
	// machine's.
	Arch string
}

// Image assembles the image: one layer holding Files (with every parent
// directory), and a config for linux on Arch.
func (s Spec) Image() (v1.Image, error) {
	layerTar, err := s.layerTar()
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: epoch}, CreatedBy: "region-withdrawal-operator hack/image", Comment: s.Ref,
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", s.Arch
	if cf.Architecture == "" {
		cf.Architecture = runtime.GOARCH
	}
	cf.Created = v1.Time{Time: epoch}
	cf.Config = v1.Config{
		User: s.User, Entrypoint: s.Entrypoint, WorkingDir: s.WorkingDir, Env: s.Env, Labels: s.Labels,
	}
	return mutate.ConfigFile(img, cf)
}

// layerTar writes Files, sorted by path and with their parent directories,
// as an uncompressed tar.
func (s Spec) layerTar() ([]byte, error) {
	entries := map[string]File{}
	for _, f := range s.Files {
		p := path.Clean(f.Path)
		if !path.IsAbs(p) || p == "/" {
			return nil, fmt.Errorf("image %s: file path %q is not an absolute path below /", s.Ref, f.Path)
		}
		if _, dup := entries[p]; dup {
			return nil, fmt.Errorf("image %s: %s is listed twice", s.Ref, p)
		}
		f.Path = p
		entries[p] = f
		for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
			if _, ok := entries[dir]; !ok {
				entries[dir] = File{Path: dir, Mode: fs.ModeDir | 0o755}
			}
		}
	}
	paths := make([]string, 0, len(entries))
	for p := range entries {
		paths = append(paths, p)
	}
	sort.Strings(paths)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		f := entries[p]
		if f.Mode&fs.ModeDir != 0 && f.Data != nil {
			return nil, fmt.Errorf("image %s: directory %s has content", s.Ref, p)
		}
		h := &tar.Header{
			Name: strings.TrimPrefix(p, "/"), Mode: tarMode(f.Mode),
			Uid: f.UID, Gid: f.GID, ModTime: epoch, Format: tar.FormatPAX,
		}
		switch {
		case f.Mode&fs.ModeDir != 0:
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		case f.Mode&fs.ModeSymlink != 0:
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.Link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tarMode is the mode word a tar header carries: permission bits plus the
// sticky, setuid and setgid bits in their Unix positions.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	return mode
}

// WriteArchive writes the image as an OCI image layout in a tar archive at
// dest. The index names the image twice: with the OCI ref.name annotation,
// and with the annotation containerd's importer reads, so that
// `ctr -n k8s.io images import dest` registers it under s.Ref.
func WriteArchive(dest string, s Spec) error {
	img, err := s.Image()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "ociimage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": s.Ref,
		"io.containerd.image.name":          s.Ref,
	})); err != nil {
		return err
	}
	return tarDir(dir, dest)
}

// tarDir writes the regular files under dir into a tar archive at dest,
// atomically: a crash leaves the old archive or the new one.
func tarDir(dir, dest string) error {
	tmp := dest + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(out)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name, h.ModTime, h.Uid, h.Gid, h.Uname, h.Gname = filepath.ToSlash(rel), epoch, 0, 0, "", ""
		if d.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", dest, err)
	}
	return os.Rename(tmp, dest)
}

// ReadArchive opens an archive written by WriteArchive and returns its one
// image and the name the index gives it.
func ReadArchive(archive string) (v1.Image, string, error) {
	dir, err := os.MkdirTemp("", "ociimage-read-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(dir)
	if err := untar(archive, dir); err != nil {
		return nil, "", err
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, "", err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, "", err
	}
	if len(m.Manifests) != 1 {
		return nil, "", fmt.Errorf("%s holds %d images, want 1", archive, len(m.Manifests))
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		return nil, "", err
	}
	// Read every blob now: the directory is removed on return.
	layers, err := img.Layers()
	if err != nil {
		return nil, "", err
	}
	var loaded []mutate.Addendum
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, "", err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, "", err
		}
		ll, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			return nil, "", err
		}
		loaded = append(loaded, mutate.Addendum{Layer: ll})
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, "", err
	}
	out, err := mutate.Append(empty.Image, loaded...)
	if err != nil {
		return nil, "", err
	}
	out, err = mutate.ConfigFile(out, cf)
	return out, m.Manifests[0].Annotations["org.opencontainers.image.ref.name"], err
}

func untar(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(name, dir+string(filepath.Separator)) {
			return fmt.Errorf("%s: entry %q leaves the archive", archive, h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(name, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				return err
			}
			out, err := os.Create(name)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, io.LimitReader(tr, h.Size))
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}

// Files lists the image's file system: path to tar header.
func Files(img v1.Image) (map[string]*tar.Header, error) {
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out["/"+strings.TrimSuffix(h.Name, "/")] = h
	}
}
