package engined

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/engined/kvpool"
	"github.com/krserve/krserve/engined/sample"
	"github.com/krserve/krserve/engined/sched"
	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
)

// Config is the worker's identity and timing.
type Config struct {
	WorkerID          string
	Variant           string
	ModelName         string
	Subjects          bus.Subjects
	HeartbeatInterval time.Duration
	MetricsInterval   time.Duration
	KVFlushInterval   time.Duration
	DrainTimeout      time.Duration
	Version           string // micro service version (semver)
}

// Validate fills defaults and checks identity.
func (c *Config) Validate() error {
	if c.WorkerID == "" || strings.ContainsAny(c.WorkerID, ".*> ") {
		return fmt.Errorf("engined: worker id %q must be one subject token", c.WorkerID)
	}
	if c.Variant == "" || strings.ContainsAny(c.Variant, ".*> ") {
		return fmt.Errorf("engined: variant %q must be one subject token", c.Variant)
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.MetricsInterval <= 0 {
		c.MetricsInterval = time.Second
	}
	if c.KVFlushInterval <= 0 {
		c.KVFlushInterval = 5 * time.Millisecond
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 30 * time.Second
	}
	if c.Version == "" {
		c.Version = "0.1.0"
	}
	return nil
}

// Deps are the worker's collaborators.
type Deps struct {
	NC         *nats.Conn
	Engine     *Engine
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Worker serves an Engine on NATS.
type Worker struct {
	cfg      Config
	nc       *nats.Conn
	eng      *Engine
	log      *slog.Logger
	draining atomic.Bool
	nrPrefix string

	mu       sync.Mutex
	inflight map[string]*streamSink

	win     window
	kvSeq   uint64
	metSeq  uint64
	rejects *prometheus.CounterVec
	admits  prometheus.Counter
	gone    prometheus.Counter
	bad     *prometheus.CounterVec
}

// NewWorker validates cfg; it starts nothing.
func NewWorker(cfg Config, deps Deps) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.NC == nil || deps.Engine == nil {
		return nil, errors.New("engined: NATS connection and engine are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Worker{cfg: cfg, nc: deps.NC, eng: deps.Engine, log: deps.Logger.With("worker", cfg.WorkerID), inflight: map[string]*streamSink{},
		rejects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "krserve_engine_requests_rejected_total", Help: "Engine requests rejected before admission, by error code."}, []string{"code"}),
		admits:  prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_engine_requests_admitted_total", Help: "Engine requests admitted to the scheduler."}),
		gone:    prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_engine_consumer_gone_total", Help: "Requests cancelled because nobody subscribed to their stream any more."}),
		bad:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "krserve_engine_bad_messages_total", Help: "Fire-and-forget messages (cancellations) dropped as malformed, by subject."}, []string{"subject"}),
	}
	if deps.Registerer != nil {
		deps.Registerer.MustRegister(w.rejects, w.admits, w.gone, w.bad)
	}
	return w, nil
}

// Subject is the worker's direct subject.
func (w *Worker) Subject() string { return w.cfg.Subjects.Engine(w.cfg.Variant, w.cfg.WorkerID) }

// Draining reports whether the worker stopped taking requests.
func (w *Worker) Draining() bool { return w.draining.Load() }

// Run serves until ctx is done, then drains (see the package doc).
func (w *Worker) Run(ctx context.Context) error {
	schedCtx, stopSched := context.WithCancel(context.Background())
	defer stopSched()
	schedDone := make(chan error, 1)
	go func() { schedDone <- w.eng.Sched.Run(schedCtx) }()

	w.nrPrefix = w.nc.NewInbox()
	nrSub, err := w.nc.Subscribe(w.nrPrefix+".*", w.onNoResponders)
	if err != nil {
		stopSched()
		<-schedDone
		return fmt.Errorf("engined: subscribe: %w", err)
	}
	cancelSub, err := w.nc.Subscribe(w.cfg.Subjects.Cancel("*"), w.onCancel)
	if err != nil {
		_ = nrSub.Unsubscribe()
		stopSched()
		<-schedDone
		return fmt.Errorf("engined: subscribe: %w", err)
	}
	svc, err := w.addService()
	if err != nil {
		_ = nrSub.Unsubscribe()
		_ = cancelSub.Unsubscribe()
		stopSched()
		<-schedDone
		return err
	}
	w.win.start = time.Now()
	bg, bgCtx := errgroup.WithContext(context.Background())
	loopsCtx, stopLoops := context.WithCancel(bgCtx)
	bg.Go(func() error { w.heartbeatLoop(loopsCtx); return nil })
	bg.Go(func() error { w.kvLoop(loopsCtx); return nil })
	bg.Go(func() error { w.metricsLoop(loopsCtx); return nil })
	w.heartbeat(schemas.StateReady)

	select {
	case <-ctx.Done():
	case err := <-schedDone:
		stopLoops()
		_ = bg.Wait()
		_ = svc.Stop()
		return fmt.Errorf("engined: scheduler stopped: %w", err)
	}

	// Drain: announce, stop intake, finish in-flight work, then stop.
	w.draining.Store(true)
	w.heartbeat(schemas.StateDraining)
	if err := svc.Stop(); err != nil {
		w.log.Warn("stop service", "err", err)
	}
	deadline := time.Now().Add(w.cfg.DrainTimeout)
	for time.Now().Before(deadline) {
		if r, q := w.eng.Sched.Load(); r == 0 && q == 0 && w.inflightCount() == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopSched() // fails whatever is left with a retryable error
	schedErr := <-schedDone
	_ = cancelSub.Unsubscribe()
	_ = nrSub.Unsubscribe()
	stopLoops()
	_ = bg.Wait()
	w.flushKV()
	w.publishMetrics()
	w.heartbeat(schemas.StateStopped)
	if err := w.nc.Flush(); err != nil {
		w.log.Warn("flush", "err", err)
	}
	return schedErr
}

func (w *Worker) addService() (micro.Service, error) {
	svc, err := bus.AddService(w.nc, bus.ServiceConfig{Name: "krserve-engine", Version: w.cfg.Version,
		Description: "krserve engine worker", Metadata: map[string]string{"worker": w.cfg.WorkerID, "variant": w.cfg.Variant, "model": w.cfg.ModelName},
		Stats: w.stats})
	if err != nil {
		return nil, err
	}
	h := micro.HandlerFunc(w.onRequest)
	if err := svc.AddEndpoint("direct", h, micro.WithEndpointSubject(w.Subject()), micro.WithEndpointQueueGroup(w.cfg.WorkerID)); err != nil {
		_ = svc.Stop()
		return nil, err
	}
	if err := svc.AddEndpoint("any", h, micro.WithEndpointSubject(w.cfg.Subjects.EngineVariant(w.cfg.Variant)), micro.WithEndpointQueueGroup(bus.QueueEngine(w.cfg.Variant))); err != nil {
		_ = svc.Stop()
		return nil, err
	}
	return svc, nil
}

func (w *Worker) stats() any {
	r, q := w.eng.Sched.Load()
	st := w.eng.Pool.Stats()
	return map[string]any{"running": r, "waiting": q, "free_blocks": st.FreeBlocks + st.CachedBlocks, "total_blocks": st.TotalBlocks,
		"cached_blocks": st.CachedBlocks, "hit_tokens": st.HitTokens, "miss_tokens": st.MissTokens, "draining": w.draining.Load()}
}

// onRequest admits one EngineRequest and acknowledges it.
func (w *Worker) onRequest(r micro.Request) {
	var req schemas.EngineRequest
	if err := schemas.Decode(r.Data(), &req); err != nil {
		w.rejects.WithLabelValues(schemas.CodeBadRequest.String()).Inc()
		_ = bus.RespondError(r, err)
		return
	}
	if err := w.Submit(&req, nil); err != nil {
		e := schemas.AsError(err)
		w.rejects.WithLabelValues(e.Code.String()).Inc()
		_ = bus.RespondError(r, e)
		return
	}
	_ = r.Respond(nil)
}

// Submit admits a request whose stream goes to req.StreamSubject; when
// onDone is set the output is collected for it instead of streamed.
func (w *Worker) Submit(req *schemas.EngineRequest, onDone func(*sched.Result, *schemas.Error)) error {
	if w.draining.Load() {
		return schemas.NewError(schemas.CodeNoWorker, "engine %s is draining", w.cfg.WorkerID)
	}
	if req.Model != "" && w.cfg.ModelName != "" && req.Model != w.cfg.ModelName {
		return schemas.NewError(schemas.CodeNotFound, "model %q is not served here (this engine serves %q)", req.Model, w.cfg.ModelName)
	}
	vocab := w.eng.Model.Config().Vocab
	p := sample.Params{Temperature: req.Sampling.Temperature, TopK: int(req.Sampling.TopK), TopP: req.Sampling.TopP,
		MinP: req.Sampling.MinP, RepeatPenalty: req.Sampling.RepetitionPenalty, Seed: req.Sampling.Seed}
	if p.Seed == 0 {
		h := fnv.New64a()
		h.Write([]byte(req.RequestID))
		p.Seed = h.Sum64() | 1
	}
	smp, err := sample.New(p, vocab)
	if err != nil {
		return schemas.NewError(schemas.CodeBadRequest, "sampling: %v", err)
	}
	sk := &streamSink{w: w, id: req.RequestID, tokenize: req.TokenizeUs, start: time.Now(), onDone: onDone, stream: onDone == nil}
	if sk.stream {
		sk.sw = bus.NewStreamWriter(w.nc, req.StreamSubject, req.RequestID)
		sk.sw.SetReply(w.nrPrefix + "." + req.RequestID)
	}
	received := time.Now()
	if req.ReceivedUnixUs > 0 {
		received = time.UnixMicro(req.ReceivedUnixUs)
	}
	var deadline time.Time
	if req.DeadlineUnixMs > 0 {
		deadline = time.UnixMilli(req.DeadlineUnixMs)
	}
	w.track(sk)
	err = w.eng.Sched.Submit(&sched.Request{ID: req.RequestID, Prompt: req.PromptIDs, ConversationID: req.ConversationID,
		Salt: req.CacheSalt, Sampler: smp, Decoder: w.eng.Tokenizer.NewStreamDecoder(), StopIDs: req.StopIDs, Stop: req.Stop,
		MaxTokens: int(req.MaxTokens), Priority: int(req.Priority), Deadline: deadline, Received: received, Sink: sk})
	if err != nil {
		w.untrack(req.RequestID)
		return err
	}
	w.admits.Inc()
	return nil
}

func (w *Worker) track(s *streamSink) {
	w.mu.Lock()
	w.inflight[s.id] = s
	w.mu.Unlock()
}

func (w *Worker) untrack(id string) {
	w.mu.Lock()
	delete(w.inflight, id)
	w.mu.Unlock()
}

func (w *Worker) inflightCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.inflight)
}

func (w *Worker) observe(s *streamSink, r *sched.Result, e *schemas.Error) { w.win.add(s, r, e) }

func (w *Worker) onCancel(m *nats.Msg) {
	var c schemas.Cancel
	if err := schemas.Decode(m.Data, &c); err != nil {
		w.bad.WithLabelValues("cancel").Inc()
		return
	}
	w.eng.Sched.Cancel(c.RequestID)
}

// onNoResponders cancels a request whose stream subject lost its last
// subscriber: NATS answers a published stream message with status 503 on
// the reply subject this worker set.
func (w *Worker) onNoResponders(m *nats.Msg) {
	if m.Header.Get("Status") != "503" {
		return
	}
	id := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	w.mu.Lock()
	_, ok := w.inflight[id]
	w.mu.Unlock()
	if ok {
		w.gone.Inc()
		w.eng.Sched.Cancel(id)
	}
}

func (w *Worker) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(w.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			state := schemas.StateReady
			if w.draining.Load() {
				state = schemas.StateDraining
			}
			w.heartbeat(state)
		}
	}
}

func (w *Worker) heartbeat(state schemas.WorkerState) {
	r, q := w.eng.Sched.Load()
	st := w.eng.Pool.Stats()
	hb := schemas.Heartbeat{V: schemas.Version, Role: "engine", Worker: w.cfg.WorkerID, Variant: w.cfg.Variant, Model: w.cfg.ModelName,
		State: state, IntervalMs: int32(w.cfg.HeartbeatInterval / time.Millisecond), Running: int32(r), Waiting: int32(q),
		QueueCap: int32(w.eng.Config().MaxQueue), FreeBlocks: int32(st.FreeBlocks + st.CachedBlocks), TotalBlocks: int32(st.TotalBlocks),
		BlockSize: int32(w.eng.BlockSize()), Subject: w.Subject(), SentUnixMs: time.Now().UnixMilli()}
	b, err := schemas.Encode(&hb)
	if err == nil {
		err = w.nc.Publish(w.cfg.Subjects.Heartbeat("engine", w.cfg.WorkerID), b)
	}
	if err != nil {
		w.log.Warn("heartbeat", "err", err)
	}
}

func (w *Worker) kvLoop(ctx context.Context) {
	t := time.NewTicker(w.cfg.KVFlushInterval)
	defer t.Stop()
	// A fresh worker's cache is empty: say so, so routers drop anything they
	// remember about a previous process with this id.
	w.publishKV([]schemas.KVEvent{{Kind: schemas.KVCleared}})
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.flushKV()
		}
	}
}

const maxKVBatch = 1024

func (w *Worker) flushKV() {
	var batch []schemas.KVEvent
	for len(batch) < maxKVBatch {
		select {
		case ev := <-w.eng.events:
			kind := schemas.KVStored
			if ev.Kind == kvpool.BlockRemoved {
				kind = schemas.KVRemoved
			}
			batch = append(batch, schemas.KVEvent{Kind: kind, Hash: uint64(ev.Hash), Parent: uint64(ev.Parent)})
			continue
		default:
		}
		break
	}
	if len(batch) > 0 {
		w.publishKV(batch)
	}
}

func (w *Worker) publishKV(events []schemas.KVEvent) {
	w.kvSeq++
	msg := schemas.KVEvents{V: schemas.Version, Worker: w.cfg.WorkerID, Variant: w.cfg.Variant, Seq: w.kvSeq, BlockSize: int32(w.eng.BlockSize()), Events: events}
	b, err := schemas.Encode(&msg)
	if err == nil {
		err = w.nc.Publish(w.cfg.Subjects.KV(w.cfg.WorkerID), b)
	}
	if err != nil {
		w.log.Warn("kv events", "err", err)
	}
}

func (w *Worker) metricsLoop(ctx context.Context) {
	t := time.NewTicker(w.cfg.MetricsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.publishMetrics()
		}
	}
}

func (w *Worker) publishMetrics() {
	ev := w.win.take(time.Now())
	w.metSeq++
	ev.Variant, ev.Worker, ev.Seq = w.cfg.Variant, w.cfg.WorkerID, w.metSeq
	b, err := schemas.Encode(&ev)
	if err == nil {
		err = w.nc.Publish(w.cfg.Subjects.Metrics(w.cfg.Variant, w.cfg.WorkerID), b)
	}
	if err != nil {
		w.log.Warn("metrics", "err", err)
	}
}
