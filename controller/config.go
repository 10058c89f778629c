package controller

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/controller/clock"
	"github.com/krserve/krserve/controller/judge"
	"github.com/krserve/krserve/controller/regress"
	"github.com/krserve/krserve/controller/rollout"
	"github.com/krserve/krserve/controller/window"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrBadConfig means a Config field is out of range (the message names it).
var ErrBadConfig = errors.New("controller: invalid config")

// Config configures a controller.
type Config struct {
	// WorkerID names this controller in the lease and in `nats micro`.
	WorkerID string
	// Subjects carries the subject prefix.
	Subjects bus.Subjects
	// Judge, Criteria, Streak (N) and InconclusiveAlert (K) configure the
	// analysis of every rollout.
	Judge             string
	Criteria          judge.Criteria
	Streak            int
	InconclusiveAlert int
	// Stages, Interval, IntervalsPerStage and Baseline are the defaults of
	// a start request that leaves them out.
	Stages            []float64
	Interval          time.Duration
	IntervalsPerStage int
	Baseline          string
	// LeaseTTL is how long a lease lasts without renewal; it is renewed
	// every LeaseTTL/3. TickEvery is the period of the Run loop (it must
	// be at most LeaseTTL/3).
	LeaseTTL  time.Duration
	TickEvery time.Duration
	// Window sizes the per-variant windows; Window.Window must cover the
	// longest analysis interval.
	Window window.Config
	// Regress configures the regression detector.
	Regress regress.Config
	// MaxPublishers bounds the per-publisher sequence tracking.
	MaxPublishers int
}

// DefaultConfig is a controller with the design's defaults: the "kayenta"
// judge on judge.DefaultCriteria, rollback after 2 failing intervals, an
// alert after 3 inconclusive ones, stages 10/25/50/100 % of 30 s, a 30 s
// lease renewed every 10 s, 10-minute windows.
func DefaultConfig(workerID string) Config {
	rc := rollout.DefaultConfig()
	return Config{
		WorkerID: workerID, Judge: rc.Judge, Criteria: rc.Criteria, Streak: rc.Streak, InconclusiveAlert: rc.InconclusiveAlert,
		Stages: rollout.DefaultStages(), Interval: 30 * time.Second, IntervalsPerStage: 1, Baseline: "baseline",
		LeaseTTL: 30 * time.Second, TickEvery: time.Second,
		Window:  window.Config{Window: 10 * time.Minute, MaxSamples: 4096, Resolution: time.Second, MaxVariants: 16},
		Regress: regress.DefaultConfig(), MaxPublishers: 4096,
	}
}

// Validate checks the config.
func (c *Config) Validate() error {
	if c.WorkerID == "" {
		return fmt.Errorf("%w: WorkerID is empty", ErrBadConfig)
	}
	if c.Subjects.Prefix != "" {
		if err := bus.ValidatePrefix(c.Subjects.Prefix); err != nil {
			return fmt.Errorf("%w: %w", ErrBadConfig, err)
		}
	}
	if err := c.rolloutConfig().Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	spec := rollout.Spec{Canary: "canary-check", Baseline: c.Baseline, Stages: c.Stages, Interval: rollout.Duration(c.Interval), IntervalsPerStage: c.IntervalsPerStage}
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("%w: rollout defaults: %w", ErrBadConfig, err)
	}
	if err := c.Window.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	if err := c.Regress.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	switch {
	case c.LeaseTTL <= 0:
		return fmt.Errorf("%w: LeaseTTL %v must be positive", ErrBadConfig, c.LeaseTTL)
	case c.TickEvery <= 0 || c.TickEvery > c.LeaseTTL/3:
		return fmt.Errorf("%w: TickEvery %v must be in (0, LeaseTTL/3 = %v]", ErrBadConfig, c.TickEvery, c.LeaseTTL/3)
	case c.Interval > c.Window.Window:
		return fmt.Errorf("%w: Interval %v is longer than the window %v", ErrBadConfig, c.Interval, c.Window.Window)
	case c.MaxPublishers < 1:
		return fmt.Errorf("%w: MaxPublishers %d must be at least 1", ErrBadConfig, c.MaxPublishers)
	}
	return nil
}

func (c *Config) rolloutConfig() rollout.Config {
	return rollout.Config{Judge: c.Judge, Criteria: c.Criteria, Streak: c.Streak, InconclusiveAlert: c.InconclusiveAlert, HistoryLen: 32}
}

// Deps are the controller's dependencies.
type Deps struct {
	// Conn is the NATS connection (shared; the caller closes it after Run
	// returned). JS is its JetStream context (jetstream.New(Conn) when nil).
	Conn *nats.Conn
	JS   jetstream.JetStream
	// Clock drives windows, analysis and leases (clock.System when nil).
	Clock clock.Clock
	// Registerer receives the metrics (a private registry when nil).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Ticks, when set, replaces the Run loop's ticker: Run ticks once per
	// value received. Tests pass a channel they never send on and call
	// Tick themselves.
	Ticks <-chan time.Time
}
