package tokenizerd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/schemas"
	"github.com/krserve/krserve/tokenizerd/chat"
	"github.com/krserve/krserve/tokenizerd/route"
	"github.com/krserve/krserve/tokenizerd/tokenizer"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
)

// Config is the tokenizer worker's identity and policy.
type Config struct {
	WorkerID    string
	ModelName   string // served model; requests naming another get not_found
	ModelID     string // seeds block hashes; must equal the engines' EngineConfig.ModelID
	Subjects    bus.Subjects
	BlockSize   int    // tokens per KV block, as the engines
	ContextLen  int    // prompts must leave room for one generated token
	Baseline    string // baseline variant name
	BatchWindow time.Duration
	MaxBatch    int
	MaxPending  int           // requests waiting for the batcher; beyond it: overloaded
	MaxInflight int           // requests being forwarded at once
	ForwardWait time.Duration // how long to wait for an engine's admission acknowledgement
	BatchMode   bool          // micro-batch; off = encode each request alone
	Template    *chat.Template
	// IgnoreKVEvents routes on load and conversation affinity only (no
	// prefix index), e.g. when KV event traffic is unwanted.
	IgnoreKVEvents    bool
	HeartbeatInterval time.Duration
	Version           string
}

// Validate fills defaults and checks the settings.
func (c *Config) Validate() error {
	switch {
	case c.WorkerID == "" || strings.ContainsAny(c.WorkerID, ".*> "):
		return fmt.Errorf("tokenizerd: worker id %q must be one subject token", c.WorkerID)
	case c.BlockSize < 1:
		return fmt.Errorf("tokenizerd: block size %d < 1", c.BlockSize)
	case c.ContextLen < 2:
		return fmt.Errorf("tokenizerd: context length %d < 2", c.ContextLen)
	}
	if c.Baseline == "" {
		c.Baseline = "baseline"
	}
	if c.MaxBatch < 1 {
		c.MaxBatch = 32
	}
	if c.MaxPending < 1 {
		c.MaxPending = 1024
	}
	if c.MaxInflight < 1 {
		c.MaxInflight = 256
	}
	if c.ForwardWait <= 0 {
		c.ForwardWait = 5 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.Version == "" {
		c.Version = "0.1.0"
	}
	if c.Template == nil {
		c.Template, _ = chat.ByName("chatml")
	}
	return nil
}

// Deps are the worker's collaborators.
type Deps struct {
	NC         *nats.Conn
	Pool       *tokenizer.Pool
	Router     *route.Router
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Worker is one tokenizer worker.
type Worker struct {
	cfg    Config
	nc     *nats.Conn
	pool   *tokenizer.Pool
	tok    *tokenizer.Tokenizer
	router *route.Router
	log    *slog.Logger

	enc      *Encoder
	pending  chan *job
	inflight chan struct{}
	weights  atomic.Pointer[route.Weights]
	draining atomic.Bool
	// admitMu orders enqueueing against the start of the drain: a handler
	// holds it shared from its draining check to its enqueue, Run holds it
	// exclusively to set draining, so nothing enters pending after that.
	admitMu sync.RWMutex
	wg      sync.WaitGroup
	m       *metrics
}

// job is one generate request on its way through the worker.
type job struct {
	req      schemas.GenerateRequest
	stream   string
	received time.Time
	ids      []int32
	err      error
}

// New validates and builds a worker; it starts nothing.
func New(cfg Config, deps Deps) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.NC == nil || deps.Pool == nil || deps.Router == nil {
		return nil, errors.New("tokenizerd: NATS connection, tokenizer pool and router are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Worker{cfg: cfg, nc: deps.NC, pool: deps.Pool, tok: deps.Pool.Tokenizer(), router: deps.Router,
		log: deps.Logger.With("worker", cfg.WorkerID), pending: make(chan *job, cfg.MaxPending),
		inflight: make(chan struct{}, cfg.MaxInflight), m: newMetrics(deps.Registerer)}
	w.enc = &Encoder{Tok: w.tok, Template: cfg.Template, ModelID: cfg.ModelID, BlockSize: cfg.BlockSize, ContextLen: cfg.ContextLen}
	w.weights.Store(&route.Weights{})
	return w, nil
}

// SetWeights installs new canary weights (from the control bucket watcher).
func (w *Worker) SetWeights(wt route.Weights) {
	if err := wt.Validate(w.cfg.Baseline); err != nil {
		w.log.Warn("ignoring invalid canary weights", "err", err)
		return
	}
	w.weights.Store(&wt)
}

// Run serves until ctx is done, then drains: stops taking requests and
// waits for the ones already accepted to be forwarded.
func (w *Worker) Run(ctx context.Context) error {
	subs, err := w.subscribeRouting()
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}()
	svc, err := w.addService()
	if err != nil {
		return err
	}
	batchCtx, stopBatcher := context.WithCancel(context.Background())
	batcherDone := make(chan struct{})
	go func() { defer close(batcherDone); w.batcher(batchCtx) }()
	hbCtx, stopHB := context.WithCancel(context.Background())
	hbDone := make(chan struct{})
	go func() { defer close(hbDone); w.heartbeatLoop(hbCtx) }()

	<-ctx.Done()
	w.admitMu.Lock()
	w.draining.Store(true)
	w.admitMu.Unlock()
	w.heartbeat(schemas.StateDraining)
	// No new requests: the endpoint subscription drains, and requests still
	// delivered to it are redirected to the other tokenizers (onGenerate).
	_ = svc.Stop()
	stopBatcher() // the batcher flushes what is pending, then exits
	<-batcherDone
	w.wg.Wait() // every accepted request forwarded or failed
	stopHB()
	<-hbDone
	w.heartbeat(schemas.StateStopped)
	return w.nc.Flush()
}

func (w *Worker) subscribeRouting() ([]*nats.Subscription, error) {
	s := w.cfg.Subjects
	hb, err := w.nc.Subscribe(s.Heartbeat("engine", "*"), func(m *nats.Msg) {
		var h schemas.Heartbeat
		if schemas.Decode(m.Data, &h) != nil {
			w.m.bad.WithLabelValues("heartbeat").Inc()
			return
		}
		w.router.ObserveHeartbeat(&h)
	})
	if err != nil {
		return nil, fmt.Errorf("tokenizerd: subscribe heartbeats: %w", err)
	}
	_ = hb.SetPendingLimits(1<<16, 64<<20)
	if w.cfg.IgnoreKVEvents {
		return []*nats.Subscription{hb}, nil
	}
	kv, err := w.nc.Subscribe(s.KV("*"), func(m *nats.Msg) {
		var e schemas.KVEvents
		if schemas.Decode(m.Data, &e) != nil || int(e.BlockSize) != w.cfg.BlockSize {
			w.m.bad.WithLabelValues("kv").Inc()
			return
		}
		w.router.ObserveKV(&e)
	})
	if err != nil {
		_ = hb.Unsubscribe()
		return nil, fmt.Errorf("tokenizerd: subscribe kv events: %w", err)
	}
	// Routing subscriptions see every event: give them room.
	_ = kv.SetPendingLimits(1<<16, 256<<20)
	return []*nats.Subscription{hb, kv}, nil
}

func (w *Worker) addService() (micro.Service, error) {
	svc, err := bus.AddService(w.nc, bus.ServiceConfig{Name: "krserve-tokenizer", Version: w.cfg.Version,
		Description: "krserve tokenizer worker: encode, route, forward", Metadata: map[string]string{"worker": w.cfg.WorkerID, "model": w.cfg.ModelName, "vocab": w.tok.Name()},
		Stats: func() any {
			return map[string]any{"pending": len(w.pending), "inflight": len(w.inflight), "draining": w.draining.Load()}
		}})
	if err != nil {
		return nil, err
	}
	add := func(name, subject, queue string, h micro.Handler) error {
		return svc.AddEndpoint(name, h, micro.WithEndpointSubject(subject), micro.WithEndpointQueueGroup(queue))
	}
	s := w.cfg.Subjects
	if err := add("generate", s.Generate(), bus.QueueTokenizer, micro.HandlerFunc(w.onGenerate)); err != nil {
		_ = svc.Stop()
		return nil, err
	}
	if err := add("tokenize", s.Tokenize(), bus.QueueTokenizer, w.counted("tokenize", bus.Handler(10*time.Second, w.tokenize))); err != nil {
		_ = svc.Stop()
		return nil, err
	}
	if err := add("detokenize", s.Detokenize(), bus.QueueTokenizer, w.counted("detokenize", bus.Handler(10*time.Second, w.detokenize))); err != nil {
		_ = svc.Stop()
		return nil, err
	}
	return svc, nil
}

// counted counts the error replies of a service endpoint by code.
func (w *Worker) counted(endpoint string, h micro.Handler) micro.Handler {
	return micro.HandlerFunc(func(r micro.Request) {
		h.Handle(countingRequest{Request: r, count: func(code string) {
			c := schemas.CodeInternal
			if n, err := strconv.Atoi(code); err == nil {
				c = schemas.Code(n)
			}
			w.m.serviceRejected.WithLabelValues(endpoint, c.String()).Inc()
		}})
	})
}

// countingRequest reports each error reply before sending it.
type countingRequest struct {
	micro.Request
	count func(code string)
}

func (r countingRequest) Error(code, description string, data []byte, opts ...micro.RespondOpt) error {
	r.count(code)
	return r.Request.Error(code, description, data, opts...)
}

func (w *Worker) tokenize(ctx context.Context, req *schemas.TokenizeRequest) (*schemas.TokenizeResponse, error) {
	o := tokenizer.EncodeOptions{AddBOS: req.AddBOS}
	if req.Special {
		o.Special = tokenizer.SpecialAll
	}
	ids, err := w.pool.EncodeBatch(ctx, req.Texts, o)
	if err != nil {
		return nil, mapPoolErr(err)
	}
	return &schemas.TokenizeResponse{V: schemas.Version, IDs: ids}, nil
}

func (w *Worker) detokenize(_ context.Context, req *schemas.DetokenizeRequest) (*schemas.DetokenizeResponse, error) {
	out := &schemas.DetokenizeResponse{V: schemas.Version, Texts: make([]string, len(req.IDs))}
	n := int32(w.tok.VocabSize())
	for i, ids := range req.IDs {
		for _, id := range ids {
			if id >= n {
				return nil, schemas.NewError(schemas.CodeBadRequest, "id %d is outside the vocabulary (%d tokens)", id, n)
			}
		}
		out.Texts[i] = w.tok.Decode(ids)
	}
	return out, nil
}

func mapPoolErr(err error) error {
	if errors.Is(err, tokenizer.ErrQueueFull) {
		return schemas.NewError(schemas.CodeOverloaded, "tokenizer pool: %v", err)
	}
	return err
}

// onGenerate validates a producer's request and queues it for the batcher.
func (w *Worker) onGenerate(r micro.Request) {
	received := time.Now()
	j := &job{received: received}
	err := schemas.Decode(r.Data(), &j.req)
	j.stream = r.Reply()
	if err == nil && j.req.TokenSubject != "" {
		j.stream = j.req.TokenSubject
	}
	if j.stream == "" {
		// Nowhere to answer: count it and drop it.
		w.m.rejected.WithLabelValues("no_reply").Inc()
		return
	}
	if j.req.ID == "" {
		j.req.ID = uuid.NewString()
	}
	if err != nil {
		w.fail(j, schemas.AsError(err))
		return
	}
	if j.req.Model != "" && w.cfg.ModelName != "" && j.req.Model != w.cfg.ModelName {
		w.fail(j, schemas.NewError(schemas.CodeNotFound, "model %q is not served (have %q)", j.req.Model, w.cfg.ModelName))
		return
	}
	w.admitMu.RLock()
	if w.draining.Load() {
		w.admitMu.RUnlock()
		w.redirect(r, j)
		return
	}
	w.wg.Add(1)
	select {
	case w.pending <- j:
		w.admitMu.RUnlock()
	default:
		w.admitMu.RUnlock()
		w.wg.Done()
		w.fail(j, schemas.NewError(schemas.CodeOverloaded, "tokenizer queue full (%d pending)", cap(w.pending)))
	}
}

// HeaderRedirects counts how often a draining tokenizer handed a generate
// request back to the tokenizer queue group.
const HeaderRedirects = "Krserve-Redirects"

// maxRedirects bounds the hand-backs of one request, so requests cannot
// circle among tokenizers that are all draining.
const maxRedirects = 3

// redirect hands a request that reached this worker after it began to
// drain (the endpoint subscription was still delivering) back to the
// generate subject with the same reply subject: another tokenizer of the
// queue group takes it. With none left the producer gets NATS "no
// responders" on its inbox (no_worker), as if no tokenizer had been up.
func (w *Worker) redirect(r micro.Request, j *job) {
	n, _ := strconv.Atoi(r.Headers().Get(HeaderRedirects))
	if n >= maxRedirects {
		w.fail(j, schemas.NewError(schemas.CodeNoWorker, "tokenizer %s is draining (request redirected %d times)", w.cfg.WorkerID, n))
		return
	}
	msg := nats.NewMsg(w.cfg.Subjects.Generate())
	msg.Reply, msg.Data = r.Reply(), r.Data()
	msg.Header.Set(HeaderRedirects, strconv.Itoa(n+1))
	if err := w.nc.PublishMsg(msg); err != nil {
		w.fail(j, schemas.NewError(schemas.CodeNoWorker, "tokenizer %s is draining and could not redirect: %v", w.cfg.WorkerID, err))
		return
	}
	w.m.redirected.Inc()
}

// fail sends a typed error as the whole stream of a request.
func (w *Worker) fail(j *job, e *schemas.Error) {
	w.m.rejected.WithLabelValues(e.Code.String()).Inc()
	sw := bus.NewStreamWriter(w.nc, j.stream, j.req.ID)
	if err := sw.Error(e); err != nil {
		w.log.Warn("publish error", "id", j.req.ID, "err", err)
	}
}

// batcher collects pending requests for up to BatchWindow (or MaxBatch) and
// encodes them together.
func (w *Worker) batcher(ctx context.Context) {
	batch := make([]*job, 0, w.cfg.MaxBatch)
	for {
		batch = batch[:0]
		select {
		case j := <-w.pending:
			batch = append(batch, j)
		case <-ctx.Done():
			// Drain what was accepted.
			for {
				select {
				case j := <-w.pending:
					w.process([]*job{j})
				default:
					return
				}
			}
		}
		if w.cfg.BatchMode && w.cfg.BatchWindow > 0 {
			timer := time.NewTimer(w.cfg.BatchWindow)
		collect:
			for len(batch) < w.cfg.MaxBatch {
				select {
				case j := <-w.pending:
					batch = append(batch, j)
				case <-timer.C:
					break collect
				}
			}
			timer.Stop()
		} else {
			// Take whatever is already waiting, without waiting for more.
		more:
			for len(batch) < w.cfg.MaxBatch {
				select {
				case j := <-w.pending:
					batch = append(batch, j)
				default:
					break more
				}
			}
		}
		w.process(batch)
	}
}

// process encodes a batch and forwards each request.
func (w *Worker) process(batch []*job) {
	w.m.batchSize.Observe(float64(len(batch)))
	texts := make([]string, len(batch))
	opts := make([]tokenizer.EncodeOptions, len(batch))
	for i, j := range batch {
		texts[i], opts[i], j.err = w.enc.Render(&j.req)
	}
	// Group by options so each group is one parallel batch (almost always
	// one group: raw prompts or chat).
	groups := map[tokenizer.EncodeOptions][]int{}
	for i, j := range batch {
		if j.err == nil {
			groups[opts[i]] = append(groups[opts[i]], i)
		}
	}
	for o, idx := range groups {
		in := make([]string, len(idx))
		for k, i := range idx {
			in[k] = texts[i]
		}
		ids, err := w.pool.EncodeBatch(context.Background(), in, o)
		for k, i := range idx {
			if err != nil {
				batch[i].err = mapPoolErr(err)
			} else {
				batch[i].ids = ids[k]
			}
		}
	}
	for _, j := range batch {
		if j.err != nil {
			w.fail(j, schemas.AsError(j.err))
			w.wg.Done()
			continue
		}
		w.inflight <- struct{}{}
		go func(j *job) {
			defer func() { <-w.inflight; w.wg.Done() }()
			w.forward(j)
		}(j)
	}
}

// forward validates the encoded prompt, routes it and hands it to an engine.
func (w *Worker) forward(j *job) {
	r := &j.req
	if err := w.enc.Check(r, j.ids); err != nil {
		w.fail(j, schemas.AsError(err))
		return
	}
	key := r.ConversationID
	if key == "" {
		key = r.ID
	}
	variant := route.SelectVariant(key, w.cfg.Baseline, *w.weights.Load())
	er := w.enc.engineRequest(r, j.ids)
	h64 := er.BlockHashes
	er.StreamSubject, er.Variant = j.stream, variant
	er.ReceivedUnixUs, er.TokenizeUs = j.received.UnixMicro(), time.Since(j.received).Microseconds()
	payload, err := schemas.Encode(er)
	if err != nil {
		w.fail(j, schemas.AsError(err))
		return
	}
	targets := make([]string, 0, 2)
	if c, err := w.router.Pick(variant, key, h64); err == nil {
		targets = append(targets, c.Subject)
		if c.CachedBlocks > 0 {
			w.m.routed.WithLabelValues("cache_hit").Inc()
		} else {
			w.m.routed.WithLabelValues("cost").Inc()
		}
	} else {
		w.m.routed.WithLabelValues("queue_group").Inc()
	}
	targets = append(targets, w.cfg.Subjects.EngineVariant(variant))
	var last error
	for _, subj := range targets {
		if last = w.admit(subj, payload); last == nil {
			return
		}
		if e := schemas.AsError(last); !e.Retryable {
			break
		}
	}
	w.fail(j, schemas.AsError(last))
}

// admit sends the engine request and waits for the admission acknowledgement.
func (w *Worker) admit(subject string, payload []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.ForwardWait)
	defer cancel()
	msg, err := w.nc.RequestWithContext(ctx, subject, payload)
	if err != nil {
		if ctx.Err() != nil {
			err = nats.ErrTimeout
		}
		return bus.MapRequestError(subject, err)
	}
	return bus.ServiceError(msg)
}

func (w *Worker) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(w.cfg.HeartbeatInterval)
	defer t.Stop()
	w.heartbeat(schemas.StateReady)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			st := schemas.StateReady
			if w.draining.Load() {
				st = schemas.StateDraining
			}
			w.heartbeat(st)
		}
	}
}

func (w *Worker) heartbeat(state schemas.WorkerState) {
	hb := schemas.Heartbeat{V: schemas.Version, Role: "tokenizer", Worker: w.cfg.WorkerID, Model: w.cfg.ModelName, State: state,
		IntervalMs: int32(w.cfg.HeartbeatInterval / time.Millisecond), Waiting: int32(len(w.pending)), Running: int32(len(w.inflight)),
		QueueCap: int32(cap(w.pending)), SentUnixMs: time.Now().UnixMilli()}
	if b, err := schemas.Encode(&hb); err == nil {
		_ = w.nc.Publish(w.cfg.Subjects.Heartbeat("tokenizer", w.cfg.WorkerID), b)
	}
}

type metrics struct {
	rejected        *prometheus.CounterVec
	serviceRejected *prometheus.CounterVec
	bad             *prometheus.CounterVec
	redirected      prometheus.Counter
	routed          *prometheus.CounterVec
	batchSize       prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		rejected:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "krserve_tokenizer_requests_rejected_total", Help: "Generate requests answered with an error by the tokenizer worker, by code."}, []string{"code"}),
		routed:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "krserve_tokenizer_requests_routed_total", Help: "Generate requests forwarded, by routing decision (cache_hit, cost, queue_group)."}, []string{"decision"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "krserve_tokenizer_batch_size", Help: "Requests per micro-batch.", Buckets: prometheus.ExponentialBuckets(1, 2, 9)}),
		serviceRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "krserve_tokenizer_service_rejected_total",
			Help: "Tokenize and detokenize requests answered with an error, by endpoint and code."}, []string{"endpoint", "code"}),
		redirected: prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_tokenizer_requests_redirected_total",
			Help: "Generate requests a draining tokenizer handed back to the tokenizer queue group."}),
		bad: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "krserve_tokenizer_bad_messages_total",
			Help: "Routing events (engine heartbeats, KV event batches) dropped as malformed, by subject."}, []string{"subject"}),
	}
	if reg != nil {
		reg.MustRegister(m.rejected, m.routed, m.batchSize, m.serviceRejected, m.bad, m.redirected)
	}
	return m
}

// Draining reports whether the worker stopped taking requests.
func (w *Worker) Draining() bool { return w.draining.Load() }
