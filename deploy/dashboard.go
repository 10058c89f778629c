package deploy

import (
	"encoding/json"
	"fmt"
)

// DashboardFile is where the generated Grafana dashboard lives, relative to
// this package. `go test ./deploy -run TestDashboardUpToDate -update`
// rewrites it from Dashboard.
const DashboardFile = "grafana/krserve.json"

// The Grafana JSON model, as much of it as the dashboard uses.
type (
	dashboard struct {
		Title         string      `json:"title"`
		UID           string      `json:"uid"`
		Description   string      `json:"description"`
		Tags          []string    `json:"tags"`
		Editable      bool        `json:"editable"`
		GraphTooltip  int         `json:"graphTooltip"`
		SchemaVersion int         `json:"schemaVersion"`
		Version       int         `json:"version"`
		Refresh       string      `json:"refresh"`
		Time          timeRange   `json:"time"`
		Templating    templating  `json:"templating"`
		Annotations   annotations `json:"annotations"`
		Panels        []panel     `json:"panels"`
	}
	timeRange struct {
		From string `json:"from"`
		To   string `json:"to"`
	}
	templating struct {
		List []variable `json:"list"`
	}
	variable struct {
		Name    string `json:"name"`
		Label   string `json:"label"`
		Type    string `json:"type"`
		Query   string `json:"query"`
		Hide    int    `json:"hide"`
		Refresh int    `json:"refresh"`
	}
	annotations struct {
		List []any `json:"list"`
	}
	panel struct {
		ID          int          `json:"id"`
		Type        string       `json:"type"`
		Title       string       `json:"title"`
		Description string       `json:"description,omitempty"`
		GridPos     gridPos      `json:"gridPos"`
		Collapsed   *bool        `json:"collapsed,omitempty"`
		Panels      []panel      `json:"panels,omitempty"`
		Datasource  *datasource  `json:"datasource,omitempty"`
		Targets     []target     `json:"targets,omitempty"`
		FieldConfig *fieldConfig `json:"fieldConfig,omitempty"`
		Options     any          `json:"options,omitempty"`
	}
	gridPos struct {
		H int `json:"h"`
		W int `json:"w"`
		X int `json:"x"`
		Y int `json:"y"`
	}
	datasource struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	target struct {
		RefID        string      `json:"refId"`
		Datasource   *datasource `json:"datasource"`
		Expr         string      `json:"expr"`
		LegendFormat string      `json:"legendFormat"`
		Range        bool        `json:"range"`
	}
	fieldConfig struct {
		Defaults  fieldDefaults `json:"defaults"`
		Overrides []any         `json:"overrides"`
	}
	fieldDefaults struct {
		Unit string   `json:"unit,omitempty"`
		Max  *float64 `json:"max,omitempty"`
	}
)

var promDS = &datasource{Type: "prometheus", UID: "${datasource}"}

// q is one query of a panel: a PromQL expression and its legend.
type q struct{ expr, legend string }

// spec describes a panel before layout.
type spec struct {
	kind, title, desc, unit string
	max                     *float64
	queries                 []q
}

type row struct {
	title  string
	panels []spec
}

func ptr(f float64) *float64 { return &f }

func ts(title, unit, desc string, queries ...q) spec {
	return spec{kind: "timeseries", title: title, desc: desc, unit: unit, queries: queries}
}

// rows is the content of the dashboard, top to bottom.
var rows = []row{
	{"Engine", []spec{
		ts("Generated tokens/s", "short", "Decode throughput per engine worker.",
			q{"instance:krserve_engine_generated_tokens:rate1m", "{{instance}}"}),
		ts("Time to first token p50/p99", "s", "Request received by the tokenizer worker to first token published.",
			q{`histogram_quantile(0.5, sum by (le) (rate(krserve_engine_ttft_seconds_bucket[$__rate_interval])))`, "p50"},
			q{`histogram_quantile(0.99, sum by (le) (rate(krserve_engine_ttft_seconds_bucket[$__rate_interval])))`, "p99"}),
		ts("Scheduler step p50/p99", "s", "One batched forward pass plus sampling.",
			q{`histogram_quantile(0.5, sum by (le) (rate(krserve_engine_step_seconds_bucket[$__rate_interval])))`, "p50"},
			q{`histogram_quantile(0.99, sum by (le) (rate(krserve_engine_step_seconds_bucket[$__rate_interval])))`, "p99"}),
		ts("Tokens per forward pass p50", "short", "Continuous batching: prefill chunks and decode rows per step.",
			q{`histogram_quantile(0.5, sum by (le) (rate(krserve_engine_batch_tokens_bucket[$__rate_interval])))`, "p50"}),
		ts("Requests finished and failed", "reqps", "",
			q{`sum by (reason) (rate(krserve_engine_finished_total[$__rate_interval]))`, "finished {{reason}}"},
			q{`sum by (code) (rate(krserve_engine_failed_total[$__rate_interval]))`, "failed {{code}}"}),
		ts("Admission: rejects and queue", "short", "Requests refused because a bounded queue was full (code 429) and tokenizer queue depth.",
			q{`sum by (instance) (rate(krserve_engine_rejected_total[$__rate_interval]))`, "engine rejects/s {{instance}}"},
			q{`sum by (instance) (rate(krserve_tokenizer_queue_rejected_total[$__rate_interval]))`, "tokenizer rejects/s {{instance}}"},
			q{`sum by (instance) (krserve_tokenizer_queue_depth)`, "tokenizer queue {{instance}}"}),
		ts("Reject ratio", "percentunit", "Share of engine requests refused (alert above 5 %).",
			q{"instance:krserve_engine_rejected:ratio_rate5m", "{{instance}}"}),
		ts("Preemptions and cancellations", "short", "",
			q{`sum(rate(krserve_engine_preemptions_total[$__rate_interval]))`, "preempted/s"},
			q{`sum(rate(krserve_engine_canceled_total[$__rate_interval]))`, "canceled/s"}),
	}},
	{"KV cache pool", []spec{
		ts("Blocks by state", "short", "free, used (referenced by a sequence) and cached (reusable).",
			q{`sum by (state) (krserve_kvpool_blocks)`, "{{state}}"},
			q{`sum(krserve_kvpool_capacity_blocks)`, "capacity"}),
		{kind: "timeseries", title: "Prefix hit ratio", unit: "percentunit", max: ptr(1), desc: "Prompt tokens served from cached blocks.",
			queries: []q{
				{"instance:krserve_kvpool_prefix_hit:ratio_rate5m", "pool {{instance}}"},
				{`sum(rate(krserve_engine_cached_prompt_tokens_total[$__rate_interval])) / sum(rate(krserve_engine_prompt_tokens_total[$__rate_interval]))`, "engine"},
			}},
		ts("Evictions, exhaustion, copies", "short", "",
			q{`sum(rate(krserve_kvpool_evictions_total[$__rate_interval]))`, "evicted/s"},
			q{`sum(rate(krserve_kvpool_exhausted_total[$__rate_interval]))`, "exhausted/s"},
			q{`sum(rate(krserve_kvpool_cow_copies_total[$__rate_interval]))`, "copied/s"}),
		ts("Occupancy and sequences", "short", "",
			q{"instance:krserve_kvpool_blocks_used:ratio", "used ratio {{instance}}"},
			q{`sum by (instance) (krserve_kvpool_sequences)`, "sequences {{instance}}"}),
	}},
	{"Rollout", []spec{
		{kind: "stat", title: "Rollout state", desc: "idle, progressing, paused, promoted or rolled_back.",
			queries: []q{{`max by (state) (krserve_rollout_state) == 1`, "{{state}}"}}},
		ts("Canary weights", "percent", "Traffic share per variant, from the control bucket.",
			q{`max by (variant) (krserve_rollout_canary_weight_percent)`, "{{variant}}"}),
		ts("Rollbacks", "short", "",
			q{`sum by (variant, reason) (increase(krserve_rollout_rollbacks_total[$__range]))`, "{{variant}} {{reason}}"}),
		ts("Judge verdicts", "short", "Per interval and metric: pass, fail or inconclusive.",
			q{`sum by (metric, decision) (increase(krserve_judge_verdicts_total[$__rate_interval]))`, "{{metric}} {{decision}}"}),
		ts("Judge effect ratio (canary/baseline)", "percentunit", "Throughput below 95 % or TTFT above 110 % with p < 0.05 fails.",
			q{`max by (metric) (krserve_judge_effect_ratio)`, "{{metric}}"}),
		ts("Judge p-values", "short", "",
			q{`max by (metric) (krserve_judge_p_value)`, "{{metric}}"}),
		ts("Judge samples", "short", "Samples per metric and variant in the judged window.",
			q{`max by (metric, variant) (krserve_judge_samples)`, "{{metric}} {{variant}}"}),
		ts("Metric events", "short", "Events per second the controller receives per variant, and seconds since the last one.",
			q{"variant:krserve_controller_metric_events:rate5m", "events/s {{variant}}"},
			q{`time() - max by (variant) (krserve_controller_last_event_timestamp_seconds)`, "age {{variant}}"}),
		ts("Regression alerts", "short", "",
			q{`sum by (metric, severity) (increase(krserve_regression_alerts_total[$__rate_interval]))`, "{{severity}} {{metric}}"}),
	}},
	{"Bus and routing", []spec{
		ts("Slow consumers and async errors", "short", "Dropped messages mean failed streams; permission violations count as async errors.",
			q{`sum by (instance) (rate(krserve_bus_slow_consumer_total[$__rate_interval]))`, "slow consumer {{instance}}"},
			q{`sum by (instance) (rate(krserve_bus_async_errors_total[$__rate_interval]))`, "async error {{instance}}"}),
		ts("Stream failures", "short", "",
			q{`sum(rate(krserve_bus_stream_gaps_total[$__rate_interval]))`, "gaps"},
			q{`sum(rate(krserve_bus_stream_idle_total[$__rate_interval]))`, "idle"},
			q{`sum(rate(krserve_bus_no_responders_total[$__rate_interval]))`, "no responders"}),
		ts("Routing decisions", "short", "hit: the prefix was cached on the chosen worker.",
			q{`sum by (outcome) (rate(krserve_route_picks_total[$__rate_interval]))`, "{{outcome}}"}),
	}},
}

// Dashboard renders the krserve Grafana dashboard as indented JSON.
func Dashboard() ([]byte, error) {
	d := dashboard{
		Title:         "krserve",
		UID:           "krserve-overview",
		Description:   "krserve engines, KV cache pool, canary rollouts and the NATS bus. Generated by deploy.Dashboard; do not edit by hand.",
		Tags:          []string{"krserve"},
		Editable:      true,
		GraphTooltip:  1,
		SchemaVersion: 39,
		Version:       1,
		Refresh:       "30s",
		Time:          timeRange{From: "now-6h", To: "now"},
		Templating: templating{List: []variable{
			{Name: "datasource", Label: "Data source", Type: "datasource", Query: "prometheus", Refresh: 1},
		}},
		Annotations: annotations{List: []any{}},
	}
	const w, h = 8, 8
	id, y := 1, 0
	for _, r := range rows {
		open := false
		d.Panels = append(d.Panels, panel{ID: id, Type: "row", Title: r.title, GridPos: gridPos{H: 1, W: 24, X: 0, Y: y}, Collapsed: &open})
		id++
		y++
		for i, s := range r.panels {
			if len(s.queries) == 0 {
				return nil, fmt.Errorf("deploy: panel %q has no query", s.title)
			}
			p := panel{ID: id, Type: s.kind, Title: s.title, Description: s.desc, Datasource: promDS,
				GridPos:     gridPos{H: h, W: w, X: (i % 3) * w, Y: y + (i/3)*h},
				FieldConfig: &fieldConfig{Defaults: fieldDefaults{Unit: s.unit, Max: s.max}, Overrides: []any{}}}
			for j, qq := range s.queries {
				p.Targets = append(p.Targets, target{RefID: string(rune('A' + j)), Datasource: promDS, Expr: qq.expr, LegendFormat: qq.legend, Range: true})
			}
			switch s.kind {
			case "timeseries":
				p.Options = map[string]any{"legend": map[string]any{"displayMode": "list", "placement": "bottom", "showLegend": true},
					"tooltip": map[string]any{"mode": "multi", "sort": "desc"}}
			case "stat":
				p.Options = map[string]any{"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
					"textMode": "name", "colorMode": "background", "graphMode": "none"}
			}
			d.Panels = append(d.Panels, p)
			id++
		}
		y += ((len(r.panels) + 2) / 3) * h
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("deploy: dashboard: %w", err)
	}
	return append(b, '\n'), nil
}
