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

package chart

import (
	"context"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ops-dev/region-withdrawal-operator/internal/handoff/endpoint"
)

// TestHandoffPresignValues: handoff.s3 reaches the endpoint as the flags
// its own parser reads, the signing credentials come from the named Secret
// (the session token optional), the ServiceAccount carries the annotations
// a web identity needs, and the API server takes it all.
func TestHandoffPresignValues(t *testing.T) {
	const handoffName = "rwo-region-withdrawal-operator-handoff"
	objs := render(t, "handoff-a", "handoff.enabled=true", "handoff.publicURL=https://export.example.com",
		"handoff.s3.presign=true", "handoff.s3.endpoint=https://minio.example.com", "handoff.s3.region=eu-central-1",
		"handoff.s3.pathStyle=true", "handoff.s3.presignExpiry=5m", "handoff.s3.credentialsSecret=handoff-s3",
		"handoff.serviceAccountAnnotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::111122223333:role/handoff")
	found := false
	for _, o := range objs {
		if o.GetName() != handoffName {
			continue
		}
		switch o.GetKind() {
		case "ServiceAccount":
			if got := o.GetAnnotations()["eks.amazonaws.com/role-arn"]; got != "arn:aws:iam::111122223333:role/handoff" {
				t.Errorf("the endpoint's ServiceAccount has role-arn %q", got)
			}
		case "Deployment":
			found = true
			if o.GetNamespace() == "" {
				o.SetNamespace("handoff-a")
			}
			if err := env.Client.Create(context.Background(), o, client.DryRunAll); err != nil {
				t.Fatalf("the API server refused the endpoint: %v", err)
			}
			c := deployment(t, o).Spec.Template.Spec.Containers[0]
			f, err := endpoint.ParseFlags(c.Args[1:])
			if err != nil {
				t.Fatalf("the endpoint's flags %v do not parse: %v", c.Args, err)
			}
			if !f.Presign || f.S3.Endpoint != "https://minio.example.com" || f.S3.Region != "eu-central-1" || !f.S3.PathStyle || f.PresignExpiry != 5*time.Minute {
				t.Errorf("the endpoint runs with presign %v, endpoint %q, region %q, path style %v, expiry %s", f.Presign, f.S3.Endpoint, f.S3.Region, f.S3.PathStyle, f.PresignExpiry)
			}
			env := map[string]string{}
			for _, e := range c.Env {
				if r := e.ValueFrom; r != nil && r.SecretKeyRef != nil && r.SecretKeyRef.Name == "handoff-s3" {
					env[e.Name] = r.SecretKeyRef.Key
					if opt := r.SecretKeyRef.Optional; (opt != nil && *opt) != (e.Name == "AWS_SESSION_TOKEN") {
						t.Errorf("%s optional: %v", e.Name, opt)
					}
				}
			}
			for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
				if env[k] != k {
					t.Errorf("the endpoint's %s does not come from Secret handoff-s3 (env %v)", k, c.Env)
				}
			}
		}
	}
	if !found {
		t.Fatal("no handoff Deployment rendered")
	}

	// Off by default: no S3 flag, no credentials.
	for _, o := range render(t, "handoff-a", "handoff.enabled=true", "handoff.publicURL=https://export.example.com") {
		if o.GetName() == handoffName && o.GetKind() == "Deployment" {
			c := deployment(t, o).Spec.Template.Spec.Containers[0]
			if strings.Contains(strings.Join(c.Args, " "), "--s3-") || len(c.Env) != 0 {
				t.Errorf("without handoff.s3.presign the endpoint gets %v, env %v", c.Args, c.Env)
			}
		}
	}
	if out, err := runHelm("template", "rwo", chart, "--set", "handoff.s3.endpoint=minio.example.com"); err == nil || !strings.Contains(out, "endpoint") {
		t.Fatalf("an endpoint without a scheme was accepted: %v\n%s", err, out)
	}
}
