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

// Command region-withdrawal-operator runs the RegionWithdrawal controller.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	// Region time zones must resolve on a distroless image that has no
	// zoneinfo of its own.
	_ "time/tzdata"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/controllers"
	"github.com/ops-dev/region-withdrawal-operator/internal/drain"
	"github.com/ops-dev/region-withdrawal-operator/internal/dryrun"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/export"
	"github.com/ops-dev/region-withdrawal-operator/internal/exporter"
	"github.com/ops-dev/region-withdrawal-operator/internal/metrics"
	"github.com/ops-dev/region-withdrawal-operator/internal/noticebackend"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
	"github.com/ops-dev/region-withdrawal-operator/internal/routing"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
)

// subcommands are the other programs this binary (and so the one image)
// serves besides the operator, each with its own flags.
var subcommands = map[string]func(args []string) error{
	exporter.Name:    exporter.Main,
	"notice-backend": noticebackend.Main,
}

func main() {
	run := runManager
	args := os.Args[1:]
	if len(args) > 0 {
		if sub, ok := subcommands[args[0]]; ok {
			run, args = sub, args[1:]
		} else if args[0] == "manager" {
			args = args[1:]
		}
	}
	if err := run(args); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// runManager runs the RegionWithdrawal controller; it is what the binary
// does with no subcommand (or "manager").
func runManager(args []string) error {
	var (
		metricsAddr             string
		metricsSecure           bool
		probeAddr               string
		leaderElect             bool
		leaderElectionNamespace string
		watchNamespaces         string
		qps                     float64
		burst                   int
		maxConcurrent           int
		riskWindow              time.Duration
		noticeBackendImage      string
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", "0", "Address the metrics endpoint binds to, e.g. :8443; \"0\" disables it.")
	flag.BoolVar(&metricsSecure, "metrics-secure", true, "Serve metrics over HTTPS, allowing only callers authenticated and authorised by the API server (TokenReview and SubjectAccessReview).")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address the /healthz and /readyz probes bind to.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader so that only one replica acts; the lease is released on shutdown.")
	flag.StringVar(&leaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader-election Lease; defaults to the pod's namespace.")
	flag.StringVar(&watchNamespaces, "watch-namespaces", "", "Comma-separated namespaces whose RegionWithdrawals are watched; empty watches all.")
	// A cutoff makes every withdrawal of a region act in the same second;
	// the burst lets their status writes through without queueing them
	// behind the client-side rate limiter.
	flag.Float64Var(&qps, "kube-api-qps", 100, "Requests per second to the API server, sustained.")
	flag.IntVar(&burst, "kube-api-burst", 300, "Requests to the API server in a burst.")
	flag.IntVar(&maxConcurrent, "max-concurrent-reconciles", 16, "Withdrawals reconciled in parallel.")
	flag.DurationVar(&riskWindow, "risk-window", 24*time.Hour, "How long before a due time a missing approval or a suspension raises DeadlineAtRisk.")
	flag.StringVar(&noticeBackendImage, "notice-backend-image", routing.DefaultNoticeBackendImage, "Image of the HTTP 451 notice backend the routing step deploys; normally this operator's own image.")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	if err := flag.CommandLine.Parse(args); err != nil {
		return err
	}

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = float32(qps), burst

	metricsOpts := metricsserver.Options{
		BindAddress:   metricsAddr,
		SecureServing: metricsSecure,
		// HTTP/2 is off: it has been the vector of several denial-of-service
		// attacks (CVE-2023-44487, CVE-2023-39325) on exposed endpoints.
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
	}
	if metricsSecure {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	cacheOpts := cache.Options{}
	if watchNamespaces != "" {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range strings.Split(watchNamespaces, ",") {
			if ns = strings.TrimSpace(ns); ns != "" {
				cacheOpts.DefaultNamespaces[ns] = cache.Config{}
			}
		}
	}

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme.New(),
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        probeAddr,
		LeaderElection:                leaderElect,
		LeaderElectionID:              "region-withdrawal-operator.withdrawal.ops.dev",
		LeaderElectionNamespace:       leaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		Cache:                         cacheOpts,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}

	clk := clock.RealClock{}
	m := metrics.New(clk)
	if err := m.Register(crmetrics.Registry); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	// Targets are read from the manager's cache: at a cutoff many
	// withdrawals act in the same second, and the steps that follow watch
	// those objects anyway. Recipient ConfigMaps and Secrets are read
	// uncached, so the operator does not hold every Secret in memory.
	resolver := &targets.Resolver{Reader: mgr.GetClient(), Mapper: mgr.GetRESTMapper(), Clock: clk}
	recorder := mgr.GetEventRecorder("region-withdrawal-controller")
	r := &controllers.RegionWithdrawalReconciler{
		Clock:    clk,
		Metrics:  m,
		Recorder: recorder,
		Executors: executor.Set{
			v1.StepNotify: notify.New(notify.Options{
				Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Clock: clk, Recorder: recorder, Registerer: crmetrics.Registry,
				ExportLocation: exportLocation,
			}),
			v1.StepExport:  export.New(mgr.GetClient(), mgr.GetAPIReader(), clk),
			v1.StepDrain:   drain.New(mgr.GetClient(), mgr.GetAPIReader(), resolver, clk, recorder),
			v1.StepRouting: routing.New(mgr.GetClient(), mgr.GetAPIReader(), resolver, clk, noticeBackendImage),
		},
		Rehearsal: &dryrun.Executor{
			Targets:    resolver,
			Recipients: &recipients.Objects{Reader: mgr.GetAPIReader()},
		},
		RiskWindow:              riskWindow,
		MaxConcurrentReconciles: maxConcurrent,
	}
	if err := targets.WarmUp(mgr); err != nil {
		return err
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}

	log.Info("Starting manager", "watchNamespaces", watchNamespaces, "leaderElect", leaderElect)
	return mgr.Start(ctrl.SetupSignalHandler())
}

// exportLocation tells the notice templates where a recipient's export is,
// once the export step has verified it.
func exportLocation(_ context.Context, rw *v1.RegionWithdrawal, r recipients.Recipient) string {
	return export.Locations(rw)[r.ID]
}
