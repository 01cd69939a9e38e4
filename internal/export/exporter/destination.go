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
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"github.com/ops-dev/region-withdrawal-operator/internal/export/result"
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

// httpDestination PUTs the archive with chunked transfer encoding (its
// length is not known in advance). A pre-signed URL carries its own
// authorisation; headers add any other.
type httpDestination struct {
	url    string
	client *http.Client
	header http.Header
}

func (d *httpDestination) store(ctx context.Context, body io.Reader) (string, error) {
	// Hide any WriterTo/Len so the transport streams with chunked encoding.
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, d.url, struct{ io.Reader }{body})
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUsage, err)
	}
	req.ContentLength = -1
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
