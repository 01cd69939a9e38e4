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

package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// row is one line of the summary table. met is "yes", "no" or "—" (no goal).
type row struct {
	bench, figure, goal, met string
}

const noGoal = "—"

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// output is a benchmark's stdout, searched line by line.
type output string

// line returns the first line that starts with prefix.
func (o output) line(prefix string) (string, bool) {
	for _, l := range strings.Split(string(o), "\n") {
		if strings.HasPrefix(l, prefix) {
			return l, true
		}
	}
	return "", false
}

// match returns the submatches of re in the first line that starts with
// prefix and matches.
func (o output) match(prefix string, re *regexp.Regexp) ([]string, bool) {
	for _, l := range strings.Split(string(o), "\n") {
		if strings.HasPrefix(l, prefix) {
			if m := re.FindStringSubmatch(l); m != nil {
				return m, true
			}
		}
	}
	return nil, false
}

var (
	quantilesRE = regexp.MustCompile(`p50 (\S+), p99 (\S+), max ([^\s;,\[]+)`)
	countRE     = regexp.MustCompile(`(\d+)`)
)

// quantiles is p50, p99 and max as printed by the benchmarks.
type quantiles struct {
	p50, p99, max time.Duration
	ok            bool
}

func (o output) quantiles(prefix string) quantiles {
	m, ok := o.match(prefix, quantilesRE)
	if !ok {
		return quantiles{}
	}
	return quantilesOf(m[1:])
}

// quantilesOf parses p50, p99 and max, in that order.
func quantilesOf(m []string) quantiles {
	var q quantiles
	var err1, err2, err3 error
	q.p50, err1 = time.ParseDuration(m[0])
	q.p99, err2 = time.ParseDuration(m[1])
	q.max, err3 = time.ParseDuration(m[2])
	q.ok = err1 == nil && err2 == nil && err3 == nil
	return q
}

// bareSeenRE is the bare client's writes seen through the watch.
var bareSeenRE = regexp.MustCompile(`→ Ingress patch seen \(watch\): p50 (\S+), p99 (\S+), max ([^\s;,\[]+)`)

func (q quantiles) String() string {
	return fmt.Sprintf("p99 %s (p50 %s, max %s)", q.p99, q.p50, q.max)
}

// count returns the first number after prefix in the first line starting
// with it, with thousands separated, or "?".
func (o output) count(prefix string) string {
	l, ok := o.line(prefix)
	if !ok {
		return "?"
	}
	if m := countRE.FindString(l[len(prefix):]); m != "" {
		return thousands(m)
	}
	return "?"
}

func thousands(digits string) string {
	n, err := strconv.Atoi(digits)
	if err != nil {
		return digits
	}
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// missing is the row for a figure that could not be found.
func missing(b *benchmark, bench, goal string) row {
	why := "not found in the output"
	switch {
	case b.skipped:
		return row{bench: bench, figure: "not run", goal: goal, met: noGoal}
	case b.err != nil:
		why = "the run failed: " + b.err.Error()
	}
	met := noGoal
	if goal != noGoal {
		met = "no"
	}
	return row{bench: bench, figure: why, goal: goal, met: met}
}

// rows extracts the summary of every benchmark.
func rows(bs []*benchmark) []row {
	var out []row
	for _, b := range bs {
		o := output(b.stdout.String())
		switch b.name {
		case "reconcile":
			out = append(out, reconcileRows(b, o)...)
		case "notify":
			out = append(out, notifyRows(b, o)...)
		case "exporter":
			out = append(out, exporterRows(b, o)...)
		case "drain":
			out = append(out, drainRows(b, o)...)
		case "cronjob":
			out = append(out, cronjobRows(b, o)...)
		case "cutoff451":
			out = append(out, cutoff451Rows(b, o)...)
		case "fleet":
			out = append(out, fleetRows(b, o)...)
		case "verify":
			out = append(out, verifyRows(b, o)...)
		}
	}
	return out
}

var perMinuteRE = regexp.MustCompile(`= ([\d.]+) per minute`)

func idleRow(b *benchmark, o output, bench string) row {
	const goal = "0 per minute"
	m, ok := o.match("idle: ", perMinuteRE)
	if !ok {
		return missing(b, bench, goal)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return row{bench: bench, figure: m[1] + " reconciles per minute", goal: goal, met: yesNo(v == 0)}
}

func reconcileRows(b *benchmark, o output) []row {
	idle := idleRow(b, o, fmt.Sprintf("reconcile (envtest, in-process): %s withdrawals idle", o.count("idle: ")))
	storm := fmt.Sprintf("reconcile (envtest, in-process): %s withdrawals due in the same second, due → recorded start", o.count("storm: "))
	r := []row{idle}
	if q := o.quantiles("storm: lateness from due time to recorded start"); q.ok {
		r = append(r, row{bench: storm, figure: q.String(), goal: "p99 < 250ms", met: yesNo(q.p99 < 250*time.Millisecond)})
	} else {
		r = append(r, missing(b, storm, "p99 < 250ms"))
	}
	seen := "reconcile (envtest, in-process): same, due → start seen in the API"
	if q := o.quantiles("storm: lateness from due time to start seen in API"); q.ok {
		r = append(r, row{bench: seen, figure: q.String(), goal: noGoal, met: noGoal})
	} else {
		r = append(r, missing(b, seen, noGoal))
	}
	bare := "reconcile (envtest, in-process): the limit: a bare client writes the same withdrawals with the controller's budget and parallelism, from a common start"
	if q := o.quantiles("limit: bare client"); q.ok {
		r = append(r, row{bench: bare, figure: q.String(), goal: "— (the limit)", met: noGoal})
	} else {
		r = append(r, missing(b, bare, noGoal))
	}
	ratio := "reconcile (envtest, in-process): p99 due → start seen in the API, as a ratio to the bare client's p99"
	if m, ok := o.match("limit: controller p99", ratioRE); ok {
		v, _ := strconv.ParseFloat(m[1], 64)
		r = append(r, row{bench: ratio, figure: m[1] + "×", goal: "≤ 1.5×", met: yesNo(v <= 1.5)})
	} else {
		r = append(r, missing(b, ratio, "≤ 1.5×"))
	}
	for _, l := range strings.Split(string(o), "\n") {
		m := stormCurveRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		r = append(r, row{bench: fmt.Sprintf("reconcile (envtest, in-process): scaling curve, %s withdrawals due in the same second", thousands(m[1])),
			figure: fmt.Sprintf("recorded p99 %s; seen p99 %s (p50 %s); bare p99 %s, %s×; %s API requests per withdrawal", m[2], m[4], m[3], m[5], m[6], m[7]),
			goal:   noGoal, met: noGoal})
	}
	return r
}

// stormCurveRE is a row of the reconcile benchmark's curve.
var stormCurveRE = regexp.MustCompile(`^curve:\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+([\d.]+)×\s+([\d.]+)$`)

// phaseRE is a row of the notify benchmark's table: recipients,
// deliveries per second, API requests per 1,000, peak MiB.
var phaseRE = regexp.MustCompile(`\s(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$`)

// notifyPhase is one row of that table.
type notifyPhase struct {
	label, name     string // the row's label in the output, and in the report
	rate, perK, mib float64
	ok              bool
}

func (p notifyPhase) figure(bare notifyPhase) string {
	s := fmt.Sprintf("%.0f deliveries/s", p.rate)
	if bare.ok && bare.rate > 0 && p.label != bare.label {
		s += fmt.Sprintf(" (%.2fx the bare sender)", p.rate/bare.rate)
	}
	return s + fmt.Sprintf(", %.1f API requests per 1,000, peak %.1f MiB", p.perK, p.mib)
}

func notifyRows(b *benchmark, o output) []row {
	n := o.count("notify benchmark: ")
	bench := fmt.Sprintf("notify (envtest): %s recipients by webhook", n)
	phases := []notifyPhase{
		{label: "bare sender (net/http, no Kubernetes)", name: "the limit: a bare sender (net/http, the same concurrency, TLS and receiver, no Kubernetes)"},
		{label: "batched executor", name: "batched executor, no ledger"},
		{label: "batched executor, evidence ledger on", name: "batched executor, the evidence ledger on, in ConfigMaps"},
		{label: "batched, ledger in the object store", name: "batched executor, the evidence ledger as tiles in an object store (SeaweedFS)"},
		{label: "paged HTTP source, ledger on", name: "batched executor, the ledger on, recipients from a paged HTTP source (strong ETags)"},
	}
	for i := range phases {
		p := &phases[i]
		m, ok := o.match(p.label+"  ", phaseRE)
		if !ok {
			continue
		}
		p.ok = true
		p.rate, _ = strconv.ParseFloat(m[2], 64)
		p.perK, _ = strconv.ParseFloat(m[3], 64)
		p.mib, _ = strconv.ParseFloat(m[4], 64)
	}
	bare := phases[0]
	var r []row
	for i, p := range phases {
		goal, met := "peak < 256 MiB", yesNo(p.mib < 256)
		switch {
		case i == 0:
			goal, met = "— (the limit)", noGoal
		case i > 1: // the ledger on
			goal, met = "≥ 0.7x the bare sender, peak < 256 MiB", yesNo(bare.ok && p.rate >= 0.7*bare.rate && p.mib < 256)
		}
		switch {
		case p.ok:
			r = append(r, row{bench: bench + ", " + p.name, figure: p.figure(bare), goal: goal, met: met})
		case i <= 2: // the phases every run has
			r = append(r, missing(b, bench+", "+p.name, goal))
		}
	}
	if l, ok := o.line("evidence ledger per 100,000 deliveries: "); ok {
		r = append(r, row{bench: "notify (envtest): the evidence ledger's cost per 100,000 deliveries (in ConfigMaps)", figure: strings.TrimPrefix(l, "evidence ledger per 100,000 deliveries: "), goal: noGoal, met: noGoal})
	}
	if l, ok := o.line("CPU per 100,000 deliveries "); ok {
		r = append(r, row{bench: "notify (envtest): CPU per 100,000 deliveries (this process; API server and etcd)", figure: strings.TrimPrefix(l, "CPU per 100,000 deliveries (this process; API server and etcd): "), goal: noGoal, met: noGoal})
	}
	if m, ok := o.match("the ledger's writes to etcd per 1,000 deliveries", etcdBytesRE); ok {
		figure := m[1] + " bytes in ConfigMaps"
		goal, met := noGoal, noGoal
		if m[2] != "" {
			figure = fmt.Sprintf("%s bytes with an object store (%s in ConfigMaps)", m[2], m[1])
			goal, met = "≤ 1 KiB with an object store", yesNo(atoi(m[2]) <= 1024)
		}
		r = append(r, row{bench: "notify (envtest): the ledger's writes to etcd per 1,000 deliveries", figure: figure, goal: goal, met: met})
	}
	if l, ok := o.line("evidence ledger: exported and verified offline "); ok {
		r = append(r, row{bench: fmt.Sprintf("notify (envtest): the evidence ledger of %s deliveries (ConfigMaps) exported and verified offline (signatures, every checkpoint's root, consistency, inclusion)", n), figure: strings.TrimPrefix(l, "evidence ledger: exported and verified offline (signatures, every checkpoint's root, consistency, inclusion) in "), goal: noGoal, met: noGoal})
	}
	if l, ok := o.line("in the object store: "); ok {
		r = append(r, row{bench: "notify (envtest): the ledger in the object store, read back from the tiles and verified", figure: strings.TrimPrefix(l, "in the object store: "), goal: noGoal, met: noGoal})
	}
	if l, ok := o.line("from the paged HTTP source, the ledger on: "); ok {
		r = append(r, row{bench: "notify (envtest): the paged HTTP source's pages over the notice's calls", figure: strings.TrimPrefix(l, "from the paged HTTP source, the ledger on: "), goal: noGoal, met: noGoal})
	}
	if m, ok := o.match("at the receiver: ", killRE); ok {
		peak := "?"
		if l, ok := o.line("the executor's own peak RSS, in its own process without the receiver, "); ok {
			peak = strings.TrimPrefix(l, "the executor's own peak RSS, in its own process without the receiver, ")
			peak, _, _ = strings.Cut(peak, " (goal")
		}
		r = append(r, row{bench: fmt.Sprintf("notify (envtest): %s recipients, the ledger on, the executor's process killed with SIGKILL half way and started again", thousands(m[2])),
			figure: fmt.Sprintf("%s of %s reached, %s sent again under the same key; the executor's peak RSS (%s)", m[1], m[2], m[3], peak),
			goal:   "every recipient, at most one batch (1,000) sent again, < 256 MiB", met: yesNo(m[1] == m[2] && atoi(m[3]) <= 1000 && peakBelow(peak, 256))})
	}
	mail, okMail := o.match("batched executor, email", emailRE)
	bareMail, okBare := o.match("bare SMTP sender", bareSMTPRE)
	if ratio, ok := o.line("email against the machine's limit (the bare SMTP sender): "); ok && okMail && okBare {
		r = append(r, row{bench: fmt.Sprintf("notify (envtest): %s recipients by email to a real SMTP server (go-smtp, STARTTLS), batched executor", thousands(mail[1])),
			figure: fmt.Sprintf("%s messages/s, peak %s MiB; the bare net/smtp sender %s messages/s: %s", mail[2], mail[4], bareMail[1],
				strings.TrimPrefix(ratio, "email against the machine's limit (the bare SMTP sender): ")), goal: noGoal, met: noGoal})
	}
	return r
}

var (
	emailRE    = regexp.MustCompile(`^batched executor, email\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)`)
	bareSMTPRE = regexp.MustCompile(`^bare SMTP sender \(net/smtp\)\s+\d+\s+([\d.]+)`)
)

var killRE = regexp.MustCompile(`^at the receiver: (\d+) of (\d+) recipients reached, (\d+) deliveries sent again`)

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// etcdBytesRE reads the bytes the ledger wrote to etcd per 1,000
// deliveries: in ConfigMaps, and with an object store when it ran.
var etcdBytesRE = regexp.MustCompile(`in ConfigMaps (\d+) bytes(?:, in the object store (\d+) bytes)?`)

var mibRE = regexp.MustCompile(`([\d.]+) MiB`)

// peakBelow says whether every "N MiB" in s is below limit, and there is
// one.
func peakBelow(s string, limit float64) bool {
	ms := mibRE.FindAllStringSubmatch(s, -1)
	for _, m := range ms {
		if v, _ := strconv.ParseFloat(m[1], 64); v >= limit {
			return false
		}
	}
	return len(ms) > 0
}

var (
	exporterRowRE = regexp.MustCompile(`^\| (exporter[^|]*) \| ([\d.]+) \| ([\d.]+) \| [^|]* \| ([\d.]+) \| ([\d.]+×) \|`)
	inputRE       = regexp.MustCompile(`^Input: (\d+) MiB`)
)

func exporterRows(b *benchmark, o output) []row {
	size := "?"
	if m, ok := o.match("Input: ", inputRE); ok {
		size = m[1]
	}
	var r []row
	for _, l := range strings.Split(string(o), "\n") {
		if m := exporterRowRE.FindStringSubmatch(l); m != nil {
			r = append(r, row{bench: fmt.Sprintf("exporter: %s MiB input, %s", size, strings.TrimPrefix(m[1], "exporter ")),
				figure: fmt.Sprintf("%s MiB/s, peak RSS %s MiB, %s the throughput of tar | gzip", m[3], m[4], m[5]), goal: noGoal, met: noGoal})
		}
	}
	if len(r) == 0 {
		return []row{missing(b, "exporter", noGoal)}
	}
	return r
}

var drainTookRE = regexp.MustCompile(`: (\S+) until every EndpointSlice was empty`)

func drainRows(b *benchmark, o output) []row {
	bench := fmt.Sprintf("drain (kwok, executor in-process): %s Deployments drained", o.count("drain: "))
	var r []row
	if m, ok := o.match("drain: ", drainTookRE); ok {
		r = append(r, row{bench: bench, figure: m[1] + " until every EndpointSlice was empty and every pod gone", goal: noGoal, met: noGoal})
	} else {
		r = append(r, missing(b, bench, noGoal))
	}
	routes := fmt.Sprintf("drain (kwok, executor in-process): %s routes, cutoff → switched (watch)", o.count("routing: "))
	if q := o.quantiles("routing: "); q.ok {
		r = append(r, row{bench: routes, figure: q.String(), goal: "p99 < 1s", met: yesNo(q.p99 < time.Second)})
	} else {
		r = append(r, missing(b, routes, "p99 < 1s"))
	}
	return r
}

var (
	cpuRSSRE   = regexp.MustCompile(`CPU ([\d.]+)% of one core.*RSS ([\d.]+) MiB at its end`)
	drainOpRE  = regexp.MustCompile(`drained \d+ Deployments \(\d+ pods\) in (\S+) `)
	drainUseRE = regexp.MustCompile(`CPU ([\d.]+)% of one core \(([\d.]+) s CPU\), RSS ([\d.]+) MiB before, peak RSS[^;]* ([\d.]+) MiB;`)
	podsGoneRE = regexp.MustCompile(`deleted \(watch\) (\S+) after creation`)
	ratioRE    = regexp.MustCompile(`: ([\d.]+)× `)
	writersRE  = regexp.MustCompile(`, (\d+) writers `)
)

func cronjobRows(b *benchmark, o output) []row {
	n := o.count("due: ")
	var r []row
	cron := o.quantiles("cronjob controller: due → Job ADDED")
	bench := fmt.Sprintf("cronjob (kwok): CronJob controller with kube-controller-manager's default client budget (20/s, burst 30), %s CronJobs due in one minute, due → Job ADDED (watch)", n)
	if cron.ok {
		r = append(r, row{bench: bench, figure: cron.String(), goal: "— (the baseline)", met: noGoal})
	} else {
		r = append(r, missing(b, bench, noGoal))
	}

	recordedSeen := o.quantiles("operator: due → routing step seen recorded")
	bench = fmt.Sprintf("cronjob (kwok): operator binary, %s withdrawals due in the same minute, due → routing step seen recorded in status (watch; written in a second pass, after the switch)", n)
	if recordedSeen.ok {
		r = append(r, row{bench: bench, figure: recordedSeen.String(), goal: noGoal, met: noGoal})
	} else {
		r = append(r, missing(b, bench, noGoal))
	}

	recorded := o.quantiles("operator: recorded lateness")
	bench = "cronjob (kwok): operator binary, same withdrawals, lateness it recorded (status)"
	if recorded.ok {
		r = append(r, row{bench: bench, figure: recorded.String(), goal: "p99 < 250ms", met: yesNo(recorded.p99 < 250*time.Millisecond)})
	} else {
		r = append(r, missing(b, bench, "p99 < 250ms"))
	}

	switched := o.quantiles("operator: due → Ingress seen switched")
	bench = "cronjob (kwok): operator binary, same withdrawals, cutoff → Ingress seen switched (watch)"
	goal := "p99 < 1s and < the CronJob controller's"
	if cron.ok {
		goal = fmt.Sprintf("p99 < 1s and < the CronJob controller's (%s)", cron.p99)
	}
	if switched.ok && cron.ok {
		r = append(r, row{bench: bench, figure: switched.String(), goal: goal, met: yesNo(switched.p99 < time.Second && switched.p99 < cron.p99)})
	} else {
		r = append(r, missing(b, bench, goal))
	}

	fair := o.quantiles("fair baseline: cronjob controller")
	bench = fmt.Sprintf("cronjob (kwok): CronJob controller with the operator's client budget (100/s, burst 300), %s CronJobs due in one minute, due → Job ADDED (watch)", n)
	if fair.ok {
		r = append(r, row{bench: bench, figure: fair.String(), goal: "— (the fair baseline)", met: noGoal})
	} else {
		r = append(r, missing(b, bench, noGoal))
	}
	for _, budget := range []string{"the operator's client budget", "no client-side limit"} {
		bare := o.quantiles("limit: bare client, " + budget)
		writers := "?"
		if m, ok := o.match("limit: bare client, "+budget, writersRE); ok {
			writers = m[1]
		}
		bench = fmt.Sprintf("cronjob (kwok): the limit: a bare client, %s, the same %s Ingresses patched %s at a time from a common start (start → response)", budget, n, writers)
		if bare.ok {
			r = append(r, row{bench: bench, figure: bare.String(), goal: "— (the limit)", met: noGoal})
		} else {
			r = append(r, missing(b, bench, noGoal))
		}
		var seen quantiles
		if m, ok := o.match("limit: bare client, "+budget, bareSeenRE); ok {
			seen = quantilesOf(m[1:])
		}
		bench = fmt.Sprintf("cronjob (kwok): the limit: the same, seen through the benchmark's watch (start → seen), %s", budget)
		if seen.ok {
			r = append(r, row{bench: bench, figure: seen.String(), goal: "— (the limit)", met: noGoal})
		} else {
			r = append(r, missing(b, bench, noGoal))
		}
	}
	bench = "cronjob (kwok): operator p99 due → Ingress seen switched, as a ratio to the bare client's p99 with the same budget seen through the same watch"
	if m, ok := o.match("limit: operator p99 (due → Ingress seen switched) / bare p99 seen", ratioRE); ok {
		ratio, _ := strconv.ParseFloat(m[1], 64)
		r = append(r, row{bench: bench, figure: m[1] + "×", goal: "≤ 1.5×", met: yesNo(ratio <= 1.5)})
	} else {
		r = append(r, missing(b, bench, "≤ 1.5×"))
	}
	bench = "cronjob (kwok): the same ratio to the bare client's p99 to the response (the operator's figure also holds the watch's delivery)"
	if m, ok := o.match("limit: operator p99 (due → Ingress seen switched) / bare p99 to the response", ratioRE); ok {
		r = append(r, row{bench: bench, figure: m[1] + "×", goal: noGoal, met: noGoal})
	} else {
		r = append(r, missing(b, bench, noGoal))
	}

	r = append(r, curveRows(o)...)

	idle := o.count("idle: ")
	r = append(r, idleRow(b, o, fmt.Sprintf("cronjob (kwok): operator binary, %s withdrawals idle", idle)))
	bench = fmt.Sprintf("cronjob (kwok): operator binary, %s withdrawals idle, process CPU and RSS", idle)
	if m, ok := o.match("idle: operator process", cpuRSSRE); ok {
		r = append(r, row{bench: bench, figure: fmt.Sprintf("CPU %s%% of one core, RSS %s MiB", m[1], m[2]), goal: noGoal, met: noGoal})
	} else {
		r = append(r, missing(b, bench, noGoal))
	}

	deps := o.count("drain: the operator drained ")
	bench = fmt.Sprintf("cronjob (kwok): operator binary drains %s Deployments (2 pods each)", deps)
	m1, ok1 := o.match("drain: the operator drained", drainOpRE)
	m2, ok2 := o.match("drain: operator process", drainUseRE)
	if ok1 && ok2 {
		took := m1[1]
		if m3, ok := o.match("drain: the last pod", podsGoneRE); ok {
			took += " (the last pod deleted after " + m3[1] + ")"
		}
		r = append(r, row{bench: bench, figure: fmt.Sprintf("%s; CPU %s%% of one core (%s s), peak RSS %s MiB", took, m2[1], m2[2], m2[4]), goal: noGoal, met: noGoal})
	} else {
		r = append(r, missing(b, bench, noGoal))
	}
	return r
}

// curveRE is a row of the scaling curve's table.
var curveRE = regexp.MustCompile(`^curve:\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+([\d.]+)×\s+([\d.]+)\s+([\d.]+)%\s+([\d.]+) MiB\s*(\S*)`)

// curveRows: one row per point of the scaling curve; the goals hold at 200.
func curveRows(o output) []row {
	var r []row
	for _, l := range strings.Split(string(o), "\n") {
		m := curveRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		p99, err := time.ParseDuration(m[3])
		ratio, _ := strconv.ParseFloat(m[5], 64)
		bench := fmt.Sprintf("cronjob (kwok): scaling curve, %s withdrawals due at once, due → Ingress seen switched (watch); the limit; requests; CPU and peak RSS", thousands(m[1]))
		fig := fmt.Sprintf("p99 %s (p50 %s); bare p99 %s (seen), %s×; %s API requests per withdrawal; CPU %s%%, peak RSS %s MiB", m[3], m[2], m[4], m[5], m[6], m[7], m[8])
		if m[9] != "" {
			fig += "; bare p99 to the response " + m[9]
		}
		goal, met := noGoal, noGoal
		if n == 200 {
			goal, met = "p99 < 1s and ≤ 1.5× the limit", yesNo(err == nil && p99 < time.Second && ratio <= 1.5)
		}
		r = append(r, row{bench: bench, figure: fig, goal: goal, met: met})
	}
	return r
}

// cutoff451Rows: what a customer's client sees at the cutoff on the real node.
func cutoff451Rows(b *benchmark, o output) []row {
	var r []row
	for _, f := range []struct{ prefix, bench, goal string }{
		{"cutoff -> first client 451", "cutoff451 (real node, Traefik defaults): cutoff → first client gets 451", noGoal},
		{"cutoff -> every client 451", "cutoff451 (real node, Traefik defaults): cutoff → every client gets 451", "max < 5s"},
	} {
		q := o.quantiles(f.prefix)
		if !q.ok {
			r = append(r, missing(b, f.bench, f.goal))
			continue
		}
		met := noGoal
		if f.goal != noGoal {
			met = yesNo(q.max < 5*time.Second)
		}
		r = append(r, row{bench: f.bench, figure: q.String(), goal: f.goal, met: met})
	}
	return r
}

var (
	fleetCutRE    = regexp.MustCompile(`^(\d+) clusters: cut after the cutoff (p50 \S+, p99 \S+, max \S+); spread \(last − first\) (\S+)$`)
	fleetStatusRE = regexp.MustCompile(`^(\d+) clusters: kubectl withdrawal fleet status, median of 5 runs (\S+ \(min \S+, max \S+\))$`)
)

// fleetRows: per fleet size, the spread of the cut times and fleet status's
// time.
func fleetRows(b *benchmark, o output) []row {
	var r []row
	for _, l := range strings.Split(string(o), "\n") {
		if m := fleetCutRE.FindStringSubmatch(l); m != nil {
			r = append(r, row{bench: fmt.Sprintf("fleet (envtest, an API server and an in-process operator per cluster): %s clusters, one withdrawal, cutoff → each cluster's Ingress seen switched (watch, one clock)", m[1]),
				figure: m[2] + "; spread " + m[3], goal: noGoal, met: noGoal})
		}
		if m := fleetStatusRE.FindStringSubmatch(l); m != nil {
			r = append(r, row{bench: fmt.Sprintf("fleet: `kubectl withdrawal fleet status` over %s clusters (the built plugin, median of 5 runs)", m[1]),
				figure: m[2], goal: noGoal, met: noGoal})
		}
	}
	if len(r) == 0 {
		r = append(r, missing(b, "fleet: cut spread and fleet status", noGoal))
	}
	return r
}

var (
	verifyRowRE  = regexp.MustCompile(`^(first format \(JSON, base64\), read whole|streamed \(gzip JSON lines\))\s+(\d+)\s+(\d+)\s+([\d.]+)\s+(\d+)\s+([\d.]+)$`)
	verifyGoalRE = regexp.MustCompile(`^streamed verify of (\d+) statements: ([\d.]+)s, peak ([\d.]+) MiB`)
	exportRE     = regexp.MustCompile(`^export of (\d+) statements \(the built plugin, from the API server, two reads of every shard\): ([\d.]+s), peak ([\d.]+) MiB, bundle (\d+) bytes per statement$`)
)

// verifyRows: the plugin's verify per bundle, and the goals on the largest.
var fleetVerifyRE = regexp.MustCompile("^streamed fleet verify \\(`fleet evidence verify`\\), (\\d+) clusters, (\\d+) statements, the coordinator's (\\d+) deliveries: ([\\d.]+)s, peak ([\\d.]+) MiB, (\\d+) bytes per statement")

func verifyRows(b *benchmark, o output) []row {
	var r []row
	for _, l := range strings.Split(string(o), "\n") {
		if m := verifyRowRE.FindStringSubmatch(l); m != nil {
			r = append(r, row{bench: fmt.Sprintf("verify: `kubectl withdrawal evidence verify` (the built plugin), %s statements, %s", thousands(m[2]), m[1]),
				figure: fmt.Sprintf("%ss (%s statements/s), peak RSS %s MiB, %s bytes per statement", m[4], m[5], m[6], m[3]), goal: noGoal, met: noGoal})
		}
		if m := exportRE.FindStringSubmatch(l); m != nil {
			r = append(r, row{bench: fmt.Sprintf("verify: `kubectl withdrawal evidence export` (the built plugin) of a ledger of %s statements in envtest", thousands(m[1])),
				figure: fmt.Sprintf("%s, peak RSS %s MiB, %s bytes per statement", m[2], m[3], m[4]), goal: noGoal, met: noGoal})
		}
		if m := fleetVerifyRE.FindStringSubmatch(l); m != nil {
			secs, _ := strconv.ParseFloat(m[4], 64)
			peak, _ := strconv.ParseFloat(m[5], 64)
			r = append(r, row{bench: fmt.Sprintf("verify: `kubectl withdrawal fleet evidence verify` (the built plugin), %s clusters, %s statements (the coordinator's %s deliveries), streamed", m[1], thousands(m[2]), thousands(m[3])),
				figure: fmt.Sprintf("%ss, peak RSS %s MiB, %s bytes per statement", m[4], m[5], m[6]), goal: "< 60 s and < 256 MiB, as one ledger", met: yesNo(secs < 60 && peak < 256)})
		}
		if m := verifyGoalRE.FindStringSubmatch(l); m != nil {
			secs, _ := strconv.ParseFloat(m[2], 64)
			peak, _ := strconv.ParseFloat(m[3], 64)
			r = append(r, row{bench: fmt.Sprintf("verify: %s statements streamed, time and peak RSS", thousands(m[1])),
				figure: fmt.Sprintf("%ss, %s MiB", m[2], m[3]), goal: "< 60 s and < 256 MiB", met: yesNo(secs < 60 && peak < 256)})
		}
	}
	if len(r) == 0 {
		r = append(r, missing(b, "verify: a million statements streamed", "< 60 s and < 256 MiB"))
	}
	return r
}
