package sched

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	rejected      prometheus.Counter
	canceled      prometheus.Counter
	preemptions   prometheus.Counter
	forwardErrors prometheus.Counter
	generated     prometheus.Counter
	promptTokens  prometheus.Counter
	cachedTokens  prometheus.Counter
	finished      *prometheus.CounterVec
	failed        *prometheus.CounterVec
	batchTokens   prometheus.Histogram
	stepSeconds   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		rejected:      prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_engine_rejected_total", Help: "Requests rejected because the admission queue was full."}),
		canceled:      prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_engine_canceled_total", Help: "Requests cancelled by their producer."}),
		preemptions:   prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_engine_preemptions_total", Help: "Sequences preempted for lack of KV blocks (recomputed later)."}),
		forwardErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_engine_forward_errors_total", Help: "Forward passes that failed."}),
		generated:     prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_engine_generated_tokens_total", Help: "Tokens generated."}),
		promptTokens:  prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_engine_prompt_tokens_total", Help: "Prompt tokens admitted."}),
		cachedTokens:  prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_engine_cached_prompt_tokens_total", Help: "Prompt tokens whose KV came from the prefix cache."}),
		finished:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "krserve_engine_finished_total", Help: "Requests finished, by finish reason."}, []string{"reason"}),
		failed:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "krserve_engine_failed_total", Help: "Requests failed, by error code."}, []string{"code"}),
		batchTokens:   prometheus.NewHistogram(prometheus.HistogramOpts{Name: "krserve_engine_batch_tokens", Help: "Tokens per forward pass.", Buckets: prometheus.ExponentialBuckets(1, 2, 11)}),
		stepSeconds:   prometheus.NewHistogram(prometheus.HistogramOpts{Name: "krserve_engine_step_seconds", Help: "Duration of one scheduler step (forward pass and sampling).", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
	}
	if reg != nil {
		reg.MustRegister(m.rejected, m.canceled, m.preemptions, m.forwardErrors, m.generated, m.promptTokens, m.cachedTokens, m.finished, m.failed, m.batchTokens, m.stepSeconds)
	}
	return m
}
