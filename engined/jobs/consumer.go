package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/engined/sched"
	"github.com/krserve/krserve/schemas"
	"github.com/krserve/krserve/tokenizerd"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Engine is what a Consumer needs from an engine worker; *engined.Worker
// implements it. With onDone set, Submit collects the output and calls
// onDone once (on the scheduler goroutine) instead of streaming it.
type Engine interface {
	Submit(req *schemas.EngineRequest, onDone func(*sched.Result, *schemas.Error)) error
	Draining() bool
}

// ConsumerConfig sizes one engine's job consumer.
type ConsumerConfig struct {
	WorkerID string // the engine worker's id, recorded in results
	Subjects bus.Subjects
	// MaxInFlight bounds the jobs this engine holds at once (fetched and not
	// yet acknowledged); the consumer fetches only into free slots. Default 4.
	MaxInFlight int
	// FetchWait is how long one pull waits for jobs; it bounds how long Run
	// takes to notice its context ending. Default 2s.
	FetchWait time.Duration
	// RetryDelay is the first redelivery delay after a retryable failure;
	// it doubles with each delivery up to MaxRetryDelay. Defaults 1s, 30s.
	RetryDelay    time.Duration
	MaxRetryDelay time.Duration
	// DrainTimeout is how long Run waits, after its context ends, for
	// in-flight jobs to finish and be acknowledged; jobs still running then
	// are left unacknowledged, so JetStream redelivers them. Default 30s.
	DrainTimeout time.Duration
	// OpTimeout bounds each JetStream operation (result store, dead-letter
	// publish, result lookup). Default 10s.
	OpTimeout time.Duration
}

// Validate fills defaults and checks ranges.
func (c *ConsumerConfig) Validate() error {
	if c.WorkerID == "" || strings.ContainsAny(c.WorkerID, ".*> ") {
		return fmt.Errorf("jobs: worker id %q must be one subject token", c.WorkerID)
	}
	if c.Subjects.Prefix != "" {
		if err := bus.ValidatePrefix(c.Subjects.Prefix); err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 4
	}
	def(&c.FetchWait, 2*time.Second)
	def(&c.RetryDelay, time.Second)
	def(&c.MaxRetryDelay, 30*time.Second)
	def(&c.DrainTimeout, 30*time.Second)
	def(&c.OpTimeout, 10*time.Second)
	switch {
	case c.MaxInFlight < 1 || c.MaxInFlight > 4096:
		return fmt.Errorf("jobs: max in flight %d is outside [1, 4096]", c.MaxInFlight)
	case c.FetchWait < 10*time.Millisecond:
		return fmt.Errorf("jobs: fetch wait %v is shorter than 10ms", c.FetchWait)
	case c.RetryDelay < 0 || c.MaxRetryDelay < c.RetryDelay:
		return fmt.Errorf("jobs: retry delay %v / max %v: want 0 <= delay <= max", c.RetryDelay, c.MaxRetryDelay)
	case c.DrainTimeout < 0 || c.OpTimeout < 0:
		return errors.New("jobs: negative drain or operation timeout")
	}
	return nil
}

// ConsumerDeps are a Consumer's collaborators.
type ConsumerDeps struct {
	JS         jetstream.JetStream
	Engine     Engine
	Encoder    *tokenizerd.Encoder // renders and encodes the job's request for this engine's model
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Now        func() time.Time // stamps results; time.Now when nil
}

// Consumer pulls jobs from the work queue into one engine worker. See the
// package doc for the delivery semantics.
type Consumer struct {
	cfg  ConsumerConfig
	deps ConsumerDeps
	log  *slog.Logger
	m    *metrics

	// Set by Run before any job goroutine starts.
	kv         jetstream.KeyValue
	ackWait    time.Duration
	maxDeliver int
	abandon    chan struct{} // closed when Run stops waiting for in-flight jobs

	slots chan struct{} // one token per held job
	wg    sync.WaitGroup

	mu      sync.Mutex
	running map[string]*run // job id → the local run of that job
}

// NewConsumer validates cfg; it starts nothing.
func NewConsumer(cfg ConsumerConfig, deps ConsumerDeps) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.JS == nil || deps.Engine == nil || deps.Encoder == nil || deps.Encoder.Tok == nil {
		return nil, errors.New("jobs: JetStream, engine and encoder (with a tokenizer) are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Consumer{cfg: cfg, deps: deps, log: deps.Logger.With("worker", cfg.WorkerID), m: newMetrics(deps.Registerer),
		slots: make(chan struct{}, cfg.MaxInFlight), running: map[string]*run{}}, nil
}

// Run fetches and runs jobs until ctx ends, the engine drains or the NATS
// connection closes; then it stops fetching, waits up to DrainTimeout for
// the jobs it holds, and returns. It returns nil after a normal stop,
// ErrNotSetUp when the queue does not exist, and the connection error when
// the connection closed. Run must not be called twice.
func (c *Consumer) Run(ctx context.Context) error {
	cons, kv, err := bind(ctx, c.deps.JS)
	if err != nil {
		return err
	}
	info := cons.CachedInfo()
	c.kv, c.ackWait, c.maxDeliver = kv, info.Config.AckWait, info.Config.MaxDeliver
	c.abandon = make(chan struct{})
	runErr := c.fetchLoop(ctx, cons)

	idle := make(chan struct{})
	go func() { c.wg.Wait(); close(idle) }()
	t := time.NewTimer(c.cfg.DrainTimeout)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
		c.log.Warn("drain timeout: leaving in-flight jobs for redelivery")
		close(c.abandon)
		<-idle
	}
	return runErr
}

func (c *Consumer) fetchLoop(ctx context.Context, cons jetstream.Consumer) error {
	for {
		select {
		case c.slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		n := 1
	more:
		for n < c.cfg.MaxInFlight {
			select {
			case c.slots <- struct{}{}:
				n++
			default:
				break more
			}
		}
		if ctx.Err() != nil || c.deps.Engine.Draining() {
			c.release(n)
			return nil
		}
		batch, err := cons.Fetch(n, jetstream.FetchMaxWait(c.cfg.FetchWait))
		if err != nil {
			c.release(n)
			if stop, rerr := c.fetchFailed(ctx, err); stop {
				return rerr
			}
			continue
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			c.wg.Add(1)
			go c.handle(msg)
		}
		c.release(n - got)
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) {
			if stop, rerr := c.fetchFailed(ctx, err); stop {
				return rerr
			}
		}
	}
}

// fetchFailed decides whether a fetch error ends Run; otherwise it waits a
// little (or until ctx ends) so a broken server is not hammered.
func (c *Consumer) fetchFailed(ctx context.Context, err error) (bool, error) {
	if errors.Is(err, nats.ErrConnectionClosed) {
		return true, fmt.Errorf("jobs: fetch: %w", err)
	}
	c.log.Warn("fetch jobs", "err", err)
	t := time.NewTimer(max(c.cfg.RetryDelay, 100*time.Millisecond))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return true, nil
	case <-t.C:
		return false, nil
	}
}

func (c *Consumer) release(n int) {
	for range n {
		<-c.slots
	}
}
