package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/krserve/krserve/controller/alert"
	"github.com/krserve/krserve/controller/clock"
	"github.com/krserve/krserve/controller/control"
	"github.com/krserve/krserve/controller/window"
	"github.com/krserve/krserve/internal/testenv"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const interval = 10 * time.Second

type alerts struct {
	mu  sync.Mutex
	got []alert.Alert
}

func (a *alerts) Send(x alert.Alert) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, x)
	return nil
}

func (a *alerts) kinds(kind string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, x := range a.got {
		if x.Kind == kind {
			n++
		}
	}
	return n
}

type env struct {
	kv      jetstream.KeyValue
	clk     *clock.Manual
	win     *window.Windows
	m       *Machine
	alerts  *alerts
	reg     *prometheus.Registry
	rng     *rand.Rand
	metrics *Metrics
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	_, nc := testenv.NATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := control.Open(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{kv: kv, clk: clock.NewManual(t0), alerts: &alerts{}, reg: prometheus.NewRegistry(), rng: rand.New(rand.NewPCG(1, 2))}
	e.win, err = window.New(window.DefaultConfig(), e.clk)
	if err != nil {
		t.Fatal(err)
	}
	e.metrics, err = NewMetrics(e.reg)
	if err != nil {
		t.Fatal(err)
	}
	e.m = e.machine(t, cfg)
	return e
}

func (e *env) machine(t *testing.T, cfg Config) *Machine {
	t.Helper()
	m, err := NewMachine(cfg, Deps{KV: e.kv, Windows: e.win, Alerts: e.alerts, Metrics: e.metrics})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// traffic records n requests of a variant whose TTFT is slow times the
// baseline's (50 ms ± 5 ms) and throughput 100 tok/s ± 10.
func (e *env) traffic(t *testing.T, variant string, n int, slow float64) {
	t.Helper()
	for range n {
		if err := e.win.Observe(variant, window.TTFT, slow*(0.05+0.005*e.rng.NormFloat64())); err != nil {
			t.Fatal(err)
		}
		if err := e.win.Observe(variant, window.ITL, 0.01+0.001*e.rng.NormFloat64()); err != nil {
			t.Fatal(err)
		}
		if err := e.win.Observe(variant, window.Throughput, 100+10*e.rng.NormFloat64()); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.win.ObserveRequests(variant, int64(n), 0); err != nil {
		t.Fatal(err)
	}
}

// interval runs one analysis interval: traffic halfway, then a Tick at
// its end.
func (e *env) interval(t *testing.T, n int, slow float64) State {
	t.Helper()
	e.clk.Advance(interval / 2)
	e.traffic(t, "baseline", n, 1)
	e.traffic(t, "canary", n, slow)
	e.clk.Advance(interval / 2)
	st, err := e.m.Tick(context.Background(), e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func spec() Spec {
	on := true
	return Spec{Canary: "canary", Baseline: "baseline", Stages: DefaultStages(), Interval: Duration(interval), IntervalsPerStage: 1,
		Flags: control.VariantFlags{KVCachePool: &control.KVPoolFlags{Enabled: &on, PrefixMatching: &on}}}
}

func weights(t *testing.T, kv jetstream.KeyValue) control.Weights {
	t.Helper()
	w, err := control.GetWeights(context.Background(), kv)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func flags(t *testing.T, kv jetstream.KeyValue) control.FlagOverrides {
	t.Helper()
	o, _, err := control.GetFlags(context.Background(), kv)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestSpecValidate(t *testing.T) {
	ok := spec()
	mod := func(f func(*Spec)) Spec { s := spec(); f(&s); return s }
	tests := []struct {
		name string
		s    Spec
		want error
	}{
		{"ok", ok, nil},
		{"no canary", mod(func(s *Spec) { s.Canary = "" }), ErrBadSpec},
		{"bad name", mod(func(s *Spec) { s.Canary = "Canary.1" }), ErrBadSpec},
		{"same", mod(func(s *Spec) { s.Canary = "baseline" }), ErrBadSpec},
		{"no stages", mod(func(s *Spec) { s.Stages = nil }), ErrBadSpec},
		{"decreasing", mod(func(s *Spec) { s.Stages = []float64{50, 25} }), ErrBadSpec},
		{"over 100", mod(func(s *Spec) { s.Stages = []float64{10, 110} }), ErrBadSpec},
		{"zero stage", mod(func(s *Spec) { s.Stages = []float64{0, 10} }), ErrBadSpec},
		{"no interval", mod(func(s *Spec) { s.Interval = 0 }), ErrBadSpec},
		{"no intervals per stage", mod(func(s *Spec) { s.IntervalsPerStage = 0 }), ErrBadSpec},
		{"bad slowdown", mod(func(s *Spec) { v := -1.0; s.Flags.Slowdown = &v }), ErrBadSpec},
	}
	for _, tt := range tests {
		if err := tt.s.Validate(); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	var d Duration
	if err := json.Unmarshal([]byte(`"1m30s"`), &d); err != nil || time.Duration(d) != 90*time.Second {
		t.Errorf("Duration from string: %v %v", d, err)
	}
	if b, _ := json.Marshal(Duration(interval)); string(b) != `"10s"` {
		t.Errorf("Duration JSON %s", b)
	}
}

func TestHealthyCanaryPromoted(t *testing.T) {
	e := newEnv(t, DefaultConfig())
	ctx := context.Background()
	st, err := e.m.Start(ctx, e.clk.Now(), spec())
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase != Progressing || !st.Applied {
		t.Fatalf("after start: %s applied=%v", st.Phase, st.Applied)
	}
	if w := weights(t, e.kv); w.Canary["canary"] != 10 || w.Baseline != "baseline" {
		t.Fatalf("weights after start %+v", w)
	}
	if f := flags(t, e.kv)["canary"]; f.KVCachePool == nil || !*f.KVCachePool.Enabled {
		t.Fatalf("canary flags not written: %+v", f)
	}
	if _, err := e.m.Start(ctx, e.clk.Now(), spec()); !errors.Is(err, ErrActive) {
		t.Fatalf("second Start = %v, want ErrActive", err)
	}
	for i, want := range []float64{25, 50, 100} {
		st = e.interval(t, 200, 1)
		if st.Phase != Progressing || st.Weight != want {
			t.Fatalf("interval %d: %s at %v %%, want progressing at %v (verdict %+v)", i+1, st.Phase, st.Weight, want, st.LastVerdict)
		}
		if w := weights(t, e.kv); w.Canary["canary"] != want {
			t.Fatalf("interval %d: stored weights %+v", i+1, w)
		}
	}
	st = e.interval(t, 200, 1)
	if st.Phase != Promoted || !st.ProfilePending {
		t.Fatalf("after the last stage: %s pending=%v (%s)", st.Phase, st.ProfilePending, st.Reason)
	}
	if w := weights(t, e.kv); len(w.Variants()) != 0 || w.Baseline != "baseline" {
		t.Fatalf("weights after promotion %+v, want all baseline", w)
	}
	f := flags(t, e.kv)
	if _, ok := f["canary"]; ok || f["baseline"].KVCachePool == nil || !*f["baseline"].KVCachePool.PrefixMatching {
		t.Fatalf("flags after promotion %+v: want the canary's merged into the baseline's", f)
	}
	if got := testutil.ToFloat64(e.metrics.state.WithLabelValues("promoted")); got != 1 {
		t.Fatalf("krserve_rollout_state{state=promoted} = %v", got)
	}
	// The 100 % stage judges only the error rate (see stageCriteria).
	if got := testutil.ToFloat64(e.metrics.verdicts.WithLabelValues("ttft", "pass")); got != 3 {
		t.Fatalf("ttft pass verdicts = %v, want 3", got)
	}
	if e.alerts.kinds(alert.KindPromoted) != 1 || e.alerts.kinds(alert.KindStage) != 3 {
		t.Fatalf("alerts %+v", e.alerts.got)
	}
	if err := e.m.MarkProfileCaptured(ctx, e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.m.Load(ctx); st.ProfilePending {
		t.Fatal("profile still pending after MarkProfileCaptured")
	}
	// A new rollout may start after a promotion.
	if _, err := e.m.Start(ctx, e.clk.Now(), spec()); err != nil {
		t.Fatalf("Start after promotion: %v", err)
	}
}

func TestSlowCanaryRolledBack(t *testing.T) {
	e := newEnv(t, DefaultConfig())
	ctx := context.Background()
	if _, err := e.m.Start(ctx, e.clk.Now(), spec()); err != nil {
		t.Fatal(err)
	}
	var st State
	n := 0
	for st.Phase != RolledBack && n < 3 {
		st = e.interval(t, 200, 1.2)
		n++
	}
	if st.Phase != RolledBack || st.RollbackReason != ReasonJudge {
		t.Fatalf("after %d intervals: %s (%s)", n, st.Phase, st.Reason)
	}
	t.Logf("rolled back after %d intervals: %s", n, st.Reason)
	if w := weights(t, e.kv); len(w.Variants()) != 0 {
		t.Fatalf("weights after rollback %+v", w)
	}
	if _, ok := flags(t, e.kv)["canary"]; ok {
		t.Fatal("canary flags not removed")
	}
	if got := testutil.ToFloat64(e.metrics.rollbacks.WithLabelValues("canary", ReasonJudge)); got != 1 {
		t.Fatalf("rollbacks_total = %v", got)
	}
	if e.alerts.kinds(alert.KindRollback) != 1 {
		t.Fatalf("alerts %+v", e.alerts.got)
	}
	if _, err := e.m.Pause(ctx, e.clk.Now()); !errors.Is(err, ErrNotActive) {
		t.Fatalf("Pause after rollback = %v, want ErrNotActive", err)
	}
}

func TestInconclusiveWithFewSamples(t *testing.T) {
	cfg := DefaultConfig()
	cfg.InconclusiveAlert = 3
	e := newEnv(t, cfg)
	if _, err := e.m.Start(context.Background(), e.clk.Now(), spec()); err != nil {
		t.Fatal(err)
	}
	var st State
	for range 7 {
		st = e.interval(t, 5, 1.5) // 5 samples: far below MinSamples, even though slower
	}
	if st.Phase != Progressing || st.Stage != 0 || st.Inconclusive != 7 || st.InconclusiveTotal != 7 || st.Failures != 0 {
		t.Fatalf("after 7 sparse intervals: %s stage %d, inconclusive %d/%d, failures %d", st.Phase, st.Stage, st.Inconclusive, st.InconclusiveTotal, st.Failures)
	}
	if got := e.alerts.kinds(alert.KindInconclusive); got != 2 {
		t.Fatalf("inconclusive alerts = %d, want 2 (at 3 and 6)", got)
	}
	if got := testutil.ToFloat64(e.metrics.verdicts.WithLabelValues("ttft", "inconclusive")); got != 7 {
		t.Fatalf("ttft inconclusive verdicts = %v", got)
	}
	// Enough data again: a pass resets the run and the stage advances.
	st = e.interval(t, 200, 1)
	if st.Inconclusive != 0 || st.Stage != 1 {
		t.Fatalf("after a full interval: inconclusive %d, stage %d", st.Inconclusive, st.Stage)
	}
}

func TestCommands(t *testing.T) {
	e := newEnv(t, DefaultConfig())
	ctx := context.Background()
	now := e.clk.Now()
	if _, err := e.m.Pause(ctx, now); !errors.Is(err, ErrNotActive) {
		t.Fatalf("Pause with nothing = %v", err)
	}
	if _, err := e.m.Start(ctx, now, Spec{}); !errors.Is(err, ErrBadSpec) {
		t.Fatalf("Start(empty) = %v", err)
	}
	if _, err := e.m.Start(ctx, now, spec()); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name  string
		do    func() (State, error)
		want  error
		phase Phase
		stage int
	}{
		{"resume progressing", func() (State, error) { return e.m.Resume(ctx, now) }, ErrBadTransition, Progressing, 0},
		{"pause", func() (State, error) { return e.m.Pause(ctx, now) }, nil, Paused, 0},
		{"pause again", func() (State, error) { return e.m.Pause(ctx, now) }, ErrBadTransition, Paused, 0},
		{"promote one stage while paused", func() (State, error) { return e.m.Promote(ctx, now, false) }, nil, Paused, 1},
		{"resume", func() (State, error) { return e.m.Resume(ctx, now) }, nil, Progressing, 1},
		{"promote one stage", func() (State, error) { return e.m.Promote(ctx, now, false) }, nil, Progressing, 2},
		{"abort", func() (State, error) { return e.m.Abort(ctx, now) }, nil, RolledBack, 2},
		{"abort again", func() (State, error) { return e.m.Abort(ctx, now) }, ErrNotActive, RolledBack, 2},
	}
	for _, s := range steps {
		_, err := s.do()
		if !errors.Is(err, s.want) || (s.want == nil) != (err == nil) {
			t.Fatalf("%s: %v, want %v", s.name, err, s.want)
		}
		st, err := e.m.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Phase != s.phase || st.Stage != s.stage {
			t.Fatalf("%s: %s stage %d, want %s stage %d", s.name, st.Phase, st.Stage, s.phase, s.stage)
		}
	}
	st, _ := e.m.Load(ctx)
	if st.RollbackReason != ReasonAbort || len(st.History) != 6 {
		t.Fatalf("abort: reason %q, %d history entries", st.RollbackReason, len(st.History))
	}
	if got := testutil.ToFloat64(e.metrics.rollbacks.WithLabelValues("canary", ReasonAbort)); got != 1 {
		t.Fatalf("abort rollbacks = %v", got)
	}
	// Promote --full from a fresh rollout.
	if _, err := e.m.Start(ctx, now, spec()); err != nil {
		t.Fatal(err)
	}
	if st, err := e.m.Promote(ctx, now, true); err != nil || st.Phase != Promoted {
		t.Fatalf("Promote(full) = %s, %v", st.Phase, err)
	}
}

func TestPausedRolloutIsNotAnalysed(t *testing.T) {
	e := newEnv(t, DefaultConfig())
	ctx := context.Background()
	if _, err := e.m.Start(ctx, e.clk.Now(), spec()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Pause(ctx, e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if st := e.interval(t, 200, 1.5); st.Phase != Paused || st.Intervals != 0 {
			t.Fatalf("paused rollout analysed: %s, %d intervals", st.Phase, st.Intervals)
		}
	}
	if _, err := e.m.Resume(ctx, e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	// Only data after the resume counts: a healthy interval passes.
	if st := e.interval(t, 200, 1); st.Stage != 1 {
		t.Fatalf("after resume: stage %d (verdict %+v)", st.Stage, st.LastVerdict)
	}
}

func TestGates(t *testing.T) {
	e := newEnv(t, DefaultConfig())
	ctx := context.Background()
	s := spec()
	s.Gates = true
	if _, err := e.m.Start(ctx, e.clk.Now(), s); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if st := e.interval(t, 200, 1); st.Stage != 0 || !st.AwaitingGate {
			t.Fatalf("gated stage advanced: stage %d awaiting %v", st.Stage, st.AwaitingGate)
		}
	}
	st, err := e.m.Promote(ctx, e.clk.Now(), false)
	if err != nil || st.Stage != 1 || st.AwaitingGate {
		t.Fatalf("promote through the gate: stage %d awaiting %v, %v", st.Stage, st.AwaitingGate, err)
	}
	// A failing canary still rolls back while waiting at a gate.
	e.interval(t, 200, 1)
	for range 2 {
		st = e.interval(t, 200, 1.3)
	}
	if st.Phase != RolledBack {
		t.Fatalf("failing canary at a gate: %s", st.Phase)
	}
}

func TestRestartResumesFromKV(t *testing.T) {
	e := newEnv(t, DefaultConfig())
	ctx := context.Background()
	if _, err := e.m.Start(ctx, e.clk.Now(), spec()); err != nil {
		t.Fatal(err)
	}
	e.interval(t, 200, 1)
	// One failing interval, then the controller "restarts": a new machine.
	st := e.interval(t, 200, 1.3)
	if st.Failures != 1 || st.Stage != 1 {
		t.Fatalf("before restart: failures %d stage %d", st.Failures, st.Stage)
	}
	e.m = e.machine(t, DefaultConfig())
	st, err := e.m.Load(ctx)
	if err != nil || st.Stage != 1 || st.Failures != 1 || st.Phase != Progressing {
		t.Fatalf("restored %s stage %d failures %d, %v", st.Phase, st.Stage, st.Failures, err)
	}
	// The restored streak counts: one more failure rolls back.
	if st = e.interval(t, 200, 1.3); st.Phase != RolledBack {
		t.Fatalf("after restart and a second failure: %s failures %d", st.Phase, st.Failures)
	}
}

func TestUnappliedEffectsAreReapplied(t *testing.T) {
	e := newEnv(t, DefaultConfig())
	ctx := context.Background()
	st, err := e.m.Start(ctx, e.clk.Now(), spec())
	if err != nil {
		t.Fatal(err)
	}
	// Simulate a crash between storing stage 2 and writing its weights.
	st.Stage, st.Weight, st.Applied = 1, 25, false
	b, _ := json.Marshal(st)
	if _, err := e.kv.Update(ctx, control.KeyRollout, b, st.Revision); err != nil {
		t.Fatal(err)
	}
	if w := weights(t, e.kv); w.Canary["canary"] != 10 {
		t.Fatalf("precondition: weights %+v", w)
	}
	st, err = e.m.Tick(ctx, e.clk.Now())
	if err != nil || !st.Applied {
		t.Fatalf("Tick: applied %v, %v", st.Applied, err)
	}
	if w := weights(t, e.kv); w.Canary["canary"] != 25 {
		t.Fatalf("weights after Tick %+v, want 25 %%", w)
	}
	// Corrupt state is reported, not guessed at.
	if _, err := e.kv.Put(ctx, control.KeyRollout, []byte("{")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Tick(ctx, e.clk.Now()); !errors.Is(err, ErrCorruptState) {
		t.Fatalf("Tick on corrupt state = %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	mod := func(f func(*Config)) Config { c := DefaultConfig(); f(&c); return c }
	for _, c := range []Config{
		mod(func(c *Config) { c.Judge = "nonesuch" }),
		mod(func(c *Config) { c.Streak = 0 }),
		mod(func(c *Config) { c.InconclusiveAlert = 0 }),
		mod(func(c *Config) { c.Criteria.Alpha = 2 }),
		mod(func(c *Config) { c.HistoryLen = 0 }),
	} {
		if err := c.Validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%+v: %v, want ErrBadConfig", c, err)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}
