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

package egress

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"testing"
)

func TestCheck(t *testing.T) {
	open := &Policy{Allow: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}, Deny: []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24"), netip.MustParsePrefix("203.0.113.0/24")}}
	tests := []struct {
		ip     string
		policy *Policy
		ok     bool
	}{
		{"93.184.216.34", nil, true},
		{"2606:2800:220:1::1", nil, true},
		{"127.0.0.1", nil, false},
		{"::1", nil, false},
		{"::ffff:127.0.0.1", nil, false}, // IPv4-mapped loopback
		{"169.254.169.254", nil, false},  // cloud metadata
		{"10.96.0.1", nil, false},        // a typical Service address
		{"100.64.3.4", nil, false},
		{"172.20.0.1", nil, false},
		{"192.168.1.1", nil, false},
		{"fd00::1", nil, false},
		{"fe80::1", nil, false},
		{"0.0.0.0", nil, false},
		// IPv6 addresses that carry an IPv4 one to a translator or tunnel
		// are judged by the IPv4 address they reach.
		{"64:ff9b::7f00:1", nil, false},                      // NAT64 to 127.0.0.1
		{"64:ff9b::a9fe:a9fe", nil, false},                   // NAT64 to the cloud metadata address
		{"64:ff9b::5db8:d822", nil, true},                    // NAT64 to 93.184.216.34
		{"2002:a00:1::1", nil, false},                        // 6to4 to 10.0.0.1
		{"2002:5db8:d822::1", nil, true},                     // 6to4 to a public address
		{"::7f00:1", nil, false},                             // IPv4-compatible 127.0.0.1
		{"::a60:1", nil, false},                              // IPv4-compatible 10.96.0.1
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", nil, false}, // Teredo to 127.0.0.1
		{"2001:0:4136:e378:8000:63bf:a247:27dd", nil, true},  // Teredo to 93.184.216.34
		{"64:ff9b::a01:909", open, true},                     // NAT64 to an allow-listed 10.1.9.9
		{"64:ff9b::a01:203", open, false},                    // NAT64 to a denied 10.1.2.3
		{"10.1.9.9", open, true},                             // allow-listed
		{"10.1.2.3", open, false},                            // denied inside the allowed range
		{"203.0.113.7", open, false},                         // denied although public
		{"127.0.0.1", open, false},
	}
	for _, tt := range tests {
		err := tt.policy.Check(netip.MustParseAddr(tt.ip))
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrRefused)) {
			t.Errorf("Check(%s) = %v, want allowed %v", tt.ip, err, tt.ok)
		}
	}
}

func TestCheckURL(t *testing.T) {
	for _, tt := range []struct {
		url       string
		allowHTTP bool
		ok        bool
	}{
		{"https://hooks.example.com/n", false, true},
		{"http://hooks.example.com/n", false, false},
		{"http://hooks.example.com/n", true, true},
		{"ftp://hooks.example.com/n", true, false},
		{"https:///n", false, false},
	} {
		u, _ := url.Parse(tt.url)
		err := (&Policy{AllowHTTP: tt.allowHTTP}).CheckURL(u)
		if (err == nil) != tt.ok {
			t.Errorf("CheckURL(%s, allowHTTP %v) = %v, want allowed %v", tt.url, tt.allowHTTP, err, tt.ok)
		}
	}
}

// TestDialerRefusesWhatResolvesInside dials a real listener on loopback,
// standing in for a forbidden destination, by address and by a name that
// resolves to it; then opens loopback with the allow list.
func TestDialerRefusesWhatResolvesInside(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ctx := context.Background()
	for _, host := range []string{"127.0.0.1", "localhost"} {
		c, err := (*Policy)(nil).Dialer().DialContext(ctx, "tcp", net.JoinHostPort(host, port))
		if err == nil {
			c.Close()
			t.Fatalf("dialled %s through the default policy", host)
		}
		if !errors.Is(err, ErrRefused) {
			t.Fatalf("dialling %s: %v, want ErrRefused", host, err)
		}
	}
	allow, err := Parse("127.0.0.1/32, ::1", "", false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := allow.Dialer().DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		t.Fatalf("dialling an allow-listed address: %v", err)
	}
	c.Close()
}

func TestSameOrigin(t *testing.T) {
	a, _ := url.Parse("https://src.example.com/page/1")
	for _, tt := range []struct {
		next string
		want bool
	}{
		{"https://src.example.com/page/2?after=9", true},
		{"https://SRC.example.com/p", true},
		{"http://src.example.com/page/2", false},
		{"https://src.example.com:8443/page/2", false},
		{"https://evil.example.com/page/2", false},
	} {
		b, _ := url.Parse(tt.next)
		if got := SameOrigin(a, b); got != tt.want {
			t.Errorf("SameOrigin(%s, %s) = %v, want %v", a, b, got, tt.want)
		}
	}
	if _, err := Parse("not-a-cidr", "", false); err == nil {
		t.Error("Parse accepted a bad CIDR")
	}
}
