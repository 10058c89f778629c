package schemas

// MaxMetricSamples bounds the samples one MetricEvent may carry per series.
const MaxMetricSamples = 4096

// MetricEvent is one window of measurements from one engine worker, published
// on krserve.v1.metrics.<variant>.<worker>. Exactly one process publishes on a
// given subject (one publisher per key), and Seq grows by one per window so
// the controller notices lost or duplicated windows.
//
// Latency series are raw per-request samples (bounded by MaxMetricSamples;
// when a window has more, a uniform reservoir sample is sent and Requests
// still counts all), so the controller can run distribution tests instead of
// comparing averages.
type MetricEvent struct {
	V           int    `msgpack:"v"`
	Variant     string `msgpack:"variant"`
	Worker      string `msgpack:"worker"`
	Seq         uint64 `msgpack:"seq"`
	StartUnixMs int64  `msgpack:"start_ms"`
	EndUnixMs   int64  `msgpack:"end_ms"`
	Requests    int64  `msgpack:"requests"` // completed or failed in the window
	Errors      int64  `msgpack:"errors"`   // failed with a non-client error
	Tokens      int64  `msgpack:"tokens"`   // generated tokens
	// Per-request samples.
	TTFTMs         []float32 `msgpack:"ttft_ms,omitempty"`
	ITLMs          []float32 `msgpack:"itl_ms,omitempty"`          // mean inter-token latency of each request
	TokensPerSec   []float32 `msgpack:"tokens_per_s,omitempty"`    // decode throughput of each request
	E2EMs          []float32 `msgpack:"e2e_ms,omitempty"`          // total latency of each request
	CachedFraction []float32 `msgpack:"cached_fraction,omitempty"` // cached/prompt tokens of each request
}

// Validate implements Message.
func (e *MetricEvent) Validate() error {
	const m = "MetricEvent"
	switch {
	case e.Variant == "":
		return invalid(m, "variant", "missing")
	case e.Worker == "":
		return invalid(m, "worker", "missing")
	case e.EndUnixMs < e.StartUnixMs:
		return invalid(m, "end_ms", "window ends before it starts")
	case e.Requests < 0 || e.Errors < 0 || e.Tokens < 0 || e.Errors > e.Requests:
		return invalid(m, "requests", "counts must be non-negative with errors <= requests")
	}
	for name, s := range map[string][]float32{"ttft_ms": e.TTFTMs, "itl_ms": e.ITLMs, "tokens_per_s": e.TokensPerSec, "e2e_ms": e.E2EMs, "cached_fraction": e.CachedFraction} {
		if len(s) > MaxMetricSamples {
			return invalid(m, name, "%d samples exceeds %d", len(s), MaxMetricSamples)
		}
		for _, x := range s {
			if !finite(x) || x < 0 {
				return invalid(m, name, "sample %v is negative or not finite", x)
			}
		}
	}
	return nil
}

func (e *MetricEvent) version() int { return e.V }
