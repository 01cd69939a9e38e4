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
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/minio/minio-go/v7"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff"
	"github.com/ops-dev/region-withdrawal-operator/test/e2e/cluster"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv/s3srv"
)

// The S3 side of the withdrawal on a real node: a real S3-compatible store
// (SeaweedFS's S3 gateway, built from its pinned module into bin/weed by
// hack/tools.sh) runs on this machine at the node's bridge address, with a
// private bucket. A second withdrawal of the same region exports to it
// over s3:// from the export Job's pod (SigV4, multipart, credentials from
// the environment the pod reads from its allowed Secret); the operator
// verifies the result; customer w2 follows their handoff link through the
// ingress and is sent to a pre-signed GET, which the handoff endpoint signs
// with its own read-only credentials; the bytes they get have the SHA-256
// status names and open with their key. An anonymous GET of the same
// object is refused.

const (
	s3Bucket = "exports"
	s3Key    = "pk/bes-pk-w2.tar.gz.age"
	// s3CredentialsSecret holds the endpoint's signing credentials, in the
	// operator's namespace.
	s3CredentialsSecret = "handoff-s3"
)

// Each party has its own identity in the store: the test's admin makes the
// bucket, the exporter may only write to it, the handoff endpoint only
// read from it. Nobody else may do anything: the bucket is private.
var s3Identities = map[string]s3srv.S3Identity{
	"admin":    {AccessKey: "AKIDADMIN0000000", SecretKey: "admin-secret-key-0000", Actions: []string{"Admin", "Read", "Write", "List", "Tagging"}},
	"exporter": {AccessKey: "AKIDEXPORTER0000", SecretKey: "exporter-secret-key-00", Actions: []string{"Write:" + s3Bucket}},
	"handoff":  {AccessKey: "AKIDHANDOFF00000", SecretKey: "handoff-secret-key-000", Actions: []string{"Read:" + s3Bucket}},
}

// s3Server is a SeaweedFS server on the node's bridge address.
type s3Server struct {
	*s3srv.SeaweedFS
}

// startS3Server starts SeaweedFS and makes the private bucket. It fails the
// test, never skips it, when the store cannot start.
func startS3Server(t *testing.T) *s3Server {
	t.Helper()
	s, err := s3srv.StartSeaweedFS(context.Background(), filepath.Join(testenv.RepoRoot(), "bin", "weed"), cluster.NodeAddress, t.TempDir(), s3Identities, s3Bucket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	t.Logf("SeaweedFS S3 gateway at %s, bucket %s", s.URL, s3Bucket)
	return &s3Server{s}
}

// client is a client of the store as identity.
func (s *s3Server) client(t *testing.T, identity string) *minio.Client {
	t.Helper()
	c, err := s.Client(identity)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// s3Export is the S3 withdrawal under way.
type s3Export struct {
	store *s3Server
	rw    *v1.RegionWithdrawal
}

// prepareS3Export starts the store and gives the export pods the
// exporter's credentials, in the one Secret they may read.
func prepareS3Export(t *testing.T, c client.Client) *s3Export {
	t.Helper()
	ctx := context.Background()
	store := startS3Server(t)

	var token corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: tenantNS, Name: storeTokenSecret}, &token); err != nil {
		t.Fatal(err)
	}
	token.Data["AWS_ACCESS_KEY_ID"] = []byte(s3Identities["exporter"].AccessKey)
	token.Data["AWS_SECRET_ACCESS_KEY"] = []byte(s3Identities["exporter"].SecretKey)
	if err := c.Update(ctx, &token); err != nil {
		t.Fatal(err)
	}
	return &s3Export{store: store}
}

// create makes a second withdrawal of the region whose only step is an
// export to s3://, with the same cutoff, encrypted to identity for
// customer w2.
func (x *s3Export) create(t *testing.T, c client.Client, cutoff time.Time, identity *age.X25519Identity) {
	t.Helper()
	store := x.store

	secretRef := func(key string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: storeTokenSecret}, Key: key}}
	}
	at := func(d time.Duration) v1.Moment { return v1.Moment{Offset: &metav1.Duration{Duration: d}} }
	rw := &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Name: "pakistan-s3", Namespace: tenantNS},
		Spec: v1.RegionWithdrawalSpec{
			Region: "PK", Cutoff: metav1.NewTime(cutoff), TimeZone: "Asia/Karachi",
			Selector: metav1.LabelSelector{MatchLabels: regionLabels},
			Export: &v1.ExportStep{Start: at(-65 * time.Second), Deadline: at(-15 * time.Second), Per: v1.ExportPerNamespace, MaxAttempts: 3,
				Handoff: &v1.ExportHandoff{},
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy:   corev1.RestartPolicyNever,
					SecurityContext: restrictedPod(),
					Containers: []corev1.Container{{
						Name: "exporter", Image: operatorImage, ImagePullPolicy: corev1.PullIfNotPresent,
						// A real S3 API over plain http on the node's bridge
						// address, both of which the exporter refuses unless
						// allowed; path-style, as SeaweedFS wants. 5 MiB
						// parts: the smallest S3 takes.
						Args: []string{"export", "--source=/data", "--destination=s3://" + s3Bucket + "/" + s3Key,
							"--s3-endpoint=" + store.URL, "--s3-path-style", "--s3-part-size-mib=5",
							"--age-recipient=" + identity.Recipient().String(), "--recipient=w2",
							"--egress-allow-cidrs=" + cluster.NodeAddress + "/32", "--egress-allow-http"},
						Env:             []corev1.EnvVar{{Name: "AWS_ACCESS_KEY_ID", ValueFrom: secretRef("AWS_ACCESS_KEY_ID")}, {Name: "AWS_SECRET_ACCESS_KEY", ValueFrom: secretRef("AWS_SECRET_ACCESS_KEY")}},
						VolumeMounts:    []corev1.VolumeMount{{Name: "data", MountPath: "/data", ReadOnly: true}},
						SecurityContext: restrictedContainer(),
					}},
					Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
						PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "customer-data", ReadOnly: true}}}},
				}}}}},
		},
	}
	if err := c.Create(context.Background(), rw); err != nil {
		t.Fatal(err)
	}
	x.rw = rw
}

// check is run once the withdrawals are done: the operator verified the
// archive at its s3:// location; it is there with that size and SHA-256;
// an anonymous GET is refused; the handoff endpoint is set to sign GETs
// with its own read-only key (helm upgrade); w2 fetches the archive
// through their link.
func (x *s3Export) check(t *testing.T, c client.Client, identity *age.X25519Identity) {
	t.Helper()
	ctx := context.Background()
	var got v1.RegionWithdrawal
	var art *v1.ExportArtifact
	if err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(x.rw), &got); err != nil {
			return false, nil
		}
		for _, s := range got.Status.Steps {
			if s.Name == v1.StepExport && s.Export != nil && s.Export.Verified == 1 && len(s.Export.Artifacts) == 1 {
				art = &s.Export.Artifacts[0]
			}
		}
		return art != nil, nil
	}); err != nil {
		dump(t, tenantNS)
		t.Fatalf("the S3 export was never verified: steps %+v, conditions %+v", got.Status.Steps, got.Status.Conditions)
	}
	if want := "s3://" + s3Bucket + "/" + s3Key; art.Location != want || art.Recipient != "w2" || !art.Encrypted {
		t.Fatalf("verified artifact %+v, want w2's encrypted archive at %s", art, want)
	}
	checkExportPod(t, c, &got)

	// The store holds exactly what status says, as its admin reads it.
	obj, err := x.store.client(t, "admin").GetObject(ctx, s3Bucket, s3Key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("reading the stored archive back: %v", err)
	}
	if sum := sha256.Sum256(stored); hex.EncodeToString(sum[:]) != art.SHA256 || int64(len(stored)) != art.Bytes {
		t.Fatalf("the store holds %d bytes with SHA-256 %x; status says %d bytes, %s", len(stored), sum, art.Bytes, art.SHA256)
	}

	// Private: no anonymous read, and no read with the exporter's
	// write-only key either.
	anon, err := http.Get(x.store.URL + "/" + s3Bucket + "/" + s3Key)
	if err != nil {
		t.Fatal(err)
	}
	anon.Body.Close()
	if anon.StatusCode != http.StatusForbidden {
		t.Fatalf("an anonymous GET of the archive answered %d, want 403: the bucket is not private", anon.StatusCode)
	}
	if _, err := x.store.client(t, "exporter").StatObject(ctx, s3Bucket, s3Key, minio.StatObjectOptions{}); err == nil {
		t.Fatal("the exporter's write-only key may read the archive")
	}

	// The handoff endpoint signs with its read-only key, from a Secret in
	// the operator's namespace.
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: s3CredentialsSecret, Namespace: operatorNS},
		Data: map[string][]byte{"AWS_ACCESS_KEY_ID": []byte(s3Identities["handoff"].AccessKey), "AWS_SECRET_ACCESS_KEY": []byte(s3Identities["handoff"].SecretKey)}}); err != nil {
		t.Fatal(err)
	}
	runHelm(t, append([]string{"upgrade", "rwo"}, append(current.ChartArgs(),
		"--namespace", operatorNS, "--reuse-values",
		"--set", "handoff.s3.presign=true", "--set", "handoff.s3.endpoint="+x.store.URL, "--set", "handoff.s3.pathStyle=true",
		"--set", "handoff.s3.presignExpiry=2m", "--set", "handoff.s3.credentialsSecret="+s3CredentialsSecret,
		"--wait", "--timeout", "3m")...)...)

	var secret corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: operatorNS, Name: "rwo-region-withdrawal-operator-handoff-key"}, &secret); err != nil {
		t.Fatal(err)
	}
	links := &handoff.Links{BaseURL: "http://" + handoffHost, Key: handoff.Key(secret.Data[handoff.KeySecretKey])}
	link, _ := links.Link(&got, "w2")
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	noRedirect := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var res *http.Response
	// The restarted endpoint answers 404 until it has indexed w2's link.
	if err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		req, _ := http.NewRequest(http.MethodPost, real.IngressURL+u.Path, nil)
		req.Host = handoffHost
		if res, err = noRedirect.Do(req); err != nil {
			return false, nil
		}
		res.Body.Close()
		return res.StatusCode == http.StatusSeeOther, nil
	}); err != nil {
		dump(t, operatorNS)
		t.Fatalf("w2's link never redirected through the ingress: last %v %v", res, err)
	}
	presigned, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := presigned.Query()
	if presigned.Scheme+"://"+presigned.Host != x.store.URL || presigned.Path != "/"+s3Bucket+"/"+s3Key ||
		!strings.HasPrefix(q.Get("X-Amz-Credential"), s3Identities["handoff"].AccessKey+"/") || q.Get("X-Amz-Expires") != "120" {
		t.Fatalf("w2's link leads to %s://%s%s (credential %q, expires %q), want a 2-minute GET of their archive signed by the endpoint's key",
			presigned.Scheme, presigned.Host, presigned.Path, q.Get("X-Amz-Credential"), q.Get("X-Amz-Expires"))
	}
	fetched, err := http.Get(presigned.String())
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(fetched.Body)
	fetched.Body.Close()
	if err != nil || fetched.StatusCode != http.StatusOK {
		t.Fatalf("the pre-signed GET answered %d (%v): %.200s", fetched.StatusCode, err, body)
	}
	if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != art.SHA256 {
		t.Fatalf("w2 got %d bytes with SHA-256 %x; the operator verified %s", len(body), sum, art.SHA256)
	}
	if _, err := age.Decrypt(bytes.NewReader(body), identity); err != nil {
		t.Fatalf("w2's archive does not open with their key: %v", err)
	}
	// The signature is bound to this object: the same query on another key
	// is refused.
	other := *presigned
	other.Path = "/" + s3Bucket + "/pk/someone-else.tar.gz.age"
	if r, err := http.Get(other.String()); err != nil || r.StatusCode != http.StatusForbidden {
		t.Fatalf("w2's signature used for another object: %v %v, want 403", r, err)
	} else {
		r.Body.Close()
	}
	t.Logf("w2 fetched %d bytes from the private bucket through %s%s<token> (303 to a pre-signed GET, SHA-256 %s)", len(body), handoffHost, handoff.PathPrefix, art.SHA256)
}
