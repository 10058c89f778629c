package route

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/krserve/krserve/schemas"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrNoWorker means the variant has no live, non-draining worker known to the
// router. The caller should fall back to the variant's queue group subject,
// which reaches any worker that is up (or fails at once with no responders).
var ErrNoWorker = errors.New("route: no live worker in variant")

// Clock is the time source (injected so tests control time).
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Config holds the routing policy.
type Config struct {
	PrefillWeight float64 // cost of one uncached prompt block
	LoadWeight    float64 // cost of one running or waiting sequence
	LoadBound     float64 // skip workers with load > LoadBound × mean + 1 (≤ 0: no bound)
	MinBoundLoad  int     // the bound applies only to workers running at least this many sequences
	StaleAfter    float64 // heartbeat intervals after which a silent worker is dead
}

// DefaultConfig is a policy that prefers cache hits but spreads load.
func DefaultConfig() Config {
	return Config{PrefillWeight: 1, LoadWeight: 0.5, LoadBound: 2, MinBoundLoad: 8, StaleAfter: 1.5}
}

// Validate checks the weights.
func (c Config) Validate() error {
	switch {
	case c.PrefillWeight < 0 || math.IsNaN(c.PrefillWeight):
		return fmt.Errorf("route: prefill weight %v is negative", c.PrefillWeight)
	case c.LoadWeight < 0 || math.IsNaN(c.LoadWeight):
		return fmt.Errorf("route: load weight %v is negative", c.LoadWeight)
	case c.StaleAfter < 1:
		return fmt.Errorf("route: stale-after %v must be at least one heartbeat interval", c.StaleAfter)
	}
	return nil
}

// Deps are the router's injected dependencies.
type Deps struct {
	Clock      Clock                 // nil = wall clock
	Registerer prometheus.Registerer // nil = unregistered metrics
}

type worker struct {
	id, variant, subject string
	state                schemas.WorkerState
	load                 int // running + waiting at the last heartbeat
	pending              int // picks since the last heartbeat
	lastSeen             time.Time
	interval             time.Duration
	blocks               map[uint64]struct{}
	kvSeq                uint64
	kvSeen               bool
}

// Router holds the routing index.
type Router struct {
	cfg     Config
	clock   Clock
	mu      sync.Mutex
	workers map[string]*worker
	metrics *metrics
}

// New returns an empty router.
func New(cfg Config, deps Deps) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Clock == nil {
		deps.Clock = systemClock{}
	}
	return &Router{cfg: cfg, clock: deps.Clock, workers: map[string]*worker{}, metrics: newMetrics(deps.Registerer)}, nil
}

func (r *Router) workerLocked(id string) *worker {
	w := r.workers[id]
	if w == nil {
		w = &worker{id: id, blocks: map[uint64]struct{}{}}
		r.workers[id] = w
	}
	return w
}

// ObserveHeartbeat records an engine heartbeat (other roles are ignored).
func (r *Router) ObserveHeartbeat(h *schemas.Heartbeat) {
	if h.Role != "engine" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if h.State == schemas.StateStopped {
		delete(r.workers, h.Worker)
		return
	}
	w := r.workerLocked(h.Worker)
	w.variant, w.subject, w.state = h.Variant, h.Subject, h.State
	w.load = int(h.Running + h.Waiting)
	w.pending = 0
	w.lastSeen = r.clock.Now()
	w.interval = time.Duration(h.IntervalMs) * time.Millisecond
}

// ObserveKV applies a batch of KV block events from one worker.
func (r *Router) ObserveKV(e *schemas.KVEvents) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.workerLocked(e.Worker)
	if w.kvSeen && e.Seq != w.kvSeq+1 {
		// A lost batch: the index may claim blocks the worker evicted or miss
		// blocks it holds. Start over from this batch.
		clear(w.blocks)
		r.metrics.kvResets.Inc()
	}
	w.kvSeq, w.kvSeen = e.Seq, true
	for _, ev := range e.Events {
		switch ev.Kind {
		case schemas.KVStored:
			w.blocks[ev.Hash] = struct{}{}
		case schemas.KVRemoved:
			delete(w.blocks, ev.Hash)
		case schemas.KVCleared:
			clear(w.blocks)
		}
	}
}

// Forget removes a worker (e.g. when its heartbeat subject reports it gone).
func (r *Router) Forget(workerID string) {
	r.mu.Lock()
	delete(r.workers, workerID)
	r.mu.Unlock()
}

// Choice is the routing decision for one request.
type Choice struct {
	Worker       string
	Subject      string
	CachedBlocks int     // prompt blocks the worker is believed to hold
	Cost         float64 //
}

// Pick chooses a worker of variant for a prompt with the given chained
// block hashes. key is the conversation id, or the request id when there is
// none. It returns ErrNoWorker when the variant has no live worker.
func (r *Router) Pick(variant, key string, hashes []uint64) (Choice, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	live := make([]*worker, 0, len(r.workers))
	total := 0
	for _, w := range r.workers {
		if w.variant != variant || w.state != schemas.StateReady || w.subject == "" {
			continue
		}
		if now.Sub(w.lastSeen) > time.Duration(r.cfg.StaleAfter*float64(w.interval)) {
			continue
		}
		live = append(live, w)
		total += w.load + w.pending
	}
	if len(live) == 0 {
		r.metrics.picks.WithLabelValues("none").Inc()
		return Choice{}, ErrNoWorker
	}
	bound := math.Inf(1)
	if r.cfg.LoadBound > 0 {
		bound = r.cfg.LoadBound*float64(total)/float64(len(live)) + 1
	}
	var best *worker
	var bestCost float64
	var bestCached int
	var bestRank uint64
	// Two passes: workers within the load bound first; everyone if none is.
	for pass := 0; pass < 2 && best == nil; pass++ {
		// The conversation's rendezvous favourite among the candidates. A
		// worker that publishes no KV events is assumed to hold the blocks of
		// the conversations it is the favourite of: that is where they went.
		var fav *worker
		var favRank uint64
		for _, w := range live {
			if pass == 0 && r.over(w.load+w.pending, bound) {
				continue
			}
			if rank := rendezvous(key, w.id); fav == nil || rank > favRank {
				fav, favRank = w, rank
			}
		}
		for _, w := range live {
			load := w.load + w.pending
			if pass == 0 && r.over(load, bound) {
				continue
			}
			cached := 0
			if !w.kvSeen && w == fav {
				cached = len(hashes)
			}
			for _, h := range hashes {
				if !w.kvSeen {
					break
				}
				if _, ok := w.blocks[h]; !ok {
					break
				}
				cached++
			}
			cost := r.cfg.PrefillWeight*float64(len(hashes)-cached) + r.cfg.LoadWeight*float64(load)
			rank := rendezvous(key, w.id)
			if best == nil || cost < bestCost || (cost == bestCost && rank > bestRank) {
				best, bestCost, bestCached, bestRank = w, cost, cached, rank
			}
		}
	}
	best.pending++
	outcome := "miss"
	if bestCached > 0 {
		outcome = "hit"
	}
	r.metrics.picks.WithLabelValues(outcome).Inc()
	return Choice{Worker: best.id, Subject: best.subject, CachedBlocks: bestCached, Cost: bestCost}, nil
}

// over reports whether a load is beyond the bounded-load limit.
func (r *Router) over(load int, bound float64) bool {
	return load >= r.cfg.MinBoundLoad && float64(load) > bound
}

// Workers lists the known workers of a variant that are live now, sorted.
func (r *Router) Workers(variant string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	var out []string
	for _, w := range r.workers {
		if w.variant == variant && w.state == schemas.StateReady && now.Sub(w.lastSeen) <= time.Duration(r.cfg.StaleAfter*float64(w.interval)) {
			out = append(out, w.id)
		}
	}
	sort.Strings(out)
	return out
}

// rendezvous is the highest-random-weight hash of (key, worker).
func rendezvous(key, worker string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	h.Write([]byte{0})
	h.Write([]byte(worker))
	x := h.Sum64()
	// fnv's low bits mix poorly for short inputs; finish with a 64-bit mixer.
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

type metrics struct {
	picks    *prometheus.CounterVec
	kvResets prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		picks:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "krserve_route_picks_total", Help: "Routing decisions by outcome: hit (prefix cached on the chosen worker), miss, none (no live worker)."}, []string{"outcome"}),
		kvResets: prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_route_kv_index_resets_total", Help: "Worker block indexes dropped after a gap in KV event sequence numbers."}),
	}
	if reg != nil {
		reg.MustRegister(m.picks, m.kvResets)
	}
	return m
}
