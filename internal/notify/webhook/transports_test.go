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

package webhook_test

import (
	"context"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/channel"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/webhook"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
)

// TestTransportsKeepConnectionsBetweenCalls: senders made in two calls
// (as two batches of a notice are) from the same Transports send over the
// one TLS connection the first opened; a transport evicted from the cache
// closes its idle connections.
func TestTransportsKeepConnectionsBetweenCalls(t *testing.T) {
	var mu sync.Mutex
	states := map[http.ConnState]int{}
	closed := make(chan struct{}, 8)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		mu.Lock()
		states[s]++
		mu.Unlock()
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}
	srv.StartTLS()
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	transports := webhook.NewTransports(egress.Loopback(), 1)
	send := func(call int) {
		t.Helper()
		tr, err := transports.Get(ca, 4)
		if err != nil {
			t.Fatal(err)
		}
		s, err := webhook.New(webhook.Config{Egress: egress.Loopback(), URL: srv.URL, Keys: [][]byte{[]byte("k")}, CABundle: ca, Concurrency: 4, Transport: tr})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Send(context.Background(), &channel.Message{Key: "key", NoticeID: "announcement", Recipient: recipients.Recipient{ID: "c1"}}); err != nil {
			t.Fatalf("call %d: %v", call, err)
		}
	}
	send(1)
	send(2)
	mu.Lock()
	opened := states[http.StateNew]
	mu.Unlock()
	if opened != 1 {
		t.Errorf("two calls opened %d connections to the receiver, want the one the first opened", opened)
	}

	// Another concurrency, with room for one transport: the first is
	// evicted, and its idle connection closed.
	if _, err := transports.Get(ca, 8); err != nil {
		t.Fatal(err)
	}
	if n := transports.Len(); n != 1 {
		t.Errorf("%d transports kept, want at most 1", n)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Error("the evicted transport's idle connection was not closed")
	}
}
