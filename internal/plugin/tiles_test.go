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

package plugin

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/tiles"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv/s3srv"
)

// TestEvidenceExportOfALedgerKeptAsTiles: the operator keeps a ledger in a
// real S3-compatible store (SeaweedFS, on loopback); an auditor whose
// store credentials may only read exports it with the plugin (--s3-*
// flags, credentials from the environment, the location from the
// ledger's ConfigMap) and verifies it. Once an intruder with write access
// to the bucket changes a statement, the export is refused.
func TestEvidenceExportOfALedgerKeptAsTiles(t *testing.T) {
	ctx := context.Background()
	store, err := s3srv.StartEvidenceStore(ctx, filepath.Join(testenv.RepoRoot(), "bin", "weed"), "127.0.0.1", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	ledgersAs := func(identity string) *ledger.TileStore {
		ts, err := store.Ledgers(identity)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}

	setup(t, "tiles")
	operatorNS := "tiles-operator"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNS}}); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.New(ledger.Options{Client: env.Client, Reader: env.Client, Namespace: operatorNS, Key: bytes.Repeat([]byte{5}, 32),
		Tiles: ledgersAs("operator")})
	if err != nil {
		t.Fatal(err)
	}
	rw := get(t, "tiles")
	told := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for first := 0; first < 600; first += 200 {
		var events []evidence.Event
		for i := first; i < first+200; i++ {
			events = append(events, &evidence.NoticeDelivered{Header: evidence.Header{At: told}, Notice: "announcement",
				Recipient: evidence.RecipientHash(l.Salt(rw.IdentityKey()), fmt.Sprintf("c%d", i)), Channel: "webhook",
				IdempotencyKey: fmt.Sprintf("%064x", i), Webhook: &evidence.WebhookReceipt{Status: 204, BodySHA256: strings.Repeat("0", 64)}})
		}
		if err := l.Append(ctx, rw, events...); err != nil {
			t.Fatal(err)
		}
	}
	head, _ := l.Head(rw.UID)
	rw.Status.Evidence = &head
	if err := env.Client.Status().Update(ctx, rw); err != nil {
		t.Fatal(err)
	}

	auditor := s3srv.EvidenceIdentities["auditor"]
	t.Setenv("AWS_ACCESS_KEY_ID", auditor.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", auditor.SecretKey)
	file := filepath.Join(t.TempDir(), "tiles.evidence.jsonl.gz")
	s3 := []string{"--s3-endpoint", store.URL, "--s3-path-style"}
	out, err := run(t, "tiles", append([]string{"evidence", "export", "germany", "--operator-namespace", operatorNS, "-f", file}, s3...)...)
	if err != nil || !strings.Contains(out, "600 statements") {
		t.Fatalf("export of a tiled ledger: %v\n%s", err, out)
	}
	if out, err := run(t, "tiles", "evidence", "verify", file, "--key="+l.VerifierKey(), "--allow-open"); err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	// Without the store's address, the plugin says where the tiles are.
	if out, err := run(t, "tiles", "evidence", "export", "germany", "--operator-namespace", operatorNS, "-f", file); err == nil || !strings.Contains(err.Error(), s3srv.EvidenceLocation+"/"+string(rw.UID)) {
		t.Errorf("export without --s3-endpoint: %v, want an error naming the tiles' location\n%s", err, out)
	}

	intruder := tiles.Prefixed(ledgersAs("intruder").Store, string(rw.UID))
	path := tiles.EntriesPath(0, tiles.Width)
	b, err := intruder.Get(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := tiles.SplitBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	var forged []byte
	for i, e := range entries {
		if i == 3 {
			e = bytes.Replace(e, []byte(`"payload":"`), []byte(`"payload":"A`), 1)
		}
		forged, _ = tiles.AppendEntry(forged, e)
	}
	if err := intruder.Put(ctx, path, forged); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "tiles", append([]string{"evidence", "export", "germany", "--operator-namespace", operatorNS, "-f", file}, s3...)...)
	if err == nil || !strings.Contains(err.Error(), "does not check out") {
		t.Fatalf("export of a ledger changed in the store: %v, want it refused\n%s", err, out)
	}
}
