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

package testenv

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// GatewayAPIVersion is the Gateway API release whose standard CRDs the
// tests install (hack/real-node.sh serves the same one on the real node).
const GatewayAPIVersion = "v1.6.3"

// GatewayAPICRD is the path of the standard channel's CRD of resource
// (e.g. "httproutes") in the sigs.k8s.io/gateway-api module, which it
// downloads through the Go module proxy when it is not in the module cache.
func GatewayAPICRD(resource string) (string, error) {
	tmp, err := os.MkdirTemp("", "gateway-api-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	dl := exec.Command("go", "mod", "download", "-json", "sigs.k8s.io/gateway-api@"+GatewayAPIVersion)
	// Outside the repository, so that go.mod and go.sum stay as they are.
	dl.Dir = tmp
	dl.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := dl.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download sigs.k8s.io/gateway-api@%s: %w", GatewayAPIVersion, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("no Dir in go mod download output: %s", out)
	}
	path := filepath.Join(mod.Dir, "config", "crd", "standard", "gateway.networking.k8s.io_"+resource+".yaml")
	if _, err := os.Stat(path); err != nil {
		return "", err
	}
	return path, nil
}
