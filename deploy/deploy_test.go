package deploy

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/engined/kvpool"
	"github.com/krserve/krserve/tokenizerd/route"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite "+DashboardFile+" from Dashboard()")

const (
	rulesGlob     = "prometheus/*.rules.yaml"
	ruleTestsGlob = "prometheus/tests/*.yaml"
)

// pendingMetrics are metrics the rules or the dashboard use that no public
// constructor registers yet (package-private metrics, or code not written
// yet), with who is to register them. Shrink it as constructors appear: the
// test fails when an entry is registered or no longer used.
var pendingMetrics = map[string]string{
	// engined/sched (package-private newMetrics)
	"krserve_engine_generated_tokens_total":     "engined/sched",
	"krserve_engine_step_seconds":               "engined/sched",
	"krserve_engine_batch_tokens":               "engined/sched",
	"krserve_engine_finished_total":             "engined/sched",
	"krserve_engine_failed_total":               "engined/sched",
	"krserve_engine_rejected_total":             "engined/sched",
	"krserve_engine_preemptions_total":          "engined/sched",
	"krserve_engine_canceled_total":             "engined/sched",
	"krserve_engine_prompt_tokens_total":        "engined/sched",
	"krserve_engine_cached_prompt_tokens_total": "engined/sched",
	// engine worker: received by the tokenizer worker → first token, seconds
	"krserve_engine_ttft_seconds": "engined worker (histogram, not yet exported)",
	// tokenizerd/tokenizer
	"krserve_tokenizer_queue_rejected_total": "tokenizerd/tokenizer",
	"krserve_tokenizer_queue_depth":          "tokenizerd/tokenizer",
	// controller
	"krserve_rollout_state":                           "controller/rollout",
	"krserve_rollout_canary_weight_percent":           "controller/rollout",
	"krserve_rollout_rollbacks_total":                 "controller/rollout",
	"krserve_judge_verdicts_total":                    "controller/rollout",
	"krserve_judge_p_value":                           "controller/rollout",
	"krserve_judge_effect_ratio":                      "controller/rollout",
	"krserve_judge_samples":                           "controller/rollout",
	"krserve_regression_alerts_total":                 "controller regression detector",
	"krserve_controller_metric_events_total":          "controller",
	"krserve_controller_last_event_timestamp_seconds": "controller",
}

// ruleFile is the part of a Prometheus rule file the tests read.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record      string            `yaml:"record"`
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readYAML(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func ruleFiles(t testing.TB) map[string]ruleFile {
	t.Helper()
	paths, err := filepath.Glob(rulesGlob)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no rule files match %s (%v)", rulesGlob, err)
	}
	out := map[string]ruleFile{}
	for _, p := range paths {
		var rf ruleFile
		readYAML(t, p, &rf)
		out[p] = rf
	}
	return out
}

// sourcedExpr is a PromQL expression and where it comes from.
type sourcedExpr struct{ where, expr string }

// allExprs collects every expression of the rule files and the dashboard.
func allExprs() ([]sourcedExpr, error) {
	var out []sourcedExpr
	paths, err := filepath.Glob(rulesGlob)
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var rf ruleFile
		if err := yaml.Unmarshal(b, &rf); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				out = append(out, sourcedExpr{p + ": " + r.Record + r.Alert, r.Expr})
			}
		}
	}
	b, err := os.ReadFile(DashboardFile)
	if err != nil {
		return nil, err
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", DashboardFile, err)
	}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, sourcedExpr{DashboardFile + ": " + p.Title, tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out, nil
}

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is not installed: `make tools` installs it (apt-get install -y prometheus): %v", err)
	}
	return p
}

func TestPromtoolCheckRules(t *testing.T) {
	files, _ := filepath.Glob(rulesGlob)
	out, err := exec.Command(promtool(t), append([]string{"check", "rules"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

func TestPromtoolTestRules(t *testing.T) {
	files, _ := filepath.Glob(ruleTestsGlob)
	if len(files) == 0 {
		t.Fatalf("no rule tests match %s", ruleTestsGlob)
	}
	out, err := exec.Command(promtool(t), append([]string{"test", "rules"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// TestEveryAlertTested requires each alert to have a promtool case where it
// fires and one where it does not, and to carry a severity and annotations.
func TestEveryAlertTested(t *testing.T) {
	type ruleTests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	files, _ := filepath.Glob(ruleTestsGlob)
	for _, f := range files {
		var rt ruleTests
		readYAML(t, f, &rt)
		for _, tc := range rt.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					fires[a.Alertname] = true
				} else {
					silent[a.Alertname] = true
				}
			}
		}
	}
	alerts := 0
	for path, rf := range ruleFiles(t) {
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" {
					if !regexp.MustCompile(`^[a-z_]+:[a-z_]+:[a-z0-9_]+$`).MatchString(r.Record) {
						t.Errorf("%s: recording rule %q is not named level:metric:operations", path, r.Record)
					}
					continue
				}
				alerts++
				if !fires[r.Alert] || !silent[r.Alert] {
					t.Errorf("%s: alert %s needs a promtool case that fires (%v) and one that does not (%v)", path, r.Alert, fires[r.Alert], silent[r.Alert])
				}
				sev := r.Labels["severity"]
				if sev == "" && strings.Contains(r.Expr, "severity") {
					sev = "from the series"
				}
				if sev != "warning" && sev != "critical" && sev != "from the series" {
					t.Errorf("%s: alert %s has severity %q, want warning or critical", path, r.Alert, sev)
				}
				if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
					t.Errorf("%s: alert %s needs summary and description annotations", path, r.Alert)
				}
			}
		}
	}
	for _, want := range []string{"KrserveThroughputRegression", "KrserveTTFTRegression", "KrserveCanaryRolledBack",
		"KrserveAnalysisInconclusive", "KrserveNoMetricData", "KrserveEngineOverloaded", "KrserveKVPoolExhausted", "KrserveBusSlowConsumer"} {
		if !fires[want] {
			t.Errorf("alert %s is missing or never fires in a test", want)
		}
	}
	if alerts < 8 {
		t.Errorf("%d alerts, want at least 8", alerts)
	}
}

// describeRecorder is a Registerer that remembers the name of every metric
// the collectors registered through it describe.
type describeRecorder struct {
	reg   *prometheus.Registry
	names map[string]bool
}

var fqNameRe = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *describeRecorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		if m := fqNameRe.FindStringSubmatch(d.String()); m != nil {
			r.names[m[1]] = true
		}
	}
	return r.reg.Register(c)
}

func (r *describeRecorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r *describeRecorder) Unregister(c prometheus.Collector) bool { return r.reg.Unregister(c) }

// registered builds the metrics of every component with a public
// constructor and returns their names and, where gathered, their types.
func registered(t *testing.T) (map[string]bool, map[string]dto.MetricType) {
	t.Helper()
	rec := &describeRecorder{reg: prometheus.NewRegistry(), names: map[string]bool{}}
	bus.NewMetrics(rec)
	if _, err := kvpool.New(kvpool.Config{NumBlocks: 4, BlockSize: 16, MaxSequences: 1, MaxTokensPerSequence: 64, Flags: kvpool.AllFlags()},
		kvpool.Deps{Registerer: rec}); err != nil {
		t.Fatal(err)
	}
	if _, err := route.New(route.DefaultConfig(), route.Deps{Registerer: rec}); err != nil {
		t.Fatal(err)
	}
	mfs, err := rec.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]dto.MetricType{}
	for _, mf := range mfs {
		types[mf.GetName()] = mf.GetType()
	}
	if len(rec.names) < 10 {
		t.Fatalf("only %d metrics registered: %v", len(rec.names), rec.names)
	}
	return rec.names, types
}

// TestReferencedMetricsRegistered checks that every metric a rule or a
// dashboard panel uses is registered by the code (or a recording rule, or
// explicitly pending).
func TestReferencedMetricsRegistered(t *testing.T) {
	names, types := registered(t)
	recorded := map[string]bool{}
	for _, rf := range ruleFiles(t) {
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					recorded[r.Record] = true
				}
			}
		}
	}
	exprs, err := allExprs()
	if err != nil {
		t.Fatal(err)
	}
	usedPending := map[string]bool{}
	for _, e := range exprs {
		ms, err := metricNames(e.expr)
		if err != nil {
			t.Errorf("%s: %v", e.where, err)
			continue
		}
		if len(ms) == 0 {
			t.Errorf("%s: expression %q uses no metric", e.where, e.expr)
		}
		for _, m := range ms {
			if recorded[m] || names[m] {
				continue
			}
			base, suffixed := cutHistogramSuffix(m)
			if suffixed && names[base] {
				if typ, ok := types[base]; ok && typ != dto.MetricType_HISTOGRAM && typ != dto.MetricType_SUMMARY && !strings.HasSuffix(m, "_count") {
					t.Errorf("%s: %s, but %s is a %v", e.where, m, base, typ)
				}
				continue
			}
			if _, ok := pendingMetrics[base]; ok && suffixed {
				usedPending[base] = true
				continue
			}
			if _, ok := pendingMetrics[m]; ok {
				usedPending[m] = true
				continue
			}
			t.Errorf("%s: metric %s is not registered by the code (nor a recording rule, nor in pendingMetrics)", e.where, m)
		}
	}
	for m, who := range pendingMetrics {
		if names[m] {
			t.Errorf("pending metric %s is now registered: remove it from pendingMetrics", m)
		}
		if !usedPending[m] {
			t.Errorf("pending metric %s (%s) is used nowhere: remove it from pendingMetrics", m, who)
		}
	}
}

func cutHistogramSuffix(m string) (string, bool) {
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(m, s); ok {
			return base, true
		}
	}
	return m, false
}

func TestDashboardUpToDate(t *testing.T) {
	got, err := Dashboard()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(DashboardFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(DashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			g, w := at(gl, i), at(wl, i)
			if g != w {
				t.Fatalf("%s is stale (regenerate with go test ./deploy -run TestDashboardUpToDate -update); line %d:\n-got  %s\n+want %s", DashboardFile, i+1, g, w)
			}
		}
	}
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "<EOF>"
}

// TestDashboardValid checks the structure Grafana relies on.
func TestDashboardValid(t *testing.T) {
	b, err := os.ReadFile(DashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", DashboardFile, err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("uid %q, title %q, schemaVersion %d", d.UID, d.Title, d.SchemaVersion)
	}
	if !slices.ContainsFunc(d.Templating.List, func(v variable) bool { return v.Name == "datasource" && v.Type == "datasource" }) {
		t.Error("no datasource variable")
	}
	ids := map[int]bool{}
	var boxes []panel
	titles := map[string]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d reused", p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.X < 0 || g.W < 1 || g.H < 1 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, g)
		}
		for _, o := range boxes {
			og := o.GridPos
			if g.X < og.X+og.W && og.X < g.X+g.W && g.Y < og.Y+og.H && og.Y < g.Y+g.H {
				t.Errorf("panels %q and %q overlap", p.Title, o.Title)
			}
		}
		boxes = append(boxes, p)
		if p.Type == "row" {
			continue
		}
		titles[p.Title] = true
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %v, %d targets", p.Title, p.Datasource, len(p.Targets))
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("panel %q: target %+v", p.Title, tg)
			}
			refs[tg.RefID] = true
		}
	}
	// The views the dashboard promises.
	var missing []string
	for _, want := range []string{"Generated tokens/s", "Time to first token p50/p99", "Admission: rejects and queue", "Blocks by state",
		"Prefix hit ratio", "Rollout state", "Canary weights", "Judge verdicts", "Slow consumers and async errors"} {
		if !titles[want] {
			missing = append(missing, want)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("dashboard lacks panels %v", missing)
	}
}
