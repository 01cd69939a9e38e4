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
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeS3 is a fake S3 API, just enough of it to record what the exporter's
// client (minio-go) sends: multipart uploads, with SigV4 headers and
// aws-chunked (streaming-signed) bodies. It checks the shape of the
// requests, not their signatures; the real-node test uploads to a real
// S3-compatible store (SeaweedFS), which does.
type fakeS3 struct {
	mu        sync.Mutex
	auth      []string       // Authorization headers seen
	lengths   []int64        // declared content lengths of the parts
	parts     map[int][]byte // the open upload's parts
	objects   map[string][]byte
	aborted   int
	failParts int // answer the part with this number 403
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		f.parts = map[int][]byte{}
		fmt.Fprintf(w, `<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>up-1</UploadId></InitiateMultipartUploadResult>`)
	case r.Method == http.MethodPut && q.Get("uploadId") == "up-1":
		n, _ := strconv.Atoi(q.Get("partNumber"))
		if n == f.failParts {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			return
		}
		body, err := readS3Body(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.lengths = append(f.lengths, r.ContentLength)
		f.parts[n] = body
		w.Header().Set("ETag", fmt.Sprintf(`"etag-%d"`, n))
	case r.Method == http.MethodPost && q.Get("uploadId") == "up-1":
		var all []byte
		for _, n := range slices.Sorted(func(yield func(int) bool) {
			for n := range f.parts {
				if !yield(n) {
					return
				}
			}
		}) {
			all = append(all, f.parts[n]...)
		}
		f.objects[r.URL.Path] = all
		fmt.Fprintf(w, `<CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><ETag>"final"</ETag></CompleteMultipartUploadResult>`)
	case r.Method == http.MethodDelete && q.Get("uploadId") == "up-1":
		f.aborted++
		f.parts = nil
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "not in this fake: "+r.Method+" "+r.URL.String(), http.StatusNotImplemented)
	}
}

// readS3Body reads a part's body, decoding aws-chunked streaming-signed
// encoding ("<hex size>;chunk-signature=...\r\n<data>\r\n"), which the
// client uses over plain http.
func readS3Body(r *http.Request) ([]byte, error) {
	if !strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") {
		return io.ReadAll(r.Body)
	}
	br := bufio.NewReader(r.Body)
	var out bytes.Buffer
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("aws-chunked: %w", err)
		}
		size, sig, _ := strings.Cut(strings.TrimSpace(line), ";")
		if !strings.HasPrefix(sig, "chunk-signature=") {
			return nil, fmt.Errorf("aws-chunked: a chunk without a signature: %q", line)
		}
		n, err := strconv.ParseInt(size, 16, 64)
		if err != nil {
			return nil, err
		}
		if _, err := io.CopyN(&out, br, n+2); err != nil {
			return nil, err
		}
		out.Truncate(out.Len() - 2)
		if n == 0 {
			return out.Bytes(), nil
		}
	}
}

func startFakeS3(t *testing.T) (*fakeS3, string) {
	t.Helper()
	f := &fakeS3{objects: map[string][]byte{}}
	srv := httptest.NewUnstartedServer(f)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return f, srv.URL
}

// TestS3MultipartUpload: an s3:// destination is uploaded in parts of
// --s3-part-size-mib, each SigV4-signed with the credentials from the
// environment, and the result's size and SHA-256 are those of the object
// the parts make. A part the store refuses fails the export, aborts the
// upload and writes no result; no credentials fail before any request.
func TestS3MultipartUpload(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	smallTree(t, src, 12<<20) // random, so it stays about 12 MiB gzipped: three parts of 5 MiB
	f, endpoint := startFakeS3(t)
	base := []string{"--source", src, "--destination", "s3://exports/pk/acme.tar.gz",
		"--s3-endpoint", endpoint, "--s3-path-style", "--s3-region", "eu-central-1", "--s3-part-size-mib", "5",
		"--egress-allow-cidrs=127.0.0.1/32", "--egress-allow-http"}

	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXPORTER")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "exporter-secret")
	resultFile := filepath.Join(out, "ok.json")
	stderr, err := run(t, nil, append(base, "--result-file", resultFile)...)
	if err != nil {
		t.Fatalf("exporter failed: %v\n%s", err, stderr)
	}
	if strings.Contains(stderr, "exporter-secret") {
		t.Fatalf("the secret key leaked into the output: %s", stderr)
	}
	res := readResult(t, resultFile)
	stored, ok := f.objects["/exports/pk/acme.tar.gz"]
	if !ok {
		t.Fatalf("no object at /exports/pk/acme.tar.gz (path-style); the store has %d objects", len(f.objects))
	}
	sum := sha256.Sum256(stored)
	if res.Location != "s3://exports/pk/acme.tar.gz" || res.Bytes != int64(len(stored)) || res.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("result %+v; the store holds %d bytes with SHA-256 %x", res, len(stored), sum)
	}
	if len(f.lengths) != 3 {
		t.Fatalf("%d parts were uploaded (lengths %v), want 3 of at most 5 MiB", len(f.lengths), f.lengths)
	}
	for _, n := range f.lengths {
		if n <= 0 {
			t.Fatalf("a part was sent without a Content-Length: %v", f.lengths)
		}
	}
	for _, a := range f.auth {
		if !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential=AKIDEXPORTER/") || !strings.Contains(a, "/eu-central-1/s3/aws4_request") {
			t.Fatalf("a request was not SigV4-signed with the environment's key for eu-central-1: %q", a)
		}
	}
	compareTrees(t, snapshot(t, src), extract(t, bytes.NewReader(stored)))

	t.Run("a refused part fails the export and aborts the upload", func(t *testing.T) {
		f.failParts, f.objects = 2, map[string][]byte{}
		resultFile := filepath.Join(out, "refused.json")
		stderr, err := run(t, nil, append(base, "--result-file", resultFile)...)
		if err == nil || !strings.Contains(stderr, "upload failed") || !strings.Contains(stderr, "Access Denied") {
			t.Fatalf("exporter: %v, want an upload failure naming the store's answer\n%s", err, stderr)
		}
		assertNoResult(t, resultFile)
		if f.aborted != 1 || len(f.objects) != 0 {
			t.Fatalf("aborted %d uploads, stored %d objects; want the upload aborted and nothing stored", f.aborted, len(f.objects))
		}
	})

	t.Run("no credentials fail before any request", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(out, "none"))
		t.Setenv("AWS_CONFIG_FILE", filepath.Join(out, "none"))
		// The instance metadata a pod could ask is unreachable here: point
		// the container credentials provider at nothing, so the chain ends
		// at once.
		t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/creds")
		before := len(f.auth)
		resultFile := filepath.Join(out, "anonymous.json")
		stderr, err := run(t, nil, append(base, "--result-file", resultFile)...)
		if err == nil || !strings.Contains(stderr, "no S3 credentials") {
			t.Fatalf("exporter: %v, want a failure naming the missing credentials\n%s", err, stderr)
		}
		assertNoResult(t, resultFile)
		if len(f.auth) != before {
			t.Fatalf("%d requests reached the store without credentials", len(f.auth)-before)
		}
	})
}

// TestS3DestinationUsage: what the flags refuse, before anything is read.
func TestS3DestinationUsage(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	smallTree(t, src, 1024)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKID")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "no key", args: []string{"--destination", "s3://exports"}, want: "no object key"},
		{name: "a query", args: []string{"--destination", "s3://exports/a?versionId=1"}, want: "no query"},
		{name: "a bad bucket", args: []string{"--destination", "s3://Ex_ports/a"}, want: "Bucket name"},
		{name: "a header", args: []string{"--destination", "s3://exports/a", "--header", "X-A: b"}, want: "--header only applies to an HTTP destination"},
		{name: "a tiny part", args: []string{"--destination", "s3://exports/a", "--s3-part-size-mib", "1"}, want: "5 to 5120 MiB"},
		{name: "an endpoint with a path", args: []string{"--destination", "s3://exports/a", "--s3-endpoint", "https://s3.example.com/base"}, want: "only scheme://host[:port]"},
		{name: "plain http endpoint", args: []string{"--destination", "s3://exports/a", "--s3-endpoint", "http://s3.example.com"}, want: "is not https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resultFile := filepath.Join(out, strings.ReplaceAll(tc.name, " ", "-")+".json")
			stderr, err := run(t, nil, append([]string{"--source", src, "--result-file", resultFile}, tc.args...)...)
			if err == nil || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exporter: %v, want a failure saying %q\n%s", err, tc.want, stderr)
			}
			assertNoResult(t, resultFile)
		})
	}
}
