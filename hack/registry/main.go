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

// Command registry is the local cluster's OCI registry: go-containerregistry's
// pkg/registry, which implements the OCI distribution API (pushes, pulls,
// tags, the referrers API), with blobs kept on disk under -dir. Manifests
// and tags are kept in memory, so they last as long as the process: the
// local cluster pushes a release to it each time it starts.
//
//	go run ./hack/registry -address 10.244.0.1:5000 -dir /var/lib/rwo-registry
//
// It serves plain HTTP: it listens on the real node's bridge, which only the
// node and its pods reach (hack/real-node.sh), and containerd is told so by
// its hosts.toml.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	address := flag.String("address", "127.0.0.1:5000", "address to listen on")
	dir := flag.String("dir", "", "directory blobs are stored in (required)")
	quiet := flag.Bool("quiet", false, "do not log each request")
	flag.Parse()
	if err := run(*address, *dir, *quiet); err != nil {
		fmt.Fprintln(os.Stderr, "registry:", err)
		os.Exit(1)
	}
}

func run(address, dir string, quiet bool) error {
	if dir == "" {
		return errors.New("-dir is required")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	logger := log.New(os.Stderr, "", log.LstdFlags)
	if quiet {
		logger = log.New(io.Discard, "", 0)
	}
	ln, err := net.Listen("tcp", address)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: registry.New(
			registry.WithBlobHandler(registry.NewDiskBlobHandler(dir)),
			registry.WithReferrersSupport(true),
			registry.Logger(logger),
		),
		ReadHeaderTimeout: 10 * time.Second,
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		_ = srv.Close()
	}()
	fmt.Fprintf(os.Stderr, "registry: serving on %s, blobs in %s\n", ln.Addr(), dir)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
