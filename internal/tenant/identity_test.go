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

package tenant

import (
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// A Secret refused names the value that lists the Secrets a withdrawal
// may read; anything else keeps the general hint.
func TestADeniedSecretPointsAtTheSecretNames(t *testing.T) {
	id := Identity{Namespace: "shop", ServiceAccount: "region-withdrawal"}
	secret := &DeniedError{Identity: id, Err: apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "pk-hook", errors.New("no"))}
	if msg := secret.Error(); !strings.Contains(msg, "tenancy.secretNames") || !strings.Contains(msg, `"pk-hook"`) {
		t.Errorf("a refused Secret says %q; want its name and tenancy.secretNames", msg)
	}
	deploy := &DeniedError{Identity: id, Err: apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web", errors.New("no"))}
	if msg := deploy.Error(); strings.Contains(msg, "secretNames") || !strings.Contains(msg, "Role and RoleBinding") {
		t.Errorf("a refused Deployment says %q", msg)
	}
}
