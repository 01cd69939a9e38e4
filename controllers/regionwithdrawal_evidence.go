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

package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// evidenceOf is what the evidence ledger records of one reconcile: what the
// change from old to updated status counts as done, and what a new spec
// asks. It is appended before updated is written, so a crash in between
// finds the same changes again, whose statements are already there (their
// keys are the same). Notices record their own deliveries, batch by batch.
//
// The last statement is the seal, when the withdrawal completes or is
// cancelled for real; a rehearsal is never sealed, since turning dryRun off
// runs it again. Nothing is recorded of a withdrawal that had ended and
// still has: its ledger is sealed.
func evidenceOf(rw *v1.RegionWithdrawal, old, updated *v1.RegionWithdrawalStatus, salt []byte, now time.Time) []evidence.Event {
	at := func(t time.Time) evidence.Header { return evidence.Header{At: t} }
	if ended(old.Phase) && updated.Phase == old.Phase {
		return nil
	}
	var out []evidence.Event

	// A spec change: its digest, and what a person asked of it. Only a new
	// generation is looked at, so an idle reconcile appends nothing.
	if rw.Generation != old.ObservedGeneration {
		spec, _ := json.Marshal(rw.Spec)
		sum := sha256.Sum256(spec)
		out = append(out, &evidence.SpecRecorded{Header: at(now), Generation: rw.Generation, SpecSHA256: hex.EncodeToString(sum[:])})
		for _, a := range rw.Spec.Approvals {
			// An approval that holds for this spec, with the approver the
			// admission policy checked. The statement records when the
			// operator saw it; one for a digest already recorded has the
			// same key, and is not recorded twice.
			if a.SpecDigest == updated.SpecDigest {
				out = append(out, &evidence.Approved{Header: at(now), Step: string(a.Step), User: a.By, SpecDigest: a.SpecDigest})
			}
		}
		suspended := old.Phase == v1.PhaseSuspended
		switch {
		case rw.Spec.Suspend && !suspended:
			out = append(out, &evidence.Suspended{Header: at(now), Generation: rw.Generation})
		case !rw.Spec.Suspend && suspended:
			out = append(out, &evidence.Resumed{Header: at(now), Generation: rw.Generation})
		}
		if rw.Spec.Cancel {
			out = append(out, &evidence.Cancelled{Header: at(now)})
		}
	}

	if h := updated.Cutoff; h != nil {
		seen := int32(0)
		if old.Cutoff != nil {
			seen = old.Cutoff.ChangeCount
		}
		for _, c := range h.Changes {
			if c.Seq > seen {
				out = append(out, &evidence.CutoffChanged{Header: at(c.ObservedAt.Time), Seq: c.Seq,
					From: c.From.Time, FromTimeZone: c.FromTimeZone, To: c.To.Time, ToTimeZone: c.ToTimeZone,
					Generation: c.Generation, User: c.By, Notice: c.NoticeID, ExportRound: c.ExportRound})
			}
		}
	}

	// A drain undone for a postponed cutoff runs again: its statements
	// are told apart by the round.
	round := 0
	if h := updated.Cutoff; h != nil {
		round = int(h.DrainRestores)
		if old.Cutoff != nil && h.DrainRestores > old.Cutoff.DrainRestores {
			for _, c := range h.Changes {
				was := planner.CutoffChangeOf(old, c.Seq)
				if c.Drain == v1.DrainRestoreDone && c.DrainRestoredAt != nil && (was == nil || was.Drain != v1.DrainRestoreDone) {
					out = append(out, &evidence.DrainRestored{Header: at(c.DrainRestoredAt.Time), Round: round, Change: c.Seq,
						Message: planner.LookupStep(updated, v1.StepDrain).Message})
					break
				}
			}
		}
	}
	for i := range updated.Steps {
		s := &updated.Steps[i]
		if s.DryRun {
			continue
		}
		before := planner.StepStatus(old, s.Name)
		finishedNow := s.FinishedAt != nil && (before == nil || before.FinishedAt == nil) && s.State == v1.StepSucceeded
		switch s.Name {
		case v1.StepExport:
			out = append(out, exportsVerified(before, s, salt)...)
		case v1.StepDrain:
			if d := s.Drain; d != nil && d.LastBatchAt != nil && (before == nil || before.Drain == nil || !d.LastBatchAt.Equal(before.Drain.LastBatchAt)) {
				out = append(out, &evidence.DrainBatch{Header: at(d.LastBatchAt.Time), Drained: int(d.Drained), Total: int(d.Workloads), Round: round})
			}
			if finishedNow {
				out = append(out, &evidence.DrainFinished{Header: at(s.FinishedAt.Time), Workloads: objects(s.Plan), Total: total(s.Plan), Round: round})
			}
		case v1.StepRouting:
			if finishedNow {
				mode := ""
				if rw.Spec.Routing != nil {
					mode = string(rw.Spec.Routing.Mode)
				}
				switched := &evidence.RoutingSwitched{Header: at(s.FinishedAt.Time),
					Mode: mode, Objects: objects(s.Plan), Total: total(s.Plan), Cutoff: rw.Spec.Cutoff.Time}
				if s.Routing != nil && s.Routing.SwitchedAt != nil {
					switched.SwitchedAt = s.Routing.SwitchedAt.UTC()
				}
				out = append(out, switched)
			}
		}
	}
	if ended(updated.Phase) && updated.Phase != old.Phase && !rw.Spec.DryRun {
		reason := evidence.SealCompleted
		if updated.Phase == v1.PhaseCancelled {
			reason = evidence.SealCancelled
		}
		out = append(out, &evidence.LedgerSealed{Header: at(now), Reason: reason})
	}
	return out
}

// ended says whether a withdrawal in phase p has reached its end.
func ended(p v1.Phase) bool { return p == v1.PhaseCompleted || p == v1.PhaseCancelled }

// exportsVerified records each artifact verified since before. An
// artifact is told apart by when it was verified too: a later export round
// (spec.export.onPostpone: Reexport) verifies the same target again.
func exportsVerified(before, s *v1.StepStatus, salt []byte) []evidence.Event {
	if s.Export == nil {
		return nil
	}
	key := func(a *v1.ExportArtifact) string {
		return a.Target + "\x00" + a.Recipient + "\x00" + a.VerifiedAt.UTC().Format(time.RFC3339Nano)
	}
	seen := map[string]bool{}
	if before != nil && before.Export != nil {
		for i := range before.Export.Artifacts {
			if a := &before.Export.Artifacts[i]; a.VerifiedAt != nil {
				seen[key(a)] = true
			}
		}
	}
	var out []evidence.Event
	for i := range s.Export.Artifacts {
		a := &s.Export.Artifacts[i]
		if a.VerifiedAt == nil || seen[key(a)] {
			continue
		}
		e := &evidence.ExportVerified{Header: evidence.Header{At: a.VerifiedAt.Time},
			Target: a.Target, Location: a.Location, Bytes: a.Bytes, SHA256: a.SHA256, Round: int(a.Round)}
		if a.Recipient != "" {
			e.Customer = evidence.RecipientHash(salt, a.Recipient)
		}
		out = append(out, e)
	}
	return out
}

// objects names what a step touched, as far as its plan lists them.
func objects(p *v1.StepPlan) []evidence.ObjectRef {
	if p == nil {
		return nil
	}
	out := make([]evidence.ObjectRef, 0, len(p.Objects))
	for _, o := range p.Objects {
		out = append(out, evidence.ObjectRef{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name})
	}
	return out
}

// total counts what a step touched.
func total(p *v1.StepPlan) int {
	if p == nil {
		return 0
	}
	return int(max(p.ObjectCount, int32(len(p.Objects))))
}
