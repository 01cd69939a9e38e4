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

// Command exporter measures the reference exporter on a generated 2 GiB
// tree: throughput to a file and to a loopback HTTP PUT receiver, with and
// without age encryption, and the exporter process's peak memory, next to
// `tar -czf - DIR | sha256sum` on the same input in the same run.
//
//	go run ./hack/bench/exporter [-size 2GiB-in-bytes] [-dir /tmp]
//
// Each exporter run is a child process (this program re-executed), so its
// peak resident set (VmHWM, reported by the kernel as rusage maxrss) is
// its own. It prints a Markdown table.
package main

import (
	"bufio"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"

	"github.com/ops-dev/region-withdrawal-operator/internal/export/exporter"
	"github.com/ops-dev/region-withdrawal-operator/internal/export/result"
)

const childEnv = "EXPORTER_BENCH_CHILD"

func main() {
	if os.Getenv(childEnv) == "1" {
		if err := exporter.Main(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		return
	}
	size := flag.Int64("size", 2<<30, "bytes of input to generate")
	dir := flag.String("dir", os.TempDir(), "where to generate the input and write the archives")
	flag.Parse()
	if err := run(*size, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

type row struct {
	name    string
	secs    float64
	outMiB  float64
	peakMiB float64
}

func run(size int64, base string) error {
	work, err := os.MkdirTemp(base, "exporter-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	src := filepath.Join(work, "src")
	fmt.Fprintf(os.Stderr, "generating %d MiB under %s\n", size>>20, src)
	if err := generate(src, size); err != nil {
		return err
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return err
	}
	recv, url, err := receiver()
	if err != nil {
		return err
	}
	defer recv.Close()

	var rows []row
	// Baseline first and last would be fairer on a shared machine; once is
	// what the figures below are.
	base0 := time.Now()
	cmd := exec.Command("bash", "-c", "set -o pipefail; tar -czf - -C "+src+" . | sha256sum")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	baseline := time.Since(base0).Seconds()
	rows = append(rows, row{name: "`tar -czf - DIR \\| sha256sum`", secs: baseline, peakMiB: maxrssMiB(cmd.ProcessState)})

	runs := []struct {
		name string
		args []string
	}{
		{name: "exporter → file", args: []string{"--destination", filepath.Join(work, "out.tar.gz")}},
		{name: "exporter → file, age", args: []string{"--destination", filepath.Join(work, "out.tar.gz.age"), "--age-recipient", id.Recipient().String()}},
		{name: "exporter → HTTP PUT", args: []string{"--destination", url + "/plain"}},
		{name: "exporter → HTTP PUT, age", args: []string{"--destination", url + "/age", "--age-recipient", id.Recipient().String()}},
	}
	// The receiver is plain HTTP on loopback, which the exporter's egress
	// guard refuses unless told.
	loopbackHTTP := []string{"--egress-allow-cidrs=127.0.0.1/32", "--egress-allow-http"}
	for i := range runs {
		if strings.HasPrefix(runs[i].name, "exporter → HTTP") {
			runs[i].args = append(runs[i].args, loopbackHTTP...)
		}
	}
	for _, r := range runs {
		fmt.Fprintf(os.Stderr, "running %s\n", r.name)
		result := filepath.Join(work, "result.json")
		self, err := os.Executable()
		if err != nil {
			return err
		}
		cmd := exec.Command(self, append([]string{"--source", src, "--result-file", result}, r.args...)...)
		cmd.Env = append(os.Environ(), childEnv+"=1")
		cmd.Stderr = os.Stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		secs := time.Since(start).Seconds()
		out := outputBytes(result)
		rows = append(rows, row{name: r.name, secs: secs, outMiB: float64(out) / (1 << 20), peakMiB: maxrssMiB(cmd.ProcessState)})
		for _, f := range []string{filepath.Join(work, "out.tar.gz"), filepath.Join(work, "out.tar.gz.age")} {
			os.Remove(f)
		}
	}

	inMiB := float64(size) / (1 << 20)
	fmt.Printf("Input: %.0f MiB in %d files (pseudo-random and compressible 1 MiB blocks, alternating), gzip level 6 everywhere.\n\n", inMiB, numFiles)
	fmt.Println("| run | seconds | input MiB/s | stored MiB | peak RSS MiB | throughput vs baseline |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		stored := "-"
		if r.outMiB > 0 {
			stored = fmt.Sprintf("%.0f", r.outMiB)
		}
		fmt.Printf("| %s | %.1f | %.1f | %s | %.1f | %.2f× |\n", r.name, r.secs, inMiB/r.secs, stored, r.peakMiB, baseline/r.secs)
	}
	fmt.Println("\nPeak RSS of the baseline is that of bash's largest child (rusage maxrss of waited-for children).")
	return nil
}

const numFiles = 4

// generate writes numFiles files totalling size bytes, alternating 1 MiB of
// pseudo-random bytes (incompressible) with 1 MiB of repetitive text.
func generate(dir string, size int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rng := rand.NewChaCha8([32]byte{1})
	line := "customer 0042 message archive: hello from the region, nothing to see here\n"
	text := []byte(strings.Repeat(line, 1<<20/len(line)+1))[:1<<20]
	block := make([]byte, 1<<20)
	per := size / numFiles
	for i := range numFiles {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("volume-%d.bin", i)))
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		for written, j := int64(0), 0; written < per; j++ {
			b := text
			if j%2 == 0 {
				_, _ = rng.Read(block)
				b = block
			}
			n := min(int64(len(b)), per-written)
			if _, err := w.Write(b[:n]); err != nil {
				f.Close()
				return err
			}
			written += n
		}
		if err := w.Flush(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// receiver is a loopback HTTP server that accepts PUTs, hashing the body
// as an object store would checksum it, and stores nothing.
func receiver() (*http.Server, string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		if _, err := io.Copy(h, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return srv, "http://" + l.Addr().String(), nil
}

func maxrssMiB(ps *os.ProcessState) float64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	return 0
}

func outputBytes(resultFile string) int64 {
	b, err := os.ReadFile(resultFile)
	if err != nil {
		return 0
	}
	r, err := result.Parse(b)
	if err != nil {
		return 0
	}
	return r.Bytes
}
