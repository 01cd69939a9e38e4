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

// Package testenv starts a real kube-apiserver and etcd (envtest) with the
// project's CRDs installed, using the binaries hack/tools.sh builds into bin/.
package testenv

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/mod/modfile"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	kruntime "k8s.io/apimachinery/pkg/runtime"

	withdrawalv1alpha1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
)

// RepoRoot is the root of the repository: the nearest directory at or above
// the working directory whose go.mod is this module's. (Not this file's
// location: make test builds with -trimpath, which leaves no directory in
// it.) A test runs in its package's directory and a hack/ program in the
// repository's, so the walk ends within a few steps.
func RepoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		panic(fmt.Sprintf("testenv: no working directory: %v", err))
	}
	for {
		if mod, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && modfile.ModulePath(mod) == modulePath {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			panic("testenv: no directory above the working directory holds the go.mod of " + modulePath)
		}
		dir = parent
	}
}

const modulePath = "github.com/ops-dev/region-withdrawal-operator"

// Scheme returns the operator's scheme.
func Scheme() *kruntime.Scheme { return scheme.New() }

// Env is a running API server with the CRDs installed.
type Env struct {
	Environment *envtest.Environment
	Config      *rest.Config
	Client      client.Client
}

// Start starts etcd and kube-apiserver from KUBEBUILDER_ASSETS, or from bin/
// when that is unset, and installs config/crd/bases plus any extra CRD paths.
// The caller must call Stop.
func Start(extraCRDPaths ...string) (*Env, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(RepoRoot(), "bin")
	}
	for _, b := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			return nil, fmt.Errorf("envtest needs %s in %s: run hack/tools.sh (make tools): %w", b, assets, err)
		}
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     append([]string{filepath.Join(RepoRoot(), "config", "crd", "bases")}, extraCRDPaths...),
		ErrorIfCRDPathMissing: true,
		Scheme:                Scheme(),
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("building client: %w", err)
	}
	return &Env{Environment: env, Config: cfg, Client: c}, nil
}

// Stop stops the API server and etcd.
func (e *Env) Stop() error {
	if e == nil || e.Environment == nil {
		return nil
	}
	return e.Environment.Stop()
}

// GVK is the RegionWithdrawal kind, for tests that build unstructured objects.
var GVK = schema.GroupVersionKind{Group: withdrawalv1alpha1.GroupVersion.Group, Version: withdrawalv1alpha1.GroupVersion.Version, Kind: "RegionWithdrawal"}

// fuzzing reports a test binary run with -test.fuzz (the coordinator or a
// worker), which runs fuzz targets only.
func fuzzing() bool {
	if !flag.Parsed() {
		flag.Parse()
	}
	f := flag.Lookup("test.fuzz")
	return f != nil && f.Value.String() != ""
}

// Run starts the API server, runs a package's tests and stops it again,
// whatever they do; it is the whole of a TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Run(m, &env)) }
func Run(m *testing.M, env **Env, extraCRDPaths ...string) int {
	if fuzzing() {
		// A fuzz target runs in many worker processes and needs no API
		// server; starting one per worker would only slow them down.
		return m.Run()
	}
	e, err := Start(extraCRDPaths...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*env = e
	defer func() {
		if err := e.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()
	return m.Run()
}
