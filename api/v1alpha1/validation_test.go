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

// These tests run the generated CRD in a real kube-apiserver, because the
// OpenAPI schema, the CEL rules and the list semantics are only enforced
// there: a unit test of the Go types would prove nothing about them.
package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	withdrawalv1alpha1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/test/testenv"
)

var (
	// env is the API server every test talks to; nil when skipReason is set.
	env *testenv.Env
	// skipReason says why the API server tests cannot run on this machine.
	skipReason string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(testenv.RepoRoot(), "bin")
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		skipReason = fmt.Sprintf("no kube-apiserver in %s (run hack/tools.sh or set KUBEBUILDER_ASSETS): %v", assets, err)
		return m.Run()
	}
	var err error
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting the API server: %v\n", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping the API server: %v\n", err)
		}
	}()
	return m.Run()
}

// apiClient returns the client of the test API server, or skips the test
// when there is none.
func apiClient(t *testing.T) client.Client {
	t.Helper()
	if env == nil {
		t.Skip(skipReason)
	}
	return env.Client
}

// createNamespace creates a namespace for one test. An AlreadyExists is fine:
// the samples all live in the same namespace.
func createNamespace(t *testing.T, c client.Client, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := c.Create(t.Context(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// validSpec is a withdrawal with every step configured, each constraint met
// with room to spare. Each case below breaks exactly one thing in a copy of it.
const validSpec = `
region: PK
cutoff: "2026-12-30T00:00:00+05:00"
timeZone: Asia/Karachi
selector:
  matchLabels:
    bes.example.com/region: pk
notify:
  announce: {offset: -720h}
  reminders:
    schedule: "0 9 * * MON"
    start: {offset: -336h}
  final: {offset: -24h}
  recipients:
    configMaps:
      - name: recipients-0
      - name: recipients-1
        format: JSONLines
  webhook:
    url: https://notices.example.com/hook
    signingSecretRef: {name: webhook-signing, key: hmac-key}
    limits: {ratePerSecond: 50, timeout: 10s}
  email:
    host: smtp.example.com
    port: 587
    from: "Notices <notices@example.com>"
export:
  start: {offset: -168h}
  deadline: {offset: -72h}
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: exporter
              image: ghcr.io/ops-dev/region-withdrawal-operator:v0.1.0
              args: [export, --source=/data]
drain:
  start: {offset: -48h}
  maxUnavailable: 25%
  interval: 10m
  timeout: 6h
routing:
  at: {offset: 0s}
  mode: Block451
  noticeBackend:
    blockedBy: https://example.com/legal/pk
`

// newSpec returns a fresh copy of validSpec as JSON-like maps, so a case can
// write what the typed Go structs cannot express: a bad duration string, a
// zero that omitempty would drop, a field that is missing.
func newSpec(t *testing.T) map[string]any {
	t.Helper()
	var spec map[string]any
	if err := yaml.Unmarshal([]byte(validSpec), &spec); err != nil {
		t.Fatalf("decoding validSpec: %v", err)
	}
	return spec
}

// set writes value at path, creating the maps on the way.
func set(obj map[string]any, value any, path ...string) {
	for _, key := range path[:len(path)-1] {
		next, ok := obj[key].(map[string]any)
		if !ok {
			next = map[string]any{}
			obj[key] = next
		}
		obj = next
	}
	obj[path[len(path)-1]] = value
}

// del removes the field at path, if it is there.
func del(obj map[string]any, path ...string) {
	for _, key := range path[:len(path)-1] {
		next, ok := obj[key].(map[string]any)
		if !ok {
			return
		}
		obj = next
	}
	delete(obj, path[len(path)-1])
}

// newWithdrawal wraps spec in a RegionWithdrawal with a generated name.
func newWithdrawal(namespace string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(testenv.GVK)
	u.SetNamespace(namespace)
	u.SetGenerateName("rw-")
	return u
}

// Instants around the cutoff of validSpec, 2026-12-30T00:00:00+05:00.
// approvals is spec.approvals approving steps, as alice, for digestA.
func approvals(steps ...string) []any {
	out := make([]any, 0, len(steps))
	for _, s := range steps {
		out = append(out, map[string]any{"step": s, "by": "alice", "specDigest": digestA})
	}
	return out
}

// digestA is a well-formed approval digest.
const digestA = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

const (
	afterCutoff        = "2026-12-30T01:00:00+05:00"
	sameInstantInUTC   = "2026-12-29T19:00:00Z"
	dayBeforeCutoff    = "2026-12-29T00:00:00+05:00"
	weekBeforeCutoff   = "2026-12-23T00:00:00+05:00"
	monthBeforeCutoff  = "2026-11-30T00:00:00+05:00"
	hourBeforeCutoff   = "2026-12-29T23:00:00+05:00"
	twoDaysAfterCutoff = "2027-01-01T00:00:00+05:00"
)

func TestCreateRejectsInvalidSpec(t *testing.T) {
	c := apiClient(t)
	const namespace = "invalid-specs"
	createNamespace(t, c, namespace)

	tests := []struct {
		name   string
		mutate func(spec map[string]any)
		// wantInError are substrings the error must contain: the field path,
		// the rule's message, or both.
		wantInError []string
	}{
		// region
		{
			name:        "region in lower case",
			mutate:      func(s map[string]any) { set(s, "pk", "region") },
			wantInError: []string{"spec.region", "should match"},
		},
		{
			name:        "region with three letters",
			mutate:      func(s map[string]any) { set(s, "PAK", "region") },
			wantInError: []string{"spec.region", "Too long"},
		},
		{
			name:        "region empty",
			mutate:      func(s map[string]any) { set(s, "", "region") },
			wantInError: []string{"spec.region"},
		},
		{
			name:        "region missing",
			mutate:      func(s map[string]any) { del(s, "region") },
			wantInError: []string{"spec.region", "Required value"},
		},

		// cutoff and time zone
		{
			name:        "cutoff missing",
			mutate:      func(s map[string]any) { del(s, "cutoff") },
			wantInError: []string{"spec.cutoff", "Required value"},
		},
		{
			name:        "cutoff is a date, not an RFC 3339 instant",
			mutate:      func(s map[string]any) { set(s, "2026-12-30", "cutoff") },
			wantInError: []string{"spec.cutoff"},
		},
		{
			name:        "time zone with spaces",
			mutate:      func(s map[string]any) { set(s, "Asia/ Karachi", "timeZone") },
			wantInError: []string{"spec.timeZone", "should match"},
		},
		{
			name:        "time zone empty",
			mutate:      func(s map[string]any) { set(s, "", "timeZone") },
			wantInError: []string{"spec.timeZone"},
		},

		// selector
		{
			name:        "selector empty, which would select every object",
			mutate:      func(s map[string]any) { set(s, map[string]any{}, "selector") },
			wantInError: []string{"spec.selector", "selector must not be empty"},
		},
		{
			name:        "namespaceSelector empty, which would select every namespace",
			mutate:      func(s map[string]any) { set(s, map[string]any{}, "namespaceSelector") },
			wantInError: []string{"spec.namespaceSelector", "namespaceSelector must not be empty"},
		},
		{
			name:        "namespaceSelector with empty matchLabels",
			mutate:      func(s map[string]any) { set(s, map[string]any{"matchLabels": map[string]any{}}, "namespaceSelector") },
			wantInError: []string{"spec.namespaceSelector", "namespaceSelector must not be empty"},
		},

		// steps and moments
		{
			name: "no step at all",
			mutate: func(s map[string]any) {
				for _, step := range []string{"notify", "export", "drain", "routing"} {
					del(s, step)
				}
			},
			wantInError: []string{"configure at least one step"},
		},
		{
			name:        "positive offset",
			mutate:      func(s map[string]any) { set(s, "24h", "notify", "final", "offset") },
			wantInError: []string{"spec.notify.final.offset", "offset must not be positive"},
		},
		{
			name:        "offset in days, which Go durations do not have",
			mutate:      func(s map[string]any) { set(s, "-7d", "export", "start", "offset") },
			wantInError: []string{"spec.export.start.offset", "should match"},
		},
		{
			name:        "offset that is a bare number",
			mutate:      func(s map[string]any) { set(s, "-3600", "drain", "start", "offset") },
			wantInError: []string{"spec.drain.start.offset", "should match"},
		},
		{
			name: "moment with both at and offset",
			mutate: func(s map[string]any) {
				set(s, map[string]any{"at": dayBeforeCutoff, "offset": "-24h"}, "drain", "start")
			},
			wantInError: []string{"spec.drain.start", "set exactly one of at or offset"},
		},
		{
			name:        "moment with neither at nor offset",
			mutate:      func(s map[string]any) { set(s, map[string]any{}, "notify", "final") },
			wantInError: []string{"spec.notify.final", "set exactly one of at or offset"},
		},
		{
			name:        "routing moment with neither at nor offset",
			mutate:      func(s map[string]any) { set(s, map[string]any{}, "routing", "at") },
			wantInError: []string{"spec.routing.at", "set exactly one of at or offset"},
		},

		// timeline order
		{
			name:        "announce after final",
			mutate:      func(s map[string]any) { set(s, "-12h", "notify", "announce", "offset") },
			wantInError: []string{"notify.announce must be before notify.final"},
		},
		{
			name:        "announce at the same instant as final",
			mutate:      func(s map[string]any) { set(s, "-24h", "notify", "announce", "offset") },
			wantInError: []string{"notify.announce must be before notify.final"},
		},
		{
			name: "announce.at after the cutoff",
			mutate: func(s map[string]any) {
				set(s, map[string]any{"at": afterCutoff}, "notify", "announce")
			},
			wantInError: []string{"notify.announce.at must not be after the cutoff"},
		},
		{
			name: "final.at after the cutoff",
			mutate: func(s map[string]any) {
				set(s, map[string]any{"at": twoDaysAfterCutoff}, "notify", "final")
			},
			wantInError: []string{"notify.final.at must not be after the cutoff"},
		},
		{
			name:        "reminders to those who have not fetched, with no handoff links",
			mutate:      func(s map[string]any) { set(s, "Unfetched", "notify", "reminders", "audience") },
			wantInError: []string{"notify.reminders.audience Unfetched needs export.handoff"},
		},
		{
			name:        "reminders to an unknown audience",
			mutate:      func(s map[string]any) { set(s, "Some", "notify", "reminders", "audience") },
			wantInError: []string{"spec.notify.reminders.audience", "Unsupported value"},
		},
		{
			name:        "handoff links expiring after a bad duration",
			mutate:      func(s map[string]any) { set(s, "a month", "export", "handoff", "expiresAfter") },
			wantInError: []string{"spec.export.handoff.expiresAfter"},
		},
		{
			name:        "archives verified some other way",
			mutate:      func(s map[string]any) { set(s, "Trust", "export", "manifests", "verify") },
			wantInError: []string{"spec.export.manifests.verify", "Unsupported value"},
		},
		{
			name:        "reminders start after the final notice",
			mutate:      func(s map[string]any) { set(s, "-1h", "notify", "reminders", "start", "offset") },
			wantInError: []string{"notify.reminders.start must be before notify.final"},
		},
		{
			name:        "export start after its deadline",
			mutate:      func(s map[string]any) { set(s, "-60h", "export", "start", "offset") },
			wantInError: []string{"export.start must be before export.deadline"},
		},
		{
			name: "export deadline.at after the cutoff",
			mutate: func(s map[string]any) {
				del(s, "drain")
				set(s, map[string]any{"at": afterCutoff}, "export", "deadline")
			},
			wantInError: []string{"export.deadline.at must not be after the cutoff"},
		},
		{
			name:        "export deadline after drain start",
			mutate:      func(s map[string]any) { set(s, "-24h", "export", "deadline", "offset") },
			wantInError: []string{"export.deadline must not be after drain.start"},
		},
		{
			name: "export deadline.at after drain start given as an offset",
			mutate: func(s map[string]any) {
				set(s, map[string]any{"at": hourBeforeCutoff}, "export", "deadline")
			},
			wantInError: []string{"export.deadline must not be after drain.start"},
		},
		{
			name:        "drain start after routing.at",
			mutate:      func(s map[string]any) { set(s, "-60h", "routing", "at", "offset") },
			wantInError: []string{"drain.start must not be after routing.at"},
		},
		{
			name: "drain start.at after the cutoff",
			mutate: func(s map[string]any) {
				del(s, "routing")
				set(s, map[string]any{"at": afterCutoff}, "drain", "start")
			},
			wantInError: []string{"drain.start.at must not be after the cutoff"},
		},
		{
			name: "routing.at.at after the cutoff",
			mutate: func(s map[string]any) {
				set(s, map[string]any{"at": afterCutoff}, "routing", "at")
			},
			wantInError: []string{"routing.at.at must not be after the cutoff"},
		},

		// notify
		{
			name: "notify without any channel",
			mutate: func(s map[string]any) {
				del(s, "notify", "webhook")
				del(s, "notify", "email")
			},
			wantInError: []string{"notify needs a channel: webhook or email"},
		},
		{
			name:        "notify recipients with no source",
			mutate:      func(s map[string]any) { set(s, map[string]any{}, "notify", "recipients") },
			wantInError: []string{"spec.notify.recipients", "name at least one recipient source"},
		},
		{
			name: "notify recipients with only empty lists",
			mutate: func(s map[string]any) {
				set(s, map[string]any{"configMaps": []any{}, "secrets": []any{}}, "notify", "recipients")
			},
			wantInError: []string{"spec.notify.recipients", "name at least one recipient source"},
		},
		{
			name: "duplicate configMap names in recipients",
			mutate: func(s map[string]any) {
				set(s, []any{
					map[string]any{"name": "recipients-0"},
					map[string]any{"name": "recipients-0", "format": "JSONLines"},
				}, "notify", "recipients", "configMaps")
			},
			wantInError: []string{"spec.notify.recipients.configMaps[1]", "Duplicate value"},
		},
		{
			name: "recipient format unknown",
			mutate: func(s map[string]any) {
				set(s, []any{map[string]any{"name": "r", "format": "XML"}}, "notify", "recipients", "configMaps")
			},
			wantInError: []string{"spec.notify.recipients.configMaps[0].format", "Unsupported value"},
		},
		{
			name:        "http recipient source that is not a URL",
			mutate:      func(s map[string]any) { set(s, "recipients.example.com/page/1", "notify", "recipients", "http", "url") },
			wantInError: []string{"spec.notify.recipients.http.url", "should match"},
		},
		{
			name:        "reminder schedule too long",
			mutate:      func(s map[string]any) { set(s, strings.Repeat("0 9 * * MON ", 11), "notify", "reminders", "schedule") },
			wantInError: []string{"spec.notify.reminders.schedule", "Too long"},
		},
		{
			name:        "reminder schedule empty",
			mutate:      func(s map[string]any) { set(s, "", "notify", "reminders", "schedule") },
			wantInError: []string{"spec.notify.reminders.schedule"},
		},
		{
			name:        "webhook ratePerSecond 0",
			mutate:      func(s map[string]any) { set(s, int64(0), "notify", "webhook", "limits", "ratePerSecond") },
			wantInError: []string{"spec.notify.webhook.limits.ratePerSecond", "should be greater than or equal to 1"},
		},
		{
			name:        "webhook timeout that is not a duration",
			mutate:      func(s map[string]any) { set(s, "ten seconds", "notify", "webhook", "limits", "timeout") },
			wantInError: []string{"spec.notify.webhook.limits.timeout"},
		},
		{
			name:        "webhook url that is not http(s)",
			mutate:      func(s map[string]any) { set(s, "ftp://notices.example.com/hook", "notify", "webhook", "url") },
			wantInError: []string{"spec.notify.webhook.url", "should match"},
		},
		{
			name:        "webhook without a signing secret",
			mutate:      func(s map[string]any) { del(s, "notify", "webhook", "signingSecretRef") },
			wantInError: []string{"spec.notify.webhook.signingSecretRef", "Required value"},
		},
		{
			name:        "email port 70000",
			mutate:      func(s map[string]any) { set(s, int64(70000), "notify", "email", "port") },
			wantInError: []string{"spec.notify.email.port", "should be less than or equal to 65535"},
		},
		{
			name:        "email security unknown",
			mutate:      func(s map[string]any) { set(s, "None", "notify", "email", "security") },
			wantInError: []string{"spec.notify.email.security", "Unsupported value"},
		},
		{
			name: "locale that is not a language tag",
			mutate: func(s map[string]any) {
				set(s, []any{map[string]any{"locale": "urdu please", "final": map[string]any{"subject": "s", "text": "t"}}}, "notify", "locales")
			},
			wantInError: []string{"spec.notify.locales[0].locale", "should match"},
		},
		{
			name: "locale given twice",
			mutate: func(s map[string]any) {
				ur := map[string]any{"locale": "ur", "final": map[string]any{"subject": "s", "text": "t"}}
				set(s, []any{ur, ur}, "notify", "locales")
			},
			wantInError: []string{"spec.notify.locales[1]", "Duplicate value"},
		},
		{
			name: "locale with no notice",
			mutate: func(s map[string]any) {
				set(s, []any{map[string]any{"locale": "ur"}}, "notify", "locales")
			},
			wantInError: []string{"spec.notify.locales[0]", "give at least one notice, or the handoff page, for this locale"},
		},

		// export
		{
			name:        "export parallelism 0",
			mutate:      func(s map[string]any) { set(s, int64(0), "export", "parallelism") },
			wantInError: []string{"spec.export.parallelism"},
		},
		{
			name:        "export without a job template",
			mutate:      func(s map[string]any) { del(s, "export", "jobTemplate") },
			wantInError: []string{"spec.export.jobTemplate", "Required value"},
		},

		// drain
		{
			name:        "maxUnavailable that is neither a count nor a percentage",
			mutate:      func(s map[string]any) { set(s, "a quarter", "drain", "maxUnavailable") },
			wantInError: []string{"spec.drain.maxUnavailable", "maxUnavailable must be a count of at least 1 or a percentage"},
		},
		{
			name:        "maxUnavailable 0, which never drains",
			mutate:      func(s map[string]any) { set(s, int64(0), "drain", "maxUnavailable") },
			wantInError: []string{"spec.drain.maxUnavailable", "maxUnavailable must be a count of at least 1 or a percentage"},
		},
		{
			name:        "maxUnavailable 0%",
			mutate:      func(s map[string]any) { set(s, "0%", "drain", "maxUnavailable") },
			wantInError: []string{"spec.drain.maxUnavailable", "maxUnavailable must be a count of at least 1 or a percentage"},
		},
		{
			name:        "maxUnavailable above 100%",
			mutate:      func(s map[string]any) { set(s, "150%", "drain", "maxUnavailable") },
			wantInError: []string{"spec.drain.maxUnavailable", "maxUnavailable must be a count of at least 1 or a percentage"},
		},
		{
			name:        "drain interval that is not a duration",
			mutate:      func(s map[string]any) { set(s, "soon", "drain", "interval") },
			wantInError: []string{"spec.drain.interval"},
		},
		{
			name:        "drain timeout zero",
			mutate:      func(s map[string]any) { set(s, "0s", "drain", "timeout") },
			wantInError: []string{"spec.drain.timeout", "must be a positive duration"},
		},
		{
			name:        "drain timeout negative",
			mutate:      func(s map[string]any) { set(s, "-1h", "drain", "timeout") },
			wantInError: []string{"spec.drain.timeout"},
		},

		// routing
		{
			name:        `routing mode "Drop"`,
			mutate:      func(s map[string]any) { set(s, "Drop", "routing", "mode") },
			wantInError: []string{"spec.routing.mode", "Unsupported value"},
		},
		{
			name:        "notice backend blockedBy that is not a URL",
			mutate:      func(s map[string]any) { set(s, "the government", "routing", "noticeBackend", "blockedBy") },
			wantInError: []string{"spec.routing.noticeBackend.blockedBy", "should match"},
		},
		{
			name: "notice backend service port 0",
			mutate: func(s map[string]any) {
				set(s, map[string]any{"name": "notice", "port": int64(0)}, "routing", "noticeBackend", "service")
			},
			wantInError: []string{"spec.routing.noticeBackend.service.port"},
		},

		// approvals and cancel
		{
			name:        "duplicate approvals",
			mutate:      func(s map[string]any) { set(s, approvals("drain", "drain"), "approvals") },
			wantInError: []string{"spec.approvals[1]", "Duplicate value"},
		},
		{
			name:        "approval naming an unknown step",
			mutate:      func(s map[string]any) { set(s, approvals("export", "shutdown"), "approvals") },
			wantInError: []string{"spec.approvals[1]", "Unsupported value"},
		},
		{
			name: "approval without its approver",
			mutate: func(s map[string]any) {
				set(s, []any{map[string]any{"step": "drain", "specDigest": digestA}}, "approvals")
			},
			wantInError: []string{"spec.approvals[0].by", "Required value"},
		},
		{
			name: "approval of no digest",
			mutate: func(s map[string]any) {
				set(s, []any{map[string]any{"step": "drain", "by": "alice", "specDigest": "latest"}}, "approvals")
			},
			wantInError: []string{"spec.approvals[0].specDigest", "should match"},
		},
		{
			name: "too many approvals",
			mutate: func(s map[string]any) {
				set(s, approvals("notify", "export", "drain", "routing", "notify"), "approvals")
			},
			wantInError: []string{"spec.approvals", "Too many"},
		},
		{
			name:        "cancel reason too long",
			mutate:      func(s map[string]any) { set(s, strings.Repeat("x", 1025), "cancelReason") },
			wantInError: []string{"spec.cancelReason", "Too long"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := newSpec(t)
			tt.mutate(spec)
			err := c.Create(t.Context(), newWithdrawal(namespace, spec))
			if err == nil {
				t.Fatalf("create succeeded, want it rejected with %q", tt.wantInError)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("create failed with %v (reason %q), want Invalid", err, apierrors.ReasonForError(err))
			}
			t.Logf("rejected: %v", err)
			for _, want := range tt.wantInError {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not contain %q:\n%v", want, err)
				}
			}
		})
	}
}

// TestCreateAcceptsValidSpec guards the rules against rejecting what is
// allowed: every boundary the invalid cases step over is met exactly here.
func TestCreateAcceptsValidSpec(t *testing.T) {
	c := apiClient(t)
	const namespace = "valid-specs"
	createNamespace(t, c, namespace)

	tests := []struct {
		name   string
		mutate func(spec map[string]any)
	}{
		{
			name:   "every step",
			mutate: func(map[string]any) {},
		},
		{
			name: "handoff links, reminders to those who have not fetched, every archive read back",
			mutate: func(s map[string]any) {
				set(s, "Unfetched", "notify", "reminders", "audience")
				set(s, "1440h", "export", "handoff", "expiresAfter")
				set(s, "Reread", "export", "manifests", "verify")
			},
		},
		{
			name: "a locale that gives only the handoff page",
			mutate: func(s map[string]any) {
				set(s, "1440h", "export", "handoff", "expiresAfter")
				set(s, []any{map[string]any{"locale": "ur", "handoffPage": map[string]any{
					"title": "آپ کا ڈیٹا", "text": "{{.Export.ExpiresDate}}", "button": "ڈاؤن لوڈ"}}}, "notify", "locales")
			},
		},
		{
			name: "routing only, at the cutoff by default",
			mutate: func(s map[string]any) {
				for _, step := range []string{"notify", "export", "drain"} {
					del(s, step)
				}
				del(s, "routing", "at")
			},
		},
		{
			name: "absolute moments, at the cutoff in another offset",
			mutate: func(s map[string]any) {
				set(s, map[string]any{"at": monthBeforeCutoff}, "notify", "announce")
				set(s, map[string]any{"at": dayBeforeCutoff}, "notify", "final")
				set(s, map[string]any{"at": weekBeforeCutoff}, "export", "start")
				set(s, map[string]any{"at": dayBeforeCutoff}, "export", "deadline")
				set(s, map[string]any{"at": dayBeforeCutoff}, "drain", "start")
				set(s, map[string]any{"at": sameInstantInUTC}, "routing", "at")
			},
		},
		{
			name: "export deadline equal to drain start, drain start equal to routing",
			mutate: func(s map[string]any) {
				set(s, "-48h", "export", "deadline", "offset")
				set(s, "-48h", "routing", "at", "offset")
			},
		},
		{
			name: "fractional and compound offsets",
			mutate: func(s map[string]any) {
				set(s, "-719h30m", "notify", "announce", "offset")
				set(s, "-1.5h", "notify", "final", "offset")
			},
		},
		{
			name: "recipients from secrets and http",
			mutate: func(s map[string]any) {
				set(s, map[string]any{
					"secrets": []any{map[string]any{"name": "recipients", "keys": []any{"a.jsonl", "b.jsonl"}, "format": "JSONLines"}},
					"http":    map[string]any{"url": "https://crm.example.com/recipients"},
				}, "notify", "recipients")
			},
		},
		{
			name: "email channel only",
			mutate: func(s map[string]any) {
				del(s, "notify", "webhook")
			},
		},
		{
			name:   "maxUnavailable as a count",
			mutate: func(s map[string]any) { set(s, int64(2), "drain", "maxUnavailable") },
		},
		{
			name:   "maxUnavailable 100%",
			mutate: func(s map[string]any) { set(s, "100%", "drain", "maxUnavailable") },
		},
		{
			name: "selector with match expressions only",
			mutate: func(s map[string]any) {
				set(s, map[string]any{"matchExpressions": []any{
					map[string]any{"key": "bes.example.com/region", "operator": "In", "values": []any{"pk"}},
				}}, "selector")
			},
		},
		{
			name:   "every approval",
			mutate: func(s map[string]any) { set(s, approvals("notify", "export", "drain", "routing"), "approvals") },
		},
		{
			name: "remove mode without a notice backend",
			mutate: func(s map[string]any) {
				set(s, "Remove", "routing", "mode")
				del(s, "routing", "noticeBackend")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := newSpec(t)
			tt.mutate(spec)
			if err := c.Create(t.Context(), newWithdrawal(namespace, spec)); err != nil {
				t.Fatalf("create failed: %v", err)
			}
		})
	}
}

// TestCreateDefaults checks the defaults the controller relies on.
func TestCreateDefaults(t *testing.T) {
	c := apiClient(t)
	const namespace = "defaults"
	createNamespace(t, c, namespace)

	spec := newSpec(t)
	del(spec, "drain", "maxUnavailable")
	del(spec, "routing", "mode")
	u := newWithdrawal(namespace, spec)
	if err := c.Create(t.Context(), u); err != nil {
		t.Fatalf("create failed: %v", err)
	}
	var got withdrawalv1alpha1.RegionWithdrawal
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(u), &got); err != nil {
		t.Fatalf("get failed: %v", err)
	}
	if mu := got.Spec.Drain.MaxUnavailable; mu == nil || mu.String() != "25%" {
		t.Errorf("drain.maxUnavailable = %v, want 25%%", mu)
	}
	if got.Spec.Routing.Mode != withdrawalv1alpha1.RoutingBlock451 {
		t.Errorf("routing.mode = %q, want %q", got.Spec.Routing.Mode, withdrawalv1alpha1.RoutingBlock451)
	}
	if got.Spec.Notify.Email.Port != 587 || got.Spec.Notify.Email.Security != withdrawalv1alpha1.SMTPStartTLS {
		t.Errorf("email = port %d security %q, want 587 StartTLS", got.Spec.Notify.Email.Port, got.Spec.Notify.Email.Security)
	}
	if got.Spec.Export.Per != withdrawalv1alpha1.ExportPerNamespace {
		t.Errorf("export.per = %q, want %q", got.Spec.Export.Per, withdrawalv1alpha1.ExportPerNamespace)
	}
}

func TestUpdate(t *testing.T) {
	c := apiClient(t)
	const namespace = "updates"
	createNamespace(t, c, namespace)

	tests := []struct {
		name string
		// before adjusts the object created first.
		before func(rw *withdrawalv1alpha1.RegionWithdrawal)
		// change is the update under test.
		change func(rw *withdrawalv1alpha1.RegionWithdrawal)
		// wantInError is empty when the update must be accepted.
		wantInError string
	}{
		{
			name:        "region changed",
			change:      func(rw *withdrawalv1alpha1.RegionWithdrawal) { rw.Spec.Region = "AF" },
			wantInError: "region is immutable",
		},
		{
			name:        "cancel set back to false",
			before:      func(rw *withdrawalv1alpha1.RegionWithdrawal) { rw.Spec.Cancel = true },
			change:      func(rw *withdrawalv1alpha1.RegionWithdrawal) { rw.Spec.Cancel = false },
			wantInError: "cancel cannot be undone",
		},
		{
			name: "rule across fields broken by an update",
			change: func(rw *withdrawalv1alpha1.RegionWithdrawal) {
				rw.Spec.Export.Deadline.Offset = &metav1.Duration{Duration: -hours(24)}
			},
			wantInError: "export.deadline must not be after drain.start",
		},
		{
			name:   "suspend toggled on",
			change: func(rw *withdrawalv1alpha1.RegionWithdrawal) { rw.Spec.Suspend = true },
		},
		{
			name:   "suspend toggled off",
			before: func(rw *withdrawalv1alpha1.RegionWithdrawal) { rw.Spec.Suspend = true },
			change: func(rw *withdrawalv1alpha1.RegionWithdrawal) { rw.Spec.Suspend = false },
		},
		{
			name:   "dryRun turned off",
			before: func(rw *withdrawalv1alpha1.RegionWithdrawal) { rw.Spec.DryRun = true },
			change: func(rw *withdrawalv1alpha1.RegionWithdrawal) { rw.Spec.DryRun = false },
		},
		{
			name: "approvals added",
			before: func(rw *withdrawalv1alpha1.RegionWithdrawal) {
				rw.Spec.Approvals = []withdrawalv1alpha1.Approval{{Step: withdrawalv1alpha1.StepNotify, By: "alice", SpecDigest: digestA}}
			},
			change: func(rw *withdrawalv1alpha1.RegionWithdrawal) {
				rw.Spec.Approvals = append(rw.Spec.Approvals, withdrawalv1alpha1.Approval{Step: withdrawalv1alpha1.StepExport, By: "bob", SpecDigest: digestA}, withdrawalv1alpha1.Approval{Step: withdrawalv1alpha1.StepDrain, By: "bob", SpecDigest: digestA})
			},
		},
		{
			name: "cancel set",
			change: func(rw *withdrawalv1alpha1.RegionWithdrawal) {
				rw.Spec.Cancel = true
				rw.Spec.CancelReason = "the order was withdrawn"
			},
		},
		{
			name:   "cancel kept while the reason changes",
			before: func(rw *withdrawalv1alpha1.RegionWithdrawal) { rw.Spec.Cancel = true },
			change: func(rw *withdrawalv1alpha1.RegionWithdrawal) { rw.Spec.CancelReason = "court order lifted" },
		},
		{
			name: "cutoff moved later",
			change: func(rw *withdrawalv1alpha1.RegionWithdrawal) {
				rw.Spec.Cutoff = metav1.NewTime(rw.Spec.Cutoff.Add(hours(24 * 7)))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rw := typedWithdrawal(t, namespace)
			if tt.before != nil {
				tt.before(rw)
			}
			if err := c.Create(t.Context(), rw); err != nil {
				t.Fatalf("create failed: %v", err)
			}
			tt.change(rw)
			err := c.Update(t.Context(), rw)
			if tt.wantInError == "" {
				if err != nil {
					t.Fatalf("update failed: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("update succeeded, want it rejected with %q", tt.wantInError)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("update failed with %v (reason %q), want Invalid", err, apierrors.ReasonForError(err))
			}
			if !strings.Contains(err.Error(), tt.wantInError) {
				t.Errorf("error does not contain %q:\n%v", tt.wantInError, err)
			}
		})
	}
}

// TestStatusUpdateIgnoresSpecRules checks that a status write on an object
// whose spec was cancelled does not trip the spec's transition rules.
func TestStatusUpdateIgnoresSpecRules(t *testing.T) {
	c := apiClient(t)
	const namespace = "status-updates"
	createNamespace(t, c, namespace)

	rw := typedWithdrawal(t, namespace)
	rw.Spec.Cancel = true
	if err := c.Create(t.Context(), rw); err != nil {
		t.Fatalf("create failed: %v", err)
	}
	rw.Status.Phase = withdrawalv1alpha1.PhaseCancelling
	rw.Status.ObservedGeneration = rw.Generation
	if err := c.Status().Update(t.Context(), rw); err != nil {
		t.Fatalf("status update failed: %v", err)
	}
}

func hours(n int) time.Duration { return time.Duration(n) * time.Hour }

// typedWithdrawal decodes validSpec into the Go type, as the controller and
// the kubectl plugin see it.
func typedWithdrawal(t *testing.T, namespace string) *withdrawalv1alpha1.RegionWithdrawal {
	t.Helper()
	rw := &withdrawalv1alpha1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, GenerateName: "rw-"},
	}
	if err := yaml.UnmarshalStrict([]byte(validSpec), &rw.Spec); err != nil {
		t.Fatalf("decoding validSpec: %v", err)
	}
	return rw
}

// TestSamplesAreAccepted creates every RegionWithdrawal in config/samples,
// so a sample can never drift from the schema.
func TestSamplesAreAccepted(t *testing.T) {
	c := apiClient(t)

	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*.yaml"))
	if err != nil {
		t.Fatalf("listing samples: %v", err)
	}
	var samples int
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("reading %s: %v", file, err)
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(data, &meta); err != nil {
			t.Fatalf("decoding %s: %v", file, err)
		}
		if meta.GroupVersionKind() != testenv.GVK {
			continue
		}
		samples++
		t.Run(filepath.Base(file), func(t *testing.T) {
			var rw withdrawalv1alpha1.RegionWithdrawal
			// Strict, so that a misspelt field, which the API server would
			// prune without a word, fails here.
			if err := yaml.UnmarshalStrict(data, &rw); err != nil {
				t.Fatalf("decoding: %v", err)
			}
			createNamespace(t, c, rw.Namespace)
			if err := c.Create(t.Context(), &rw); err != nil {
				t.Fatalf("create failed: %v", err)
			}
			// Delete it again, so the sample can be created once more with
			// -count > 1 and other tests see a clean namespace.
			t.Cleanup(func() {
				if err := c.Delete(context.Background(), &rw); err != nil && !apierrors.IsNotFound(err) {
					t.Errorf("deleting: %v", err)
				}
			})
		})
	}
	if samples == 0 {
		t.Fatal("found no RegionWithdrawal in config/samples")
	}
}
