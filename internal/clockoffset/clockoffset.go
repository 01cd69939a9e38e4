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

// Package clockoffset measures how far the API server's clock is from the
// operator's. In a fleet every cluster cuts at the same absolute instant by
// its own clock; a cluster whose clock is off cuts off by as much, so each
// reports its offset (status.fleet.clockOffset).
//
// The API server says its time only in the Date header of its answers, to
// the second. The measurement asks repeatedly until that second ticks over:
// the tick happened after the last answer showing the old second was asked
// for, and before the first showing the new one came back, which bounds
// the offset by about the spacing of the requests and a round trip.
package clockoffset

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
)

// Measurement is one estimate of the server's clock minus ours.
type Measurement struct {
	// Offset is the server's clock minus ours: positive when the server is
	// ahead.
	Offset time.Duration
	// Within bounds the error of Offset, either way.
	Within time.Duration
	// At is when it was measured, by our clock.
	At time.Time
}

func (m Measurement) String() string {
	return fmt.Sprintf("%s (±%v)", Signed(m.Offset.Round(time.Millisecond)), m.Within.Round(time.Millisecond))
}

// Signed writes d with its sign, so that an offset reads as ahead (+) or
// behind (-).
func Signed(d time.Duration) string {
	if d >= 0 {
		return "+" + d.String()
	}
	return d.String()
}

// Prober asks the server for its time.
type Prober interface {
	// Date asks once and returns the server's Date header.
	Date(ctx context.Context) (time.Time, error)
}

// HTTPProber asks with GET on a path (the API server's /version, which
// any authenticated client may read) through a client.
type HTTPProber struct {
	Client *http.Client
	URL    string
}

// ForAPIServer is a prober of the API server cfg names.
func ForAPIServer(cfg *rest.Config) (*HTTPProber, error) {
	c, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return &HTTPProber{Client: c, URL: cfg.Host + "/version"}, nil
}

// Date implements Prober.
func (p *HTTPProber) Date(ctx context.Context) (time.Time, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	if err != nil {
		return time.Time{}, err
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return time.Time{}, err
	}
	resp.Body.Close()
	return http.ParseTime(resp.Header.Get("Date"))
}

// Spacing is the pause between two requests of one measurement.
const Spacing = 10 * time.Millisecond

// maxProbes bounds one measurement: a little over a second of requests.
const maxProbes = 150

// Measure asks until the server's second ticks over and returns the offset.
func Measure(ctx context.Context, p Prober, clk clock.Clock) (Measurement, error) {
	var (
		prevAsked time.Time
		prevDate  time.Time
	)
	for i := range maxProbes {
		asked := clk.Now()
		date, err := p.Date(ctx)
		if err != nil {
			return Measurement{}, err
		}
		answered := clk.Now()
		if i > 0 && date.After(prevDate) {
			// The server's clock reached date after prevAsked and by
			// answered: take the middle, and half the span as the bound.
			mid := prevAsked.Add(answered.Sub(prevAsked) / 2)
			return Measurement{Offset: date.Sub(mid), Within: answered.Sub(prevAsked) / 2, At: answered}, nil
		}
		prevAsked, prevDate = asked, date
		select {
		case <-ctx.Done():
			return Measurement{}, ctx.Err()
		case <-clk.After(Spacing):
		}
	}
	return Measurement{}, errors.New("the server's Date header did not change in over a second of requests")
}

// Monitor measures now and then and keeps the latest measurement. It is a
// manager Runnable.
type Monitor struct {
	Prober Prober
	Clock  clock.Clock
	// Every is the time between measurements.
	Every time.Duration

	mu     sync.Mutex
	latest *Measurement
}

// Latest is the latest measurement, or nil before the first.
func (m *Monitor) Latest() *Measurement {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.latest
}

// Start measures until ctx ends; a failed measurement is tried again at the
// next turn.
func (m *Monitor) Start(ctx context.Context) error {
	for {
		if got, err := Measure(ctx, m.Prober, m.Clock); err == nil {
			m.mu.Lock()
			m.latest = &got
			m.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-m.Clock.After(m.Every):
		}
	}
}
