//go:build tools

// Package tools pins the tools that are built against the Kubernetes
// libraries: the control plane, kubectl, and the kubelet and kube-proxy of the
// local cluster's one real node; kwok; helm; controller-gen; and Prometheus
// with promtool. They are one module so that what they share (client-go,
// apimachinery, gRPC, protobuf, OpenTelemetry and more) is one version of each,
// compiled once: built from separate modules, each pinned its own versions of
// the same libraries and a cold hack/tools.sh compiled about 5,400 packages
// for them instead of about 3,400. Minimal version selection picks the newest
// version any of them asks for; the k8s.io modules are held at the Kubernetes
// release by the replace directives in go.mod.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
	_ "helm.sh/helm/v3/cmd/helm"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
	_ "sigs.k8s.io/kwok/cmd/kwok"
	_ "sigs.k8s.io/kwok/cmd/kwokctl"
)
