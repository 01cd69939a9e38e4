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

// These tests run the exporter as a real process: the test binary re-executes
// itself with EXPORTER_TEST_MAIN=1, and TestMain then runs Main with the
// arguments, exactly as the operator binary's "export" subcommand does.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"filippo.io/age"

	"github.com/ops-dev/region-withdrawal-operator/internal/export/result"
)

func TestMain(m *testing.M) {
	if os.Getenv("EXPORTER_TEST_MAIN") == "1" {
		if err := Main(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// run executes the exporter process and returns its stderr.
func run(t *testing.T, cred *syscall.Credential, args ...string) (string, error) {
	t.Helper()
	bin := os.Args[0]
	if cred != nil {
		// The test binary's directory is private to root; copy it where
		// the unprivileged user can execute it.
		bin = filepath.Join(sharedDir(t), "exporter")
		copyFile(t, os.Args[0], bin, 0o755)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "EXPORTER_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	err := cmd.Run()
	return stderr.String(), err
}

// entry is what the archive should hold for one path.
type entry struct {
	typ    byte
	sha256 string
	link   string
	size   int64
}

// snapshot describes a tree as the archive should record it, reading every
// file independently of the exporter.
func snapshot(t *testing.T, root string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			out[rel] = entry{typ: tar.TypeSymlink, link: link}
		case info.IsDir():
			out[rel+"/"] = entry{typ: tar.TypeDir}
		default:
			out[rel] = entry{typ: tar.TypeReg, sha256: fileHash(t, path), size: info.Size()}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// extract reads a tar+gzip stream and describes what it holds.
func extract(t *testing.T, r io.Reader) map[string]entry {
	t.Helper()
	zr, err := gzip.NewReader(r)
	if err != nil {
		t.Fatalf("the archive is not gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	out := map[string]entry{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading the archive: %v", err)
		}
		e := entry{typ: hdr.Typeflag, link: hdr.Linkname}
		if hdr.Typeflag == tar.TypeReg {
			h := sha256.New()
			n, err := io.Copy(h, tr)
			if err != nil {
				t.Fatalf("reading %s from the archive: %v", hdr.Name, err)
			}
			e.sha256, e.size = hex.EncodeToString(h.Sum(nil)), n
		}
		if _, dup := out[hdr.Name]; dup {
			t.Fatalf("%s is twice in the archive", hdr.Name)
		}
		out[hdr.Name] = e
	}
	if _, err := io.Copy(io.Discard, zr); err != nil {
		t.Fatalf("reading the end of the gzip stream: %v", err)
	}
	return out
}

func compareTrees(t *testing.T, want, got map[string]entry) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("archive holds %d entries, the tree %d", len(got), len(want))
	}
	shown := 0
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			if shown++; shown <= 5 {
				t.Errorf("%s: archive has %+v (present %v), tree has %+v", name, g, ok, w)
			}
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			if shown++; shown <= 10 {
				t.Errorf("%s is in the archive but not in the tree", name)
			}
		}
	}
}

func fileHash(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func readResult(t *testing.T, path string) *result.Result {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the result: %v", err)
	}
	r, err := result.Parse(b)
	if err != nil {
		t.Fatalf("the exporter wrote an invalid result %q: %v", b, err)
	}
	return r
}

func assertNoResult(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err == nil && len(b) > 0 {
		t.Fatalf("a failed export wrote a result: %s", b)
	}
}

func writeFile(t *testing.T, path string, data []byte, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string, mode fs.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, b, mode)
}

// sharedDir is a temporary directory every user may enter.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// smallTree writes a few files, a symlink and a dangling symlink.
func smallTree(t *testing.T, root string, bytesOfRandom int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, bytesOfRandom)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	writeFile(t, filepath.Join(root, "data", "random.bin"), data, 0o644)
	writeFile(t, filepath.Join(root, "README"), []byte("customer data\n"), 0o644)
	if err := os.Symlink("data/random.bin", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent/target", filepath.Join(root, "dangling")); err != nil {
		t.Fatal(err)
	}
}

// TestRoundTripLargeTree archives a 1 GiB sparse file, 10,000 small files
// in nested directories, symlinks (one dangling, one absolute) and an empty
// directory, and checks the archive holds exactly the tree, byte for byte,
// and that the reported size and SHA-256 are those of the stored file.
func TestRoundTripLargeTree(t *testing.T) {
	if testing.Short() {
		t.Skip("archives 1 GiB; skipped with -short")
	}
	src, out := t.TempDir(), t.TempDir()

	sparse := filepath.Join(src, "volume", "sparse.img")
	writeFile(t, sparse, []byte("head"), 0o600)
	if err := os.Truncate(sparse, 1<<30); err != nil {
		t.Fatal(err)
	}
	// A few non-zero bytes in the middle, so a wrong offset shows.
	f, err := os.OpenFile(sparse, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("middle"), 512<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()

	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 10_000 {
		buf := make([]byte, rng.IntN(2048))
		for j := range buf {
			buf[j] = byte(rng.Uint32())
		}
		writeFile(t, filepath.Join(src, "small", fmt.Sprintf("d%03d", i%100), fmt.Sprintf("f%05d.dat", i)), buf, 0o644)
	}
	if err := os.MkdirAll(filepath.Join(src, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"current": "small/d000", "abs": "/etc/hostname", "gone": "does/not/exist"} {
		if err := os.Symlink(target, filepath.Join(src, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "long-"+strings.Repeat("n", 200)), []byte("long name"), 0o644); err != nil {
		t.Fatal(err)
	}

	dest, result := filepath.Join(out, "export.tar.gz"), filepath.Join(out, "result.json")
	if stderr, err := run(t, nil, "--source", src, "--destination", dest, "--result-file", result, "--recipient", "acme", "--gzip-level", "1"); err != nil {
		t.Fatalf("exporter failed: %v\n%s", err, stderr)
	}
	res := readResult(t, result)
	st, err := os.Stat(dest)
	if err != nil {
		t.Fatal(err)
	}
	if res.Bytes != st.Size() || res.SHA256 != fileHash(t, dest) {
		t.Fatalf("result says %d bytes sha256 %s; the file has %d bytes sha256 %s", res.Bytes, res.SHA256, st.Size(), fileHash(t, dest))
	}
	if res.Location != dest || res.Recipient != "acme" || res.Encrypted {
		t.Fatalf("result = %+v", res)
	}
	leftovers, _ := filepath.Glob(filepath.Join(out, ".*partial"))
	if len(leftovers) > 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}

	a, err := os.Open(dest)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	compareTrees(t, snapshot(t, src), extract(t, a))
}

// TestAgeEncryption checks that an encrypted archive decrypts with the
// private key and not with another, that the stored object is not a
// plaintext gzip stream, and that the hash is of what is stored.
func TestAgeEncryption(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	smallTree(t, src, 256<<10)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	second, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dest, result := filepath.Join(out, "export.tar.gz.age"), filepath.Join(out, "result.json")
	if stderr, err := run(t, nil, "--source", src, "--destination", dest, "--result-file", result,
		"--age-recipient", id.Recipient().String(), "--age-recipient", second.Recipient().String()); err != nil {
		t.Fatalf("exporter failed: %v\n%s", err, stderr)
	}
	res := readResult(t, result)
	if !res.Encrypted || res.SHA256 != fileHash(t, dest) {
		t.Fatalf("result = %+v; file sha256 %s", res, fileHash(t, dest))
	}
	stored, err := os.ReadFile(dest)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(stored, []byte{0x1f, 0x8b}) || bytes.Contains(stored, []byte("customer data")) {
		t.Fatal("the destination holds plaintext")
	}

	tests := []struct {
		name     string
		identity age.Identity
		wantErr  bool
	}{
		{name: "first recipient's key", identity: id},
		{name: "second recipient's key", identity: second},
		{name: "someone else's key", identity: other, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := age.Decrypt(bytes.NewReader(stored), tt.identity)
			if tt.wantErr {
				var noMatch *age.NoIdentityMatchError
				if !errors.As(err, &noMatch) {
					t.Fatalf("Decrypt with the wrong key: error = %v, want NoIdentityMatchError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			compareTrees(t, snapshot(t, src), extract(t, r))
		})
	}
}

// putServer records what one PUT brought.
type putServer struct {
	got     []byte
	chunked bool
	length  int64
	header  http.Header
	query   string
}

func TestHTTPPut(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	smallTree(t, src, 4<<20)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}

	type handler func(p *putServer) http.HandlerFunc
	store := func(status int) handler {
		return func(p *putServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPut {
					http.Error(w, "PUT only", http.StatusMethodNotAllowed)
					return
				}
				p.chunked = len(r.TransferEncoding) > 0 && r.TransferEncoding[0] == "chunked"
				p.length = r.ContentLength
				p.header, p.query = r.Header.Clone(), r.URL.RawQuery
				b, err := io.ReadAll(r.Body)
				if err != nil {
					return
				}
				p.got = b
				w.WriteHeader(status)
			}
		}
	}
	// dropAfter reads n bytes of the body and closes the connection.
	dropAfter := func(n int64) handler {
		return func(p *putServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.CopyN(io.Discard, r.Body, n)
				conn, _, err := http.NewResponseController(w).Hijack()
				if err != nil {
					t.Errorf("hijack: %v", err)
					return
				}
				conn.Close()
			}
		}
	}
	// failAfter reads n bytes of the body and answers 500.
	failAfter := func(n int64) handler {
		return func(p *putServer) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.CopyN(io.Discard, r.Body, n)
				http.Error(w, "disk full", http.StatusInternalServerError)
			}
		}
	}

	tests := []struct {
		name    string
		handler handler
		extra   []string
		wantOK  bool
		// chunked: the PUT streams with chunked encoding instead of
		// sending the spooled archive's Content-Length.
		chunked bool
	}{
		{name: "200 stores the archive", handler: store(http.StatusOK), wantOK: true},
		{name: "chunked on request", handler: store(http.StatusOK), extra: []string{"--http-chunked"}, wantOK: true, chunked: true},
		{name: "chunked, dropped midway", handler: dropAfter(256 << 10), extra: []string{"--http-chunked"}},
		{name: "no spool directory", handler: store(http.StatusOK), extra: []string{"--spool-dir", "/nonexistent/spool"}},
		{name: "201 with encryption", handler: store(http.StatusCreated), extra: []string{"--age-recipient", id.Recipient().String()}, wantOK: true},
		{name: "204", handler: store(http.StatusNoContent), wantOK: true},
		{name: "connection dropped midway", handler: dropAfter(256 << 10)},
		{name: "500 midway", handler: failAfter(256 << 10)},
		{name: "403 after the whole body", handler: store(http.StatusForbidden)},
		{name: "302 is not stored", handler: store(http.StatusFound)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &putServer{}
			srv := httptest.NewUnstartedServer(tt.handler(p))
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv.Listener = l
			srv.Start()
			defer srv.Close()

			url := srv.URL + "/bucket/pk/acme.tar.gz?X-Amz-Signature=secret&X-Amz-Expires=3600"
			result := filepath.Join(out, strings.ReplaceAll(tt.name, " ", "-")+".json")
			args := append([]string{"--source", src, "--destination", url, "--result-file", result, "--header", "X-Tenant: acme",
				"--egress-allow-cidrs=127.0.0.1/32", "--egress-allow-http"}, tt.extra...)
			stderr, err := run(t, nil, args...)
			if strings.Contains(stderr, "secret") {
				t.Errorf("the pre-signed signature leaked into the output: %s", stderr)
			}
			if !tt.wantOK {
				if err == nil {
					t.Fatalf("exporter succeeded; want a failure\n%s", stderr)
				}
				assertNoResult(t, result)
				t.Logf("failed as expected: %s", stderr)
				return
			}
			if err != nil {
				t.Fatalf("exporter failed: %v\n%s", err, stderr)
			}
			res := readResult(t, result)
			sum := sha256.Sum256(p.got)
			if res.SHA256 != hex.EncodeToString(sum[:]) || res.Bytes != int64(len(p.got)) {
				t.Fatalf("result %+v; the server stored %d bytes sha256 %x", res, len(p.got), sum)
			}
			if want := srv.URL + "/bucket/pk/acme.tar.gz"; res.Location != want {
				t.Fatalf("location = %q, want %q (no query)", res.Location, want)
			}
			if p.chunked != tt.chunked || p.header.Get("X-Tenant") != "acme" || !strings.Contains(p.query, "X-Amz-Signature=secret") {
				t.Fatalf("request: chunked %v, header %v, query %q", p.chunked, p.header, p.query)
			}
			if !tt.chunked && p.length != int64(len(p.got)) {
				t.Fatalf("the PUT's Content-Length is %d; it carried %d bytes", p.length, len(p.got))
			}
		})
	}
}

// TestAnInternalDestinationIsRefused has the exporter PUT to a listener
// on loopback, standing in for the cluster's own services and the cloud
// metadata address, and checks nothing reaches it unless allowed.
func TestAnInternalDestinationIsRefused(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	smallTree(t, src, 1024)
	var reached atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	port := l.Addr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		name, url, want string
		extra           []string
	}{
		{name: "loopback", url: fmt.Sprintf("https://127.0.0.1:%d/x", port), want: "loopback"},
		{name: "by name", url: fmt.Sprintf("https://localhost:%d/x", port), want: "loopback"},
		{name: "plain http", url: srv.URL + "/x", extra: []string{"--egress-allow-cidrs=127.0.0.1/32"}, want: "not https"},
	} {
		result := filepath.Join(out, strings.ReplaceAll(tc.name, " ", "-")+".json")
		stderr, err := run(t, nil, append([]string{"--source", src, "--destination", tc.url, "--result-file", result}, tc.extra...)...)
		if err == nil || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: err %v, stderr %q; want a refusal that says %q", tc.name, err, stderr, tc.want)
		}
		assertNoResult(t, result)
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the internal listener was reached %d times", n)
	}
}

// TestUnreadableFile checks that a file the exporter cannot read fails the
// export with the file's name, leaves nothing at the destination and
// writes no result. As root the exporter runs as nobody, since root reads
// every file.
func TestUnreadableFile(t *testing.T) {
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
	}
	src, out := sharedDir(t), sharedDir(t)
	if err := os.Chmod(out, 0o777); err != nil {
		t.Fatal(err)
	}
	smallTree(t, src, 1024)
	secret := filepath.Join(src, "data", "secret.db")
	writeFile(t, secret, []byte("unreadable"), 0o000)

	dest, result := filepath.Join(out, "export.tar.gz"), filepath.Join(out, "result.json")
	stderr, err := run(t, cred, "--source", src, "--destination", dest, "--result-file", result)
	if err == nil {
		t.Fatalf("exporter succeeded with an unreadable file\n%s", stderr)
	}
	if !strings.Contains(stderr, secret) || !strings.Contains(stderr, "permission denied") {
		t.Fatalf("the error does not name the file: %s", stderr)
	}
	assertNoResult(t, result)
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if e.Name() != "exporter" {
			t.Fatalf("the failed export left %s in the destination directory", e.Name())
		}
	}
}

func TestUsageErrors(t *testing.T) {
	src := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no source", args: []string{"--destination", "/tmp/x"}, want: "--source and --destination are required"},
		{name: "source is a file", args: []string{"--source", "/etc/hostname", "--destination", "/tmp/x"}, want: "is not a directory"},
		{name: "bad age key", args: []string{"--source", src, "--destination", "/tmp/x", "--age-recipient", "age1nope"}, want: "--age-recipient"},
		{name: "unsupported scheme", args: []string{"--source", src, "--destination", "gs://bucket/key"}, want: "only file paths, s3:// locations and http(s) URLs"},
		{name: "bad header", args: []string{"--source", src, "--destination", "https://store.example.com/x", "--header", "novalue"}, want: `"Name: value"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stderr, err := run(t, nil, append(tt.args, "--result-file", filepath.Join(t.TempDir(), "r"))...)
			if err == nil || !strings.Contains(stderr, tt.want) {
				t.Fatalf("err = %v, stderr = %q; want a failure mentioning %q", err, stderr, tt.want)
			}
		})
	}
}
