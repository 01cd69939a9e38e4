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

// Package samples embeds the sample withdrawals and, under support/, the
// objects each one names (its namespace, recipient lists, Secrets), so
// that `kubectl withdrawal create --from-sample` can apply a sample with a
// cutoff computed the day it is run. The YAML files are the one source:
// kustomize and the docs read the same ones.
package samples

import "embed"

// FS holds <name>.yaml (the withdrawal) and support/<name>.yaml (what it
// names) for each sample.
//
//go:embed pakistan.yaml minimal.yaml support/*.yaml
var FS embed.FS
