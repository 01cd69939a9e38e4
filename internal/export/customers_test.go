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

package export

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/export/exporter"
	"github.com/ops-dev/region-withdrawal-operator/internal/export/result"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
)

// TestTenThousandCustomersEachGetTheirOwnLink runs the whole chain: four
// export Jobs (one per namespace), each the reference exporter in
// per-customer mode over 2,500 customers, PUT to a real object store; the
// export step reads the four manifests; then the announcement goes to all
// 10,000 by webhook, and each notice carries that customer's own archive.
func TestTenThousandCustomersEachGetTheirOwnLink(t *testing.T) {
	const n, jobs = 10000, 4
	store, err := testsrv.NewObjectStore("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	loopback := egress.Loopback()
	loopback.AllowHTTP = true

	f := newFixture(t, jobs-1, func(e *v1.ExportStep) { e.Parallelism = jobs })
	f.exec.HTTP = &recipients.HTTPPager{Egress: loopback}
	f.execute()
	created := f.jobs()
	if len(created) != jobs {
		t.Fatalf("%d Jobs, want %d", len(created), jobs)
	}

	// Each Job, as the exporter would run in it: its own 2,500 customers.
	var list strings.Builder
	list.WriteString("id,name,webhook\n")
	rcv := testsrv.NewWebhook([]byte("key"))
	defer rcv.Close()
	rcv.Record = true
	next := 0
	for _, job := range created {
		src, keys := t.TempDir(), filepath.Join(t.TempDir(), "customers.csv")
		var k strings.Builder
		k.WriteString("id,ageRecipient\n")
		for range n / jobs {
			c := fmt.Sprintf("c-%05d", next)
			next++
			writeTestFile(t, filepath.Join(src, c, "data"), c)
			id, err := age.GenerateX25519Identity()
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&k, "%s,%s\n", c, id.Recipient())
			fmt.Fprintf(&list, "%s,Customer %s,%s/hooks/%s\n", c, c, rcv.Server.URL, c)
		}
		writeTestFile(t, keys, k.String())
		res, err := exporter.Run(f.ctx, exporter.Options{Source: src, PerCustomer: true, Customers: keys,
			Destination: store.URL + "/pk/" + exporter.CustomerPlaceholder + ".tar.gz.age",
			Manifest:    store.URL + "/pk/manifests/" + job.Namespace + ".jsonl", Egress: loopback, Stderr: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		b, err := res.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		f.finish(job, true, string(b), time.Minute)
	}
	if res := f.execute(); !res.Done || res.Failed || !strings.Contains(res.Message, "10000 customers have their own archive, from 4 manifests") {
		t.Fatalf("export result = %+v", res)
	}
	if st := f.status(); st.Verified != jobs || st.ManifestsRead != jobs || st.Customers != n {
		t.Fatalf("export status: %d verified, %d manifests read, %d customers; want %d, %d, %d", st.Verified, st.ManifestsRead, st.Customers, jobs, jobs, n)
	}

	// The announcement, to all of them.
	if err := env.Client.Create(f.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "customers", Namespace: f.rw.Namespace},
		Data: map[string]string{"list.csv": list.String()}}); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(f.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook-key", Namespace: f.rw.Namespace},
		Data: map[string][]byte{"key": []byte("key")}}); err != nil {
		t.Fatal(err)
	}
	f.rw.Spec.Notify = &v1.NotifyStep{
		Announce:   v1.Moment{Offset: &metav1.Duration{Duration: -720 * time.Hour}},
		Final:      v1.Moment{Offset: &metav1.Duration{Duration: -24 * time.Hour}},
		Recipients: v1.RecipientSources{ConfigMaps: []v1.RecipientObjectRef{{Name: "customers", Format: v1.RecipientFormatCSV}}},
		Webhook: &v1.WebhookChannel{SigningSecretRef: v1.SecretKeyReference{Name: "hook-key", Key: "key"}, CABundle: rcv.CAPEM(),
			Limits: v1.DeliveryLimits{RatePerSecond: 100000, Concurrency: 32, MaxAttempts: 2}},
	}
	ne := notify.New(notify.Options{Client: env.Client, Reader: env.Client, Clock: clock.RealClock{}, Egress: egress.Loopback(),
		Recorder: events.NewFakeRecorder(100),
		Exports: func(ctx context.Context, rw *v1.RegionWithdrawal) (map[string]v1.ExportArtifact, error) {
			return Artifacts(ctx, env.Client, rw)
		}})
	announce := planner.Action{ID: "notify/announcement", Kind: planner.ActionNotice, Step: v1.StepNotify, Notice: v1.NoticeAnnouncement,
		DueAt: cutoff.Add(-720 * time.Hour)}
	for call := 0; ; call++ {
		res, err := ne.Execute(f.ctx, f.rw, announce)
		if err != nil {
			t.Fatal(err)
		}
		if res.Done {
			break
		}
		if call == 100 {
			t.Fatalf("not done after 100 calls: %s", res.Message)
		}
	}
	for i := range n {
		c := fmt.Sprintf("c-%05d", i)
		d := rcv.Deliveries(c)
		if len(d) != 1 {
			t.Fatalf("%s got %d notices, want 1", c, len(d))
		}
		if want := "ready for export at " + store.URL + "/pk/" + c + ".tar.gz.age ("; !strings.Contains(d[0].Body.Text, want) {
			t.Fatalf("%s's notice lacks their own archive %q:\n%s", c, want, d[0].Body.Text)
		}
	}
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkReadManifests records 10,000 and 100,000 customers from one
// manifest in a loopback store: time per ingestion and the API requests it
// makes. Each iteration is a fresh withdrawal, so every entry is written.
func BenchmarkReadManifests(b *testing.B) {
	store, err := testsrv.NewObjectStore("127.0.0.1")
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	loopback := egress.Loopback()
	loopback.AllowHTTP = true
	var requests atomic.Int64
	ww, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	count := func() { requests.Add(1) }
	counted := interceptor.NewClient(ww, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			count()
			return c.Get(ctx, key, obj, opts...)
		},
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			count()
			return c.Create(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			count()
			return c.Patch(ctx, obj, patch, opts...)
		},
	})
	for _, n := range []int{10000, 100000} {
		var m bytes.Buffer
		for i := range n {
			c := fmt.Sprintf("customer-%06d", i)
			if err := result.WriteEntry(&m, result.Entry{Customer: c, Location: store.URL + "/pk/" + c + ".tar.gz.age", Bytes: 4096, SHA256: validHash, Key: result.KeyCustomer}); err != nil {
				b.Fatal(err)
			}
		}
		path := fmt.Sprintf("/pk/manifest-%d.jsonl", n)
		store.Put(path, m.Bytes())
		sum := sha256.Sum256(m.Bytes())
		res := &result.Result{Version: result.Version, Location: store.URL + path, Bytes: int64(m.Len()), SHA256: hex.EncodeToString(sum[:]),
			Manifest: &result.ManifestSummary{Customers: n, Exported: n}}
		b.Run(fmt.Sprintf("customers=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				ns := fmt.Sprintf("bench-manifest-%s-%d", rand.String(5), i)
				if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
					b.Fatal(err)
				}
				rw := &v1.RegionWithdrawal{ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: ns, UID: types.UID(rand.String(8))},
					Spec: v1.RegionWithdrawalSpec{Export: &v1.ExportStep{}}}
				e := &Executor{Client: counted, APIReader: counted, HTTP: &recipients.HTTPPager{Egress: loopback}}
				s := &targetState{Target: Target{Key: "Namespace/" + ns}, attempts: []*attempt{{job: &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "export", Namespace: ns}}, verified: res}}}
				st := &v1.ExportStatus{}
				requests.Store(0)
				b.StartTimer()
				if err := e.readManifests(context.Background(), rw, []*targetState{s}, st); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if st.Customers != int32(n) {
					b.Fatalf("%d customers recorded", st.Customers)
				}
				b.ReportMetric(float64(requests.Load()), "API-requests/op")
				// And what a notify call reads back: every customer.
				st.Verified = 1
				rw.Status.Steps = []v1.StepStatus{{Name: v1.StepExport, Export: st}}
				arts, err := Artifacts(context.Background(), counted, rw)
				if err != nil || len(arts) != n {
					b.Fatalf("read back %d of %d (%v)", len(arts), n, err)
				}
				b.StartTimer()
			}
		})
	}
}
