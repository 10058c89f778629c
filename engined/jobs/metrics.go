package jobs

import "github.com/prometheus/client_golang/prometheus"

// metrics of one Consumer. Each counter counts job deliveries handled by
// this process.
type metrics struct {
	completed    prometheus.Counter
	failed       *prometheus.CounterVec
	duplicates   prometheus.Counter
	redelivered  prometheus.Counter
	deadLettered prometheus.Counter
	retried      *prometheus.CounterVec
	inFlight     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		completed: prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_jobs_completed_total",
			Help: "Batch jobs finished with a stored done result."}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "krserve_jobs_failed_total",
			Help: "Batch jobs finished with a stored failed result (bad job or dead-lettered), by error code."}, []string{"code"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_jobs_duplicates_skipped_total",
			Help: "Job deliveries acknowledged without running because a result was already stored."}),
		redelivered: prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_jobs_redelivered_total",
			Help: "Job deliveries received that were not the first delivery of their job."}),
		deadLettered: prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_jobs_dead_lettered_total",
			Help: "Jobs copied to the dead-letter stream and terminated."}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "krserve_jobs_retried_total",
			Help: "Job deliveries negatively acknowledged for a later retry, by error code."}, []string{"code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "krserve_jobs_in_flight",
			Help: "Jobs this engine holds: fetched and not yet acknowledged."}),
	}
	if reg != nil {
		reg.MustRegister(m.completed, m.failed, m.duplicates, m.redelivered, m.deadLettered, m.retried, m.inFlight)
	}
	return m
}
