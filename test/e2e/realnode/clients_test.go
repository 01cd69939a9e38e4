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
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ops-dev/region-withdrawal-operator/internal/stats"
)

// clients is how many clients send requests for the region's host name
// through the ingress around the cutoff, each one request at a time with
// pace between them.
const (
	clients = 16
	pace    = 25 * time.Millisecond
	// settled is how long a client must have seen only 451 before it stops.
	settled = 3 * time.Second
)

// answer is what one request got.
type answer struct {
	sent, answered time.Time
	status         int
	body, link     string
	err            error
}

// ingressClient sends requests for the region's host name to the real
// node's ingress controller, as a customer's client on this machine would.
type ingressClient struct{ http *http.Client }

func newIngressClient() *ingressClient {
	return &ingressClient{http: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}}
}

func (c *ingressClient) get() answer { return c.getHost(regionHost) }

// getHost sends a request for host.
func (c *ingressClient) getHost(host string) answer {
	a := answer{sent: time.Now()}
	req, err := http.NewRequest(http.MethodGet, real.IngressURL+"/", nil)
	if err != nil {
		a.err = err
		return a
	}
	req.Host = host
	resp, err := c.http.Do(req)
	a.answered = time.Now()
	if err != nil {
		a.err = err
		return a
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	a.status, a.body, a.link = resp.StatusCode, string(b), resp.Header.Get("Link")
	return a
}

type clientStream struct {
	wg      sync.WaitGroup
	answers [clients][]answer
}

// runClients starts the clients at from; each stops once it has seen only
// 451 for settled, or at until.
func runClients(ic *ingressClient, from, until time.Time) *clientStream {
	s := &clientStream{}
	for i := range clients {
		s.wg.Go(func() {
			time.Sleep(time.Until(from)) // the stream starts at a given instant
			var blockedSince time.Time
			for time.Now().Before(until) {
				a := ic.get()
				s.answers[i] = append(s.answers[i], a)
				if a.status != http.StatusUnavailableForLegalReasons {
					blockedSince = time.Time{}
				} else if blockedSince.IsZero() {
					blockedSince = a.answered
				} else if a.answered.Sub(blockedSince) >= settled {
					return
				}
				time.Sleep(pace)
			}
		})
	}
	return s
}

func (s *clientStream) wait() [clients][]answer {
	s.wg.Wait()
	return s.answers
}

// checkClients holds the clients' answers to the promises a customer relies
// on: 200 until the cutoff, then 451 with the blocked-by link, and never
// served again once blocked; and it measures how long after the cutoff the
// 451 reached them.
func checkClients(t *testing.T, answers [clients][]answer, cutoff time.Time) {
	t.Helper()
	f := Figures{Clients: clients, PaceMillis: pace.Milliseconds(), AfterCutoff: map[string]int{}}
	var settledAt []time.Duration
	first := time.Duration(-1)
	for i, as := range answers {
		var lastOther time.Time
		var firstBlocked time.Time
		for _, a := range as {
			if a.answered.Before(cutoff) {
				if a.status != http.StatusOK {
					t.Errorf("client %d got %d (%v) at %s, before the cutoff: a customer was cut off early", i, a.status, a.err, cutoff.Sub(a.answered))
				}
				continue
			}
			if !a.sent.Before(cutoff) {
				key := fmt.Sprint(a.status)
				if a.err != nil {
					key = "error"
				}
				f.AfterCutoff[key]++
			}
			if a.status != http.StatusUnavailableForLegalReasons {
				if !firstBlocked.IsZero() && a.status == http.StatusOK {
					t.Errorf("client %d was served (200) %s after the cutoff, after it had been blocked", i, a.answered.Sub(cutoff))
				}
				lastOther = a.answered
				continue
			}
			if firstBlocked.IsZero() {
				firstBlocked = a.answered
				if d := a.answered.Sub(cutoff); first < 0 || d < first {
					first = d
				}
			}
			if !strings.Contains(a.link, "<"+blockedBy+">") || !strings.Contains(a.link, `rel="blocked-by"`) {
				t.Errorf("client %d: 451 with Link %q, want <%s>; rel=\"blocked-by\"", i, a.link, blockedBy)
			}
		}
		if firstBlocked.IsZero() {
			t.Errorf("client %d never got 451 (%d answers)", i, len(as))
			continue
		}
		// The first 451 after the last other answer.
		for _, a := range as {
			if a.status == http.StatusUnavailableForLegalReasons && a.answered.After(lastOther) && !a.answered.Before(cutoff) {
				settledAt = append(settledAt, a.answered.Sub(cutoff))
				break
			}
		}
	}
	if len(settledAt) == 0 {
		return
	}
	sort.Slice(settledAt, func(i, j int) bool { return settledAt[i] < settledAt[j] })
	f.FirstMillis = first.Milliseconds()
	f.P50Millis = stats.Quantile(settledAt, 0.50).Milliseconds()
	f.P99Millis = stats.Quantile(settledAt, 0.99).Milliseconds()
	f.EveryMillis = settledAt[len(settledAt)-1].Milliseconds()
	t.Logf("cutoff -> client 451 through the ingress (%d clients, a request every %s each): first %d ms, p50 %d ms, p99 %d ms, every client %d ms; answers after the cutoff by status: %v",
		clients, pace, f.FirstMillis, f.P50Millis, f.P99Millis, f.EveryMillis, f.AfterCutoff)
	writeFigures(t, f)
}
