package tokenizer

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of one Pool.
type metrics struct {
	texts    *prometheus.CounterVec // by path: parallel, sequential, fallback
	bytes    prometheus.Counter
	rejected *prometheus.CounterVec // by op: async, helper
	errors   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, p *Pool) (*metrics, error) {
	m := &metrics{
		texts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "krserve_tokenizer_encoded_texts_total",
			Help: "Texts (or EncodeLong chunks) encoded by the pool, by path: parallel (a worker), sequential (the caller), fallback (sequential after a parallel failure).",
		}, []string{"path"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "krserve_tokenizer_encoded_bytes_total",
			Help: "Bytes of text encoded by the pool.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "krserve_tokenizer_queue_rejected_total",
			Help: "Tasks not queued because the queue was full: async encodes (failed with ErrQueueFull) and batch helpers (the caller did the work).",
		}, []string{"op"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "krserve_tokenizer_worker_errors_total",
			Help: "Parallel encodes that failed in a worker.",
		}),
	}
	for _, path := range []string{"parallel", "sequential", "fallback"} {
		m.texts.WithLabelValues(path)
	}
	m.rejected.WithLabelValues("async")
	m.rejected.WithLabelValues("helper")
	if reg == nil {
		return m, nil
	}
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "krserve_tokenizer_queue_depth",
		Help: "Tasks waiting for a tokenizer worker.",
	}, func() float64 { return float64(len(p.queue)) })
	capacity := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "krserve_tokenizer_queue_capacity",
		Help: "Capacity of the tokenizer queue (thread_pool_size).",
	}, func() float64 { return float64(cap(p.queue)) })
	for _, c := range []prometheus.Collector{m.texts, m.bytes, m.rejected, m.errors, depth, capacity} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("tokenizer: metrics already registered (one Pool per registry): %w", err)
			}
			return nil, fmt.Errorf("tokenizer: register metrics: %w", err)
		}
	}
	return m, nil
}
