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
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// StepName names one of the four steps of a withdrawal.
// +kubebuilder:validation:Enum=notify;export;drain;routing
type StepName string

const (
	// StepNotify tells every customer about the withdrawal.
	StepNotify StepName = "notify"
	// StepExport exports customer data and verifies the archives.
	StepExport StepName = "export"
	// StepDrain takes the regional endpoints out of service.
	StepDrain StepName = "drain"
	// StepRouting stops routing the region at the cutoff.
	StepRouting StepName = "routing"
)

// AllSteps lists the steps in the order they run.
var AllSteps = []StepName{StepNotify, StepExport, StepDrain, StepRouting}

// ----------------------------------------------------------------------------
// notify

// NotifyStep announces the withdrawal to every customer, reminds them on a
// schedule, and sends a final notice before the cutoff.
type NotifyStep struct {
	// announce is when the announcement goes out.
	// +required
	Announce Moment `json:"announce"`

	// reminders repeat on a cron schedule between the announcement and the final notice.
	// +optional
	Reminders *ReminderSchedule `json:"reminders,omitempty"`

	// final is when the final notice goes out, for example "-24h".
	// +required
	Final Moment `json:"final"`

	// recipients says where the list of customers comes from.
	// +required
	Recipients RecipientSources `json:"recipients"`

	// webhook delivers notices as signed JSON to an HTTPS endpoint.
	// +optional
	Webhook *WebhookChannel `json:"webhook,omitempty"`

	// email delivers notices by SMTP.
	// +optional
	Email *EmailChannel `json:"email,omitempty"`

	// templates override the built-in subject and body of each notice.
	// +optional
	Templates *NoticeTemplates `json:"templates,omitempty"`

	// locales give the notices in other languages. For each notice, a
	// recipient whose locale column reads "ur-PK" gets the first of: the
	// ur-PK templates, the ur templates, spec.notify.templates, the
	// built-in English text. Whichever renders, .CutoffDate, .CutoffTime
	// and .Lang follow the recipient's locale, and HTML bodies are marked
	// with its language and direction.
	// +optional
	// +listType=map
	// +listMapKey=locale
	// +kubebuilder:validation:MaxItems=16
	Locales []LocaleTemplates `json:"locales,omitempty"`

	// afterCutoff sends one notice after the cutoff when the announcement or
	// the final notice could not go out before it (the withdrawal was
	// created late, or the operator was down): that the service has ended,
	// and where the customer's export is. Without it such notices are only
	// recorded as missed.
	// +optional
	AfterCutoff bool `json:"afterCutoff,omitempty"`

	// minNotice is the least notice customers already told of the
	// withdrawal must keep when the cutoff is brought forward: an update
	// that moves spec.cutoff earlier so that less than this is left is
	// refused at admission (by the operator's admission webhook, when the
	// installation runs it). Defaults to the operator's --min-notice; the
	// operator refuses a value below its --min-notice-floor.
	// +optional
	MinNotice *metav1.Duration `json:"minNotice,omitempty"`

	// requireApproval holds the first notice until spec.approvals approves
	// "notify" for the current spec. Turning it off needs the approve verb.
	// +optional
	RequireApproval bool `json:"requireApproval,omitempty"`
}

// RecipientFormat is how recipients are written in a ConfigMap or Secret key.
// +kubebuilder:validation:Enum=CSV;JSONLines
type RecipientFormat string

const (
	// RecipientFormatCSV is comma-separated values with a header row.
	RecipientFormatCSV RecipientFormat = "CSV"
	// RecipientFormatJSONLines is one JSON object per line.
	RecipientFormatJSONLines RecipientFormat = "JSONLines"
)

// RecipientSources lists where recipients are read from. Every source is read
// and the union is notified; a recipient id that appears twice is reported.
// +kubebuilder:validation:XValidation:rule="(has(self.configMaps) && size(self.configMaps) > 0) || (has(self.secrets) && size(self.secrets) > 0) || has(self.http)",message="name at least one recipient source: configMaps, secrets or http"
type RecipientSources struct {
	// configMaps in the withdrawal's namespace that hold recipients. One object
	// holds at most about 1 MiB, so large lists span several.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=512
	ConfigMaps []RecipientObjectRef `json:"configMaps,omitempty"`

	// secrets in the withdrawal's namespace that hold recipients.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=512
	Secrets []RecipientObjectRef `json:"secrets,omitempty"`

	// http reads recipients from a paged HTTP(S) source.
	// +optional
	HTTP *HTTPRecipientSource `json:"http,omitempty"`
}

// RecipientObjectRef names a ConfigMap or Secret holding recipients.
type RecipientObjectRef struct {
	// name of the object, in the withdrawal's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// keys to read. Empty reads every key of the object.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=253
	Keys []string `json:"keys,omitempty"`

	// format of the data.
	// +optional
	// +kubebuilder:default=CSV
	Format RecipientFormat `json:"format,omitempty"`
}

// HTTPRecipientSource reads recipients page by page from an HTTP(S) endpoint
// that answers JSON lines and names the next page in a Link header. A page
// served with a strong ETag is asked for again with If-None-Match, and one
// answered 304 Not Modified is not read again in a notice's later calls.
type HTTPRecipientSource struct {
	// url of the first page.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://`
	URL string `json:"url"`

	// headersSecretRef names a Secret in the withdrawal's namespace whose keys
	// are sent as request headers, for example Authorization.
	// +optional
	HeadersSecretRef *LocalObjectReference `json:"headersSecretRef,omitempty"`

	// caBundle is a PEM bundle to verify the server's certificate with, in
	// addition to the system roots.
	// +optional
	CABundle []byte `json:"caBundle,omitempty"`
}

// LocalObjectReference names an object in the withdrawal's namespace.
type LocalObjectReference struct {
	// name of the object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// SecretKeyReference names one key of a Secret in the withdrawal's namespace.
type SecretKeyReference struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key in the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// DeliveryLimits bounds how fast and how often a channel sends.
type DeliveryLimits struct {
	// ratePerSecond is the most notices the channel sends per second.
	// +optional
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	RatePerSecond int32 `json:"ratePerSecond,omitempty"`

	// concurrency is the most notices in flight at once.
	// +optional
	// +kubebuilder:default=16
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1024
	Concurrency int32 `json:"concurrency,omitempty"`

	// maxAttempts is how often one notice to one recipient is tried before it
	// is recorded as failed.
	// +optional
	// +kubebuilder:default=8
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MaxAttempts int32 `json:"maxAttempts,omitempty"`

	// timeout bounds one delivery attempt.
	// +optional
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="timeout must be a positive duration, e.g. 10s"
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// WebhookChannel posts each notice as JSON to an HTTPS endpoint, signed with
// HMAC-SHA256 over the timestamp and the body, with an idempotency key that is
// the same on every retry of the same notice to the same recipient.
type WebhookChannel struct {
	// url receives the notices of recipients that name no webhook of their own.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://`
	URL string `json:"url,omitempty"`

	// signingSecretRef names the HMAC key.
	// +required
	SigningSecretRef SecretKeyReference `json:"signingSecretRef"`

	// keyPerRecipient signs each recipient's notices with a key of its own,
	// derived from the signing key and the recipient's id (HKDF-SHA256), so
	// that a customer who holds the key to verify its notices cannot sign a
	// notice to another. `kubectl withdrawal webhook-key NAME RECIPIENT`
	// prints a recipient's key, to be handed to that customer. Without it,
	// one key signs every recipient's notices.
	// +optional
	KeyPerRecipient bool `json:"keyPerRecipient,omitempty"`

	// caBundle is a PEM bundle to verify receivers' certificates with.
	// +optional
	CABundle []byte `json:"caBundle,omitempty"`

	// limits bound the rate, concurrency, attempts and timeout of deliveries.
	// +optional
	Limits DeliveryLimits `json:"limits,omitempty"`
}

// SMTPSecurity is how the SMTP connection is secured.
// +kubebuilder:validation:Enum=StartTLS;ImplicitTLS
type SMTPSecurity string

const (
	// SMTPStartTLS upgrades a plain connection with STARTTLS, and refuses to
	// send if the server does not offer it.
	SMTPStartTLS SMTPSecurity = "StartTLS"
	// SMTPImplicitTLS opens a TLS connection from the start (port 465).
	SMTPImplicitTLS SMTPSecurity = "ImplicitTLS"
)

// EmailChannel sends each notice as a MIME email by SMTP.
type EmailChannel struct {
	// host of the SMTP server.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Host string `json:"host"`

	// port of the SMTP server.
	// +optional
	// +kubebuilder:default=587
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// security of the connection.
	// +optional
	// +kubebuilder:default=StartTLS
	Security SMTPSecurity `json:"security,omitempty"`

	// from is the sender address, for example "Service Notices <notices@example.com>".
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=320
	From string `json:"from"`

	// credentialsSecretRef names a Secret with the keys "username" and "password"
	// for SMTP AUTH. Without it the client does not authenticate.
	// +optional
	CredentialsSecretRef *LocalObjectReference `json:"credentialsSecretRef,omitempty"`

	// caBundle is a PEM bundle to verify the server's certificate with.
	// +optional
	CABundle []byte `json:"caBundle,omitempty"`

	// limits bound the rate, concurrency, attempts and timeout of deliveries.
	// +optional
	Limits DeliveryLimits `json:"limits,omitempty"`
}

// NoticeTemplates override the built-in text of each notice.
type NoticeTemplates struct {
	// announcement is the first notice.
	// +optional
	Announcement *NoticeTemplate `json:"announcement,omitempty"`
	// reminder is each reminder.
	// +optional
	Reminder *NoticeTemplate `json:"reminder,omitempty"`
	// final is the last notice before the cutoff.
	// +optional
	Final *NoticeTemplate `json:"final,omitempty"`
	// cancellation tells customers the withdrawal was called off.
	// +optional
	Cancellation *NoticeTemplate `json:"cancellation,omitempty"`
	// afterCutoff is the notice sent after the cutoff when notify.afterCutoff
	// is set.
	// +optional
	AfterCutoff *NoticeTemplate `json:"afterCutoff,omitempty"`
	// rescheduled tells customers already told that the cutoff moved;
	// .PreviousCutoff is the date they were told before, .Cutoff the new one.
	// +optional
	Rescheduled *NoticeTemplate `json:"rescheduled,omitempty"`
	// handoffPage is the page a customer's handoff link
	// (spec.export.handoff) shows above its download button. A customer
	// whose notices carry their locale sees the page of that locale (by
	// the same fallback as the notices), else the one their browser asks
	// for, else the default.
	// +optional
	HandoffPage *HandoffPageTemplate `json:"handoffPage,omitempty"`
}

// HandoffPageTemplate is the text of the page a handoff link shows, as Go
// text/templates. It is rendered once per language, not per customer, so
// it sees .Region, .Cutoff, .CutoffUTC, .CutoffDate, .CutoffTime, .Lang,
// .Dir, .Export.Expires and .Export.ExpiresDate (when the links stop
// working), and no recipient. The endpoint shows it as plain text: markup
// is escaped, and a blank line starts a new paragraph.
type HandoffPageTemplate struct {
	// title is the page's heading and title.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Title string `json:"title"`

	// text is what the page says above the button.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Text string `json:"text"`

	// button is the label of the button that fetches the archive.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Button string `json:"button"`
}

// LocaleTemplates are the notices in one language.
// +kubebuilder:validation:XValidation:rule="has(self.announcement) || has(self.reminder) || has(self.final) || has(self.cancellation) || has(self.afterCutoff) || has(self.rescheduled) || has(self.handoffPage)",message="give at least one notice, or the handoff page, for this locale"
type LocaleTemplates struct {
	// locale is a BCP 47 language tag, e.g. "ur" or "ur-PK".
	// +required
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=35
	// +kubebuilder:validation:Pattern=`^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$`
	Locale string `json:"locale"`

	NoticeTemplates `json:",inline"`
}

// NoticeTemplate is a Go text/template for the subject and body of a notice.
// Templates see .Region, .Cutoff (in the recipient's time zone), .CutoffUTC,
// .CutoffDate and .CutoffTime (written the recipient's locale's way),
// .DaysLeft, .TimeLeft ("3 days", "1 day", "5 hours"), .Lang, .Dir ("ltr" or
// "rtl"), .Export (the recipient's own verified export: .Location, .Bytes,
// .Size, .SHA256, .Encrypted) and .Recipient. They may range only over
// .Recipient.Fields, and render within caps (see docs/notify.md).
type NoticeTemplate struct {
	// subject of the notice.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Subject string `json:"subject"`

	// text is the plain-text body.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=65536
	Text string `json:"text"`

	// html is an optional HTML body (html/template), sent alongside the text.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	HTML string `json:"html,omitempty"`
}

// ----------------------------------------------------------------------------
// export

// ExportScope is what one export Job covers.
// +kubebuilder:validation:Enum=Namespace;Workload;Once
type ExportScope string

const (
	// ExportPerNamespace runs one Job per selected namespace.
	ExportPerNamespace ExportScope = "Namespace"
	// ExportPerWorkload runs one Job per selected Deployment or StatefulSet.
	ExportPerWorkload ExportScope = "Workload"
	// ExportOnce runs a single Job for the whole region.
	ExportOnce ExportScope = "Once"
)

// ExportStep runs export Jobs and verifies what they produced, before anything
// that would make customer data unreachable.
type ExportStep struct {
	// start is when the export Jobs are created.
	// +required
	Start Moment `json:"start"`

	// deadline is when every export must be verified. Drain and routing do not
	// touch a target whose export is not verified.
	// +required
	Deadline Moment `json:"deadline"`

	// per says what one Job covers.
	// +optional
	// +kubebuilder:default=Namespace
	Per ExportScope `json:"per,omitempty"`

	// parallelism is the most export Jobs running at once.
	// +optional
	// +kubebuilder:default=4
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Parallelism int32 `json:"parallelism,omitempty"`

	// maxAttempts is how many Jobs are tried per target, within the deadline.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=20
	MaxAttempts int32 `json:"maxAttempts,omitempty"`

	// jobTemplate is the Job each target runs. The controller adds the
	// environment variables WITHDRAWAL_REGION, WITHDRAWAL_CUTOFF,
	// WITHDRAWAL_TARGET and WITHDRAWAL_EXPORT_ID, and reads the result from the
	// termination message of the container named "exporter" (or the first).
	// +required
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	JobTemplate batchv1.JobTemplateSpec `json:"jobTemplate"`

	// manifests says how the controller reads the manifest a per-customer
	// exporter reports (region-withdrawal-operator export --per-customer),
	// to give each customer their own archive in their notices. The
	// manifest is read at the location the result names, over http(s)
	// through the same egress guard as notices; without this field, with
	// no credentials.
	// +optional
	Manifests *ExportManifestAccess `json:"manifests,omitempty"`

	// handoff gives every customer who has their own archive a personal
	// download link, .Export.Link in the notices. The link is an
	// unguessable token served by the operator's handoff endpoint (chart
	// value handoff.enabled), which redirects to the archive and records
	// the customer's first and last fetch, so status counts who has
	// fetched and a reminder can go to those who have not
	// (spec.notify.reminders.audience: Unfetched). Without the endpoint
	// installed, a withdrawal that sets this field stalls.
	// +optional
	Handoff *ExportHandoff `json:"handoff,omitempty"`

	// requireApproval holds the export until spec.approvals approves
	// "export" for the current spec. Turning it off needs the approve verb.
	// +optional
	RequireApproval bool `json:"requireApproval,omitempty"`

	// onPostpone is what a cutoff moved later does to exports already
	// verified, when the new timeline starts the export after now. Keep
	// (the default) keeps them: customers have their archives, as of when
	// they were made. Reexport makes them again at the new start (after a
	// new approval, when one is required), in a round of their own: new
	// Jobs, new export IDs, so the archives already made are never
	// overwritten, and customers keep their links to them until the new
	// ones are verified. A drain waiting for the export waits for the new
	// round.
	// +optional
	OnPostpone ExportOnPostpone `json:"onPostpone,omitempty"`
}

// ExportOnPostpone is what a postponed cutoff does to verified exports.
// +kubebuilder:validation:Enum=Keep;Reexport
type ExportOnPostpone string

const (
	// ExportOnPostponeKeep keeps the verified exports. It is what an empty
	// onPostpone means.
	ExportOnPostponeKeep ExportOnPostpone = "Keep"
	// ExportOnPostponeReexport makes them again at the new time.
	ExportOnPostponeReexport ExportOnPostpone = "Reexport"
)

// ExportManifestAccess is how the controller reads export manifests.
type ExportManifestAccess struct {
	// headersSecretRef names a Secret in the withdrawal's namespace whose keys
	// are sent as request headers, for example Authorization.
	// +optional
	HeadersSecretRef *LocalObjectReference `json:"headersSecretRef,omitempty"`

	// caBundle is a PEM bundle to verify the store's certificate with, in
	// addition to the system roots.
	// +optional
	CABundle []byte `json:"caBundle,omitempty"`

	// verify says how each customer's own archive is verified. Digest (the
	// default) trusts the size and SHA-256 the exporter wrote for it; the
	// manifest itself is verified whole against the Job's result. Reread
	// has the controller read every archive back from the store, with the
	// same headers and CA bundle and through the same egress guard, and
	// hash it: a customer's archive counts (and is named in notices and
	// handoff links) only once it matches, and one that does not match
	// fails the export step, so that nothing is drained.
	// +optional
	// +kubebuilder:default=Digest
	Verify ArchiveVerification `json:"verify,omitempty"`
}

// ArchiveVerification is how customers' own archives are verified.
// +kubebuilder:validation:Enum=Digest;Reread
type ArchiveVerification string

const (
	// VerifyDigest trusts the exporter's digest of each archive.
	VerifyDigest ArchiveVerification = "Digest"
	// VerifyReread reads each archive back and hashes it.
	VerifyReread ArchiveVerification = "Reread"
)

// ExportHandoff shapes the customers' download links.
type ExportHandoff struct {
	// expiresAfter is how long after the cutoff the links keep working;
	// after that the endpoint answers 410 Gone. Defaults to 720h (30
	// days). Changing it changes the expiry of links already sent.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	ExpiresAfter *metav1.Duration `json:"expiresAfter,omitempty"`
}

// DefaultHandoffExpiresAfter is how long after the cutoff the handoff
// links work when spec.export.handoff.expiresAfter is not set.
const DefaultHandoffExpiresAfter = 30 * 24 * time.Hour

// HandoffExpiry is when the withdrawal's handoff links stop working.
func (h *ExportHandoff) HandoffExpiry(cutoff time.Time) time.Time {
	if h != nil && h.ExpiresAfter != nil {
		return cutoff.Add(h.ExpiresAfter.Duration)
	}
	return cutoff.Add(DefaultHandoffExpiresAfter)
}

// ----------------------------------------------------------------------------
// drain

// DrainStep scales the selected Deployments and StatefulSets to zero in
// batches. A terminating pod leaves the EndpointSlices at once and keeps its
// grace period to finish open connections.
type DrainStep struct {
	// start is when the drain begins, for example "-48h".
	// +required
	Start Moment `json:"start"`

	// maxUnavailable is how many workloads one batch scales down, as a count
	// or a percentage of all selected workloads.
	// +optional
	// +kubebuilder:default="25%"
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : self.matches('^(100|[1-9][0-9]?)%$')",message="maxUnavailable must be a count of at least 1 or a percentage from 1% to 100%"
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`

	// interval is the pause between batches.
	// +optional
	// +kubebuilder:default="1m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="interval must be a positive duration, e.g. 10m"
	Interval *metav1.Duration `json:"interval,omitempty"`

	// timeout bounds the whole drain; past it the step reports what blocks it.
	// +optional
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="timeout must be a positive duration, e.g. 6h"
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// requireApproval holds the drain until spec.approvals approves "drain"
	// for the current spec. Turning it off needs the approve verb.
	// +optional
	RequireApproval bool `json:"requireApproval,omitempty"`

	// onPostpone is what a cutoff moved later does to a drain that has
	// started, when the new timeline starts the drain after now. Restore
	// (the default) scales the drained workloads back to their recorded
	// replica counts and its HorizontalPodAutoscalers back, and drains
	// them again at the new time (after a new approval, when one is
	// required). Keep leaves them drained; only spec.cancel restores them.
	// Routes already switched stay switched either way, until a cancel.
	// +optional
	OnPostpone DrainOnPostpone `json:"onPostpone,omitempty"`
}

// DrainOnPostpone is what a postponed cutoff does to a started drain.
// +kubebuilder:validation:Enum=Restore;Keep
type DrainOnPostpone string

const (
	// DrainOnPostponeRestore restores the drained workloads, and drains
	// them again at the new time. It is what an empty onPostpone means.
	DrainOnPostponeRestore DrainOnPostpone = "Restore"
	// DrainOnPostponeKeep keeps them drained.
	DrainOnPostponeKeep DrainOnPostpone = "Keep"
)

// ----------------------------------------------------------------------------
// routing

// RoutingMode is how routing stops serving the region.
// +kubebuilder:validation:Enum=Block451;Remove
type RoutingMode string

const (
	// RoutingBlock451 points every backend at the notice backend, which answers
	// 451 Unavailable For Legal Reasons (RFC 7725).
	RoutingBlock451 RoutingMode = "Block451"
	// RoutingRemove removes the rules of the selected routes.
	RoutingRemove RoutingMode = "Remove"
)

// RoutingStep stops routing the region's traffic at the cutoff. The selected
// Ingresses and HTTPRoutes are snapshotted first so that cancel restores them.
type RoutingStep struct {
	// at is when routing stops. Defaults to the cutoff; it may be earlier, never later.
	// +optional
	At *Moment `json:"at,omitempty"`

	// mode says how routing stops.
	// +optional
	// +kubebuilder:default=Block451
	Mode RoutingMode `json:"mode,omitempty"`

	// noticeBackend serves the 451 notice in mode Block451.
	// +optional
	NoticeBackend *NoticeBackend `json:"noticeBackend,omitempty"`

	// requireApproval holds the switch until spec.approvals approves
	// "routing" for the current spec. Turning it off needs the approve verb.
	// The cutoff is a legal deadline: an approval still missing a day before
	// it raises DeadlineAtRisk.
	// +optional
	RequireApproval bool `json:"requireApproval,omitempty"`
}

// NoticeBackend is the HTTP service that answers 451 for the region.
type NoticeBackend struct {
	// service names an existing Service to use. Without it the operator
	// deploys its own notice backend in the withdrawal's namespace.
	// +optional
	Service *ServiceReference `json:"service,omitempty"`

	// blockedBy is the URL of the entity that caused the block, sent as
	// `Link: <blockedBy>; rel="blocked-by"` (RFC 7725) and linked from the
	// notice page: an http(s) URL with a host, without user info, spaces,
	// quotes or angle brackets, so it can neither break out of the header
	// nor carry credentials to every client of the region.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^\s<>"'@/]+(/[^\s<>"']*)?$`
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getHostname() != ''",message="blockedBy must be an http(s) URL with a host"
	BlockedBy string `json:"blockedBy,omitempty"`

	// message is a short explanation shown in the notice's HTML and JSON body.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Message string `json:"message,omitempty"`
}

// ServiceReference names a Service port in the withdrawal's namespace.
type ServiceReference struct {
	// name of the Service.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// port of the Service.
	// +optional
	// +kubebuilder:default=80
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`
}
