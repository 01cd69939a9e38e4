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

package plugin

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/buildinfo"
)

// Version is the plugin's version, set at build time with
// -ldflags "-X github.com/ops-dev/region-withdrawal-operator/internal/plugin.Version=v1.2.3";
// empty, the module version the binary was built from (go install
// ...@v1.2.3), else the commit (go build in a work tree), else "(devel)".
// hack/krew sets it for releases.
var Version string

// Commit is the commit the plugin was built from, set at build time with
// -ldflags "-X github.com/ops-dev/region-withdrawal-operator/internal/plugin.Commit=<hash>";
// empty, the one the go command recorded, if any.
var Commit string

func newVersionCommand(o *Options) *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version, and the RegionWithdrawal API versions the cluster serves",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(o.Out, "kubectl-withdrawal %s\n", version())
			if clientOnly {
				return nil
			}
			served, err := o.servedVersions()
			switch {
			case meta.IsNoMatchError(err):
				fmt.Fprintf(o.Out, "server: the RegionWithdrawal API (%s) is not installed\n", v1.GroupVersion.Group)
			case err != nil:
				// The plugin's version is what was asked for; the
				// cluster's is a bonus.
				fmt.Fprintf(o.ErrOut, "server: not reachable: %v\n", err)
			default:
				fmt.Fprintf(o.Out, "server: RegionWithdrawal %s\n", strings.Join(served, ", "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "Print the plugin's version only; do not ask the cluster")
	return cmd
}

// servedVersions lists the group/versions of RegionWithdrawal the API
// server serves, the preferred first.
func (o *Options) servedVersions() ([]string, error) {
	c, err := o.NewClient()
	if err != nil {
		return nil, err
	}
	ms, err := c.RESTMapper().RESTMappings(v1.GroupVersion.WithKind("RegionWithdrawal").GroupKind())
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.GroupVersionKind.GroupVersion().String())
	}
	return out, nil
}

func version() string { return buildinfo.Version(Version, Commit) }
