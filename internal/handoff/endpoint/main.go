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

// Package endpoint runs the handoff endpoint (handoff.Server): the small
// HTTP server behind the customers' download links, as the "handoff"
// subcommand of the operator's binary.
package endpoint

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ops-dev/region-withdrawal-operator/internal/export"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff"
	"github.com/ops-dev/region-withdrawal-operator/internal/s3store"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
)

// Name is the subcommand.
const Name = "handoff"

// DefaultKeySecret is the Secret the handoff key is kept in, unless the
// flags name another.
const DefaultKeySecret = "region-withdrawal-operator-handoff-key"

// Flags are the subcommand's command line.
type Flags struct {
	Listen, MetricsAddr, ProbeAddr string
	Namespace, KeySecret           string
	RecordEvery                    time.Duration
	LinkBurst                      int
	LinkEvery                      time.Duration
	QPS                            float64
	Burst                          int
	// AllowedOrigins are the store origins links may send customers to
	// (--export-allowed-origins); nil allows all.
	AllowedOrigins *export.Origins
	// Presign sends a customer whose archive is at an s3:// location to a
	// pre-signed GET of it, signed with the credentials the environment
	// gives (s3store), valid for PresignExpiry.
	Presign       bool
	S3            s3store.Config
	PresignExpiry time.Duration
	zap           zap.Options
}

// ParseFlags reads the subcommand's flags.
func ParseFlags(args []string) (*Flags, error) {
	f := &Flags{}
	fs := flag.NewFlagSet(Name, flag.ContinueOnError)
	fs.StringVar(&f.Listen, "listen", ":8080", "Address the links are served on.")
	fs.StringVar(&f.MetricsAddr, "metrics-bind-address", ":8082", "Address of the Prometheus metrics; \"0\" disables them. Keep it off the public Service.")
	fs.StringVar(&f.ProbeAddr, "health-probe-bind-address", ":8081", "Address of /healthz and /readyz.")
	fs.StringVar(&f.Namespace, "namespace", os.Getenv("POD_NAMESPACE"), "Namespace of the key Secret and the fetch records: the installation's own.")
	fs.StringVar(&f.KeySecret, "key-secret", DefaultKeySecret, "Secret holding the handoff key; the manager creates it.")
	fs.DurationVar(&f.RecordEvery, "record-every", time.Minute, "A customer's fetches within this long of their last recorded one are answered without a write; 0 writes every fetch.")
	fs.IntVar(&f.LinkBurst, "link-burst", handoff.DefaultLinkBurst, "Requests one link answers at once; past them 429 with Retry-After, until --link-every refills one.")
	fs.DurationVar(&f.LinkEvery, "link-every", handoff.DefaultLinkEvery, "How often one link answers one more request once its burst is spent.")
	fs.Float64Var(&f.QPS, "kube-api-qps", 200, "Requests per second to the API server, sustained: about one per record written.")
	fs.IntVar(&f.Burst, "kube-api-burst", 400, "Requests to the API server in a burst.")
	fs.Func("export-allowed-origins", "Comma-separated store origins (https://objects.example.com, s3://bucket, https://*.blob.example.net, file://) links may send customers to; a link to an archive elsewhere is answered 502. Empty allows all. Match the manager's --export-allowed-origins.",
		func(v string) error {
			o, err := export.ParseOrigins(v)
			f.AllowedOrigins = o
			return err
		})
	fs.BoolVar(&f.Presign, "s3-presign", false, "Send a customer whose archive is at an s3:// location to a short-lived pre-signed GET of it, so the bucket stays private. The credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_SHARED_CREDENTIALS_FILE or AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN; they need s3:GetObject on the archives only.")
	f.S3.BindFlags(fs)
	fs.DurationVar(&f.PresignExpiry, "s3-presign-expiry", handoff.DefaultPresignExpiry, "How long one pre-signed GET works (1s to 168h), never past the link's own expiry; each press of the link's button signs a new one.")
	f.zap.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if f.Namespace == "" {
		return nil, errors.New("--namespace (or POD_NAMESPACE) is required")
	}
	if f.PresignExpiry < time.Second || f.PresignExpiry > 7*24*time.Hour {
		return nil, fmt.Errorf("--s3-presign-expiry %s: a SigV4 pre-signed URL works for 1s to 168h", f.PresignExpiry)
	}
	if _, err := f.S3.EndpointURL(); f.Presign && err != nil {
		return nil, err
	}
	return f, nil
}

// Main runs the handoff endpoint until SIGTERM or SIGINT.
func Main(args []string) error {
	f, err := ParseFlags(args)
	if err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&f.zap)))
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = float32(f.QPS), f.Burst
	// It reads the link indexes in its own namespace, and nothing else.
	indexes, err := labels.NewRequirement(handoff.LabelIndex, selection.Exists, nil)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme.New(),
		Cache: cache.Options{
			DefaultNamespaces: map[string]cache.Config{f.Namespace: {}},
			ByObject:          map[client.Object]cache.ByObject{&corev1.ConfigMap{}: {Label: labels.NewSelector().Add(*indexes)}},
		},
		Metrics:                metricsserver.Options{BindAddress: f.MetricsAddr},
		HealthProbeBindAddress: f.ProbeAddr,
		// Every replica serves links; the records take concurrent writers.
		LeaderElection: false,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	ctx := ctrl.SetupSignalHandler()
	key, err := waitForKey(ctx, mgr.GetAPIReader(), f.Namespace, f.KeySecret)
	if err != nil {
		return err
	}
	direct, err := client.New(cfg, client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return err
	}
	var presigner handoff.Presigner
	if f.Presign {
		// Signing is local: the store is never called, so neither is its
		// address checked here. No credentials is an error now, not at a
		// customer's first fetch.
		c, err := f.S3.Client(nil, nil)
		if err != nil {
			return fmt.Errorf("--s3-presign: %w", err)
		}
		presigner = s3store.Presigner{Client: c}
		ctrl.Log.WithName("handoff").Info("Archives at s3:// locations are fetched by pre-signed GETs", "endpoint", f.S3.Endpoint, "region", f.S3.Region, "expiry", f.PresignExpiry)
	}
	s := handoff.NewServer(&handoff.Server{
		Index:     mgr.GetClient(),
		Namespace: f.Namespace,
		Key:       key,
		// Uncached: the records are read before each write, and a cached
		// read would watch every ConfigMap of the cluster.
		Recorder:       &handoff.Recorder{Client: direct, Namespace: f.Namespace, Every: f.RecordEvery},
		AllowedOrigins: f.AllowedOrigins,
		LinkBurst:      f.LinkBurst, LinkEvery: f.LinkEvery,
		Presigner: presigner, PresignExpiry: f.PresignExpiry,
	}, crmetrics.Registry)
	if f.AllowedOrigins.Configured() {
		ctrl.Log.WithName("handoff").Info("Links send customers only to the allowed store origins", "origins", f.AllowedOrigins.String())
	}
	if err := Setup(mgr, s, f.Listen); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// Setup adds the index controller, the link server on listen, and the
// probes to mgr.
func Setup(mgr ctrl.Manager, s *handoff.Server, listen string) error {
	if err := ctrl.NewControllerManagedBy(mgr).
		Named("handoff-index").
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(handoff.MapIndex)).
		Complete(s); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", listen, err)
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return ctx.Err()
		}
		if err := s.IndexAll(ctx); err != nil {
			return fmt.Errorf("indexing the links: %w", err)
		}
		return serve(ctx, ln, s)
	})); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	return mgr.AddReadyzCheck("links", s.Ready)
}

// serve serves the links on ln until ctx ends, then lets the requests in
// flight finish: each may be waiting on its record's write.
func serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    8 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// waitForKey reads the handoff key, waiting for the manager to create it.
func waitForKey(ctx context.Context, r client.Reader, ns, name string) (handoff.Key, error) {
	log := ctrl.Log.WithName("handoff")
	for waited := false; ; waited = true {
		k, err := handoff.ReadKey(ctx, r, ns, name)
		if err == nil || !apierrors.IsNotFound(err) {
			return k, err
		}
		if !waited {
			log.Info("Waiting for the manager to create the handoff key Secret", "secret", ns+"/"+name)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}
