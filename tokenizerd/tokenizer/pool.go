package tokenizer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Pool errors; compare with errors.Is.
var (
	// ErrQueueFull means every worker is busy and the queue
	// (thread_pool_size) is full. Retry later, shed the request, or encode
	// on the calling goroutine with Tokenizer.Encode.
	ErrQueueFull = errors.New("tokenizer: encode queue full")
	// ErrClosed means the pool has stopped: Close was called or Run's
	// context ended. Use a new Pool. (Work submitted before Run starts is
	// queued and served once it does.)
	ErrClosed = errors.New("tokenizer: pool closed")
	// ErrWorker means an encode failed inside a worker and FallbackOnError
	// is off. Turn FallbackOnError on, or encode sequentially.
	ErrWorker = errors.New("tokenizer: parallel encode failed")
)

// Result is the outcome of EncodeAsync.
type Result struct {
	IDs []int32
	Err error
}

// task is what the queue holds: run on a worker, or abort when the pool
// stops before a worker took it.
type task interface {
	run()
	abort(err error)
}

const (
	stateIdle = iota
	stateRunning
	stateClosed
)

// Pool is a bounded pool of encoding workers over one Tokenizer. NewPool
// starts nothing; Run starts the workers and blocks; Close stops them and
// waits. All methods are safe for concurrent use.
type Pool struct {
	t   *Tokenizer
	cfg ParallelConfig
	met *metrics

	queue chan task

	mu    sync.RWMutex // guards state; held shared while sending to queue
	state int
	stop  chan struct{} // closed by Close
	done  chan struct{} // closed when Run returns

	// failHook, when set (tests), runs before each encode on a worker; an
	// error makes that encode fail as a broken worker would.
	failHook func(text string) error
}

// NewPool validates cfg and builds a pool over t. Metrics are registered
// with reg when it is not nil.
func NewPool(t *Tokenizer, cfg ParallelConfig, reg prometheus.Registerer) (*Pool, error) {
	if t == nil {
		return nil, fmt.Errorf("%w: nil tokenizer", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Pool{t: t, cfg: cfg.resolved(), stop: make(chan struct{}), done: make(chan struct{})}
	p.queue = make(chan task, p.cfg.ThreadPoolSize)
	var err error
	if p.met, err = newMetrics(reg, p); err != nil {
		return nil, err
	}
	return p, nil
}

// Config returns the configuration with defaults filled in.
func (p *Pool) Config() ParallelConfig { return p.cfg }

// Tokenizer returns the tokenizer the pool encodes with.
func (p *Pool) Tokenizer() *Tokenizer { return p.t }

// Run starts NumThreads workers and blocks until ctx is done or Close is
// called. It then stops accepting work, waits for the workers to finish
// the task each is on, fails every task still queued with ErrClosed, and
// returns nil. A pool runs once: Run on a pool already closed returns nil
// at once (so Close may win the race with a Run started in a goroutine), and
// a second Run while one is running is an error.
func (p *Pool) Run(ctx context.Context) error {
	p.mu.Lock()
	switch p.state {
	case stateClosed:
		p.mu.Unlock()
		return nil
	case stateRunning:
		p.mu.Unlock()
		return errors.New("tokenizer: Pool.Run called while running")
	}
	p.state = stateRunning
	p.mu.Unlock()
	defer close(p.done)

	quit := make(chan struct{})
	var wg sync.WaitGroup
	for range p.cfg.NumThreads {
		wg.Go(func() {
			for {
				select {
				case tk := <-p.queue:
					tk.run()
				case <-quit:
					return
				}
			}
		})
	}
	select {
	case <-ctx.Done():
	case <-p.stop:
	}
	p.mu.Lock()
	p.state = stateClosed
	p.mu.Unlock()
	close(quit)
	wg.Wait()
	p.drain()
	return nil
}

// drain fails the tasks left in the queue of a closed pool.
func (p *Pool) drain() {
	for {
		select {
		case tk := <-p.queue:
			tk.abort(ErrClosed)
		default:
			return
		}
	}
}

// Close stops a running pool and waits for Run to return; on a pool that
// never ran it just marks it closed. It is safe to call more than once.
func (p *Pool) Close() {
	p.mu.Lock()
	switch p.state {
	case stateIdle:
		p.state = stateClosed
		p.mu.Unlock()
		p.drain()
		return
	case stateRunning:
		select {
		case <-p.stop:
		default:
			close(p.stop)
		}
		p.mu.Unlock()
		<-p.done
		return
	}
	p.mu.Unlock()
	select {
	case <-p.stop: // Close of a running pool: Run may still be draining
		<-p.done
	default:
	}
}

// submit queues tk without blocking.
func (p *Pool) submit(tk task) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.state == stateClosed {
		return ErrClosed
	}
	select {
	case p.queue <- tk:
		return nil
	default:
		return ErrQueueFull
	}
}

// encodeWorker encodes on the parallel path, turning a failure (injected,
// or a panic) into an error wrapping ErrWorker.
func (p *Pool) encodeWorker(text string, enc func() []int32) (ids []int32, err error) {
	defer func() {
		if r := recover(); r != nil {
			ids, err = nil, fmt.Errorf("%w: panic: %v", ErrWorker, r)
		}
	}()
	if h := p.failHook; h != nil {
		if err := h(text); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrWorker, err)
		}
	}
	return enc(), nil
}

// EncodeAsync queues one encode and returns a channel that receives exactly
// one Result. It never blocks: when the queue is full the Result is
// ErrQueueFull, when the pool is closed ErrClosed (with FallbackOnError the
// text is then encoded on the caller instead). A task queued before Run
// waits for it. When ctx
// is done before a worker takes the task, the Result is ctx.Err(); an
// encode that has started runs to completion. With the parallel path
// disabled the text is encoded on the caller and the channel is ready on
// return.
func (p *Pool) EncodeAsync(ctx context.Context, text string, o EncodeOptions) <-chan Result {
	ch := make(chan Result, 1)
	if !p.cfg.Enabled {
		p.count("sequential", 1, len(text))
		ch <- Result{IDs: p.t.Encode(text, o)}
		return ch
	}
	if err := ctx.Err(); err != nil {
		ch <- Result{Err: err}
		return ch
	}
	err := p.submit(&asyncTask{p: p, ctx: ctx, text: text, o: o, ch: ch})
	switch {
	case err == nil:
	case errors.Is(err, ErrQueueFull):
		p.met.rejected.WithLabelValues("async").Inc()
		ch <- Result{Err: err}
	case p.cfg.FallbackOnError:
		p.count("fallback", 1, len(text))
		ch <- Result{IDs: p.t.Encode(text, o)}
	default:
		ch <- Result{Err: err}
	}
	return ch
}

type asyncTask struct {
	p    *Pool
	ctx  context.Context
	text string
	o    EncodeOptions
	ch   chan Result
}

func (a *asyncTask) run() {
	if err := a.ctx.Err(); err != nil {
		a.ch <- Result{Err: err}
		return
	}
	ids, err := a.p.encodeWorker(a.text, func() []int32 { return a.p.t.Encode(a.text, a.o) })
	if err != nil {
		a.p.met.errors.Inc()
		if a.p.cfg.FallbackOnError {
			a.p.count("fallback", 1, len(a.text))
			a.ch <- Result{IDs: a.p.t.Encode(a.text, a.o)}
			return
		}
		a.ch <- Result{Err: err}
		return
	}
	a.p.count("parallel", 1, len(a.text))
	a.ch <- Result{IDs: ids}
}

func (a *asyncTask) abort(err error) {
	if a.p.cfg.FallbackOnError {
		a.p.count("fallback", 1, len(a.text))
		a.ch <- Result{IDs: a.p.t.Encode(a.text, a.o)}
		return
	}
	a.ch <- Result{Err: err}
}

func (p *Pool) count(path string, n, bytes int) {
	p.met.texts.WithLabelValues(path).Add(float64(n))
	p.met.bytes.Add(float64(bytes))
}

// EncodeBatch encodes texts and returns their ids in order. With the
// parallel path and batch mode on, the calling goroutine and up to
// NumThreads-1 workers take texts from a shared cursor; helpers that find
// the queue full are skipped (the caller does their share), so a batch
// never waits for queue space. When ctx is done EncodeBatch stops handing
// out texts, waits for the encodes in flight (each runs to completion) and
// returns ctx.Err() with no result. A text a worker failed on is encoded
// again sequentially when FallbackOnError is on; otherwise the error
// (wrapping ErrWorker) is returned.
func (p *Pool) EncodeBatch(ctx context.Context, texts []string, o EncodeOptions) ([][]int32, error) {
	out := make([][]int32, len(texts))
	if !p.cfg.Enabled || !p.cfg.BatchMode || len(texts) < 2 {
		n := 0
		for i, s := range texts {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			out[i] = p.t.Encode(s, o)
			n += len(s)
		}
		p.count("sequential", len(texts), n)
		return out, nil
	}
	items := make([]item, len(texts))
	for i, s := range texts {
		items[i] = item{text: s, o: o}
	}
	if err := p.runJob(ctx, items); err != nil {
		return nil, err
	}
	for i := range items {
		out[i] = items[i].ids
	}
	return out, nil
}

// item is one unit of a job: encode text (or, for EncodeLong, one raw
// stretch with or without the dummy prefix).
type item struct {
	text   string
	o      EncodeOptions
	raw    bool // encode text as one ordinary stretch (EncodeLong chunks)
	prefix bool // raw: the stretch gets the dummy prefix
	ids    []int32
	err    error
	byPool bool // encoded by a worker
	fixed  bool // ids are given (a special token): nothing to encode
}

// job is a set of items worked on by the caller and helper workers.
type job struct {
	p     *Pool
	ctx   context.Context
	items []item
	next  atomic.Int64

	mu     sync.Mutex
	active int
	closed bool
	idle   chan struct{} // closed when active drops to 0 after closed
}

// runJob encodes every item, the caller working alongside the helpers.
func (p *Pool) runJob(ctx context.Context, items []item) error {
	j := &job{p: p, ctx: ctx, items: items, idle: make(chan struct{})}
	helpers := min(p.cfg.NumThreads-1, len(items)-1)
	for range helpers {
		err := p.submit((*helper)(j))
		if errors.Is(err, ErrQueueFull) {
			p.met.rejected.WithLabelValues("helper").Inc()
			break
		}
		if err != nil {
			if !p.cfg.FallbackOnError {
				return err
			}
			break // the caller encodes everything: the sequential fallback
		}
	}
	j.work(false)
	j.mu.Lock()
	j.closed = true
	wait := j.active > 0
	j.mu.Unlock()
	if wait {
		<-j.idle
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var nPar, nSeq, bPar, bSeq int
	for i := range items {
		it := &items[i]
		if it.fixed {
			continue
		}
		if it.err != nil {
			p.met.errors.Inc()
			if !p.cfg.FallbackOnError {
				return it.err
			}
			it.ids, it.err = p.encodeItem(it, false)
			p.count("fallback", 1, len(it.text))
			continue
		}
		if it.byPool {
			nPar, bPar = nPar+1, bPar+len(it.text)
		} else {
			nSeq, bSeq = nSeq+1, bSeq+len(it.text)
		}
	}
	p.count("parallel", nPar, bPar)
	p.count("sequential", nSeq, bSeq)
	return nil
}

// work takes items from the cursor until none is left or ctx is done.
func (j *job) work(byPool bool) {
	for j.ctx.Err() == nil {
		i := int(j.next.Add(1) - 1)
		if i >= len(j.items) {
			return
		}
		it := &j.items[i]
		if it.fixed {
			continue
		}
		it.ids, it.err = j.p.encodeItem(it, byPool)
		it.byPool = byPool
	}
}

// encodeItem encodes one item; byPool selects the worker path (failure
// injection, panic recovery).
func (p *Pool) encodeItem(it *item, byPool bool) ([]int32, error) {
	enc := func() []int32 { return p.t.Encode(it.text, it.o) }
	if it.raw {
		enc = func() []int32 {
			return p.t.encodeRaw(make([]int32, 0, len(it.text)/3+1), it.text, it.prefix)
		}
	}
	if byPool {
		return p.encodeWorker(it.text, enc)
	}
	return enc(), nil
}

// helper is a job seen as a queued task: a worker that joins the job.
type helper job

func (h *helper) run() {
	j := (*job)(h)
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return
	}
	j.active++
	j.mu.Unlock()
	j.work(true)
	j.mu.Lock()
	j.active--
	if j.active == 0 && j.closed {
		close(j.idle)
	}
	j.mu.Unlock()
}

func (h *helper) abort(error) {}
