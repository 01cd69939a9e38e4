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

package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// The namespaces of the tenancy test: the operator's, a tenant's, a
// tenant's whose namespace enforces the restricted Pod Security level, and
// one the tenant must not reach.
const (
	tenancyOperatorNS = "rwo-tenancy"
	shopNS            = "shop-pk"
	strictNS          = "strict-pk"
	victimNS          = "victim"
)

var pkLabels = map[string]string{"bes.example.com/region": "pk"}

// TestATenantCanDoNoMoreThanItsServiceAccount runs the operator binary
// with the chart's RBAC and default ServiceAccount, and has a tenant that
// may manage only its own namespace try each way the operator used to let
// it reach further. Each is refused with a message naming the verb and the
// object, and the tenant's own withdrawal still completes.
func TestATenantCanDoNoMoreThanItsServiceAccount(t *testing.T) {
	ctx := context.Background()
	c := env.Client
	for ns, labels := range map[string]map[string]string{
		tenancyOperatorNS: nil,
		shopNS:            {"tier": "tenant"},
		victimNS:          {"tier": "tenant"},
		strictNS:          {"pod-security.kubernetes.io/enforce": "restricted"},
	} {
		mustCreate(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}})
	}
	installChart(t, "tn", tenancyOperatorNS, nil, "--set", "tenancy.namespaces={"+shopNS+","+strictNS+"}", "--set", "tenancy.serviceAccounts={narrow}", "--set", "admissionPolicy.enabled=false")
	kubeconfig, _ := tokenKubeconfig(t, tenancyOperatorNS, "tn-region-withdrawal-operator")
	op := startWithKubeconfig(t, kubeconfig, "--metrics-bind-address=0", "--health-probe-bind-address=0", "--default-service-account=region-withdrawal", "--service-accounts=region-withdrawal,narrow",
		"--export-service-account=region-withdrawal-exporter", "--export-secrets=region-withdrawal-export")
	defer op.stop(t)

	t.Run("its own withdrawal completes", func(t *testing.T) {
		mustCreate(t, deployment(shopNS, "web", 2))
		mustCreate(t, ingress(shopNS, "web"))
		rw := tenantWithdrawal(shopNS, "pakistan", 6*time.Second)
		rw.Spec.Drain = &v1.DrainStep{Start: offset(-3 * time.Second)}
		rw.Spec.Routing = &v1.RoutingStep{At: ptr.To(offset(0)), Mode: v1.RoutingRemove}
		mustCreate(t, rw)
		waitFor(t, rw, "Completed", func(got *v1.RegionWithdrawal) bool { return got.Status.Phase == v1.PhaseCompleted })
		var web appsv1.Deployment
		if err := c.Get(ctx, client.ObjectKey{Namespace: shopNS, Name: "web"}, &web); err != nil {
			t.Fatal(err)
		}
		if *web.Spec.Replicas != 0 {
			t.Errorf("web has %d replicas; the drain should have scaled it to zero", *web.Spec.Replicas)
		}
		var ing networkingv1.Ingress
		if err := c.Get(ctx, client.ObjectKey{Namespace: shopNS, Name: "web"}, &ing); err != nil {
			t.Fatal(err)
		}
		for _, r := range ing.Spec.Rules {
			if r.HTTP != nil && len(r.HTTP.Paths) > 0 {
				t.Errorf("the Ingress still routes %s: %+v", r.Host, r.HTTP.Paths)
			}
		}
	})

	t.Run("a template that would spin holds back only its notices, not the cutoff", func(t *testing.T) {
		// Each template alone is three ranges deep, which fits; one calling
		// the other is six deep over a row of 64 columns: 64^6 iterations
		// that write nothing, minutes of a core.
		const spin = `{{define "a"}}{{range .Recipient.Fields}}{{range $.Recipient.Fields}}{{range $.Recipient.Fields}}{{template "b" $}}{{end}}{{end}}{{end}}{{end}}` +
			`{{define "b"}}{{range .Recipient.Fields}}{{range $.Recipient.Fields}}{{range $.Recipient.Fields}}{{if eq . "x"}}{{end}}{{end}}{{end}}{{end}}{{end}}{{template "a" .}}`
		var header, row strings.Builder
		header.WriteString("id,email")
		row.WriteString("c1,a@example.com")
		for i := range 63 {
			fmt.Fprintf(&header, ",f%02d", i)
			fmt.Fprintf(&row, ",v%02d", i)
		}
		mustCreate(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: shopNS, Name: "wide-recipients"},
			Data: map[string]string{"list.csv": header.String() + "\n" + row.String() + "\n"}})
		mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: shopNS, Name: "region-withdrawal-webhook"}, StringData: map[string]string{"k": "key"}})
		mustCreate(t, ingress(shopNS, "spin-edge"))
		rw := tenantWithdrawal(shopNS, "spin", 8*time.Second)
		rw.Spec.Notify = &v1.NotifyStep{Announce: offset(-5 * time.Second), Final: offset(-2 * time.Second),
			Recipients: v1.RecipientSources{ConfigMaps: []v1.RecipientObjectRef{{Name: "wide-recipients"}}},
			Webhook:    &v1.WebhookChannel{URL: "https://customer.example.com/hook", SigningSecretRef: v1.SecretKeyReference{Name: "region-withdrawal-webhook", Key: "k"}},
			Templates:  &v1.NoticeTemplates{Announcement: &v1.NoticeTemplate{Subject: "s", Text: spin}}}
		rw.Spec.Routing = &v1.RoutingStep{At: ptr.To(offset(0)), Mode: v1.RoutingRemove}
		mustCreate(t, rw)
		c := waitStalled(t, rw, v1.ReasonInvalidSpec)
		if !strings.Contains(c.Message, `template "a"`) || !strings.Contains(c.Message, "steps") {
			t.Errorf("the Stalled message does not name the template and its work: %s", c.Message)
		}
		got := waitFor(t, rw, "routing switched", func(got *v1.RegionWithdrawal) bool {
			s := stepOf(got, v1.StepRouting)
			return s.State == v1.StepSucceeded
		})
		routing := stepOf(got, v1.StepRouting)
		if routing.StartedAt.Time.Before(rw.Spec.Cutoff.Time) || routing.Lateness == nil || routing.Lateness.Duration > 5*time.Second {
			t.Errorf("routing started at %s (lateness %v), want at the cutoff %s", routing.StartedAt, routing.Lateness, rw.Spec.Cutoff)
		}
		// Held back until the cutoff, and then the notices it held are
		// missed: the step ends Failed without having sent a thing.
		if n := stepOf(got, v1.StepNotify); n.StartedAt != nil || (n.State != v1.StepBlocked && n.State != v1.StepFailed) {
			t.Errorf("notify = %+v, want Blocked or Failed, never started", n)
		}
		var ing networkingv1.Ingress
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: shopNS, Name: "spin-edge"}, &ing); err != nil {
			t.Fatal(err)
		}
		for _, r := range ing.Spec.Rules {
			if r.HTTP != nil && len(r.HTTP.Paths) > 0 {
				t.Errorf("the Ingress still routes %s after the cutoff", r.Host)
			}
		}
		// Nothing keeps spinning: over a few seconds the operator uses a
		// small part of one core.
		const window = 3 * time.Second
		before := cpuTime(t, op.cmd.Process.Pid)
		time.Sleep(window) // a measurement window, not a wait for an event
		if used := cpuTime(t, op.cmd.Process.Pid) - before; used > window/2 {
			t.Errorf("the operator used %s of CPU in %s after the cutoff; a template is still rendering", used, window)
		}
	})

	t.Run("another namespace's workloads cannot be scaled", func(t *testing.T) {
		// Even with the cluster's namespaces visible to it, the tenant may
		// not list or scale the victim's Deployments.
		grantNamespaceReading(t, shopNS, "region-withdrawal")
		mustCreate(t, deployment(victimNS, "db", 3))
		rw := tenantWithdrawal(shopNS, "reach", 6*time.Second)
		rw.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "tenant"}}
		rw.Spec.Drain = &v1.DrainStep{Start: offset(-3 * time.Second)}
		mustCreate(t, rw)
		c := waitStalled(t, rw, v1.ReasonPermissionDenied)
		for _, want := range []string{`"system:serviceaccount:shop-pk:region-withdrawal"`, "deployments", `"victim"`} {
			if !strings.Contains(c.Message, want) {
				t.Errorf("the Stalled message does not name %s: %s", want, c.Message)
			}
		}
		var db appsv1.Deployment
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: victimNS, Name: "db"}, &db); err != nil {
			t.Fatal(err)
		}
		if *db.Spec.Replicas != 3 {
			t.Errorf("the victim's Deployment has %d replicas, want 3 untouched", *db.Spec.Replicas)
		}
	})

	t.Run("another namespace's routes are pointed at the notice backend only under its grant", func(t *testing.T) {
		// The victim's Ingress selected by the tenant's withdrawal. The
		// grant that lets it be rewritten, and an ExternalName Service be
		// made there pointing at the tenant's notice backend, is the
		// victim's: a RoleBinding there of the tenant role to the
		// withdrawal's ServiceAccount. Without it nothing in the victim's
		// namespace changes.
		edge := map[string]string{"edge": "victim"}
		ing := ingress(victimNS, "victim-edge")
		ing.Labels = edge
		mustCreate(t, ing)
		rw := tenantWithdrawal(shopNS, "reroute", 15*time.Second)
		rw.Spec.Selector = metav1.LabelSelector{MatchLabels: edge}
		rw.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "tenant"}}
		rw.Spec.Routing = &v1.RoutingStep{At: ptr.To(offset(0)), Mode: v1.RoutingBlock451}
		mustCreate(t, rw)
		c := waitStalled(t, rw, v1.ReasonPermissionDenied)
		for _, want := range []string{"forbidden", `"victim"`, "shop-pk:region-withdrawal"} {
			if !strings.Contains(c.Message, want) {
				t.Errorf("the Stalled message does not name %s: %s", want, c.Message)
			}
		}
		var svcs corev1.ServiceList
		if err := env.Client.List(ctx, &svcs, client.InNamespace(victimNS)); err != nil {
			t.Fatal(err)
		}
		if len(svcs.Items) != 0 {
			t.Errorf("a Service was made in the victim's namespace without its grant: %s", svcs.Items[0].Name)
		}
		var got networkingv1.Ingress
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ing), &got); err != nil {
			t.Fatal(err)
		}
		if b := got.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name; b != "victim-edge" || got.Generation != 1 {
			t.Errorf("the victim's Ingress was changed without its grant: backend %s, generation %d", b, got.Generation)
		}

		// The victim grants it, and the withdrawal goes on by itself.
		mustCreate(t, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: victimNS, Name: "shop-pk-withdrawals"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "tn-region-withdrawal-operator-tenant"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: shopNS, Name: "region-withdrawal"}}})
		// The operator sees the grant when its cached answer expires (10 s)
		// and its backoff after the refusals next retries.
		pollWithin(t, 90*time.Second, "routing switched once granted", func() error {
			var now v1.RegionWithdrawal
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rw), &now); err != nil {
				return err
			}
			if s := stepOf(&now, v1.StepRouting); s.State != v1.StepSucceeded {
				return fmt.Errorf("routing %s: %s", s.State, s.Message)
			}
			return nil
		})
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ing), &got); err != nil {
			t.Fatal(err)
		}
		backend := got.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name
		var svc corev1.Service
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: victimNS, Name: backend}, &svc); err != nil {
			t.Fatalf("the victim's Ingress names %s, which is not there: %v", backend, err)
		}
		if svc.Spec.Type != corev1.ServiceTypeExternalName || !strings.HasSuffix(svc.Spec.ExternalName, "."+shopNS+".svc.cluster.local") {
			t.Errorf("the victim's Ingress is pointed at %s (%s %s), want an ExternalName for the notice backend in %s", backend, svc.Spec.Type, svc.Spec.ExternalName, shopNS)
		}
	})

	t.Run("a Secret its ServiceAccount may not read is not sent", func(t *testing.T) {
		narrowServiceAccount(t, shopNS, "narrow", "pk-webhook-key")
		mustCreate(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: shopNS, Name: "db-password"}, StringData: map[string]string{"k": "hunter2"}})
		mustCreate(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: shopNS, Name: "pk-recipients"},
			Data: map[string]string{"list.csv": "id,email,webhook\nc1,a@example.com,https://customer.example.com/hook\n"}})
		rw := tenantWithdrawal(shopNS, "peek", 6*time.Second)
		rw.Spec.ServiceAccountName = "narrow"
		rw.Spec.Notify = &v1.NotifyStep{Announce: offset(-5 * time.Second), Final: offset(-2 * time.Second),
			Recipients: v1.RecipientSources{ConfigMaps: []v1.RecipientObjectRef{{Name: "pk-recipients"}}},
			Webhook:    &v1.WebhookChannel{SigningSecretRef: v1.SecretKeyReference{Name: "db-password", Key: "k"}}}
		mustCreate(t, rw)
		c := waitStalled(t, rw, v1.ReasonPermissionDenied)
		for _, want := range []string{"secrets", `"db-password"`, "narrow"} {
			if !strings.Contains(c.Message, want) {
				t.Errorf("the Stalled message does not name %s: %s", want, c.Message)
			}
		}
		// The default ServiceAccount, which every author gets, reads only
		// the Secrets named by convention (tenancy.secretNames' default),
		// with no admission policy installed to help.
		rw = tenantWithdrawal(shopNS, "peek-default", 6*time.Second)
		rw.Spec.Notify = &v1.NotifyStep{Announce: offset(-5 * time.Second), Final: offset(-2 * time.Second),
			Recipients: v1.RecipientSources{ConfigMaps: []v1.RecipientObjectRef{{Name: "pk-recipients"}}},
			Webhook:    &v1.WebhookChannel{SigningSecretRef: v1.SecretKeyReference{Name: "db-password", Key: "k"}}}
		mustCreate(t, rw)
		c = waitStalled(t, rw, v1.ReasonPermissionDenied)
		for _, want := range []string{`"db-password"`, "region-withdrawal", "tenancy.secretNames"} {
			if !strings.Contains(c.Message, want) {
				t.Errorf("the default ServiceAccount's Stalled message does not name %s: %s", want, c.Message)
			}
		}
		got := &v1.RegionWithdrawal{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(rw), got); err != nil {
			t.Fatal(err)
		}
		if got.Status.Notify != nil {
			for _, n := range got.Status.Notify.Notices {
				if n.Sent > 0 {
					t.Errorf("notice %s went to %d recipients, signed with a Secret the withdrawal may not read", n.ID, n.Sent)
				}
			}
		}
	})

	t.Run("an export template the namespace would refuse stalls when applied", func(t *testing.T) {
		mustCreate(t, deployment(strictNS, "store", 1))
		for _, tc := range []struct {
			name, want string
			pod        corev1.PodSpec
		}{
			// The namespace enforces the restricted level, which wants
			// allowPrivilegeEscalation: false and more.
			{name: "unrestricted", want: "would refuse its Pods", pod: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "exporter", Image: "exporter:dev"}}}},
			{name: "invalid", want: "the API server refuses it", pod: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "Not_A_DNS_Label", Image: "exporter:dev"}}}},
			// What the installation's pod policy refuses wherever the
			// pods would run (--export-service-account, --export-secrets,
			// the default volume kinds): an author may not run the
			// exporter as the withdrawal's own ServiceAccount, which may
			// scale and rewrite the namespace, nor read a Secret or the
			// node's files the installation did not name.
			{name: "stronger", want: `runs as ServiceAccount "region-withdrawal", and export pods run as "region-withdrawal-exporter"`, pod: corev1.PodSpec{
				ServiceAccountName: "region-withdrawal", Containers: []corev1.Container{{Name: "exporter", Image: "exporter:dev"}}}},
			{name: "peek", want: `reads Secret "db-password"; export pods may read region-withdrawal-export`, pod: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "exporter", Image: "exporter:dev", Env: []corev1.EnvVar{{Name: "P", ValueFrom: &corev1.EnvVarSource{
					SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db-password"}, Key: "k"}}}}}}}},
			{name: "host", want: `volume "root" is a hostPath volume`, pod: corev1.PodSpec{Containers: []corev1.Container{{Name: "exporter", Image: "exporter:dev"}},
				Volumes: []corev1.Volume{{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}}},
			{name: "token", want: "mounts an API token", pod: corev1.PodSpec{AutomountServiceAccountToken: ptr.To(true),
				Containers: []corev1.Container{{Name: "exporter", Image: "exporter:dev"}}}},
		} {
			rw := tenantWithdrawal(strictNS, tc.name, 30*24*time.Hour)
			rw.Spec.Export = &v1.ExportStep{Start: offset(-72 * time.Hour), Deadline: offset(-48 * time.Hour),
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: tc.pod}}}}
			mustCreate(t, rw)
			c := waitStalled(t, rw, v1.ReasonInvalidSpec)
			if !strings.Contains(c.Message, tc.want) {
				t.Errorf("%s: the Stalled message does not say %q: %s", tc.name, tc.want, c.Message)
			}
			var jobs batchv1.JobList
			if err := env.Client.List(ctx, &jobs, client.InNamespace(strictNS)); err != nil {
				t.Fatal(err)
			}
			if len(jobs.Items) != 0 {
				t.Errorf("%s: the dry run left %d Jobs behind", tc.name, len(jobs.Items))
			}
		}
	})

	t.Run("a withdrawal created after its cutoff ends", func(t *testing.T) {
		mustCreate(t, ingress(shopNS, "late-edge"))
		rw := tenantWithdrawal(shopNS, "late", -time.Hour)
		rw.Spec.Notify = &v1.NotifyStep{Announce: offset(-48 * time.Hour), Final: offset(-24 * time.Hour),
			Recipients: v1.RecipientSources{ConfigMaps: []v1.RecipientObjectRef{{Name: "wide-recipients"}}},
			Webhook:    &v1.WebhookChannel{URL: "https://customer.example.com/hook", SigningSecretRef: v1.SecretKeyReference{Name: "region-withdrawal-webhook", Key: "k"}}}
		rw.Spec.Routing = &v1.RoutingStep{At: ptr.To(offset(0)), Mode: v1.RoutingRemove}
		mustCreate(t, rw)
		got := waitFor(t, rw, "Completed", func(got *v1.RegionWithdrawal) bool { return got.Status.Phase == v1.PhaseCompleted })
		n := stepOf(got, v1.StepNotify)
		if n.State != v1.StepFailed || !strings.Contains(n.Message, "announcement") || !strings.Contains(n.Message, "final") {
			t.Errorf("notify = %s (%s), want Failed naming the notices never sent", n.State, n.Message)
		}
		ready := meta.FindStatusCondition(got.Status.Conditions, v1.ConditionReady)
		if ready == nil || ready.Reason != v1.ReasonCompleted || !strings.Contains(ready.Message, "notify failed") {
			t.Errorf("Ready = %+v, want Completed naming the failed notify step", ready)
		}
	})

	t.Run("deleting finishes whatever the withdrawal's state", func(t *testing.T) {
		cancelled := tenantWithdrawal(shopNS, "called-off", 30*24*time.Hour)
		cancelled.Spec.Routing = &v1.RoutingStep{At: ptr.To(offset(0)), Mode: v1.RoutingRemove}
		cancelled.Spec.Cancel = true
		mustCreate(t, cancelled)
		waitFor(t, cancelled, "Cancelled", func(got *v1.RegionWithdrawal) bool { return got.Status.Phase == v1.PhaseCancelled })
		scheduled := tenantWithdrawal(shopNS, "not-yet", 30*24*time.Hour)
		scheduled.Spec.Routing = &v1.RoutingStep{At: ptr.To(offset(0)), Mode: v1.RoutingRemove}
		mustCreate(t, scheduled)
		waitFor(t, scheduled, "Scheduled", func(got *v1.RegionWithdrawal) bool { return got.Status.Phase == v1.PhaseScheduled })
		// The completed one (with route and autoscaler records to delete),
		// the late one, the one whose notices a template holds back, the
		// cancelled one and the one not started yet.
		completed := map[string]bool{}
		for _, name := range []string{"pakistan", "late", "spin", "called-off", "not-yet"} {
			rw := &v1.RegionWithdrawal{}
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: shopNS, Name: name}, rw); err != nil {
				t.Fatal(err)
			}
			if rw.Status.Phase == v1.PhaseCompleted {
				completed[string(rw.UID)] = true
			}
			if err := env.Client.Delete(ctx, rw); err != nil {
				t.Fatalf("deleting %s: %v", name, err)
			}
		}
		for _, name := range []string{"pakistan", "late", "spin", "called-off", "not-yet"} {
			poll(t, name+" gone", func() error {
				err := env.Client.Get(ctx, client.ObjectKey{Namespace: shopNS, Name: name}, &v1.RegionWithdrawal{})
				if apierrors.IsNotFound(err) {
					return nil
				}
				return fmt.Errorf("still there (%v)", err)
			})
		}
		var records corev1.ConfigMapList
		if err := env.Client.List(ctx, &records, client.InNamespace(shopNS), client.HasLabels{"withdrawal.ops.dev/record"}); err != nil {
			t.Fatal(err)
		}
		for _, r := range records.Items {
			// A withdrawal deleted before its changes settled keeps them,
			// for `kubectl withdrawal restore`; a completed one does not.
			if completed[r.Labels["withdrawal.ops.dev/withdrawal-uid"]] {
				t.Errorf("the record %s of a completed withdrawal was left behind", r.Name)
			}
		}
		if len(completed) != 3 {
			t.Errorf("%d of the withdrawals were completed, want 3 (pakistan, late and spin)", len(completed))
		}
	})
}

func mustCreate(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

func offset(d time.Duration) v1.Moment { return v1.Moment{Offset: &metav1.Duration{Duration: d}} }

// tenantWithdrawal is a withdrawal of the pk workloads of ns whose cutoff
// is in from now, with no steps yet.
func tenantWithdrawal(ns, name string, in time.Duration) *v1.RegionWithdrawal {
	return &v1.RegionWithdrawal{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.RegionWithdrawalSpec{Region: "PK", TimeZone: "Asia/Karachi",
			Cutoff:   metav1.NewTime(time.Now().Add(in).Truncate(time.Second)),
			Selector: metav1.LabelSelector{MatchLabels: pkLabels}},
	}
}

func deployment(ns, name string, replicas int32) *appsv1.Deployment {
	sel := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: pkLabels},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:dev"}}}}},
	}
}

func ingress(ns, name string) *networkingv1.Ingress {
	prefix := networkingv1.PathTypePrefix
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: pkLabels},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "pk.example.test",
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &prefix,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: name, Port: networkingv1.ServiceBackendPort{Number: 80}}},
			}}}}}}},
	}
}

// grantNamespaceReading lets a ServiceAccount see the cluster's
// namespaces, as selecting namespaces by label needs.
func grantNamespaceReading(t *testing.T, ns, sa string) {
	t.Helper()
	name := "read-namespaces-" + ns + "-" + sa
	mustCreate(t, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch"}}}})
	mustCreate(t, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: sa}}})
}

// narrowServiceAccount makes a ServiceAccount with the tenant role's
// rules except that it may read only the named Secrets.
func narrowServiceAccount(t *testing.T, ns, name string, secrets ...string) {
	t.Helper()
	var tenantRole rbacv1.ClusterRole
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "tn-region-withdrawal-operator-tenant"}, &tenantRole); err != nil {
		t.Fatal(err)
	}
	var rules []rbacv1.PolicyRule
	for _, r := range tenantRole.Rules {
		if len(r.Resources) == 1 && r.Resources[0] == "secrets" {
			r.ResourceNames = secrets
		}
		rules = append(rules, r)
	}
	mustCreate(t, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
	mustCreate(t, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: rules})
	mustCreate(t, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}}})
}

// stepOf is a withdrawal's status entry for step.
func stepOf(rw *v1.RegionWithdrawal, step v1.StepName) v1.StepStatus {
	for _, s := range rw.Status.Steps {
		if s.Name == step {
			return s
		}
	}
	return v1.StepStatus{Name: step}
}

// cpuTime reads the CPU time (user and system) a process has used.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name, in parentheses, may hold spaces: count from after it.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("parsing /proc/%d/stat: %v %v", pid, err1, err2)
	}
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}

// waitFor polls rw until ok holds; the operator runs in another process,
// so there is nothing to watch but the object itself.
func waitFor(t *testing.T, rw *v1.RegionWithdrawal, what string, ok func(*v1.RegionWithdrawal) bool) *v1.RegionWithdrawal {
	t.Helper()
	got := &v1.RegionWithdrawal{}
	poll(t, rw.Name+": "+what, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(rw), got); err != nil {
			return err
		}
		if !ok(got) {
			return fmt.Errorf("phase %q, conditions %+v, steps %+v", got.Status.Phase, got.Status.Conditions, got.Status.Steps)
		}
		return nil
	})
	return got
}

func waitStalled(t *testing.T, rw *v1.RegionWithdrawal, reason string) metav1.Condition {
	t.Helper()
	got := waitFor(t, rw, "Stalled "+reason, func(got *v1.RegionWithdrawal) bool {
		c := meta.FindStatusCondition(got.Status.Conditions, v1.ConditionStalled)
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == reason
	})
	c := *meta.FindStatusCondition(got.Status.Conditions, v1.ConditionStalled)
	t.Logf("%s: Stalled %s: %s", rw.Name, c.Reason, c.Message)
	return c
}
