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
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
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
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/export/exporter"
	"github.com/ops-dev/region-withdrawal-operator/internal/export/result"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients/sources"
	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
)

// TestTenThousandCustomersEachGetTheirOwnLink runs the whole chain: four
// export Jobs (one per namespace), each the reference exporter in
// per-customer mode over 2,500 customers, PUT to a real object store; the
// export step reads the four manifests; the announcement goes to all
// 10,000 by webhook, each notice carrying that customer's own handoff
// link; half of them fetch their archive through it (each opens with its
// customer's key alone and matches the digest in the notice); status
// counts them; and a reminder aimed at those who have not fetched reaches
// exactly the other half.
func TestTenThousandCustomersEachGetTheirOwnLink(t *testing.T) {
	const n, jobs = 10000, 4
	store, err := testsrv.NewObjectStore("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	loopback := egress.Loopback()
	loopback.AllowHTTP = true

	f := newFixture(t, jobs-1, func(e *v1.ExportStep) {
		e.Parallelism = jobs
		e.Manifests = &v1.ExportManifestAccess{Verify: v1.VerifyReread}
	})
	f.exec.HTTP = &sources.HTTPPager{Egress: loopback}
	// The evidence ledger, in the fixture's namespace.
	l, err := ledger.New(ledger.Options{Client: env.Client, Reader: env.Client, Namespace: f.rw.Namespace, Key: bytes.Repeat([]byte{9}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	f.exec.Evidence = l
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
	ids := map[string]*age.X25519Identity{}
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
			ids[c] = id
			fmt.Fprintf(&k, "%s,%s\n", c, id.Recipient())
			fmt.Fprintf(&list, "%s,Customer %s,%s/hooks/%s\n", c, c, rcv.Server.URL, c)
		}
		writeTestFile(t, keys, k.String())
		f.exportPerCustomer(job, src, keys, store.URL, loopback)
	}
	// Every archive is read back from the store and hashed, a batch a
	// call, before the step is done.
	res := f.execute()
	for call := 1; !res.Done && call < 10; call++ {
		res = f.execute()
	}
	if !res.Done || res.Failed || !strings.Contains(res.Message, "10000 customers have their own archive, from 4 manifests, each read back and matched") {
		t.Fatalf("export result = %+v", res)
	}
	if st := f.status(); st.Verified != jobs || st.ManifestsRead != jobs || st.Customers != n || st.CustomersReread != n {
		t.Fatalf("export status: %d verified, %d manifests read, %d customers, %d read back; want %d, %d, %d, %d", st.Verified, st.ManifestsRead, st.Customers, st.CustomersReread, jobs, jobs, n, n)
	}
	// Each archive read back is in the evidence ledger, once, with the
	// digest it matched.
	arts, err := Artifacts(f.ctx, env.Client, f.rw)
	if err != nil {
		t.Fatal(err)
	}
	contents, err := ledger.Read(f.ctx, env.Client, f.rw.Namespace, f.rw.UID)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := contents.Bundle(nil)
	if err != nil {
		t.Fatal(err)
	}
	report, err := evidence.Verify(bundle, evidence.VerifyOptions{Key: l.VerifierKey(), AllowOpen: true})
	if err != nil {
		t.Fatalf("the evidence does not verify: %v", err)
	}
	byCustomer := map[string]*evidence.ExportVerified{}
	for _, ex := range report.Exports() {
		byCustomer[ex.Customer] = ex
	}
	if report.Statements != n || len(byCustomer) != n {
		t.Fatalf("%d statements for %d customers, want one export-verified per customer (%d)", report.Statements, len(byCustomer), n)
	}
	for _, id := range []string{"c-00000", "c-04711", "c-09999"} {
		ex, a := byCustomer[evidence.RecipientHash(l.Salt(f.rw.IdentityKey()), id)], arts[id]
		if ex == nil || ex.SHA256 != a.SHA256 || ex.Bytes != a.Bytes || ex.Location != a.Location {
			t.Errorf("%s: statement %+v, want the archive %+v", id, ex, a)
		}
	}

	// Handoff links: the endpoint serves them over real HTTP and records
	// each fetch in the API server before it answers.
	ctx := f.ctx
	records := "handoff-" + rand.String(5)
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: records}}); err != nil {
		t.Fatal(err)
	}
	status := f.rw.Status.DeepCopy()
	f.rw.Spec.Export.Handoff = &v1.ExportHandoff{}
	if err := env.Client.Update(ctx, f.rw); err != nil {
		t.Fatal(err)
	}
	f.rw.Status = *status
	if err := env.Client.Status().Update(ctx, f.rw); err != nil {
		t.Fatal(err)
	}
	key := handoff.Key(bytes.Repeat([]byte{7}, 32))
	endpoint := handoff.NewServer(&handoff.Server{
		Index: env.Client, Namespace: records,
		Key: key, Recorder: &handoff.Recorder{Client: env.Client, Namespace: records},
	}, nil)
	site := httptest.NewServer(endpoint)
	defer site.Close()
	service := &handoff.Service{Links: handoff.Links{BaseURL: site.URL, Key: key}, Reader: env.Client, Namespace: records,
		Publisher: &handoff.Publisher{Client: env.Client, Reader: env.Client, Namespace: records, Key: key}}
	// The export step publishes the links (Observe, on every reconcile);
	// the endpoint serves what the index holds.
	f.exec.Handoff = service
	if _, _, err := f.exec.Observe(ctx, f.rw); err != nil {
		t.Fatal(err)
	}
	if _, err := endpoint.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Name: string(f.rw.UID)}}); err != nil {
		t.Fatal(err)
	}
	if endpoint.Links() != n {
		t.Fatalf("the endpoint serves %d links, want %d", endpoint.Links(), n)
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
		Reminders:  &v1.ReminderSchedule{Schedule: "0 9 * * MON", Audience: v1.AudienceUnfetched},
		Final:      v1.Moment{Offset: &metav1.Duration{Duration: -24 * time.Hour}},
		Recipients: v1.RecipientSources{ConfigMaps: []v1.RecipientObjectRef{{Name: "customers", Format: v1.RecipientFormatCSV}}},
		Webhook: &v1.WebhookChannel{SigningSecretRef: v1.SecretKeyReference{Name: "hook-key", Key: "key"}, CABundle: rcv.CAPEM(),
			Limits: v1.DeliveryLimits{RatePerSecond: 100000, Concurrency: 32, MaxAttempts: 2}},
	}
	ne := notify.New(notify.Options{Client: env.Client, Reader: env.Client, Clock: clock.RealClock{}, Egress: egress.Loopback(),
		Recorder: events.NewFakeRecorder(100), Handoff: service,
		Exports: func(ctx context.Context, rw *v1.RegionWithdrawal) (map[string]v1.ExportArtifact, error) {
			return Artifacts(ctx, env.Client, rw)
		}})
	send := func(a planner.Action) executor.Result {
		t.Helper()
		for call := 0; ; call++ {
			res, err := ne.Execute(f.ctx, f.rw, a)
			if err != nil {
				t.Fatal(err)
			}
			if res.Done {
				return res
			}
			if call == 100 {
				t.Fatalf("%s not done after 100 calls: %s", a.ID, res.Message)
			}
		}
	}
	send(planner.Action{ID: "notify/announcement", Kind: planner.ActionNotice, Step: v1.StepNotify, Notice: v1.NoticeAnnouncement,
		DueAt: cutoff.Add(-720 * time.Hour)})
	digest := regexp.MustCompile(`SHA-256 ([0-9a-f]{64})`)
	digests := map[string]string{}
	for i := range n {
		c := fmt.Sprintf("c-%05d", i)
		d := rcv.Deliveries(c)
		if len(d) != 1 {
			t.Fatalf("%s got %d notices, want 1", c, len(d))
		}
		link, _ := service.Link(f.rw, c)
		if want := "ready for export at " + link + " ("; !strings.Contains(d[0].Body.Text, want) {
			t.Fatalf("%s's notice lacks their own link %q:\n%s", c, want, d[0].Body.Text)
		}
		m := digest.FindStringSubmatch(d[0].Body.Text)
		if m == nil {
			t.Fatalf("%s's notice gives no SHA-256:\n%s", c, d[0].Body.Text)
		}
		digests[c] = m[1]
	}

	// Half of them fetch through their link: the endpoint records the
	// fetch and sends them to their own archive, which opens with their
	// key alone and matches the digest their notice gave.
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				if err := fetchOwnArchive(service, f.rw, fmt.Sprintf("c-%05d", i), ids, digests); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := 0; i < n; i += 2 {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Status counts who fetched.
	f.exec.Handoff = service
	d, changed, err := f.exec.Observe(ctx, f.rw)
	if err != nil || !changed {
		t.Fatalf("Observe: changed %v, %v", changed, err)
	}
	if h := d.Export.Handoff; h.Links != n || h.Fetched != n/2 || h.NotFetched != n/2 || h.LastFetchAt == nil {
		t.Fatalf("handoff status = %+v, want %d links, %d fetched, %d not", h, n, n/2, n/2)
	}

	// A revocation written by hand that is not a JSON array is said where
	// the user looks, and not taken for no revocation.
	rec := events.NewFakeRecorder(10)
	f.exec.Recorder = rec
	f.rw.Annotations = map[string]string{handoff.AnnotationRevoked: "c-00001,c-00002"}
	if _, _, err := f.exec.Observe(ctx, f.rw); err == nil {
		t.Fatal("Observe took an unreadable revocation for none")
	}
	if !hasEvent(rec, ReasonHandoffRevocationInvalid, handoff.AnnotationRevoked) {
		t.Fatal("no HandoffRevocationInvalid Event")
	}
	delete(f.rw.Annotations, handoff.AnnotationRevoked)

	// The next reminder, aimed at those who have not fetched, reaches
	// exactly the other half.
	res = send(planner.Action{ID: "notify/reminder-20261207t0400z", Kind: planner.ActionNotice, Step: v1.StepNotify, Notice: v1.NoticeReminder,
		DueAt: cutoff.Add(-500 * time.Hour)})
	if c := res.Detail.Notice; c.Recipients != n/2 || c.Sent != n/2 || c.Excluded != n/2 {
		t.Fatalf("reminder counts = %+v, want %d recipients, all sent, %d left out", c, n/2, n/2)
	}
	for i := range n {
		c := fmt.Sprintf("c-%05d", i)
		reminders := 0
		for _, d := range rcv.Deliveries(c) {
			if d.Body.Notice.Kind == string(v1.NoticeReminder) {
				reminders++
			}
		}
		if want := i % 2; reminders != want {
			t.Fatalf("%s (fetched: %v) got %d reminders, want %d", c, i%2 == 0, reminders, want)
		}
	}
}

// fetchOwnArchive follows the customer's link as a browser would and
// checks what it gets: their own archive, matching the digest in their
// notice, opening with their key and not with another customer's.
func fetchOwnArchive(service *handoff.Service, rw *v1.RegionWithdrawal, c string, ids map[string]*age.X25519Identity, digests map[string]string) error {
	link, _ := service.Link(rw, c)
	// The link's page and its button, as a browser: the POST's 303 is
	// followed with a GET of the archive.
	page, err := http.Get(link)
	if err != nil {
		return err
	}
	page.Body.Close()
	if page.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: opening the link: %d", c, page.StatusCode)
	}
	res, err := http.Post(link, "application/x-www-form-urlencoded", nil)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: fetching through the link: %d %v", c, res.StatusCode, err)
	}
	if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != digests[c] {
		return fmt.Errorf("%s: the archive's SHA-256 is not the one the notice gave", c)
	}
	other := ids["c-00001"]
	if c == "c-00001" {
		other = ids["c-00000"]
	}
	if _, err := age.Decrypt(bytes.NewReader(body), other); err == nil {
		return fmt.Errorf("%s: the archive opens with another customer's key", c)
	}
	r, err := age.Decrypt(bytes.NewReader(body), ids[c])
	if err != nil {
		return fmt.Errorf("%s: the archive does not open with their key: %w", c, err)
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("%s: the archive is not gzip: %w", c, err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || !bytes.Contains(plain, []byte(c)) {
		return fmt.Errorf("%s: the archive does not hold their data (%v)", c, err)
	}
	return nil
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
				e := &Executor{Client: counted, APIReader: counted, HTTP: &sources.HTTPPager{Egress: loopback}}
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

// TestCustomersSkippedAreCountedAndSaid: a customer list with one bad row
// (a key that does not parse) still exports the others; the export step
// counts the skipped customer in status and says so in an Event.
func TestCustomersSkippedAreCountedAndSaid(t *testing.T) {
	store, err := testsrv.NewObjectStore("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	loopback := egress.Loopback()
	loopback.AllowHTTP = true
	f := newFixture(t, 0, nil)
	f.exec.HTTP = &sources.HTTPPager{Egress: loopback}
	rec := events.NewFakeRecorder(100)
	f.exec.Recorder = rec
	f.execute()
	var job *batchv1.Job
	for _, j := range f.jobs() {
		job = j
	}
	src, keys := t.TempDir(), filepath.Join(t.TempDir(), "customers.csv")
	var k strings.Builder
	k.WriteString("id,ageRecipient\n")
	for _, c := range []string{"c-1", "c-2", "c-3"} {
		writeTestFile(t, filepath.Join(src, c, "data"), c)
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		key := id.Recipient().String()
		if c == "c-2" {
			key = "age1notakey"
		}
		fmt.Fprintf(&k, "%s,%s\n", c, key)
	}
	writeTestFile(t, keys, k.String())
	f.exportPerCustomer(job, src, keys, store.URL, loopback)
	for call := 0; call < 5; call++ {
		if f.execute().Done {
			break
		}
	}
	if st := f.status(); st.Customers != 2 || st.CustomersSkipped != 1 {
		t.Fatalf("export status: %d customers, %d skipped; want 2 and 1", st.Customers, st.CustomersSkipped)
	}
	close(rec.Events)
	var said bool
	for e := range rec.Events {
		said = said || strings.Contains(e, ReasonExportCustomersSkipped)
	}
	if !said {
		t.Error("no ExportCustomersSkipped Event")
	}
}

// exportPerCustomer runs the reference exporter in per-customer mode, as
// job would, over src with the keys in the customer list at keys, to the
// store, and finishes job with its result.
func (f *fixture) exportPerCustomer(job *batchv1.Job, src, keys, store string, loopback *egress.Policy) {
	f.t.Helper()
	res, err := exporter.Run(f.ctx, exporter.Options{Source: src, PerCustomer: true, Customers: keys,
		Destination: store + "/pk/" + exporter.CustomerPlaceholder + ".tar.gz.age",
		Manifest:    store + "/pk/manifests/" + job.Namespace + ".jsonl", Egress: loopback, Stderr: io.Discard})
	if err != nil {
		f.t.Fatal(err)
	}
	b, err := res.Marshal()
	if err != nil {
		f.t.Fatal(err)
	}
	f.finish(job, true, string(b), time.Minute)
}
