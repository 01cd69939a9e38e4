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
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/ops-dev/region-withdrawal-operator/internal/handoff"
	"github.com/ops-dev/region-withdrawal-operator/internal/s3store"
)

// TestS3ArchivesAreFetchedByPresignedGETs: an archive at an s3:// location
// (a private bucket) is fetched by a GET pre-signed for the customer when
// they press the button, valid for the endpoint's expiry and never past
// the link's; the page lets the form go to the store. Signing that fails
// is answered 503 without a Location; without a presigner the customer is
// told the location, as before. The real-node test fetches one from a real
// S3-compatible store.
func TestS3ArchivesAreFetchedByPresignedGETs(t *testing.T) {
	store := s3store.Config{Endpoint: "http://objects.example:8333", Region: "eu-central-1", PathStyle: true}
	client, err := store.Client(nil, credentials.NewStaticV4("AKIDHANDOFF", "handoff-secret", ""))
	if err != nil {
		t.Fatal(err)
	}
	s := newSiteAt(t, 2, "s3://exports/pk/", env.Client, func(s *handoff.Server) {
		s.Presigner, s.PresignExpiry = s3store.Presigner{Client: client}, 10*time.Minute
	})
	link := s.link("c-00000")

	res, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if csp := res.Header.Get("Content-Security-Policy"); res.StatusCode != http.StatusOK || !strings.Contains(csp, "form-action 'self' http://objects.example:8333;") {
		t.Fatalf("GET: %d, CSP %q; want the page, with the store as a form target", res.StatusCode, csp)
	}

	presigned := func(wantExpires string) {
		t.Helper()
		res := do(t, http.MethodPost, link)
		u, err := url.Parse(res.Header.Get("Location"))
		if res.StatusCode != http.StatusSeeOther || err != nil {
			t.Fatalf("POST: %d Location %q, want 303 to a pre-signed GET", res.StatusCode, res.Header.Get("Location"))
		}
		q := u.Query()
		if u.Host != "objects.example:8333" || u.Path != "/exports/pk/c-00000.tar.gz.age" ||
			q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" || !strings.HasPrefix(q.Get("X-Amz-Credential"), "AKIDHANDOFF/") ||
			!strings.Contains(q.Get("X-Amz-Credential"), "/eu-central-1/s3/") || len(q.Get("X-Amz-Signature")) != 64 ||
			q.Get("response-content-disposition") != `attachment; filename="c-00000.tar.gz.age"` {
			t.Fatalf("the redirect is not a SigV4 pre-signed GET of the archive: %s", u)
		}
		if got := q.Get("X-Amz-Expires"); got != wantExpires {
			t.Fatalf("the pre-signed GET works for %ss, want %ss", got, wantExpires)
		}
	}
	presigned("600")
	if !s.fetches().Fetched("c-00000") {
		t.Fatal("the fetch was not recorded")
	}
	// 90 seconds before the link expires (24h after the cutoff), the GET
	// works for those 90 seconds only.
	s.clock.SetTime(cutoff.Add(24*time.Hour - 90*time.Second))
	presigned("90")

	t.Run("signing fails", func(t *testing.T) {
		s := newSiteAt(t, 1, "s3://exports/pk/", env.Client, func(s *handoff.Server) { s.Presigner = failingPresigner{} })
		res := do(t, http.MethodPost, s.link("c-00000"))
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Location") != "" || res.Header.Get("Retry-After") == "" {
			t.Fatalf("POST: %d Location %q, want 503 with Retry-After and no Location", res.StatusCode, res.Header.Get("Location"))
		}
	})

	t.Run("no presigner", func(t *testing.T) {
		s := newSiteAt(t, 1, "s3://exports/pk/", env.Client)
		req, _ := http.NewRequest(http.MethodPost, s.link("c-00000"), nil)
		res, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "s3://exports/pk/c-00000.tar.gz.age") {
			t.Fatalf("POST: %d %q, want a page naming the location", res.StatusCode, body)
		}
	})
}

type failingPresigner struct{}

func (failingPresigner) PresignGet(context.Context, string, time.Duration) (string, error) {
	return "", errors.New("no credentials")
}
