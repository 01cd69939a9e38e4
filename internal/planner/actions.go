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
	"strings"
	"time"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// The constructors below are the one place action IDs are built. The IDs
// name actions in status, Events and idempotency keys, so they must never
// change shape: "export", "notify/reminder-<slot>", "revert/drain".

const noticePrefix = "notify/"

// StartAction is the action that starts a one-off step.
func StartAction(step v1.StepName, due time.Time) Action {
	return Action{ID: string(step), Kind: ActionStart, Step: step, DueAt: due}
}

// NoticeAction is the action that sends the notice id of the given kind.
func NoticeAction(kind v1.NoticeKind, id string, due time.Time) Action {
	return Action{ID: noticePrefix + id, Kind: ActionNotice, Step: v1.StepNotify, Notice: kind, DueAt: due}
}

// RevertAction is the action that undoes a step for a cancel.
func RevertAction(step v1.StepName, due time.Time) Action {
	return Action{ID: "revert/" + string(step), Kind: ActionRevert, Step: step, DueAt: due}
}

// NoticeID is the notice ID of a notice action, e.g. "announcement".
func (a Action) NoticeID() string { return strings.TrimPrefix(a.ID, noticePrefix) }
