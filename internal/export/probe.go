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

package export

import (
	"context"
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/tenant"
)

// maxProbedNamespaces bounds the dry runs one generation of a spec costs:
// the template is the same everywhere, and namespaces differ only in their
// policies (Pod Security, quotas, admission policies).
const maxProbedNamespaces = 20

var _ executor.SpecProber = (*Executor)(nil)

// probes remembers, per withdrawal generation, what the dry run found, so
// each spec is probed once per process while its export waits.
type probes struct {
	mu   sync.Mutex
	done map[probeKey]error
}

type probeKey struct {
	uid        types.UID
	generation int64
}

// ProbeSpec creates one export Job per target namespace as a server-side
// dry run, as the withdrawal's ServiceAccount, while the export has not
// started. A template the API server refuses, or whose Pods the
// namespace's Pod Security level would refuse, stalls the withdrawal when
// it is applied, days before the export's start.
func (e *Executor) ProbeSpec(ctx context.Context, rw *v1.RegionWithdrawal) error {
	if rw.Spec.Export == nil || rw.Spec.Cancel {
		return nil
	}
	if planner.LookupStep(&rw.Status, v1.StepExport).StartedAt != nil {
		return nil
	}
	key := probeKey{rw.UID, rw.Generation}
	e.probes.mu.Lock()
	found, ok := e.probes.done[key]
	e.probes.mu.Unlock()
	if ok {
		return found
	}
	found, err := e.probe(ctx, rw)
	if err != nil {
		return err // not a verdict on the spec: try again next time
	}
	e.probes.mu.Lock()
	if e.probes.done == nil || len(e.probes.done) > 1024 {
		e.probes.done = map[probeKey]error{}
	}
	e.probes.done[key] = found
	e.probes.mu.Unlock()
	return found
}

// probe returns the spec error the dry runs found (nil for none), or the
// error that kept it from finding out.
func (e *Executor) probe(ctx context.Context, rw *v1.RegionWithdrawal) (specErr, err error) {
	ts, err := e.resolve(ctx, rw)
	if err != nil {
		return nil, err
	}
	now := e.now()
	deadline := rw.Spec.Export.Deadline.Resolve(rw.Spec.Cutoff.Time).UTC()
	seen := map[string]bool{}
	for _, t := range ts {
		if seen[t.Namespace] || len(seen) == maxProbedNamespaces {
			continue
		}
		seen[t.Namespace] = true
		job, err := buildJob(rw, e.Pods, t, TargetHash(rw, t.Key), 1, deadline, now)
		if err != nil {
			return &planner.SpecError{Field: "spec.export.jobTemplate", Err: err, Step: v1.StepExport}, nil
		}
		wctx, warnings := tenant.CollectWarnings(ctx)
		err = e.Client.Create(wctx, job, client.DryRunAll)
		switch {
		case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err):
			return &planner.SpecError{Field: "spec.export.jobTemplate", Err: fmt.Errorf("%w: the API server refuses it in namespace %s: %v", ErrInvalidTemplate, t.Namespace, err), Step: v1.StepExport}, nil
		case err != nil && !apierrors.IsAlreadyExists(err):
			return nil, fmt.Errorf("dry-running the export Job in %s: %w", t.Namespace, err)
		}
		if problem, err := e.exportServiceAccountMissing(ctx, t.Namespace); err != nil || problem != nil {
			return problem, err
		}
		for _, w := range warnings.List() {
			refused, err := e.enforced(ctx, t.Namespace, w)
			if err != nil {
				return nil, err
			}
			if refused {
				return &planner.SpecError{Field: "spec.export.jobTemplate", Err: fmt.Errorf("%w: namespace %s would refuse its Pods: %s", ErrInvalidTemplate, t.Namespace, w), Step: v1.StepExport}, nil
			}
		}
	}
	return nil, nil
}

// exportServiceAccountMissing returns a spec error when the ServiceAccount
// export pods run as (PodPolicy.ServiceAccount) is not in namespace: the
// Job would be made and never get a Pod. A ServiceAccount the withdrawal
// may not read is taken for there.
func (e *Executor) exportServiceAccountMissing(ctx context.Context, namespace string) (error, error) {
	name := e.Pods.ServiceAccount
	if name == "" {
		return nil, nil
	}
	err := e.APIReader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &corev1.ServiceAccount{})
	switch {
	case apierrors.IsNotFound(err):
		return &planner.SpecError{Field: "spec.export.jobTemplate", Step: v1.StepExport,
			Err: fmt.Errorf("%w: export pods run as ServiceAccount %s (--export-service-account), which namespace %s does not have; create it there (the chart does, in tenancy.namespaces)", ErrInvalidTemplate, name, namespace)}, nil
	case err != nil && !apierrors.IsForbidden(err):
		return nil, fmt.Errorf("reading ServiceAccount %s/%s: %w", namespace, name, err)
	}
	return nil, nil
}

// enforced reports whether a Pod Security warning is for the level the
// namespace enforces: the API server warns of a workload's Pods for both
// the enforce and the warn level, and only the first refuses them.
func (e *Executor) enforced(ctx context.Context, namespace, warning string) (bool, error) {
	const mark = `would violate PodSecurity "`
	i := strings.Index(warning, mark)
	if i < 0 {
		return false, nil
	}
	level, _, _ := strings.Cut(warning[i+len(mark):], ":")
	var ns corev1.Namespace
	if err := e.Client.Get(tenant.AsOperator(ctx), client.ObjectKey{Name: namespace}, &ns); err != nil {
		return false, fmt.Errorf("reading the Pod Security level of namespace %s: %w", namespace, err)
	}
	return ns.Labels[podSecurityEnforce] == level, nil
}

// podSecurityEnforce is the namespace label that sets the Pod Security
// level the API server enforces.
const podSecurityEnforce = "pod-security.kubernetes.io/enforce"
