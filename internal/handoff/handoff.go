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

// Package handoff gives each customer a personal, expiring download link
// to their own archive and keeps the record of who used it.
//
// A link is the endpoint's URL with a token: an HMAC-SHA256, under the
// installation's handoff key, of the withdrawal's UID and the customer's
// id. Only holders of the key can make one, the same customer always gets
// the same link (a notice sent twice carries the same one), and the token
// says nothing about whose it is. The endpoint (package handoff/endpoint)
// recomputes the tokens of every customer with an archive, so nothing
// secret is stored next to the archives.
//
// Fetches are recorded in ConfigMaps of the installation's own namespace,
// 256 per withdrawal, keyed by a hash of the customer id: the endpoint
// may write there and nowhere else.
package handoff

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/keysecret"
)

// PathPrefix is where the endpoint serves links: PathPrefix + token.
const PathPrefix = "/v1/"

// KeySecretKey is the key of the handoff key Secret that holds the key.
const KeySecretKey = keysecret.DataKey

// tokenDomain separates these MACs from any other use of the key.
const tokenDomain = "region-withdrawal-operator/handoff/v1"

// TokenLength is the length of a token: 32 bytes in unpadded base64url.
const TokenLength = 43

// Key is the installation's handoff key.
type Key []byte

// Token is the customer's token in the withdrawal whose UID is uid.
func (k Key) Token(uid types.UID, customer string) string {
	m := hmac.New(sha256.New, k)
	m.Write([]byte(tokenDomain))
	m.Write([]byte{0})
	m.Write([]byte(uid))
	m.Write([]byte{0})
	m.Write([]byte(customer))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Links makes customers' links.
type Links struct {
	// BaseURL is the endpoint's public URL, without PathPrefix.
	BaseURL string
	Key     Key
	// MaxExpiry, when set, caps how long after the cutoff any link works,
	// whatever spec.export.handoff.expiresAfter asks (--handoff-max-expiry).
	MaxExpiry time.Duration
}

// Link is the customer's link in rw, and when it expires. It is "" when
// rw asks for no links.
func (l *Links) Link(rw *v1.RegionWithdrawal, customer string) (string, time.Time) {
	if l == nil || rw.Spec.Export == nil || rw.Spec.Export.Handoff == nil || customer == "" {
		return "", time.Time{}
	}
	// A revoked link is not sent again (an unreadable list sends none).
	if revoked, err := Revoked(rw); err != nil || revoked[customer] {
		return "", time.Time{}
	}
	return strings.TrimSuffix(l.BaseURL, "/") + PathPrefix + l.Key.Token(rw.UID, customer), Expiry(rw, l.MaxExpiry)
}

// Expiry is when rw's links stop working: spec.export.handoff's expiry
// after the cutoff, at most max after it when max is set.
func Expiry(rw *v1.RegionWithdrawal, max time.Duration) time.Time {
	at := rw.Spec.Export.Handoff.HandoffExpiry(rw.Spec.Cutoff.Time)
	if limit := rw.Spec.Cutoff.Add(max); max > 0 && at.After(limit) {
		return limit
	}
	return at
}

// CheckBaseURL refuses a public URL that is not an absolute http(s) URL
// without a query, fragment or credentials.
func CheckBaseURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return err
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%q: want an https URL", s)
	case u.Host == "":
		return fmt.Errorf("%q: no host", s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q: a public URL has no credentials, query or fragment", s)
	}
	return nil
}

// EnsureKey reads the handoff key from the Secret ns/name, creating the
// Secret with a random key if there is none.
func EnsureKey(ctx context.Context, c client.Client, ns, name string) (Key, error) {
	k, err := keysecret.Ensure(ctx, c, ns, name, "handoff")
	return Key(k), err
}

// ReadKey reads the handoff key from the Secret ns/name.
func ReadKey(ctx context.Context, r client.Reader, ns, name string) (Key, error) {
	k, err := keysecret.Read(ctx, r, ns, name)
	return Key(k), err
}

// Fetch records records. They live in the installation's namespace.
const (
	// LabelRecord marks the fetch records, so that one list finds them.
	LabelRecord   = "withdrawal.ops.dev/record"
	RecordFetches = "handoff-fetches"
	// Shards is how many records a withdrawal has: 256 of up to 1 MiB, at
	// about 125 bytes a customer, hold about two million customers'
	// fetches.
	Shards = 256
	// Annotations name the withdrawal a record belongs to.
	AnnotationWithdrawalNamespace = "withdrawal.ops.dev/withdrawal-namespace"
	AnnotationWithdrawalName      = "withdrawal.ops.dev/withdrawal-name"
)

// CustomerKey is the record key of a customer's fetches, and its shard: a
// hash, so that ids of any shape make valid ConfigMap keys and no record
// holds a customer id.
func CustomerKey(customer string) (key string, shard int) {
	sum := sha256.Sum256([]byte(tokenDomain + "\x00" + customer))
	return hex.EncodeToString(sum[:16]), int(sum[0])
}

// RecordName is the ConfigMap of shard's fetches in the withdrawal with
// this UID.
func RecordName(uid types.UID, shard int) string {
	return fmt.Sprintf("handoff-%s-%02x", uid, shard)
}

// Fetch is a customer's record.
type Fetch struct {
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// Count is how many fetches were recorded; a fetch whose answer was
	// lost and that the customer repeated counts twice.
	Count int64 `json:"count"`
}

// Merge adds o to f.
func (f Fetch) Merge(o Fetch) Fetch {
	if f.Count == 0 {
		return o
	}
	if o.First.Before(f.First) {
		f.First = o.First
	}
	if o.Last.After(f.Last) {
		f.Last = o.Last
	}
	f.Count += o.Count
	return f
}

// Fetches are a withdrawal's recorded fetches by CustomerKey.
type Fetches map[string]Fetch

// Fetched reports whether the customer has fetched their archive.
func (fs Fetches) Fetched(customer string) bool {
	k, _ := CustomerKey(customer)
	_, ok := fs[k]
	return ok
}

// Last is the latest fetch.
func (fs Fetches) Last() time.Time {
	var last time.Time
	for _, f := range fs {
		if f.Last.After(last) {
			last = f.Last
		}
	}
	return last
}

// Selector selects the fetch records of the withdrawal with this UID.
func Selector(uid types.UID) client.MatchingLabels {
	return client.MatchingLabels{LabelRecord: RecordFetches, executor.LabelWithdrawalUID: string(uid)}
}

// ReadFetches reads the withdrawal's fetch records from namespace ns, in
// one list.
func ReadFetches(ctx context.Context, r client.Reader, ns string, uid types.UID) (Fetches, error) {
	var list corev1.ConfigMapList
	if err := r.List(ctx, &list, client.InNamespace(ns), Selector(uid)); err != nil {
		return nil, fmt.Errorf("listing the handoff fetch records: %w", err)
	}
	out := Fetches{}
	for i := range list.Items {
		if err := decode(&list.Items[i], out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func decode(cm *corev1.ConfigMap, into Fetches) error {
	for k, v := range cm.Data {
		var f Fetch
		if err := json.Unmarshal([]byte(v), &f); err != nil {
			return fmt.Errorf("ConfigMap %s, key %s: %w", cm.Name, k, err)
		}
		into[k] = into[k].Merge(f)
	}
	return nil
}
