//go:build tools

// Package tools pins the Kubernetes control-plane commands that the local
// cluster and envtest need, so that `go build` can build them from the module
// proxy with no release download.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
