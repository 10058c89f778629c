package gateway

import (
	"errors"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Endpoint labels.
const (
	endpointChat   = "chat"
	endpointText   = "completions"
	endpointModels = "models"
	endpointOther  = "other"
)

func endpointOf(path string) string {
	switch {
	case path == "/v1/chat/completions":
		return endpointChat
	case path == "/v1/completions":
		return endpointText
	case strings.HasPrefix(path, "/v1/models"):
		return endpointModels
	}
	return endpointOther
}

type metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	ttft        *prometheus.HistogramVec
	inflight    prometheus.Gauge
	disconnects prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "krserve_gateway_requests_total",
			Help: "HTTP requests answered by the OpenAI-compatible gateway, by endpoint and HTTP status."}, []string{"endpoint", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "krserve_gateway_request_duration_seconds",
			Help: "Time from receiving a generation request to its last byte.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}, []string{"endpoint"}),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "krserve_gateway_time_to_first_token_seconds",
			Help: "Time from receiving a generation request to the pipeline's first message.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}, []string{"endpoint"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "krserve_gateway_inflight_requests",
			Help: "Generation requests being served (bounded by the configured maximum; beyond it requests get 429)."}),
		disconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_gateway_client_disconnects_total",
			Help: "Generations cancelled because the HTTP client went away."}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.ttft, m.inflight, m.disconnects} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, errors.Join(ErrConfig, err)
			}
			return nil, err
		}
	}
	return m, nil
}
