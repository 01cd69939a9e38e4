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

// Package s3srv runs a real S3-compatible server for tests and benchmarks:
// SeaweedFS's S3 gateway, built into bin/ by hack/tools.sh, and on it the
// installation's evidence store. It is a package of its own so that the tests
// that only need the webhook and SMTP receivers of package testsrv do not
// link an S3 client and the ledger.
package s3srv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/ops-dev/region-withdrawal-operator/internal/s3store"
)

// S3Identity is one identity of a SeaweedFS S3 gateway: its keys and what
// it may do (SeaweedFS actions: "Admin", "Read:bucket", "Write:bucket", ...).
type S3Identity struct {
	AccessKey, SecretKey string
	Actions              []string
}

// SeaweedFS is a real S3-compatible store: SeaweedFS's master, volume,
// filer and S3 gateway in one process (bin/weed, built from its pinned
// module by hack/tools.sh), on one address of this machine, its data in a
// directory of its own.
type SeaweedFS struct {
	// URL is the S3 API's: http://host:port.
	URL        string
	identities map[string]S3Identity
	cmd        *exec.Cmd
	log        *os.File
	done       chan error
}

// StartSeaweedFS starts bin (bin/weed) on host with its data and log under
// dir, with the identities given (by name; one must be "admin"), and makes
// the buckets as admin. Close stops it.
func StartSeaweedFS(ctx context.Context, bin, host, dir string, identities map[string]S3Identity, buckets ...string) (*SeaweedFS, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("the S3-compatible store is not built: %w (run hack/tools.sh weed)", err)
	}
	if _, ok := identities["admin"]; !ok {
		return nil, errors.New("no admin identity to make the buckets with")
	}
	type creds struct {
		AccessKey string `json:"accessKey"`
		SecretKey string `json:"secretKey"`
	}
	type identity struct {
		Name        string   `json:"name"`
		Credentials []creds  `json:"credentials"`
		Actions     []string `json:"actions"`
	}
	var config struct {
		Identities []identity `json:"identities"`
	}
	for name, id := range identities {
		config.Identities = append(config.Identities, identity{Name: name, Credentials: []creds{{id.AccessKey, id.SecretKey}}, Actions: id.Actions})
	}
	b, err := json.Marshal(config)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "s3.json"), b, 0o600); err != nil {
		return nil, err
	}
	ports, err := freePorts(host, 8)
	if err != nil {
		return nil, err
	}
	p := func(i int) string { return strconv.Itoa(ports[i]) }
	logFile, err := os.Create(filepath.Join(dir, "weed.log"))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "server", "-dir="+filepath.Join(dir, "data"),
		"-ip="+host, "-ip.bind="+host,
		"-master.port="+p(0), "-master.port.grpc="+p(1), "-volume.port="+p(2), "-volume.port.grpc="+p(3),
		"-filer.port="+p(4), "-filer.port.grpc="+p(5), "-s3", "-s3.port="+p(6), "-s3.port.grpc="+p(7),
		"-s3.config="+filepath.Join(dir, "s3.json"), "-master.volumeSizeLimitMB=256", "-metricsPort=0",
		// As many volumes as the disk holds: a benchmark's ledger of a
		// hundred thousand statements outgrew four of 64 MiB.
		"-volume.max=0",
		// Nothing leaves this machine: no usage report.
		"-master.telemetry=false")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting SeaweedFS: %w", err)
	}
	s := &SeaweedFS{URL: "http://" + net.JoinHostPort(host, p(6)), identities: identities, cmd: cmd, log: logFile, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()

	// Ready when the admin can make the buckets: the gateway answers only
	// once its filer and a volume are up.
	admin, err := s.Client("admin")
	if err != nil {
		s.Close()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for _, bucket := range buckets {
		for {
			err := admin.MakeBucket(ctx, bucket, minio.MakeBucketOptions{})
			r := minio.ToErrorResponse(err)
			if err == nil || r.Code == "BucketAlreadyOwnedByYou" || r.Code == "BucketAlreadyExists" {
				break
			}
			if r.Code == "InvalidBucketName" {
				s.Close()
				return nil, err
			}
			select {
			case err := <-s.done:
				s.done <- err
				s.Close()
				return nil, fmt.Errorf("SeaweedFS exited: %v\n%s", err, s.LogTail(40))
			case <-ctx.Done():
				s.Close()
				return nil, fmt.Errorf("SeaweedFS's S3 gateway at %s never took the bucket %s: %v\n%s", s.URL, bucket, err, s.LogTail(40))
			case <-time.After(300 * time.Millisecond):
			}
		}
	}
	return s, nil
}

// Client is a client of the store as the named identity.
func (s *SeaweedFS) Client(identity string) (*minio.Client, error) {
	id, ok := s.identities[identity]
	if !ok {
		return nil, fmt.Errorf("no identity %q", identity)
	}
	return s3store.Config{Endpoint: s.URL, Region: s3store.DefaultRegion, PathStyle: true}.Client(nil, credentials.NewStaticV4(id.AccessKey, id.SecretKey, ""))
}

// LogTail is the last lines of the store's log.
func (s *SeaweedFS) LogTail(lines int) string {
	out, _ := os.ReadFile(s.log.Name())
	all := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// Close stops the store. It is killed: its data is a test's, and it takes
// a quarter of a minute to stop when asked.
func (s *SeaweedFS) Close() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		err := <-s.done
		s.done <- err
	}
	s.log.Close()
}

// freePorts are n ports free on host.
func freePorts(host string, n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("listening on %s: %w", host, err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
