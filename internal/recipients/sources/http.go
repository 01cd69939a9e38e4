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

package sources

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
)

const (
	// defaultMaxPages bounds a paged read, so a source whose Link headers
	// never end cannot keep a reconcile busy forever.
	defaultMaxPages = 10000
	// defaultMaxPageBytes bounds one page.
	defaultMaxPageBytes = 64 << 20
)

// ErrHTTPSource is wrapped by every failure to read the paged HTTP source.
var ErrHTTPSource = errors.New("reading the http recipient source")

// ErrPageTooLarge is a page over its cap: the notice fails rather than
// take the first 64 MiB for the whole list.
var ErrPageTooLarge = errors.New("a page is over the size cap")

// cappedReader reads at most left bytes and fails, rather than end, when
// there is more: io.LimitReader's quiet EOF would pass a cut list off as a
// whole one.
type cappedReader struct {
	r    io.Reader
	left int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// At the cap: the page must end here.
		var one [1]byte
		for range 100 {
			n, err := c.r.Read(one[:])
			if n > 0 {
				return 0, ErrPageTooLarge
			}
			if err != nil {
				return 0, err
			}
		}
		return 0, io.ErrNoProgress
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// HTTPPager reads recipients from a paged HTTP(S) source: each page is JSON
// lines, and the next page is named by a `Link: <url>; rel="next"` header.
type HTTPPager struct {
	// Timeout bounds one page; default 30s.
	Timeout time.Duration
	// MaxPages bounds the pages read; default 10000.
	MaxPages int
	// MaxPageBytes bounds one page; default 64 MiB. A longer page fails
	// the read with ErrPageTooLarge.
	MaxPageBytes int64
	// Egress decides where the pages may be read from; nil is the default
	// policy (https only, nothing internal).
	Egress *egress.Policy
	// Transport overrides the transport built from the source's CA bundle.
	Transport http.RoundTripper
}

// Pages calls fn with the body of each page, following Link rel="next".
// headers are sent with every request; they usually carry a token, so they
// and the URL's query never appear in errors.
func (p *HTTPPager) Pages(ctx context.Context, src *v1.HTTPRecipientSource, headers map[string]string, fn func(page int, source string, body io.Reader) error) error {
	return p.pages(ctx, src, headers, nil, func(pg pageRead) error { return fn(pg.n, pg.source, pg.body) })
}

// pageRead is one page read in full.
type pageRead struct {
	n      int
	source string
	body   io.Reader
	// url is where it was read, etag its strong entity tag ("" when it
	// had none, or a weak one), and next the next page's URL ("" for
	// the last).
	url, etag, next string
}

// pageMemory remembers the pages of an earlier read, so that a page the
// server says is unchanged need not be read again: the request carries
// the page's entity tag (If-None-Match), and a 304 Not Modified answer
// passes over it.
type pageMemory interface {
	// known returns the entity tag the next page, at u, had when last
	// read in full, and the URL of the page it named next, if the caller
	// would pass over it unchanged.
	known(u string) (etag, next string, ok bool)
	// unchanged passes over that page: the server said it is unchanged.
	unchanged()
}

// pages is Pages, passing over the pages mem knows and the server says
// are unchanged (mem may be nil).
func (p *HTTPPager) pages(ctx context.Context, src *v1.HTTPRecipientSource, headers map[string]string, mem pageMemory, fn func(pageRead) error) error {
	rt := p.Transport
	if rt == nil {
		tr, err := p.Egress.Transport(src.CABundle)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrHTTPSource, err)
		}
		defer tr.CloseIdleConnections()
		rt = tr
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	maxPages := p.MaxPages
	if maxPages <= 0 {
		maxPages = defaultMaxPages
	}
	first, err := url.Parse(src.URL)
	if err != nil {
		return fmt.Errorf("%w: invalid URL", ErrHTTPSource)
	}
	if err := p.Egress.CheckURL(first); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrHTTPSource, redactURL(src.URL), err)
	}
	// The headers (a token, usually) go with every request: neither a
	// redirect nor a next-page link may take them to another origin.
	hc := &http.Client{Transport: rt, Timeout: timeout, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !egress.SameOrigin(first, req.URL) {
			return fmt.Errorf("%w: a redirect to another origin", egress.ErrRefused)
		}
		if len(via) >= 5 {
			return errors.New("more than 5 redirects")
		}
		return nil
	}}
	next := src.URL
	seen := map[string]bool{}
	for page := 1; next != ""; page++ {
		if page > maxPages {
			return fmt.Errorf("%w: more than %d pages", ErrHTTPSource, maxPages)
		}
		if seen[next] {
			return fmt.Errorf("%w: page %d links back to an earlier page", ErrHTTPSource, page)
		}
		seen[next] = true
		source := fmt.Sprintf("http source %s page %d", redactURL(src.URL), page)
		var etag, known string
		if mem != nil {
			var ok bool
			if etag, known, ok = mem.known(next); !ok {
				etag = ""
			}
		}
		link, unchanged, err := p.page(ctx, hc, next, headers, etag, func(pg pageRead) error {
			pg.n, pg.source = page, source
			return fn(pg)
		})
		if unchanged {
			mem.unchanged()
			link = known
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrHTTPSource, source, err)
		}
		if link != "" {
			if u, _ := url.Parse(link); !egress.SameOrigin(first, u) {
				return fmt.Errorf("%w: %s: the next page is on another origin: %w", ErrHTTPSource, source, egress.ErrRefused)
			}
		}
		next = link
	}
	return nil
}

// page reads the page at u and returns the next page's URL. With etag
// set, it asks for the page only if it changed, and unchanged is true when
// the server answers that it did not (fn is not called then).
func (p *HTTPPager) page(ctx context.Context, hc *http.Client, u string, headers map[string]string, etag string, fn func(pageRead) error) (next string, unchanged bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", false, errors.New("invalid URL")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Accept", "application/jsonl, application/x-ndjson, application/json")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // ue.URL may carry a token
		}
		return "", false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && etag != "" {
		return "", true, nil
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return "", false, fmt.Errorf("answered %s", resp.Status)
	}
	if next, err = nextURL(u, resp.Header.Values("Link")); err != nil {
		return "", false, err
	}
	if err := fn(pageRead{body: &cappedReader{r: resp.Body, left: cmp.Or(p.MaxPageBytes, defaultMaxPageBytes)},
		url: u, etag: strongETag(resp.Header.Get("ETag")), next: next}); err != nil {
		return "", false, err
	}
	return next, false, nil
}

// maxETag bounds an entity tag kept for a page: the source is the
// customer's to write, and a walk keeps one per page.
const maxETag = 256

// strongETag returns etag if it is a strong entity tag of at most maxETag
// bytes, "" otherwise: a weak one (W/"...") says only that two versions
// mean the same, which for a list of customers is not enough to pass over
// a page unread.
func strongETag(etag string) string {
	if len(etag) < 2 || len(etag) > maxETag || etag[0] != '"' || etag[len(etag)-1] != '"' {
		return ""
	}
	return etag
}

// nextURL resolves the rel="next" target of the Link header values of the
// page at u: "" for none.
func nextURL(u string, links []string) (string, error) {
	next := NextLink(links)
	if next == "" {
		return "", nil
	}
	base, _ := url.Parse(u)
	ref, err := url.Parse(next)
	if err != nil {
		return "", errors.New("the Link header names an invalid next URL")
	}
	abs := base.ResolveReference(ref)
	if abs.Scheme != "https" && abs.Scheme != "http" {
		return "", errors.New("the next page is not http(s)")
	}
	return abs.String(), nil
}

// NextLink returns the target of rel="next" among Link header values, or "".
func NextLink(values []string) string {
	for _, v := range values {
		for _, link := range splitLinks(v) {
			link = strings.TrimSpace(link)
			if !strings.HasPrefix(link, "<") {
				continue
			}
			end := strings.Index(link, ">")
			if end < 0 {
				continue
			}
			target := link[1:end]
			for _, param := range strings.Split(link[end+1:], ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(param), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(val), `"`)) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
		}
	}
	return ""
}

// splitLinks splits a Link header on the commas between links, not those
// inside <...> or quotes.
func splitLinks(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i, r := range v {
		switch {
		case r == '"':
			quoted = !quoted
		case r == '<' && !quoted:
			depth++
		case r == '>' && !quoted && depth > 0:
			depth--
		case r == ',' && !quoted && depth == 0:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}
