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

import "github.com/ops-dev/region-withdrawal-operator/internal/export/origins"

// Origins is the installation's allow-list of export store origins
// (--export-allowed-origins): the only places an export may report its
// archive at, and the step may read manifests and archives from. A nil or
// empty list allows everything. See package origins, which holds it so
// that the handoff endpoint (which this package imports) can use the same
// type.
type Origins = origins.Origins

// ErrOriginNotAllowed is a location outside the allow-list, for errors.Is.
var ErrOriginNotAllowed = origins.ErrNotAllowed

// ParseOrigins reads a comma-separated list of origins, such as
// "https://objects.example.com,s3://exports-bucket,https://*.blob.example.net".
// A blank list is no allow-list.
func ParseOrigins(list string) (*Origins, error) { return origins.Parse(list) }
