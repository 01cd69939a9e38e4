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

package executor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

func TestDispatch(t *testing.T) {
	ran := ""
	do := Actions{
		Start:  func(context.Context, *v1.RegionWithdrawal) (Result, error) { ran = "start"; return Result{}, nil },
		Revert: func(context.Context, *v1.RegionWithdrawal) (Result, error) { ran = "revert"; return Result{}, nil },
	}
	tests := []struct {
		a       planner.Action
		want    string
		wantErr bool
	}{
		{a: planner.StartAction(v1.StepDrain, time.Time{}), want: "start"},
		{a: planner.RevertAction(v1.StepDrain, time.Time{}), want: "revert"},
		{a: planner.StartAction(v1.StepRouting, time.Time{}), wantErr: true},
		{a: planner.NoticeAction(v1.NoticeFinal, "final", time.Time{}), wantErr: true},
	}
	for _, tt := range tests {
		ran = ""
		_, err := Dispatch(context.Background(), &v1.RegionWithdrawal{}, tt.a, v1.StepDrain, do)
		if ran != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("Dispatch(%s) ran %q, err %v; want %q, error %v", tt.a.ID, ran, err, tt.want, tt.wantErr)
		}
	}
}

func TestRetryOrFail(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "deployments"}, "a", errors.New("changed"))
	res, err := RetryOrFail(conflict, 7, "scaling a down")
	if err != nil || res.RequeueAfter != 7 || !strings.Contains(res.Message, "scaling a down") {
		t.Fatalf("a conflict gave (%+v, %v), want a quick retry", res, err)
	}
	if _, err := RetryOrFail(errors.New("forbidden"), 7, "scaling a down"); err == nil || !strings.Contains(err.Error(), "scaling a down: forbidden") {
		t.Fatalf("another error gave %v, want it wrapped", err)
	}
}

func TestNewPlanCapsTheListNotTheCount(t *testing.T) {
	objs := make([]v1.ObjectReference, MaxPlanned+5)
	for i := range objs {
		objs[i] = v1.ObjectReference{Kind: "Deployment", Name: fmt.Sprint(i)}
	}
	p := NewPlan(objs, "scale")
	if int(p.ObjectCount) != len(objs) || len(p.Objects) != MaxPlanned {
		t.Fatalf("plan lists %d and counts %d, want %d and %d", len(p.Objects), p.ObjectCount, MaxPlanned, len(objs))
	}
}
