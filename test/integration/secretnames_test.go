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
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestTenantSecretsNarrowedByName installs the chart and acts as the
// withdrawal's ServiceAccount, which is what a withdrawal author reaches
// through a withdrawal: with the default values it reads the Secrets named
// by convention and no other; tenancy.secretNames replaces the names, and
// an empty list reads none.
func TestTenantSecretsNarrowedByName(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		release  string
		args     []string
		readable []string
	}{
		{release: "rwo-convention", readable: []string{"region-withdrawal-webhook", "region-withdrawal-smtp", "region-withdrawal-recipients", "region-withdrawal-headers"}},
		{release: "rwo-named", args: []string{"--set", "tenancy.secretNames={pk-webhook,pk-smtp}"}, readable: []string{"pk-webhook", "pk-smtp"}},
		{release: "rwo-none", args: []string{"--set-json", "tenancy.secretNames=[]"}},
	} {
		t.Run(tc.release, func(t *testing.T) {
			ns, tenant := tc.release, tc.release+"-tenant"
			for _, n := range []string{ns, tenant} {
				if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil {
					t.Fatal(err)
				}
			}
			installChart(t, tc.release, ns, nil, append([]string{"--set", "tenancy.namespaces={" + tenant + "}"}, tc.args...)...)
			names := []string{"region-withdrawal-webhook", "region-withdrawal-smtp", "region-withdrawal-recipients", "region-withdrawal-headers", "pk-webhook", "pk-smtp", "db-password"}
			for _, name := range names {
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
			for _, name := range names {
				var s corev1.Secret
				err := as.Get(ctx, client.ObjectKey{Namespace: tenant, Name: name}, &s)
				switch {
				case slices.Contains(tc.readable, name) && err != nil:
					t.Errorf("the ServiceAccount cannot read Secret %s, which it should: %v", name, err)
				case !slices.Contains(tc.readable, name) && !apierrors.IsForbidden(err):
					t.Errorf("the ServiceAccount read Secret %s, which it should not (err %v)", name, err)
				}
			}
			var list corev1.SecretList
			if err := as.List(ctx, &list, client.InNamespace(tenant)); !apierrors.IsForbidden(err) {
				t.Errorf("the ServiceAccount listed the namespace's Secrets (err %v)", err)
			}
			// The rest of the tenant role is as wide as before.
			var cms corev1.ConfigMapList
			if err := as.List(ctx, &cms, client.InNamespace(tenant)); err != nil {
				t.Fatalf("the narrowed tenant role lost its other rules: %v", err)
			}
		})
	}
}
