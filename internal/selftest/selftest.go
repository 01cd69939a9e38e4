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

// Package selftest is the binary's hidden `selftest` subcommand, which the
// chart's `helm test` hook runs in a pod of its own: it passes once the
// operator's Deployment has rolled out and is Available, and the API
// server serves the RegionWithdrawal API. It needs to get that one
// Deployment and nothing else (discovery is open to every authenticated
// caller).
package selftest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// Name is the subcommand's name.
const Name = "selftest"

// Options name what is checked.
type Options struct {
	// Namespace and Deployment name the operator's Deployment.
	Namespace, Deployment string
	// GroupVersion and Resource name the API that must be served.
	GroupVersion, Resource string
}

// Check says what it found when the Deployment has rolled out and is
// Available and the resource is served, and otherwise returns an error
// that says which is not, and why.
func Check(ctx context.Context, cs kubernetes.Interface, o Options) (string, error) {
	dep, err := cs.AppsV1().Deployments(o.Namespace).Get(ctx, o.Deployment, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("reading Deployment %s/%s: %w", o.Namespace, o.Deployment, err)
	}
	if err := rolledOut(dep); err != nil {
		return "", fmt.Errorf("the Deployment %s/%s: %w", o.Namespace, o.Deployment, err)
	}
	list, err := cs.Discovery().ServerResourcesForGroupVersion(o.GroupVersion)
	if err != nil {
		return "", fmt.Errorf("the API server does not serve %s: %w", o.GroupVersion, err)
	}
	if !slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == o.Resource }) {
		return "", fmt.Errorf("the API server serves %s but not %s in it", o.GroupVersion, o.Resource)
	}
	return fmt.Sprintf("Deployment %s/%s is Available (%d/%d pods ready, all updated); %s %s is served",
		o.Namespace, o.Deployment, dep.Status.ReadyReplicas, ptrOr(dep.Spec.Replicas, 1), o.Resource, o.GroupVersion), nil
}

// rolledOut is kubectl rollout status's test, and Available on top.
func rolledOut(dep *appsv1.Deployment) error {
	want := ptrOr(dep.Spec.Replicas, 1)
	var available *appsv1.DeploymentCondition
	for i, c := range dep.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			available = &dep.Status.Conditions[i]
		}
	}
	switch {
	case dep.Status.ObservedGeneration < dep.Generation:
		return errors.New("its controller has not seen the latest spec yet")
	case dep.Status.UpdatedReplicas < want:
		return fmt.Errorf("%d of %d pods updated", dep.Status.UpdatedReplicas, want)
	case dep.Status.Replicas > dep.Status.UpdatedReplicas:
		return fmt.Errorf("%d old pods still running", dep.Status.Replicas-dep.Status.UpdatedReplicas)
	case available == nil:
		return errors.New("no Available condition")
	case available.Status != corev1.ConditionTrue:
		return fmt.Errorf("not Available: %s: %s", available.Reason, available.Message)
	case dep.Status.AvailableReplicas < want:
		return fmt.Errorf("%d of %d pods available", dep.Status.AvailableReplicas, want)
	}
	return nil
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// Main runs the subcommand: it checks until the check passes or --timeout
// is up, printing why it waits, and fails with the last reason.
func Main(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, os.Stdout)
}

// Run is Main with its context and output.
func Run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet(Name, flag.ContinueOnError)
	o := Options{GroupVersion: v1.GroupVersion.String(), Resource: "regionwithdrawals"}
	fs.StringVar(&o.Namespace, "namespace", os.Getenv("POD_NAMESPACE"), "Namespace of the operator's Deployment (default: the POD_NAMESPACE variable).")
	fs.StringVar(&o.Deployment, "deployment", "", "Name of the operator's Deployment.")
	timeout := fs.Duration("timeout", time.Minute, "How long to wait for the check to pass.")
	interval := fs.Duration("interval", 2*time.Second, "How long to wait between two checks.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Namespace == "" || o.Deployment == "" {
		return errors.New("--namespace and --deployment are required")
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	var last error
	var ok string
	err = wait.PollUntilContextTimeout(ctx, *interval, *timeout, true, func(ctx context.Context) (bool, error) {
		found, err := Check(ctx, cs, o)
		if err != nil && ctx.Err() != nil {
			return false, nil // cut off by the timeout: keep the last real reason
		}
		ok, last = found, err
		if last != nil {
			fmt.Fprintln(out, "waiting:", last)
		}
		return last == nil, nil
	})
	if err != nil {
		if last == nil {
			last = err
		}
		return fmt.Errorf("the self-test failed after %s: %w", *timeout, last)
	}
	fmt.Fprintln(out, "ok:", ok)
	return nil
}
