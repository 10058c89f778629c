package sched

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync/atomic"
	"time"

	"github.com/krserve/krserve/engined/kvpool"
	"github.com/krserve/krserve/engined/llama"
	"github.com/krserve/krserve/schemas"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	// ErrQueueFull means the admission queue is at its bound. Reply
	// "overloaded" to the producer; it may retry after a back-off.
	ErrQueueFull = schemas.NewError(schemas.CodeOverloaded, "engine admission queue is full")
	// ErrStopped means the scheduler is not running (shut down or draining).
	ErrStopped = schemas.NewError(schemas.CodeNoWorker, "engine scheduler is stopped")
)

// Model is the part of the transformer the scheduler drives.
type Model interface {
	Forward(st *llama.State, b *llama.Batch, kv *llama.KVArena, logits []float32) error
}

// Clock is the time source.
type Clock interface{ Now() time.Time }

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// Config bounds the scheduler.
type Config struct {
	MaxQueue         int     // waiting requests; Submit fails with ErrQueueFull beyond it
	MaxRunning       int     // sequences decoding at once (≤ the pool's max_sequences)
	MaxBatchTokens   int     // tokens per forward pass (decode tokens + prefill chunks)
	PrefillChunk     int     // most prompt tokens of one sequence per step
	ContextLen       int     // model context; prompt + generated never exceed it
	DefaultMaxTokens int     // when a request sets none
	Vocab            int     // logits per row
	EOS              []int32 // ids that end generation
	// Slowdown, when > 0, stretches every step by that fraction of its own
	// duration (0.25 = 20 % fewer tokens/s). A fault knob for rollout tests.
	Slowdown float64
}

// Validate checks the bounds.
func (c Config) Validate() error {
	switch {
	case c.MaxQueue < 1:
		return fmt.Errorf("sched: max queue %d < 1", c.MaxQueue)
	case c.MaxRunning < 1:
		return fmt.Errorf("sched: max running %d < 1", c.MaxRunning)
	case c.MaxBatchTokens < c.MaxRunning:
		return fmt.Errorf("sched: max batch tokens %d below max running %d (every running sequence needs a decode slot)", c.MaxBatchTokens, c.MaxRunning)
	case c.PrefillChunk < 1:
		return fmt.Errorf("sched: prefill chunk %d < 1", c.PrefillChunk)
	case c.ContextLen < 2:
		return fmt.Errorf("sched: context length %d < 2", c.ContextLen)
	case c.DefaultMaxTokens < 1:
		return fmt.Errorf("sched: default max tokens %d < 1", c.DefaultMaxTokens)
	case c.Vocab < 1:
		return fmt.Errorf("sched: vocab %d < 1", c.Vocab)
	case c.Slowdown < 0:
		return fmt.Errorf("sched: slowdown %v < 0", c.Slowdown)
	}
	return nil
}

// Deps are the scheduler's collaborators.
type Deps struct {
	Model      Model
	Pool       *kvpool.Pool
	Arena      *llama.KVArena
	State      *llama.State // sized for MaxBatchTokens
	Clock      Clock
	Registerer prometheus.Registerer
}

// Scheduler runs continuous batching. Build with New, run with Run.
type Scheduler struct {
	cfg    Config
	deps   Deps
	clock  Clock
	submit chan *Request
	cancel chan string
	m      *metrics

	running  atomic.Int32
	waiting  atomic.Int32
	stopped  atomic.Bool
	slowdown atomic.Uint64 // math.Float64bits of the fault slowdown

	// Owned by Run.
	queue    []*seq // waiting, incl. preempted
	active   []*seq // admitted
	byID     map[string]*seq
	batch    llama.Batch
	logits   []float32
	arrival  uint64
	debt     time.Duration // fault-knob delay not yet slept
	lastStep time.Time     // end of the previous step (fault knob)
	busy     bool          // sequences were active after the previous step
	sleep    func(time.Duration)
}

// seq is a request's scheduling state.
type seq struct {
	req       *Request
	kv        *kvpool.Sequence
	tokens    []int32 // prompt + generated
	promptLen int
	generated int
	maxTokens int
	arrival   uint64
	cached    int // prompt tokens reused at first admission
	admitted  bool
	table     []int32
	stop      stopper
	submitted time.Time
	firstTok  time.Time
	prefillAt time.Time
	queueUs   int64
	prefillUs int64
	preempted int
}

// New validates cfg and deps; it starts nothing.
func New(cfg Config, deps Deps) (*Scheduler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Model == nil || deps.Pool == nil || deps.Arena == nil || deps.State == nil {
		return nil, errors.New("sched: model, pool, arena and state are required")
	}
	if deps.Clock == nil {
		deps.Clock = wallClock{}
	}
	if cfg.MaxTokensLimit() > deps.Pool.Config().MaxTokensPerSequence {
		cfg.ContextLen = deps.Pool.Config().MaxTokensPerSequence
	}
	s := &Scheduler{
		cfg: cfg, deps: deps, clock: deps.Clock,
		submit: make(chan *Request, cfg.MaxQueue),
		cancel: make(chan string, 1024),
		m:      newMetrics(deps.Registerer),
		byID:   map[string]*seq{},
		logits: make([]float32, cfg.MaxRunning*cfg.Vocab),
	}
	s.sleep = time.Sleep
	s.SetSlowdown(cfg.Slowdown)
	return s, nil
}

// throttle applies the fault knob. Steps are often shorter than the sleep
// granularity, so the wanted delay accumulates as debt and is slept off in
// chunks of at least 100 µs, crediting what each sleep really took:
// the average slowdown is exact without busy-waiting.
func (s *Scheduler) throttle(step time.Duration) {
	f := math.Float64frombits(s.slowdown.Load())
	if f <= 0 {
		s.debt = 0
		return
	}
	s.debt += time.Duration(float64(step) * f)
	if s.debt < 100*time.Microsecond {
		return
	}
	start := s.clock.Now()
	s.sleep(s.debt)
	s.debt -= s.clock.Now().Sub(start)
}

// SetSlowdown changes the fault knob live (see Config.Slowdown); values
// below zero count as zero.
func (s *Scheduler) SetSlowdown(f float64) {
	s.slowdown.Store(math.Float64bits(max(0, f)))
}

// MaxTokensLimit is the most tokens (prompt + generated) one sequence may hold.
func (c Config) MaxTokensLimit() int { return c.ContextLen }

// Submit enqueues a request without blocking. It fails with ErrQueueFull
// when the queue is at its bound, ErrStopped after Run returned, and a
// CodeTooLarge error when the prompt cannot fit the context.
func (s *Scheduler) Submit(r *Request) error {
	if s.stopped.Load() {
		return ErrStopped
	}
	if len(r.Prompt) == 0 {
		return schemas.NewError(schemas.CodeBadRequest, "empty prompt")
	}
	if len(r.Prompt) >= s.cfg.ContextLen {
		return schemas.NewError(schemas.CodeTooLarge, "prompt of %d tokens does not fit the context of %d", len(r.Prompt), s.cfg.ContextLen)
	}
	for _, id := range r.Prompt {
		if id < 0 || int(id) >= s.cfg.Vocab {
			return schemas.NewError(schemas.CodeBadRequest, "prompt token %d is outside the vocabulary (%d)", id, s.cfg.Vocab)
		}
	}
	if r.Received.IsZero() {
		r.Received = s.clock.Now()
	}
	// The waiting gauge counts queued submissions too, so the bound covers
	// the channel and the internal queue together.
	if int(s.waiting.Add(1)) > s.cfg.MaxQueue {
		s.waiting.Add(-1)
		s.m.rejected.Inc()
		return ErrQueueFull
	}
	select {
	case s.submit <- r:
		return nil
	default:
		s.waiting.Add(-1)
		s.m.rejected.Inc()
		return ErrQueueFull
	}
}

// Cancel stops a request (queued or running) and frees its blocks; its Sink
// gets Final with FinishCanceled. Unknown ids are ignored.
func (s *Scheduler) Cancel(id string) {
	select {
	case s.cancel <- id:
	default:
		// The loop is far behind; it drains cancels every step, so a full
		// buffer means earlier cancels are still pending. Block briefly.
		s.cancel <- id
	}
}

// Load reports running and waiting sequences.
func (s *Scheduler) Load() (running, waiting int) {
	return int(s.running.Load()), int(s.waiting.Load())
}

// Run schedules until ctx is done. On return every request still held got
// Fail with CodeNoWorker (retryable), so nothing is lost silently.
func (s *Scheduler) Run(ctx context.Context) error {
	defer s.shutdown()
	for {
		if len(s.active) == 0 && len(s.queue) == 0 {
			select {
			case <-ctx.Done():
				return nil
			case r := <-s.submit:
				s.enqueue(r)
			case id := <-s.cancel:
				s.doCancel(id)
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		s.drainInputs()
		s.expire()
		s.admit()
		if len(s.active) == 0 {
			continue
		}
		start := s.clock.Now()
		if err := s.step(); err != nil {
			return err
		}
		end := s.clock.Now()
		el := end.Sub(start)
		s.m.stepSeconds.Observe(el.Seconds())
		// The fault knob stretches the whole cycle since the previous step
		// (forward pass, sampling, streaming, admission), so it slows the
		// inter-token time by the configured fraction; an idle gap before
		// the step does not count.
		cycle := el
		if !s.lastStep.IsZero() && s.busy {
			cycle = end.Sub(s.lastStep)
		}
		s.throttle(cycle)
		// The next cycle starts after the delay, so delays do not compound.
		s.lastStep, s.busy = s.clock.Now(), len(s.active) > 0
	}
}

func (s *Scheduler) shutdown() {
	s.stopped.Store(true)
	for {
		select {
		case r := <-s.submit:
			s.enqueue(r)
			continue
		default:
		}
		break
	}
	for _, q := range append(s.active, s.queue...) {
		s.finish(q, nil, schemas.NewError(schemas.CodeNoWorker, "engine shut down before the request finished"))
	}
	s.active, s.queue = nil, nil
}

func (s *Scheduler) drainInputs() {
	for {
		select {
		case r := <-s.submit:
			s.enqueue(r)
		case id := <-s.cancel:
			s.doCancel(id)
		default:
			return
		}
	}
}

func (s *Scheduler) enqueue(r *Request) {
	s.arrival++
	q := &seq{req: r, tokens: append([]int32(nil), r.Prompt...), promptLen: len(r.Prompt), arrival: s.arrival,
		submitted: s.clock.Now(), stop: newStopper(r.Stop)}
	q.maxTokens = r.MaxTokens
	if q.maxTokens <= 0 {
		q.maxTokens = s.cfg.DefaultMaxTokens
	}
	if room := s.cfg.ContextLen - len(r.Prompt); q.maxTokens > room {
		q.maxTokens = room
	}
	if _, dup := s.byID[r.ID]; dup || r.ID == "" {
		s.waiting.Add(-1)
		r.Sink.Fail(schemas.NewError(schemas.CodeBadRequest, "request id %q is empty or already in flight", r.ID))
		return
	}
	s.byID[r.ID] = q
	s.queue = append(s.queue, q)
}

func (s *Scheduler) doCancel(id string) {
	q, ok := s.byID[id]
	if !ok {
		return
	}
	s.m.canceled.Inc()
	s.finishOK(q, schemas.FinishCanceled)
}

func (s *Scheduler) expire() {
	if len(s.byID) == 0 {
		return
	}
	now := s.clock.Now()
	for _, q := range append(append([]*seq(nil), s.active...), s.queue...) {
		if d := q.req.Deadline; !d.IsZero() && now.After(d) {
			s.finish(q, nil, schemas.NewError(schemas.CodeTimeout, "deadline passed after %d generated tokens", q.generated))
		}
	}
}

// admit moves waiting sequences into the pool, highest priority first, then
// oldest.
func (s *Scheduler) admit() {
	if len(s.queue) == 0 {
		return
	}
	sort.SliceStable(s.queue, func(i, j int) bool {
		a, b := s.queue[i], s.queue[j]
		if a.req.Priority != b.req.Priority {
			return a.req.Priority > b.req.Priority
		}
		return a.arrival < b.arrival
	})
	for len(s.queue) > 0 && len(s.active) < s.cfg.MaxRunning {
		q := s.queue[0]
		kv, err := s.deps.Pool.Acquire(kvpool.AcquireRequest{SeqID: q.req.ID, Tokens: q.tokens, Salt: q.req.Salt, ConversationID: q.req.ConversationID})
		if err != nil {
			if errors.Is(err, kvpool.ErrPoolExhausted) && len(s.active) > 0 {
				return // wait for running sequences to free blocks
			}
			if errors.Is(err, kvpool.ErrTooManySequences) && len(s.active) > 0 {
				return
			}
			s.queue = s.queue[1:]
			code := schemas.CodeInternal
			if errors.Is(err, kvpool.ErrPoolExhausted) || errors.Is(err, kvpool.ErrSequenceTooLong) {
				code = schemas.CodeTooLarge
			}
			s.finish(q, nil, schemas.NewError(code, "kv pool: %v", err))
			continue
		}
		s.queue = s.queue[1:]
		s.waiting.Add(-1)
		s.running.Add(1)
		q.kv = kv
		now := s.clock.Now()
		if !q.admitted {
			q.admitted = true
			q.cached = kv.CachedTokens()
			q.queueUs = now.Sub(q.submitted).Microseconds()
			q.prefillAt = now
			s.m.cachedTokens.Add(float64(q.cached))
			s.m.promptTokens.Add(float64(q.promptLen))
		}
		s.active = append(s.active, q)
	}
}

// step runs one batched forward pass.
func (s *Scheduler) step() error {
	b := &s.batch
	b.Tokens, b.Pos, b.Seq, b.Logits = b.Tokens[:0], b.Pos[:0], b.Seq[:0], b.Logits[:0]
	b.Tables = b.Tables[:0]
	budget := s.cfg.MaxBatchTokens
	type part struct {
		q      *seq
		n      int
		logits bool
	}
	parts := make([]part, 0, len(s.active))
	// Decode tokens first (one per generating sequence), then prefill chunks.
	for pass := 0; pass < 2; pass++ {
		for i := 0; i < len(s.active) && budget > 0; i++ {
			q := s.active[i]
			computed := q.kv.Computed()
			remaining := len(q.tokens) - computed
			decoding := computed >= q.promptLen
			if (pass == 0) != decoding || remaining <= 0 {
				continue
			}
			n := min(remaining, budget)
			if !decoding {
				n = min(n, s.cfg.PrefillChunk)
			}
			idx := int32(len(b.Tables))
			q.table = q.kv.AppendTable(q.table[:0])
			b.Tables = append(b.Tables, q.table)
			for k := 0; k < n; k++ {
				b.Tokens = append(b.Tokens, q.tokens[computed+k])
				b.Pos = append(b.Pos, int32(computed+k))
				b.Seq = append(b.Seq, idx)
			}
			wantLogits := computed+n == len(q.tokens)
			if wantLogits {
				b.Logits = append(b.Logits, int32(len(b.Tokens)-1))
			}
			parts = append(parts, part{q, n, wantLogits})
			budget -= n
		}
	}
	if len(b.Tokens) == 0 {
		return nil
	}
	s.m.batchTokens.Observe(float64(len(b.Tokens)))
	if err := s.deps.Model.Forward(s.deps.State, b, s.deps.Arena, s.logits[:len(b.Logits)*s.cfg.Vocab]); err != nil {
		// A forward failure is a bug or a corrupt model: fail this step's
		// sequences rather than the worker.
		for _, p := range parts {
			s.finish(p.q, nil, schemas.NewError(schemas.CodeInternal, "forward pass: %v", err))
		}
		s.m.forwardErrors.Inc()
		return nil
	}
	row := 0
	for _, p := range parts {
		q := p.q
		if q.kv == nil {
			continue
		}
		if err := q.kv.Commit(q.kv.Computed() + p.n); err != nil {
			s.finish(q, nil, schemas.NewError(schemas.CodeInternal, "kv commit: %v", err))
			continue
		}
		if !p.logits {
			continue
		}
		logits := s.logits[row*s.cfg.Vocab : (row+1)*s.cfg.Vocab]
		row++
		if q.prefillUs == 0 && q.generated == 0 {
			q.prefillUs = s.clock.Now().Sub(q.prefillAt).Microseconds()
		}
		s.emitNext(q, q.req.Sampler.Sample(logits, q.tokens))
	}
	return nil
}

// emitNext handles a sampled token: stop checks, streaming, and reserving
// its KV slot for the next step.
func (s *Scheduler) emitNext(q *seq, tok int32) {
	q.generated++
	s.m.generated.Inc()
	if q.firstTok.IsZero() {
		q.firstTok = s.clock.Now()
	}
	for _, e := range s.cfg.EOS {
		if tok == e {
			s.flushText(q)
			s.finishOK(q, schemas.FinishStop)
			return
		}
	}
	for _, e := range q.req.StopIDs {
		if tok == e {
			s.flushText(q)
			s.finishOK(q, schemas.FinishStop)
			return
		}
	}
	q.tokens = append(q.tokens, tok)
	text := ""
	stopped := false
	if q.req.Decoder != nil {
		text, stopped = q.stop.push(q.req.Decoder.Push(tok))
	}
	q.req.Sink.Token([]int32{tok}, text)
	if stopped {
		s.finishOK(q, schemas.FinishStop)
		return
	}
	if q.generated >= q.maxTokens || len(q.tokens) >= s.cfg.ContextLen {
		s.flushText(q)
		s.finishOK(q, schemas.FinishLength)
		return
	}
	// Reserve the new token's position; preempt others when the pool is full.
	for {
		err := q.kv.AppendTokens(tok)
		if err == nil {
			return
		}
		if !errors.Is(err, kvpool.ErrPoolExhausted) {
			s.finish(q, nil, schemas.NewError(schemas.CodeInternal, "kv append: %v", err))
			return
		}
		victim := s.newestOtherThan(q)
		if victim == nil {
			// Alone and still out of blocks: preempt itself and retry later.
			s.preempt(q)
			return
		}
		s.preempt(victim)
	}
}

func (s *Scheduler) flushText(q *seq) {
	if q.req.Decoder == nil {
		return
	}
	tail, _ := q.stop.push(q.req.Decoder.Flush())
	tail += q.stop.flush()
	if tail != "" {
		q.req.Sink.Token(nil, tail)
	}
}

func (s *Scheduler) newestOtherThan(q *seq) *seq {
	var v *seq
	for _, a := range s.active {
		if a != q && a.kv != nil && (v == nil || a.req.Priority < v.req.Priority || (a.req.Priority == v.req.Priority && a.arrival > v.arrival)) {
			v = a
		}
	}
	return v
}

// preempt releases a running sequence's blocks and puts it back at the
// front of the queue; its tokens so far are recomputed on re-admission.
func (s *Scheduler) preempt(q *seq) {
	s.m.preemptions.Inc()
	q.preempted++
	q.kv.Release()
	q.kv = nil
	s.removeActive(q)
	s.running.Add(-1)
	s.waiting.Add(1)
	s.queue = append([]*seq{q}, s.queue...)
}

func (s *Scheduler) removeActive(q *seq) {
	for i, a := range s.active {
		if a == q {
			s.active = append(s.active[:i], s.active[i+1:]...)
			return
		}
	}
}

func (s *Scheduler) removeQueued(q *seq) bool {
	for i, a := range s.queue {
		if a == q {
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
			return true
		}
	}
	return false
}

func (s *Scheduler) finishOK(q *seq, reason schemas.FinishReason) {
	now := s.clock.Now()
	t := schemas.Timings{QueueUs: q.queueUs, PrefillUs: q.prefillUs, TotalUs: now.Sub(q.req.Received).Microseconds()}
	if !q.firstTok.IsZero() {
		t.TTFTUs = q.firstTok.Sub(q.req.Received).Microseconds()
	}
	res := Result{Reason: reason, Timings: t, IDs: q.tokens[q.promptLen:],
		Usage: schemas.Usage{PromptTokens: int32(q.promptLen), CachedTokens: int32(q.cached), GeneratedTokens: int32(q.generated)}}
	s.finish(q, &res, nil)
}

// finish ends a request exactly once: releases its blocks, removes it from
// the scheduler and tells its Sink.
func (s *Scheduler) finish(q *seq, res *Result, fail *schemas.Error) {
	if _, ok := s.byID[q.req.ID]; !ok {
		return
	}
	delete(s.byID, q.req.ID)
	if q.kv != nil {
		q.kv.Release()
		q.kv = nil
		s.removeActive(q)
		s.running.Add(-1)
	} else if s.removeQueued(q) {
		s.waiting.Add(-1)
	}
	if fail != nil {
		s.m.failed.WithLabelValues(fail.Code.String()).Inc()
		q.req.Sink.Fail(fail)
		return
	}
	s.m.finished.WithLabelValues(string(res.Reason)).Inc()
	q.req.Sink.Final(*res)
}
