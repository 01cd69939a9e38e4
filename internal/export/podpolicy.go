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
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// DefaultVolumeKinds are the volume sources an export pod may use unless
// the installation says otherwise: storage and configuration, never the
// node's (hostPath) or a driver's (csi, which can surface any secret a
// driver holds).
var DefaultVolumeKinds = []string{"persistentVolumeClaim", "emptyDir", "ephemeral", "configMap", "secret", "downwardAPI", "projected"}

// PodPolicy is what the installation lets an export pod be. The Job
// template is the withdrawal author's, and its pods run in every
// namespace the withdrawal selects: without a policy an author could run
// a pod there as any ServiceAccount, with any Secret, on the host's
// network. A template that breaks the policy stalls the export step
// (InvalidSpec) and no Job is made from it.
type PodPolicy struct {
	// ServiceAccount, when set, is the ServiceAccount (of the pod's own
	// namespace) every export pod runs as: a template naming none gets
	// it, one naming another is refused.
	ServiceAccount string
	// AllowToken lets a pod have an API token (automountServiceAccountToken,
	// or a projected serviceAccountToken). Without it the operator sets
	// automountServiceAccountToken to false, and refuses a template that
	// asks for a token.
	AllowToken bool
	// VolumeKinds are the volume sources a pod may use (the field names of
	// corev1.VolumeSource); nil means DefaultVolumeKinds.
	VolumeKinds []string
	// Secrets, when not nil, are the only Secrets (by name, in the pod's
	// namespace) a pod may mount or read into its environment; an empty
	// set allows none. Nil allows every Secret.
	Secrets map[string]bool
}

// Check says what in the pod spec the policy does not allow, or nil. It
// always refuses the host's network, PID and IPC namespaces and
// privileged containers.
func (p PodPolicy) Check(spec *corev1.PodSpec) error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if p.ServiceAccount != "" && spec.ServiceAccountName != "" && spec.ServiceAccountName != p.ServiceAccount {
		add("it runs as ServiceAccount %q, and export pods run as %q (--export-service-account)", spec.ServiceAccountName, p.ServiceAccount)
	}
	if p.ServiceAccount != "" && spec.DeprecatedServiceAccount != "" && spec.DeprecatedServiceAccount != p.ServiceAccount {
		add("it names ServiceAccount %q in serviceAccount, and export pods run as %q (--export-service-account)", spec.DeprecatedServiceAccount, p.ServiceAccount)
	}
	if !p.AllowToken && spec.AutomountServiceAccountToken != nil && *spec.AutomountServiceAccountToken {
		add("it mounts an API token (automountServiceAccountToken), which export pods may not have")
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		add("it uses the host's network, PID or IPC namespace")
	}
	kinds := p.VolumeKinds
	if kinds == nil {
		kinds = DefaultVolumeKinds
	}
	for _, v := range spec.Volumes {
		kind := volumeKind(v.VolumeSource)
		if !slices.Contains(kinds, kind) {
			add("volume %q is a %s volume; export pods may use %s (--export-volume-kinds)", v.Name, kind, strings.Join(kinds, ", "))
			continue
		}
		if s := v.Secret; s != nil {
			p.secret(s.SecretName, "volume "+v.Name, add)
		}
		if pr := v.Projected; pr != nil {
			for _, src := range pr.Sources {
				if src.Secret != nil {
					p.secret(src.Secret.Name, "projected volume "+v.Name, add)
				}
				if src.ServiceAccountToken != nil && !p.AllowToken {
					add("projected volume %q holds an API token, which export pods may not have", v.Name)
				}
			}
		}
	}
	containers := func(yield func(kind string, c *corev1.Container) bool) {
		for i := range spec.InitContainers {
			if !yield("init container", &spec.InitContainers[i]) {
				return
			}
		}
		for i := range spec.Containers {
			if !yield("container", &spec.Containers[i]) {
				return
			}
		}
		for i := range spec.EphemeralContainers {
			if !yield("ephemeral container", (*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon)) {
				return
			}
		}
	}
	for kind, c := range containers {
		if sc := c.SecurityContext; sc != nil && sc.Privileged != nil && *sc.Privileged {
			add("%s %q is privileged", kind, c.Name)
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				p.secret(e.ValueFrom.SecretKeyRef.Name, fmt.Sprintf("%s %s's variable %s", kind, c.Name, e.Name), add)
			}
		}
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil {
				p.secret(e.SecretRef.Name, fmt.Sprintf("%s %s's envFrom", kind, c.Name), add)
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: the installation does not let an export pod be what spec.export.jobTemplate makes: %s", ErrInvalidTemplate, strings.Join(problems, "; "))
}

// secret adds a problem when the policy does not allow Secret name.
func (p PodPolicy) secret(name, where string, add func(string, ...any)) {
	if p.Secrets == nil || p.Secrets[name] {
		return
	}
	allowed := "none"
	if len(p.Secrets) > 0 {
		names := make([]string, 0, len(p.Secrets))
		for n := range p.Secrets {
			names = append(names, n)
		}
		sort.Strings(names)
		allowed = strings.Join(names, ", ")
	}
	add("%s reads Secret %q; export pods may read %s (--export-secrets)", where, name, allowed)
}

// Apply gives a pod spec the policy checks passed the ServiceAccount and
// the token setting the policy makes. Call it after Check.
func (p PodPolicy) Apply(spec *corev1.PodSpec) {
	if p.ServiceAccount != "" {
		spec.ServiceAccountName = p.ServiceAccount
		spec.DeprecatedServiceAccount = ""
	}
	if !p.AllowToken {
		no := false
		spec.AutomountServiceAccountToken = &no
	}
}

// volumeKind is the name of the one source a volume sets, as its JSON
// field ("hostPath", "secret", ...).
func volumeKind(src corev1.VolumeSource) string {
	b, err := json.Marshal(src)
	if err != nil {
		return "unknown"
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return "unknown"
	}
	if len(m) == 0 {
		return "emptyDir" // the API server's default for a volume without a source
	}
	kinds := make([]string, 0, len(m))
	for k := range m {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return strings.Join(kinds, "+")
}
