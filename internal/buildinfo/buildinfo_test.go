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

package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestVersion(t *testing.T) {
	rev := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}}
	for _, tc := range []struct {
		name   string
		set    string
		commit string
		bi     debug.BuildInfo
		want   string
	}{
		{name: "a release", set: "v1.2.3", bi: debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: rev}, want: "v1.2.3 commit 0123456789ab"},
		{name: "set, no vcs", set: "v1.2.3", want: "v1.2.3"},
		{name: "a release built with -buildvcs=false", set: "v1.2.3", commit: "fedcba9876543210fedc", want: "v1.2.3 commit fedcba987654"},
		{name: "the commit set wins", set: "v1.2.3", commit: "fedcba9876543210fedc", bi: debug.BuildInfo{Settings: append(rev, debug.BuildSetting{Key: "vcs.modified", Value: "true"})}, want: "v1.2.3 commit fedcba987654"},
		{name: "go install of a tag", bi: debug.BuildInfo{Main: debug.Module{Version: "v0.2.0"}}, want: "v0.2.0"},
		{name: "a work tree", bi: debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: rev}, want: "(devel) commit 0123456789ab"},
		{name: "a work tree with changes", bi: debug.BuildInfo{Settings: append(rev, debug.BuildSetting{Key: "vcs.modified", Value: "true"})}, want: "(devel) commit 0123456789ab-dirty"},
		{name: "nothing known", bi: debug.BuildInfo{}, want: "(devel)"},
	} {
		if got := describe(tc.set, tc.commit, &tc.bi); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
