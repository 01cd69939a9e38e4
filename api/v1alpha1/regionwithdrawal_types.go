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

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The cross-field rules below resolve every Moment to an instant the way
// Moment.Resolve does: `has(m.at) ? m.at : self.cutoff + duration(m.offset)`.

// RegionWithdrawalSpec declares a withdrawal from one region by a legal cutoff.
// +kubebuilder:validation:XValidation:rule="has(self.notify) || has(self.export) || has(self.drain) || has(self.routing)",message="configure at least one step: notify, export, drain or routing"
// +kubebuilder:validation:XValidation:rule="!has(self.notify) || !has(self.notify.announce.at) || self.notify.announce.at <= self.cutoff",message="notify.announce.at must not be after the cutoff"
// +kubebuilder:validation:XValidation:rule="!has(self.notify) || !has(self.notify.final.at) || self.notify.final.at <= self.cutoff",message="notify.final.at must not be after the cutoff"
// +kubebuilder:validation:XValidation:rule="!has(self.notify) || (has(self.notify.announce.at) ? self.notify.announce.at : self.cutoff + duration(self.notify.announce.offset)) < (has(self.notify.final.at) ? self.notify.final.at : self.cutoff + duration(self.notify.final.offset))",message="notify.announce must be before notify.final"
// +kubebuilder:validation:XValidation:rule="!has(self.notify) || !has(self.notify.reminders) || !has(self.notify.reminders.start) || (has(self.notify.reminders.start.at) ? self.notify.reminders.start.at : self.cutoff + duration(self.notify.reminders.start.offset)) < (has(self.notify.final.at) ? self.notify.final.at : self.cutoff + duration(self.notify.final.offset))",message="notify.reminders.start must be before notify.final"
// +kubebuilder:validation:XValidation:rule="!has(self.export) || !has(self.export.deadline.at) || self.export.deadline.at <= self.cutoff",message="export.deadline.at must not be after the cutoff"
// +kubebuilder:validation:XValidation:rule="!has(self.export) || (has(self.export.start.at) ? self.export.start.at : self.cutoff + duration(self.export.start.offset)) < (has(self.export.deadline.at) ? self.export.deadline.at : self.cutoff + duration(self.export.deadline.offset))",message="export.start must be before export.deadline"
// +kubebuilder:validation:XValidation:rule="!has(self.drain) || !has(self.drain.start.at) || self.drain.start.at <= self.cutoff",message="drain.start.at must not be after the cutoff"
// +kubebuilder:validation:XValidation:rule="!has(self.export) || !has(self.drain) || (has(self.export.deadline.at) ? self.export.deadline.at : self.cutoff + duration(self.export.deadline.offset)) <= (has(self.drain.start.at) ? self.drain.start.at : self.cutoff + duration(self.drain.start.offset))",message="export.deadline must not be after drain.start: the drain only touches exported data"
// +kubebuilder:validation:XValidation:rule="!has(self.routing) || !has(self.routing.at) || !has(self.routing.at.at) || self.routing.at.at <= self.cutoff",message="routing.at.at must not be after the cutoff"
// +kubebuilder:validation:XValidation:rule="!has(self.drain) || !has(self.routing) || !has(self.routing.at) || (has(self.drain.start.at) ? self.drain.start.at : self.cutoff + duration(self.drain.start.offset)) <= (has(self.routing.at.at) ? self.routing.at.at : self.cutoff + duration(self.routing.at.offset))",message="drain.start must not be after routing.at"
// +kubebuilder:validation:XValidation:rule="!has(self.notify) || has(self.notify.webhook) || has(self.notify.email)",message="notify needs a channel: webhook or email"
// +kubebuilder:validation:XValidation:rule="!has(self.notify) || !has(self.notify.reminders) || !has(self.notify.reminders.audience) || self.notify.reminders.audience != 'Unfetched' || (has(self.export) && has(self.export.handoff))",message="notify.reminders.audience Unfetched needs export.handoff: only handoff links know who has fetched"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.cancel) || !oldSelf.cancel || (has(self.cancel) && self.cancel)",message="cancel cannot be undone: create a new RegionWithdrawal instead"
// +kubebuilder:validation:XValidation:rule="has(self.withdrawalID) == has(oldSelf.withdrawalID) && (!has(self.withdrawalID) || self.withdrawalID == oldSelf.withdrawalID)",message="withdrawalID cannot be set, changed or removed after the withdrawal is created: its notices and records are kept under it"
type RegionWithdrawalSpec struct {
	// region is the country being withdrawn from, as an ISO 3166-1 alpha-2
	// code such as "PK". It cannot be changed.
	// +required
	// +kubebuilder:validation:Pattern=`^[A-Z]{2}$`
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=2
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="region is immutable"
	Region string `json:"region"`

	// cutoff is the legal deadline, in RFC 3339 with an offset, for example
	// "2026-12-30T00:00:00+05:00". Routing stops no later than this instant.
	// It may change: every step not yet run is planned again for the new
	// date, customers already told get a Rescheduled notice naming the old
	// and the new date, and status.cutoff keeps the history.
	// +required
	Cutoff metav1.Time `json:"cutoff"`

	// timeZone is the region's IANA time zone, such as "Asia/Karachi". Cron
	// schedules are evaluated in it and times are shown in it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$`
	TimeZone string `json:"timeZone"`

	// selector selects the objects that belong to the region: the Deployments,
	// StatefulSets and Services to drain, the Ingresses and HTTPRoutes to cut,
	// and the workloads to export.
	// It must not be empty: an empty selector would select every object.
	// +required
	// +kubebuilder:validation:XValidation:rule="(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)",message="selector must not be empty: an empty selector selects every object in the namespace"
	Selector metav1.LabelSelector `json:"selector"`

	// namespaceSelector selects the namespaces searched with selector. Without
	// it only the withdrawal's own namespace is searched. It must not be
	// empty: an empty selector would select every namespace, kube-system
	// included.
	// +optional
	// +kubebuilder:validation:XValidation:rule="(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)",message="namespaceSelector must not be empty: an empty selector selects every namespace of the cluster; omit it to search only the withdrawal's own namespace"
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// serviceAccountName is the ServiceAccount of the withdrawal's namespace
	// that the operator acts as: every object the withdrawal reads, scales,
	// rewrites or creates is read or written as this ServiceAccount, so its
	// RBAC decides what the withdrawal may touch. Empty means the operator's
	// default (the chart's tenancy.defaultServiceAccount). Setting it needs
	// permission to impersonate that ServiceAccount when the chart's
	// admission policy is installed.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// notify tells every customer: an announcement, reminders, a final notice.
	// +optional
	Notify *NotifyStep `json:"notify,omitempty"`

	// export runs export Jobs and verifies their archives.
	// +optional
	Export *ExportStep `json:"export,omitempty"`

	// drain takes the regional workloads out of service in batches.
	// +optional
	Drain *DrainStep `json:"drain,omitempty"`

	// routing stops routing the region's traffic at the cutoff.
	// +optional
	Routing *RoutingStep `json:"routing,omitempty"`

	// fleet says what this copy of the withdrawal does when the same
	// withdrawal is applied to several clusters (docs/fleet.md).
	// +optional
	Fleet *FleetSpec `json:"fleet,omitempty"`

	// withdrawalID names the withdrawal for what outlives this object: the
	// idempotency key of every notice, the per-recipient records of whom
	// it reached, and the salt its evidence hashes recipients with. Two
	// objects in one namespace with one withdrawalID are one withdrawal: a
	// copy applied to another cluster, or this one deleted and created
	// again, goes on from where the other stopped and sends nothing twice
	// under a new key. Unset, it is the object's name. It cannot be
	// changed, and two withdrawals in a namespace cannot share one.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	WithdrawalID string `json:"withdrawalID,omitempty"`

	// suspend pauses the withdrawal: nothing new starts while it is true.
	// Actions that fell due meanwhile run, once, when it is set back to false.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// dryRun rehearses the withdrawal: each step records what it would do, in
	// status and an Event, and touches nothing. Setting it back to false runs
	// the steps for real.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`

	// approvals lists the steps a person has approved, each for the spec as
	// it stood (status.specDigest). A step with requireApproval waits until
	// it is approved for the current spec: a change to what the steps act
	// on voids the approvals given before it. `kubectl withdrawal approve`
	// writes an entry.
	// +optional
	// +listType=map
	// +listMapKey=step
	// +kubebuilder:validation:MaxItems=4
	Approvals []Approval `json:"approvals,omitempty"`

	// cancel calls the withdrawal off: routes and replica counts are restored,
	// a cancellation notice goes to every customer an earlier notice tried
	// to reach (no one else was told anything), and status lists what could
	// not be reversed. Once set it cannot be unset.
	// +optional
	Cancel bool `json:"cancel,omitempty"`

	// cancelReason is shown in the cancellation notice and in status.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	CancelReason string `json:"cancelReason,omitempty"`

	// allowCancelAfterCutoff lets cancel reverse a withdrawal whose cutoff has
	// passed. Without it a cancel after the cutoff is refused.
	// +optional
	AllowCancelAfterCutoff bool `json:"allowCancelAfterCutoff,omitempty"`
}

// Phase summarises where a withdrawal is, for people.
// +kubebuilder:validation:Enum=Pending;Scheduled;InProgress;WaitingForApproval;Suspended;Completed;Cancelling;Cancelled;Stalled
type Phase string

const (
	// PhasePending is a withdrawal the controller has not looked at yet.
	PhasePending Phase = "Pending"
	// PhaseScheduled is waiting for its first action.
	PhaseScheduled Phase = "Scheduled"
	// PhaseInProgress has started at least one step and not finished all.
	PhaseInProgress Phase = "InProgress"
	// PhaseWaitingForApproval has a due step that waits for an approval.
	PhaseWaitingForApproval Phase = "WaitingForApproval"
	// PhaseSuspended is paused by spec.suspend.
	PhaseSuspended Phase = "Suspended"
	// PhaseCompleted has finished every step.
	PhaseCompleted Phase = "Completed"
	// PhaseCancelling is reversing what it did.
	PhaseCancelling Phase = "Cancelling"
	// PhaseCancelled has reversed what it could.
	PhaseCancelled Phase = "Cancelled"
	// PhaseStalled cannot go on until its spec is fixed.
	PhaseStalled Phase = "Stalled"
)

// StepState is where one step is.
// +kubebuilder:validation:Enum=Pending;WaitingForApproval;Blocked;Running;Succeeded;Failed;Cancelled;Reverting;Reverted
type StepState string

const (
	// StepPending is not due yet.
	StepPending StepState = "Pending"
	// StepWaitingForApproval is due and waits for an approval of the current
	// spec in spec.approvals.
	StepWaitingForApproval StepState = "WaitingForApproval"
	// StepBlocked is due and waits for a gate, such as a verified export.
	StepBlocked StepState = "Blocked"
	// StepRunning has started and not finished.
	StepRunning StepState = "Running"
	// StepSucceeded has finished.
	StepSucceeded StepState = "Succeeded"
	// StepFailed has given up; the message says why.
	StepFailed StepState = "Failed"
	// StepCancelled never ran because the withdrawal was cancelled.
	StepCancelled StepState = "Cancelled"
	// StepReverting is being undone by cancel.
	StepReverting StepState = "Reverting"
	// StepReverted ran and was undone by cancel.
	StepReverted StepState = "Reverted"
)

// Progress counts done work against all of it.
type Progress struct {
	// done is how many units are finished.
	Done int64 `json:"done"`
	// total is how many units there are.
	Total int64 `json:"total"`
}

// ObjectReference names an object a step touches.
type ObjectReference struct {
	// kind of the object, such as Deployment.
	Kind string `json:"kind"`
	// namespace of the object.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// name of the object.
	Name string `json:"name"`
}

// StepPlan is what a step touches, or would touch in a dry run.
type StepPlan struct {
	// objects lists the first objects the step touches, in a stable order.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	Objects []ObjectReference `json:"objects,omitempty"`

	// objectCount is how many objects the step touches in all.
	// +optional
	ObjectCount int32 `json:"objectCount,omitempty"`

	// recipients is how many customers a notice goes to.
	// +optional
	Recipients int64 `json:"recipients,omitempty"`

	// summary says in one line what the step does or would do.
	// +optional
	Summary string `json:"summary,omitempty"`
}

// StepStatus is the state of one step.
type StepStatus struct {
	// name of the step.
	Name StepName `json:"name"`

	// state of the step.
	State StepState `json:"state"`

	// dueAt is when the step falls due.
	// +optional
	DueAt *metav1.Time `json:"dueAt,omitempty"`

	// startedAt is when the step started.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// finishedAt is when the step finished.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`

	// lateness is how long after dueAt the step started; a controller that
	// was down makes it large.
	// +optional
	Lateness *metav1.Duration `json:"lateness,omitempty"`

	// dryRun is true when the step ran as a rehearsal and touched nothing.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`

	// progress counts the step's work.
	// +optional
	Progress *Progress `json:"progress,omitempty"`

	// plan is what the step touches, or would touch.
	// +optional
	Plan *StepPlan `json:"plan,omitempty"`

	// message says in a sentence what the step is doing or waiting for.
	// +optional
	Message string `json:"message,omitempty"`

	// lastError is the last error the step met, if any.
	// +optional
	LastError string `json:"lastError,omitempty"`

	// export is the export step's detail: its Jobs and verified artifacts.
	// +optional
	Export *ExportStatus `json:"export,omitempty"`

	// drain is the drain step's detail: its batches and what blocks it.
	// +optional
	Drain *DrainStatus `json:"drain,omitempty"`

	// routing is the routing step's detail: the routes switched and their snapshots.
	// +optional
	Routing *RoutingStatus `json:"routing,omitempty"`
}

// Approval is one step approved by one person for one version of the spec.
type Approval struct {
	// step is the step approved.
	Step StepName `json:"step"`

	// by is who approved, as the API server names them
	// (request.userInfo.username). The chart's admission policy lets an
	// entry be added only by the user it names, and only with the approve
	// verb; the evidence ledger records it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	By string `json:"by"`

	// specDigest is the status.specDigest the approver saw. The approval
	// holds while the spec's digest is the same, and is void after any
	// change it covers, until the step is approved again.
	// +kubebuilder:validation:Pattern=`^sha256:[0-9a-f]{64}$`
	SpecDigest string `json:"specDigest"`
}

// RegionWithdrawalStatus is the observed state of a withdrawal.
type RegionWithdrawalStatus struct {
	// observedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase summarises the withdrawal for people.
	// +optional
	Phase Phase `json:"phase,omitempty"`

	// steps is the state of each configured step.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=4
	Steps []StepStatus `json:"steps,omitempty"`

	// notify is the state of the notices.
	// +optional
	Notify *NotifyStatus `json:"notify,omitempty"`

	// nextAction names the next thing the controller will do, such as
	// "notify:reminder" or "routing".
	// +optional
	NextAction string `json:"nextAction,omitempty"`

	// nextActionAt is when the next action falls due.
	// +optional
	NextActionAt *metav1.Time `json:"nextActionAt,omitempty"`

	// irreversible lists what a cancel could not undo, such as notices
	// already sent and exports already taken.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Irreversible []string `json:"irreversible,omitempty"`

	// cutoff is the cutoff the withdrawal was first planned for and every
	// change to it (or to spec.timeZone) since: what customers were told,
	// and when it moved.
	// +optional
	Cutoff *CutoffHistory `json:"cutoff,omitempty"`

	// identityKey is the key the withdrawal's notices and records are kept
	// under: a hash of its namespace and withdrawalID, or its UID when a
	// release before withdrawalID began it. The operator sets it at the
	// first reconcile and never changes it.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	IdentityKey string `json:"identityKey,omitempty"`

	// specDigest is the digest an approval names: SHA-256 over the spec
	// without approvals, suspend, dryRun, cancel, cancelReason,
	// allowCancelAfterCutoff and the steps' requireApproval. Any other change
	// (the selectors, the cutoff, a step's timing, a template, where
	// recipients come from) changes it and voids the approvals given before.
	// +optional
	SpecDigest string `json:"specDigest,omitempty"`

	// evidence is where the withdrawal's evidence ledger stood when the
	// operator last wrote this status. The operator checks the ledger
	// against it whenever it loads it, so statements removed or rewritten
	// behind it are found; an auditor can keep its checkpoint to pin a
	// bundle exported later.
	// +optional
	Evidence *EvidenceStatus `json:"evidence,omitempty"`

	// fleet is this copy's part in a fleet: its role and, where a
	// multi-cluster engine aggregates the copies' status into one, each
	// member's. Unset for a withdrawal on one cluster.
	// +optional
	Fleet *FleetStatus `json:"fleet,omitempty"`

	// conditions: Ready, Reconciling, Stalled and DeadlineAtRisk.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// EvidenceStatus is the head of a withdrawal's evidence ledger.
type EvidenceStatus struct {
	// statements is how many statements the ledger held at checkpoint.
	// +kubebuilder:validation:Minimum=0
	Statements int64 `json:"statements"`

	// checkpoint is the operator's latest signed checkpoint of the ledger,
	// a C2SP signed note: `kubectl withdrawal evidence verify --checkpoint`
	// takes it.
	// +kubebuilder:validation:MaxLength=4096
	Checkpoint string `json:"checkpoint"`

	// key is the verifier key the ledger is signed with
	// (withdrawal.ops.dev+<hash>+<public key>).
	// +kubebuilder:validation:MaxLength=256
	Key string `json:"key"`

	// fingerprint is the SHA-256 of key's public key, for people to compare.
	// +kubebuilder:validation:MaxLength=80
	// +optional
	Fingerprint string `json:"fingerprint,omitempty"`

	// sealed is true once the ledger ends with its seal: the withdrawal
	// completed, was cancelled or was deleted, and nothing more is recorded.
	// +optional
	Sealed bool `json:"sealed,omitempty"`

	// storedBytes is what the ledger's shards (ConfigMaps in the operator's
	// namespace, so in etcd) hold: about 340 bytes per delivery. The
	// region_withdrawal_evidence_stored_bytes metric exports it, and the
	// RegionWithdrawalEvidenceNearEtcdQuota alert fires on the sum.
	// +kubebuilder:validation:Minimum=0
	// +optional
	StoredBytes int64 `json:"storedBytes,omitempty"`
}

// RegionWithdrawal withdraws a service from one region by a legal cutoff:
// it notifies every customer, exports their data, drains the regional
// endpoints and stops routing the region at the cutoff.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rw,categories=withdrawal
// +kubebuilder:printcolumn:name="Region",type=string,JSONPath=`.spec.region`
// +kubebuilder:printcolumn:name="Cutoff",type=string,JSONPath=`.spec.cutoff`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Next",type=string,JSONPath=`.status.nextAction`
// +kubebuilder:printcolumn:name="Next At",type=string,JSONPath=`.status.nextActionAt`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RegionWithdrawal struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the withdrawal.
	// +required
	Spec RegionWithdrawalSpec `json:"spec"`

	// status is the observed state of the withdrawal.
	// +optional
	Status RegionWithdrawalStatus `json:"status,omitempty"`
}

// RegionWithdrawalList is a list of RegionWithdrawals.
// +kubebuilder:object:root=true
type RegionWithdrawalList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RegionWithdrawal `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RegionWithdrawal{}, &RegionWithdrawalList{})
}
