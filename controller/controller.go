package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/krserve/krserve/controller/alert"
	"github.com/krserve/krserve/controller/clock"
	"github.com/krserve/krserve/controller/control"
	"github.com/krserve/krserve/controller/regress"
	"github.com/krserve/krserve/controller/rollout"
	"github.com/krserve/krserve/controller/window"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	// ErrNotRunning means a command reached a controller whose Run has not
	// opened the control bucket yet (or has returned). Wait for Ready.
	ErrNotRunning = errors.New("controller: not running")
	// ErrRunning means Run was called twice.
	ErrRunning = errors.New("controller: already running")
)

// Controller watches metric events, runs canary rollouts and the
// regression detector. Create it with New and start it with Run.
type Controller struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	clk  clock.Clock
	win  *window.Windows
	met  *metrics
	rm   *rollout.Metrics
	gm   *regress.Metrics

	started atomic.Bool
	ready   chan struct{}
	// Set in Run before ready is closed, read-only afterwards.
	kv       jetstream.KeyValue
	machine  *rollout.Machine
	leaser   *rollout.Leaser
	detector *regress.Detector
	alerts   alert.Sink

	// tickMu serializes Tick and the final lease release: the leaser and
	// the detector belong to whoever holds it.
	tickMu sync.Mutex

	mu       sync.Mutex // guards the fields below
	pubs     map[pubKey]uint64
	variants map[string]*VariantStatus
	bad      uint64
	status   Status

	processed atomic.Uint64
}

type pubKey struct{ variant, worker string }

// New validates cfg and deps and returns a controller. It starts no
// goroutines and does no I/O.
func New(cfg Config, deps Deps) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Conn == nil {
		return nil, fmt.Errorf("%w: Deps.Conn is required", ErrBadConfig)
	}
	if deps.Clock == nil {
		deps.Clock = clock.System{}
	}
	if deps.Registerer == nil {
		deps.Registerer = prometheus.NewRegistry()
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	win, err := window.New(cfg.Window, deps.Clock)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	c := &Controller{cfg: cfg, deps: deps, log: log.With("component", "controller", "worker", cfg.WorkerID), clk: deps.Clock, win: win,
		ready: make(chan struct{}), pubs: map[pubKey]uint64{}, variants: map[string]*VariantStatus{}}
	if c.met, err = newMetrics(deps.Registerer); err != nil {
		return nil, err
	}
	if c.rm, err = rollout.NewMetrics(deps.Registerer); err != nil {
		return nil, err
	}
	if c.gm, err = regress.NewMetrics(deps.Registerer); err != nil {
		return nil, err
	}
	c.status = Status{WorkerID: cfg.WorkerID, Rollout: rollout.State{Phase: rollout.Idle}}
	return c, nil
}

// Ready is closed once Run has opened the control bucket, subscribed to
// metric events and registered the micro service.
func (c *Controller) Ready() <-chan struct{} { return c.ready }

// Windows returns the controller's metric windows (for in-process
// inspection).
func (c *Controller) Windows() *window.Windows { return c.win }

// Processed returns how many metric messages the controller has handled,
// good or bad.
func (c *Controller) Processed() uint64 { return c.processed.Load() }

// Run opens the control bucket, subscribes to metric events, registers the
// micro service and ticks until ctx is done; then it stops the service,
// unsubscribes, releases the lease and returns nil. Errors setting up are
// returned at once.
func (c *Controller) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return ErrRunning
	}
	js := c.deps.JS
	if js == nil {
		var err error
		if js, err = jetstream.New(c.deps.Conn); err != nil {
			return fmt.Errorf("controller: jetstream: %w", err)
		}
	}
	kv, err := control.Open(ctx, js)
	if err != nil {
		return err
	}
	c.kv = kv
	c.alerts = alert.NewPublisher(c.deps.Conn, c.cfg.Subjects)
	if c.machine, err = rollout.NewMachine(c.cfg.rolloutConfig(), rollout.Deps{KV: kv, Windows: c.win, Alerts: c.alerts, Metrics: c.rm, Logger: c.log}); err != nil {
		return err
	}
	if c.leaser, err = rollout.NewLeaser(kv, c.cfg.WorkerID, c.cfg.LeaseTTL); err != nil {
		return err
	}
	c.detector, err = regress.NewDetector(c.cfg.Regress, regress.Deps{KV: kv, Windows: c.win, Alerts: c.alerts, Metrics: c.gm, Logger: c.log,
		OnRollback: c.regressionRollback})
	if err != nil {
		return err
	}
	sub, err := c.subscribe()
	if err != nil {
		return err
	}
	defer func() { _ = sub.Unsubscribe() }()
	svc, err := c.addService()
	if err != nil {
		return err
	}
	defer func() { _ = svc.Stop() }()
	close(c.ready)
	c.log.Info("controller running")

	ticks := c.deps.Ticks
	if ticks == nil {
		t := time.NewTicker(c.cfg.TickEvery)
		defer t.Stop()
		ticks = t.C
		c.tickLogged(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			c.release()
			return nil
		case <-ticks:
			c.tickLogged(ctx)
		}
	}
}

func (c *Controller) tickLogged(ctx context.Context) {
	if err := c.Tick(ctx); err != nil && ctx.Err() == nil {
		c.met.tickErrors.Inc()
		c.log.Warn("controller: tick failed", "err", err)
	}
}

// release gives up the lease when Run ends, so a standby takes over at once.
func (c *Controller) release() {
	c.tickMu.Lock()
	defer c.tickMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.leaser.Release(ctx); err != nil {
		c.log.Warn("controller: lease not released; it expires on its own", "err", err)
	}
	c.met.leader.Set(0)
	c.mu.Lock()
	c.status.Leader = false
	c.mu.Unlock()
	c.log.Info("controller stopped")
}

// Tick runs one round of the control loop at the clock's now: take or
// renew the lease and, holding it, advance the rollout, capture a pending
// baseline profile and run the regression detector. Run calls it every
// Config.TickEvery; tests call it directly with a manual clock.
func (c *Controller) Tick(ctx context.Context) error {
	select {
	case <-c.ready:
	default:
		return ErrNotRunning
	}
	c.tickMu.Lock()
	defer c.tickMu.Unlock()
	now := c.clk.Now()
	held, err := c.leaser.Tick(ctx, now)
	c.setLeader(held)
	if err != nil {
		return err
	}
	if !held {
		// Standing by: keep the status current, act on nothing.
		st, err := c.machine.Load(ctx)
		if err == nil {
			c.mu.Lock()
			c.status.Rollout = st
			c.mu.Unlock()
		}
		return err
	}
	st, err := c.machine.Tick(ctx, now)
	if err != nil {
		return err
	}
	if st.Phase == rollout.Promoted && st.ProfilePending && !now.Before(st.UpdatedAt.Add(time.Duration(st.Spec.Interval))) {
		_, err := c.detector.Capture(ctx, now, st.Spec.Baseline, st.UpdatedAt)
		switch {
		case errors.Is(err, regress.ErrTooFewSamples):
			c.log.Debug("controller: baseline profile waits for more samples", "err", err)
		case err != nil:
			return err
		default:
			if err := c.machine.MarkProfileCaptured(ctx, now); err != nil {
				return err
			}
		}
	}
	reports, err := c.detector.Tick(ctx, now)
	if err != nil {
		return err
	}
	if st, err = c.machine.Load(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	c.status.Rollout = st
	if reports != nil {
		c.status.Regression = reports
	}
	c.mu.Unlock()
	return nil
}

func (c *Controller) setLeader(held bool) {
	v := 0.0
	if held {
		v = 1
	}
	c.met.leader.Set(v)
	c.mu.Lock()
	c.status.Leader = held
	c.mu.Unlock()
}

// regressionRollback ends an active rollout after the detector rolled a
// variant back.
func (c *Controller) regressionRollback(ctx context.Context, now time.Time, r regress.Report) {
	_, err := c.machine.Rollback(ctx, now, rollout.ReasonRegression, fmt.Sprintf("%s regressed against its baseline profile", r.Variant))
	if err != nil && !errors.Is(err, rollout.ErrNotActive) {
		c.log.Warn("controller: rollout not rolled back after a regression", "err", err)
	}
}

// StartRollout starts a rollout; fields req leaves empty take the
// Config's defaults.
func (c *Controller) StartRollout(ctx context.Context, req StartRequest) (rollout.State, error) {
	if err := c.running(); err != nil {
		return rollout.State{}, err
	}
	spec := c.specFor(req)
	if time.Duration(spec.Interval) > c.cfg.Window.Window {
		return rollout.State{}, fmt.Errorf("%w: interval %v is longer than the controller's window %v", rollout.ErrBadSpec, time.Duration(spec.Interval), c.cfg.Window.Window)
	}
	return c.machine.Start(ctx, c.clk.Now(), spec)
}

func (c *Controller) specFor(req StartRequest) rollout.Spec {
	s := rollout.Spec{Canary: req.Canary, Baseline: req.Baseline, Stages: req.Stages, Interval: req.Interval,
		IntervalsPerStage: req.IntervalsPerStage, Gates: req.Gates, Flags: req.Flags}
	if s.Canary == "" {
		s.Canary = "canary"
	}
	if s.Baseline == "" {
		s.Baseline = c.cfg.Baseline
	}
	if len(s.Stages) == 0 {
		s.Stages = c.cfg.Stages
	}
	if s.Interval == 0 {
		s.Interval = rollout.Duration(c.cfg.Interval)
	}
	if s.IntervalsPerStage == 0 {
		s.IntervalsPerStage = c.cfg.IntervalsPerStage
	}
	return s
}

// PauseRollout, ResumeRollout, PromoteRollout and AbortRollout run the
// operator commands of package rollout at the clock's now.
func (c *Controller) PauseRollout(ctx context.Context) (rollout.State, error) {
	if err := c.running(); err != nil {
		return rollout.State{}, err
	}
	return c.machine.Pause(ctx, c.clk.Now())
}

// ResumeRollout continues a paused rollout.
func (c *Controller) ResumeRollout(ctx context.Context) (rollout.State, error) {
	if err := c.running(); err != nil {
		return rollout.State{}, err
	}
	return c.machine.Resume(ctx, c.clk.Now())
}

// PromoteRollout advances a rollout by one stage (through a gate), or
// promotes it at once with full.
func (c *Controller) PromoteRollout(ctx context.Context, full bool) (rollout.State, error) {
	if err := c.running(); err != nil {
		return rollout.State{}, err
	}
	return c.machine.Promote(ctx, c.clk.Now(), full)
}

// AbortRollout rolls the active rollout back with reason "abort".
func (c *Controller) AbortRollout(ctx context.Context) (rollout.State, error) {
	if err := c.running(); err != nil {
		return rollout.State{}, err
	}
	return c.machine.Abort(ctx, c.clk.Now())
}

func (c *Controller) running() error {
	select {
	case <-c.ready:
		return nil
	default:
		return ErrNotRunning
	}
}

// Status is a snapshot of the controller.
type Status struct {
	WorkerID string `json:"worker_id"`
	// Leader reports whether this controller held the lease at its last
	// tick; Lease is the stored lease (in StatusNow).
	Leader bool          `json:"leader"`
	Lease  rollout.Lease `json:"lease"`
	// Rollout is the rollout state (as of the last tick in Status, as
	// stored in StatusNow); Weights the stored weights (StatusNow).
	Rollout rollout.State   `json:"rollout"`
	Weights control.Weights `json:"weights"`
	// Variants counts metric events per variant.
	Variants map[string]VariantStatus `json:"variants"`
	// BadEvents counts metric messages dropped as malformed.
	BadEvents  uint64           `json:"bad_events"`
	Regression []regress.Report `json:"regression,omitempty"`
}

// VariantStatus counts one variant's metric events.
type VariantStatus struct {
	Events     uint64    `json:"events"`
	Gaps       uint64    `json:"gaps"`       // windows missing (sequence numbers skipped)
	Duplicates uint64    `json:"duplicates"` // windows received twice or out of order, dropped
	Restarts   uint64    `json:"restarts"`   // publishers that started again from sequence 1
	LastEvent  time.Time `json:"last_event"`
}

// Status returns the in-memory snapshot: event counts now, the rollout as
// of the last tick.
func (c *Controller) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.status
	s.BadEvents = c.bad
	s.Variants = make(map[string]VariantStatus, len(c.variants))
	for k, v := range c.variants {
		s.Variants[k] = *v
	}
	return s
}

// StatusNow is Status with the rollout, lease and weights read from the
// control bucket.
func (c *Controller) StatusNow(ctx context.Context) (Status, error) {
	if err := c.running(); err != nil {
		return Status{}, err
	}
	s := c.Status()
	var err error
	if s.Rollout, err = c.machine.Load(ctx); err != nil {
		return s, err
	}
	if s.Lease, err = rollout.ReadLease(ctx, c.kv); err != nil {
		return s, err
	}
	if s.Weights, err = control.GetWeights(ctx, c.kv); err != nil {
		return s, err
	}
	return s, nil
}
