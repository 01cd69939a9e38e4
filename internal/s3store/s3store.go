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

// Package s3store is what the reference exporter and the handoff endpoint
// share about S3 and S3-compatible stores: s3://bucket/key locations, how
// to reach the store (endpoint, region, path-style addressing) and where
// the credentials come from. The client is minio-go's, which signs with
// SigV4 and uploads in parts.
//
// Credentials are looked for where AWS's own tools look, in this order:
// the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN), a shared credentials file (AWS_SHARED_CREDENTIALS_FILE
// and AWS_PROFILE, e.g. a mounted Secret), then a web identity token
// (AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN: IAM roles for service
// accounts), the container or EKS Pod Identity credentials endpoint, and
// the EC2 instance metadata. None found is an error, never an anonymous
// request.
package s3store

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Scheme is the URL scheme of an S3 location.
const Scheme = "s3"

// DefaultEndpoint is Amazon S3's; minio-go picks the region's own host.
const DefaultEndpoint = "https://s3.amazonaws.com"

// DefaultRegion is used when neither the flag nor the environment names one.
const DefaultRegion = "us-east-1"

// ErrNoCredentials is a store to sign for without credentials.
var ErrNoCredentials = errors.New("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_SHARED_CREDENTIALS_FILE (a mounted Secret), or AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN")

// Location is an object in a bucket: s3://bucket/key.
type Location struct {
	Bucket, Key string
}

// IsLocation reports whether s is an s3:// URL.
func IsLocation(s string) bool { return strings.HasPrefix(s, Scheme+"://") }

// ParseLocation reads s3://bucket/key. The key is taken as written (no
// percent-decoding), as the AWS CLI does; it must not be empty, and there
// is no query, fragment or credential.
func ParseLocation(s string) (Location, error) {
	rest, ok := strings.CutPrefix(s, Scheme+"://")
	if !ok {
		return Location{}, fmt.Errorf("%q is not an s3://bucket/key location", s)
	}
	bucket, key, _ := strings.Cut(rest, "/")
	switch {
	case strings.ContainsAny(rest, "?#"):
		return Location{}, fmt.Errorf("s3://%s: an S3 location has no query or fragment", bucket)
	case strings.Contains(bucket, "@"):
		return Location{}, errors.New("an S3 location has no credentials: they come from the environment")
	case key == "":
		return Location{}, fmt.Errorf("s3://%s: no object key after the bucket", bucket)
	}
	if err := s3utils.CheckValidBucketNameStrict(bucket); err != nil {
		return Location{}, fmt.Errorf("s3://%s: %w", bucket, err)
	}
	if err := s3utils.CheckValidObjectName(key); err != nil {
		return Location{}, fmt.Errorf("s3://%s/%s: %w", bucket, key, err)
	}
	return Location{Bucket: bucket, Key: key}, nil
}

func (l Location) String() string { return Scheme + "://" + l.Bucket + "/" + l.Key }

// Config says how to reach a store.
type Config struct {
	// Endpoint is the store's URL, scheme and host: https://s3.amazonaws.com
	// or an S3-compatible store's, such as http://10.0.0.5:8333.
	Endpoint string
	// Region signs the requests; S3-compatible stores mostly take us-east-1.
	Region string
	// PathStyle addresses buckets as endpoint/bucket/key instead of
	// bucket.endpoint/key, as most S3-compatible stores need.
	PathStyle bool
}

// BindFlags adds --s3-endpoint, --s3-region and --s3-path-style to fs. The
// defaults come from the environment variables AWS's tools read:
// AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, and AWS_REGION or
// AWS_DEFAULT_REGION.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Endpoint, "s3-endpoint", firstEnv(DefaultEndpoint, "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
		"URL of the S3 API for s3:// locations, e.g. http://seaweedfs.storage:8333 for an S3-compatible store (default $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, or Amazon S3)")
	fs.StringVar(&c.Region, "s3-region", firstEnv(DefaultRegion, "AWS_REGION", "AWS_DEFAULT_REGION"),
		"region the S3 requests are signed for (default $AWS_REGION, $AWS_DEFAULT_REGION, or us-east-1)")
	fs.BoolVar(&c.PathStyle, "s3-path-style", false, "address buckets as <endpoint>/<bucket>/<key> (most S3-compatible stores) instead of <bucket>.<endpoint host>/<key>")
}

func firstEnv(def string, names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return def
}

// EndpointURL is the endpoint, parsed and checked: http or https, a host,
// nothing else.
func (c Config) EndpointURL() (*url.URL, error) {
	u, err := url.Parse(c.Endpoint)
	switch {
	case err != nil:
		return nil, fmt.Errorf("--s3-endpoint: %w", err)
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("--s3-endpoint %q: want an http(s) URL", c.Endpoint)
	case u.Host == "":
		return nil, fmt.Errorf("--s3-endpoint %q: no host", c.Endpoint)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "":
		return nil, fmt.Errorf("--s3-endpoint %q: only scheme://host[:port], with no credentials, path or query", c.Endpoint)
	}
	return u, nil
}

// Credentials is the chain described in the package comment. iam is the
// HTTP client the web identity, container and instance metadata providers
// use (nil: minio-go's default).
func Credentials(iam *http.Client) *credentials.Credentials {
	return credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{Filename: os.Getenv("AWS_SHARED_CREDENTIALS_FILE")},
		&credentials.IAM{Client: iam},
	})
}

// Client is a client of the store that sends its requests through rt and
// signs them with creds (Credentials(nil) when nil). It fails when creds
// yield none.
func (c Config) Client(rt http.RoundTripper, creds *credentials.Credentials) (*minio.Client, error) {
	u, err := c.EndpointURL()
	if err != nil {
		return nil, err
	}
	if creds == nil {
		creds = Credentials(nil)
	}
	v, err := creds.Get()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoCredentials, err)
	}
	if v.SignerType.IsAnonymous() {
		return nil, ErrNoCredentials
	}
	lookup := minio.BucketLookupAuto
	if c.PathStyle {
		lookup = minio.BucketLookupPath
	}
	region := c.Region
	if region == "" {
		region = DefaultRegion
	}
	return minio.New(u.Host, &minio.Options{
		Creds:     creds,
		Secure:    u.Scheme == "https",
		Transport: rt,
		// A known region: no GetBucketLocation request before each
		// bucket's first use, and presigning is local.
		Region:       region,
		BucketLookup: lookup,
	})
}

// Presigner signs GETs of objects with a client's credentials, locally:
// no request is made.
type Presigner struct {
	Client *minio.Client
}

// PresignGet is a URL that GETs the object at location (s3://bucket/key)
// until expires from now, and has the browser save it under the key's
// last element. The URL is a credential: never log it.
func (p Presigner) PresignGet(ctx context.Context, location string, expires time.Duration) (string, error) {
	l, err := ParseLocation(location)
	if err != nil {
		return "", err
	}
	name := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' || r > 0x7e {
			return '_'
		}
		return r
	}, path.Base(l.Key))
	params := url.Values{"response-content-disposition": {`attachment; filename="` + name + `"`}}
	u, err := p.Client.PresignedGetObject(ctx, l.Bucket, l.Key, expires, params)
	if err != nil {
		return "", fmt.Errorf("pre-signing a GET of s3://%s/...: %w", l.Bucket, err)
	}
	return u.String(), nil
}

// MaxObject bounds an object Bucket.Get reads: a full entry bundle of the
// largest statements is 16 MiB.
const MaxObject = 64 << 20

// Bucket is a bucket under a key prefix, as a store of small objects: what
// the evidence ledger's tiles are kept in.
type Bucket struct {
	Client *minio.Client
	// Name is the bucket's.
	Name string
	// Prefix is put before every object name; it ends in "/" or is empty.
	Prefix string
}

// NewBucket is the bucket of an s3://bucket[/prefix] location.
func NewBucket(c *minio.Client, location string) (*Bucket, error) {
	rest, ok := strings.CutPrefix(location, Scheme+"://")
	if !ok || strings.ContainsAny(rest, "?#@") {
		return nil, fmt.Errorf("%q is not an s3://bucket[/prefix] location", location)
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if err := s3utils.CheckValidBucketNameStrict(bucket); err != nil {
		return nil, fmt.Errorf("%s: %w", location, err)
	}
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		if err := s3utils.CheckValidObjectName(prefix); err != nil {
			return nil, fmt.Errorf("%s: %w", location, err)
		}
		prefix += "/"
	}
	return &Bucket{Client: c, Name: bucket, Prefix: prefix}, nil
}

// Put stores body under name.
func (b *Bucket) Put(ctx context.Context, name string, body []byte) error {
	_, err := b.Client.PutObject(ctx, b.Name, b.Prefix+name, bytes.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true})
	if err != nil {
		return fmt.Errorf("writing s3://%s/%s%s: %w", b.Name, b.Prefix, name, err)
	}
	return nil
}

// Get returns the object under name, or an error wrapping fs.ErrNotExist.
// An object over MaxObject is refused: whoever can write the bucket could
// otherwise have a reader hold anything.
func (b *Bucket) Get(ctx context.Context, name string) ([]byte, error) {
	o, err := b.Client.GetObject(ctx, b.Name, b.Prefix+name, minio.GetObjectOptions{})
	if err == nil {
		defer o.Close()
		var body []byte
		if body, err = io.ReadAll(io.LimitReader(o, MaxObject+1)); err == nil {
			if len(body) > MaxObject {
				return nil, fmt.Errorf("s3://%s/%s%s is over %d bytes", b.Name, b.Prefix, name, MaxObject)
			}
			return body, nil
		}
	}
	// Only a key the bucket does not hold: a bucket that is not there, or
	// a wrong endpoint, is another error.
	if r := minio.ToErrorResponse(err); r.Code == minio.NoSuchKey {
		return nil, fmt.Errorf("s3://%s/%s%s: %w", b.Name, b.Prefix, name, fs.ErrNotExist)
	}
	return nil, fmt.Errorf("reading s3://%s/%s%s: %w", b.Name, b.Prefix, name, err)
}

// MaxList bounds the names List returns: whoever can write the bucket
// could otherwise have a lister hold any number.
const MaxList = 10000

// List returns the names, under the bucket's prefix, of the objects whose
// names start with prefix: at most MaxList of them.
func (b *Bucket) List(ctx context.Context, prefix string) ([]string, error) {
	// Stopping early leaves the lister's goroutine blocked on its
	// channel until its context ends.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var names []string
	for o := range b.Client.ListObjects(ctx, b.Name, minio.ListObjectsOptions{Prefix: b.Prefix + prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("listing s3://%s/%s%s: %w", b.Name, b.Prefix, prefix, o.Err)
		}
		names = append(names, strings.TrimPrefix(o.Key, b.Prefix))
		if len(names) == MaxList {
			break
		}
	}
	return names, nil
}

// Delete removes the object under name; one not there is no error.
func (b *Bucket) Delete(ctx context.Context, name string) error {
	if err := b.Client.RemoveObject(ctx, b.Name, b.Prefix+name, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("removing s3://%s/%s%s: %w", b.Name, b.Prefix, name, err)
	}
	return nil
}
