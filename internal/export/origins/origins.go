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

// Package origins is the installation's allow-list of export store
// origins: the only places an export may report its archive at, the export
// step may read a manifest or an archive from (sending the manifests'
// headers, a credential, along), and the handoff endpoint may send a
// customer to. The locations come from what others write (an exporter
// Job's result, the manifests it stored), so they are checked against a
// list only the installation sets.
//
// An origin is a scheme and a host, with a port when it is not the
// scheme's default: https://objects.example.com, http://10.0.0.5:9000. For
// object-store schemes such as s3:// and gs:// the host is the bucket:
// s3://exports-bucket. The first label of a host may be the wildcard "*",
// which stands for exactly one label: https://*.blob.example.net allows
// https://acct.blob.example.net but neither https://blob.example.net nor
// https://a.b.blob.example.net. file:// allows local paths: file:///x and
// locations without a scheme (/exports/a.tar.gz).
//
// The package is apart from package export so that the handoff endpoint,
// which package export imports, can use it too; package export names the
// type export.Origins.
package origins

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/ops-dev/region-withdrawal-operator/internal/text"
)

// Flag is the command-line flag that sets the list; messages name it, so
// that whoever reads a refusal knows what to change.
const Flag = "--export-allowed-origins"

// maxShown bounds a location in a message, which must leave room for the
// list.
const maxShown = 256

// ErrNotAllowed is a location outside the allow-list, for errors.Is.
var ErrNotAllowed = errors.New("not under an allowed store origin")

// Origins is an allow-list of store origins. A nil or empty list is no
// allow-list: every location is allowed.
type Origins struct {
	entries []entry
}

// entry is one origin of the list.
type entry struct {
	scheme   string
	host     string // lower case, without brackets, without the "*." of a wildcard
	wildcard bool
	port     string // "" when the entry names none
}

func (e entry) String() string {
	if e.scheme == "file" {
		return "file://"
	}
	h := e.host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	if e.wildcard {
		h = "*." + h
	}
	if e.port != "" {
		h += ":" + e.port
	}
	return e.scheme + "://" + h
}

// Parse reads a comma-separated list of origins, such as
// "https://objects.example.com,s3://exports-bucket,https://*.blob.example.net".
// Blank items are skipped; a blank list is no allow-list. An entry with
// credentials, a path, a query, a fragment, a wildcard anywhere but as the
// whole first label, or a malformed host or port is refused, naming it.
func Parse(list string) (*Origins, error) {
	o := &Origins{}
	for i, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		e, err := parseEntry(item)
		if err != nil {
			return nil, fmt.Errorf("%s: entry %d, %q: %w", Flag, i+1, text.Truncate(item, 200), err)
		}
		o.entries = append(o.entries, e)
	}
	return o, nil
}

func parseEntry(s string) (entry, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return entry{}, errors.New("want scheme://host, such as https://objects.example.com or s3://bucket")
	}
	scheme = strings.ToLower(scheme)
	if !validScheme(scheme) {
		return entry{}, fmt.Errorf("%q is not a URL scheme", scheme)
	}
	if strings.ContainsAny(rest, "?#") {
		return entry{}, errors.New("an origin has no query or fragment")
	}
	if scheme == "file" {
		if rest != "" && rest != "/" {
			return entry{}, errors.New("a file origin names no host or path: write file://")
		}
		return entry{scheme: "file"}, nil
	}
	authority, path, _ := strings.Cut(rest, "/")
	if path != "" {
		return entry{}, errors.New("an origin has no path: write scheme://host[:port]")
	}
	if strings.Contains(authority, "@") {
		return entry{}, errors.New("an origin has no credentials")
	}
	e := entry{scheme: scheme}
	if h, ok := strings.CutPrefix(authority, "*."); ok {
		e.wildcard, authority = true, h
	}
	if strings.Contains(authority, "*") {
		return entry{}, errors.New(`a wildcard is only "*." at the start of the host`)
	}
	host, port, err := splitHostPort(authority)
	if err != nil {
		return entry{}, err
	}
	if port != "" {
		if scheme != "http" && scheme != "https" {
			return entry{}, fmt.Errorf("a %s origin has no port: its host is a bucket", scheme)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return entry{}, fmt.Errorf("port %q is not a number from 1 to 65535", port)
		}
		if port == defaultPort(scheme) {
			port = "" // https://h:443 is https://h
		}
	}
	e.host, e.port = host, port
	if ip := net.ParseIP(host); ip != nil {
		if e.wildcard {
			return entry{}, errors.New("a wildcard goes with a host name, not an IP address")
		}
		e.host = ip.String()
		return e, nil
	}
	if err := validHostName(host); err != nil {
		return entry{}, err
	}
	return e, nil
}

// splitHostPort splits host[:port] or [ipv6][:port], lower-casing the host
// and dropping one trailing dot.
func splitHostPort(s string) (host, port string, err error) {
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return "", "", errors.New("an IPv6 address without its closing bracket")
		}
		host, rest := s[1:end], s[end+1:]
		if rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok || p == "" {
				return "", "", fmt.Errorf("%q after the IPv6 address is not a port", rest)
			}
			port = p
		}
		if net.ParseIP(host) == nil || !strings.Contains(host, ":") {
			return "", "", fmt.Errorf("%q is not an IPv6 address", host)
		}
		return strings.ToLower(host), port, nil
	}
	host = s
	switch strings.Count(s, ":") {
	case 0:
	case 1:
		host, port, _ = strings.Cut(s, ":")
		if port == "" {
			return "", "", errors.New("a colon without a port")
		}
	default:
		return "", "", errors.New("an IPv6 address goes in brackets: [2001:db8::1]")
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" {
		return "", "", errors.New("no host")
	}
	return host, port, nil
}

// validHostName accepts DNS names and bucket names: labels of letters,
// digits, '-' and '_', separated by single dots.
func validHostName(h string) error {
	if len(h) > 253 {
		return errors.New("the host is longer than 253 characters")
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" {
			return fmt.Errorf("%q has an empty label", h)
		}
		if len(label) > 63 {
			return fmt.Errorf("%q has a label longer than 63 characters", h)
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("%q is not a host name (%q)", h, c)
			}
		}
	}
	return nil
}

func validScheme(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func defaultPort(scheme string) string {
	switch scheme {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// Configured reports whether o is an allow-list: not nil and not empty.
func (o *Origins) Configured() bool { return o != nil && len(o.entries) > 0 }

// String is the list as Parse reads it: its entries, normalised, separated
// by commas. It is "" when o is not configured.
func (o *Origins) String() string {
	if !o.Configured() {
		return ""
	}
	s := make([]string, len(o.entries))
	for i, e := range o.entries {
		s[i] = e.String()
	}
	return strings.Join(s, ",")
}

// Check returns nil when rawURL is under one of o's origins, or when o is
// not configured; otherwise a *NotAllowedError, which wraps ErrNotAllowed
// and names the location without its credentials, query or fragment.
//
// A location without a scheme or host, such as /exports/a.tar.gz, is a
// local file: allowed by file://, as are file: URLs whose host is empty or
// localhost. A location whose scheme is http or https and whose port is the
// scheme's default matches an origin without a port.
func (o *Origins) Check(rawURL string) error {
	if !o.Configured() {
		return nil
	}
	if o.allows(rawURL) {
		return nil
	}
	return &NotAllowedError{Location: Redact(rawURL), Allowed: o.String()}
}

func (o *Origins) allows(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil || u.Opaque != "" {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme == "" {
		if u.Host != "" || rawURL == "" {
			return false // //host/path is not a local path
		}
		scheme = "file"
	}
	if scheme == "file" {
		if h := strings.ToLower(u.Host); h != "" && h != "localhost" {
			return false
		}
		for _, e := range o.entries {
			if e.scheme == "file" {
				return true
			}
		}
		return false
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "" || u.User != nil {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	}
	port := u.Port()
	if port == defaultPort(scheme) {
		port = ""
	}
	if port == "" && strings.HasSuffix(u.Host, ":") {
		return false // "host:" with an empty port
	}
	for _, e := range o.entries {
		if e.scheme != scheme || e.port != port {
			continue
		}
		if !e.wildcard && host == e.host {
			return true
		}
		if label, ok := strings.CutSuffix(host, "."+e.host); e.wildcard && ok && label != "" && !strings.Contains(label, ".") {
			return true
		}
	}
	return false
}

// NotAllowedError is a location outside the allow-list.
type NotAllowedError struct {
	// Location is the location without credentials, query or fragment.
	Location string
	// Allowed is the allow-list, as String gives it.
	Allowed string
}

func (e *NotAllowedError) Error() string {
	return fmt.Sprintf("export location %q is not under an allowed store origin (%s: %s)",
		e.Location, Flag, strings.ReplaceAll(e.Allowed, ",", ", "))
}

// Unwrap makes errors.Is(err, ErrNotAllowed) true.
func (e *NotAllowedError) Unwrap() error { return ErrNotAllowed }

// Redact is rawURL as it may be shown: without user info, query or
// fragment (a token or a pre-signed signature is a credential), at most
// maxShown bytes long.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	switch {
	case err == nil && u.Opaque != "":
		return text.Truncate(u.Scheme+":…", maxShown)
	case err == nil:
		u.User = nil
		u.RawQuery, u.ForceQuery = "", false
		u.Fragment, u.RawFragment = "", ""
		return text.Truncate(u.String(), maxShown)
	}
	// Unparseable: cut what could be a query or fragment, and anything
	// before an '@' in what could be the authority.
	s := rawURL
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.Index(s, "://"); i >= 0 {
		start := i + 3
		end := len(s)
		if j := strings.Index(s[start:], "/"); j >= 0 {
			end = start + j
		}
		if at := strings.LastIndex(s[start:end], "@"); at >= 0 {
			s = s[:start] + s[start+at+1:]
		}
	}
	return text.Truncate(s, maxShown)
}

// Origin is the origin of rawURL (scheme://host[:port], or file:// for a
// local path), for logs that must not hold the rest of a location; "" when
// it has none.
func Origin(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Opaque != "" {
		return ""
	}
	if u.Scheme == "" && u.Host == "" || u.Scheme == "file" {
		return "file://"
	}
	if u.Scheme == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
