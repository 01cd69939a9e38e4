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

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
	"github.com/ops-dev/region-withdrawal-operator/test/e2e/cluster"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
)

// fleetCluster is one cluster of the fleet test: a real API server with
// kwok nodes and an operator of its own.
type fleetCluster struct {
	name       string
	kubeconfig string
	c          client.Client
}

// TestOneWithdrawalAcrossAFleetOfThreeClusters applies one withdrawal to
// three clusters as an engine would, the same object to each: the suite's
// cluster coordinates (its operator has the default role), two more are
// members (their operators run with --fleet-role=Member), and the member
// clusters have neither the recipient list nor the webhook key. Mid-way
// through the announcement the coordinator's copy is deleted and applied
// again. Every customer is told each notice once across the fleet, under
// one key; every cluster switches its routes at the cutoff and reports
// when; `kubectl withdrawal fleet status` shows the three, and the fleet
// evidence bundle verifies as a whole, and fails with one cluster's
// ledgers left out.
func TestOneWithdrawalAcrossAFleetOfThreeClusters(t *testing.T) {
	ctx := context.Background()
	const ns = "fleet"

	// Two more clusters, one after the other: kwokctl picks each
	// component's port when it starts, and two starting at once can pick
	// the same.
	edges := make([]*cluster.Cluster, 2)
	for i := range edges {
		c, err := cluster.Start(fmt.Sprintf("rwo-fleet-%d", i), 1)
		if c != nil {
			t.Cleanup(func() {
				if err := c.Stop(); err != nil {
					t.Errorf("stopping cluster %d: %v", i, err)
				}
			})
		}
		if err == nil {
			err = c.InstallCRDs()
		}
		if err != nil {
			t.Fatal(err)
		}
		edges[i] = c
	}
	fleet := []fleetCluster{{name: "pk-core", kubeconfig: kwok.Kubeconfig, c: newClient(t)}}
	for i, e := range edges {
		c, err := client.New(e.Config, client.Options{Scheme: scheme.New()})
		if err != nil {
			t.Fatal(err)
		}
		fleet = append(fleet, fleetCluster{name: fmt.Sprintf("pk-edge-%d", i+1), kubeconfig: e.Kubeconfig, c: c})
	}
	for _, fc := range fleet {
		createNamespace(t, fc.c, ns)
		for _, name := range scenarioApps {
			app(t, fc.c, ns, name, regionLabels)
		}
		if err := fc.c.Create(ctx, regionIngress(ns, "pk-edge", regionLabels)); err != nil {
			t.Fatal(err)
		}
	}

	// The customers, on the coordinator's cluster only.
	const customers = 120
	key := []byte("fleet-signing-key")
	hook := testsrv.NewWebhook(key)
	defer hook.Close()
	var csv strings.Builder
	csv.WriteString("id,name,email,webhook,locale\n")
	for i := range customers {
		fmt.Fprintf(&csv, "c%03d,Customer %d,,%s/hook,en\n", i, i, hook.Server.URL)
	}
	for _, obj := range []client.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "pk-recipients", Namespace: ns}, Data: map[string]string{"list.csv": csv.String()}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pk-webhook", Namespace: ns}, Data: map[string][]byte{"hmac-key": key}},
	} {
		if err := fleet[0].c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	// The coordinator's copy is deleted a third of the way through.
	var delivered atomic.Int64
	deleteNow := make(chan struct{})
	hook.OnDelivery = func(int) {
		if delivered.Add(1) == customers/3 {
			close(deleteNow)
		}
	}

	common := []string{"--watch-namespaces=" + ns, "--namespace=" + ns, "--evidence-key-secret=" + evidenceKeySecret}
	startNamedOperator(t, "operator-core", common...)
	// Each member reads the coordinator's copy, to drain only once its
	// export is verified.
	for _, fc := range fleet[1:] {
		startNamedOperator(t, "operator-"+fc.name, append([]string{"--kubeconfig", fc.kubeconfig, "--fleet-role=Member",
			"--fleet-coordinator-kubeconfig", kwok.Kubeconfig}, common...)...)
	}
	// The coordinator's exporter: its export pods complete as the
	// reference exporter's would.
	runCtx, stopExporter := context.WithCancel(ctx)
	var exporter sync.WaitGroup
	exporter.Go(func() { playExporter(runCtx, fleet[0].c, ns) })
	defer exporter.Wait()
	defer stopExporter()

	// The announcement 5 s from now, at 15 a second; the export from 40 s
	// before the cutoff, the final notice 25 s before, the drain 12 s
	// before, the routes at the cutoff.
	cutoff := time.Now().Add(75 * time.Second).Truncate(time.Second)
	at := func(d time.Duration) v1.Moment { return v1.Moment{Offset: &metav1.Duration{Duration: d}} }
	zero, one := at(0), intstr.FromInt32(1)
	withdrawal := func() *v1.RegionWithdrawal {
		return &v1.RegionWithdrawal{
			ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: ns},
			Spec: v1.RegionWithdrawalSpec{
				Region: "PK", Cutoff: metav1.NewTime(cutoff), TimeZone: "Asia/Karachi",
				Selector: metav1.LabelSelector{MatchLabels: regionLabels},
				Notify: &v1.NotifyStep{
					Announce: at(-70 * time.Second), Final: at(-25 * time.Second),
					Recipients: v1.RecipientSources{ConfigMaps: []v1.RecipientObjectRef{{Name: "pk-recipients", Format: v1.RecipientFormatCSV}}},
					Webhook: &v1.WebhookChannel{SigningSecretRef: v1.SecretKeyReference{Name: "pk-webhook", Key: "hmac-key"}, CABundle: hook.CAPEM(),
						Limits: v1.DeliveryLimits{RatePerSecond: 15, Concurrency: 4, MaxAttempts: 5, Timeout: &metav1.Duration{Duration: 3 * time.Second}}},
				},
				Export: &v1.ExportStep{Start: at(-40 * time.Second), Deadline: at(-14 * time.Second), Per: v1.ExportPerNamespace, MaxAttempts: 3,
					JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
						SchedulingGates: []corev1.PodSchedulingGate{{Name: exportGate}}, RestartPolicy: corev1.RestartPolicyNever,
						Containers: []corev1.Container{{Name: "exporter", Image: "ghcr.io/ops-dev/region-withdrawal-operator:v0.1.0", Args: []string{"export", "--source=/data"}}},
					}}}}},
				Drain:   &v1.DrainStep{Start: at(-12 * time.Second), MaxUnavailable: &one, Interval: &metav1.Duration{Duration: 2 * time.Second}},
				Routing: &v1.RoutingStep{At: &zero, Mode: v1.RoutingBlock451},
			},
		}
	}
	for _, fc := range fleet {
		if err := fc.c.Create(ctx, withdrawal()); err != nil {
			t.Fatal(err)
		}
	}
	rwKey := client.ObjectKey{Namespace: ns, Name: "pakistan"}

	// Pruned and applied again mid-announcement.
	select {
	case <-deleteNow:
	case <-time.After(time.Until(cutoff)):
		t.Fatalf("the announcement did not get going: %d deliveries", delivered.Load())
	}
	var first v1.RegionWithdrawal
	if err := fleet[0].c.Get(ctx, rwKey, &first); err != nil {
		t.Fatal(err)
	}
	if err := fleet[0].c.Delete(ctx, &first); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the coordinator's copy to go", func(ctx context.Context) (bool, error) {
		err := fleet[0].c.Get(ctx, rwKey, &v1.RegionWithdrawal{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	before := delivered.Load()
	if err := fleet[0].c.Create(ctx, withdrawal()); err != nil {
		t.Fatal(err)
	}

	// Every copy completes, each having cut at the cutoff.
	done := make([]*v1.RegionWithdrawal, len(fleet))
	for i, fc := range fleet {
		done[i] = awaitWithdrawal(t, fc.c, rwKey, fc.name+" completed", time.Until(cutoff)+time.Minute, func(rw *v1.RegionWithdrawal) bool {
			return rw.Status.Phase == v1.PhaseCompleted && (rw.Status.Evidence != nil && rw.Status.Evidence.Sealed)
		})
	}
	if before >= customers {
		t.Fatalf("all %d customers were told before the coordinator's copy was deleted; the test proved nothing", before)
	}
	identity := v1.IdentityKeyOf(ns + "/pakistan")
	for i, rw := range done {
		routing := stepOf(rw, v1.StepRouting)
		if routing.State != v1.StepSucceeded || routing.FinishedAt == nil || routing.FinishedAt.After(cutoff.Add(time.Second)) {
			t.Errorf("%s: routing %s at %v, want switched by %s", fleet[i].name, routing.State, routing.FinishedAt, cutoff.Add(time.Second))
		}
		if rw.Status.IdentityKey != string(identity) {
			t.Errorf("%s: identity key %q, want %q", fleet[i].name, rw.Status.IdentityKey, identity)
		}
		if i == 0 {
			if rw.UID == first.UID {
				t.Error("the coordinator's copy was not created again")
			}
			continue
		}
		if f := rw.Status.Fleet; f == nil || f.Role != v1.FleetMember || f.ClockOffset == nil ||
			f.CoordinatorExport == nil || f.CoordinatorExport.State != v1.CoordinatorExportVerified {
			t.Errorf("%s: status.fleet %+v, want a member with its clock offset that read the coordinator's export verified", fleet[i].name, f)
		}
		// Its drain began only once the coordinator's export was verified.
		if drain, export := stepOf(rw, v1.StepDrain), stepOf(done[0], v1.StepExport); drain.StartedAt == nil || export.FinishedAt == nil || drain.StartedAt.Before(export.FinishedAt) {
			t.Errorf("%s: drain started %v, the coordinator's export verified %v", fleet[i].name, drain.StartedAt, export.FinishedAt)
		}
		for _, s := range rw.Status.Steps {
			if s.Name == v1.StepNotify {
				t.Errorf("%s, a member, has a notify step: %+v", fleet[i].name, s)
			}
		}
	}

	// Each customer got each notice once, under the identity's key.
	keys := hook.Keys()
	for i := range customers {
		id := fmt.Sprintf("c%03d", i)
		for _, notice := range []string{planner.NoticeIDAnnouncement, planner.NoticeIDFinal} {
			want := notify.IdempotencyKey(string(identity), notice, id)
			if keys[id][want] != 1 {
				t.Errorf("%s got the %s %d times under its key (all keys %v)", id, notice, keys[id][want], keys[id])
			}
		}
		if len(keys[id]) != 2 {
			t.Errorf("%s got notices under %d keys, want 2: %v", id, len(keys[id]), keys[id])
		}
	}

	// The fleet as kubectl sees it: one kubeconfig with the three contexts.
	kubeconfig := fleetKubeconfig(t, fleet, ns)
	plugin := pluginBinary(t)
	run := func(args ...string) (string, error) {
		cmd := exec.Command(plugin, append(args, "--kubeconfig", kubeconfig)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("fleet", "status", "pakistan")
	t.Logf("fleet status:\n%s", out)
	if err != nil || !strings.Contains(out, "3 of 3 clusters have cut their routes; spread") || strings.Count(out, "Completed") != 3 {
		t.Fatalf("fleet status: %v\n%s", err, out)
	}

	dir := t.TempDir()
	bundle, keysFile := filepath.Join(dir, "fleet.jsonl.gz"), filepath.Join(dir, "keys")
	out, err = run("fleet", "evidence", "export", "pakistan", "--operator-namespace", ns, "-f", bundle, "--keys-out", keysFile)
	if err != nil {
		t.Fatalf("fleet evidence export: %v\n%s", err, out)
	}
	out, err = run("fleet", "evidence", "verify", bundle, "--keys-file", keysFile, "--id", ns+"/pakistan")
	t.Logf("fleet evidence verify:\n%s", out)
	for _, want := range []string{
		"withdrawal fleet/pakistan across 3 clusters",
		"pk-core (Coordinator): 2 ledgers (2 sealed)",
		"pk-edge-1 (Member): 1 ledgers (1 sealed)",
		"3 clusters cut; spread",
		fmt.Sprintf("notice announcement: %d customers told once across the fleet", customers),
		"every cluster's ledgers verify; one cluster notified; no customer told twice",
	} {
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("fleet evidence verify (%v) lacks %q:\n%s", err, want, out)
		}
	}

	// One cluster's ledgers left out: the bundle does not verify.
	in, err := os.Open(bundle)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := evidence.ReadFleetBundle(in)
	in.Close()
	if err != nil {
		t.Fatal(err)
	}
	fb.Clusters = fb.Clusters[:len(fb.Clusters)-1]
	shortFile := filepath.Join(dir, "short.jsonl.gz")
	var short bytes.Buffer
	if err := evidence.WriteFleetBundle(&short, fb); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shortFile, short.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = run("fleet", "evidence", "verify", shortFile, "--keys-file", keysFile, "--id", ns+"/pakistan")
	if err == nil || !strings.Contains(out, "cluster pk-edge-2 of the fleet has no ledger in the bundle") {
		t.Fatalf("a bundle without pk-edge-2's ledger: %v\n%s", err, out)
	}
}

// fleetKubeconfig writes one kubeconfig with a context per cluster, named
// as the cluster, in namespace ns.
func fleetKubeconfig(t *testing.T, fleet []fleetCluster, ns string) string {
	t.Helper()
	merged := clientcmdapi.NewConfig()
	for _, fc := range fleet {
		kc, err := clientcmd.LoadFromFile(fc.kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		cur := kc.Contexts[kc.CurrentContext]
		merged.Clusters[fc.name] = kc.Clusters[cur.Cluster]
		merged.AuthInfos[fc.name] = kc.AuthInfos[cur.AuthInfo]
		merged.Contexts[fc.name] = &clientcmdapi.Context{Cluster: fc.name, AuthInfo: fc.name, Namespace: ns}
	}
	merged.CurrentContext = fleet[0].name
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*merged, path); err != nil {
		t.Fatal(err)
	}
	return path
}

var pluginBuild = &goBinary{name: "kubectl-withdrawal", pkg: "./cmd/kubectl-withdrawal"}

// pluginBinary builds kubectl-withdrawal once for the package.
func pluginBinary(t *testing.T) string {
	t.Helper()
	return pluginBuild.build(t)
}
