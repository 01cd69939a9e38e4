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
	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

var _ executor.RiskReporter = (*Executor)(nil)

// Risks reports the estimate the last Execute made: when the Jobs still to
// run, at the durations observed so far, would end after the deadline.
func (e *Executor) Risks(rw *v1.RegionWithdrawal) []planner.Risk {
	for _, s := range rw.Status.Steps {
		if s.Name != v1.StepExport || s.Export == nil || !s.Export.AtRisk || s.State != v1.StepRunning {
			continue
		}
		return []planner.Risk{{Step: v1.StepExport, Reason: v1.ReasonStepBehind, Message: s.Export.AtRiskMessage}}
	}
	return nil
}
