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
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// writeArchive writes the tree under root as a gzip-compressed tar to w, in
// lexical order, with names relative to root. Symbolic links are stored as
// links and never followed; a file or directory that cannot be read fails
// the export with its name, because an archive silently missing a file is
// not a complete export.
//
// Files are opened within root (os.Root) and without following a final
// symbolic link, and must be the very file the walk saw: the tree belongs
// to a tenant's workload, which may swap a file for a link to something
// outside it (the Pod's ServiceAccount token, say) between the walk and
// the read.
func writeArchive(ctx context.Context, w io.Writer, root string, level int, stderr io.Writer) error {
	zw, err := gzip.NewWriterLevel(w, level)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	dir, err := os.OpenRoot(root)
	if err != nil {
		return fmt.Errorf("%w: opening %s: %w", ErrArchive, root, err)
	}
	defer dir.Close()
	tw := tar.NewWriter(zw)
	buf := make([]byte, 1<<20)
	walkErr := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("%w: reading %s: %w", ErrArchive, path, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrArchive, err)
		}
		if rel == "." {
			return nil
		}
		return addEntry(tw, dir, path, rel, d, buf, stderr)
	})
	if walkErr != nil {
		return walkErr
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("%w: finishing the tar stream: %w", ErrArchive, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("%w: finishing the gzip stream: %w", ErrArchive, err)
	}
	return nil
}

// beforeOpen is called just before a regular file is opened; tests swap
// the file there.
var beforeOpen = func(path string) {}

func addEntry(tw *tar.Writer, dir *os.Root, path, rel string, d fs.DirEntry, buf []byte, stderr io.Writer) error {
	name := filepath.ToSlash(rel)
	info, err := d.Info()
	if err != nil {
		return fmt.Errorf("%w: stat %s: %w", ErrArchive, path, err)
	}
	var link string
	switch mode := info.Mode(); {
	case mode&fs.ModeSymlink != 0:
		if link, err = dir.Readlink(rel); err != nil {
			return fmt.Errorf("%w: reading the link %s: %w", ErrArchive, path, err)
		}
	case mode&fs.ModeSocket != 0:
		// A socket has no content and cannot be restored; tar skips it too.
		fmt.Fprintf(stderr, "skipping socket %s\n", path)
		return nil
	}
	hdr, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrArchive, path, err)
	}
	hdr.Name = name
	if info.IsDir() {
		hdr.Name += "/"
	}
	// Owner names depend on the image's /etc/passwd; numeric ids are
	// what a restore needs.
	hdr.Uname, hdr.Gname = "", ""
	// PAX keeps long names, large sizes and sub-second times exactly.
	hdr.Format = tar.FormatPAX
	if !info.Mode().IsRegular() {
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrArchive, path, err)
		}
		return nil
	}
	// Open before writing the header: an unreadable file must fail the
	// export, not leave a header with no content.
	beforeOpen(path)
	f, err := dir.OpenFile(rel, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("%w: cannot read %s: %w", ErrArchive, path, err)
	}
	defer f.Close()
	if opened, err := f.Stat(); err != nil || !os.SameFile(opened, info) {
		return fmt.Errorf("%w: %s was replaced while it was archived", ErrArchive, path)
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrArchive, path, err)
	}
	n, err := io.CopyBuffer(tw, io.LimitReader(f, hdr.Size), buf)
	switch {
	case err != nil && isWriteSide(err):
		return err
	case err != nil:
		return fmt.Errorf("%w: reading %s: %w", ErrArchive, path, err)
	case n < hdr.Size:
		return fmt.Errorf("%w: %s shrank from %d to %d bytes while it was archived", ErrArchive, path, hdr.Size, n)
	}
	return nil
}

// errDestination marks an error writing the archive out, so that a file
// is not blamed for what the destination did.
var errDestination = errors.New("the destination stopped reading the archive")

// destWriter tags the errors of the pipe to the destination.
type destWriter struct{ w io.Writer }

func (d destWriter) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	if err != nil {
		err = fmt.Errorf("%w: %w", errDestination, err)
	}
	return n, err
}

func isWriteSide(err error) bool { return errors.Is(err, errDestination) }
