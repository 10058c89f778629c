package controller

import "github.com/prometheus/client_golang/prometheus"

// metrics are the controller's own metrics (rollout and regress register
// theirs).
type metrics struct {
	events     *prometheus.CounterVec
	lastEvent  *prometheus.GaugeVec
	bad        *prometheus.CounterVec
	gaps       *prometheus.CounterVec
	duplicates *prometheus.CounterVec
	restarts   *prometheus.CounterVec
	leader     prometheus.Gauge
	tickErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "krserve_controller_metric_events_total",
			Help: "Metric events used, per variant."}, []string{"variant"}),
		lastEvent: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "krserve_controller_last_event_timestamp_seconds",
			Help: "Unix time of the last metric event used, per variant."}, []string{"variant"}),
		bad: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "krserve_controller_bad_metric_events_total",
			Help: "Metric messages dropped, by reason (decode, subject, subject_mismatch, too_many_variants)."}, []string{"reason"}),
		gaps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "krserve_controller_metric_event_gaps_total",
			Help: "Metric windows missing (publisher sequence numbers skipped), per variant."}, []string{"variant"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "krserve_controller_metric_event_duplicates_total",
			Help: "Metric windows received twice or out of order and dropped, per variant."}, []string{"variant"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "krserve_controller_metric_publisher_restarts_total",
			Help: "Metric publishers that started again from sequence 1, per variant."}, []string{"variant"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "krserve_controller_leader",
			Help: "1 while this controller holds the lease and acts."}),
		tickErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_controller_tick_errors_total",
			Help: "Control loop rounds that failed (KV unreachable, conflicts)."}),
	}
	for _, c := range []prometheus.Collector{m.events, m.lastEvent, m.bad, m.gaps, m.duplicates, m.restarts, m.leader, m.tickErrors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, r := range []string{badDecode, badSubject, badVariants, badSubjects} {
		m.bad.WithLabelValues(r)
	}
	return m, nil
}
