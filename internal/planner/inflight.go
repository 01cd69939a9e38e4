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

package planner

import (
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// InFlight lists the actions that started and have not finished, read from
// status alone: reverts first, newest step first; then the routing switch;
// then the notice being sent, then the other running steps. The controller
// carries each of them on once per reconcile until its executor reports it
// done.
//
// The switch goes before everything else that runs: at the cutoff it is
// what customers see, a notice batch in flight would delay it, and a drain
// batch due at the same instant would scale away the backends the routes
// still point at, so that clients got errors instead of 451 until the
// switch reached the ingress controller.
func InFlight(status *v1.RegionWithdrawalStatus) []Action {
	var out []Action
	for _, step := range slices.Backward(v1.AllSteps) {
		if s := LookupStep(status, step); s.State == v1.StepReverting {
			out = append(out, RevertAction(step, time.Time{}))
		}
	}
	running := func(step v1.StepName) {
		if s := LookupStep(status, step); step != v1.StepNotify && s.State == v1.StepRunning {
			out = append(out, StartAction(step, timeOf(s.DueAt)))
		}
	}
	running(v1.StepRouting)
	if status.Notify != nil {
		for _, n := range status.Notify.Notices {
			if n.StartedAt != nil && n.FinishedAt == nil {
				out = append(out, NoticeAction(n.Kind, n.ID, n.ScheduledAt.Time))
			}
		}
	}
	for _, step := range v1.AllSteps {
		if step != v1.StepRouting {
			running(step)
		}
	}
	return out
}

func timeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}
