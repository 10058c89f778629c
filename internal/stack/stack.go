package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/controller"
	"github.com/krserve/krserve/controller/control"
	"github.com/krserve/krserve/engined"
	"github.com/krserve/krserve/engined/gguf"
	"github.com/krserve/krserve/engined/jobs"
	"github.com/krserve/krserve/engined/kvpool"
	"github.com/krserve/krserve/engined/llama"
	"github.com/krserve/krserve/tokenizerd"
	"github.com/krserve/krserve/tokenizerd/chat"
	"github.com/krserve/krserve/tokenizerd/route"
	"github.com/krserve/krserve/tokenizerd/tokenizer"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// EngineSpec describes one engine worker.
type EngineSpec struct {
	ID       string
	Variant  string
	Slowdown float64         // fault knob
	Runtime  *config.Runtime // nil = Config.Runtime
}

// Config describes the stack.
type Config struct {
	Model      string // GGUF or llama2.c path
	Tokenizer  string // vocabulary for a llama2.c checkpoint; empty = from the model file
	ModelName  string // served model name; empty = file name without extension
	Backend    string // "native" (default) or "reference"
	Threads    int    // per engine
	Engines    []EngineSpec
	Tokenizers int
	// TokenizerIDs names the tokenizer workers (default tok-1, tok-2, …).
	TokenizerIDs []string
	IgnoreKV     bool // tokenizers route without the KV event index
	// Control makes workers follow the control KV bucket (canary weights
	// for tokenizers, feature-flag overrides and the fault knob for
	// engines). Needs JetStream.
	Control bool
	// Controller runs a rollout controller in the stack (implies Control).
	Controller       bool
	ControllerConfig *controller.Config // nil = controller.DefaultConfig
	// Jobs makes every engine pull batch jobs (jobs.Setup must have run:
	// SetupJobs does it).
	Jobs      bool
	Runtime   config.Runtime
	Subjects  bus.Subjects
	Heartbeat time.Duration
	Metrics   time.Duration
	Drain     time.Duration
	Version   string
	// Connect opens a connection for one component.
	Connect func(name string) (*nats.Conn, error)
}

// Stack is a running set of workers.
type Stack struct {
	Tokenizer  *tokenizer.Tokenizer
	Engines    []*engined.Worker
	EngineCore []*engined.Engine
	Tokenizers []*tokenizerd.Worker
	Routers    []*route.Router
	Controller *controller.Controller
	ModelName  string
	ContextLen int

	cancel  context.CancelFunc
	wg      sync.WaitGroup
	errMu   sync.Mutex
	errs    []error
	conns   []*nats.Conn
	closers []func() error
}

// Start builds and starts the workers.
func Start(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Stack, error) {
	if cfg.Connect == nil {
		return nil, errors.New("stack: Connect is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Backend == "" {
		cfg.Backend = llama.BackendNative
	}
	if cfg.Threads <= 0 {
		cfg.Threads = 1
	}
	if cfg.ModelName == "" {
		cfg.ModelName = strings.TrimSuffix(filepath.Base(cfg.Model), filepath.Ext(cfg.Model))
	}
	s := &Stack{ModelName: cfg.ModelName}
	ok := false
	defer func() {
		if !ok {
			s.closeAll()
		}
	}()
	tokSpec := cfg.Tokenizer
	if tokSpec == "" {
		tokSpec = cfg.Model
	}
	tok, err := tokenizer.Load(tokSpec)
	if err != nil {
		return nil, fmt.Errorf("stack: tokenizer: %w", err)
	}
	s.Tokenizer = tok
	tpl := templateFor(cfg.Model)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	labelled := func(role, id string) prometheus.Registerer {
		if reg == nil {
			return nil
		}
		return prometheus.WrapRegistererWith(prometheus.Labels{"worker": id}, reg)
	}
	for _, es := range cfg.Engines {
		m, err := llama.Load(cfg.Model, llama.WithBackend(cfg.Backend, cfg.Threads))
		if err != nil {
			return nil, fmt.Errorf("stack: engine %s: %w", es.ID, err)
		}
		s.closers = append(s.closers, m.Close)
		s.ContextLen = m.Config().Context
		rt := cfg.Runtime
		if es.Runtime != nil {
			rt = *es.Runtime
		}
		ec := engined.DefaultEngineConfig(cfg.ModelName, rt.CPU.KVCachePool)
		ec.Slowdown = es.Slowdown
		r := labelled("engine", es.ID)
		eng, err := engined.NewEngine(m, tok, ec, r)
		if err != nil {
			return nil, fmt.Errorf("stack: engine %s: %w", es.ID, err)
		}
		nc, err := s.connect(cfg, "engine-"+es.ID)
		if err != nil {
			return nil, err
		}
		w, err := engined.NewWorker(engined.Config{WorkerID: es.ID, Variant: es.Variant, ModelName: cfg.ModelName, Subjects: cfg.Subjects,
			HeartbeatInterval: cfg.Heartbeat, MetricsInterval: cfg.Metrics, DrainTimeout: cfg.Drain, Version: cfg.Version},
			engined.Deps{NC: nc, Engine: eng, Registerer: r, Logger: log})
		if err != nil {
			return nil, err
		}
		s.Engines = append(s.Engines, w)
		s.EngineCore = append(s.EngineCore, eng)
	}
	if s.ContextLen == 0 && cfg.Tokenizers > 0 {
		// Tokenizer-only process: read the model's shape for validation.
		m, err := llama.Load(cfg.Model, llama.WithBackend(llama.BackendReference, 1))
		if err != nil {
			return nil, fmt.Errorf("stack: model: %w", err)
		}
		s.ContextLen = m.Config().Context
		_ = m.Close()
	}
	for i := 0; i < cfg.Tokenizers; i++ {
		id := fmt.Sprintf("tok-%d", i+1)
		if i < len(cfg.TokenizerIDs) {
			id = cfg.TokenizerIDs[i]
		}
		r := labelled("tokenizer", id)
		pt := cfg.Runtime.CPU.ParallelTokenizer
		pool, err := tokenizer.NewPool(tok, tokenizer.ParallelConfig{Enabled: pt.Enabled, NumThreads: pt.NumThreads, ThreadPoolSize: pt.ThreadPoolSize,
			BatchMode: pt.BatchMode, FallbackOnError: pt.FallbackOnError, UseSIMD: pt.UseSIMD}, r)
		if err != nil {
			return nil, err
		}
		router, err := route.New(route.DefaultConfig(), route.Deps{Registerer: r})
		if err != nil {
			return nil, err
		}
		nc, err := s.connect(cfg, "tokenizer-"+id)
		if err != nil {
			return nil, err
		}
		w, err := tokenizerd.New(tokenizerd.Config{WorkerID: id, ModelName: cfg.ModelName, ModelID: cfg.ModelName, Subjects: cfg.Subjects,
			BlockSize: cfg.Runtime.CPU.KVCachePool.BlockSize, ContextLen: s.ContextLen, BatchWindow: time.Duration(pt.BatchWindowUs) * time.Microsecond,
			MaxBatch: pt.MaxBatch, BatchMode: pt.BatchMode, Template: tpl, IgnoreKVEvents: cfg.IgnoreKV, HeartbeatInterval: cfg.Heartbeat, Version: cfg.Version},
			tokenizerd.Deps{NC: nc, Pool: pool, Router: router, Registerer: r, Logger: log})
		if err != nil {
			return nil, err
		}
		s.run(ctx, func(ctx context.Context) error { return pool.Run(ctx) })
		s.Tokenizers = append(s.Tokenizers, w)
		s.Routers = append(s.Routers, router)
	}
	if cfg.Control || cfg.Controller {
		if err := s.follow(ctx, cfg, reg, log); err != nil {
			return nil, err
		}
	}
	for _, w := range s.Engines {
		s.run(ctx, w.Run)
	}
	if cfg.Jobs {
		if err := s.startJobs(ctx, cfg, tok, tpl, reg, log); err != nil {
			return nil, err
		}
	}
	for _, w := range s.Tokenizers {
		s.run(ctx, w.Run)
	}
	ok = true
	return s, nil
}

// SetupJobs creates the batch job streams, results bucket and consumer.
func SetupJobs(ctx context.Context, nc *nats.Conn, subjects bus.Subjects) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("stack: jetstream: %w", err)
	}
	_, err = jobs.Setup(ctx, js, jobs.Config{Subjects: subjects})
	return err
}

// startJobs runs one job consumer beside every engine worker. A consumer
// stops fetching when its context ends or its engine drains.
func (s *Stack) startJobs(ctx context.Context, cfg Config, tok *tokenizer.Tokenizer, tpl *chat.Template, reg prometheus.Registerer, log *slog.Logger) error {
	for i, w := range s.Engines {
		id := cfg.Engines[i].ID
		nc, err := s.connect(cfg, "jobs-"+id)
		if err != nil {
			return err
		}
		js, err := jetstream.New(nc)
		if err != nil {
			return fmt.Errorf("stack: jetstream: %w", err)
		}
		var r prometheus.Registerer
		if reg != nil {
			r = prometheus.WrapRegistererWith(prometheus.Labels{"worker": id}, reg)
		}
		enc := &tokenizerd.Encoder{Tok: tok, Template: tpl, ModelID: cfg.ModelName, BlockSize: s.EngineCore[i].BlockSize(), ContextLen: s.ContextLen}
		c, err := jobs.NewConsumer(jobs.ConsumerConfig{WorkerID: id, Subjects: cfg.Subjects, DrainTimeout: cfg.Drain},
			jobs.ConsumerDeps{JS: js, Engine: w, Encoder: enc, Registerer: r, Logger: log})
		if err != nil {
			return err
		}
		s.run(ctx, c.Run)
	}
	return nil
}

// follow wires the control bucket: tokenizers take canary weights, engines
// take their variant's flag overrides, live.
func (s *Stack) follow(ctx context.Context, cfg Config, reg prometheus.Registerer, log *slog.Logger) error {
	nc, err := s.connect(cfg, "control-watch")
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("stack: jetstream: %w", err)
	}
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	kv, err := control.Open(octx, js)
	cancel()
	if err != nil {
		return fmt.Errorf("stack: control bucket: %w", err)
	}
	s.run(ctx, func(ctx context.Context) error {
		return control.WatchWeights(ctx, kv, func(w control.Weights) {
			rw := route.Weights{}
			for v, p := range w.Canary {
				rw[v] = p
			}
			for _, t := range s.Tokenizers {
				t.SetWeights(rw)
			}
		})
	})
	s.run(ctx, func(ctx context.Context) error {
		return control.WatchFlags(ctx, kv, func(o control.FlagOverrides) {
			for i, eng := range s.EngineCore {
				spec := cfg.Engines[i]
				base := cfg.Runtime
				if spec.Runtime != nil {
					base = *spec.Runtime
				}
				f := o[spec.Variant]
				rt, err := f.Apply(base)
				if err != nil {
					log.Warn("ignoring flag overrides", "variant", spec.Variant, "err", err)
					continue
				}
				p := rt.CPU.KVCachePool
				eng.Pool.SetFlags(kvpool.Flags{Enabled: p.Enabled, PrefixMatching: p.PrefixMatching, LRUEviction: p.LRUEviction})
				slow := spec.Slowdown
				if f.Slowdown != nil {
					slow += *f.Slowdown
				}
				eng.Sched.SetSlowdown(slow)
			}
		})
	})
	if cfg.Controller {
		cc := controller.DefaultConfig("controller-1")
		if cfg.ControllerConfig != nil {
			cc = *cfg.ControllerConfig
		}
		cnc, err := s.connect(cfg, "controller")
		if err != nil {
			return err
		}
		c, err := controller.New(cc, controller.Deps{Conn: cnc, Registerer: reg, Logger: log})
		if err != nil {
			return err
		}
		s.Controller = c
		s.run(ctx, c.Run)
	}
	return nil
}

func templateFor(modelPath string) *chat.Template {
	if f, err := gguf.Open(modelPath); err == nil {
		defer f.Close()
		if src, err := f.String("tokenizer.chat_template"); err == nil {
			if t, err := chat.Detect(src); err == nil {
				return t
			}
		}
	}
	t, _ := chat.ByName("chatml")
	return t
}

func (s *Stack) connect(cfg Config, name string) (*nats.Conn, error) {
	nc, err := cfg.Connect(name)
	if err != nil {
		return nil, fmt.Errorf("stack: connect %s: %w", name, err)
	}
	s.conns = append(s.conns, nc)
	return nc, nil
}

func (s *Stack) run(ctx context.Context, f func(context.Context) error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.errMu.Lock()
			s.errs = append(s.errs, err)
			s.errMu.Unlock()
		}
	}()
}

// WaitReady blocks until every tokenizer's router sees every engine.
func (s *Stack) WaitReady(ctx context.Context, variants map[string]int) error {
	for {
		ready := true
		for _, r := range s.Routers {
			for v, n := range variants {
				if len(r.Workers(v)) < n {
					ready = false
				}
			}
		}
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stack: workers not ready: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Draining reports whether any worker of the stack stopped taking work.
func (s *Stack) Draining() bool {
	for _, w := range s.Engines {
		if w.Draining() {
			return true
		}
	}
	for _, w := range s.Tokenizers {
		if w.Draining() {
			return true
		}
	}
	return false
}

// Stop stops every worker, waits for them and closes connections.
func (s *Stack) Stop() error {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	s.closeAll()
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return errors.Join(s.errs...)
}

func (s *Stack) closeAll() {
	for _, nc := range s.conns {
		nc.Close()
	}
	s.conns = nil
	for _, c := range s.closers {
		_ = c()
	}
	s.closers = nil
}
