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

package metrics_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql/parser"
	clocktesting "k8s.io/utils/clock/testing"
	// The controller package registers controller-runtime's reconcile,
	// work-queue, process and Go metrics, as in the operator's binary.
	_ "sigs.k8s.io/controller-runtime/pkg/controller"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	"github.com/ops-dev/region-withdrawal-operator/internal/metrics"
)

// repoRoot is the repository, from this package's directory.
var repoRoot = filepath.Join("..", "..")

// exposedNames are the metric names the operator's /metrics serves: its own
// and controller-runtime's, registered as main.go registers them. Histograms
// and summaries add _bucket, _sum and _count.
func exposedNames(t *testing.T) map[string]bool {
	t.Helper()
	registerOnce.Do(func() { registerErr = registerAsMain() })
	if registerErr != nil {
		t.Fatal(registerErr)
	}
	return describe(t)
}

var (
	registerOnce sync.Once
	registerErr  error
)

func registerAsMain() error {
	if err := metrics.New(clocktesting.NewFakePassiveClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))).Register(crmetrics.Registry); err != nil {
		return err
	}
	metrics.Deliveries(crmetrics.Registry)
	return nil
}

func describe(t *testing.T) map[string]bool {
	ch := make(chan *prometheus.Desc)
	go func() {
		crmetrics.Registry.(prometheus.Collector).Describe(ch)
		close(ch)
	}()
	// A Desc keeps its name private; its String form has been
	// `Desc{fqName: "...", ...}` in every client_golang release.
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{}
	for d := range ch {
		m := fq.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read the name of %s", d)
		}
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			names[m[1]+suffix] = true
		}
	}
	if !names["region_withdrawal_seconds_until_cutoff"] || !names["controller_runtime_reconcile_total"] || !names["workqueue_depth"] {
		t.Fatalf("the registry lacks names it must have: %d names", len(names))
	}
	return names
}

// grafanaVars replaces the dashboard's variables with values PromQL parses.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$namespace", ".+", "$job", ".+", "${namespace}", ".+", "${job}", ".+")

// checkExpr parses expr and fails the test for each metric it selects that
// the operator does not expose.
func checkExpr(t *testing.T, where, expr string, exposed map[string]bool) {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %v\n%s", where, err, expr)
		return
	}
	selected := 0
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		selected++
		if !exposed[vs.Name] {
			t.Errorf("%s selects %q, which the operator does not expose", where, vs.Name)
		}
		return nil
	})
	if selected == 0 {
		t.Errorf("%s selects no metric: %s", where, expr)
	}
}

// TestAlertRulesUseExposedMetrics: every alert in config/prometheus/rules.yaml
// parses and selects only metrics the operator serves, and carries a
// severity and a summary. (promtool checks and unit-tests the same file:
// make test-rules.)
func TestAlertRulesUseExposedMetrics(t *testing.T) {
	exposed := exposedNames(t)
	b, err := os.ReadFile(filepath.Join(repoRoot, "config", "prometheus", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.UnmarshalStrict(b, &file); err != nil {
		t.Fatal(err)
	}
	alerts := 0
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			alerts++
			checkExpr(t, "alert "+r.Alert, r.Expr, exposed)
			if !slices.Contains([]string{"critical", "warning"}, r.Labels["severity"]) {
				t.Errorf("alert %s: severity %q, want critical or warning", r.Alert, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s lacks a summary or a description", r.Alert)
			}
		}
	}
	if alerts == 0 {
		t.Fatal("no alerts")
	}
}

// dashboard is the part of Grafana's dashboard model the check reads.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

// TestDashboardUsesExposedMetrics: config/grafana/dashboard.json is a
// Grafana dashboard whose panels each query the chosen data source with
// PromQL that parses and selects only metrics the operator serves, and
// whose panels fit the 24-column grid without overlapping.
func TestDashboardUsesExposedMetrics(t *testing.T) {
	exposed := exposedNames(t)
	b, err := os.ReadFile(filepath.Join(repoRoot, "config", "grafana", "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 || len(d.Panels) == 0 {
		t.Fatalf("uid %q, title %q, schemaVersion %d, %d panels", d.UID, d.Title, d.SchemaVersion, len(d.Panels))
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if q, ok := v.Query.(map[string]any); ok {
			if s, _ := q["query"].(string); strings.HasPrefix(s, "label_values(") {
				// label_values(selector, label)
				inner := strings.TrimSuffix(strings.TrimPrefix(s, "label_values("), ")")
				checkExpr(t, "variable "+v.Name, inner[:strings.LastIndex(inner, ",")], exposed)
			}
		}
	}
	if !vars["datasource"] {
		t.Fatal("no datasource variable: the dashboard would be bound to one Grafana's data source")
	}
	ids := map[int]bool{}
	type cell struct{ x, y int }
	taken := map[cell]string{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, g)
		}
		for x := p.GridPos.X; x < p.GridPos.X+p.GridPos.W; x++ {
			for y := p.GridPos.Y; y < p.GridPos.Y+p.GridPos.H; y++ {
				if other, ok := taken[cell{x, y}]; ok {
					t.Fatalf("panels %q and %q overlap at %d,%d", other, p.Title, x, y)
				}
				taken[cell{x, y}] = p.Title
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the datasource variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			checkExpr(t, "panel "+p.Title+" "+q.RefID, grafanaVars.Replace(q.Expr), exposed)
		}
	}
}
