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
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/witness"
	"github.com/ops-dev/region-withdrawal-operator/internal/keysecret"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
)

// TestEvidenceExportAndVerify exports a ledger the operator wrote, verifies
// it offline, answers an auditor's question both ways, and refuses a bundle
// whose statement was changed or whose key is not the pinned one.
func TestEvidenceExportAndVerify(t *testing.T) {
	ctx := context.Background()
	setup(t, "evidence")
	operatorNS := "evidence-operator"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNS}}); err != nil {
		t.Fatal(err)
	}
	key, err := keysecret.Ensure(ctx, env.Client, operatorNS, "region-withdrawal-operator-evidence-key", "evidence")
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.New(ledger.Options{Client: env.Client, Reader: env.Client, Namespace: operatorNS, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	rw := get(t, "evidence")
	salt := l.Salt(rw.IdentityKey())
	told := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	if err := l.Append(ctx, rw,
		&evidence.SpecRecorded{Header: evidence.Header{At: told.Add(-time.Hour)}, Generation: 1, SpecSHA256: strings.Repeat("0", 64)},
		&evidence.NoticeDelivered{Header: evidence.Header{At: told}, Notice: "announcement", Recipient: evidence.RecipientHash(salt, "c1"),
			Channel: "email", IdempotencyKey: strings.Repeat("1", 64), Email: &evidence.EmailReceipt{Code: 250, Text: "2.0.0 Ok: queued as 4BZ7Q2", QueueID: "4BZ7Q2"}},
	); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "germany.evidence.json")
	out, err := run(t, "evidence", "evidence", "export", "germany", "--operator-namespace", operatorNS, "--with-salt", "-f", file)
	if err != nil || !strings.Contains(out, "2 statements") {
		t.Fatalf("export: %v\n%s", err, out)
	}
	if out, err := run(t, "evidence", "evidence", "verify", file, "--allow-open"); err == nil || !strings.Contains(err.Error(), "key is required") {
		t.Errorf("verify without the key: %v, want it refused\n%s", err, out)
	}
	pin, open := "--key="+l.VerifierKey(), "--allow-open"
	out, err = run(t, "evidence", "evidence", "verify", file, pin, open, "--recipient", "c1", "--before", "2026-03-01T10:00:00Z")
	if err != nil || !strings.Contains(out, "c1 was told before 2026-03-01T10:00:00Z") {
		t.Fatalf("verify, c1 told before 10:00: %v\n%s", err, out)
	}
	t.Logf("kubectl withdrawal evidence verify:\n%s", out)
	out, err = run(t, "evidence", "evidence", "verify", file, pin, open, "--recipient", "c1", "--before", "2026-03-01T08:00:00Z")
	if !errors.Is(err, errNotTold) {
		t.Fatalf("verify, c1 told before 08:00: %v, want %v\n%s", err, errNotTold, out)
	}
	out, err = run(t, "evidence", "evidence", "verify", file, pin, open, "--recipient", "c2", "--before", "2026-03-01T10:00:00Z")
	if !errors.Is(err, errNotTold) {
		t.Fatalf("verify, c2 never told: %v, want %v\n%s", err, errNotTold, out)
	}

	// Another key pinned: refused.
	other, err := evidence.NewSigner(ledger.KeyName, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "evidence", "evidence", "verify", file, open, "--key="+other.VerifierKey()); !errors.Is(err, evidence.ErrKeyMismatch) {
		t.Errorf("verify with another key pinned: %v, want %v\n%s", err, evidence.ErrKeyMismatch, out)
	}
	// The queue id changed in the bundle: refused.
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := evidence.ReadBundle(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	bundle.Statements[1] = bytes.Replace(bundle.Statements[1], []byte(`"payload":"`), []byte(`"payload":"A`), 1)
	var tampered bytes.Buffer
	if err := evidence.WriteBundle(&tampered, bundle); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, tampered.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "evidence", "evidence", "verify", file, pin, open); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("verify of a tampered bundle: %v, want it refused\n%s", err, out)
	}
}

// TestEvidenceVerifyPinsTheSealedLedger: the withdrawal ends, its ledger
// is sealed and its status records the head; the auditor saves the key
// and checkpoint from the cluster, and verify then refuses the bundle cut
// short, cut behind the checkpoint, or pinned to another withdrawal.
func TestEvidenceVerifyPinsTheSealedLedger(t *testing.T) {
	ctx := context.Background()
	setup(t, "sealed")
	operatorNS := "sealed-operator"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNS}}); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.New(ledger.Options{Client: env.Client, Reader: env.Client, Namespace: operatorNS, Key: bytes.Repeat([]byte{3}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	rw := get(t, "sealed")
	at := time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC)
	if err := l.Append(ctx, rw, &evidence.SpecRecorded{Header: evidence.Header{At: at.Add(-time.Hour)}, Generation: 1, SpecSHA256: strings.Repeat("0", 64)}); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ctx, rw, &evidence.RoutingSwitched{Header: evidence.Header{At: at}, Mode: "Block451", Cutoff: at},
		&evidence.LedgerSealed{Header: evidence.Header{At: at}, Reason: evidence.SealCompleted}); err != nil {
		t.Fatal(err)
	}
	head, _ := l.Head(rw.UID)
	rw.Status.Evidence = &head
	if err := env.Client.Status().Update(ctx, rw); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	cp, file := filepath.Join(dir, "sealed.checkpoint"), filepath.Join(dir, "sealed.evidence.json")
	out, err := run(t, "sealed", "evidence", "key", "germany", "--checkpoint-file", cp)
	if err != nil || !strings.Contains(out, "fingerprint "+head.Fingerprint) || !strings.Contains(out, "ledger sealed at 3 statements") {
		t.Fatalf("evidence key: %v\n%s", err, out)
	}
	if out, err := run(t, "sealed", "evidence", "export", "germany", "--operator-namespace", operatorNS, "-f", file); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	pin := []string{"evidence", "verify", file, "--key=" + l.VerifierKey(), "--uid=" + string(rw.UID), "--checkpoint=" + cp}
	out, err = run(t, "sealed", pin...)
	if err != nil || !strings.Contains(out, "sealed (completed)") || !strings.Contains(out, "extends the pinned checkpoint at size 3") {
		t.Fatalf("verify: %v\n%s", err, out)
	}

	// Cut short: the last statement and checkpoint dropped.
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := evidence.ReadBundle(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	n := len(bundle.Checkpoints)
	short, err := evidence.NewBundle(bundle.Origin, bundle.Key, nil, bundle.Statements[:1], [][]byte{[]byte(bundle.Checkpoints[0])})
	if err != nil || n < 2 {
		t.Fatalf("%d checkpoints: %v", n, err)
	}
	var buf bytes.Buffer
	if err := evidence.WriteBundle(&buf, short); err != nil {
		t.Fatal(err)
	}
	shortFile := filepath.Join(dir, "short.evidence.json")
	if err := os.WriteFile(shortFile, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want error
	}{
		{name: "cut short of its seal", args: []string{"evidence", "verify", shortFile, "--key=" + l.VerifierKey()}, want: evidence.ErrNotSealed},
		{name: "cut behind the saved checkpoint, open allowed", args: []string{"evidence", "verify", shortFile, "--key=" + l.VerifierKey(), "--allow-open", "--checkpoint=" + cp}, want: evidence.ErrPinned},
		{name: "pinned to another withdrawal", args: []string{"evidence", "verify", file, "--key=" + l.VerifierKey(), "--uid=another-uid"}, want: evidence.ErrWrongLedger},
	} {
		if out, err := run(t, "sealed", tc.args...); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v\n%s", tc.name, err, tc.want, out)
		}
	}

	// A witness on loopback, the operator's binary's own, cosigns the
	// ledger's latest checkpoint; verify then takes the cosigned
	// checkpoint with the witness's key, and refuses the operator's own
	// checkpoint as witnessed.
	skey, vkey, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{5}, 64)), "witness.example.com")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		t.Fatal(err)
	}
	logKey, err := note.NewVerifier(l.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	ws := httptest.NewServer(&witness.Witness{Signer: signer, Logs: note.VerifierList(logKey), Store: &witness.FileStore{Path: filepath.Join(dir, "witness.json")}})
	defer ws.Close()
	witnessKey, err := fnote.VKeyToCosignatureV1(vkey)
	if err != nil {
		t.Fatal(err)
	}
	witnessed := filepath.Join(dir, "sealed.witnessed")
	if out, err := run(t, "sealed", "evidence", "witness", "germany", "--operator-namespace", operatorNS, "--witness-url", ws.URL, "--checkpoint-file", witnessed); err != nil {
		t.Fatalf("evidence witness: %v\n%s", err, out)
	}
	out, err = run(t, "sealed", "evidence", "verify", file, "--key="+l.VerifierKey(), "--checkpoint="+witnessed, "--witness-key="+witnessKey)
	if err != nil || !strings.Contains(out, "witness witness.example.com cosigned the ledger at size 3") {
		t.Fatalf("verify with the witness: %v\n%s", err, out)
	}
	if out, err := run(t, "sealed", "evidence", "verify", file, "--key="+l.VerifierKey(), "--checkpoint="+cp, "--witness-key="+witnessKey); !errors.Is(err, evidence.ErrWitness) {
		t.Errorf("the operator's own checkpoint passed as witnessed: %v\n%s", err, out)
	}
}

// TestEvidenceExportRefusesALedgerCutShortBehindStatus: someone who may
// only list and delete ConfigMaps in the operator's namespace (a cluster
// without the chart's admission policy) deletes a ledger's last shard.
// What is left checks out by itself, but export refuses to hand it out:
// status.evidence, which only the operator writes, recorded a checkpoint
// beyond it.
func TestEvidenceExportRefusesALedgerCutShortBehindStatus(t *testing.T) {
	ctx := context.Background()
	setup(t, "cut")
	operatorNS := "cut-operator"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNS}}); err != nil {
		t.Fatal(err)
	}
	// Small shards: each append starts one.
	l, err := ledger.New(ledger.Options{Client: env.Client, Reader: env.Client, Namespace: operatorNS, Key: bytes.Repeat([]byte{4}, 32), ShardBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	rw := get(t, "cut")
	at := time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC)
	for g := int64(1); g <= 3; g++ {
		if err := l.Append(ctx, rw, &evidence.SpecRecorded{Header: evidence.Header{At: at}, Generation: g, SpecSHA256: strings.Repeat("0", 64)}); err != nil {
			t.Fatal(err)
		}
	}
	head, _ := l.Head(rw.UID)
	rw.Status.Evidence = &head
	if err := env.Client.Status().Update(ctx, rw); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "cut.evidence.jsonl.gz")
	if out, err := run(t, "cut", "evidence", "export", "germany", "--operator-namespace", operatorNS, "-f", file); err != nil || !strings.Contains(out, "3 statements") {
		t.Fatalf("export of the whole ledger: %v\n%s", err, out)
	}

	mallory := rest.CopyConfig(env.Config)
	mallory.Impersonate = rest.ImpersonationConfig{UserName: "mallory"}
	if err := env.Client.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "configmaps", Namespace: operatorNS},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "delete"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "mallory", Namespace: operatorNS},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "configmaps"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "mallory"}}}); err != nil {
		t.Fatal(err)
	}
	mc, err := client.New(mallory, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: ledger.ShardName(rw.UID, 2)}}); err != nil {
		t.Fatalf("mallory deleting the last shard: %v", err)
	}
	out, err := run(t, "cut", "evidence", "export", "germany", "--operator-namespace", operatorNS, "-f", file)
	if !errors.Is(err, evidence.ErrPinned) || !strings.Contains(err.Error(), "does not match status.evidence") {
		t.Fatalf("export of a ledger cut short: %v, want it refused as not matching status\n%s", err, out)
	}
}
