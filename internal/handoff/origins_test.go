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

package handoff_test

import (
	"net/http"
	"testing"

	"github.com/ops-dev/region-withdrawal-operator/internal/export"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff"
)

// TestLinksSendCustomersOnlyToAllowedOrigins: with the installation's
// allow-list set, a link whose archive is on a store outside it is
// answered 502, with no Location, to GET and HEAD alike, and the fetch is
// not recorded; under an allowed origin (or a matching wildcard) the
// customer is redirected as before.
func TestLinksSendCustomersOnlyToAllowedOrigins(t *testing.T) {
	for _, tc := range []struct {
		list       string
		wantStatus int
	}{
		{list: "https://objects.example.com,s3://exports-bucket", wantStatus: http.StatusBadGateway},
		{list: "http://store.example", wantStatus: http.StatusBadGateway}, // another scheme
		{list: "https://store.example:8443", wantStatus: http.StatusBadGateway},
		{list: "https://objects.example.com,https://store.example", wantStatus: http.StatusSeeOther},
		{list: "https://*.example", wantStatus: http.StatusSeeOther},
		{list: "", wantStatus: http.StatusSeeOther}, // no list: all allowed
	} {
		name := tc.list
		if name == "" {
			name = "no list"
		}
		t.Run(name, func(t *testing.T) {
			allowed, err := export.ParseOrigins(tc.list)
			if err != nil {
				t.Fatal(err)
			}
			s := newSite(t, 2, env.Client, func(s *handoff.Server) { s.AllowedOrigins = allowed })
			wantLocation := ""
			if tc.wantStatus == http.StatusSeeOther {
				wantLocation = "https://store.example/pk/c-00000.tar.gz.age"
			}
			for _, method := range []string{http.MethodHead, http.MethodGet, http.MethodPost} {
				res := do(t, method, s.link("c-00000"))
				want, where := tc.wantStatus, wantLocation
				if want == http.StatusSeeOther && method != http.MethodPost {
					want, where = http.StatusOK, "" // the page; only its POST redirects
				}
				if res.StatusCode != want || res.Header.Get("Location") != where {
					t.Fatalf("%s: %d Location %q, want %d %q", method, res.StatusCode, res.Header.Get("Location"), want, where)
				}
			}
			if got, want := s.fetches().Fetched("c-00000"), tc.wantStatus == http.StatusSeeOther; got != want {
				t.Fatalf("fetch recorded: %v, want %v", got, want)
			}
		})
	}
}
