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

// Package exporter is the reference export program, the "export"
// subcommand of the operator binary (so the one image serves both). It
// archives a directory — a mounted volume — as tar+gzip, optionally
// encrypts the archive to one or more age public keys so that the
// destination never holds plaintext, streams it to a file path, an S3
// location (s3://bucket/key: a SigV4-signed multipart upload, to Amazon S3
// or an S3-compatible store, see destination.go) or an HTTP(S) PUT URL (a
// pre-signed object-store URL works: the PUT carries a Content-Length),
// computes the
// SHA-256 and size of exactly the bytes stored on the way, and only when
// the object is completely stored writes the result (package exportresult)
// to the container's termination message. With --per-customer it writes
// one archive per customer directory, each encrypted to that customer's
// own key, and a manifest listing them (percustomer.go).
//
// Nothing is held in memory but one part of an S3 upload (--s3-part-size-mib):
// the archive flows through an io.Pipe from the archiver to the
// destination, so memory stays flat whatever the size. An HTTP PUT is
// spooled to a file first (--spool-dir) to know its length, unless
// --http-chunked streams it to a store that takes chunked uploads.
package exporter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"
	"github.com/minio/minio-go/v7"

	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/export/result"
	"github.com/ops-dev/region-withdrawal-operator/internal/s3store"
)

// Name is the subcommand name in the operator binary.
const Name = "export"

// DefaultResultFile is the container's default terminationMessagePath.
const DefaultResultFile = "/dev/termination-log"

// Options configure one export.
type Options struct {
	// Source is the directory to archive.
	Source string
	// Destination is a file path, an s3://bucket/key location, or an
	// http:// or https:// URL to PUT to.
	Destination string
	// AgeRecipients are age public keys (age1...); the archive is encrypted
	// to all of them when any is given.
	AgeRecipients []string
	// ResultFile receives the result when, and only when, the export is
	// completely stored. Empty writes no result.
	ResultFile string
	// Recipient names the customer the archive belongs to, reported in the
	// result for the notify step.
	Recipient string
	// Headers are sent with an HTTP PUT, as "Name: value".
	Headers []string
	// CABundle is a PEM file of extra roots to trust for HTTPS.
	CABundle string
	// Egress decides where an HTTP destination may be; nil is the default
	// policy (https only, no loopback, link-local, private or CGNAT
	// address). The URL is the template author's, and the Pod may sit
	// next to the cluster's own services.
	Egress *egress.Policy
	// GzipLevel is the compression level, 1 (fastest) to 9 (smallest).
	GzipLevel int
	// S3 says how to reach the store of an s3:// destination.
	S3 s3store.Config
	// S3PartSizeMiB is the size of one part of an S3 multipart upload, in
	// MiB: the memory an upload holds, and a 10,000th of the largest
	// archive it can store. Zero is DefaultS3PartSizeMiB.
	S3PartSizeMiB int
	// HTTPChunked streams an HTTP PUT with chunked transfer encoding, for
	// stores that take it, instead of spooling the archive to SpoolDir to
	// send its Content-Length (which S3 and its pre-signed URLs require).
	HTTPChunked bool
	// SpoolDir is where an HTTP PUT's archive is spooled; empty is the
	// system's temporary directory.
	SpoolDir string
	// Stderr gets warnings (such as skipped sockets). Defaults to os.Stderr.
	Stderr io.Writer

	// PerCustomer exports each subdirectory of Source, named by a customer
	// id, as that customer's own archive: Destination must hold
	// "{customer}", and Manifest is where the manifest goes.
	PerCustomer bool
	// Customers is a CSV or JSON-lines recipient list (the notify step's
	// format) with the columns id and ageRecipient: each customer's own
	// age key. Customers it lists without a directory are in the manifest
	// as skipped, "no data".
	Customers string
	// Manifest is the file path or URL of the per-customer manifest.
	Manifest string
	// ProviderKeyForKeyless encrypts the archive of a customer with no key
	// to AgeRecipients (the provider's keys) instead of skipping it.
	ProviderKeyForKeyless bool

	// client is the HTTP client every upload of one run shares, so that
	// thousands of per-customer archives reuse a few connections; s3 is
	// the S3 client they share.
	client *http.Client
	s3     *minio.Client
}

// DefaultS3PartSizeMiB is the default part size of an S3 upload: 16 MiB
// held in memory, and archives of up to 156 GiB (10,000 parts).
const DefaultS3PartSizeMiB = 16

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// Main runs the export subcommand with its own flags.
func Main(args []string) error {
	o, err := ParseFlags(args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Run(ctx, o)
	if err != nil {
		return err
	}
	if m := res.Manifest; m != nil {
		fmt.Fprintf(os.Stderr, "exported %d of %d customers; manifest %s, %d bytes, sha256 %s\n", m.Exported, m.Customers, res.Location, res.Bytes, res.SHA256)
		return nil
	}
	fmt.Fprintf(os.Stderr, "exported %d bytes to %s, sha256 %s\n", res.Bytes, res.Location, res.SHA256)
	return nil
}

// ParseFlags reads the export subcommand's flags (without the subcommand
// name) into Options.
func ParseFlags(args []string) (Options, error) {
	var o Options
	fs := flag.NewFlagSet(Name, flag.ContinueOnError)
	fs.StringVar(&o.Source, "source", "", "directory to archive (required)")
	fs.StringVar(&o.Destination, "destination", "", "file path, s3://bucket/key to upload the archive to (SigV4, multipart), or http(s):// URL to PUT it to, e.g. a pre-signed object-store URL (required)")
	fs.Var((*stringList)(&o.AgeRecipients), "age-recipient", "age public key (age1...) to encrypt the archive to; repeatable; without it the archive is not encrypted")
	fs.StringVar(&o.ResultFile, "result-file", DefaultResultFile, "where the result JSON is written once the archive is completely stored")
	fs.StringVar(&o.Recipient, "recipient", os.Getenv("WITHDRAWAL_RECIPIENT"), "id of the customer the archive belongs to, reported in the result (default $WITHDRAWAL_RECIPIENT)")
	fs.Var((*stringList)(&o.Headers), "header", `HTTP header for the PUT, "Name: value"; repeatable`)
	fs.StringVar(&o.CABundle, "ca-bundle", "", "PEM file of extra certificate authorities to trust for HTTPS")
	fs.IntVar(&o.GzipLevel, "gzip-level", 6, "gzip level, 1 (fastest) to 9 (smallest)")
	o.S3.BindFlags(fs)
	fs.IntVar(&o.S3PartSizeMiB, "s3-part-size-mib", DefaultS3PartSizeMiB, "part size of an S3 multipart upload in MiB (5 to 5120): the memory one upload holds; the largest archive is 10,000 parts")
	fs.BoolVar(&o.HTTPChunked, "http-chunked", false, "stream an http(s) PUT with chunked encoding instead of spooling the archive to --spool-dir to send its Content-Length (S3 and its pre-signed URLs refuse chunked PUTs)")
	fs.StringVar(&o.SpoolDir, "spool-dir", "", "directory an http(s) PUT's archive is spooled to before it is sent (default $TMPDIR or /tmp; mount an emptyDir there when the root filesystem is read-only)")
	fs.BoolVar(&o.PerCustomer, "per-customer", false, "export each subdirectory of --source (named by customer id) as that customer's own archive, to --destination with {customer} in it, and list them in --manifest")
	fs.StringVar(&o.Customers, "customers", "", "with --per-customer: CSV or JSON-lines file with the columns id and ageRecipient, each customer's own age key")
	fs.StringVar(&o.Manifest, "manifest", "", "with --per-customer: file path or http(s) URL to write the manifest to (one JSON line per customer)")
	fs.BoolVar(&o.ProviderKeyForKeyless, "provider-key-for-keyless", false, "with --per-customer: encrypt the archive of a customer without an ageRecipient to --age-recipient, instead of skipping it")
	allowCIDRs := fs.String("egress-allow-cidrs", "", "comma-separated CIDRs or IPs an HTTP destination may be at although they are loopback, link-local, private or CGNAT addresses (refused by default)")
	allowHTTP := fs.Bool("egress-allow-http", false, "allow a plain http:// destination; only https by default")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	policy, err := egress.Parse(*allowCIDRs, "", *allowHTTP)
	if err != nil {
		return o, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	o.Egress = policy
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected arguments: %v", ErrUsage, fs.Args())
	}
	return o, nil
}

// Errors Run wraps, for errors.Is.
var (
	// ErrUsage is a missing or wrong flag.
	ErrUsage = errors.New("usage")
	// ErrArchive is a file that cannot be archived, such as an unreadable one.
	ErrArchive = errors.New("archiving failed")
	// ErrUpload is a destination that did not store the whole archive.
	ErrUpload = errors.New("upload failed")
)

// Run exports and returns the result it wrote. On any error no result is
// written and no complete-looking object is left at a file destination.
func Run(ctx context.Context, o Options) (*result.Result, error) {
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.GzipLevel == 0 {
		o.GzipLevel = 6
	}
	if o.Source == "" || o.Destination == "" {
		return nil, fmt.Errorf("%w: --source and --destination are required", ErrUsage)
	}
	if st, err := os.Stat(o.Source); err != nil {
		return nil, fmt.Errorf("%w: source: %w", ErrUsage, err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("%w: source %s is not a directory", ErrUsage, o.Source)
	}
	var recipients []age.Recipient
	if len(o.AgeRecipients) > 0 {
		rs, err := age.ParseRecipients(strings.NewReader(strings.Join(o.AgeRecipients, "\n")))
		if err != nil {
			return nil, fmt.Errorf("%w: --age-recipient: %w", ErrUsage, err)
		}
		recipients = rs
	}
	var (
		res *result.Result
		err error
	)
	if o.PerCustomer {
		res, err = runPerCustomer(ctx, o, recipients)
	} else {
		res, err = storeArchive(ctx, o, o.Source, o.Destination, recipients)
	}
	if err != nil {
		return nil, err
	}
	res.Recipient = o.Recipient
	b, err := res.Marshal()
	if err != nil {
		return nil, err
	}
	if o.ResultFile != "" {
		// The termination log is a file the kubelet provides: write in
		// place, never rename over it.
		if err := os.WriteFile(o.ResultFile, b, 0o644); err != nil {
			return nil, fmt.Errorf("writing the result to %s: %w", o.ResultFile, err)
		}
	}
	return res, nil
}

// storeArchive archives source, encrypted to recipients when there are
// any, to destination, and says what it stored. On error nothing
// complete-looking is left at a file destination.
func storeArchive(ctx context.Context, o Options, source, destination string, recipients []age.Recipient) (*result.Result, error) {
	res, err := storeStream(ctx, o, destination, func(w io.Writer) error { return produce(ctx, w, source, o, recipients) })
	if err != nil {
		return nil, err
	}
	res.Encrypted = len(recipients) > 0
	return res, nil
}

// storeStream stores what write writes to destination, hashing and
// counting it on the way. write's error aborts the store.
func storeStream(ctx context.Context, o Options, destination string, write func(io.Writer) error) (*result.Result, error) {
	o.Destination = destination
	dest, err := newDestination(o)
	if err != nil {
		return nil, err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	produced := make(chan error, 1)
	go func() {
		err := write(pw)
		// The reader sees the archiver's error, so the destination aborts
		// rather than storing a truncated archive.
		pw.CloseWithError(err)
		produced <- err
	}()

	body := &hashingReader{r: pr, h: sha256.New()}
	location, storeErr := dest.store(ctx, body)
	// Unblock the archiver if the destination stopped reading early.
	pr.CloseWithError(errors.Join(storeErr, errStoreEnded))
	prodErr := <-produced
	switch {
	case prodErr != nil && !isWriteSide(prodErr):
		// The archiver's error is the cause; the destination's is its echo.
		dest.abort()
		return nil, prodErr
	case storeErr != nil:
		dest.abort()
		return nil, storeErr
	case prodErr != nil || !body.eof:
		dest.abort()
		return nil, fmt.Errorf("%w: the destination answered before it received the whole archive (%d bytes sent)", ErrUpload, body.n)
	}
	return &result.Result{
		Version:  result.Version,
		Location: result.StripQuery(location),
		Bytes:    body.n,
		SHA256:   hex.EncodeToString(body.h.Sum(nil)),
	}, nil
}

// errStoreEnded is what the archiver sees when the destination has returned.
var errStoreEnded = errors.New("the destination has finished")

// produce writes tar → gzip → (age) into w.
func produce(ctx context.Context, w io.Writer, source string, o Options, recipients []age.Recipient) error {
	out := io.Writer(destWriter{w})
	var enc io.WriteCloser
	if len(recipients) > 0 {
		var err error
		if enc, err = age.Encrypt(out, recipients...); err != nil {
			return fmt.Errorf("starting age encryption: %w", err)
		}
		out = enc
	}
	if err := writeArchive(ctx, out, source, o.GzipLevel, o.Stderr); err != nil {
		return err
	}
	if enc != nil {
		if err := enc.Close(); err != nil {
			return fmt.Errorf("finishing age encryption: %w", err)
		}
	}
	return nil
}

// hashingReader hashes and counts what the destination reads, which is
// exactly what it stores, and notes whether it read to the end.
type hashingReader struct {
	r   io.Reader
	h   hash.Hash
	n   int64
	eof bool
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if n > 0 {
		h.h.Write(p[:n])
		h.n += int64(n)
	}
	if errors.Is(err, io.EOF) {
		h.eof = true
	}
	return n, err
}

// destination stores one archive.
type destination interface {
	// store reads body to the end and returns the object's location.
	store(ctx context.Context, body io.Reader) (string, error)
	// abort removes what a failed store left, where it can.
	abort()
}

func newDestination(o Options) (destination, error) {
	d := o.Destination
	if strings.HasPrefix(d, "http://") || strings.HasPrefix(d, "https://") {
		u, err := url.Parse(d)
		if err != nil {
			return nil, fmt.Errorf("%w: destination %q: %v", ErrUsage, result.StripQuery(d), err)
		}
		if err := o.Egress.CheckURL(u); err != nil {
			return nil, fmt.Errorf("%w: destination %s: %w", ErrUpload, result.StripQuery(d), err)
		}
		c := o.client
		if c == nil {
			var err error
			if c, err = httpClient(o.Egress, o.CABundle); err != nil {
				return nil, err
			}
		}
		hdr := http.Header{}
		for _, h := range o.Headers {
			name, value, ok := strings.Cut(h, ":")
			if !ok || strings.TrimSpace(name) == "" {
				return nil, fmt.Errorf("%w: --header %q is not \"Name: value\"", ErrUsage, h)
			}
			hdr.Add(strings.TrimSpace(name), strings.TrimSpace(value))
		}
		return &httpDestination{url: d, client: c, header: hdr, chunked: o.HTTPChunked, spoolDir: o.SpoolDir}, nil
	}
	if s3store.IsLocation(d) {
		loc, err := s3store.ParseLocation(d)
		if err != nil {
			return nil, fmt.Errorf("%w: destination: %w", ErrUsage, err)
		}
		if len(o.Headers) > 0 {
			return nil, fmt.Errorf("%w: --header only applies to an HTTP destination; an S3 upload is signed with the credentials from the environment", ErrUsage)
		}
		c := o.s3
		if c == nil {
			if c, err = s3Client(o); err != nil {
				return nil, err
			}
		}
		return &s3Destination{client: c, loc: loc, partSize: partSize(o)}, nil
	}
	if strings.Contains(d, "://") {
		return nil, fmt.Errorf("%w: destination %q: only file paths, s3:// locations and http(s) URLs are supported", ErrUsage, result.StripQuery(d))
	}
	if len(o.Headers) > 0 {
		return nil, fmt.Errorf("%w: --header only applies to an HTTP destination", ErrUsage)
	}
	return &fileDestination{path: d}, nil
}

// partSize is o's S3 part size in bytes.
func partSize(o Options) uint64 {
	mib := o.S3PartSizeMiB
	if mib == 0 {
		mib = DefaultS3PartSizeMiB
	}
	return uint64(mib) << 20
}

// s3Client is a client of o's S3 store that dials only what the egress
// policy allows: the endpoint is the template author's, as a URL is.
func s3Client(o Options) (*minio.Client, error) {
	if mib := o.S3PartSizeMiB; mib != 0 && (mib < 5 || mib > 5120) {
		return nil, fmt.Errorf("%w: --s3-part-size-mib %d: S3 takes parts of 5 to 5120 MiB", ErrUsage, mib)
	}
	u, err := o.S3.EndpointURL()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if err := o.Egress.CheckURL(u); err != nil {
		return nil, fmt.Errorf("%w: --s3-endpoint %s: %w", ErrUpload, u, err)
	}
	hc, err := httpClient(o.Egress, o.CABundle)
	if err != nil {
		return nil, err
	}
	c, err := o.S3.Client(hc.Transport, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUpload, err)
	}
	return c, nil
}

// httpClient dials only what policy allows and follows no redirect: the
// body is streamed once, and a redirect could lead past the policy's
// origin.
func httpClient(policy *egress.Policy, caBundle string) (*http.Client, error) {
	var pem []byte
	if caBundle != "" {
		var err error
		if pem, err = os.ReadFile(caBundle); err != nil {
			return nil, fmt.Errorf("%w: --ca-bundle: %w", ErrUsage, err)
		}
	}
	if policy == nil {
		policy = &egress.Policy{}
	}
	tr, err := policy.Transport(pem)
	if err != nil {
		return nil, fmt.Errorf("%w: --ca-bundle %s holds no PEM certificate", ErrUsage, caBundle)
	}
	// A large archive takes as long as it takes; only the silent phases
	// are bounded.
	tr.ResponseHeaderTimeout = 5 * time.Minute
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, nil
}
