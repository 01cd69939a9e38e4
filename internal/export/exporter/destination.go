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
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/ops-dev/region-withdrawal-operator/internal/export/result"
	"github.com/ops-dev/region-withdrawal-operator/internal/s3store"
)

// fileDestination writes to a temporary file next to the target and renames
// it at the end, so the target path only ever holds a complete archive.
type fileDestination struct {
	path string
	tmp  string
}

func (d *fileDestination) store(ctx context.Context, body io.Reader) (string, error) {
	abs, err := filepath.Abs(d.path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUpload, err)
	}
	f, err := os.CreateTemp(filepath.Dir(abs), "."+filepath.Base(abs)+".*.partial")
	if err != nil {
		return "", fmt.Errorf("%w: creating a temporary file next to %s: %w", ErrUpload, abs, err)
	}
	d.tmp = f.Name()
	if _, err := io.Copy(f, body); err != nil {
		f.Close()
		return "", fmt.Errorf("%w: writing %s: %w", ErrUpload, d.tmp, err)
	}
	// The result says the archive is stored: make it so before renaming.
	if err := f.Sync(); err != nil {
		f.Close()
		return "", fmt.Errorf("%w: syncing %s: %w", ErrUpload, d.tmp, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("%w: closing %s: %w", ErrUpload, d.tmp, err)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("%w: %w", ErrUpload, err)
	}
	if err := os.Rename(d.tmp, abs); err != nil {
		return "", fmt.Errorf("%w: renaming into %s: %w", ErrUpload, abs, err)
	}
	d.tmp = ""
	if dir, err := os.Open(filepath.Dir(abs)); err == nil {
		_ = dir.Sync() // make the rename durable where the filesystem allows
		dir.Close()
	}
	return abs, nil
}

func (d *fileDestination) abort() {
	if d.tmp != "" {
		os.Remove(d.tmp)
		d.tmp = ""
	}
}

// httpDestination PUTs the archive in one request. Its length is not known
// until it is written, and S3 (a pre-signed PUT too) refuses a PUT without
// a Content-Length, so it is spooled to a file first, then sent with its
// length; with chunked set it is streamed with chunked transfer encoding
// instead, for stores that take that and pods without a writable
// directory. A pre-signed URL carries its own authorisation; headers add
// any other.
type httpDestination struct {
	url      string
	client   *http.Client
	header   http.Header
	chunked  bool
	spoolDir string
}

func (d *httpDestination) store(ctx context.Context, body io.Reader) (string, error) {
	if d.chunked {
		// Hide any WriterTo/Len so the transport streams with chunked encoding.
		return d.put(ctx, struct{ io.Reader }{body}, -1)
	}
	spool, err := os.CreateTemp(d.spoolDir, "export-*.spool")
	if err != nil {
		return "", fmt.Errorf("%w: creating the spool file (--spool-dir; mount an emptyDir there, or use --http-chunked for a store that takes chunked uploads): %w", ErrUpload, err)
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
	}()
	// The archive's bytes are hashed on the way in (the result's SHA-256)
	// and again on the way out: what is sent must be what was hashed, and
	// a spool file changed or cut in between fails the export.
	in := sha256.New()
	n, err := io.Copy(io.MultiWriter(spool, in), body)
	if err != nil {
		return "", fmt.Errorf("%w: spooling to %s: %w", ErrUpload, spool.Name(), err)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("%w: %w", ErrUpload, err)
	}
	out := &hashingReader{r: io.LimitReader(spool, n+1), h: sha256.New()}
	location, err := d.put(ctx, out, n)
	if err != nil {
		return "", err
	}
	if out.n != n || !bytes.Equal(out.h.Sum(nil), in.Sum(nil)) {
		return "", fmt.Errorf("%w: the spool file changed before it was sent (%d bytes spooled, %d sent)", ErrUpload, n, out.n)
	}
	return location, nil
}

// put sends one PUT of body, length bytes long (-1: chunked).
func (d *httpDestination) put(ctx context.Context, body io.Reader, length int64) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, d.url, body)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUsage, err)
	}
	req.ContentLength = length
	if length == 0 {
		req.Body = http.NoBody
	}
	for k, vs := range d.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("%w: PUT %s: %w", ErrUpload, redact(d.url), redactErr(err, d.url))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated, http.StatusNoContent:
		return d.url, nil
	default:
		return "", fmt.Errorf("%w: PUT %s: %s: %q", ErrUpload, redact(d.url), resp.Status, snippet)
	}
}

// abort has nothing to remove: a PUT that did not finish stores nothing on
// an object store, and the result is never written.
func (d *httpDestination) abort() {}

// s3Destination uploads to an S3 bucket with minio-go: SigV4-signed, in
// parts of partSize, so neither the archive's length nor more than one
// part in memory is needed, and S3's 5 GiB limit on one PUT does not
// apply. A multipart upload that fails is aborted by the client, so no
// part is left to pay for; the object exists only once the upload is
// completed.
type s3Destination struct {
	client   *minio.Client
	loc      s3store.Location
	partSize uint64
	stored   bool
}

func (d *s3Destination) store(ctx context.Context, body io.Reader) (string, error) {
	info, err := d.client.PutObject(ctx, d.loc.Bucket, d.loc.Key, body, -1, minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		PartSize:    d.partSize,
	})
	if err != nil {
		return "", fmt.Errorf("%w: uploading to %s: %w", ErrUpload, d.loc, err)
	}
	d.stored = true
	if info.Size <= 0 {
		return "", fmt.Errorf("%w: the store took %d bytes for %s", ErrUpload, info.Size, d.loc)
	}
	return d.loc.String(), nil
}

// abort removes an object whose upload completed but whose export failed
// after all (the archiver's last write failed, say): an object at the
// location must be a complete archive, as a result would say. Where the
// credentials may not delete, the object stays, and no result names it.
func (d *s3Destination) abort() {
	if !d.stored {
		return
	}
	d.stored = false
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = d.client.RemoveObject(ctx, d.loc.Bucket, d.loc.Key, minio.RemoveObjectOptions{})
}

// redact drops the query of a URL for messages: a pre-signed URL's
// signature is a credential.
func redact(u string) string { return result.StripQuery(u) }

// redactErr removes the URL with its query from a client error.
func redactErr(err error, raw string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: redact(raw), Err: ue.Err}
	}
	return err
}
