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

// Package kubeconfig writes a kubeconfig for API servers the benchmarks
// start (envtest), so that they can run the built plugin against them.
package kubeconfig

import (
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Cluster is one context of the kubeconfig.
type Cluster struct {
	Name   string
	Config *rest.Config
}

// Write writes to path a kubeconfig with a context per cluster, each in
// namespace ns; the last is the current context.
func Write(path, ns string, clusters ...Cluster) error {
	kc := clientcmdapi.NewConfig()
	for _, c := range clusters {
		cfg := c.Config
		kc.Clusters[c.Name] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
		kc.AuthInfos[c.Name] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
		kc.Contexts[c.Name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: c.Name, Namespace: ns}
		kc.CurrentContext = c.Name
	}
	return clientcmd.WriteToFile(*kc, path)
}
