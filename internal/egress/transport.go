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
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
)

// ErrNoCertificate is returned for a CA bundle without a PEM certificate.
var ErrNoCertificate = errors.New("the caBundle holds no PEM certificate")

// RootCAs is the system roots plus the PEM certificates in caBundle, or nil
// (the system roots as they are) when caBundle is empty.
func RootCAs(caBundle []byte) (*x509.CertPool, error) {
	if len(caBundle) == 0 {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(caBundle) {
		return nil, ErrNoCertificate
	}
	return pool, nil
}

// Transport is an HTTP transport that dials only what p allows, speaks TLS
// 1.2 or later against RootCAs(caBundle), and ignores proxy settings: a
// proxy would make every connection a connection to the proxy, past the
// policy.
func (p *Policy) Transport(caBundle []byte) (*http.Transport, error) {
	roots, err := RootCAs(caBundle)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = p.Dialer().DialContext
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	return tr, nil
}
