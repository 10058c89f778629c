package engined

import (
	"sync"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/engined/sched"
	"github.com/krserve/krserve/schemas"
)

// streamSink publishes one request's output and records its metrics. It is
// called only by the scheduler goroutine.
type streamSink struct {
	w        *Worker
	sw       *bus.StreamWriter
	id       string
	tokenize int64
	start    time.Time
	first    time.Time
	n        int
	onDone   func(res *sched.Result, err *schemas.Error) // batch jobs collect instead of streaming
	ids      []int32
	text     []byte
	stream   bool
}

func (s *streamSink) Token(ids []int32, text string) {
	if s.first.IsZero() && len(ids) > 0 {
		s.first = time.Now()
	}
	s.n += len(ids)
	if !s.stream {
		s.ids = append(s.ids, ids...)
		s.text = append(s.text, text...)
		return
	}
	if err := s.sw.Token(ids, text); err != nil {
		s.w.log.Warn("publish token", "id", s.id, "err", err)
	}
}

func (s *streamSink) Final(r sched.Result) {
	r.Timings.TokenizeUs = s.tokenize
	if s.stream {
		if err := s.sw.Final(r.Reason, r.Usage, r.Timings, s.w.cfg.WorkerID, s.w.cfg.Variant); err != nil {
			s.w.log.Warn("publish final", "id", s.id, "err", err)
		}
	}
	s.w.observe(s, &r, nil)
	if s.onDone != nil {
		s.onDone(&r, nil)
	}
	s.w.untrack(s.id)
}

func (s *streamSink) Fail(e *schemas.Error) {
	if s.stream {
		if err := s.sw.Error(e); err != nil {
			s.w.log.Warn("publish error", "id", s.id, "err", err)
		}
	}
	s.w.observe(s, nil, e)
	if s.onDone != nil {
		s.onDone(nil, e)
	}
	s.w.untrack(s.id)
}

// window accumulates per-request samples for the next MetricEvent.
type window struct {
	mu       sync.Mutex
	start    time.Time
	requests int64
	errors   int64
	tokens   int64
	ttft     []float32
	itl      []float32
	tps      []float32
	e2e      []float32
	cached   []float32
}

func (w *window) add(s *streamSink, r *sched.Result, e *schemas.Error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.requests++
	if e != nil {
		// Client mistakes and cancellations say nothing about the engine.
		if e.Code >= 500 || e.Code == schemas.CodeTimeout {
			w.errors++
		}
		return
	}
	if r.Reason == schemas.FinishCanceled {
		return
	}
	w.tokens += int64(r.Usage.GeneratedTokens)
	if len(w.ttft) >= schemas.MaxMetricSamples {
		return // the window is full: later requests still count in requests/tokens
	}
	w.ttft = append(w.ttft, float32(r.Timings.TTFTUs)/1000)
	w.e2e = append(w.e2e, float32(r.Timings.TotalUs)/1000)
	if r.Usage.PromptTokens > 0 {
		w.cached = append(w.cached, float32(r.Usage.CachedTokens)/float32(r.Usage.PromptTokens))
	}
	if n := r.Usage.GeneratedTokens; n > 1 {
		decodeUs := r.Timings.TotalUs - r.Timings.TTFTUs
		if decodeUs > 0 {
			w.itl = append(w.itl, float32(decodeUs)/1000/float32(n-1))
			w.tps = append(w.tps, float32(n-1)*1e6/float32(decodeUs))
		}
	}
}

// take returns the window's contents as an event and starts a new window.
func (w *window) take(now time.Time) schemas.MetricEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	ev := schemas.MetricEvent{V: schemas.Version, StartUnixMs: w.start.UnixMilli(), EndUnixMs: now.UnixMilli(),
		Requests: w.requests, Errors: w.errors, Tokens: w.tokens, TTFTMs: w.ttft, ITLMs: w.itl, TokensPerSec: w.tps, E2EMs: w.e2e, CachedFraction: w.cached}
	w.start, w.requests, w.errors, w.tokens = now, 0, 0, 0
	w.ttft, w.itl, w.tps, w.e2e, w.cached = nil, nil, nil, nil, nil
	return ev
}
