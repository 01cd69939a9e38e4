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

package integration

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/tiles"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv/s3srv"
)

// TestTheOperatorKeepsLedgersInAnObjectStore runs the operator binary with
// --evidence-store against a real S3-compatible store (SeaweedFS on
// loopback), with its own credentials from the environment: a withdrawal's
// ledger goes to the bucket as tiles, the cluster keeps one small
// ConfigMap, and status.evidence says so. A store location that is not one
// stops the operator at start with a message naming the flag. Killed and
// started again, the operator appends to the ledger it reads back.
func TestTheOperatorKeepsLedgersInAnObjectStore(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	store, err := s3srv.StartEvidenceStore(ctx, filepath.Join(testenv.RepoRoot(), "bin", "weed"), "127.0.0.1", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)

	out, err := exec.Command(binary, "--kubeconfig", kubeconfig(t), "--namespace=nowhere", "--evidence-store=https://"+s3srv.EvidenceBucket).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--evidence-store") {
		t.Errorf("a location that is not s3://: %v, want the operator to stop naming --evidence-store\n%s", err, out)
	}

	for _, ns := range []string{"store-operator", "store-tenant"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	rw := withdrawal("store-tenant", "pakistan")
	rw.Spec.DryRun = false
	if err := c.Create(ctx, rw); err != nil {
		t.Fatal(err)
	}
	operator := s3srv.EvidenceIdentities["operator"]
	creds := []string{"AWS_ACCESS_KEY_ID=" + operator.AccessKey, "AWS_SECRET_ACCESS_KEY=" + operator.SecretKey}
	op := startWithEnv(t, kubeconfig(t), creds,
		"--metrics-bind-address=0", fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", freePort(t)),
		"--namespace=store-operator", "--watch-namespaces=store-tenant",
		"--evidence-store="+s3srv.EvidenceLocation, "--s3-endpoint="+store.URL, "--s3-path-style")

	var head *v1.EvidenceStatus
	pollWithin(t, time.Minute, "status.evidence", func() error {
		got := &v1.RegionWithdrawal{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(rw), got); err != nil {
			return err
		}
		if head = got.Status.Evidence; head == nil || head.Statements < 1 {
			return errors.New("no statement recorded yet")
		}
		rw = got
		return nil
	})
	if head.StoredBytes <= 0 || head.StoredBytes > 1024 {
		t.Errorf("status.evidence.storedBytes = %d, want the ConfigMap's few hundred bytes", head.StoredBytes)
	}
	var cm corev1.ConfigMap
	if err := c.Get(ctx, client.ObjectKey{Namespace: "store-operator", Name: ledger.ShardName(rw.UID, 0)}, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Data[ledger.KeyCheckpoint] != head.Checkpoint || cm.BinaryData[ledger.KeyLeaves] != nil {
		t.Errorf("the ledger's ConfigMap holds %v, want the checkpoint status names and no statements", cm.Data)
	}
	ledgers, err := store.Ledgers("admin")
	if err != nil {
		t.Fatal(err)
	}
	if key, err := tiles.Prefixed(ledgers.Store, string(rw.UID)).Get(ctx, ledger.KeyObject); err != nil || string(key) != head.Key {
		t.Errorf("the store's key object: %q, %v; want %s", key, err, head.Key)
	}
	contents, err := ledger.Read(ctx, c, "store-operator", rw.UID, ledger.WithTiles(ledgers))
	if err != nil || int64(len(contents.Leaves)) < head.Statements {
		t.Fatalf("the ledger read back from the store: %d statements, %v; want %d", len(contents.Leaves), err, head.Statements)
	}

	// Killed (SIGKILL) and started again, the operator reads the ledger
	// back from the store, checks it, and appends to it: a new generation
	// of the spec is recorded after the first.
	if err := op.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = op.cmd.Wait()
	op = startWithEnv(t, kubeconfig(t), creds,
		"--metrics-bind-address=0", fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", freePort(t)),
		"--namespace=store-operator", "--watch-namespaces=store-tenant",
		"--evidence-store="+s3srv.EvidenceLocation, "--s3-endpoint="+store.URL, "--s3-path-style")
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(rw), rw); err != nil {
			return err
		}
		rw.Spec.CancelReason = "a new generation, to record"
		return c.Update(ctx, rw)
	}); err != nil {
		t.Fatal(err)
	}
	pollWithin(t, time.Minute, "the new generation recorded", func() error {
		got := &v1.RegionWithdrawal{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(rw), got); err != nil {
			return err
		}
		if got.Status.Evidence == nil || got.Status.Evidence.Statements <= head.Statements {
			return fmt.Errorf("status.evidence %+v, want more than %d statements", got.Status.Evidence, head.Statements)
		}
		return nil
	})
	contents, err = ledger.Read(ctx, c, "store-operator", rw.UID, ledger.WithTiles(ledgers))
	if err != nil || int64(len(contents.Leaves)) <= head.Statements {
		t.Fatalf("after the restart: %d statements, %v; want more than %d", len(contents.Leaves), err, head.Statements)
	}
	op.stop(t)
}
