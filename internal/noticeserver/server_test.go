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

package noticeserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNotice(t *testing.T) {
	cfg := Config{
		Region:    "PK",
		Cutoff:    time.Date(2026, 12, 29, 19, 0, 0, 0, time.UTC),
		BlockedBy: "https://example.com/legal/pk",
		Message:   "We left rather than weaken encryption.",
	}
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	base := "http://" + ln.Addr().String()

	for _, tc := range []struct {
		name        string
		path        string
		accept      string
		wantStatus  int
		wantType    string
		wantInBody  []string
		wantHeaders bool
	}{
		{name: "browser gets HTML", path: "/chat", accept: "text/html,application/xhtml+xml,*/*;q=0.8", wantStatus: 451, wantType: "text/html; charset=utf-8",
			wantInBody: []string{"region PK", "2026-12-29T19:00:00Z", "weaken encryption"}, wantHeaders: true},
		{name: "API client gets JSON", path: "/api/v1/messages", accept: "application/json", wantStatus: 451, wantType: "application/json",
			wantInBody: []string{`"region":"PK"`, `"cutoff":"2026-12-29T19:00:00Z"`, `"status":451`}, wantHeaders: true},
		{name: "HTML preferred by q", path: "/", accept: "application/json;q=0.5, text/html", wantStatus: 451, wantType: "text/html; charset=utf-8", wantHeaders: true},
		{name: "no Accept gets HTML", path: "/x", wantStatus: 451, wantType: "text/html; charset=utf-8", wantHeaders: true},
		{name: "health check", path: "/healthz", wantStatus: 200, wantInBody: []string{"ok"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, base+tc.path, nil)
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if tc.wantType != "" && resp.Header.Get("Content-Type") != tc.wantType {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tc.wantType)
			}
			for _, s := range tc.wantInBody {
				if !strings.Contains(string(b), s) {
					t.Errorf("body lacks %q:\n%s", s, b)
				}
			}
			if tc.wantHeaders {
				if got, want := resp.Header.Get("Link"), `<https://example.com/legal/pk>; rel="blocked-by"`; got != want {
					t.Errorf("Link %q, want %q", got, want)
				}
				if got := resp.Header.Get("Cache-Control"); got != CacheControl {
					t.Errorf("Cache-Control %q, want %q", got, CacheControl)
				}
			}
			if tc.wantType == "application/json" {
				var got body
				if err := json.Unmarshal(b, &got); err != nil || got.Region != "PK" {
					t.Errorf("JSON body %s: %v", b, err)
				}
			}
		})
	}
}

func TestMainRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{name: "no region", args: []string{"--listen=127.0.0.1:0"}},
		{name: "bad cutoff", args: []string{"--region=PK", "--cutoff=tomorrow"}},
		{name: "a script for a link", args: []string{"--region=PK", "--blocked-by=javascript:alert(1)"}},
		{name: "a link that breaks out of the header", args: []string{"--region=PK", `--blocked-by=https://a.example/>; rel="x", <https://evil.example/`}},
		{name: "a link with credentials", args: []string{"--region=PK", "--blocked-by=https://user:pass@a.example/"}},
		{name: "a link without a host", args: []string{"--region=PK", "--blocked-by=https:///path"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Main(tc.args); err == nil {
				t.Fatal("Main succeeded, want an error")
			}
		})
	}
}

// TestSlowAndIdleClientsAreCut: a client that never finishes its request,
// or keeps an idle connection open, is disconnected by the server (the
// timeouts are shortened here; the test waits at most 10 s for each).
func TestSlowAndIdleClientsAreCut(t *testing.T) {
	defer func(h, i time.Duration) { readHeaderTimeout, idleTimeout = h, i }(readHeaderTimeout, idleTimeout)
	readHeaderTimeout, idleTimeout = 200*time.Millisecond, 200*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, Config{Region: "PK", Cutoff: time.Date(2026, 12, 29, 19, 0, 0, 0, time.UTC)})
	}()
	defer func() { cancel(); <-done }()

	for _, tc := range []struct{ name, send string }{
		{"a request never finished", "GET / HTTP/1.1\r\nHost: pk.example.com\r\n"},
		{"an idle keep-alive connection", "GET / HTTP/1.1\r\nHost: pk.example.com\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tc.send); err != nil {
				t.Fatal(err)
			}
			if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			// Read whatever comes (the answer to a whole request) until
			// the server closes the connection.
			_, err = io.Copy(io.Discard, conn)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the server kept the connection open")
			}
		})
	}
}
