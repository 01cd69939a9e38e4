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
	"fmt"
	"slices"
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
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients"
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
	rehearsal := &dryrun.Executor{Targets: &targets.Resolver{Reader: c, Mapper: c.RESTMapper()}, Recipients: &recipients.Objects{Reader: c}}

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
