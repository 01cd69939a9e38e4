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

// Command report runs every benchmark under hack/bench one after another
// with `go run`, each with its own arguments, captures what each prints,
// checks the figures against their goals and writes docs/benchmarks.md:
// the machine, a table of figures and goals, and each program's raw output.
// Run it with `make bench-report` (about an hour on 2 cores), which
// builds the tools first and puts bin/ on PATH, or
//
//	go run ./hack/bench/report [-cronjob-args "-n 20"] [-out docs/benchmarks.md]
//
// Every -NAME-args flag replaces that benchmark's arguments; smaller sizes
// are for trying the report out, and the file then says it was a reduced run.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ops-dev/region-withdrawal-operator/hack/bench/internal/machine"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

// benchmark is one program and what its run produced.
type benchmark struct {
	name        string
	defaultArgs string
	about       string
	args        string

	stdout  bytes.Buffer
	stderr  tail
	err     error
	took    time.Duration
	skipped bool
}

func (b *benchmark) pkg() string { return "./hack/bench/" + b.name }

func (b *benchmark) command() string {
	return strings.TrimSpace("go run " + b.pkg() + " " + b.args)
}

func main() {
	benchmarks := []*benchmark{
		{name: "reconcile", about: "the controller in-process on envtest: idle reconciles per minute, lateness of withdrawals due in the same second"},
		// A million customers in every phase, against the bare sender in
		// the same run: about 25 of the report's minutes.
		{name: "notify", defaultArgs: "-recipients 1000000", about: "the notify executor on envtest: a million customers by webhook to a loopback HTTPS receiver and by email to an SMTP server, against bare senders; the evidence ledger in ConfigMaps and in an object store; a paged HTTP source; a SIGKILL half way"},
		// Its full 2 GiB input takes about three minutes on 2 cores (the
		// baseline and four exporter runs each read all of it), so the
		// report keeps it.
		{name: "exporter", about: "the reference exporter: throughput to a file and an HTTP PUT receiver, with and without age, against tar | gzip"},
		{name: "drain", about: "the drain and routing executors in-process on kwok: time to drain, routes switched after the cutoff"},
		{name: "cronjob", defaultArgs: "-curve 1,10,100,200,500", about: "the operator binary on kwok: the CronJob controller and the operator due in the same minute, the limit a bare client meets, the fair baseline, the scaling curve; the operator process idle and draining"},
		{name: "fleet", about: "one withdrawal across 3 and 10 clusters (envtest, an operator per cluster): the spread of the cut times at the cutoff, and fleet status's time"},
		{name: "verify", about: "an auditor's `kubectl withdrawal evidence verify` on a bundle of a million signed deliveries, streamed, against the first format read whole; `fleet evidence verify` of the same deliveries in a fleet bundle of three clusters; `evidence export` of a million from envtest"},
		{name: "cutoff451", about: "the operator image on the real node, Helm-installed: cutoff until a client gets 451 through Traefik (needs root)"},
	}
	for _, b := range benchmarks {
		flag.StringVar(&b.args, b.name+"-args", b.defaultArgs, "arguments for hack/bench/"+b.name)
	}
	out := flag.String("out", filepath.Join(testenv.RepoRoot(), "docs", "benchmarks.md"), "the Markdown file to write")
	only := flag.String("only", "", "comma-separated benchmarks to run (default all); the others are listed as not run")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	info := machine.Read(testenv.RepoRoot())
	began := time.Now().UTC()
	loadBefore := machine.LoadAverage()
	for _, b := range benchmarks {
		if *only != "" && !contains(strings.Split(*only, ","), b.name) {
			b.skipped = true
			continue
		}
		if ctx.Err() != nil {
			b.err = ctx.Err()
			continue
		}
		run(ctx, b)
	}
	r := report{
		when: began, took: time.Since(began), info: info, loadBefore: loadBefore, loadAfter: machine.LoadAverage(),
		benchmarks: benchmarks,
	}
	if err := os.WriteFile(*out, []byte(r.markdown()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "\nwrote %s (%s)\n", *out, r.took.Round(time.Second))
	for _, b := range benchmarks {
		if b.err != nil {
			fmt.Fprintf(os.Stderr, "%s failed: %v\n", b.name, b.err)
		}
	}
}

// run runs one benchmark, echoing its output as it goes.
func run(ctx context.Context, b *benchmark) {
	fmt.Fprintf(os.Stderr, "\n=== %s: %s\n", b.name, b.command())
	cmd := exec.CommandContext(ctx, "go", append([]string{"run", b.pkg()}, strings.Fields(b.args)...)...)
	cmd.Dir = testenv.RepoRoot()
	cmd.Env = env()
	cmd.Stdout = io.MultiWriter(&b.stdout, os.Stdout)
	cmd.Stderr = io.MultiWriter(&b.stderr, os.Stderr)
	// On Ctrl-C the benchmark gets the signal from the terminal too and
	// stops its clusters; give it the time to.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 2 * time.Minute
	start := time.Now()
	b.err = cmd.Run()
	b.took = time.Since(start)
}

// env is this process's environment with bin/ first on PATH and
// KUBEBUILDER_ASSETS set, as `make test` sets them.
func env() []string {
	bin := filepath.Join(testenv.RepoRoot(), "bin")
	out := []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		out = append(out, "KUBEBUILDER_ASSETS="+bin)
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") {
			out = append(out, kv)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}

// tail keeps the last 64 KiB written to it: a failed benchmark's stderr.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if n := len(t.b) - 64<<10; n > 0 {
		t.b = t.b[n:]
	}
	return len(p), nil
}

// lastLines returns the last n lines written.
func (t *tail) lastLines(n int) string {
	lines := strings.Split(strings.TrimRight(string(t.b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
