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

// Package export carries out the export step: one Job per target (each
// selected namespace, each selected workload, or once for the region) from
// the withdrawal's Job template, a limited number at a time, each retried
// within the step's attempts and deadline. When a Job completes, the
// controller reads the result the exporter wrote to its container's
// termination message (package exportresult), checks it, and records the
// artifact as verified; a Job that succeeded without a valid result is a
// failed export. From the observed Job durations it estimates when the
// export will finish and says so, with numbers, when that is after the
// deadline.
//
// The Jobs are the record. Each call lists them and derives everything
// else; a judgement (verified, or failed and why) is written onto the Job
// before it counts, so if the process dies between any two lines the next
// call finds the same Jobs, judges what is unjudged, and creates only the
// Jobs whose deterministic names do not exist yet (AlreadyExists is an
// earlier run's Job, adopted).
package export

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/ops-dev/region-withdrawal-operator/api/v1alpha1"
	"github.com/ops-dev/region-withdrawal-operator/internal/evidence/ledger"
	"github.com/ops-dev/region-withdrawal-operator/internal/executor"
	"github.com/ops-dev/region-withdrawal-operator/internal/export/result"
	"github.com/ops-dev/region-withdrawal-operator/internal/handoff"
	"github.com/ops-dev/region-withdrawal-operator/internal/planner"
	"github.com/ops-dev/region-withdrawal-operator/internal/recipients/sources"
	"github.com/ops-dev/region-withdrawal-operator/internal/targets"
	"github.com/ops-dev/region-withdrawal-operator/internal/text"
)

// The operator watches export Jobs; the withdrawal's ServiceAccount
// creates, reads and deletes them (config/rbac/tenant_role.yaml).
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch

const (
	// MaxStatusArtifacts is how many artifacts status lists; beyond, every
	// artifact is also kept in ConfigMaps.
	MaxStatusArtifacts = 50
	// maxFailures caps status.steps[export].export.failures.
	maxFailures = 20
	// watchFallback is how soon a running export is looked at again if no
	// Job event wakes it first.
	watchFallback = 30 * time.Second
	// maxReason caps a failure reason.
	maxReason = 512
)

// ErrInvalidTemplate is a Job template that cannot make a Job.
var ErrInvalidTemplate = errors.New("invalid export Job template")

// Executor runs the export step.
type Executor struct {
	// Client writes Jobs and ConfigMaps; it also reads the targets
	// (namespaces, workloads) through the manager's cache.
	Client client.Client
	// APIReader reads Jobs, Pods and artifact ConfigMaps from the API
	// server: a judgement must not rest on a stale cache, and export Jobs
	// may run in namespaces the cache does not cover.
	APIReader client.Reader
	// Targets resolves the namespaces a withdrawal selects.
	Targets *targets.Resolver
	// Clock defaults to the real clock.
	Clock clock.PassiveClock
	// HTTP reads per-customer manifests; default a pager with the default
	// egress policy (https only, nothing internal).
	HTTP *sources.HTTPPager
	// Handoff, when set, is the installation's handoff endpoint, whose
	// fetch records Observe counts.
	Handoff *handoff.Service
	// Recorder, when set, gets a Warning Event for each forged record found.
	Recorder events.EventRecorder
	// Evidence, when set, is the evidence ledger: each customer's archive
	// is recorded as verified before it counts as verified (read from a
	// manifest whose digest the step checked, or read back and hashed).
	Evidence *ledger.Ledger
	// AllowedOrigins, when set (and not empty), are the only store origins
	// the step trusts: a Job's result located elsewhere is a failed export,
	// and neither a manifest nor a customer's archive is read from, nor
	// recorded at, anywhere else, so that the manifests' headers (a
	// credential) go to no other host. Nil allows every location.
	AllowedOrigins *Origins
	// Pods is what the installation lets an export pod be: the
	// ServiceAccount it runs as, whether it has a token, the volumes and
	// Secrets it may use. The zero value allows any ServiceAccount and
	// Secret, no token unless the template asks, and DefaultVolumeKinds.
	Pods PodPolicy

	probes probes
}

func (e *Executor) http() *sources.HTTPPager {
	if e.HTTP != nil {
		return e.HTTP
	}
	return &sources.HTTPPager{}
}

var (
	_ executor.Executor  = (*Executor)(nil)
	_ executor.Watcher   = (*Executor)(nil)
	_ executor.Finalizer = (*Executor)(nil)
)

// New returns the export executor. c is the manager's client, apiReader
// its API reader. Owner references name the RegionWithdrawal kind
// directly, so no scheme is needed.
func New(c client.Client, apiReader client.Reader, clk clock.PassiveClock) *Executor {
	return &Executor{
		Client:    c,
		APIReader: apiReader,
		Targets:   &targets.Resolver{Reader: c, Clock: clk},
		Clock:     clk,
	}
}

func (e *Executor) now() time.Time {
	if e.Clock == nil {
		// Not injected (a test building the struct by hand): the real clock,
		// as SetupWithManager defaults it.
		return clock.RealClock{}.Now()
	}
	return e.Clock.Now()
}

func (e *Executor) reader() client.Reader {
	if e.APIReader != nil {
		return e.APIReader
	}
	return e.Client
}

// Execute exports (ActionStart) or cancels running exports (ActionRevert).
func (e *Executor) Execute(ctx context.Context, rw *v1.RegionWithdrawal, a planner.Action) (executor.Result, error) {
	return executor.Dispatch(ctx, rw, a, v1.StepExport, executor.Actions{Start: e.export, Revert: e.revert})
}

// attempt is one Job of a target, as judged.
type attempt struct {
	job      *batchv1.Job
	number   int
	finished bool
	verified *result.Result
	failure  string
	// forged is true when the Job carries a verdict the operator did not
	// write: it is judged again.
	forged bool
}

// targetState is everything known about one target.
type targetState struct {
	Target
	hash     string
	attempts []*attempt // of the current round, by number
	// earlier is the latest verified attempt of an earlier round: its
	// archive stays listed until this round verifies one, but it does not
	// count as verified.
	earlier *attempt
	// last is the highest attempt number of any round: numbering goes on
	// across rounds, so Job names never repeat.
	last int
}

func (t *targetState) verified() *attempt {
	for _, a := range t.attempts {
		if a.verified != nil {
			return a
		}
	}
	return nil
}

func (t *targetState) running() *attempt {
	for _, a := range t.attempts {
		if !a.finished {
			return a
		}
	}
	return nil
}

func (t *targetState) failures() int {
	n := 0
	for _, a := range t.attempts {
		if a.failure != "" {
			n++
		}
	}
	return n
}

func (t *targetState) nextAttempt() int {
	n := t.last
	for _, a := range t.attempts {
		n = max(n, a.number)
	}
	return n + 1
}

func (e *Executor) export(ctx context.Context, rw *v1.RegionWithdrawal) (executor.Result, error) {
	spec := rw.Spec.Export
	if spec == nil {
		return executor.Result{Done: true, Failed: true, Message: "spec.export was removed while the export ran"}, nil
	}
	now := e.now()
	deadline := spec.Deadline.Resolve(rw.Spec.Cutoff.Time).UTC()
	parallelism := int(max(spec.Parallelism, 1))
	maxAttempts := int(max(spec.MaxAttempts, 1))

	record, err := e.createdJobs(ctx, rw)
	if err != nil {
		return executor.Result{}, err
	}
	states, err := e.states(ctx, rw, record)
	if err != nil {
		return executor.Result{}, err
	}
	// Judge every finished Job not judged yet.
	for _, st := range states {
		for _, a := range st.attempts {
			if a.forged && e.Recorder != nil {
				e.Recorder.Eventf(rw, nil, corev1.EventTypeWarning, ReasonExportVerdictForged, "Export",
					"export Job %s/%s carries a verdict the operator did not write (its MAC does not check); it is ignored and the Job judged again from its Pods", a.job.Namespace, a.job.Name)
			}
			if a.finished && a.verified == nil && a.failure == "" {
				if err := e.judge(ctx, a); err != nil {
					return executor.Result{}, err
				}
			}
		}
	}

	invalid, err := e.startJobs(ctx, rw, states, record, now, deadline, parallelism, maxAttempts)
	if err != nil {
		return executor.Result{}, err
	}
	status := e.summarize(rw, states, deadline, now, parallelism, maxAttempts)
	if err := e.syncArtifactConfigMaps(ctx, rw, states, status); err != nil {
		return executor.Result{}, err
	}
	if err := e.readManifests(ctx, rw, states, status); errors.Is(err, ErrOriginNotAllowed) {
		// A manifest lists an archive outside the installation's store
		// origins: nothing it lists may count.
		return executor.Result{Done: true, Failed: true, Detail: executor.Detail{Export: status},
			Message: fmt.Sprintf("refused a manifest: %v", err)}, nil
	} else if err != nil {
		return executor.Result{}, err
	}
	if err := e.rereadCustomers(ctx, rw, status); errors.Is(err, ErrOriginNotAllowed) {
		return executor.Result{Done: true, Failed: true, Detail: executor.Detail{Export: status},
			Message: fmt.Sprintf("refused to read a customer's archive back: %v", err)}, nil
	} else if errors.Is(err, ErrArchiveMismatch) {
		// The store does not hold what the exporter reported: nothing may
		// be drained on the strength of it.
		return executor.Result{Done: true, Failed: true, Detail: executor.Detail{Export: status},
			Message: fmt.Sprintf("customers' archives were read back and do not match their manifests: %v", err)}, nil
	} else if err != nil {
		return executor.Result{}, err
	}
	return e.result(rw, states, status, invalid, deadline, now, maxAttempts), nil
}

// startJobs creates the next attempts, up to parallelism running at once,
// and records each created Job's UID. It returns the error of a template
// the API server refuses (the spec must change), or any other error.
func (e *Executor) startJobs(ctx context.Context, rw *v1.RegionWithdrawal, states []*targetState, record map[string]string, now, deadline time.Time, parallelism, maxAttempts int) (invalid, err error) {
	running := 0
	for _, st := range states {
		if st.verified() == nil && st.running() != nil {
			running++
		}
	}
	var created []*batchv1.Job
	// Whatever happens below, the Jobs created so far are recorded: a Job
	// not in the record does not count.
	defer func() {
		if rerr := e.recordCreated(ctx, rw, created); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	for _, st := range states {
		if running >= parallelism {
			break
		}
		if st.verified() != nil || st.running() != nil || st.failures() >= maxAttempts || !now.Before(deadline) {
			continue
		}
		n := st.nextAttempt()
		job, err := buildJob(rw, e.Pods, st.Target, st.hash, n, deadline, now)
		if err != nil {
			invalid = err
			break
		}
		got, fresh, err := e.createJob(ctx, rw, job, record)
		switch {
		case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err):
			invalid = fmt.Errorf("%w: %w", ErrInvalidTemplate, err)
		case err != nil:
			return nil, err
		}
		if invalid != nil {
			break
		}
		if fresh {
			created = append(created, got)
		}
		st.attempts = append(st.attempts, &attempt{job: got, number: n, finished: isFinished(got)})
		running++
	}
	if len(created) > 0 {
		ctrl.LoggerFrom(ctx).V(1).Info("Created export Jobs", "count", len(created))
	}
	return invalid, nil
}

// result turns the summary into what the controller records.
func (e *Executor) result(rw *v1.RegionWithdrawal, states []*targetState, st *v1.ExportStatus, invalid error, deadline, now time.Time, maxAttempts int) executor.Result {
	res := executor.Result{
		Detail:   executor.Detail{Export: st},
		Progress: &v1.Progress{Done: int64(st.Verified), Total: int64(st.Targets)},
		Plan:     plan(states, rw),
	}
	if invalid != nil {
		res.Done, res.Failed = true, true
		res.Message = fmt.Sprintf("cannot create export Jobs: %v", invalid)
		return res
	}
	switch {
	case st.Targets == 0:
		res.Done = true
		res.Message = "nothing to export: the withdrawal selects no " + strings.ToLower(string(scope(rw)))
		return res
	case st.Verified == st.Targets && Rereads(rw) && st.CustomersReread < st.Customers:
		res.Message = fmt.Sprintf("all %d exports verified; %d of %d customers' archives read back and matched", st.Verified, st.CustomersReread, st.Customers)
		res.Progress = &v1.Progress{Done: int64(st.CustomersReread), Total: int64(st.Customers)}
		res.RequeueAfter = rereadNext
		return res
	case st.Verified == st.Targets:
		res.Done = true
		res.Message = fmt.Sprintf("all %d exports verified (%d bytes)", st.Verified, st.Bytes)
		if st.ManifestsRead > 0 {
			res.Message += fmt.Sprintf("; %d customers have their own archive, from %d manifests", st.Customers, st.ManifestsRead)
		}
		if Rereads(rw) && st.Customers > 0 {
			res.Message += ", each read back and matched"
		}
		return res
	case st.Running == 0 && st.Verified+st.Failed == st.Targets:
		res.Done, res.Failed = true, true
		var names []string
		for _, f := range st.Failures {
			if f.GaveUp {
				names = append(names, fmt.Sprintf("%s (%d attempts: %s)", f.Target, f.Attempts, f.Reason))
			}
		}
		why := fmt.Sprintf("after %d attempts each", maxAttempts)
		if !now.Before(deadline) {
			why = "by the deadline " + deadline.Format(time.RFC3339)
		}
		res.Message = fmt.Sprintf("%d of %d exports could not be verified %s: %s", st.Failed, st.Targets, why, strings.Join(names, "; "))
		return res
	}
	res.Message = fmt.Sprintf("%d of %d exports verified, %d running", st.Verified, st.Targets, st.Running)
	if st.Failed > 0 {
		res.Message += fmt.Sprintf(", %d gave up", st.Failed)
	}
	if st.AtRisk {
		res.Message += "; " + st.AtRiskMessage
	}
	res.RequeueAfter = watchFallback
	if left := deadline.Sub(now); left > 0 && left < res.RequeueAfter {
		res.RequeueAfter = left
	}
	return res
}

func scope(rw *v1.RegionWithdrawal) v1.ExportScope {
	if rw.Spec.Export.Per == "" {
		return v1.ExportPerNamespace
	}
	return rw.Spec.Export.Per
}

// resolve lists the targets the withdrawal selects now, sorted by key.
func (e *Executor) resolve(ctx context.Context, rw *v1.RegionWithdrawal) ([]Target, error) {
	set, err := e.Targets.Resolve(ctx, rw)
	if err != nil {
		return nil, fmt.Errorf("resolving the export targets: %w", err)
	}
	return TargetsOf(rw, set), nil
}

// listJobs lists the withdrawal's export Jobs in the namespaces it
// searches and its own, one namespace at a time: an operator installed for
// a list of namespaces may not list Jobs at the cluster scope.
func (e *Executor) listJobs(ctx context.Context, rw *v1.RegionWithdrawal) ([]batchv1.Job, error) {
	nss, err := e.Targets.Namespaces(ctx, rw)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(nss, rw.Namespace) {
		nss = append(nss, rw.Namespace)
	}
	var jobs batchv1.JobList
	for _, ns := range nss {
		var in batchv1.JobList
		if err := e.reader().List(ctx, &in, client.InNamespace(ns), client.MatchingLabels{executor.LabelWithdrawalUID: string(rw.UID)}); err != nil {
			return nil, fmt.Errorf("listing export Jobs in %s: %w", ns, err)
		}
		jobs.Items = append(jobs.Items, in.Items...)
	}
	return jobs.Items, nil
}

// states joins the targets selected now with those that already have Jobs:
// a target that left the selection after its export started is still
// reported, and one that joined it is exported too.
//
// Only Jobs in record (created by this withdrawal, by UID) count: a Job
// someone else labelled as this withdrawal's, verdict and all, is ignored.
func (e *Executor) states(ctx context.Context, rw *v1.RegionWithdrawal, record map[string]string) ([]*targetState, error) {
	ts, err := e.resolve(ctx, rw)
	if err != nil {
		return nil, err
	}
	jobs, err := e.listJobs(ctx, rw)
	if err != nil {
		return nil, err
	}
	round := Round(rw)
	byHash := map[string]*targetState{}
	var out []*targetState
	for _, t := range ts {
		h := TargetHash(rw, t.Key)
		if _, dup := byHash[h]; dup {
			continue
		}
		st := &targetState{Target: t, hash: h}
		byHash[h] = st
		out = append(out, st)
	}
	for i := range jobs {
		job := &jobs[i]
		h := job.Labels[LabelTarget]
		n, err := strconv.Atoi(job.Labels[LabelAttempt])
		if h == "" || err != nil || !e.recorded(record, job) {
			continue // not ours to judge
		}
		st, ok := byHash[h]
		if roundOf(job) != round {
			// An earlier round's: it numbers the attempts and, verified,
			// keeps its archive listed; a target that has left the
			// selection is not exported again.
			if ok {
				st.last = max(st.last, n)
				if a := e.attemptOf(job, n); a.verified != nil && (st.earlier == nil || st.earlier.number < n) {
					st.earlier = a
				}
			}
			continue
		}
		if !ok {
			st = &targetState{Target: Target{Key: job.Annotations[AnnotationTarget], Namespace: job.Namespace}, hash: h}
			byHash[h] = st
			out = append(out, st)
		}
		st.attempts = append(st.attempts, e.attemptOf(job, n))
	}
	slices.SortFunc(out, func(a, b *targetState) int { return strings.Compare(a.Key, b.Key) })
	for _, st := range out {
		slices.SortFunc(st.attempts, func(a, b *attempt) int { return a.number - b.number })
	}
	return out, nil
}

// attemptOf reads a Job's attempt, and its verdict if the operator wrote
// one; a verdict that is not the operator's (its MAC does not check) is
// ignored, and the Job judged again from its Pods.
func (e *Executor) attemptOf(job *batchv1.Job, n int) *attempt {
	a := &attempt{job: job, number: n, finished: isFinished(job)}
	if !e.verdictHolds(job) {
		a.forged = true
		return a
	}
	a.failure = job.Annotations[AnnotationFailure]
	if raw, ok := job.Annotations[AnnotationResult]; ok {
		r, err := result.Parse([]byte(raw))
		var refused error
		if err == nil {
			refused = e.AllowedOrigins.Check(r.Location)
		}
		switch {
		case err != nil:
			a.failure = "the recorded result no longer parses: " + err.Error()
		case refused != nil:
			// Verified before the allow-list was set, or set since.
			a.failure = text.Truncate("the recorded result is refused: "+refused.Error(), maxReason)
		default:
			a.verified = r
		}
	}
	return a
}

// isFinished reports a Job the Job controller has finished with.
func isFinished(job *batchv1.Job) bool {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func jobCondition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if c := &job.Status.Conditions[i]; c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// createJob creates job (fresh is true), or adopts the Job of that name an
// earlier call created and recorded. A Job of that name that this
// withdrawal did not record creating is deleted, and the call fails so that
// the next one creates it again: it may be one created just before a crash,
// or one someone else made to look like an export of this withdrawal.
func (e *Executor) createJob(ctx context.Context, rw *v1.RegionWithdrawal, job *batchv1.Job, record map[string]string) (got *batchv1.Job, fresh bool, err error) {
	err = e.Client.Create(ctx, job)
	if err == nil {
		return job, true, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, false, fmt.Errorf("creating export Job %s/%s: %w", job.Namespace, job.Name, err)
	}
	var existing batchv1.Job
	if err := e.reader().Get(ctx, client.ObjectKeyFromObject(job), &existing); err != nil {
		return nil, false, fmt.Errorf("reading export Job %s/%s: %w", job.Namespace, job.Name, err)
	}
	if existing.Labels[executor.LabelWithdrawalUID] != string(rw.UID) {
		return nil, false, fmt.Errorf("a Job named %s/%s exists and does not belong to this withdrawal", job.Namespace, job.Name)
	}
	if !e.recorded(record, &existing) {
		if err := e.Client.Delete(ctx, &existing, client.PropagationPolicy("Background"), client.Preconditions{UID: &existing.UID}); err != nil && !apierrors.IsNotFound(err) {
			return nil, false, fmt.Errorf("deleting the unrecorded export Job %s/%s: %w", job.Namespace, job.Name, err)
		}
		return nil, false, fmt.Errorf("export Job %s/%s was not recorded as created by this withdrawal; deleted it, and it will be created again", job.Namespace, job.Name)
	}
	return &existing, false, nil
}
