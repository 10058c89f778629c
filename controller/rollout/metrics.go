package rollout

import (
	"math"

	"github.com/krserve/krserve/controller/judge"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the rollout and judge metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	state      *prometheus.GaugeVec
	weight     *prometheus.GaugeVec
	stage      prometheus.Gauge
	rollbacks  *prometheus.CounterVec
	analyses   *prometheus.CounterVec
	failStreak prometheus.Gauge
	incStreak  prometheus.Gauge
	incAlerts  prometheus.Counter
	verdicts   *prometheus.CounterVec
	pValue     *prometheus.GaugeVec
	effect     *prometheus.GaugeVec
	samples    *prometheus.GaugeVec
	value      *prometheus.GaugeVec
	threshold  *prometheus.GaugeVec
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "krserve_rollout_state",
			Help: "1 for the rollout's current state (idle, progressing, paused, promoted, rolled_back), 0 for the others."}, []string{"state"}),
		weight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "krserve_rollout_canary_weight_percent",
			Help: "Traffic share of the canary variant, percent."}, []string{"variant"}),
		stage: prometheus.NewGauge(prometheus.GaugeOpts{Name: "krserve_rollout_stage",
			Help: "1-based stage of the active rollout; 0 when none is active."}),
		rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "krserve_rollout_rollbacks_total",
			Help: "Rollouts rolled back, by canary variant and reason (judge, abort, regression)."}, []string{"variant", "reason"}),
		analyses: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "krserve_rollout_analyses_total",
			Help: "Analysis intervals judged, by overall decision."}, []string{"decision"}),
		failStreak: prometheus.NewGauge(prometheus.GaugeOpts{Name: "krserve_rollout_consecutive_failures",
			Help: "Current run of failing analysis intervals of the active rollout."}),
		incStreak: prometheus.NewGauge(prometheus.GaugeOpts{Name: "krserve_rollout_consecutive_inconclusive",
			Help: "Current run of inconclusive analysis intervals of the active rollout."}),
		incAlerts: prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_rollout_inconclusive_alerts_total",
			Help: "Alerts raised because K analysis intervals in a row were inconclusive."}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "krserve_judge_verdicts_total",
			Help: "Per-metric judge decisions (pass, fail, inconclusive)."}, []string{"metric", "decision"}),
		pValue: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "krserve_judge_p_value",
			Help: "One-sided p-value of the last test per metric (NaN when no test ran)."}, []string{"metric"}),
		effect: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "krserve_judge_effect_ratio",
			Help: "Last canary change per metric: relative for throughput and latencies, absolute for the error rate (NaN when not formed)."}, []string{"metric"}),
		samples: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "krserve_judge_samples",
			Help: "Samples (requests for error_rate) in the last judged interval, per metric and variant."}, []string{"metric", "variant"}),
		value: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "krserve_judge_value",
			Help: "Compared centre (mean or median; rate for error_rate) of the last judged interval, per metric and variant."}, []string{"metric", "variant"}),
		threshold: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "krserve_judge_threshold",
			Help: "Tolerated change per metric, in the units of krserve_judge_effect_ratio."}, []string{"metric"}),
	}
	for _, c := range []prometheus.Collector{m.state, m.weight, m.stage, m.rollbacks, m.analyses, m.failStreak, m.incStreak, m.incAlerts,
		m.verdicts, m.pValue, m.effect, m.samples, m.value, m.threshold} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, p := range Phases {
		m.state.WithLabelValues(string(p)).Set(0)
	}
	m.state.WithLabelValues(string(Idle)).Set(1)
	for _, mt := range []judge.Metric{judge.Throughput, judge.TTFT, judge.ITL, judge.ErrorRate} {
		for _, d := range []judge.Decision{judge.Pass, judge.Fail, judge.Inconclusive} {
			m.verdicts.WithLabelValues(string(mt), d.String())
		}
	}
	for _, d := range []judge.Decision{judge.Pass, judge.Fail, judge.Inconclusive} {
		m.analyses.WithLabelValues(d.String())
	}
	return m, nil
}

func (m *Metrics) observeState(st State) {
	if m == nil {
		return
	}
	phase := st.Phase
	if phase == "" {
		phase = Idle
	}
	for _, p := range Phases {
		v := 0.0
		if p == phase {
			v = 1
		}
		m.state.WithLabelValues(string(p)).Set(v)
	}
	if c := st.Spec.Canary; c != "" {
		m.weight.WithLabelValues(c).Set(st.Weight)
	}
	if st.Phase.Active() {
		m.stage.Set(float64(st.Stage + 1))
		m.failStreak.Set(float64(st.Failures))
		m.incStreak.Set(float64(st.Inconclusive))
	} else {
		m.stage.Set(0)
		m.failStreak.Set(0)
		m.incStreak.Set(0)
	}
}

func (m *Metrics) observeVerdict(v judge.Verdict, spec Spec) {
	if m == nil {
		return
	}
	m.analyses.WithLabelValues(v.Decision.String()).Inc()
	for _, r := range v.Results {
		mt := string(r.Metric)
		m.verdicts.WithLabelValues(mt, r.Decision.String()).Inc()
		m.pValue.WithLabelValues(mt).Set(r.P)
		m.effect.WithLabelValues(mt).Set(r.Effect)
		m.threshold.WithLabelValues(mt).Set(r.Threshold)
		m.samples.WithLabelValues(mt, spec.Baseline).Set(float64(r.NBaseline))
		m.samples.WithLabelValues(mt, spec.Canary).Set(float64(r.NCanary))
		m.value.WithLabelValues(mt, spec.Baseline).Set(orNaN(r.Baseline))
		m.value.WithLabelValues(mt, spec.Canary).Set(orNaN(r.Canary))
	}
}

func orNaN(v float64) float64 {
	if math.IsInf(v, 0) {
		return math.NaN()
	}
	return v
}

func (m *Metrics) rollback(variant, reason string) {
	if m == nil {
		return
	}
	m.rollbacks.WithLabelValues(variant, reason).Inc()
}

func (m *Metrics) inconclusive(n int) {
	if m == nil {
		return
	}
	m.incStreak.Set(float64(n))
}

func (m *Metrics) inconclusiveAlert() {
	if m == nil {
		return
	}
	m.incAlerts.Inc()
}
