//go:build e2e

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

package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/noticeserver"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/routing"
	"github.com/ops-dev/region-withdrawal-operator/internal/summarize"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
)

func regionIngress(ns, name string, labels map[string]string) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels,
			Annotations: map[string]string{"nginx.ingress.kubernetes.io/proxy-body-size": "8m"}},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("nginx"),
			TLS:              []networkingv1.IngressTLS{{Hosts: []string{name + ".pk.example.com"}, SecretName: name + "-tls"}},
			Rules: []networkingv1.IngressRule{{Host: name + ".pk.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{
					{Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "chat", Port: networkingv1.ServiceBackendPort{Number: 80}}}},
					{Path: "/files", PathType: ptr.To(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "files", Port: networkingv1.ServiceBackendPort{Name: "http"}}}},
				}}}}},
		},
	}
}

func regionHTTPRoute(ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": map[string]any{"bes.example.com/region": "pk"}},
		"spec": map[string]any{
			"parentRefs": []any{map[string]any{"name": "public", "namespace": "gateways"}},
			"hostnames":  []any{"api.pk.example.com"},
			"rules": []any{
				map[string]any{
					"matches":     []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": "/v1"}}},
					"filters":     []any{map[string]any{"type": "RequestHeaderModifier", "requestHeaderModifier": map[string]any{"add": []any{map[string]any{"name": "x-region", "value": "pk"}}}}},
					"backendRefs": []any{map[string]any{"name": "api", "port": int64(80), "weight": int64(90)}, map[string]any{"name": "api-canary", "port": int64(80), "weight": int64(10)}},
				},
			},
		},
	}}
	return u
}

func getSpec(t *testing.T, c client.Client, u *unstructured.Unstructured) (map[string]any, map[string]string) {
	t.Helper()
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(u.GroupVersionKind())
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(u), got); err != nil {
		t.Fatal(err)
	}
	spec, _, _ := unstructured.NestedMap(got.Object, "spec")
	return spec, got.GetAnnotations()
}

func TestRoutingReportsMissingHTTPRouteAPI(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	if _, err := c.RESTMapper().RESTMapping(targets.HTTPRouteGVK.GroupKind(), "v1"); err == nil {
		t.Skip("the Gateway API is installed already; this test must run before the tests that install it")
	}
	const ns = "routing-nogw-e2e"
	createNamespace(t, c, ns)
	ing := regionIngress(ns, "chat", regionLabels)
	if err := c.Create(ctx, ing); err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	spec := baseSpec(clk.Now())
	spec.Routing = &v1.RoutingStep{Mode: v1.RoutingBlock451}
	rw := createWithdrawal(t, c, ns, spec, v1.StepRouting, clk.Now())
	e := routing.New(c, c, &targets.Resolver{Reader: c, Mapper: c.RESTMapper(), Clock: clk}, "")
	res, err := e.Execute(ctx, rw, planner.Action{ID: "routing", Kind: planner.ActionStart, Step: v1.StepRouting})
	if err != nil {
		t.Fatalf("Execute without the Gateway API: %v", err)
	}
	st := res.Detail.Routing
	if !res.Done || res.Failed || !st.HTTPRoutesUnavailable || st.Switched != 1 || !strings.Contains(res.Message, "HTTPRoute API (Gateway API) is not installed") {
		t.Fatalf("result %+v, status %+v", res, st)
	}
	t.Logf("reported: %s", res.Message)
}

func TestRoutingSwitchServes451AndCancelRestores(t *testing.T) {
	ctx := context.Background()
	if err := kwok.InstallGatewayAPI(); err != nil {
		t.Fatal(err)
	}
	c := newClient(t)
	const ns = "routing-e2e"
	createNamespace(t, c, ns)
	ing := regionIngress(ns, "chat", regionLabels)
	other := regionIngress(ns, "billing", map[string]string{"bes.example.com/region": "global"})
	route := regionHTTPRoute(ns, "api")
	for _, o := range []client.Object{ing, other, route} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	origIng, origIngAnn := getSpec(t, c, toUnstructured(t, ing))
	origOther, _ := getSpec(t, c, toUnstructured(t, other))
	origRoute, origRouteAnn := getSpec(t, c, route)

	clk := newFakeClock()
	spec := baseSpec(clk.Now())
	spec.Routing = &v1.RoutingStep{Mode: v1.RoutingBlock451, NoticeBackend: &v1.NoticeBackend{
		BlockedBy: "https://example.com/legal/pk", Message: "We left rather than weaken encryption."}}
	rw := createWithdrawal(t, c, ns, spec, v1.StepRouting, clk.Now())
	e := routing.New(c, c, &targets.Resolver{Reader: c, Mapper: c.RESTMapper(), Clock: clk}, "")
	res, err := e.Execute(ctx, rw, planner.Action{ID: "routing", Kind: planner.ActionStart, Step: v1.StepRouting})
	if err != nil || !res.Done || res.Failed {
		t.Fatalf("switch: %+v, %v", res, err)
	}
	summarize.RecordDetail(&rw.Status, v1.StepRouting, res.Detail) // as the controller records it
	t.Logf("switched: %s", res.Message)
	notice := routing.NoticeBackendName(rw)

	// The Ingress and the HTTPRoute now send everything to the notice backend.
	var switched networkingv1.Ingress
	if err := c.Get(ctx, client.ObjectKeyFromObject(ing), &switched); err != nil {
		t.Fatal(err)
	}
	for _, p := range switched.Spec.Rules[0].HTTP.Paths {
		if p.Backend.Service == nil || p.Backend.Service.Name != notice || p.Backend.Service.Port.Number != 80 {
			t.Fatalf("Ingress path %s goes to %+v, want %s:80", p.Path, p.Backend, notice)
		}
	}
	routeSpec, _ := getSpec(t, c, route)
	refs, _, _ := unstructured.NestedSlice(routeSpec["rules"].([]any)[0].(map[string]any), "backendRefs")
	if len(refs) != 1 || refs[0].(map[string]any)["name"] != notice {
		t.Fatalf("HTTPRoute backendRefs %v, want only %s", refs, notice)
	}
	if s, _ := getSpec(t, c, toUnstructured(t, other)); !equality.Semantic.DeepEqual(s, origOther) {
		t.Fatalf("an Ingress outside the region was changed")
	}

	// The deployed notice backend: restricted pod security, and its args
	// served for real on loopback answer 451 with the RFC 7725 headers.
	var dep appsv1.Deployment
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: notice}, &dep); err != nil {
		t.Fatalf("notice backend Deployment: %v", err)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: notice}, &corev1.Service{}); err != nil {
		t.Fatalf("notice backend Service: %v", err)
	}
	pod := dep.Spec.Template.Spec
	if sc := pod.Containers[0].SecurityContext; !*pod.SecurityContext.RunAsNonRoot || *sc.AllowPrivilegeEscalation || !*sc.ReadOnlyRootFilesystem || sc.Capabilities.Drop[0] != "ALL" {
		t.Fatalf("notice backend is not restricted: %+v %+v", pod.SecurityContext, sc)
	}
	args := pod.Containers[0].Args
	if args[0] != "notice-backend" {
		t.Fatalf("args %v do not start with the subcommand", args)
	}
	_, cfg, err := noticeserver.ParseArgs(args[1:])
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srvCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- noticeserver.Serve(srvCtx, ln, cfg) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("notice backend: %v", err)
		}
	}()
	req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/api/v1/messages", nil)
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnavailableForLegalReasons {
		t.Fatalf("status %d, want 451", resp.StatusCode)
	}
	if got := resp.Header.Get("Link"); got != `<https://example.com/legal/pk>; rel="blocked-by"` {
		t.Fatalf("Link %q", got)
	}
	if got := resp.Header.Get("Cache-Control"); got != noticeserver.CacheControl {
		t.Fatalf("Cache-Control %q", got)
	}
	var notice451 map[string]any
	if err := json.Unmarshal(body, &notice451); err != nil || notice451["region"] != "PK" || notice451["cutoff"] != rw.Spec.Cutoff.UTC().Format(time.RFC3339) {
		t.Fatalf("body %s (%v)", body, err)
	}

	// Cancel: every route's spec equals its snapshot, i.e. the original.
	rres, err := e.Execute(ctx, rw, planner.Action{ID: "revert/routing", Kind: planner.ActionRevert, Step: v1.StepRouting})
	if err != nil || !rres.Done || rres.Failed {
		t.Fatalf("revert: %+v, %v", rres, err)
	}
	t.Logf("reverted: %s", rres.Message)
	for _, tc := range []struct {
		name     string
		obj      *unstructured.Unstructured
		wantSpec map[string]any
		wantAnn  map[string]string
	}{
		{name: "Ingress", obj: toUnstructured(t, ing), wantSpec: origIng, wantAnn: origIngAnn},
		{name: "HTTPRoute", obj: route, wantSpec: origRoute, wantAnn: origRouteAnn},
	} {
		spec, ann := getSpec(t, c, tc.obj)
		if !equality.Semantic.DeepEqual(spec, tc.wantSpec) {
			t.Errorf("%s restored to\n%v\nwant\n%v", tc.name, spec, tc.wantSpec)
		}
		if !equality.Semantic.DeepEqual(ann, tc.wantAnn) {
			t.Errorf("%s annotations %v, want %v", tc.name, ann, tc.wantAnn)
		}
	}
}

func toUnstructured(t *testing.T, ing *networkingv1.Ingress) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("networking.k8s.io/v1")
	u.SetKind("Ingress")
	u.SetNamespace(ing.Namespace)
	u.SetName(ing.Name)
	return u
}
