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
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"slices"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ops-dev/region-withdrawal-operator/internal/admission"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

// TestChartAdmissionWebhook: with admissionWebhook.enabled the chart's
// serving certificate is signed by the CA its webhook configuration trusts
// for the Service's name, the operator serves it on the port the Service
// targets with the flags the values give, and the API server accepts the
// configuration (only cutoffs brought forward are sent).
func TestChartAdmissionWebhook(t *testing.T) {
	const ns = "rwo-webhook"
	objs, err := testenv.RenderChart("rwo", ns, "--set", "admissionWebhook.enabled=true", "--set", "admissionWebhook.minNotice=48h")
	if err != nil {
		t.Fatal(err)
	}
	var (
		secret corev1.Secret
		svc    corev1.Service
		vwc    admissionregistrationv1.ValidatingWebhookConfiguration
		deploy appsv1.Deployment
	)
	for _, u := range objs {
		var into any
		switch {
		case u.GetKind() == "Secret" && u.GetName() == "rwo-region-withdrawal-operator-webhook-tls":
			into = &secret
		case u.GetKind() == "Service" && u.GetName() == "rwo-region-withdrawal-operator-webhook":
			into = &svc
		case u.GetKind() == "ValidatingWebhookConfiguration":
			into = &vwc
		case u.GetKind() == "Deployment" && u.GetName() == "rwo-region-withdrawal-operator":
			into = &deploy
		default:
			continue
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
			t.Fatal(err)
		}
	}
	if len(vwc.Webhooks) != 1 || svc.Name == "" || secret.Name == "" || deploy.Name == "" {
		t.Fatalf("the chart did not render the webhook's objects: %d webhooks, service %q, secret %q, deployment %q", len(vwc.Webhooks), svc.Name, secret.Name, deploy.Name)
	}
	wh := vwc.Webhooks[0]
	if ref := wh.ClientConfig.Service; ref == nil || ref.Name != svc.Name || ref.Namespace != ns || ref.Path == nil || *ref.Path != admission.CutoffNoticePath {
		t.Errorf("the webhook calls %+v", wh.ClientConfig.Service)
	}
	// The Secret's data is base64 in the manifest; the converter leaves it
	// as the bytes it decodes to.
	pair, err := tls.X509KeyPair(secret.Data["tls.crt"], secret.Data["tls.key"])
	if err != nil {
		t.Fatalf("the serving key pair: %v", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(wh.ClientConfig.CABundle) {
		t.Fatalf("the caBundle holds no certificate: %q", base64.StdEncoding.EncodeToString(wh.ClientConfig.CABundle))
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: svc.Name + "." + ns + ".svc"}); err != nil {
		t.Errorf("the API server would not trust the serving certificate: %v", err)
	}
	c := deploy.Spec.Template.Spec.Containers[0]
	for _, want := range []string{"--webhook-bind-address=:9443", "--webhook-cert-dir=/webhook-tls", "--min-notice=48h", "--min-notice-floor=1h"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("the operator runs without %s: %v", want, c.Args)
		}
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool {
		return p.Name == svc.Spec.Ports[0].TargetPort.StrVal && p.ContainerPort == 9443
	}) {
		t.Errorf("the Service targets %s, the container has %+v", svc.Spec.Ports[0].TargetPort.StrVal, c.Ports)
	}

	// The API server takes the configuration as rendered.
	vwc.ResourceVersion = ""
	if err := env.Client.Create(context.Background(), &vwc, client.DryRunAll); err != nil {
		t.Errorf("the API server refuses the webhook configuration: %v", err)
	}
}
