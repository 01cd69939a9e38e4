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

// Package buildinfo says which build a binary is: the operator's and the
// kubectl plugin's version commands print it.
package buildinfo

import (
	"runtime/debug"
)

// Version is the build's version and, when known, the commit it was built
// from: the version set at build time (a release sets it with -ldflags
// -X), else the module version (go install ...@v1.2.3), else "(devel)";
// then "commit <12 hex digits>": the commit set at build time (a release
// sets it too, since the go command records none with -buildvcs=false),
// else the one the go command recorded, "-dirty" when the work tree had
// changes. A release prints "v1.2.3 commit 0123456789ab"; a go install of a
// tag, which records no commit, prints "v1.2.3".
func Version(set, commit string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = &debug.BuildInfo{}
	}
	return describe(set, commit, bi)
}

func describe(set, commit string, bi *debug.BuildInfo) string {
	v := set
	if v == "" {
		v = bi.Main.Version
	}
	if v == "" {
		v = "(devel)"
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision" && len(s.Value) >= 12:
			rev = s.Value[:12]
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if len(commit) >= 12 {
		rev, dirty = commit[:12], ""
	}
	if rev == "" {
		return v
	}
	return v + " commit " + rev + dirty
}
