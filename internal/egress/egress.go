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

// Package egress guards every connection the operator makes on behalf of a
// withdrawal: to customers' webhooks, the paged HTTP recipient source and
// SMTP servers. Their addresses come from withdrawal authors and from
// recipient rows, which are untrusted, so the operator must not become a
// way into what only it can reach: the API server, cloud metadata, the
// cluster's Services, its own loopback.
//
// The check runs in the dialer, on the address actually connected to after
// DNS resolution, so a name cannot resolve to an allowed address when it is
// checked and a forbidden one when it is dialled.
package egress

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrRefused is wrapped by every refusal.
var ErrRefused = errors.New("egress refused")

// forbidden are the ranges refused unless allow-listed: addresses that
// reach this host, its link, private networks and the carrier-grade NAT
// range (where cluster Pods and Services usually live), and addresses that
// are not unicast destinations at all.
var forbidden = mustPrefixes(
	"0.0.0.0/8",      // "this network"
	"10.0.0.0/8",     // private
	"100.64.0.0/10",  // carrier-grade NAT
	"127.0.0.0/8",    // loopback
	"169.254.0.0/16", // link-local, including cloud metadata (169.254.169.254)
	"172.16.0.0/12",  // private
	"192.0.0.0/24",   // IETF protocol assignments
	"192.168.0.0/16", // private
	"198.18.0.0/15",  // benchmarking
	"224.0.0.0/4",    // multicast
	"240.0.0.0/4",    // reserved, and the broadcast address
	"::/128",         // unspecified
	"::1/128",        // loopback
	"fc00::/7",       // unique local
	"fe80::/10",      // link-local
	"ff00::/8",       // multicast
	"64:ff9b:1::/48", // local-use IPv4/IPv6 translation
	"2001:db8::/32",  // documentation
	"100::/64",       // discard-only
)

// Policy says where the operator may connect. The zero Policy refuses the
// forbidden ranges and plain http.
type Policy struct {
	// Allow opens networks that are otherwise refused, for receivers that
	// really live inside: a mail relay in the cluster, say.
	Allow []netip.Prefix
	// Deny refuses more networks, such as a cluster's public Pod or
	// Service ranges. Allow does not open them.
	Deny []netip.Prefix
	// AllowHTTP lets plain http:// URLs through; only https otherwise.
	AllowHTTP bool
	// Timeout bounds each dial; zero means 30 s.
	Timeout time.Duration
}

// Parse builds a Policy from comma-separated CIDRs, as the operator's flags
// give them.
func Parse(allow, deny string, allowHTTP bool) (*Policy, error) {
	p := &Policy{AllowHTTP: allowHTTP}
	var err error
	if p.Allow, err = parsePrefixes(allow); err != nil {
		return nil, fmt.Errorf("egress allow list: %w", err)
	}
	if p.Deny, err = parsePrefixes(deny); err != nil {
		return nil, fmt.Errorf("egress deny list: %w", err)
	}
	return p, nil
}

// Check reports whether ip may be connected to. An IPv6 address that
// carries an IPv4 address to a translator or a tunnel (NAT64, 6to4,
// IPv4-compatible, Teredo) is judged by the IPv4 address it reaches.
func (p *Policy) Check(ip netip.Addr) error {
	ip = ip.Unmap()
	if !ip.IsValid() {
		return fmt.Errorf("%w: not an IP address", ErrRefused)
	}
	if v4, ok := embeddedIPv4(ip); ok {
		if err := p.Check(v4); err != nil {
			return fmt.Errorf("%s carries %s: %w", ip, v4, err)
		}
		return nil
	}
	if p != nil {
		for _, d := range p.Deny {
			if d.Contains(ip) {
				return fmt.Errorf("%w: %s is in the denied range %s", ErrRefused, ip, d)
			}
		}
		for _, a := range p.Allow {
			if a.Contains(ip) {
				return nil
			}
		}
	}
	for _, f := range forbidden {
		if f.Contains(ip) {
			return fmt.Errorf("%w: %s is a loopback, link-local, private or otherwise internal address (allow it with --egress-allow-cidrs)", ErrRefused, ip)
		}
	}
	return nil
}

// The IPv6 prefixes whose addresses carry an IPv4 address that a
// translator or a tunnel delivers to.
var (
	nat64      = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052's well-known prefix: the last 32 bits
	sixToFour  = netip.MustParsePrefix("2002::/16")    // RFC 3056: bits 16 to 48
	compatible = netip.MustParsePrefix("::/96")        // RFC 4291's deprecated IPv4-compatible: the last 32 bits
	teredo     = netip.MustParsePrefix("2001::/32")    // RFC 4380: the client's address, inverted, in the last 32 bits
)

// embeddedIPv4 returns the IPv4 address ip carries, if it is of one of the
// prefixes above. :: and ::1 are not IPv4-compatible addresses.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	last := [4]byte{b[12], b[13], b[14], b[15]}
	switch {
	case nat64.Contains(ip):
		return netip.AddrFrom4(last), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	case teredo.Contains(ip):
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), true
	case compatible.Contains(ip) && ip != netip.IPv6Unspecified() && ip != netip.IPv6Loopback():
		return netip.AddrFrom4(last), true
	}
	return netip.Addr{}, false
}

// CheckURL reports whether a URL may be requested: https, unless plain
// http is allowed, and a host. Its address is checked when it is dialled.
func (p *Policy) CheckURL(u *url.URL) error {
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && p != nil && p.AllowHTTP:
	case u.Scheme == "http":
		return fmt.Errorf("%w: %s:// is not https (allow it with --egress-allow-http)", ErrRefused, u.Scheme)
	default:
		return fmt.Errorf("%w: the scheme %q is not http(s)", ErrRefused, u.Scheme)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%w: the URL has no host", ErrRefused)
	}
	return nil
}

// Dialer is a net.Dialer that refuses what the policy forbids.
func (p *Policy) Dialer() *net.Dialer {
	timeout := 30 * time.Second
	if p != nil && p.Timeout > 0 {
		timeout = p.Timeout
	}
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: p.control}
}

// control runs after DNS resolution, before the connection is made.
func (p *Policy) control(network, address string, _ syscall.RawConn) error {
	if !strings.HasPrefix(network, "tcp") {
		return fmt.Errorf("%w: network %s", ErrRefused, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrRefused, address, err)
	}
	return p.Check(ap.Addr())
}

// SameOrigin reports whether next has the scheme, host and port of first:
// a redirect or a next-page link may not carry the request (and the
// headers sent with it) anywhere else.
func SameOrigin(first, next *url.URL) bool {
	return strings.EqualFold(first.Scheme, next.Scheme) && strings.EqualFold(first.Host, next.Host)
}

func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return nil, fmt.Errorf("%q is neither a CIDR nor an IP address", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// Loopback is a policy that also allows this machine's loopback addresses,
// for tests whose receivers listen there.
func Loopback() *Policy {
	return &Policy{Allow: mustPrefixes("127.0.0.0/8", "::1/128")}
}
