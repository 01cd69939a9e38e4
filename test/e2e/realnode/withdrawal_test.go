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
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff/landing"
	"github.com/ops-dev/region-withdrawal-operator/internal/locale"
	"github.com/ops-dev/region-withdrawal-operator/internal/ociimage"
	"github.com/ops-dev/region-withdrawal-operator/internal/routing"
	"github.com/ops-dev/region-withdrawal-operator/test/e2e/cluster"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
)

const (
	operatorNS = "rwo-system"
	tenantNS   = "bes-pk"
	regionHost = "pk.example.test"
	blockedBy  = "https://transparency.example.com/pk-order"
	// lead is how long before the cutoff the withdrawal is created.
	lead = 80 * time.Second
)

var (
	regionLabels = map[string]string{"bes.example.com/region": "pk"}
	// operatorImage is the released image index (TestMain), as
	// repository:tag@digest; containerd pulls it from the node's registry.
	operatorImage string
	// customerFiles is the sample customer data on the exporter's volume.
	customerFiles = map[string]string{
		"customers/acme/messages.jsonl": `{"from":"a","text":"hello"}` + "\n",
		"customers/acme/contacts.csv":   "name,phone\nA,1\n",
		"customers/zen/messages.jsonl":  `{"from":"z","text":"salaam"}` + "\n",
	}
)

// TestWithdrawalOnARealNode is the compressed Pakistan withdrawal, carried
// out for real, observed as the customers and their clients observe it.
func TestWithdrawalOnARealNode(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)

	createNamespace(t, c, tenantNS, nil)
	// The operator watches it too, so it is there before the install.
	createNamespace(t, c, edgeNS, edgeNamespaceLabels)
	installOperator(t, c)
	deployApp(t, c)
	deployEdgeApp(t, c)
	ingress := newIngressClient()
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 90*time.Second, true, func(context.Context) (bool, error) {
		r := ingress.get()
		return r.status == http.StatusOK && strings.HasPrefix(r.body, "region PK served by"), nil
	}); err != nil {
		t.Fatalf("the app never answered 200 through the ingress: last %+v", ingress.get())
	}

	// The customers' side: an HTTPS webhook receiver, an SMTP server and an
	// object store, on the node's bridge address, where pods reach them.
	key := []byte("real-node-signing-key")
	hook, err := testsrv.NewWebhookAt(cluster.NodeAddress, key)
	if err != nil {
		t.Fatal(err)
	}
	hook.Record = true
	defer hook.Close()
	smtpSrv, err := testsrv.NewSMTPAt(cluster.NodeAddress, true)
	if err != nil {
		t.Fatal(err)
	}
	defer smtpSrv.Close()
	store, err := testsrv.NewObjectStore(cluster.NodeAddress)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	store.WriteToken = "real-node-store-token"
	identity, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	dataDir := customerData(t)
	createDataVolume(t, c, dataDir)

	webhookIDs, emailIDs := []string{"w1", "w2", "w3"}, []string{"e1", "e2"}
	var csv strings.Builder
	csv.WriteString("id,name,email,webhook,locale\n")
	for _, id := range webhookIDs {
		// w3 reads Urdu: the image must carry the CLDR data it is dated with.
		fmt.Fprintf(&csv, "%s,Customer %s,,%s/hook,%s\n", id, id, hook.Server.URL, map[bool]string{true: "ur-PK", false: "en"}[id == "w3"])
	}
	for _, id := range emailIDs {
		fmt.Fprintf(&csv, "%s,Customer %s,%s@example.com,,en\n", id, id, id)
	}
	for _, obj := range []client.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "pk-recipients", Namespace: tenantNS}, Data: map[string]string{"list.csv": csv.String()}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "region-withdrawal-webhook", Namespace: tenantNS}, Data: map[string][]byte{"hmac-key": key}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "region-withdrawal-smtp", Namespace: tenantNS}, Data: map[string][]byte{"username": []byte(smtpSrv.Username), "password": []byte(smtpSrv.Password)}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: storeTokenSecret, Namespace: tenantNS}, Data: map[string][]byte{"token": []byte(store.WriteToken)}},
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	exportPodsAreHeldToTheInstallationsPolicy(t, c)
	s3x := prepareS3Export(t, c) // s3export_test.go

	cutoff := time.Now().Add(lead).Truncate(time.Second)
	rw := withdrawal(cutoff, hook, smtpSrv, store.URL+"/exports/bes-pk.tar.gz.age", identity.Recipient().String())
	if err := c.Create(ctx, rw); err != nil {
		t.Fatal(err)
	}
	edgeRW := edgeWithdrawal(cutoff)
	if err := c.Create(ctx, edgeRW); err != nil {
		t.Fatal(err)
	}
	s3x.create(t, c, cutoff, identity)
	t.Logf("withdrawal created; cutoff at %s (in %s)", cutoff.Format(time.RFC3339), time.Until(cutoff).Round(time.Second))

	// A stream of client requests through the ingress from shortly before
	// the cutoff until every client has seen only 451 for a while.
	stream := runClients(ingress, cutoff.Add(-5*time.Second), cutoff.Add(90*time.Second))

	var got v1.RegionWithdrawal
	if err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Until(cutoff)+2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(rw), &got); err != nil {
			return false, nil
		}
		return got.Status.Phase == v1.PhaseCompleted, nil
	}); err != nil {
		dump(t, tenantNS)
		t.Fatalf("the withdrawal did not complete: phase %s, steps %+v, conditions %+v", got.Status.Phase, got.Status.Steps, got.Status.Conditions)
	}
	results := stream.wait()

	checkClients(t, results, cutoff)
	checkNotices(t, hook, smtpSrv, webhookIDs, emailIDs)
	checkExport(t, &got, store, identity)
	checkExportPod(t, c, &got)
	checkHandoff(t, c, &got, store, identity)
	s3x.check(t, c, identity)
	checkDrained(t, c)
	checkEdgeRoute(t, c, edgeRW)
	upgradeMidWithdrawal(t, c, ingress, &got)
	checkCutoffNoticeWebhook(t, c, rw, time.Hour)

	// Cancel reverses the withdrawal: the route and the app come back.
	if err := c.Get(ctx, client.ObjectKeyFromObject(rw), &got); err != nil {
		t.Fatal(err)
	}
	got.Spec.Cancel, got.Spec.AllowCancelAfterCutoff, got.Spec.CancelReason = true, true, "the order was withdrawn"
	if err := c.Update(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		r := ingress.get()
		return r.status == http.StatusOK && strings.HasPrefix(r.body, "region PK served by"), nil
	}); err != nil {
		dump(t, tenantNS)
		t.Fatalf("after cancel the region never answered 200 again: last %+v", ingress.get())
	}
	t.Log("after cancel the region answers 200 again through the ingress")
}

// installOperator installs the released chart from the node's registry
// with the real helm (its image is the release's, which containerd pulls
// from there), in a namespace that enforces the restricted Pod Security
// Standard, and waits for the operator pod to be available on the node.
func installOperator(t *testing.T, c client.Client) {
	t.Helper()
	createNamespace(t, c, operatorNS, map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"})
	runHelm(t, append([]string{"install", "rwo"}, append(current.ChartArgs(),
		"--namespace", operatorNS,
		"--set", "watchNamespaces={"+tenantNS+","+edgeNS+"}",
		// The withdrawal acts as the chart's ServiceAccount of its namespace.
		"--set", "tenancy.namespaces={"+tenantNS+"}",
		// The customers' receivers listen on the node's bridge address, a
		// private one the operator refuses unless allowed.
		"--set", "egress.allowCIDRs={"+cluster.NodeAddress+"/32}",
		// The customers' download links, served by the endpoint's own pod
		// behind the same ingress as the app.
		"--set", "handoff.enabled=true", "--set", "handoff.publicURL=http://"+handoffHost, "--set", "handoff.replicaCount=1",
		"--set", "handoff.ingress.enabled=true",
		// Export pods run as the chart's exporter ServiceAccount, without
		// a token, and may read the store's token and no other Secret.
		"--set", "exportPods.secrets={"+storeTokenSecret+"}",
		// The admission webhook, with the serving certificate the chart makes.
		"--set", "admissionWebhook.enabled=true",
		"--wait", "--timeout", "3m")...)...)
	var pods corev1.PodList
	if err := c.List(context.Background(), &pods, client.InNamespace(operatorNS)); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName != cluster.RealNodeName || p.Status.Phase != corev1.PodRunning {
			t.Fatalf("operator pod %s runs on %q in phase %s, want Running on the real node", p.Name, p.Spec.NodeName, p.Status.Phase)
		}
		for _, cs := range p.Status.ContainerStatuses {
			if !strings.HasPrefix(cs.ContainerID, "containerd://") || cs.ImageID == "" {
				t.Fatalf("operator container %s was not run by containerd: %+v", cs.Name, cs)
			}
			// Pulled by containerd from the node's registry: the release's
			// image index, by digest.
			if cs.ImageID != cluster.RegistryAddress+"/region-withdrawal-operator@"+current.ImageDigest {
				t.Fatalf("operator container %s runs image %s (%s), want the release's %s", cs.Name, cs.Image, cs.ImageID, current.Image)
			}
		}
	}
	// In its container, the operator read the chart's memory limit
	// (256Mi) from its cgroup and set its Go memory limit to 0.9 of it.
	logs, err := real.Kubectl("logs", "-n", operatorNS, "deploy/rwo-region-withdrawal-operator")
	if err != nil {
		t.Fatal(err)
	}
	limit := 256 << 20
	if want := fmt.Sprintf(`"bytes":%d`, int64(float64(limit)*0.9)); !strings.Contains(string(logs), "Set the Go memory limit") || !strings.Contains(string(logs), want) {
		t.Errorf("the operator did not set its Go memory limit from its container's 256Mi (want %s in its log):\n%s", want, logs)
	}
}

// runHelm runs the real helm against the real node's cluster, with a home
// of its own, and fails the test with its output if it fails.
func runHelm(t *testing.T, args ...string) string {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(filepath.Join(testenv.RepoRoot(), "bin", "helm"), append(args, "--kubeconfig", real.Kubeconfig)...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		dump(t, operatorNS)
		t.Fatalf("helm %s: %v\n%s", args[0], err, out)
	}
	return string(out)
}

// upgradeMidWithdrawal changes the notice backend's values with helm
// upgrade while the backend answers for the region: the restarted operator
// brings the running backend and its PodDisruptionBudget to the new values,
// the chart's helm test passes against the upgraded release, and the
// region's clients get 451 throughout the rollout.
func upgradeMidWithdrawal(t *testing.T, c client.Client, ingress *ingressClient, rw *v1.RegionWithdrawal) {
	t.Helper()
	ctx := context.Background()
	key := client.ObjectKey{Namespace: rw.Namespace, Name: routing.NoticeBackendName(rw)}
	var before appsv1.Deployment
	if err := c.Get(ctx, key, &before); err != nil {
		t.Fatalf("the notice backend: %v", err)
	}
	if *before.Spec.Replicas != 2 {
		t.Fatalf("the notice backend runs %d pods before the upgrade, want the chart's default 2", *before.Spec.Replicas)
	}

	// Clients of the region keep asking through the ingress meanwhile.
	stop := make(chan struct{})
	var answers []answer
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			answers = append(answers, ingress.get())
			time.Sleep(pace)
		}
	}()

	runHelm(t, append([]string{"upgrade", "rwo"}, append(current.ChartArgs(),
		"--namespace", operatorNS, "--reuse-values",
		"--set", "noticeBackend.replicas=1",
		"--set", "noticeBackend.podDisruptionBudget.minAvailable=null", "--set", "noticeBackend.podDisruptionBudget.maxUnavailable=1",
		"--set", "noticeBackend.resources.requests.cpu=15m",
		"--wait", "--timeout", "3m")...)...)
	out := runHelm(t, "test", "rwo", "--namespace", operatorNS, "--logs", "--timeout", "3m")
	if !regexp.MustCompile(`Phase:\s+Succeeded`).MatchString(out) || !strings.Contains(out, "ok: Deployment "+operatorNS+"/") {
		t.Errorf("helm test did not report the self-test passing:\n%s", out)
	}
	t.Logf("helm test after the upgrade:\n%s", out)

	var after appsv1.Deployment
	var budget policyv1.PodDisruptionBudget
	if err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if c.Get(ctx, key, &after) != nil || c.Get(ctx, key, &budget) != nil {
			return false, nil
		}
		cpu := after.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]
		return *after.Spec.Replicas == 1 && cpu.String() == "15m" &&
			after.Status.ObservedGeneration == after.Generation && after.Status.UpdatedReplicas == 1 && after.Status.Replicas == 1 && after.Status.AvailableReplicas == 1 &&
			budget.Spec.MaxUnavailable != nil && budget.Spec.MaxUnavailable.IntValue() == 1 && budget.Spec.MinAvailable == nil, nil
	}); err != nil {
		dump(t, tenantNS)
		t.Fatalf("the running notice backend was not brought to the upgraded values: replicas %d, status %+v, budget %+v",
			*after.Spec.Replicas, after.Status, budget.Spec)
	}
	close(stop)
	<-done
	bad := 0
	for _, a := range answers {
		if a.status != http.StatusUnavailableForLegalReasons {
			if bad++; bad <= 5 {
				t.Errorf("during the upgrade a client got %d (%v) at %s", a.status, a.err, a.sent.Format(time.RFC3339Nano))
			}
		}
	}
	if bad > 0 || len(answers) == 0 {
		t.Fatalf("%d of %d answers during the upgrade were not 451", bad, len(answers))
	}
	t.Logf("upgrade: the running notice backend went to 1 pod and maxUnavailable 1; all %d answers meanwhile were 451", len(answers))
}

func createNamespace(t *testing.T, c client.Client, name string, labels map[string]string) {
	t.Helper()
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}); err != nil {
		t.Fatal(err)
	}
}

// deployApp runs the sample regional app as two real pods behind a Service
// and an Ingress for the region's host name.
func deployApp(t *testing.T, c client.Client) {
	t.Helper()
	labels := map[string]string{"app": "messaging", "bes.example.com/region": "pk"}
	objs := []client.Object{
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "messaging", Namespace: tenantNS, Labels: labels},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](2),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "messaging"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{
						SecurityContext: restrictedPod(),
						Containers: []corev1.Container{{
							Name: "app", Image: ociimage.SampleAppRef, ImagePullPolicy: corev1.PullNever,
							Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
							ReadinessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}, PeriodSeconds: 1},
							SecurityContext: restrictedContainer(),
						}},
					},
				},
			},
		},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "messaging", Namespace: tenantNS, Labels: labels},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "messaging"},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
		},
		&networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: "pk-edge", Namespace: tenantNS, Labels: regionLabels},
			Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
				Host: regionHost,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix),
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "messaging", Port: networkingv1.ServiceBackendPort{Number: 80}}},
				}}}},
			}}},
		},
	}
	for _, o := range objs {
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
}

func restrictedPod() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](ociimage.NonRootUID),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
}

func restrictedContainer() *corev1.SecurityContext {
	return &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
}

// customerData writes the sample customer data into a directory that
// becomes a local PersistentVolume on the node.
func customerData(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "customer-data")
	for name, content := range customerFiles {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// createDataVolume makes dir a local PersistentVolume on the real node and
// binds a claim in the tenant's namespace to it.
func createDataVolume(t *testing.T, c client.Client, dir string) {
	t.Helper()
	size := resource.MustParse("1Gi")
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "bes-pk-customer-data"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: dir}},
			ClaimRef:                      &corev1.ObjectReference{Namespace: tenantNS, Name: "customer-data"},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{cluster.RealNodeName}}},
			}}}},
		},
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "customer-data", Namespace: tenantNS},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To(""), VolumeName: pv.Name,
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
	for _, o := range []client.Object{pv, pvc} {
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
}

// withdrawal is the compressed timeline, relative to the cutoff:
//
//	-70s announcement (webhook and email)
//	-65s export: one Job in the tenant's namespace, the reference exporter
//	     over the customer-data volume, encrypted to the customer's age
//	     key, PUT to the object store; deadline -15s
//	-40s final notice
//	0    drain (one batch) and routing to the 451 notice backend
func withdrawal(cutoff time.Time, hook *testsrv.Webhook, smtpSrv *testsrv.SMTP, dest, ageRecipient string) *v1.RegionWithdrawal {
	at := func(d time.Duration) v1.Moment { return v1.Moment{Offset: &metav1.Duration{Duration: d}} }
	zero := at(0)
	limits := v1.DeliveryLimits{RatePerSecond: 20, Concurrency: 4, MaxAttempts: 5, Timeout: &metav1.Duration{Duration: 5 * time.Second}}
	exporter := corev1.Container{
		Name: "exporter", Image: operatorImage, ImagePullPolicy: corev1.PullIfNotPresent,
		// The object store listens on the node's bridge address over plain
		// http, both of which the exporter refuses unless allowed.
		// The archive is customer w1's, so w1 gets a handoff link to it.
		// The store takes a PUT only with its token, which the pod reads
		// from a Secret the installation lets export pods read.
		// The PUT carries a Content-Length: the archive is spooled first, to
		// an emptyDir, since the root filesystem is read-only.
		Args: []string{"export", "--source=/data", "--destination=" + dest, "--age-recipient=" + ageRecipient, "--recipient=w1", "--spool-dir=/spool",
			"--egress-allow-cidrs=" + cluster.NodeAddress + "/32", "--egress-allow-http", "--header=Authorization: Bearer $(STORE_TOKEN)"},
		Env: []corev1.EnvVar{{Name: "STORE_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: storeTokenSecret}, Key: "token"}}}},
		VolumeMounts:    []corev1.VolumeMount{{Name: "data", MountPath: "/data", ReadOnly: true}, {Name: "spool", MountPath: "/spool"}},
		SecurityContext: restrictedContainer(),
	}
	return &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: tenantNS},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Cutoff: metav1.NewTime(cutoff), TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: regionLabels},
			Notify: &v1.NotifyStep{
				Announce: at(-70 * time.Second), Final: at(-40 * time.Second),
				Recipients: v1.RecipientSources{ConfigMaps: []v1.RecipientObjectRef{{Name: "pk-recipients", Format: v1.RecipientFormatCSV}}},
				Webhook:    &v1.WebhookChannel{SigningSecretRef: v1.SecretKeyReference{Name: "region-withdrawal-webhook", Key: "hmac-key"}, CABundle: hook.CAPEM(), Limits: limits},
				Email: &v1.EmailChannel{Host: cluster.NodeAddress, Port: int32(smtpSrv.Addr.Port), Security: v1.SMTPStartTLS,
					From: "Service Notices <notices@example.com>", CredentialsSecretRef: &v1.LocalObjectReference{Name: "region-withdrawal-smtp"},
					CABundle: smtpSrv.CertPEM, Limits: limits},
				Locales: []v1.LocaleTemplates{{Locale: "ur", NoticeTemplates: v1.NoticeTemplates{Final: &v1.NoticeTemplate{
					Subject: "آخری اطلاع: سروس {{.CutoffDate}} کو {{.CutoffTime}} پر بند ہو جائے گی", Text: "محترم {{.Recipient.Name}}"},
					HandoffPage: &v1.HandoffPageTemplate{Title: "آپ کا ڈیٹا", Text: "یہ لنک {{.Export.ExpiresDate}} تک کام کرے گا۔", Button: "ڈاؤن لوڈ کریں"}}}},
			},
			Export: &v1.ExportStep{Start: at(-65 * time.Second), Deadline: at(-15 * time.Second), Per: v1.ExportPerNamespace, MaxAttempts: 3,
				Handoff: &v1.ExportHandoff{},
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy:   corev1.RestartPolicyNever,
					SecurityContext: restrictedPod(),
					Containers:      []corev1.Container{exporter},
					Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
						PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "customer-data", ReadOnly: true}}},
						{Name: "spool", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				}}}}},
			Drain:   &v1.DrainStep{Start: zero, Timeout: &metav1.Duration{Duration: 60 * time.Second}},
			Routing: &v1.RoutingStep{At: &zero, Mode: v1.RoutingBlock451, NoticeBackend: &v1.NoticeBackend{BlockedBy: blockedBy}},
		},
	}
}

// checkNotices: every webhook recipient got the announcement and the final
// notice, correctly signed; every email recipient got both mails.
func checkNotices(t *testing.T, hook *testsrv.Webhook, smtpSrv *testsrv.SMTP, webhookIDs, emailIDs []string) {
	t.Helper()
	if _, bad := hook.Totals(); bad != 0 {
		t.Errorf("%d webhook deliveries had a bad signature", bad)
	}
	for _, id := range webhookIDs {
		notices := map[string]bool{}
		for _, d := range hook.Deliveries(id) {
			notices[d.Body.Notice.ID] = true
		}
		if len(notices) != 2 {
			t.Errorf("webhook recipient %s got notices %v, want the announcement and the final notice", id, notices)
		}
	}
	// The Urdu customer's final notice is in Urdu, dated the Urdu way
	// (month name in Urdu, the CLDR comma) in Karachi time.
	urdu := 0
	for _, d := range hook.Deliveries("w3") {
		if d.Body.Notice.ID != "final" {
			continue
		}
		urdu++
		if d.Body.Lang != "ur-PK" || !strings.HasPrefix(d.Body.Subject, "آخری اطلاع: سروس ") || !strings.Contains(d.Body.Subject, "، 20") {
			t.Errorf("w3's final notice is %q in %q, want Urdu marked ur-PK with an Urdu date", d.Body.Subject, d.Body.Lang)
		}
	}
	if urdu == 0 {
		t.Error("w3 got no final notice to read in Urdu")
	}
	mails := map[string]map[string]bool{}
	for _, m := range smtpSrv.Mails() {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Errorf("unreadable mail to %s: %v", m.To, err)
			continue
		}
		to := strings.TrimSuffix(m.To, "@example.com")
		if mails[to] == nil {
			mails[to] = map[string]bool{}
		}
		mails[to][msg.Header.Get("X-Withdrawal-Notice")] = true
	}
	for _, id := range emailIDs {
		if len(mails[id]) != 2 {
			t.Errorf("email recipient %s got notices %v, want the announcement and the final notice", id, mails[id])
		}
	}
}

// checkExport: the archive the exporter stored is the one status names
// (size and SHA-256), it decrypts with the customer's age key, and it holds
// exactly the customer data.
func checkExport(t *testing.T, rw *v1.RegionWithdrawal, store *testsrv.ObjectStore, identity *age.X25519Identity) {
	t.Helper()
	var ex *v1.ExportStatus
	for _, s := range rw.Status.Steps {
		if s.Name == v1.StepExport {
			ex = s.Export
		}
	}
	if ex == nil || ex.Verified != 1 || len(ex.Artifacts) != 1 {
		t.Fatalf("export status: %+v, want one verified artifact", ex)
	}
	a := ex.Artifacts[0]
	stored, ok := store.Get("/exports/bes-pk.tar.gz.age")
	if !ok {
		t.Fatalf("the object store holds no archive; status says %+v", a)
	}
	sum := sha256.Sum256(stored)
	if hex.EncodeToString(sum[:]) != a.SHA256 || int64(len(stored)) != a.Bytes {
		t.Errorf("stored archive: %d bytes, sha256 %x; status says %d bytes, sha256 %s", len(stored), sum, a.Bytes, a.SHA256)
	}
	plain, err := age.Decrypt(bytes.NewReader(stored), identity)
	if err != nil {
		t.Fatalf("the archive does not decrypt with the customer's key: %v", err)
	}
	zr, err := gzip.NewReader(plain)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			found[strings.TrimPrefix(h.Name, "./")] = string(b)
		}
	}
	for name, content := range customerFiles {
		if found[name] != content {
			t.Errorf("archive entry %s = %q, want %q (archive has %d files)", name, found[name], content, len(found))
		}
	}
}

// handoffHost is the name customers reach the handoff endpoint by, through
// the ingress.
const handoffHost = "export.bes.example"

// checkHandoff: customer w1 follows their link through the real ingress
// to the endpoint's pod, which records the fetch and sends them to their
// archive; the archive opens with their key; and the operator's status,
// woken by the fetch record, counts w1 as fetched.
// mustCustomerKey is ReadFetches' key of a customer.
func mustCustomerKey(customer string) string {
	k, _ := handoff.CustomerKey(customer)
	return k
}

func checkHandoff(t *testing.T, c client.Client, rw *v1.RegionWithdrawal, store *testsrv.ObjectStore, identity *age.X25519Identity) {
	t.Helper()
	ctx := context.Background()
	var secret corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: operatorNS, Name: "rwo-region-withdrawal-operator-handoff-key"}, &secret); err != nil {
		t.Fatalf("the handoff key the operator creates: %v", err)
	}
	links := &handoff.Links{BaseURL: "http://" + handoffHost, Key: handoff.Key(secret.Data[handoff.KeySecretKey])}
	link, _ := links.Link(rw, "w1")
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	noRedirect := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ask := func(method string) (*http.Response, string, error) {
		req, _ := http.NewRequest(method, real.IngressURL+u.RequestURI(), nil)
		req.Host = handoffHost
		res, err := noRedirect.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(res.Body, 16<<10))
		return res, string(b), nil
	}
	var res *http.Response
	var page string
	// The endpoint answers 404 until it has indexed w1's archive; then a
	// GET (what a mail scanner does too) shows the page, and records
	// nothing.
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		if res, page, err = ask(http.MethodGet); err != nil {
			return false, nil
		}
		return res.StatusCode == http.StatusOK, nil
	}); err != nil {
		dump(t, operatorNS)
		t.Fatalf("w1's link never showed its page through the ingress: last %v %v", res, err)
	}
	if !strings.Contains(page, `<form method="post">`) || !strings.Contains(page, `<html lang="en" dir="ltr">`) {
		t.Fatalf("w1's link page has no form to fetch the archive, or is not in English:\n%s", page)
	}
	// The same link as an Urdu notice gives it: the page the operator
	// rendered in Urdu, dated the Urdu way (the operator's image carries
	// the CLDR data), through the ingress.
	zone, _ := time.LoadLocation(rw.Spec.TimeZone)
	expires := locale.For("ur").Date(handoff.Expiry(rw, 0).In(zone))
	u.RawQuery = landing.LangParam + "=ur-PK"
	if res, page, err = ask(http.MethodGet); err != nil || res.StatusCode != http.StatusOK ||
		!strings.Contains(page, `<html lang="ur" dir="rtl">`) || !strings.Contains(page, "<h1>آپ کا ڈیٹا</h1>") || !strings.Contains(page, "یہ لنک "+expires+" تک") {
		t.Fatalf("w1's link opened in Urdu is not the Urdu page, dated %q: %v %v\n%s", expires, res, err, page)
	}
	u.RawQuery = ""
	if fs, err := handoff.ReadFetches(ctx, c, operatorNS, rw.UID); err != nil || fs.Fetched(mustCustomerKey("w1")) || len(fs) != 0 {
		t.Fatalf("opening the link (GET) was recorded as a fetch: %v %v", fs, err)
	}
	// The page's button.
	if res, _, err = ask(http.MethodPost); err != nil || res.StatusCode != http.StatusSeeOther {
		dump(t, operatorNS)
		t.Fatalf("w1's button never redirected through the ingress: %v %v", res, err)
	}
	want := store.URL + "/exports/bes-pk.tar.gz.age"
	if got := res.Header.Get("Location"); got != want {
		t.Fatalf("w1's link leads to %q, want their archive %q", got, want)
	}
	archive, err := http.Get(want)
	if err != nil {
		t.Fatal(err)
	}
	defer archive.Body.Close()
	if _, err := age.Decrypt(archive.Body, identity); err != nil {
		t.Fatalf("the archive w1's link leads to does not open with w1's key: %v", err)
	}
	t.Logf("w1 fetched their archive through %s%s (303 to %s)", handoffHost, handoff.PathPrefix+"<token>", want)

	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var got v1.RegionWithdrawal
		if err := c.Get(ctx, client.ObjectKeyFromObject(rw), &got); err != nil {
			return false, nil
		}
		for _, s := range got.Status.Steps {
			if h := s.Export; s.Name == v1.StepExport && h != nil && h.Handoff != nil {
				return h.Handoff.Links == 1 && h.Handoff.Fetched == 1 && h.Handoff.NotFetched == 0, nil
			}
		}
		return false, nil
	}); err != nil {
		t.Fatalf("status never counted w1's fetch: %v", err)
	}
}

// checkDrained: the app is scaled to zero, its pods are gone from the node,
// and its EndpointSlices hold no endpoint.
func checkDrained(t *testing.T, c client.Client) {
	t.Helper()
	ctx := context.Background()
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(tenantNS), client.MatchingLabels{"app": "messaging"}); err != nil {
			return false, err
		}
		var slices discoveryv1.EndpointSliceList
		if err := c.List(ctx, &slices, client.InNamespace(tenantNS), client.MatchingLabels{discoveryv1.LabelServiceName: "messaging"}); err != nil {
			return false, err
		}
		endpoints := 0
		for _, s := range slices.Items {
			endpoints += len(s.Endpoints)
		}
		return len(pods.Items) == 0 && endpoints == 0, nil
	}); err != nil {
		dump(t, tenantNS)
		t.Fatalf("the app's pods or endpoints are still there after the drain: %v", err)
	}
	var dep appsv1.Deployment
	if err := c.Get(ctx, client.ObjectKey{Namespace: tenantNS, Name: "messaging"}, &dep); err != nil {
		t.Fatal(err)
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 0 {
		t.Errorf("messaging has %v replicas after the drain, want 0", dep.Spec.Replicas)
	}
}

// dump logs what a person would look at when the test fails.
func dump(t *testing.T, ns string) {
	t.Helper()
	for _, args := range [][]string{
		{"get", "pods,deployments,jobs,endpointslices,ingresses,services", "-n", ns, "-o", "wide"},
		{"get", "events", "-n", ns, "--sort-by=.lastTimestamp"},
		{"get", "regionwithdrawals", "-n", ns, "-o", "yaml"},
		{"logs", "-n", operatorNS, "deploy/rwo-region-withdrawal-operator", "--tail=60"},
	} {
		out, err := real.Kubectl(args...)
		if err != nil {
			t.Logf("kubectl %s: %v", strings.Join(args, " "), err)
			continue
		}
		t.Logf("kubectl %s:\n%s", strings.Join(args, " "), out)
	}
}

// writeFigures writes the measured figures as JSON to the file
// RWO_REALNODE_FIGURES names, for make bench-report.
func writeFigures(t *testing.T, f any) {
	t.Helper()
	path := os.Getenv("RWO_REALNODE_FIGURES")
	if path == "" {
		return
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkCutoffNoticeWebhook: the API server reaches the operator's admission
// webhook through the chart's Service, trusting the certificate the chart
// made (and kept through the upgrade), and a cutoff brought forward past
// the minimum notice after customers were told is refused by it. The move
// is a dry run, so it changes nothing whatever the answer.
func checkCutoffNoticeWebhook(t *testing.T, c client.Client, rw *v1.RegionWithdrawal, by time.Duration) {
	t.Helper()
	ctx := context.Background()
	var got v1.RegionWithdrawal
	if err := c.Get(ctx, client.ObjectKeyFromObject(rw), &got); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(got.DeepCopy())
	got.Spec.Cutoff = metav1.NewTime(got.Spec.Cutoff.Add(-by))
	err := c.Patch(ctx, &got, patch, client.DryRunAll)
	if err == nil || !strings.Contains(err.Error(), "leaves customers") {
		t.Fatalf("a cutoff brought forward by %s: %v, want the admission webhook's refusal", by, err)
	}
	t.Logf("the admission webhook, reached through its Service: %v", err)
}
