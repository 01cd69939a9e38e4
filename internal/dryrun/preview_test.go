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

package dryrun_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/dryrun"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/plugin"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients/sources"
	"github.com/ops-dev/region-withdrawal-operator/internal/scheme"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
)

// TestRehearsalAndPlanShowTheSameObjects checks that the rehearsal and
// `kubectl withdrawal plan` list the same objects for every step and every
// export scope: both ask the step's own Preview.
func TestRehearsalAndPlanShowTheSameObjects(t *testing.T) {
	labels := map[string]string{"region": "pk"}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bes-pk", Labels: labels}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "chat-pk", Labels: labels}},
	}
	for _, ns := range []string{"bes-pk", "chat-pk"} {
		objs = append(objs,
			&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Labels: labels}},
			&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns, Labels: labels}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Labels: labels}},
			&networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "edge", Namespace: ns, Labels: labels}},
		)
	}
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(objs...).Build()
	rehearsal := &dryrun.Executor{Targets: &targets.Resolver{Reader: c, Mapper: c.RESTMapper()}, Recipients: &sources.Objects{Reader: c}}

	cutoff := time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) v1.Moment { return v1.Moment{Offset: &metav1.Duration{Duration: d}} }
	zero := at(0)
	for _, per := range []v1.ExportScope{"", v1.ExportPerWorkload, v1.ExportOnce} {
		t.Run(fmt.Sprintf("export per %q", per), func(t *testing.T) {
			rw := &v1.RegionWithdrawal{
				ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: "ops"},
				Spec: v1.RegionWithdrawalSpec{
					Region: "PK", Cutoff: metav1.NewTime(cutoff), TimeZone: "Asia/Karachi", DryRun: true,
					Selector: metav1.LabelSelector{MatchLabels: labels}, NamespaceSelector: &metav1.LabelSelector{MatchLabels: labels},
					Export:  &v1.ExportStep{Start: at(-3 * time.Hour), Deadline: at(-2 * time.Hour), Per: per},
					Drain:   &v1.DrainStep{Start: at(-time.Hour)},
					Routing: &v1.RoutingStep{At: &zero},
				},
			}
			p, err := plugin.BuildPlan(context.Background(), rw, c, cutoff.Add(-24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range p.Steps {
				res, err := rehearsal.Execute(context.Background(), rw, planner.StartAction(st.Step, cutoff))
				if err != nil {
					t.Fatal(err)
				}
				if len(st.Objects) == 0 || !slices.Equal(res.Plan.Objects, st.Objects) {
					t.Errorf("%s: the rehearsal lists %v, the plan %v", st.Step, res.Plan.Objects, st.Objects)
				}
			}
			if len(p.Steps) != 3 {
				t.Fatalf("plan has %d steps, want export, drain and routing", len(p.Steps))
			}
		})
	}
}

// TestRehearsalRendersEveryLanguage rehearses an announcement to a list
// whose Urdu customers come after the first few: the rehearsal renders one
// of them too, so a Urdu template that fails on real data stalls the
// rehearsal, not the real send.
func TestRehearsalRendersEveryLanguage(t *testing.T) {
	csv := "id,name,email,locale\n" +
		"e1,One,e1@example.com,en\ne2,Two,e2@example.com,\ne3,Three,e3@example.com,fr\ne4,Four,e4@example.com,en-GB\n" +
		"u1,ایک,u1@example.com,ur-PK\nu2,دو,u2@example.com,ur\nx1,Typo,x1@example.com,urdu!\n"
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "customers", Namespace: "ops"}, Data: map[string]string{"list.csv": csv}},
	).Build()
	rehearsal := &dryrun.Executor{Recipients: &sources.Objects{Reader: c}}
	cutoff := time.Date(2026, 12, 29, 19, 0, 0, 0, time.UTC)
	urdu := func(text string) *v1.RegionWithdrawal {
		return &v1.RegionWithdrawal{
			ObjectMeta: metav1.ObjectMeta{Name: "pakistan", Namespace: "ops"},
			Spec: v1.RegionWithdrawalSpec{Region: "PK", Cutoff: metav1.NewTime(cutoff), TimeZone: "Asia/Karachi", DryRun: true,
				Notify: &v1.NotifyStep{
					Recipients: v1.RecipientSources{ConfigMaps: []v1.RecipientObjectRef{{Name: "customers", Format: v1.RecipientFormatCSV}}},
					Email:      &v1.EmailChannel{Host: "smtp.example", From: "n@example.com"},
					Locales: []v1.LocaleTemplates{{Locale: "ur", NoticeTemplates: v1.NoticeTemplates{
						Announcement: &v1.NoticeTemplate{Subject: "سروس {{.CutoffDate}} کو بند ہو جائے گی", Text: text}}}},
				}},
		}
	}
	a := planner.Action{ID: "notify/announcement", Kind: planner.ActionNotice, Step: v1.StepNotify, Notice: v1.NoticeAnnouncement, DueAt: cutoff.Add(-720 * time.Hour)}

	res, err := rehearsal.Execute(t.Context(), urdu("محترم {{.Recipient.Name}}"), a)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"sample for e1 in en: subject",
		`sample for u1 in ur-PK: subject "سروس 30 دسمبر، 2026 کو بند ہو جائے گی"`,
		"by language: default 5, ur 2",
		`1 recipients have a locale that is not a language tag and get the default templates (first x1: "urdu!")`,
	} {
		if !strings.Contains(res.Message, want) {
			t.Errorf("rehearsal says %q, want it to contain %q", res.Message, want)
		}
	}

	// A field the Urdu template misspells fails only on a Urdu recipient.
	_, err = rehearsal.Execute(t.Context(), urdu("محترم {{.Recipient.Nmae}}"), a)
	var spec *planner.SpecError
	if !errors.As(err, &spec) || !strings.Contains(err.Error(), `recipient "u1"`) || !strings.Contains(err.Error(), "Nmae") {
		t.Errorf("a broken Urdu template rehearses as %v, want a SpecError naming u1 and the field", err)
	}
}
