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

// Package metrics defines the operator's Prometheus metrics: seconds until
// each cutoff, the state of every step, whether a withdrawal is stalled, how
// late actions start, and notice deliveries. The alert rules in
// config/prometheus and the dashboard in config/grafana are written against
// these names; a test checks that every name they use is one of them.
package metrics

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

const namespace = "region_withdrawal"

var allStates = []v1.StepState{
	v1.StepPending, v1.StepWaitingForApproval, v1.StepBlocked, v1.StepRunning, v1.StepSucceeded,
	v1.StepFailed, v1.StepCancelled, v1.StepReverting, v1.StepReverted,
}

// Metrics holds the collectors. The zero value is not usable; call New.
type Metrics struct {
	clock clock.PassiveClock

	mu       sync.Mutex
	cutoffs  map[types.NamespacedName]cutoff
	cutoffDs *prometheus.Desc

	stepState *prometheus.GaugeVec
	stalled   *prometheus.GaugeVec
	lateness  *prometheus.HistogramVec
	actions   *prometheus.CounterVec
	handoff   *prometheus.GaugeVec
	evidence  *prometheus.GaugeVec
}

type cutoff struct {
	region string
	at     time.Time
}

// New builds the metrics; Register adds them to a registry.
func New(c clock.PassiveClock) *Metrics {
	return &Metrics{
		clock:   c,
		cutoffs: map[types.NamespacedName]cutoff{},
		cutoffDs: prometheus.NewDesc(namespace+"_seconds_until_cutoff",
			"Seconds from now until the withdrawal's legal cutoff; negative once it has passed.",
			[]string{"namespace", "name", "region"}, nil),
		stepState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "step_state",
			Help: "1 for the current state of each step of each withdrawal, 0 for the other states.",
		}, []string{"namespace", "name", "step", "state"}),
		stalled: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "stalled",
			Help: "1 while the withdrawal's Stalled condition is True (labelled with its reason), 0 otherwise.",
		}, []string{"namespace", "name", "reason"}),
		lateness: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "schedule_lateness_seconds",
			Help:    "Seconds from an action's due time to its recorded start.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400},
		}, []string{"step", "kind"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "actions_total",
			Help: "Actions finished, by step, kind and result (succeeded, failed, dry_run).",
		}, []string{"step", "kind", "result"}),
		handoff: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "handoff", Name: "customers",
			Help: "Customers with a handoff link, by whether they have fetched their archive (fetched, not_fetched).",
		}, []string{"namespace", "name", "state"}),
		evidence: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "evidence", Name: "stored_bytes",
			Help: "Bytes the withdrawal's evidence ledger holds in ConfigMaps, so in etcd (status.evidence.storedBytes).",
		}, []string{"namespace", "name"}),
	}
}

// Register adds every collector to r.
func (m *Metrics) Register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m, m.stepState, m.stalled, m.lateness, m.actions, m.handoff, m.evidence} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Describe implements prometheus.Collector for the cutoff gauge.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.cutoffDs }

// Collect implements prometheus.Collector: the seconds until each cutoff are
// computed at scrape time, so the gauge is right between reconciles.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, c := range m.cutoffs {
		ch <- prometheus.MustNewConstMetric(m.cutoffDs, prometheus.GaugeValue, c.at.Sub(now).Seconds(), key.Namespace, key.Name, c.region)
	}
}

// Observe records a withdrawal's cutoff and step states.
func (m *Metrics) Observe(rw *v1.RegionWithdrawal) {
	key := types.NamespacedName{Namespace: rw.Namespace, Name: rw.Name}
	m.mu.Lock()
	m.cutoffs[key] = cutoff{region: rw.Spec.Region, at: rw.Spec.Cutoff.Time}
	m.mu.Unlock()
	for _, s := range rw.Status.Steps {
		for _, st := range allStates {
			v := 0.0
			if s.State == st {
				v = 1
			}
			m.stepState.WithLabelValues(rw.Namespace, rw.Name, string(s.Name), string(st)).Set(v)
		}
	}
	// The series go with the links: a withdrawal that stops asking for
	// them leaves none behind.
	m.handoff.DeletePartialMatch(prometheus.Labels{"namespace": rw.Namespace, "name": rw.Name})
	for _, s := range rw.Status.Steps {
		if h := s.Export; h != nil && h.Handoff != nil && rw.Spec.Export != nil && rw.Spec.Export.Handoff != nil {
			m.handoff.WithLabelValues(rw.Namespace, rw.Name, "fetched").Set(float64(h.Handoff.Fetched))
			m.handoff.WithLabelValues(rw.Namespace, rw.Name, "not_fetched").Set(float64(h.Handoff.NotFetched))
		}
	}
	if ev := rw.Status.Evidence; ev != nil {
		m.evidence.WithLabelValues(rw.Namespace, rw.Name).Set(float64(ev.StoredBytes))
	}
	// One series per withdrawal: the reason label changes with the reason,
	// so the old series goes first.
	m.stalled.DeletePartialMatch(prometheus.Labels{"namespace": rw.Namespace, "name": rw.Name})
	if c := meta.FindStatusCondition(rw.Status.Conditions, v1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue {
		m.stalled.WithLabelValues(rw.Namespace, rw.Name, c.Reason).Set(1)
	} else {
		m.stalled.WithLabelValues(rw.Namespace, rw.Name, "").Set(0)
	}
}

// Forget drops a deleted withdrawal's series.
func (m *Metrics) Forget(key types.NamespacedName) {
	m.mu.Lock()
	delete(m.cutoffs, key)
	m.mu.Unlock()
	m.stepState.DeletePartialMatch(prometheus.Labels{"namespace": key.Namespace, "name": key.Name})
	m.stalled.DeletePartialMatch(prometheus.Labels{"namespace": key.Namespace, "name": key.Name})
	m.handoff.DeletePartialMatch(prometheus.Labels{"namespace": key.Namespace, "name": key.Name})
	m.evidence.DeletePartialMatch(prometheus.Labels{"namespace": key.Namespace, "name": key.Name})
}

// ObserveLateness records how late an action started.
func (m *Metrics) ObserveLateness(step v1.StepName, kind string, d time.Duration) {
	m.lateness.WithLabelValues(string(step), kind).Observe(d.Seconds())
}

// CountAction counts a finished action.
func (m *Metrics) CountAction(step v1.StepName, kind, result string) {
	m.actions.WithLabelValues(string(step), kind, result).Inc()
}

// HandoffRequests returns the handoff endpoint's request counter, by
// result, registered with reg (nil: not registered).
func HandoffRequests(reg prometheus.Registerer) *prometheus.CounterVec {
	return registerCounter(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "handoff", Name: "requests_total",
		Help: "Handoff link requests by result: fetched (recorded and redirected), head (answered, not recorded), unknown (no such link), expired, failed (not recorded: answered 503), refused (the archive is outside --export-allowed-origins: answered 502).",
	}, []string{"result"}))
}

// Deliveries returns the notice-delivery counter, by channel and result,
// registered with reg (nil: not registered). Every notify executor built
// with the same registry shares one counter.
func Deliveries(reg prometheus.Registerer) *prometheus.CounterVec {
	return registerCounter(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "notify", Name: "deliveries_total",
		Help: "Notice deliveries by channel and result: delivered, failed (permanently), retried (within a call), deferred (to a later call).",
	}, []string{"channel", "result"}))
}

// registerCounter registers c with reg, or returns the counter of the same
// name already there: every user built with one registry shares one.
func registerCounter(reg prometheus.Registerer, c *prometheus.CounterVec) *prometheus.CounterVec {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
	}
	return c
}
