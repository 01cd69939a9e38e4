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

package v1alpha1

// Condition types, following kstatus: Ready is the summary, Reconciling is
// True while the controller works towards the spec, Stalled is True when it
// cannot go on without a change to the spec.
const (
	// ConditionReady is True when the withdrawal is on schedule (waiting for
	// its next action) or finished, and False while a step runs or waits.
	ConditionReady = "Ready"
	// ConditionReconciling is True while a step is running.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the spec cannot be carried out as written.
	ConditionStalled = "Stalled"
	// ConditionDeadlineAtRisk is True when something may make the withdrawal
	// miss its cutoff or a step's deadline.
	ConditionDeadlineAtRisk = "DeadlineAtRisk"
	// ConditionFinalizeBlocked is True while a deleted withdrawal waits for a
	// cleanup that failed; its message says which and why.
	ConditionFinalizeBlocked = "FinalizeBlocked"
	// ConditionCutoffMoved is True once the cutoff (or the time zone)
	// changed after the withdrawal was first planned: the message says from
	// what to what, whether customers are told, and what the change could
	// not undo. Its reason is Postponed, BroughtForward or NoticeShortened.
	ConditionCutoffMoved = "CutoffMoved"
)

// Condition reasons, also used as Event reasons.
const (
	// ReasonScheduled: waiting for the next action.
	ReasonScheduled = "Scheduled"
	// ReasonStepStarted: a step started.
	ReasonStepStarted = "StepStarted"
	// ReasonStepSucceeded: a step finished.
	ReasonStepSucceeded = "StepSucceeded"
	// ReasonStepFailed: a step gave up.
	ReasonStepFailed = "StepFailed"
	// ReasonStepRunning: a step is running.
	ReasonStepRunning = "StepRunning"
	// ReasonStepLate: a step started later than due, e.g. after downtime.
	ReasonStepLate = "StepLate"
	// ReasonRecordsKept: a withdrawal was deleted before its changes were
	// undone; its restore records are kept for `kubectl withdrawal restore`.
	ReasonRecordsKept = "RecordsKept"
	// ReasonStepBlocked: a due step cannot start; the message says why.
	ReasonStepBlocked = "StepBlocked"
	// ReasonDryRunPlanned: a step recorded what it would do.
	ReasonDryRunPlanned = "DryRunPlanned"
	// ReasonNoticeDue: a notice fell due.
	ReasonNoticeDue = "NoticeDue"
	// ReasonRemindersFolded: several missed reminder slots became one notice.
	ReasonRemindersFolded = "RemindersFolded"
	// ReasonWaitingForApproval: a due step waits for spec.approvals.
	ReasonWaitingForApproval = "WaitingForApproval"
	// ReasonWaitingForExport: a step waits for verified exports.
	ReasonWaitingForExport = "WaitingForExport"
	// ReasonSuspended: spec.suspend is true.
	ReasonSuspended = "Suspended"
	// ReasonResumed: spec.suspend went back to false.
	ReasonResumed = "Resumed"
	// ReasonCompleted: every step finished.
	ReasonCompleted = "Completed"
	// ReasonCancelling: cancel is reversing what was done.
	ReasonCancelling = "Cancelling"
	// ReasonCancelled: cancel finished.
	ReasonCancelled = "Cancelled"
	// ReasonCancelRefused: cancel after the cutoff without the override.
	ReasonCancelRefused = "CancelRefused"
	// ReasonPermissionDenied: the withdrawal's ServiceAccount may not make a
	// request a step needs; the message names the verb and the object.
	ReasonPermissionDenied = "PermissionDenied"
	// ReasonCutoffMissed: the cutoff passed and a step is not done.
	ReasonCutoffMissed = "CutoffMissed"
	// ReasonNoticesMissed: the cutoff passed before a notice started.
	ReasonNoticesMissed = "NoticesMissed"
	// ReasonInvalidSpec: the spec cannot be carried out (bad cron, time zone, selector).
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonApprovalMissing: an approval is still missing close to the step's due time.
	ReasonApprovalMissing = "ApprovalMissing"
	// ReasonApprovalVoided: the spec changed after a step was approved; the
	// approval no longer holds (an Event).
	ReasonApprovalVoided = "ApprovalVoided"
	// ReasonStepBehind: a step that must finish before the cutoff has not.
	ReasonStepBehind = "StepBehind"
	// ReasonOnTrack: nothing puts the deadline at risk.
	ReasonOnTrack = "OnTrack"
	// ReasonDryRunReset: dryRun was turned off, so rehearsed steps run for real.
	ReasonDryRunReset = "DryRunReset"
	// ReasonArchivesFetched (Event) says how many customers have fetched
	// their archive through their handoff link: at the first fetch, at
	// each further tenth of the customers, and when all have.
	ReasonArchivesFetched = "ArchivesFetched"
	// ReasonEvidenceTampered: the evidence ledger in the cluster is not what
	// the operator wrote (a statement changed or removed, a shard missing);
	// nothing more is recorded, so nothing that needs a record goes ahead,
	// until the shards are restored.
	ReasonEvidenceTampered = "EvidenceTampered"
	// ReasonEvidenceSealed: the ledger was sealed when the withdrawal ended,
	// and something more would have to be recorded.
	ReasonEvidenceSealed = "EvidenceSealed"
	// ReasonEvidenceNotSealed (Event): a deleted withdrawal's ledger could
	// not be sealed; it stays open, and verify says so.
	ReasonEvidenceNotSealed = "EvidenceNotSealed"
	// ReasonFinalizeBlocked (Event): a deleted withdrawal's cleanup failed,
	// and the deletion waits for it (the FinalizeBlocked condition).
	ReasonFinalizeBlocked = "FinalizeBlocked"
	// ReasonFinalizeFailed: a cleanup failed for a reason other than a
	// permission the withdrawal's ServiceAccount lacks.
	ReasonFinalizeFailed = "FinalizeFailed"
	// ReasonPostponed: the cutoff moved later.
	ReasonPostponed = "Postponed"
	// ReasonBroughtForward: the cutoff moved earlier, still no earlier than
	// customers were first told.
	ReasonBroughtForward = "BroughtForward"
	// ReasonTimeZoneChanged: spec.timeZone changed and the cutoff did not.
	ReasonTimeZoneChanged = "TimeZoneChanged"
	// ReasonNoticeShortened: the cutoff is now earlier than the one
	// customers were first told of: they get less notice than promised.
	ReasonNoticeShortened = "NoticeShortened"
	// ReasonDrainRestored (Event): the cutoff moved later than the drain
	// that had started, so its workloads are being restored (and, when
	// restored, drain again at the new time).
	ReasonDrainRestored = "DrainRestored"
)
