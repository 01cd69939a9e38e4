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

// Package steps assembles the executors of the four steps and the
// rehearsal that stands in for all of them in a dry run. It is the one
// place main.go, the tests and the benchmarks get them from, so each runs
// the operator as it is wired in production.
package steps

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/drain"
	"github.com/ops-dev/region-withdrawal-operator/internal/dryrun"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/export"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients/sources"
	"github.com/ops-dev/region-withdrawal-operator/internal/routing"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
)

// Options is what the executors share.
type Options struct {
	// Client reads from the manager's cache and writes. Targets are read
	// from the cache: at a cutoff many withdrawals act in the same second,
	// and the steps watch those objects anyway.
	Client client.Client
	// APIReader reads uncached: recipient ConfigMaps and Secrets (so the
	// operator does not hold every Secret in memory), and the checks a
	// step makes before it calls itself done.
	APIReader client.Reader
	Mapper    meta.RESTMapper
	Clock     clock.Clock
	// Recorder, when set, gets the Events executors record themselves.
	Recorder events.EventRecorder
	// Registerer, when set, gets the notify step's delivery counters.
	Registerer prometheus.Registerer
	// Egress decides where notices and the HTTP recipient source may
	// connect; nil is the default policy (https only, nothing internal).
	Egress *egress.Policy
	// LegacyWebhookHeaders also sends the webhook headers from before
	// Standard Webhooks.
	LegacyWebhookHeaders bool
	// NoticeBackendImage is the image of the HTTP 451 backend; empty means
	// routing.DefaultNoticeBackendImage.
	NoticeBackendImage string
	// NoticeBackend is the installation's settings for the notice backends
	// (replicas, budget, scheduling, resources), the --notice-backend-*
	// flags.
	NoticeBackend routing.NoticeBackendOptions
	// ClusterDomain is the cluster's DNS domain (--cluster-domain).
	ClusterDomain string
	// Handoff, when set, is the installation's handoff endpoint: customers
	// get personal download links, and reminders can go to those who have
	// not fetched their archive.
	Handoff *handoff.Service
	// Evidence, when set, is the evidence ledger, which the notify step
	// appends each batch's deliveries to, and the export step each
	// customer's verified archive.
	Evidence *ledger.Ledger
	// ExportAllowedOrigins, when set, are the only store origins exports,
	// manifests and their archives may be at (--export-allowed-origins).
	ExportAllowedOrigins *export.Origins
	// ExportPods is what an export pod may be (the --export-* flags).
	ExportPods export.PodPolicy
}

// New returns the executor of every step, and the rehearsal.
func New(o Options) (executor.Set, executor.Executor) {
	resolver := &targets.Resolver{Reader: o.Client, Mapper: o.Mapper, Clock: o.Clock}
	exports := export.New(o.Client, o.APIReader, o.Clock)
	exports.HTTP = &sources.HTTPPager{Egress: o.Egress}
	exports.Handoff = o.Handoff
	exports.Evidence = o.Evidence
	exports.Recorder = o.Recorder
	exports.AllowedOrigins = o.ExportAllowedOrigins
	exports.Pods = o.ExportPods
	routes := routing.New(o.Client, o.APIReader, resolver, o.NoticeBackendImage)
	routes.Clock = o.Clock
	routes.SetNoticeBackendOptions(o.NoticeBackend)
	routes.ClusterDomain = o.ClusterDomain
	set := executor.Set{
		v1.StepNotify: notify.New(notify.Options{
			Client: o.Client, Reader: o.APIReader, Clock: o.Clock, Recorder: o.Recorder, Registerer: o.Registerer, Egress: o.Egress,
			LegacyWebhookHeaders: o.LegacyWebhookHeaders,
			Exports: func(ctx context.Context, rw *v1.RegionWithdrawal) (map[string]v1.ExportArtifact, error) {
				return export.Artifacts(ctx, o.APIReader, rw)
			},
			Handoff: o.Handoff, Evidence: o.Evidence,
		}),
		v1.StepExport:  exports,
		v1.StepDrain:   drain.New(o.Client, o.APIReader, resolver, o.Clock, o.Recorder),
		v1.StepRouting: routes,
	}
	rehearsal := &dryrun.Executor{Targets: resolver, Recipients: &sources.Objects{Reader: o.APIReader}}
	return set, rehearsal
}
