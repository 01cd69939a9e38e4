//go:build tools

// Package tools pins the Kubernetes commands that the local cluster and
// envtest need, so that `go build` can build them from the module proxy with
// no release download: the control plane and kubectl, and the kubelet and
// kube-proxy of the local cluster's one real node.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
