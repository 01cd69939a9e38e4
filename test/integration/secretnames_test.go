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

package integration

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestTenantSecretsNarrowedByName installs the chart with
// tenancy.secretNames and acts as the withdrawal's ServiceAccount, which is
// what a withdrawal author reaches through a withdrawal: it reads the
// Secrets named, and is refused every other Secret of its namespace.
func TestTenantSecretsNarrowedByName(t *testing.T) {
	ctx := context.Background()
	const ns, tenant = "rwo-narrow", "narrow-tenant"
	for _, n := range []string{ns, tenant} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	installChart(t, "rwo-narrow", ns, nil, "--set", "tenancy.namespaces={"+tenant+"}", "--set", "tenancy.secretNames={pk-webhook,pk-smtp}")
	for _, name := range []string{"pk-webhook", "db-password"} {
		if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: tenant}, Data: map[string][]byte{"k": []byte("v")}}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + tenant + ":region-withdrawal",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + tenant, "system:authenticated"}}
	as, err := client.New(cfg, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	var s corev1.Secret
	if err := as.Get(ctx, client.ObjectKey{Namespace: tenant, Name: "pk-webhook"}, &s); err != nil {
		t.Fatalf("the ServiceAccount cannot read a Secret tenancy.secretNames names: %v", err)
	}
	if err := as.Get(ctx, client.ObjectKey{Namespace: tenant, Name: "db-password"}, &s); !apierrors.IsForbidden(err) {
		t.Fatalf("the ServiceAccount read a Secret tenancy.secretNames does not name: %v", err)
	}
	// The rest of the tenant role is as wide as before.
	var cms corev1.ConfigMapList
	if err := as.List(ctx, &cms, client.InNamespace(tenant)); err != nil {
		t.Fatalf("the narrowed tenant role lost its other rules: %v", err)
	}
}
