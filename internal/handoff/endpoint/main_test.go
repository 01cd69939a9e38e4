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

package endpoint

import (
	"strings"
	"testing"
	"time"
)

func TestExportAllowedOriginsFlag(t *testing.T) {
	f, err := ParseFlags([]string{"--namespace=rwo-system"})
	if err != nil || f.AllowedOrigins.Configured() {
		t.Fatalf("without the flag: %v, %v; want no allow-list", f.AllowedOrigins, err)
	}
	f, err = ParseFlags([]string{"--namespace=rwo-system", "--export-allowed-origins=https://objects.example.com, s3://exports-bucket,https://*.blob.example.net"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.AllowedOrigins.String(), "https://objects.example.com,s3://exports-bucket,https://*.blob.example.net"; got != want {
		t.Fatalf("allow-list %q, want %q", got, want)
	}
	if f.AllowedOrigins.Check("https://evil.example/x") == nil || f.AllowedOrigins.Check("s3://exports-bucket/pk/a") != nil {
		t.Fatal("the parsed list does not check as it says")
	}
	if _, err := ParseFlags([]string{"--namespace=rwo-system", "--export-allowed-origins=https://objects.example.com/exports"}); err == nil || !strings.Contains(err.Error(), "no path") {
		t.Fatalf("a malformed entry: %v, want refused", err)
	}
}

func TestS3PresignFlags(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv("AWS_ENDPOINT_URL", "http://10.0.0.5:8333")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	f, err := ParseFlags([]string{"--namespace=rwo-system"})
	if err != nil {
		t.Fatal(err)
	}
	if f.Presign || f.S3.Endpoint != "http://10.0.0.5:8333" || f.S3.Region != "us-east-1" || f.PresignExpiry != 15*time.Minute {
		t.Fatalf("defaults: presign %v, endpoint %q, region %q, expiry %s", f.Presign, f.S3.Endpoint, f.S3.Region, f.PresignExpiry)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{args: []string{"--s3-presign-expiry=0s"}, want: "1s to 168h"},
		{args: []string{"--s3-presign-expiry=200h"}, want: "1s to 168h"},
		{args: []string{"--s3-presign", "--s3-endpoint=s3.example.com"}, want: "want an http(s) URL"},
	} {
		if _, err := ParseFlags(append([]string{"--namespace=rwo-system"}, tc.args...)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}
}
