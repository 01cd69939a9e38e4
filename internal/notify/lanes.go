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

package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/egress"
	"github.com/ops-dev/region-withdrawal-operator/internal/metrics"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/channel"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/email"
	"github.com/ops-dev/region-withdrawal-operator/internal/notify/webhook"
)

// Defaults of DeliveryLimits, as the CRD defaults them, for objects built
// in Go.
const (
	defaultRate        = 100
	defaultConcurrency = 16
	defaultMaxAttempts = 8
	defaultTimeout     = 10 * time.Second
)

// Lane is one channel with its limits.
type Lane struct {
	Sender      channel.Sender
	Limiter     *rate.Limiter
	Concurrency int
	MaxAttempts int
	Timeout     time.Duration
}

// NewLane applies a channel's DeliveryLimits, defaulting what is unset.
func NewLane(s channel.Sender, l v1.DeliveryLimits) *Lane {
	rps := int(l.RatePerSecond)
	if rps <= 0 {
		rps = defaultRate
	}
	conc := int(l.Concurrency)
	if conc <= 0 {
		conc = defaultConcurrency
	}
	attempts := int(l.MaxAttempts)
	if attempts <= 0 {
		attempts = defaultMaxAttempts
	}
	timeout := defaultTimeout
	if l.Timeout != nil && l.Timeout.Duration > 0 {
		timeout = l.Timeout.Duration
	}
	return &Lane{Sender: s, Limiter: rate.NewLimiter(rate.Limit(rps), max(1, min(conc, rps))),
		Concurrency: conc, MaxAttempts: attempts, Timeout: timeout}
}

// ChannelFactory builds the lanes of a withdrawal for one call, and a
// function that releases them (idle connections).
type ChannelFactory func(ctx context.Context, rw *v1.RegionWithdrawal, r client.Reader, clk clock.PassiveClock) (map[channel.Name]*Lane, func(), error)

// ErrCredentials is wrapped when a channel's Secret or key is missing.
var ErrCredentials = errors.New("notify channel credentials")

// GuardedChannels builds the real webhook and SMTP senders, dialling only
// what policy allows; They read the signing key and SMTP credentials from
// their Secrets on every call, so a rotated Secret takes effect on the next
// batch.
// legacyWebhookHeaders also sends the webhook headers from before
// Standard Webhooks.
//
// The webhook transports, and so their connections, are kept from one call
// to the next (webhook.Transports): only the keys are read anew.
func GuardedChannels(policy *egress.Policy, legacyWebhookHeaders bool) ChannelFactory {
	transports := webhook.NewTransports(policy, maxWebhookTransports)
	return func(ctx context.Context, rw *v1.RegionWithdrawal, r client.Reader, clk clock.PassiveClock) (map[channel.Name]*Lane, func(), error) {
		return channels(ctx, rw, r, clk, policy, transports, legacyWebhookHeaders)
	}
}

// maxWebhookTransports bounds the webhook transports kept: one per CA
// bundle and concurrency in use, which few installations have more than a
// handful of.
const maxWebhookTransports = 32

func channels(ctx context.Context, rw *v1.RegionWithdrawal, r client.Reader, clk clock.PassiveClock, policy *egress.Policy, transports *webhook.Transports, legacy bool) (map[channel.Name]*Lane, func(), error) {
	n := rw.Spec.Notify
	lanes := map[channel.Name]*Lane{}
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	if wh := n.Webhook; wh != nil {
		value, err := secretKey(ctx, r, rw.Namespace, wh.SigningSecretRef.Name, wh.SigningSecretRef.Key)
		if err != nil {
			return nil, nil, err
		}
		keys, err := webhook.ParseKeys(value)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: Secret %s/%s key %q: %w", ErrCredentials, rw.Namespace, wh.SigningSecretRef.Name, wh.SigningSecretRef.Key, err)
		}
		conc := int(wh.Limits.Concurrency)
		if conc <= 0 {
			conc = defaultConcurrency
		}
		tr, err := transports.Get(wh.CABundle, conc)
		if err != nil {
			return nil, nil, err
		}
		// The transport is shared with later calls: its idle connections
		// are left open for them.
		s, err := webhook.New(webhook.Config{URL: wh.URL, Keys: keys, KeyPerRecipient: wh.KeyPerRecipient, CABundle: wh.CABundle, LegacyHeaders: legacy,
			Concurrency: conc, Clock: clk, Egress: policy, Transport: tr})
		if err != nil {
			return nil, nil, err
		}
		lanes[channel.Webhook] = NewLane(s, wh.Limits)
	}
	if em := n.Email; em != nil {
		cfg := email.Config{Host: em.Host, Port: int(em.Port), Security: em.Security, From: em.From,
			CABundle: em.CABundle, Concurrency: int(em.Limits.Concurrency), Clock: clk, Egress: policy}
		if ref := em.CredentialsSecretRef; ref != nil {
			user, err := secretKey(ctx, r, rw.Namespace, ref.Name, "username")
			if err != nil {
				closeAll()
				return nil, nil, err
			}
			pass, err := secretKey(ctx, r, rw.Namespace, ref.Name, "password")
			if err != nil {
				closeAll()
				return nil, nil, err
			}
			cfg.Username, cfg.Password = string(user), string(pass)
		}
		s, err := email.New(cfg)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		closers = append(closers, s.Close)
		lanes[channel.Email] = NewLane(s, em.Limits)
	}
	return lanes, closeAll, nil
}

// secretKey reads one key of a Secret. Errors name the Secret and key,
// never the value.
func secretKey(ctx context.Context, r client.Reader, namespace, name, key string) ([]byte, error) {
	var s corev1.Secret
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &s); err != nil {
		return nil, fmt.Errorf("%w: Secret %s/%s: %w", ErrCredentials, namespace, name, err)
	}
	v, ok := s.Data[key]
	if !ok || len(v) == 0 {
		return nil, fmt.Errorf("%w: Secret %s/%s has no key %q", ErrCredentials, namespace, name, key)
	}
	return v, nil
}

// deliveryMetrics counts delivery attempts by channel and result.
type deliveryMetrics struct {
	deliveries *prometheus.CounterVec
}

func newDeliveryMetrics(reg prometheus.Registerer) *deliveryMetrics {
	return &deliveryMetrics{deliveries: metrics.Deliveries(reg)}
}

func (m *deliveryMetrics) observe(ch channel.Name, result string) {
	m.deliveries.WithLabelValues(string(ch), result).Inc()
}
