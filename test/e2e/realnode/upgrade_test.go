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

package realnode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/keysecret"
	"github.com/ops-dev/region-withdrawal-operator/test/e2e/cluster"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
)

const (
	// previousCommit is the release users upgrade from: the last commit
	// whose chart shipped the CRD in crds/ (which helm never upgrades),
	// released here as previousVersion. Move it forward with each release.
	previousCommit  = "020a66e95b0c494de1f5d2918e3901102c48c613"
	previousVersion = "v0.1.0"

	upgradeNS       = "rwo-upgrade"
	upgradeTenantNS = "bes-upgrade"
	upgradeRelease  = "upg"
	// upgradeRecipients are notified at upgradeRate a second, so the
	// announcement lasts long enough for an upgrade and a rollback in it.
	upgradeRecipients = 20000
	upgradeRate       = 80
	crdName           = "regionwithdrawals.withdrawal.ops.dev"
)

// TestUpgradeFromThePreviousReleaseMidWithdrawal installs the previous
// release (built from a pinned commit of this repository and pushed to the
// node's registry), starts a withdrawal that announces to 20,000 webhook
// recipients, upgrades to this tree's release with helm upgrade while the
// announcement is under way, and then rolls back with helm rollback while
// it still is. Every recipient is notified, each under one idempotency key
// however often a restart re-sent it; the withdrawal's approval, spec
// digest and the announcement's start stay as they were; the evidence
// ledger, written by three operators in turn, verifies as one, with one
// delivery statement per recipient.
//
// It runs before the suite's own release exists (the CRD must be this
// test's: the previous release installs it from its crds/ folder, and the
// upgrade takes it over), and removes the CRD when done.
func TestUpgradeFromThePreviousReleaseMidWithdrawal(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	if _, err := real.Kubectl("get", "crd", crdName); err == nil {
		t.Fatalf("CRD %s exists already: this test must run before the suite's release installs it", crdName)
	}
	t.Cleanup(func() {
		if out, err := real.Kubectl("delete", "crd", "--ignore-not-found", "--wait=true", "--timeout=2m", crdName); err != nil {
			t.Errorf("deleting the CRD: %v\n%s", err, out)
		}
	})

	// The previous release, from its commit, pushed to the node's registry
	// for this machine's platform.
	root := testenv.RepoRoot()
	tree := filepath.Join(t.TempDir(), "previous")
	if out, err := exec.Command("git", "-C", root, "worktree", "add", "--detach", tree, previousCommit).CombinedOutput(); err != nil {
		t.Fatalf("checking out the previous release's commit %s (a shallow clone lacks it: git fetch --unshallow): %v\n%s", previousCommit, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("git", "-C", root, "worktree", "remove", "--force", tree).CombinedOutput(); err != nil {
			t.Errorf("removing the worktree: %v\n%s", err, out)
		}
	})
	previous, err := cluster.PushRelease(tree, previousVersion, t.TempDir(), "linux/"+runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}

	createNamespace(t, c, upgradeNS, map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"})
	createNamespace(t, c, upgradeTenantNS, nil)
	t.Cleanup(func() {
		for _, ns := range []string{upgradeTenantNS, upgradeNS} {
			_ = c.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		}
		for _, ns := range []string{upgradeTenantNS, upgradeNS} {
			_ = wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
				return apierrors.IsNotFound(c.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{})), nil
			})
		}
	})

	// The customers: one webhook receiver on the node's bridge address.
	key := []byte("upgrade-signing-key")
	hook, err := testsrv.NewWebhookAt(cluster.NodeAddress, key)
	if err != nil {
		t.Fatal(err)
	}
	defer hook.Close()
	var delivered atomic.Int64
	hook.OnDelivery = func(n int) { delivered.Store(int64(n)) }
	var refs []v1.RecipientObjectRef
	const perConfigMap = 5000
	for part := 0; part < upgradeRecipients/perConfigMap; part++ {
		var csv strings.Builder
		csv.WriteString("id,name,email,webhook,locale\n")
		for i := part * perConfigMap; i < (part+1)*perConfigMap; i++ {
			fmt.Fprintf(&csv, "%s,Customer %d,,%s/hook,en\n", recipientID(i), i, hook.Server.URL)
		}
		name := fmt.Sprintf("recipients-%d", part)
		if err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: upgradeTenantNS},
			Data: map[string]string{"list.csv": csv.String()}}); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, v1.RecipientObjectRef{Name: name, Format: v1.RecipientFormatCSV})
	}
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "region-withdrawal-webhook", Namespace: upgradeTenantNS},
		Data: map[string][]byte{"hmac-key": key}}); err != nil {
		t.Fatal(err)
	}

	helm := func(args ...string) string {
		t.Helper()
		return runHelm(t, append(args, "--namespace", upgradeNS)...)
	}
	helm(append([]string{"install", upgradeRelease}, append(previous.ChartArgs(),
		"--set", "watchNamespaces={"+upgradeTenantNS+"}", "--set", "tenancy.namespaces={"+upgradeTenantNS+"}",
		"--set", "egress.allowCIDRs={"+cluster.NodeAddress+"/32}", "--wait", "--timeout", "3m")...)...)
	t.Cleanup(func() {
		// The withdrawal goes first, while an operator can finish it.
		rw := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Name: "upgrade", Namespace: upgradeTenantNS}}
		_ = c.Delete(context.Background(), rw)
		_ = wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			return apierrors.IsNotFound(c.Get(ctx, client.ObjectKeyFromObject(rw), rw)), nil
		})
		cmd := exec.Command(filepath.Join(root, "bin", "helm"), "uninstall", upgradeRelease, "--namespace", upgradeNS, "--wait", "--kubeconfig", real.Kubeconfig)
		home := t.TempDir()
		cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("helm uninstall: %v\n%s", err, out)
		}
	})
	checkOperatorImage(t, c, upgradeNS, previous)

	// The withdrawal: an announcement that waits for its approval.
	now := time.Now().Truncate(time.Second)
	limits := v1.DeliveryLimits{RatePerSecond: upgradeRate, Concurrency: 8, MaxAttempts: 5, Timeout: &metav1.Duration{Duration: 5 * time.Second}}
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "upgrade", Namespace: upgradeTenantNS},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Cutoff: metav1.NewTime(now.Add(time.Hour)), TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "none"}},
			Notify: &v1.NotifyStep{
				Announce:        v1.Moment{At: &metav1.Time{Time: now.Add(10 * time.Second)}},
				Final:           v1.Moment{Offset: &metav1.Duration{Duration: -10 * time.Minute}},
				RequireApproval: true,
				Recipients:      v1.RecipientSources{ConfigMaps: refs},
				Webhook:         &v1.WebhookChannel{SigningSecretRef: v1.SecretKeyReference{Name: "region-withdrawal-webhook", Key: "hmac-key"}, CABundle: hook.CAPEM(), Limits: limits},
			},
		},
	}
	if err := c.Create(ctx, rw); err != nil {
		t.Fatal(err)
	}
	approve(t, c, rw)

	// The announcement under way, the upgrade to this tree's release. The
	// CRD came from the previous chart's crds/ folder: the release takes
	// it over once (docs: Upgrading).
	awaitDeliveries(t, &delivered, 2000)
	before := announcementStatus(t, c, rw)
	started := time.Now()
	helm(append([]string{"upgrade", upgradeRelease}, append(current.ChartArgs(),
		"--reset-then-reuse-values", "--take-ownership", "--wait", "--timeout", "3m")...)...)
	checkOperatorImage(t, c, upgradeNS, current)
	n := delivered.Load()
	t.Logf("upgraded to %s in %s, at %d of %d deliveries", current.Version, time.Since(started).Round(time.Second), n, upgradeRecipients)
	if n >= upgradeRecipients {
		t.Fatalf("the announcement ended before the upgrade did (%d deliveries): nothing was sent across it", n)
	}
	if out, err := real.Kubectl("get", "crd", crdName, "-o", "jsonpath={.metadata.annotations.meta\\.helm\\.sh/release-name}"); err != nil || string(out) != upgradeRelease {
		t.Errorf("after the upgrade the CRD belongs to release %q (%v), want %q", out, err, upgradeRelease)
	}
	// The admission webhook came with the upgrade, mid-withdrawal: once the
	// new operator has recorded the date customers are being told of, a
	// cutoff brought forward past the minimum notice is refused (a dry run).
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var got v1.RegionWithdrawal
		err := c.Get(ctx, client.ObjectKeyFromObject(rw), &got)
		return err == nil && got.Status.Cutoff != nil && got.Status.Cutoff.Promised != nil, nil
	}); err != nil {
		t.Fatalf("the upgraded operator never recorded the date customers were told of: %v", err)
	}
	checkCutoffNoticeWebhook(t, c, rw, 10*time.Minute)

	// The new operator sends some, then the rollback.
	awaitDeliveries(t, &delivered, n+1000)
	started = time.Now()
	helm("rollback", upgradeRelease, "1", "--wait", "--timeout", "3m")
	checkOperatorImage(t, c, upgradeNS, previous)
	n = delivered.Load()
	t.Logf("rolled back to %s in %s, at %d of %d deliveries", previous.Version, time.Since(started).Round(time.Second), n, upgradeRecipients)
	if n >= upgradeRecipients {
		t.Fatalf("the announcement ended before the rollback did (%d deliveries)", n)
	}
	if _, err := real.Kubectl("get", "crd", crdName); err != nil {
		t.Fatalf("the rollback removed the CRD (crds.keep must keep it): %v", err)
	}

	// The announcement completes under the previous release.
	var got v1.RegionWithdrawal
	if err := wait.PollUntilContextTimeout(ctx, time.Second, 10*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(rw), &got); err != nil {
			return false, nil
		}
		a := announcement(&got)
		return a != nil && a.FinishedAt != nil, nil
	}); err != nil {
		dump(t, upgradeTenantNS)
		t.Fatalf("the announcement never finished: %+v", announcement(&got))
	}
	after := announcement(&got)

	// Every recipient, each under one key.
	keys := hook.Keys()
	resent := 0
	for i := 0; i < upgradeRecipients; i++ {
		id := recipientID(i)
		ks := keys[id]
		if len(ks) != 1 {
			t.Errorf("recipient %s got the announcement under %d keys (%v), want 1", id, len(ks), ks)
			continue
		}
		for _, times := range ks {
			resent += times - 1
		}
	}
	total, bad := hook.Totals()
	if bad != 0 {
		t.Errorf("%d deliveries had a bad signature", bad)
	}
	if after.Sent != upgradeRecipients || after.Failed != 0 || after.Pending != 0 {
		t.Errorf("the announcement's status: sent %d, failed %d, pending %d; want %d sent", after.Sent, after.Failed, after.Pending, upgradeRecipients)
	}
	if !after.StartedAt.Equal(before.StartedAt) || !after.ScheduledAt.Equal(&before.ScheduledAt) {
		t.Errorf("the announcement's start moved across the upgrade: %v/%v, then %v/%v", before.ScheduledAt, before.StartedAt, after.ScheduledAt, after.StartedAt)
	}
	if len(got.Spec.Approvals) != 1 || got.Spec.Approvals[0].SpecDigest != got.Status.SpecDigest {
		t.Errorf("the approval %+v does not hold for the spec digest %s after the upgrade and rollback", got.Spec.Approvals, got.Status.SpecDigest)
	}
	t.Logf("all %d recipients notified once per key: %d deliveries accepted, %d re-sent under the same key across the restarts", upgradeRecipients, total, resent)

	checkUpgradeLedger(t, c, &got)
}

// checkUpgradeLedger: the ledger, written by the previous release, this one
// and the previous again, verifies pinned to the key, the withdrawal and
// the checkpoint its status records, with one delivery statement per
// recipient, and the approval recorded.
func checkUpgradeLedger(t *testing.T, c client.Client, rw *v1.RegionWithdrawal) {
	t.Helper()
	ctx := context.Background()
	var secrets corev1.SecretList
	if err := c.List(ctx, &secrets, client.InNamespace(upgradeNS)); err != nil {
		t.Fatal(err)
	}
	var key []byte
	for _, s := range secrets.Items {
		if strings.HasSuffix(s.Name, "-evidence-key") {
			k, err := keysecret.Read(ctx, c, upgradeNS, s.Name)
			if err != nil {
				t.Fatal(err)
			}
			key = k
		}
	}
	if key == nil {
		t.Fatalf("no evidence key Secret in %s", upgradeNS)
	}
	l, err := ledger.New(ledger.Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	contents, err := ledger.Read(ctx, c, upgradeNS, rw.UID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := contents.Bundle(l.Salt(rw.IdentityKey()))
	if err != nil {
		t.Fatal(err)
	}
	if rw.Status.Evidence == nil {
		t.Fatal("status.evidence is empty")
	}
	// Open: the withdrawal runs on (its final notice and cutoff are an hour
	// away), so the ledger has no seal yet.
	r, err := evidence.Verify(b, evidence.VerifyOptions{Key: l.VerifierKey(), UID: string(rw.UID), AllowOpen: true,
		Checkpoints: [][]byte{[]byte(rw.Status.Evidence.Checkpoint)}})
	if err != nil {
		t.Fatalf("the ledger does not verify across the upgrade and the rollback: %v", err)
	}
	perRecipient := map[string]int{}
	for _, d := range r.Deliveries() {
		perRecipient[d.Recipient]++
	}
	if r.Statements < upgradeRecipients || int64(r.Statements) < rw.Status.Evidence.Statements {
		t.Errorf("the ledger holds %d statements, status.evidence says %d; want at least one per recipient, and all status counts", r.Statements, rw.Status.Evidence.Statements)
	}
	twice := 0
	for _, n := range perRecipient {
		if n != 1 {
			twice++
		}
	}
	if len(perRecipient) != upgradeRecipients || twice != 0 {
		t.Errorf("the ledger records deliveries to %d recipients, %d of them more than once; want %d, once each", len(perRecipient), twice, upgradeRecipients)
	}
	t.Logf("the ledger verifies: %d statements under %d checkpoints across the upgrade and the rollback", r.Statements, len(r.Checkpoints))
}

func recipientID(i int) string { return fmt.Sprintf("r-%05d", i) }

// approve approves the notify step for the spec as the operator saw it,
// as the cluster's admin, as kubectl withdrawal approve would.
func approve(t *testing.T, c client.Client, rw *v1.RegionWithdrawal) {
	t.Helper()
	ctx := context.Background()
	review := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, review); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		return c.Get(ctx, client.ObjectKeyFromObject(rw), rw) == nil && rw.Status.SpecDigest != "", nil
	}); err != nil {
		dump(t, upgradeTenantNS)
		t.Fatal("the operator never recorded the spec's digest")
	}
	patch := client.MergeFrom(rw.DeepCopy())
	rw.Spec.Approvals = []v1.Approval{{Step: "notify", By: review.Status.UserInfo.Username, SpecDigest: rw.Status.SpecDigest}}
	if err := c.Patch(ctx, rw, patch); err != nil {
		t.Fatalf("approving: %v", err)
	}
}

// awaitDeliveries waits until the receiver has accepted n deliveries.
func awaitDeliveries(t *testing.T, delivered *atomic.Int64, n int64) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 5*time.Minute, true, func(context.Context) (bool, error) {
		return delivered.Load() >= n, nil
	}); err != nil {
		dump(t, upgradeTenantNS)
		t.Fatalf("%d of the %d deliveries awaited", delivered.Load(), n)
	}
}

func announcement(rw *v1.RegionWithdrawal) *v1.NoticeStatus {
	if rw.Status.Notify == nil {
		return nil
	}
	for i := range rw.Status.Notify.Notices {
		if rw.Status.Notify.Notices[i].Kind == v1.NoticeAnnouncement {
			return &rw.Status.Notify.Notices[i]
		}
	}
	return nil
}

func announcementStatus(t *testing.T, c client.Client, rw *v1.RegionWithdrawal) v1.NoticeStatus {
	t.Helper()
	var got v1.RegionWithdrawal
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(rw), &got); err != nil {
		t.Fatal(err)
	}
	a := announcement(&got)
	if a == nil || a.StartedAt == nil {
		t.Fatalf("the announcement has not started in status: %+v", a)
	}
	return *a.DeepCopy()
}

// checkOperatorImage: the installation's operator pods run the release's
// image, pulled from the node's registry by digest, and no other.
func checkOperatorImage(t *testing.T, c client.Client, ns string, rel *cluster.Release) {
	t.Helper()
	want := cluster.RegistryAddress + "/region-withdrawal-operator@" + rel.ImageDigest
	var pods corev1.PodList
	if err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := c.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/name": "region-withdrawal-operator", "app.kubernetes.io/instance": upgradeRelease}); err != nil {
			return false, nil
		}
		for _, p := range pods.Items {
			if _, other := p.Labels["app.kubernetes.io/component"]; other {
				continue // the handoff endpoint's or a test pod
			}
			if p.DeletionTimestamp != nil || len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].ImageID != want {
				return false, nil
			}
		}
		return len(pods.Items) > 0, nil
	}); err != nil {
		dump(t, ns)
		t.Fatalf("the operator pods of %s do not all run %s", ns, want)
	}
}
