//go:build e2e

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

// Package e2e drives the drain and routing executors against a
// kwok-simulated cluster, where Deployments get pods that become Ready and
// EndpointSlices fill and empty as in production. Run with `make test-e2e`.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/test/e2e/cluster"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

var kwok *cluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// The tests' own clients log nothing worth reading; without a logger
	// controller-runtime prints a warning with a stack trace instead.
	ctrllog.SetLogger(logr.Discard())
	var err error
	if kwok, err = cluster.Start("rwo-e2e", 2, cluster.WithAudit()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Deferred, so the cluster goes down whether the tests pass, fail or panic.
	defer func() {
		if err := kwok.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the simulated cluster:", err)
		}
		for _, b := range []*goBinary{operatorBuild, pluginBuild} {
			if b.path != "" {
				_ = os.RemoveAll(filepath.Dir(b.path))
			}
		}
	}()
	if err := kwok.InstallCRDs(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// newClient returns a client of its own, with a REST mapper that has not
// yet seen which APIs exist.
func newClient(t *testing.T) client.Client {
	t.Helper()
	c, err := client.New(kwok.Config, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func createNamespace(t *testing.T, c client.Client, name string) {
	t.Helper()
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	})
}

var regionLabels = map[string]string{"bes.example.com/region": "pk"}

// createWithdrawal stores a withdrawal, so that the records its executors
// own have a live owner (the garbage collector deletes orphans), and marks
// step as started at now, as the controller would before calling Execute.
func createWithdrawal(t *testing.T, c client.Client, ns string, spec v1.RegionWithdrawalSpec, step v1.StepName, now time.Time) *v1.RegionWithdrawal {
	t.Helper()
	rw := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: ns}, Spec: spec}
	if err := c.Create(context.Background(), rw); err != nil {
		t.Fatal(err)
	}
	s := planner.StepStatus(&rw.Status, step)
	s.State, s.StartedAt = v1.StepRunning, &metav1.Time{Time: now}
	return rw
}

func baseSpec(cutoff time.Time) v1.RegionWithdrawalSpec {
	return v1.RegionWithdrawalSpec{
		Region: "PK", Cutoff: metav1.Time{Time: cutoff}, TimeZone: "Asia/Karachi",
		Selector: metav1.LabelSelector{MatchLabels: regionLabels},
	}
}

// eventually polls cond until it holds or a minute passes. The simulated
// cluster's controllers act asynchronously; each poll reads their result.
func eventually(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 90*time.Second, true, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func newFakeClock() *clocktesting.FakeClock {
	return clocktesting.NewFakeClock(time.Now().Truncate(time.Second))
}
