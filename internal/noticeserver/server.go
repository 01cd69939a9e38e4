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

// Package noticeserver is the HTTP server that tells a withdrawn region's
// users why the service is gone: it answers every request with 451
// Unavailable For Legal Reasons as RFC 7725 describes, naming the region,
// the cutoff and, in a Link header, who caused the block. It ships in the
// operator's binary as the "notice-backend" subcommand, so a withdrawal
// needs no other image to serve a correct 451.
package noticeserver

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// CacheControl is sent with every 451. It is short on purpose: a cancelled
// withdrawal restores the routes, and caches must not keep serving the
// notice for long after that.
const CacheControl = "max-age=300"

// Config is what the notice says.
type Config struct {
	// Region is the ISO 3166-1 code of the withdrawn region.
	Region string
	// Cutoff is when the service stopped in the region.
	Cutoff time.Time
	// BlockedBy identifies who caused the block, sent in the Link header.
	BlockedBy string
	// Message is a short explanation shown in the body.
	Message string
}

// Handler answers 451 to every path but /healthz.
func Handler(cfg Config) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/", &notice{cfg: cfg})
	return mux
}

type notice struct{ cfg Config }

// body is the JSON form of the notice.
type body struct {
	Status    int    `json:"status"`
	Error     string `json:"error"`
	Region    string `json:"region"`
	Cutoff    string `json:"cutoff,omitempty"`
	Message   string `json:"message,omitempty"`
	BlockedBy string `json:"blockedBy,omitempty"`
}

var page = template.Must(template.New("451").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Unavailable For Legal Reasons</title></head>
<body>
<h1>Unavailable For Legal Reasons</h1>
<p>This service is no longer available in region {{.Region}}{{if .Cutoff}} since {{.Cutoff}}{{end}}.</p>
{{if .Message}}<p>{{.Message}}</p>{{end}}
{{if .BlockedBy}}<p>Blocked by: <a href="{{.BlockedBy}}">{{.BlockedBy}}</a></p>{{end}}
</body>
</html>
`))

func (n *notice) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b := body{
		Status:    http.StatusUnavailableForLegalReasons,
		Error:     http.StatusText(http.StatusUnavailableForLegalReasons),
		Region:    n.cfg.Region,
		Message:   n.cfg.Message,
		BlockedBy: n.cfg.BlockedBy,
	}
	if !n.cfg.Cutoff.IsZero() {
		b.Cutoff = n.cfg.Cutoff.UTC().Format(time.RFC3339)
	}
	h := w.Header()
	if n.cfg.BlockedBy != "" {
		h.Set("Link", fmt.Sprintf("<%s>; rel=\"blocked-by\"", n.cfg.BlockedBy))
	}
	h.Set("Cache-Control", CacheControl)
	h.Set("Vary", "Accept")
	if wantsJSON(r.Header.Get("Accept")) {
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnavailableForLegalReasons)
		if r.Method != http.MethodHead {
			_ = json.NewEncoder(w).Encode(b)
		}
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusUnavailableForLegalReasons)
	if r.Method != http.MethodHead {
		_ = page.Execute(w, b)
	}
}

// wantsJSON reports whether the Accept header prefers JSON to HTML. Browsers
// send text/html first; API clients send application/json or a +json type.
// Without a preference the answer is HTML, which people and curl can read.
func wantsJSON(accept string) bool {
	bestJSON, bestHTML := -1.0, -1.0
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if _, err := fmt.Sscanf(v, "%g", &q); err != nil {
				continue
			}
		}
		switch {
		case mt == "application/json" || strings.HasSuffix(mt, "+json"):
			bestJSON = max(bestJSON, q)
		case mt == "text/html" || mt == "application/xhtml+xml":
			bestHTML = max(bestHTML, q)
		}
	}
	return bestJSON > 0 && bestJSON > bestHTML
}

// Main runs the notice backend until SIGTERM or SIGINT.
func Main(args []string) error {
	listen, cfg, err := ParseArgs(args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", listen, err)
	}
	return Serve(ctx, ln, cfg)
}

// ParseArgs reads the subcommand's flags: the address to listen on and what
// the notice says.
func ParseArgs(args []string) (string, Config, error) {
	fs := flag.NewFlagSet("notice-backend", flag.ContinueOnError)
	listen := fs.String("listen", ":8080", "address to serve on")
	region := fs.String("region", "", "ISO 3166-1 alpha-2 code of the withdrawn region")
	cutoff := fs.String("cutoff", "", "the cutoff, RFC 3339")
	blockedBy := fs.String("blocked-by", "", "URL of the entity that caused the block (Link rel=blocked-by)")
	message := fs.String("message", "", "a short explanation shown in the notice")
	if err := fs.Parse(args); err != nil {
		return "", Config{}, err
	}
	cfg := Config{Region: *region, BlockedBy: *blockedBy, Message: *message}
	if *cutoff != "" {
		t, err := time.Parse(time.RFC3339, *cutoff)
		if err != nil {
			return "", Config{}, fmt.Errorf("parsing --cutoff: %w", err)
		}
		cfg.Cutoff = t
	}
	if cfg.Region == "" {
		return "", Config{}, errors.New("--region is required")
	}
	if err := checkLink(cfg.BlockedBy); err != nil {
		return "", Config{}, fmt.Errorf("--blocked-by: %w", err)
	}
	return *listen, cfg, nil
}

// checkLink refuses a blocked-by link that could break out of the Link
// header or the page, or hand every client in the region credentials or
// a script: it must be a plain http(s) URL with a host.
func checkLink(link string) error {
	if link == "" {
		return nil
	}
	if strings.ContainsAny(link, "<>\"' \t\r\n") {
		return errors.New("the URL holds a space, a quote or an angle bracket")
	}
	u, err := url.Parse(link)
	switch {
	case err != nil:
		return err
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("the scheme %q is not http(s)", u.Scheme)
	case u.Host == "":
		return errors.New("the URL has no host")
	case u.User != nil:
		return errors.New("the URL carries user info")
	}
	return nil
}

// The backend answers a whole region's clients after the cutoff, on the
// Internet: a client that sends its request slowly, or holds a connection
// open doing nothing, must not hold a connection for long.
var (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 10 * time.Second
	idleTimeout       = 60 * time.Second
)

// maxHeaderBytes bounds a request's headers; a notice needs none of them
// beyond Accept.
const maxHeaderBytes = 16 << 10

// Serve serves the notice on ln until ctx ends, then shuts down gracefully.
func Serve(ctx context.Context, ln net.Listener, cfg Config) error {
	srv := &http.Server{Handler: Handler(cfg), ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
