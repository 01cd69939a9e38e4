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
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/export"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff/endpoint"
)

// TestHandoffFetchesSurviveAKill runs the real handoff endpoint process
// while 40 customers fetch their archives over and over, kills it with
// SIGKILL in the middle of that (so in the middle of recording: writes
// are always in flight), and starts it again. Every fetch that was
// answered with the redirect, before the kill or after, is in the
// records: a fetch is recorded before it is answered, so a crash can
// cost an answer, never a record.
func TestHandoffFetchesSurviveAKill(t *testing.T) {
	const customers = 40
	ctx := context.Background()
	c := env.Client
	install, home := "handoff-install", "handoff-customers"
	for _, ns := range []string{install, home} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	key := bytes.Repeat([]byte{3}, 32)
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: install, Name: endpoint.DefaultKeySecret},
		Data: map[string][]byte{handoff.KeySecretKey: key}}); err != nil {
		t.Fatal(err)
	}
	rw := withdrawal(home, "pakistan")
	rw.Spec.Routing = nil
	rw.Spec.Export = &v1.ExportStep{
		Start:    v1.Moment{Offset: &metav1.Duration{Duration: -168 * time.Hour}},
		Deadline: v1.Moment{Offset: &metav1.Duration{Duration: -72 * time.Hour}},
		Handoff:  &v1.ExportHandoff{},
	}
	rw.Spec.Export.JobTemplate.Spec.Template.Spec.Containers = []corev1.Container{{Name: "exporter", Image: "operator"}}
	if err := c.Create(ctx, rw); err != nil {
		t.Fatal(err)
	}
	// The export step's record: each customer's own verified archive.
	st := &v1.ExportStatus{Targets: customers, Verified: customers}
	var ids []string
	for i := range customers {
		id := fmt.Sprintf("customer-%02d", i)
		ids = append(ids, id)
		st.Artifacts = append(st.Artifacts, v1.ExportArtifact{Target: "Namespace/" + id, Recipient: id,
			Location: "https://store.example/pk/" + id + ".tar.gz.age", Bytes: 1, SHA256: strings.Repeat("a", 64), Encrypted: true})
	}
	rw.Status.Steps = []v1.StepStatus{{Name: v1.StepExport, State: v1.StepSucceeded, Export: st}}
	if err := c.Status().Update(ctx, rw); err != nil {
		t.Fatal(err)
	}
	links := &handoff.Links{Key: key}
	// The operator's part: the link index, published in the endpoint's
	// namespace, which is all the endpoint reads.
	publisher := &handoff.Publisher{Client: c, Reader: c, Namespace: install, Key: key}
	if err := publisher.Publish(ctx, rw, func() (map[string]v1.ExportArtifact, error) { return export.Artifacts(ctx, c, rw) }); err != nil {
		t.Fatal(err)
	}

	listen, probes := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	links.BaseURL = "http://" + listen
	kc := kubeconfig(t)
	var logs []*syncBuffer
	run := func() *exec.Cmd {
		cmd := exec.Command(binary, endpoint.Name, "--namespace", install, "--listen", listen,
			"--health-probe-bind-address", probes, "--metrics-bind-address", "0", "--zap-log-level", "debug",
			// Every fetch written, so that each answered one can be counted,
			// and no link's rate limit in the way of the hammering.
			"--record-every", "0", "--link-burst", "1000000")
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kc)
		out := &syncBuffer{}
		logs = append(logs, out)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
			if t.Failed() {
				t.Logf("endpoint output:\n%s", out.String())
			}
		})
		poll(t, "the endpoint indexes the links", func() error {
			res, err := http.Get("http://" + probes + "/readyz")
			if err != nil {
				return err
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("readyz: %d", res.StatusCode)
			}
			return nil
		})
		return cmd
	}

	// answered counts, per customer, the fetches answered with the
	// redirect; since marks the restart, for the customers to show they
	// were served again.
	var (
		answered, afterRestart [customers]atomic.Int64
		inFlight, total        atomic.Int64
		restarted, stop        atomic.Bool
		wg                     sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	proc := run()
	for i, id := range ids {
		link, _ := links.Link(rw, id)
		wg.Go(func() {
			for !stop.Load() {
				inFlight.Add(1)
				res, err := client.Post(link, "application/x-www-form-urlencoded", nil)
				inFlight.Add(-1)
				if err != nil {
					time.Sleep(20 * time.Millisecond) // the endpoint is down: ask again, as a browser's user would
					continue
				}
				res.Body.Close()
				if res.StatusCode == http.StatusSeeOther {
					answered[i].Add(1)
					total.Add(1)
					if restarted.Load() {
						afterRestart[i].Add(1)
					}
				}
			}
		})
	}
	defer func() { stop.Store(true); wg.Wait() }()

	poll(t, "400 fetches answered", func() error {
		if n := total.Load(); n < 400 {
			return fmt.Errorf("%d answered", n)
		}
		return nil
	})
	atKill := inFlight.Load()
	if err := proc.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = proc.Wait()
	before := total.Load()
	t.Logf("killed the endpoint after %d answered fetches, with %d requests in flight", before, atKill)

	restarted.Store(true)
	run()
	poll(t, "every customer served again after the restart", func() error {
		for i := range afterRestart {
			if afterRestart[i].Load() == 0 {
				return fmt.Errorf("%s not yet", ids[i])
			}
		}
		return nil
	})
	stop.Store(true)
	wg.Wait()

	fs, err := handoff.ReadFetches(ctx, c, install, rw.UID)
	if err != nil {
		t.Fatal(err)
	}
	var recorded int64
	for i, id := range ids {
		k, _ := handoff.CustomerKey(id)
		got, want := fs[k].Count, answered[i].Load()
		if got < want {
			t.Errorf("%s: %d fetches recorded, but %d were answered: an answered fetch was lost", id, got, want)
		}
		recorded += got
	}
	t.Logf("%d fetches answered, %d recorded (a fetch recorded but not answered, cut by the kill, counts too)", total.Load(), recorded)

	// Nothing the endpoint logged, at debug level, holds a token.
	for _, out := range logs {
		for _, id := range ids {
			if link, _ := links.Link(rw, id); strings.Contains(out.String(), link[strings.LastIndex(link, "/")+1:]) {
				t.Fatalf("the endpoint logged %s's token", id)
			}
		}
	}
}

// syncBuffer is a bytes.Buffer a process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
