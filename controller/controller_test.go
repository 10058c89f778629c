package controller

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/controller/alert"
	"github.com/krserve/krserve/controller/clock"
	"github.com/krserve/krserve/controller/control"
	"github.com/krserve/krserve/controller/regress"
	"github.com/krserve/krserve/controller/rollout"
	"github.com/krserve/krserve/internal/testenv"
	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const interval = 10 * time.Second

// rig is a controller on an in-process NATS server with a manual clock.
type rig struct {
	srv *bus.Server
	nc  *nats.Conn
	kv  jetstream.KeyValue
	clk *clock.Manual
	pub *publisher
}

func newRig(t *testing.T) *rig {
	t.Helper()
	srv, nc := testenv.NATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := control.Open(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{srv: srv, nc: nc, kv: kv, clk: clock.NewManual(t0), pub: &publisher{nc: testenv.Conn(t, srv), seq: map[string]uint64{}, rng: rand.New(rand.NewPCG(1, 1))}}
}

func testConfig(id string) Config {
	cfg := DefaultConfig(id)
	cfg.Interval = interval
	cfg.LeaseTTL = 30 * time.Second
	cfg.Window.Window = time.Minute
	cfg.Regress.Every = interval
	return cfg
}

// running is a controller whose Run goroutine the test owns.
type running struct {
	*Controller
	reg    *prometheus.Registry
	base   uint64 // messages published before it subscribed
	cancel context.CancelFunc
	done   chan error
}

func (r *rig) start(t *testing.T, cfg Config) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := New(cfg, Deps{Conn: testenv.Conn(t, r.srv), Clock: r.clk, Registerer: reg, Ticks: make(chan time.Time)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.pub.mu.Lock()
	base := r.pub.n
	r.pub.mu.Unlock()
	rc := &running{Controller: c, reg: reg, base: base, cancel: cancel, done: make(chan error, 1)}
	go func() { rc.done <- c.Run(ctx) }()
	select {
	case <-c.Ready():
	case err := <-rc.done:
		t.Fatalf("Run: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("controller not ready")
	}
	t.Cleanup(func() { rc.stop(t) })
	return rc
}

func (rc *running) stop(t *testing.T) {
	t.Helper()
	if rc.cancel == nil {
		return
	}
	rc.cancel()
	rc.cancel = nil
	if err := <-rc.done; err != nil {
		t.Errorf("Run returned %v", err)
	}
}

func (rc *running) tick(t *testing.T) rollout.State {
	t.Helper()
	if err := rc.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	return rc.Status().Rollout
}

// publisher publishes synthetic metric events, one publisher per
// (variant, worker) with its own sequence.
type publisher struct {
	mu  sync.Mutex
	nc  *nats.Conn
	seq map[string]uint64
	rng *rand.Rand
	n   uint64 // messages published
}

// window publishes one event of n requests for variant/worker: TTFT
// 50 ms × slow (sd 5 ms), ITL 10 ms (sd 1), 100 tokens/s (sd 10).
func (p *publisher) window(t *testing.T, variant, worker string, n int, slow float64) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	key := variant + "." + worker
	p.seq[key]++
	ev := &schemas.MetricEvent{V: schemas.Version, Variant: variant, Worker: worker, Seq: p.seq[key], Requests: int64(n), Tokens: int64(20 * n)}
	for range n {
		ev.TTFTMs = append(ev.TTFTMs, float32(max(0, slow*(50+5*p.rng.NormFloat64()))))
		ev.ITLMs = append(ev.ITLMs, float32(max(0, 10+p.rng.NormFloat64())))
		ev.TokensPerSec = append(ev.TokensPerSec, float32(max(0, 100+10*p.rng.NormFloat64())))
	}
	b, err := schemas.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.nc.Publish(bus.Subjects{}.Metrics(variant, worker), b); err != nil {
		t.Fatal(err)
	}
	p.n++
}

func (p *publisher) raw(t *testing.T, subject string, b []byte) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.nc.Publish(subject, b); err != nil {
		t.Fatal(err)
	}
	p.n++
}

// sync waits until every controller has handled every message published.
func (p *publisher) sync(t *testing.T, cs ...*running) {
	t.Helper()
	if err := p.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	want := p.n
	p.mu.Unlock()
	deadline := time.After(5 * time.Second)
	tk := time.NewTicker(time.Millisecond)
	defer tk.Stop()
	for _, c := range cs {
		for c.Processed() < want-c.base {
			select {
			case <-deadline:
				t.Fatalf("controller handled %d of %d metric messages", c.Processed(), want-c.base)
			case <-tk.C:
			}
		}
	}
}

// interval publishes traffic halfway through an analysis interval (two
// workers per variant, perVariant requests each) and ticks at its end.
// cs[0] ticks; every controller in cs receives the events.
func (r *rig) interval(t *testing.T, perVariant int, slow float64, cs ...*running) rollout.State {
	t.Helper()
	c, others := cs[0], cs[1:]
	r.clk.Advance(interval / 2)
	for _, w := range []string{"w1", "w2"} {
		r.pub.window(t, "baseline", "b-"+w, perVariant/2, 1)
		r.pub.window(t, "canary", "c-"+w, perVariant/2, slow)
	}
	r.pub.sync(t, append([]*running{c}, others...)...)
	r.clk.Advance(interval / 2)
	return c.tick(t)
}

func startReq() StartRequest {
	on := true
	return StartRequest{Canary: "canary", Flags: control.VariantFlags{KVCachePool: &control.KVPoolFlags{Enabled: &on, PrefixMatching: &on}}}
}

func TestHealthyCanaryPromotedThroughEveryStage(t *testing.T) {
	r := newRig(t)
	c := r.start(t, testConfig("ctl-1"))
	ctx := context.Background()
	if st := c.tick(t); st.Phase != rollout.Idle || !c.Status().Leader {
		t.Fatalf("first tick: %s leader=%v", st.Phase, c.Status().Leader)
	}
	if _, err := c.StartRollout(ctx, startReq()); err != nil {
		t.Fatal(err)
	}
	var weights []float64
	var st rollout.State
	for i := 0; i < 6 && st.Phase != rollout.Promoted; i++ {
		w, _ := control.GetWeights(ctx, r.kv)
		weights = append(weights, w.Canary["canary"])
		st = r.interval(t, 200, 1, c)
	}
	if st.Phase != rollout.Promoted {
		t.Fatalf("healthy canary ended %s: %s", st.Phase, st.Reason)
	}
	if want := []float64{10, 25, 50, 100}; !equal(weights, want) {
		t.Fatalf("stages seen %v, want %v", weights, want)
	}
	if s := c.Status(); s.Variants["canary"].Events != 8 || s.Variants["baseline"].Gaps != 0 {
		t.Fatalf("event counts %+v", s.Variants)
	}
	if got := sum(t, c.reg, "krserve_controller_metric_events_total", "variant", "canary"); got != 8 {
		t.Fatalf("krserve_controller_metric_events_total{variant=canary} = %v", got)
	}
	// One interval later the promoted configuration's profile is stored.
	r.interval(t, 200, 1, c)
	ps, _, err := regress.LoadProfiles(ctx, r.kv)
	if err != nil || ps["baseline"].TTFT.N < 100 {
		t.Fatalf("baseline profile after promotion: %+v, %v", ps, err)
	}
	if st, _ := c.StatusNow(ctx); st.Rollout.ProfilePending {
		t.Fatal("profile still pending")
	}
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sum adds the values of every series of the named metric that has
// label=value.
func sum(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total, found := 0.0, false
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					found = true
					total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
	}
	if !found {
		t.Fatalf("no %s{%s=%q}", name, label, value)
	}
	return total
}

func TestSlowCanaryRolledBackWithinThreeIntervals(t *testing.T) {
	r := newRig(t)
	c := r.start(t, testConfig("ctl-1"))
	ctx := context.Background()
	alerts, err := r.nc.SubscribeSync(bus.Subjects{}.Alerts())
	if err != nil {
		t.Fatal(err)
	}
	c.tick(t)
	if _, err := c.StartRollout(ctx, startReq()); err != nil {
		t.Fatal(err)
	}
	var st rollout.State
	n := 0
	for ; n < 3 && st.Phase != rollout.RolledBack; n++ {
		st = r.interval(t, 200, 1.2, c)
	}
	if st.Phase != rollout.RolledBack || st.RollbackReason != rollout.ReasonJudge {
		t.Fatalf("20 %% slower canary after %d intervals: %s (%s)", n, st.Phase, st.Reason)
	}
	t.Logf("rolled back after %d intervals", n)
	w, _ := control.GetWeights(ctx, r.kv)
	if len(w.Variants()) != 0 {
		t.Fatalf("weights after rollback %+v", w)
	}
	if o, _, _ := control.GetFlags(ctx, r.kv); len(o) != 0 {
		t.Fatalf("flags after rollback %+v", o)
	}
	if got := sum(t, c.reg, "krserve_rollout_rollbacks_total", "reason", "judge"); got != 1 {
		t.Fatalf("rollbacks_total = %v", got)
	}
	if got := sum(t, c.reg, "krserve_rollout_state", "state", "rolled_back"); got != 1 {
		t.Fatalf("rollout_state{rolled_back} = %v", got)
	}
	found := false
	for !found {
		m, err := alerts.NextMsg(time.Second)
		if err != nil {
			t.Fatal("no rollback alert on NATS")
		}
		var a alert.Alert
		_ = json.Unmarshal(m.Data, &a)
		found = a.Kind == alert.KindRollback && a.Severity == alert.Critical
	}
}

// TestAATwentyRuns: identical baseline and canary, 20 seeded rollouts,
// at most one rolled back.
func TestAATwentyRuns(t *testing.T) {
	r := newRig(t)
	c := r.start(t, testConfig("ctl-1"))
	ctx := context.Background()
	c.tick(t)
	rolledBack, promoted := 0, 0
	for run := range 20 {
		r.pub.rng = rand.New(rand.NewPCG(uint64(run), 42))
		if _, err := c.StartRollout(ctx, startReq()); err != nil {
			t.Fatal(err)
		}
		var st rollout.State
		for i := 0; i < 8 && st.Phase.Active() || i == 0; i++ {
			st = r.interval(t, 200, 1, c)
		}
		switch st.Phase {
		case rollout.RolledBack:
			rolledBack++
		case rollout.Promoted:
			promoted++
		default:
			t.Fatalf("run %d ended %s", run, st.Phase)
		}
	}
	t.Logf("A/A: %d promoted, %d rolled back of 20", promoted, rolledBack)
	if rolledBack > 1 {
		t.Fatalf("A/A rolled back %d of 20 runs, want at most 1", rolledBack)
	}
}

func TestInconclusiveWithTooFewSamples(t *testing.T) {
	r := newRig(t)
	c := r.start(t, testConfig("ctl-1"))
	ctx := context.Background()
	alerts, _ := r.nc.SubscribeSync(bus.Subjects{}.Alerts())
	c.tick(t)
	if _, err := c.StartRollout(ctx, startReq()); err != nil {
		t.Fatal(err)
	}
	var st rollout.State
	for range 3 {
		st = r.interval(t, 8, 1.5, c) // 8 requests per variant and interval
	}
	if st.Phase != rollout.Progressing || st.Stage != 0 || st.Inconclusive != 3 || st.Failures != 0 {
		t.Fatalf("sparse data: %s stage %d inconclusive %d failures %d", st.Phase, st.Stage, st.Inconclusive, st.Failures)
	}
	if st.LastVerdict == nil || st.LastVerdict.Decision != "inconclusive" {
		t.Fatalf("last verdict %+v", st.LastVerdict)
	}
	if got := sum(t, c.reg, "krserve_judge_verdicts_total", "decision", "inconclusive"); got == 0 {
		t.Fatal("no inconclusive verdicts counted")
	}
	for {
		m, err := alerts.NextMsg(time.Second)
		if err != nil {
			t.Fatal("no inconclusive alert")
		}
		var a alert.Alert
		_ = json.Unmarshal(m.Data, &a)
		if a.Kind == alert.KindInconclusive {
			break
		}
	}
}

func TestRestartedControllerResumes(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	a := r.start(t, testConfig("ctl-a"))
	a.tick(t)
	if _, err := a.StartRollout(ctx, startReq()); err != nil {
		t.Fatal(err)
	}
	r.interval(t, 200, 1, a)
	st := r.interval(t, 200, 1, a)
	if st.Stage != 2 {
		t.Fatalf("before restart: stage %d", st.Stage)
	}
	a.stop(t) // SIGTERM: releases the lease
	if l, _ := rollout.ReadLease(ctx, r.kv); l.Revision != 0 {
		t.Fatalf("lease not released: %+v", l)
	}
	b := r.start(t, testConfig("ctl-b"))
	st = b.tick(t)
	if !b.Status().Leader || st.Phase != rollout.Progressing || st.Stage != 2 || st.Intervals != 2 {
		t.Fatalf("restarted controller: leader %v, %s stage %d after %d intervals", b.Status().Leader, st.Phase, st.Stage, st.Intervals)
	}
	for range 2 {
		st = r.interval(t, 200, 1, b)
	}
	if st.Phase != rollout.Promoted {
		t.Fatalf("resumed rollout ended %s (%s)", st.Phase, st.Reason)
	}
}

func TestSecondControllerWaitsForLease(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	a := r.start(t, testConfig("ctl-a"))
	b := r.start(t, testConfig("ctl-b"))
	a.tick(t)
	b.tick(t)
	if !a.Status().Leader || b.Status().Leader {
		t.Fatalf("leaders: a %v, b %v", a.Status().Leader, b.Status().Leader)
	}
	// Commands work through either controller.
	if _, err := b.StartRollout(ctx, startReq()); err != nil {
		t.Fatal(err)
	}
	st := r.interval(t, 200, 1, a, b)
	if st.Stage != 1 {
		t.Fatalf("a did not analyse: stage %d", st.Stage)
	}
	// b ticks too but must not act: the stage stays.
	if st = b.tick(t); st.Stage != 1 || b.Status().Leader {
		t.Fatalf("standby acted: stage %d leader %v", st.Stage, b.Status().Leader)
	}
	// a hangs (no more ticks, no release). b waits out the lease TTL.
	r.clk.Advance(20 * time.Second)
	if b.tick(t); b.Status().Leader {
		t.Fatal("b took the lease before it expired")
	}
	r.clk.Advance(15 * time.Second)
	b.tick(t)
	if !b.Status().Leader {
		t.Fatal("b did not take the expired lease")
	}
	lease, _ := rollout.ReadLease(ctx, r.kv)
	if lease.Holder != "ctl-b" {
		t.Fatalf("lease %+v", lease)
	}
	// b now drives the rollout; a, back, stands by.
	st = r.interval(t, 200, 1, b, a)
	if a.tick(t); a.Status().Leader {
		t.Fatal("a still acts after losing the lease")
	}
	if st.Stage != 2 && st.Phase != rollout.Progressing {
		t.Fatalf("b did not continue the rollout: %s stage %d", st.Phase, st.Stage)
	}
}

func TestRegressionCriticalRollsBack(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	c := r.start(t, testConfig("ctl-1"))
	c.tick(t)
	if _, err := c.StartRollout(ctx, startReq()); err != nil {
		t.Fatal(err)
	}
	var st rollout.State
	for i := 0; i < 5 && !st.Phase.Active() || i < 5 && st.Phase != rollout.Promoted; i++ {
		st = r.interval(t, 200, 1, c)
	}
	if st.Phase != rollout.Promoted {
		t.Fatalf("setup: rollout %s", st.Phase)
	}
	r.interval(t, 200, 1, c) // profile captured
	if ps, _, _ := regress.LoadProfiles(ctx, r.kv); len(ps) != 1 {
		t.Fatalf("profiles %v", ps)
	}
	o, _, _ := control.GetFlags(ctx, r.kv)
	if b := o["baseline"]; b.KVCachePool == nil || !*b.KVCachePool.Enabled {
		t.Fatalf("promoted flags on the baseline %+v", o)
	}
	// The promoted configuration now regresses: baseline TTFT +30 %.
	slowBaseline := func() {
		r.clk.Advance(interval / 2)
		r.pub.window(t, "baseline", "b-w1", 200, 1.3)
		r.pub.sync(t, c)
		r.clk.Advance(interval / 2)
		c.tick(t)
	}
	slowBaseline()
	if rep := c.Status().Regression; len(rep) != 1 || rep[0].Severity != regress.Critical {
		t.Fatalf("regression report %+v", rep)
	}
	slowBaseline()
	o, _, _ = control.GetFlags(ctx, r.kv)
	if b := o["baseline"]; b.KVCachePool == nil || *b.KVCachePool.Enabled || *b.KVCachePool.PrefixMatching {
		t.Fatalf("flags after CRITICAL %+v, want the pool disabled", b)
	}
	if w, _ := control.GetWeights(ctx, r.kv); len(w.Variants()) != 0 || w.Baseline != "baseline" {
		t.Fatalf("weights after CRITICAL %+v", w)
	}
	if got := sum(t, c.reg, "krserve_regression_alerts_total", "severity", "critical"); got == 0 {
		t.Fatal("no critical regression alerts counted")
	}
}

func TestBadDuplicateAndGappedEvents(t *testing.T) {
	r := newRig(t)
	c := r.start(t, testConfig("ctl-1"))
	s := bus.Subjects{}
	r.pub.raw(t, s.Metrics("baseline", "w1"), []byte("not msgpack"))
	good := &schemas.MetricEvent{V: 1, Variant: "baseline", Worker: "w1", Seq: 1, Requests: 1, TTFTMs: []float32{10}}
	b, _ := schemas.Encode(good)
	r.pub.raw(t, s.Metrics("canary", "w1"), b)     // subject says canary
	r.pub.raw(t, "krserve.v1.metrics.baseline", b) // too short
	r.pub.raw(t, s.Metrics("baseline", "w1"), b)   // seq 1
	r.pub.raw(t, s.Metrics("baseline", "w1"), b)   // duplicate
	good.Seq = 4                                   // 2 and 3 lost
	b4, _ := schemas.Encode(good)
	r.pub.raw(t, s.Metrics("baseline", "w1"), b4)
	good.Seq = 1 // publisher restarted
	b1, _ := schemas.Encode(good)
	r.pub.raw(t, s.Metrics("baseline", "w1"), b1)
	r.pub.sync(t, c)
	st := c.Status()
	v := st.Variants["baseline"]
	if st.BadEvents != 3 || v.Events != 3 || v.Duplicates != 1 || v.Gaps != 2 || v.Restarts != 1 {
		t.Fatalf("bad %d, baseline %+v", st.BadEvents, v)
	}
	if got := sum(t, c.reg, "krserve_controller_bad_metric_events_total", "reason", "decode"); got != 1 {
		t.Fatalf("bad{decode} = %v", got)
	}
	if snap := c.Windows().Snapshot("baseline"); len(snap.TTFT) != 3 || snap.TTFT[0] != 0.01 || snap.Requests != 3 {
		t.Fatalf("window %+v", snap)
	}
}

func TestConfigValidate(t *testing.T) {
	mod := func(f func(*Config)) Config { c := testConfig("x"); f(&c); return c }
	for i, c := range []Config{
		mod(func(c *Config) { c.WorkerID = "" }),
		mod(func(c *Config) { c.Judge = "nope" }),
		mod(func(c *Config) { c.Stages = []float64{50, 10} }),
		mod(func(c *Config) { c.TickEvery = c.LeaseTTL }),
		mod(func(c *Config) { c.Interval = 2 * c.Window.Window }),
		mod(func(c *Config) { c.Subjects.Prefix = "a.>" }),
		mod(func(c *Config) { c.Regress.Alpha = 0 }),
		mod(func(c *Config) { c.Window.Resolution = 0 }),
	} {
		if err := c.Validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("case %d: %v, want ErrBadConfig", i, err)
		}
	}
	if _, err := New(testConfig("x"), Deps{}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("New without a connection: %v", err)
	}
}
