package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/krserve/krserve/controller/alert"
	"github.com/krserve/krserve/controller/control"
	"github.com/krserve/krserve/controller/judge"
	"github.com/krserve/krserve/controller/window"
	"github.com/nats-io/nats.go/jetstream"
)

// Source gives the windows the judge compares.
type Source interface {
	SnapshotSince(variant string, since time.Time) window.Snapshot
}

// Config configures the analysis.
type Config struct {
	// Judge is the registered judge's name (judge.Names()).
	Judge string
	// Criteria are the thresholds.
	Criteria judge.Criteria
	// Streak is N: this many consecutive failing intervals roll back.
	Streak int
	// InconclusiveAlert is K: every K inconclusive intervals in a row
	// raise an alert (the rollout neither passes nor fails on them).
	InconclusiveAlert int
	// HistoryLen bounds State.History.
	HistoryLen int
}

// DefaultConfig: the "kayenta" judge on judge.DefaultCriteria, rollback
// after 2 failing intervals, an alert after 3 inconclusive ones.
func DefaultConfig() Config {
	return Config{Judge: "kayenta", Criteria: judge.DefaultCriteria(), Streak: 2, InconclusiveAlert: 3, HistoryLen: 32}
}

// Validate checks the config.
func (c Config) Validate() error {
	if _, err := judge.New(c.Judge); err != nil {
		return fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	if err := c.Criteria.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	switch {
	case c.Streak < 1:
		return fmt.Errorf("%w: Streak %d must be at least 1", ErrBadConfig, c.Streak)
	case c.InconclusiveAlert < 1:
		return fmt.Errorf("%w: InconclusiveAlert %d must be at least 1", ErrBadConfig, c.InconclusiveAlert)
	case c.HistoryLen < 1:
		return fmt.Errorf("%w: HistoryLen %d must be at least 1", ErrBadConfig, c.HistoryLen)
	}
	return nil
}

// Deps are the machine's dependencies.
type Deps struct {
	KV      jetstream.KeyValue // the control bucket
	Windows Source
	Alerts  alert.Sink // nil = no alerts
	Metrics *Metrics   // nil = no metrics
	Logger  *slog.Logger
}

// Machine runs rollouts whose state lives in the control bucket. It keeps
// no state of its own between calls: every command and Tick reads the
// stored state, computes the next one and writes it back only if nobody
// wrote in between (revision-checked), then applies the weights and flags
// the new state calls for.
type Machine struct {
	cfg   Config
	judge judge.Judge
	kv    jetstream.KeyValue
	src   Source
	sink  alert.Sink
	m     *Metrics
	log   *slog.Logger
}

// NewMachine validates cfg and returns a machine. It starts no goroutines.
func NewMachine(cfg Config, deps Deps) (*Machine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.KV == nil || deps.Windows == nil {
		return nil, fmt.Errorf("%w: Deps.KV and Deps.Windows are required", ErrBadConfig)
	}
	j, _ := judge.New(cfg.Judge)
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Machine{cfg: cfg, judge: j, kv: deps.KV, src: deps.Windows, sink: deps.Alerts, m: deps.Metrics, log: log}, nil
}

// Load reads the stored state; none stored gives an Idle state.
func (m *Machine) Load(ctx context.Context) (State, error) {
	e, err := m.kv.Get(ctx, control.KeyRollout)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return State{Phase: Idle}, nil
	case err != nil:
		return State{}, fmt.Errorf("rollout: load state: %w", err)
	}
	var st State
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return State{}, fmt.Errorf("%w: revision %d: %v", ErrCorruptState, e.Revision(), err)
	}
	if st.Phase.Active() && (st.Stage < 0 || st.Stage >= len(st.Spec.Stages)) {
		return State{}, fmt.Errorf("%w: revision %d: stage %d of %d", ErrCorruptState, e.Revision(), st.Stage, len(st.Spec.Stages))
	}
	st.Revision = e.Revision()
	m.m.observeState(st)
	return st, nil
}

// save writes st if the stored revision is still prev (0: no state yet).
func (m *Machine) save(ctx context.Context, st *State, prev uint64) (conflict bool, err error) {
	b, err := json.Marshal(st)
	if err != nil {
		return false, fmt.Errorf("rollout: encode state: %w", err)
	}
	var rev uint64
	if prev == 0 {
		rev, err = m.kv.Create(ctx, control.KeyRollout, b)
	} else {
		rev, err = m.kv.Update(ctx, control.KeyRollout, b, prev)
	}
	switch {
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("rollout: save state: %w", err)
	}
	st.Revision = rev
	return false, nil
}

// txn is one transition being computed: the next state and what to emit
// once it is stored.
type txn struct {
	now      time.Time
	st       *State
	alerts   []alert.Alert
	verdict  *judge.Verdict
	rollback string
	changed  bool
}

func (t *txn) transition(to Phase, reason string, histLen int) {
	t.st.History = append(t.st.History, Transition{At: t.now, From: t.st.Phase, To: to, Stage: t.st.Stage, Weight: t.st.Weight, Reason: reason})
	if n := len(t.st.History); n > histLen {
		t.st.History = t.st.History[n-histLen:]
	}
	t.st.Phase = to
	t.st.Reason = reason
	t.changed = true
}

// update runs fn on a copy of the stored state and stores the result,
// retrying on a concurrent write; then it applies the new state's effects
// and emits the alerts and metrics fn queued.
func (m *Machine) update(ctx context.Context, now time.Time, fn func(t *txn) error) (State, error) {
	for range 8 {
		cur, err := m.Load(ctx)
		if err != nil {
			return State{}, err
		}
		next := cur.clone()
		t := &txn{now: now, st: &next}
		if err := fn(t); err != nil {
			return cur, err
		}
		if !t.changed {
			return cur, nil
		}
		next.UpdatedAt = now
		next.Applied = false
		conflict, err := m.save(ctx, &next, cur.Revision)
		if err != nil {
			return cur, err
		}
		if conflict {
			continue
		}
		m.emit(t)
		if err := m.applyAndMark(ctx, &next); err != nil {
			m.log.Warn("rollout: state stored, effects not yet applied; the next tick retries", "err", err)
		}
		m.m.observeState(next)
		return next, nil
	}
	return State{}, ErrConflict
}

func (m *Machine) emit(t *txn) {
	if t.verdict != nil {
		m.m.observeVerdict(*t.verdict, t.st.Spec)
	}
	if t.rollback != "" {
		m.m.rollback(t.st.Spec.Canary, t.rollback)
	}
	for _, a := range t.alerts {
		a.Rollout = t.st.ID
		if m.sink == nil {
			continue
		}
		if err := m.sink.Send(a); err != nil {
			m.log.Warn("rollout: alert not sent", "kind", a.Kind, "err", err)
		}
	}
}

// applyAndMark writes the weights and flag overrides st calls for, then
// records that in the stored state.
func (m *Machine) applyAndMark(ctx context.Context, st *State) error {
	if err := m.apply(ctx, *st); err != nil {
		return err
	}
	st.Applied = true
	conflict, err := m.save(ctx, st, st.Revision)
	if err != nil {
		return err
	}
	if conflict {
		// Someone moved the state on; they apply their own effects.
		st.Applied = false
	}
	return nil
}

// apply writes the effects of st. Order matters: a canary is configured
// before it gets traffic, traffic leaves it before its overrides go, and a
// promoted configuration reaches the baseline before the traffic does.
func (m *Machine) apply(ctx context.Context, st State) error {
	canary, baseline := st.Spec.Canary, st.Spec.Baseline
	setCanary := func(o control.FlagOverrides) control.FlagOverrides {
		if st.Spec.Flags.IsZero() {
			delete(o, canary)
		} else {
			o[canary] = st.Spec.Flags.Clone()
		}
		return o
	}
	dropCanary := func(o control.FlagOverrides) control.FlagOverrides { delete(o, canary); return o }
	switch st.Phase {
	case Progressing, Paused:
		if err := control.UpdateFlags(ctx, m.kv, setCanary); err != nil {
			return err
		}
		return control.PutWeights(ctx, m.kv, st.desiredWeights())
	case RolledBack:
		if err := control.PutWeights(ctx, m.kv, st.desiredWeights()); err != nil {
			return err
		}
		return control.UpdateFlags(ctx, m.kv, dropCanary)
	case Promoted:
		err := control.UpdateFlags(ctx, m.kv, func(o control.FlagOverrides) control.FlagOverrides {
			if !st.Spec.Flags.IsZero() {
				o[baseline] = o[baseline].Merge(st.Spec.Flags)
			}
			return dropCanary(o)
		})
		if err != nil {
			return err
		}
		return control.PutWeights(ctx, m.kv, st.desiredWeights())
	}
	return nil
}

// Start begins a rollout of spec (validated) at its first stage.
func (m *Machine) Start(ctx context.Context, now time.Time, spec Spec) (State, error) {
	if err := spec.Validate(); err != nil {
		return State{}, err
	}
	return m.update(ctx, now, func(t *txn) error {
		if t.st.Phase.Active() {
			return fmt.Errorf("%w: %s is %s at %v %%", ErrActive, t.st.ID, t.st.Phase, t.st.Weight)
		}
		*t.st = State{
			ID: uuid.NewString(), Phase: Idle, Spec: spec, Weight: spec.Stages[0],
			StartedAt: t.now, StageStartedAt: t.now, LastAnalysisAt: t.now,
		}
		t.transition(Progressing, fmt.Sprintf("started: %s at %v %%", spec.Canary, spec.Stages[0]), m.cfg.HistoryLen)
		return nil
	})
}

// Pause stops analysis and advancement; the weights stay.
func (m *Machine) Pause(ctx context.Context, now time.Time) (State, error) {
	return m.update(ctx, now, func(t *txn) error {
		if err := needActive(t.st); err != nil {
			return err
		}
		if t.st.Phase != Progressing {
			return fmt.Errorf("%w: %s is %s", ErrBadTransition, t.st.ID, t.st.Phase)
		}
		t.transition(Paused, "paused by operator", m.cfg.HistoryLen)
		return nil
	})
}

// Resume continues a paused rollout; the next analysis judges only data
// observed after now.
func (m *Machine) Resume(ctx context.Context, now time.Time) (State, error) {
	return m.update(ctx, now, func(t *txn) error {
		if err := needActive(t.st); err != nil {
			return err
		}
		if t.st.Phase != Paused {
			return fmt.Errorf("%w: %s is %s", ErrBadTransition, t.st.ID, t.st.Phase)
		}
		t.st.LastAnalysisAt = t.now
		t.transition(Progressing, "resumed by operator", m.cfg.HistoryLen)
		return nil
	})
}

// Promote advances the rollout by hand: it opens a waiting gate or skips
// to the next stage; from the last stage, or with full, it promotes.
func (m *Machine) Promote(ctx context.Context, now time.Time, full bool) (State, error) {
	return m.update(ctx, now, func(t *txn) error {
		if err := needActive(t.st); err != nil {
			return err
		}
		if full {
			m.promote(t, "promoted by operator")
			return nil
		}
		m.advance(t, "advanced by operator")
		return nil
	})
}

// Abort rolls the rollout back with reason "abort".
func (m *Machine) Abort(ctx context.Context, now time.Time) (State, error) {
	return m.Rollback(ctx, now, ReasonAbort, "aborted by operator")
}

// Rollback rolls an active rollout back: weights to 100 % baseline, the
// canary's flag overrides removed. reason is one of the Reason* labels.
func (m *Machine) Rollback(ctx context.Context, now time.Time, reason, detail string) (State, error) {
	return m.update(ctx, now, func(t *txn) error {
		if err := needActive(t.st); err != nil {
			return err
		}
		m.rollback(t, reason, detail)
		return nil
	})
}

// MarkProfileCaptured clears State.ProfilePending.
func (m *Machine) MarkProfileCaptured(ctx context.Context, now time.Time) error {
	_, err := m.update(ctx, now, func(t *txn) error {
		if t.st.ProfilePending {
			t.st.ProfilePending = false
			t.changed = true
		}
		return nil
	})
	return err
}

func needActive(st *State) error {
	if !st.Phase.Active() {
		id := st.ID
		if id == "" {
			id = "none"
		}
		return fmt.Errorf("%w: last rollout %s is %s", ErrNotActive, id, st.Phase)
	}
	return nil
}

// Tick does what is due at now: re-apply effects a crash left unapplied,
// and judge an interval when one has passed. It returns the state after.
func (m *Machine) Tick(ctx context.Context, now time.Time) (State, error) {
	st, err := m.Load(ctx)
	if err != nil {
		return State{}, err
	}
	if !st.Applied && st.ID != "" {
		if err := m.applyAndMark(ctx, &st); err != nil {
			return st, err
		}
	}
	if st.Phase != Progressing || now.Before(st.LastAnalysisAt.Add(time.Duration(st.Spec.Interval))) {
		return st, nil
	}
	return m.update(ctx, now, func(t *txn) error {
		if t.st.Phase != Progressing || t.now.Before(t.st.LastAnalysisAt.Add(time.Duration(t.st.Spec.Interval))) {
			return nil // someone else analysed meanwhile
		}
		m.analyze(t)
		return nil
	})
}
