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

// Package admission holds the operator's admission webhook: the checks that
// need what an admission policy's CEL cannot see, the current time.
package admission

import (
	"context"
	"fmt"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
)

// CutoffNoticePath is where the webhook serves CutoffNotice.
const CutoffNoticePath = "/validate-cutoff-notice"

// CutoffNotice refuses an update that brings a withdrawal's cutoff so far
// forward that customers already told of it are left less notice than the
// installation requires. A move that leaves enough is let through; the
// controller then raises CutoffMoved (NoticeShortened) and tells them.
type CutoffNotice struct {
	Decoder admission.Decoder
	Clock   clock.PassiveClock
	// MinNotice is the installation's least notice (--min-notice); a
	// withdrawal's spec.notify.minNotice replaces it, but never below
	// Floor (--min-notice-floor).
	MinNotice, Floor time.Duration
}

// Handle implements admission.Handler.
func (h *CutoffNotice) Handle(_ context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	var obj, old v1.RegionWithdrawal
	if err := h.Decoder.DecodeRaw(req.Object, &obj); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if err := h.Decoder.DecodeRaw(req.OldObject, &old); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if err := h.Check(&old, &obj, h.Clock.Now()); err != nil {
		return admission.Denied(err.Error())
	}
	return admission.Allowed("")
}

// Check returns why the update from old to obj may not be made at now, or
// nil.
func (h *CutoffNotice) Check(old, obj *v1.RegionWithdrawal, now time.Time) error {
	min := h.MinNotice
	if n := obj.Spec.Notify; n != nil && n.MinNotice != nil {
		if n.MinNotice.Duration < h.Floor {
			return fmt.Errorf("spec.notify.minNotice %s is below the %s this installation allows (--min-notice-floor)", n.MinNotice.Duration, h.Floor)
		}
		min = n.MinNotice.Duration
	}
	// Only a cutoff brought forward takes notice away, and only from
	// customers who were told of a date; a cancelled withdrawal tells them
	// it is off.
	h0 := old.Status.Cutoff
	if !obj.Spec.Cutoff.Time.Before(old.Spec.Cutoff.Time) || obj.Spec.Cancel || h0 == nil || h0.Promised == nil {
		return nil
	}
	left := obj.Spec.Cutoff.Sub(now)
	if left >= min {
		return nil
	}
	return fmt.Errorf("spec.cutoff %s leaves customers %s of notice; they were told of %s, %s; at least %s must be left (spec.notify.minNotice, else the operator's --min-notice)",
		obj.Spec.Cutoff.UTC().Format(time.RFC3339), max(left, 0).Round(time.Second), h0.Promised.UTC().Format(time.RFC3339), fromNow(h0.Promised.Sub(now)), min)
}

func fromNow(d time.Duration) string {
	if d <= 0 {
		return "which has passed"
	}
	return d.Round(time.Second).String() + " from now"
}
