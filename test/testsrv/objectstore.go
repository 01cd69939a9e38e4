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

package testsrv

import (
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// ObjectStore stands in for the object store a customer's export is PUT
// to (a pre-signed URL's host): it keeps every object PUT to it, by path,
// and serves it back to a GET.
type ObjectStore struct {
	// URL is the store's base URL, http://host:port.
	URL string
	// OnPut, when set, is called with each stored object.
	OnPut func(path string, body []byte)
	// ReadToken, when set, is the bearer token a GET must carry.
	ReadToken string
	// WriteToken, when set, is the bearer token a PUT must carry.
	WriteToken string

	srv     *http.Server
	mu      sync.Mutex
	objects map[string][]byte
}

// maxObject bounds one object; the exports of the tests are small.
const maxObject = 256 << 20

// NewObjectStore starts a store on host (an IP address of this machine);
// Close stops it.
func NewObjectStore(host string) (*ObjectStore, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, err
	}
	s := &ObjectStore{URL: "http://" + l.Addr().String(), objects: map[string][]byte{}}
	s.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(s.serve)}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *ObjectStore) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		// Reads need the token Put stored objects under, when one is set.
		if s.ReadToken != "" && r.Header.Get("Authorization") != "Bearer "+s.ReadToken {
			http.Error(w, "no or the wrong token", http.StatusUnauthorized)
			return
		}
		b, ok := s.Get(r.URL.Path)
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
		return
	}
	if r.Method != http.MethodPut {
		http.Error(w, "PUT and GET only", http.StatusMethodNotAllowed)
		return
	}
	if s.WriteToken != "" && r.Header.Get("Authorization") != "Bearer "+s.WriteToken {
		http.Error(w, "no or the wrong token", http.StatusUnauthorized)
		return
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxObject+1))
	if err != nil || len(b) > maxObject {
		http.Error(w, "unreadable or too large", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.objects[r.URL.Path] = b
	s.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
	if s.OnPut != nil {
		s.OnPut(r.URL.Path, b)
	}
}

// Put stores an object, as a PUT would.
func (s *ObjectStore) Put(path string, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[path] = b
}

// Get returns the object stored at path.
func (s *ObjectStore) Get(path string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[path]
	return b, ok
}

// Close stops the store.
func (s *ObjectStore) Close() { _ = s.srv.Close() }
