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

// Package tenant makes the operator act as the withdrawal it carries out.
// Every write an executor makes, and every uncached read of an object a
// spec refers to, is made by impersonating a ServiceAccount of the
// withdrawal's namespace; every read from the shared cache is allowed only
// when a SubjectAccessReview says that ServiceAccount could make it. So
// Kubernetes RBAC, not the operator's own role, decides what a withdrawal
// may read, scale, rewrite or create.
//
// The identity travels in the context: the controller puts it there once
// per reconcile, and the executors' clients read it on every call. A call
// without one (a watch's mapping function) is the operator's own.
package tenant

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// Identity is the ServiceAccount a withdrawal acts as.
type Identity struct {
	Namespace, ServiceAccount string
}

// UserName is the identity's Kubernetes user name.
func (id Identity) UserName() string {
	return "system:serviceaccount:" + id.Namespace + ":" + id.ServiceAccount
}

// Groups are the groups the API server gives a ServiceAccount's tokens
// (and adds when impersonating one).
func (id Identity) Groups() []string {
	return []string{"system:serviceaccounts", "system:serviceaccounts:" + id.Namespace, "system:authenticated"}
}

// Of returns who rw acts as: spec.serviceAccountName, or defaultName when
// that is empty. ok is false when both are empty: the operator then acts as
// itself, which only a single-tenant installation should allow (the chart
// always sets a default).
func Of(rw *v1.RegionWithdrawal, defaultName string) (id Identity, ok bool) {
	name := rw.Spec.ServiceAccountName
	if name == "" {
		name = defaultName
	}
	if name == "" {
		return Identity{}, false
	}
	return Identity{Namespace: rw.Namespace, ServiceAccount: name}, true
}

type identityKey struct{}

// WithIdentity returns a context whose executor calls act as id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the identity ctx carries.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok && id.ServiceAccount != ""
}

// AsOperator returns a context whose calls are the operator's own, for
// the few reads the operator makes for itself in the middle of a
// withdrawal's work (a namespace's Pod Security level, say). Nothing read
// this way may be written into what the tenant can see beyond what it
// decides.
func AsOperator(ctx context.Context) context.Context {
	return context.WithValue(ctx, identityKey{}, Identity{})
}

// DeniedError is a request the withdrawal's ServiceAccount may not make.
// Its message is the API server's, which names the user, the verb and the
// object, with a hint of how to grant it.
type DeniedError struct {
	Identity Identity
	Err      error
}

func (e *DeniedError) Error() string {
	grant := "grant it the permission with a Role and RoleBinding"
	// The chart's tenant role reads Secrets by name only, so a Secret
	// refused is most often one named other than by the convention.
	var status apierrors.APIStatus
	if errors.As(e.Err, &status) && status.Status().Details != nil && status.Status().Details.Kind == "secrets" {
		grant = "list the Secret in the chart's tenancy.secretNames, which the tenant role reads by name, or grant it with a Role and RoleBinding"
	}
	return fmt.Sprintf("%v (the withdrawal acts as ServiceAccount %s/%s: %s, or leave the object out of the withdrawal)",
		e.Err, e.Identity.Namespace, e.Identity.ServiceAccount, grant)
}

func (e *DeniedError) Unwrap() error { return e.Err }

// AsDenied returns the DeniedError in err's chain.
func AsDenied(err error) (*DeniedError, bool) {
	var d *DeniedError
	ok := errors.As(err, &d)
	return d, ok
}

// denied wraps a Forbidden answer to a request made as id.
func denied(id Identity, err error) error {
	if err != nil && apierrors.IsForbidden(err) {
		return &DeniedError{Identity: id, Err: err}
	}
	return err
}
