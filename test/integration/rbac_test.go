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
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

// rbacKinds are the kinds of the chart's ServiceAccounts and RBAC.
var rbacKinds = []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}

// installChart renders the chart as release in ns with helm's extra
// arguments, and creates the objects of the given kinds (rbacKinds when
// nil). The envtest API server runs no Deployments, so the operator
// itself is started by the test.
func installChart(t *testing.T, release, ns string, kinds []string, args ...string) {
	t.Helper()
	if kinds == nil {
		kinds = rbacKinds
	}
	installChartObjects(t, release, ns, func(u *unstructured.Unstructured) bool { return slices.Contains(kinds, u.GetKind()) }, args...)
}

// installChartObjects creates the objects of the rendered chart that keep
// accepts.
func installChartObjects(t *testing.T, release, ns string, keep func(*unstructured.Unstructured) bool, args ...string) {
	t.Helper()
	objs, err := testenv.RenderChart(release, ns, args...)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range objs {
		if keep(u) {
			if err := env.Client.Create(context.Background(), u); err != nil {
				t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
			}
		}
	}
}

// tokenKubeconfig writes a kubeconfig that authenticates as a ServiceAccount
// with a token from the TokenRequest API.
func tokenKubeconfig(t *testing.T, ns, sa string) (string, string) {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(env.Config)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: env.Config.Host, CertificateAuthorityData: env.Config.CAData}
	kc.AuthInfos["sa"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["sa"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "sa"}
	kc.CurrentContext = "sa"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path, tr.Status.Token
}

func TestChartRBACIsEnoughAndNoMore(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	for _, ns := range []string{"rwo-system", "bes-system", "other-tenant"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	installChart(t, "rwo", "rwo-system", nil, "--set", "watchNamespaces={bes-system}", "--set", "tenancy.namespaces={bes-system}")
	sa := "rwo-region-withdrawal-operator"
	user := "system:serviceaccount:rwo-system:" + sa

	t.Run("what SubjectAccessReview says it may not do", func(t *testing.T) {
		cs := kubernetes.NewForConfigOrDie(env.Config)
		for _, tc := range []struct {
			name string
			attr authorizationv1.ResourceAttributes
			want bool
		}{
			// What it needs for itself: its own resources, watching what
			// withdrawals select, and acting as their ServiceAccounts.
			{name: "patch withdrawal status in the watched namespace", attr: authorizationv1.ResourceAttributes{Namespace: "bes-system", Verb: "patch", Group: "withdrawal.ops.dev", Resource: "regionwithdrawals", Subresource: "status"}, want: true},
			{name: "watch Deployments in the watched namespace", attr: authorizationv1.ResourceAttributes{Namespace: "bes-system", Verb: "watch", Group: "apps", Resource: "deployments"}, want: true},
			{name: "impersonate a ServiceAccount of the watched namespace", attr: authorizationv1.ResourceAttributes{Namespace: "bes-system", Verb: "impersonate", Resource: "serviceaccounts", Name: "region-withdrawal"}, want: true},
			{name: "ask what a ServiceAccount may do", attr: authorizationv1.ResourceAttributes{Verb: "create", Group: "authorization.k8s.io", Resource: "subjectaccessreviews"}, want: true},
			// What only a withdrawal's ServiceAccount may do.
			{name: "read Secrets in the watched namespace", attr: authorizationv1.ResourceAttributes{Namespace: "bes-system", Verb: "get", Resource: "secrets"}},
			{name: "scale Deployments in the watched namespace", attr: authorizationv1.ResourceAttributes{Namespace: "bes-system", Verb: "update", Group: "apps", Resource: "deployments"}},
			{name: "rewrite Ingresses in the watched namespace", attr: authorizationv1.ResourceAttributes{Namespace: "bes-system", Verb: "update", Group: "networking.k8s.io", Resource: "ingresses"}},
			{name: "create Jobs in the watched namespace", attr: authorizationv1.ResourceAttributes{Namespace: "bes-system", Verb: "create", Group: "batch", Resource: "jobs"}},
			{name: "write ConfigMaps in the watched namespace", attr: authorizationv1.ResourceAttributes{Namespace: "bes-system", Verb: "create", Resource: "configmaps"}},
			{name: "delete autoscalers in the watched namespace", attr: authorizationv1.ResourceAttributes{Namespace: "bes-system", Verb: "delete", Group: "autoscaling", Resource: "horizontalpodautoscalers"}},
			// Nothing elsewhere.
			{name: "read Secrets in another namespace", attr: authorizationv1.ResourceAttributes{Namespace: "other-tenant", Verb: "get", Resource: "secrets"}},
			{name: "list Secrets anywhere", attr: authorizationv1.ResourceAttributes{Namespace: "bes-system", Verb: "list", Resource: "secrets"}},
			{name: "impersonate a ServiceAccount of another namespace", attr: authorizationv1.ResourceAttributes{Namespace: "other-tenant", Verb: "impersonate", Resource: "serviceaccounts", Name: "default"}},
			{name: "impersonate another ServiceAccount of the watched namespace", attr: authorizationv1.ResourceAttributes{Namespace: "bes-system", Verb: "impersonate", Resource: "serviceaccounts", Name: "admin"}},
			{name: "impersonate a user", attr: authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "users", Name: "admin"}},
			{name: "delete a namespace", attr: authorizationv1.ResourceAttributes{Verb: "delete", Resource: "namespaces", Name: "bes-system"}},
			{name: "touch withdrawals in another namespace", attr: authorizationv1.ResourceAttributes{Namespace: "other-tenant", Verb: "get", Group: "withdrawal.ops.dev", Resource: "regionwithdrawals"}},
			{name: "create pods", attr: authorizationv1.ResourceAttributes{Namespace: "bes-system", Verb: "create", Resource: "pods"}},
		} {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user,
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:rwo-system", "system:authenticated"}, ResourceAttributes: &tc.attr}}
			res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status.Allowed != tc.want {
				t.Errorf("%s: allowed=%v, want %v", tc.name, res.Status.Allowed, tc.want)
			}
		}
	})

	t.Run("no wildcard verb or resource", func(t *testing.T) {
		var roles rbacv1.ClusterRoleList
		if err := c.List(ctx, &roles, client.MatchingLabels{"app.kubernetes.io/instance": "rwo"}); err != nil {
			t.Fatal(err)
		}
		var nsRoles rbacv1.RoleList
		if err := c.List(ctx, &nsRoles, client.MatchingLabels{"app.kubernetes.io/instance": "rwo"}); err != nil {
			t.Fatal(err)
		}
		var rules []rbacv1.PolicyRule
		for _, r := range roles.Items {
			rules = append(rules, r.Rules...)
		}
		for _, r := range nsRoles.Items {
			rules = append(rules, r.Rules...)
		}
		if len(rules) == 0 {
			t.Fatal("no rules found")
		}
		for _, r := range rules {
			for _, field := range [][]string{r.Verbs, r.Resources, r.APIGroups, r.NonResourceURLs} {
				for _, v := range field {
					if strings.Contains(v, "*") {
						t.Errorf("wildcard %q in rule %+v", v, r)
					}
				}
			}
		}
	})

	t.Run("the operator runs a withdrawal with only these permissions", func(t *testing.T) {
		kubeconfig, _ := tokenKubeconfig(t, "rwo-system", sa)
		zero := v1.Moment{Offset: &metav1.Duration{}}
		cutoff := metav1.NewTime(time.Now().Add(8 * time.Second).Truncate(time.Second))
		if err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "pk-recipients", Namespace: "bes-system"},
			Data: map[string]string{"list.csv": "id,email\nc1,a@example.com\n"}}); err != nil {
			t.Fatal(err)
		}
		rw := &v1.RegionWithdrawal{
			ObjectMeta: metav1.ObjectMeta{Namespace: "bes-system", Name: "pakistan"},
			Spec: v1.RegionWithdrawalSpec{
				Region: "PK", Cutoff: cutoff, TimeZone: "Asia/Karachi", DryRun: true,
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{"bes.example.com/region": "pk"}},
				Notify: &v1.NotifyStep{Announce: v1.Moment{Offset: &metav1.Duration{Duration: -6 * time.Second}}, Final: v1.Moment{Offset: &metav1.Duration{Duration: -3 * time.Second}},
					Recipients: v1.RecipientSources{ConfigMaps: []v1.RecipientObjectRef{{Name: "pk-recipients"}}},
					Webhook:    &v1.WebhookChannel{URL: "https://127.0.0.1:9/hook", SigningSecretRef: v1.SecretKeyReference{Name: "region-withdrawal-webhook", Key: "k"}}},
				Drain:   &v1.DrainStep{Start: v1.Moment{Offset: &metav1.Duration{Duration: -2 * time.Second}}},
				Routing: &v1.RoutingStep{At: &zero},
			},
		}
		if err := c.Create(ctx, rw); err != nil {
			t.Fatal(err)
		}
		// --namespace and the key Secret as the chart passes them: the
		// evidence ledger is kept there, under the chart's evidence Role.
		op := startWithKubeconfig(t, kubeconfig, "--metrics-bind-address=0", "--health-probe-bind-address=0", "--default-service-account=region-withdrawal",
			"--leader-elect", "--leader-election-namespace=rwo-system", "--watch-namespaces=bes-system", "--namespace=rwo-system",
			"--evidence-key-secret=rwo-region-withdrawal-operator-evidence-key")
		poll(t, "the withdrawal completed", func() error {
			got := &v1.RegionWithdrawal{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(rw), got); err != nil {
				return err
			}
			if got.Status.Phase != v1.PhaseCompleted {
				return fmt.Errorf("phase %q, steps %+v", got.Status.Phase, got.Status.Steps)
			}
			return nil
		})
		if strings.Contains(op.out.String(), "forbidden") {
			t.Fatalf("the operator hit a permission error:\n%s", op.out.String())
		}
		// Its evidence ledger (the spec, at least) is in the operator's
		// namespace, signed with the key it created there.
		var shards corev1.ConfigMapList
		if err := c.List(ctx, &shards, client.InNamespace("rwo-system"), client.HasLabels{ledger.LabelShard}); err != nil || len(shards.Items) == 0 {
			t.Fatalf("evidence shards in rwo-system: %d (%v), want the withdrawal's ledger", len(shards.Items), err)
		}
		op.stop(t)
	})
}

// TestImpersonationIsLimitedToTheNamedServiceAccounts: installed to watch
// every namespace, the operator may impersonate the ServiceAccounts the
// installation lets withdrawals act as (the default and
// tenancy.serviceAccounts), in any namespace, and no other: not a
// kube-system controller's, not a namespace's default or admin one. A
// compromised operator is then not cluster-admin by way of
// kube-system:generic-garbage-collector.
func TestImpersonationIsLimitedToTheNamedServiceAccounts(t *testing.T) {
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "rwo-wide"}}); err != nil {
		t.Fatal(err)
	}
	installChart(t, "wide", "rwo-wide", nil, "--set", "tenancy.serviceAccounts={exporter}")
	user := "system:serviceaccount:rwo-wide:wide-region-withdrawal-operator"
	cs := kubernetes.NewForConfigOrDie(env.Config)
	for _, tc := range []struct {
		ns, name string
		want     bool
	}{
		{ns: "shop", name: "region-withdrawal", want: true},
		{ns: "shop", name: "exporter", want: true},
		{ns: "shop", name: "default"},
		{ns: "shop", name: "admin"},
		{ns: "kube-system", name: "generic-garbage-collector"},
		{ns: "kube-system", name: "clusterrole-aggregation-controller"},
		{ns: "rwo-wide", name: "wide-region-withdrawal-operator-handoff"},
	} {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user,
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:rwo-wide", "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: tc.ns, Verb: "impersonate", Resource: "serviceaccounts", Name: tc.name}}}
		res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status.Allowed != tc.want {
			t.Errorf("impersonate %s/%s: allowed=%v, want %v", tc.ns, tc.name, res.Status.Allowed, tc.want)
		}
	}
	// Nor a ServiceAccount unnamed: impersonating without a name is
	// impersonating any.
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "shop", Verb: "impersonate", Resource: "serviceaccounts"}}}
	if res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{}); err != nil || res.Status.Allowed {
		t.Errorf("impersonating any ServiceAccount: allowed=%v, err %v", res.Status.Allowed, err)
	}
}
