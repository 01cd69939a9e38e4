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

package handoff

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff/landing"
)

// PageRenderer renders a withdrawal's landing pages for links that work
// until expires (the operator's render.HandoffPages).
type PageRenderer func(rw *v1.RegionWithdrawal, expires time.Time) (landing.Pages, error)

// pagesFingerprint changes whenever rw's pages could: their templates and
// what they may show of the withdrawal.
func pagesFingerprint(rw *v1.RegionWithdrawal) string {
	in := struct {
		Region, TimeZone string
		Cutoff           time.Time
		Default          *v1.HandoffPageTemplate
		Locales          map[string]*v1.HandoffPageTemplate
	}{Region: rw.Spec.Region, TimeZone: rw.Spec.TimeZone, Cutoff: rw.Spec.Cutoff.UTC(), Locales: map[string]*v1.HandoffPageTemplate{}}
	if n := rw.Spec.Notify; n != nil {
		if n.Templates != nil {
			in.Default = n.Templates.HandoffPage
		}
		for _, l := range n.Locales {
			in.Locales[l.Locale] = l.HandoffPage
		}
	}
	b, _ := json.Marshal(in)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
