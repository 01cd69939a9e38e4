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

package admission

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

func TestCutoffNoticeCheck(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	promised := metav1.NewTime(now.Add(29 * 24 * time.Hour))
	withdrawal := func(cutoff time.Time, told bool) *v1.RegionWithdrawal {
		rw := &v1.RegionWithdrawal{Spec: v1.RegionWithdrawalSpec{Cutoff: metav1.NewTime(cutoff), Notify: &v1.NotifyStep{}}}
		rw.Status.Cutoff = &v1.CutoffHistory{Current: rw.Spec.Cutoff}
		if told {
			rw.Status.Cutoff.Promised = &promised
		}
		return rw
	}
	h := &CutoffNotice{MinNotice: 72 * time.Hour, Floor: time.Hour}
	for _, tc := range []struct {
		name    string
		old     *v1.RegionWithdrawal
		to      time.Time
		min     *metav1.Duration
		cancel  bool
		refused string
	}{
		{name: "postponed", old: withdrawal(promised.Time, true), to: promised.Add(30 * 24 * time.Hour)},
		{name: "brought forward, leaving more than the minimum", old: withdrawal(promised.Time, true), to: now.Add(73 * time.Hour)},
		{name: "brought forward, leaving less", old: withdrawal(promised.Time, true), to: now.Add(3 * time.Minute),
			refused: "leaves customers 3m0s of notice; they were told of 2026-12-30T12:00:00Z, 696h0m0s from now; at least 72h0m0s must be left"},
		{name: "brought forward before anyone was told", old: withdrawal(promised.Time, false), to: now.Add(3 * time.Minute)},
		{name: "brought forward in a cancelled withdrawal", old: withdrawal(promised.Time, true), to: now.Add(3 * time.Minute), cancel: true},
		{name: "a withdrawal's own, shorter minimum", old: withdrawal(promised.Time, true), to: now.Add(3 * time.Hour), min: &metav1.Duration{Duration: 2 * time.Hour}},
		{name: "a withdrawal's own, longer minimum", old: withdrawal(promised.Time, true), to: now.Add(5 * 24 * time.Hour), min: &metav1.Duration{Duration: 7 * 24 * time.Hour},
			refused: "at least 168h0m0s must be left"},
		{name: "a minimum below the floor", old: withdrawal(promised.Time, true), to: now.Add(3 * time.Hour), min: &metav1.Duration{Duration: time.Minute},
			refused: "spec.notify.minNotice 1m0s is below the 1h0m0s this installation allows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := tc.old.DeepCopy()
			obj.Spec.Cutoff = metav1.NewTime(tc.to)
			obj.Spec.Notify.MinNotice = tc.min
			obj.Spec.Cancel = tc.cancel
			err := h.Check(tc.old, obj, now)
			switch {
			case tc.refused == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
				t.Fatalf("got %v, want a refusal saying %q", err, tc.refused)
			}
		})
	}
}
