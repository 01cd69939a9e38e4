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

package clockoffset

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"k8s.io/utils/clock"
)

// skewedServer answers with a Date header its clock is ahead by.
func skewedServer(ahead time.Duration) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", time.Now().Add(ahead).UTC().Format(http.TimeFormat))
	}))
}

// TestMeasureFindsTheServersOffset: servers whose clocks are ahead, behind
// and right, by amounts that are not whole seconds, are measured to within
// the bound the measurement gives, and the bound is tight on loopback.
func TestMeasureFindsTheServersOffset(t *testing.T) {
	for _, ahead := range []time.Duration{2500 * time.Millisecond, -1700 * time.Millisecond, 0, 40 * time.Millisecond} {
		srv := skewedServer(ahead)
		m, err := Measure(context.Background(), &HTTPProber{Client: srv.Client(), URL: srv.URL}, clock.RealClock{})
		srv.Close()
		if err != nil {
			t.Fatalf("ahead %v: %v", ahead, err)
		}
		if d := m.Offset - ahead; d > m.Within || d < -m.Within {
			t.Errorf("ahead %v: measured %v, outside its own bound", ahead, m)
		}
		if m.Within > 100*time.Millisecond {
			t.Errorf("ahead %v: bound %v on loopback; the measurement is too loose to say anything", ahead, m.Within)
		}
		t.Logf("ahead %v: measured %v", ahead, m)
	}
}

// TestMeasureGivesUpOnAFrozenClock: a server whose Date never changes is
// reported, not waited for forever.
func TestMeasureGivesUpOnAFrozenClock(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", "Mon, 30 Dec 2026 00:00:00 GMT")
	}))
	defer srv.Close()
	if _, err := Measure(context.Background(), &HTTPProber{Client: srv.Client(), URL: srv.URL}, clock.RealClock{}); err == nil {
		t.Fatal("a frozen Date header gave a measurement")
	}
}
