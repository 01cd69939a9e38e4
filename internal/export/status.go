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

package export

import (
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
)

// summarize derives the step's status from the targets and their Jobs.
func (e *Executor) summarize(rw *v1.RegionWithdrawal, states []*targetState, deadline, now time.Time, parallelism, maxAttempts int) *v1.ExportStatus {
	st := &v1.ExportStatus{Targets: int32(len(states)), Deadline: &metav1.Time{Time: deadline}}
	if prev := planner.LookupStep(&rw.Status, v1.StepExport).Export; prev != nil {
		st.ArtifactConfigMaps, st.ArtifactsInConfigMaps = prev.ArtifactConfigMaps, prev.ArtifactsInConfigMaps
		st.ManifestsRead, st.Customers, st.CustomersReread = prev.ManifestsRead, prev.Customers, prev.CustomersReread
	}
	var (
		durations     []time.Duration
		runningStarts []time.Time
		pending       int
	)
	for _, s := range states {
		st.Jobs += int32(len(s.attempts))
		if a := s.verified(); a != nil {
			st.Verified++
			st.Bytes += a.verified.Bytes
			if len(st.Artifacts) < MaxStatusArtifacts {
				st.Artifacts = append(st.Artifacts, artifactOf(s, a))
			}
			if d, ok := jobDuration(a); ok {
				durations = append(durations, d)
			}
			continue
		}
		if a := s.earlier; a != nil && len(st.Artifacts) < MaxStatusArtifacts {
			// Made again in this round, and not verified yet: customers
			// keep the archive they were given.
			st.Artifacts = append(st.Artifacts, artifactOf(s, a))
		}
		gaveUp := false
		switch r := s.running(); {
		case r != nil:
			st.Running++
			// A Job the Job controller has not started yet starts now.
			start := now
			if r.job.Status.StartTime != nil {
				start = r.job.Status.StartTime.Time
			}
			runningStarts = append(runningStarts, start)
		case s.failures() >= maxAttempts || !now.Before(deadline):
			st.Failed++
			gaveUp = true
		default:
			pending++
		}
		if n := s.failures(); n > 0 && len(st.Failures) < maxFailures {
			st.Failures = append(st.Failures, v1.ExportFailure{Target: s.Key, Attempts: int32(len(s.attempts)), GaveUp: gaveUp, Reason: latestFailure(s)})
		} else if gaveUp && len(st.Failures) < maxFailures {
			st.Failures = append(st.Failures, v1.ExportFailure{Target: s.Key, Attempts: int32(len(s.attempts)), GaveUp: true, Reason: "the deadline passed before an attempt could start"})
		}
	}
	if len(durations) == 0 {
		return st
	}
	var sum, longest time.Duration
	for _, d := range durations {
		sum += d
		longest = max(longest, d)
	}
	mean := sum / time.Duration(len(durations))
	st.MeanJobDuration, st.MaxJobDuration = &metav1.Duration{Duration: mean}, &metav1.Duration{Duration: longest}
	if len(runningStarts)+pending == 0 {
		return st
	}
	finish := Estimate(now, mean, runningStarts, pending, parallelism)
	st.EstimatedFinish = &metav1.Time{Time: finish.UTC().Truncate(time.Second)}
	if finish.After(deadline) {
		st.AtRisk = true
		st.AtRiskMessage = fmt.Sprintf("the export is at risk: %d exports left (%d running, %d waiting), %d at a time, and a Job takes %s on average (longest %s), so the last should be verified at %s, %s after the deadline %s",
			len(runningStarts)+pending, len(runningStarts), pending, parallelism,
			mean.Round(time.Second), longest.Round(time.Second),
			finish.UTC().Format(time.RFC3339), finish.Sub(deadline).Round(time.Second), deadline.Format(time.RFC3339))
	}
	return st
}

// Estimate is when the last export should finish if every Job takes mean:
// each running Job ends mean after it started (or now, if it is already
// late), and each waiting target starts when one of the parallelism slots
// frees up.
func Estimate(now time.Time, mean time.Duration, runningStarts []time.Time, pending, parallelism int) time.Time {
	parallelism = max(parallelism, 1)
	ends := make([]time.Time, 0, len(runningStarts)+pending)
	for _, s := range runningStarts {
		end := s.Add(mean)
		if end.Before(now) {
			end = now
		}
		ends = append(ends, end)
	}
	slices.SortFunc(ends, func(a, b time.Time) int { return a.Compare(b) })
	// active holds the end times of the Jobs running at "at", sorted.
	active := ends
	finish, at := now, now
	for _, e := range active {
		finish = laterOf(finish, e)
	}
	for range pending {
		for len(active) >= parallelism {
			at = laterOf(at, active[0])
			active = active[1:]
		}
		end := at.Add(mean)
		i, _ := slices.BinarySearchFunc(active, end, func(a, b time.Time) int { return a.Compare(b) })
		active = slices.Insert(active, i, end)
		finish = laterOf(finish, end)
	}
	return finish
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// jobDuration is how long a Job ran, from the Job controller's times.
func jobDuration(a *attempt) (time.Duration, bool) {
	s := a.job.Status
	if s.StartTime == nil || s.CompletionTime == nil || s.CompletionTime.Before(s.StartTime) {
		return 0, false
	}
	return s.CompletionTime.Sub(s.StartTime.Time), true
}

func latestFailure(s *targetState) string {
	for _, a := range slices.Backward(s.attempts) {
		if a.failure != "" {
			return a.failure
		}
	}
	return ""
}

func artifactOf(s *targetState, a *attempt) v1.ExportArtifact {
	r := a.verified
	out := v1.ExportArtifact{
		Target:    s.Key,
		Job:       a.job.Namespace + "/" + a.job.Name,
		Location:  r.Location,
		Bytes:     r.Bytes,
		SHA256:    r.SHA256,
		Recipient: r.Recipient,
		Encrypted: r.Encrypted,
		Round:     roundOf(a.job),
	}
	if t, err := time.Parse(time.RFC3339, a.job.Annotations[AnnotationVerifiedAt]); err == nil {
		out.VerifiedAt = &metav1.Time{Time: t}
	}
	return out
}

// plan lists the targets, for status and the kubectl plugin: those
// selected now and those that already have Jobs.
func plan(states []*targetState, rw *v1.RegionWithdrawal) *v1.StepPlan {
	ts := make([]Target, 0, len(states))
	for _, s := range states {
		ts = append(ts, s.Target)
	}
	return previewOf(rw, ts).Plan()
}
