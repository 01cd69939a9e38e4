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

package steps

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
)

func TestNewWiresEveryStep(t *testing.T) {
	c := fake.NewClientBuilder().Build()
	set, rehearsal := New(Options{Client: c, APIReader: c, Mapper: c.RESTMapper(), Clock: clocktesting.NewFakeClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))})
	for _, step := range v1.AllSteps {
		e, ok := set.For(step)
		if !ok {
			t.Errorf("no executor for %s", step)
		}
		if executor.IsReadOnly(e) {
			t.Errorf("the %s executor says it is read-only: its start would not be recorded before its side effects", step)
		}
	}
	if !executor.IsReadOnly(rehearsal) {
		t.Error("the rehearsal must be read-only")
	}
}
