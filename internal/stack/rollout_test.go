package stack

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/bus/client"
	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/controller"
	"github.com/krserve/krserve/controller/clock"
	"github.com/krserve/krserve/controller/control"
	"github.com/krserve/krserve/controller/rollout"
	"github.com/krserve/krserve/internal/testenv"
	"github.com/krserve/krserve/schemas"
	"github.com/krserve/krserve/tokenizerd/route"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The rollout tests run the whole pipeline (tokenizer, baseline and canary
// engines on the real stories260K model) on an in-process NATS server, with
// a controller driven by a manual clock: the test produces an analysis
// interval's traffic, waits until the controller has received every metric
// window of it, then moves the clock to the interval's end and ticks.
//
// Interval bookkeeping: an interval starts at T = LastAnalysisAt (a whole
// second). The clock is first set to T+1s, so every metric event of the
// interval is stamped inside (T, T+interval] — SnapshotSince excludes
// samples stamped exactly T — and into a count bucket that begins after T.

const (
	rolloutInterval = 10 * time.Second
	// loaders is the number of closed request loops driving the stack.
	// Per-request metrics depend on how many requests share an engine's
	// batch, so with concurrent loops the split changes them (at 10 % the
	// lone canary is faster than the busy baseline). One closed loop runs
	// every request alone, so latencies measure engine speed only.
	loaders = 1
	// maxTokens keeps requests short; every request still yields one
	// throughput and one inter-token sample (it needs at least 2 tokens).
	maxTokens = 12
	// minSamples is the judge's minimum per variant and metric (and its
	// minimum of finished requests); each interval collects needSamples.
	minSamples  = 30
	needSamples = 40
)

var rolloutT0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

var loadPrompts = []string{
	"Once upon a time",
	"Lily and Tom went to the park.",
	"The little dog was happy because",
	"One day, a girl named Sue found a big box.",
	"Tim liked to play with his red ball.",
	"There was a small bird in a tree.",
}

// rolloutEnv is a running stack with a controller the test ticks itself.
type rolloutEnv struct {
	st  *Stack
	srv *bus.Server
	cl  *client.Client
	kv  jetstream.KeyValue
	clk *clock.Manual

	ctl     *controller.Controller
	stopCtl func() // cancels the controller's Run and waits for it
	ctlN    int

	cfg controller.Config
	// failed counts requests that returned an error, over the whole test.
	failed atomic.Int64
}

func rolloutConfig(stages ...float64) controller.Config {
	cc := controller.DefaultConfig("controller-1")
	cc.Stages = stages
	cc.Interval = rolloutInterval
	cc.Criteria.MinSamples = minSamples
	cc.Criteria.MinRequests = minSamples
	cc.Window.Window = 10 * time.Minute
	cc.Regress.Every = rolloutInterval
	return cc
}

// startRollout starts tokenizer + engines following the control bucket,
// and a controller on its own connection with a manual clock.
func startRollout(t *testing.T, engines []EngineSpec, cc controller.Config) *rolloutEnv {
	t.Helper()
	srv, nc := testenv.NATS(t)
	st, err := Start(Config{
		Model: testenv.SharedFile(t, "models/stories260K.gguf"), ModelName: "stories260k",
		Engines: engines, Tokenizers: 1, Runtime: config.DefaultRuntime(), Control: true,
		Heartbeat: 100 * time.Millisecond, Metrics: 100 * time.Millisecond, Drain: 10 * time.Second,
		Connect: func(name string) (*nats.Conn, error) { return srv.Connect(name, bus.ConnDeps{}) },
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &rolloutEnv{st: st, srv: srv, cl: client.New(nc, client.Options{IdleTimeout: 30 * time.Second}), clk: clock.NewManual(rolloutT0), cfg: cc}
	t.Cleanup(func() {
		if e.stopCtl != nil {
			e.stopCtl()
		}
		if err := st.Stop(); err != nil {
			t.Error(err)
		}
	})
	want := map[string]int{}
	for _, es := range engines {
		want[es.Variant]++
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := st.WaitReady(ctx, want); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if e.kv, err = control.Open(ctx, js); err != nil {
		t.Fatal(err)
	}
	e.startController(t)
	return e
}

// startController starts a new controller process on its own connection:
// it knows nothing but what the control bucket holds.
func (e *rolloutEnv) startController(t *testing.T) {
	t.Helper()
	e.ctlN++
	cc := e.cfg
	cc.WorkerID = fmt.Sprintf("controller-%d", e.ctlN)
	nc := testenv.Conn(t, e.srv)
	c, err := controller.New(cc, controller.Deps{Conn: nc, Clock: e.clk, Ticks: make(chan time.Time)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case <-c.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("controller: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("controller not ready after 10s")
	}
	e.ctl = c
	e.stopCtl = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller Run: %v", err)
		}
		e.stopCtl = nil
	}
	if err := c.Tick(context.Background()); err != nil {
		t.Fatalf("first tick: %v", err)
	}
}

// stageStart moves the clock into the interval that began at the last
// analysis (or the rollout's start).
func (e *rolloutEnv) stageStart(t *testing.T) time.Time {
	t.Helper()
	st, err := e.ctl.StatusNow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	from := st.Rollout.LastAnalysisAt
	if !from.Equal(e.clk.Now()) {
		t.Fatalf("clock %v is not at the last analysis %v", e.clk.Now(), from)
	}
	e.clk.Set(from.Add(time.Second))
	return from
}

// intervalResult is what one analysis interval did.
type intervalResult struct {
	served map[string]int // completed requests per variant (final message)
	load   map[string]int // the same, without the weight probes
	state  rollout.State  // after the tick
}

// interval runs one analysis interval at canary weight w (percent): it
// waits until the tokenizer routes by w, drives load until both variants
// served needSamples requests (only the canary at 100 %), waits until the
// controller holds every metric window of them, and ticks at the
// interval's end.
func (e *rolloutEnv) interval(t *testing.T, canary string, w float64) intervalResult {
	t.Helper()
	ctx := context.Background()
	from := e.stageStart(t)
	served := map[string]int{}
	e.probeWeights(t, canary, w, served)
	need := map[string]int{canary: needSamples, "baseline": needSamples}
	if w >= 100 {
		delete(need, "baseline")
	}
	if w <= 0 {
		delete(need, canary)
	}
	load := e.drive(t, need)
	for v, n := range load {
		served[v] += n
	}
	e.waitAccounted(t, from, served)
	e.clk.Set(from.Add(rolloutInterval))
	if err := e.ctl.Tick(ctx); err != nil {
		t.Fatalf("tick: %v", err)
	}
	st, err := e.ctl.StatusNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return intervalResult{served: served, load: load, state: st.Rollout}
}

// probeWeights waits until the tokenizer routes by canary weight w. The
// probe's routing key falls in the last percent of buckets that w gives the
// canary (for w = 0, in the first percent, which any canary weight owns):
// the previous stage's weights route it elsewhere, so the first request
// served by the expected variant shows the tokenizer has w.
func (e *rolloutEnv) probeWeights(t *testing.T, canary string, w float64, served map[string]int) {
	t.Helper()
	edge := int(math.Round(w * route.Buckets / 100))
	lo, hi, want := edge-route.Buckets/100, edge, canary
	if w <= 0 {
		lo, hi, want = 0, route.Buckets/100, "baseline"
	}
	key := ""
	for i := 0; key == ""; i++ { // about 1 key in 100 qualifies
		if b := route.Bucket(fmt.Sprintf("probe-%d", i)); b >= lo && b < hi {
			key = fmt.Sprintf("probe-%d", i)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := e.cl.Complete(context.Background(), &schemas.GenerateRequest{Prompt: loadPrompts[0], ConversationID: key, MaxTokens: maxTokens})
		if err != nil {
			e.failed.Add(1)
			t.Fatalf("probe: %v", err)
		}
		served[got.Final.Variant]++
		if got.Final.Variant == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("weight %v %% of %s did not reach the tokenizer within 5s (probe %s served by %s)", w, canary, key, got.Final.Variant)
		}
	}
}

// drive runs loaders request loops until every variant in need served that
// many requests; it returns the requests served per variant.
func (e *rolloutEnv) drive(t *testing.T, need map[string]int) map[string]int {
	t.Helper()
	var mu sync.Mutex
	served := map[string]int{}
	total, limit := 0, 0
	for _, n := range need {
		limit += n
	}
	limit *= 40 // 10 % canary needs ~10× its share; more means routing broke
	enough := func() bool {
		for v, n := range need {
			if served[v] < n {
				return false
			}
		}
		return true
	}
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	for g := range loaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				mu.Lock()
				stop := enough() || total >= limit
				total++
				mu.Unlock()
				if stop {
					return
				}
				got, err := e.cl.Complete(context.Background(), &schemas.GenerateRequest{Prompt: loadPrompts[(g+i)%len(loadPrompts)], MaxTokens: maxTokens})
				if err != nil {
					e.failed.Add(1)
					errOnce.Do(func() { firstErr = err })
					continue
				}
				mu.Lock()
				served[got.Final.Variant]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		t.Errorf("%d requests failed, first: %v", e.failed.Load(), firstErr)
	}
	if !enough() {
		t.Fatalf("after %d requests served %v, need %v", total, served, need)
	}
	return served
}

// waitAccounted waits until the controller's windows hold exactly the
// requests the test saw served since from, with one TTFT sample each.
func (e *rolloutEnv) waitAccounted(t *testing.T, from time.Time, served map[string]int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok := true
		var got []string
		for v, n := range served {
			s := e.ctl.Windows().SnapshotSince(v, from)
			got = append(got, fmt.Sprintf("%s %d/%d requests %d ttft", v, s.Requests, n, len(s.TTFT)))
			if s.Requests > int64(n) {
				t.Fatalf("controller counts more requests than were served: %v", got)
			}
			if s.Requests != int64(n) || len(s.TTFT) != n {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metric windows not received within 10s: %v", got)
		}
		select {
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func canaryEngines(canarySlowdown float64) []EngineSpec {
	return []EngineSpec{{ID: "b1", Variant: "baseline"}, {ID: "c1", Variant: "canary", Slowdown: canarySlowdown}}
}

func (e *rolloutEnv) start(t *testing.T, req controller.StartRequest) rollout.State {
	t.Helper()
	st, err := e.ctl.StartRollout(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func verdictSummary(st rollout.State) string {
	if st.LastVerdict == nil {
		return "no verdict"
	}
	s := st.LastVerdict.Decision + ":"
	for _, r := range st.LastVerdict.Results {
		s += fmt.Sprintf(" [%s %s %s→%s n=%d/%d: %s]", r.Metric, r.Decision, fnum(r.Baseline), fnum(r.Canary), r.NBaseline, r.NCanary, r.Reason)
	}
	return s
}

func fnum(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.4g", *p)
}

func TestRolloutSlowCanaryRolledBack(t *testing.T) {
	e := startRollout(t, canaryEngines(0), rolloutConfig(10, 25, 50, 100))
	slow := 0.25 // every engine step takes 25 % longer: 20 % less throughput
	e.start(t, controller.StartRequest{Canary: "canary", Flags: control.VariantFlags{Slowdown: &slow}})
	var res intervalResult
	n := 0
	weight := 10.0
	for n < 3 {
		res = e.interval(t, "canary", weight)
		n++
		t.Logf("interval %d at %v %%: served %v; %s", n, weight, res.served, verdictSummary(res.state))
		if res.state.Phase != rollout.Progressing {
			break
		}
		weight = res.state.Weight
	}
	if res.state.Phase != rollout.RolledBack || res.state.RollbackReason != rollout.ReasonJudge {
		t.Fatalf("after %d intervals: %s (%s)", n, res.state.Phase, res.state.Reason)
	}
	t.Logf("rolled back after %d analysis intervals: %s", n, res.state.Reason)
	// Traffic is back on the baseline and the canary lost its fault knob.
	res = e.interval(t, "canary", 0)
	if res.served["canary"] != 0 {
		t.Errorf("after the rollback the canary still served %d requests", res.served["canary"])
	}
	o, _, err := control.GetFlags(context.Background(), e.kv)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := o["canary"]; ok {
		t.Errorf("canary flag overrides left after rollback: %+v", o)
	}
	if f := e.failed.Load(); f != 0 {
		t.Errorf("%d requests failed during the rollout", f)
	}
	for _, v := range []string{"baseline", "canary"} {
		if s := e.ctl.Windows().Snapshot(v); s.Errors != 0 {
			t.Errorf("%s engines report %d errors", v, s.Errors)
		}
	}
}

// checkShare checks that the canary served its weight's share of the load,
// within four binomial standard deviations.
func checkShare(t *testing.T, w float64, load map[string]int) {
	t.Helper()
	n := load["baseline"] + load["canary"]
	p := w / 100
	got := float64(load["canary"]) / float64(n)
	tol := 4 * math.Sqrt(p*(1-p)/float64(n))
	if math.Abs(got-p) > tol {
		t.Errorf("at %v %% the canary served %d of %d requests (%.1f %%), want %v %% ± %.1f", w, load["canary"], n, 100*got, w, 100*tol)
	}
}

func TestRolloutHealthyCanaryPromoted(t *testing.T) {
	stages := []float64{10, 25, 50, 100}
	e := startRollout(t, canaryEngines(0), rolloutConfig(stages...))
	id := e.start(t, controller.StartRequest{Canary: "canary"}).ID
	weight := stages[0]
	var res intervalResult
	seen := map[float64]bool{}
	for n := 1; n <= 3*len(stages); n++ {
		res = e.interval(t, "canary", weight)
		t.Logf("interval %d at %v %%: served %v; %s", n, weight, res.served, verdictSummary(res.state))
		seen[weight] = true
		checkShare(t, weight, res.load)
		if res.state.Phase != rollout.Progressing {
			break
		}
		weight = res.state.Weight
	}
	st := res.state
	if st.Phase != rollout.Promoted || st.ID != id {
		t.Fatalf("%s %s (%s), want %s promoted", st.ID, st.Phase, st.Reason, id)
	}
	for _, w := range stages {
		if !seen[w] {
			t.Errorf("stage %v %% never ran (stages seen %v)", w, seen)
		}
	}
	if f := e.failed.Load(); f != 0 {
		t.Errorf("%d requests failed during the rollout", f)
	}
	// Promoted: all traffic back on the baseline variant.
	res = e.interval(t, "canary", 0)
	if res.served["canary"] != 0 {
		t.Errorf("after promotion the canary variant still served %d requests", res.served["canary"])
	}
}

// TestRolloutAA runs 20 rollouts of a canary identical to the baseline on
// one stack: only the rollout restarts between runs (a new rollout starts
// where the last one was promoted or rolled back). The regression detector
// only alerts here (CriticalStreak 0), so the runs measure the rollout
// judge alone. With two one-sided tests at α = 0.05 per metric and two
// failing intervals in a row needed, false rollbacks should be rare.
func TestRolloutAA(t *testing.T) {
	const runs = 20
	cc := rolloutConfig(50, 100)
	cc.Regress.CriticalStreak = 0
	// Three failing intervals in a row roll back here: per-request latencies
	// of two engines sharing two loaded cores are correlated within an
	// interval (requests contend in the same batches), which inflates a
	// single interval's false-failure rate beyond α.
	cc.Streak = 3
	e := startRollout(t, canaryEngines(0), cc)
	outcomes := map[string]int{}
	intervals := 0
	for run := 1; run <= runs; run++ {
		e.start(t, controller.StartRequest{Canary: "canary"})
		weight := cc.Stages[0]
		var res intervalResult
		trace := ""
		n := 0
		for ; n < 6; n++ {
			res = e.interval(t, "canary", weight)
			trace += fmt.Sprintf(" %v%%:%s", weight, res.state.LastVerdict.Decision)
			if res.state.LastVerdict.Decision == "fail" {
				t.Logf("run %d at %v %%: %s", run, weight, verdictSummary(res.state))
			}
			if res.state.Phase != rollout.Progressing {
				break
			}
			weight = res.state.Weight
		}
		t.Logf("run %d:%s → %s", run, trace, res.state.Phase)
		intervals += n + 1
		outcome := string(res.state.Phase)
		if res.state.Phase == rollout.RolledBack {
			t.Logf("run %d rolled back: %s", run, res.state.Reason)
		}
		if res.state.Phase.Active() {
			// Inconclusive six times: end it without counting a rollback.
			outcome = "inconclusive"
			if _, err := e.ctl.AbortRollout(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		outcomes[outcome]++
	}
	t.Logf("A/A over %d runs (%d analysis intervals): %v", runs, intervals, outcomes)
	if outcomes[string(rollout.RolledBack)] > 1 {
		t.Errorf("identical variants rolled back in %d of %d runs, want at most 1", outcomes[string(rollout.RolledBack)], runs)
	}
	if outcomes[string(rollout.Promoted)] < runs-2 {
		t.Errorf("identical variants promoted in only %d of %d runs", outcomes[string(rollout.Promoted)], runs)
	}
	if f := e.failed.Load(); f != 0 {
		t.Errorf("%d requests failed", f)
	}
}

// TestRolloutControllerRestart stops the controller mid-rollout and starts
// another one (a new process as far as the rollout is concerned: new
// connection, empty windows): it takes the released lease and carries the
// stored rollout on to promotion.
func TestRolloutControllerRestart(t *testing.T) {
	stages := []float64{10, 25, 50, 100}
	e := startRollout(t, canaryEngines(0), rolloutConfig(stages...))
	ctx := context.Background()
	id := e.start(t, controller.StartRequest{Canary: "canary"}).ID
	weight := stages[0]
	for range 2 {
		res := e.interval(t, "canary", weight)
		if res.state.Phase != rollout.Progressing {
			t.Fatalf("%s (%s)", res.state.Phase, verdictSummary(res.state))
		}
		weight = res.state.Weight
	}
	before, err := e.ctl.StatusNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if before.Lease.Holder != "controller-1" || before.Rollout.Stage == 0 {
		t.Fatalf("before the restart: lease %+v, rollout at stage %d", before.Lease, before.Rollout.Stage)
	}
	e.stopCtl()
	e.startController(t)
	after, err := e.ctl.StatusNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Lease.Holder != "controller-2" || !after.Leader {
		t.Fatalf("the new controller does not lead: lease %+v", after.Lease)
	}
	b, a := before.Rollout, after.Rollout
	if a.ID != id || a.Phase != b.Phase || a.Stage != b.Stage || a.Weight != b.Weight || a.Intervals != b.Intervals || !a.LastAnalysisAt.Equal(b.LastAnalysisAt) {
		t.Fatalf("restarted controller sees %+v, want the stored %+v", a, b)
	}
	if after.Weights.Canary["canary"] != weight {
		t.Fatalf("weights after the restart %+v, want canary at %v", after.Weights, weight)
	}
	var res intervalResult
	for n := 0; n < 8; n++ {
		res = e.interval(t, "canary", weight)
		if res.state.Phase != rollout.Progressing {
			break
		}
		weight = res.state.Weight
	}
	if res.state.Phase != rollout.Promoted || res.state.ID != id {
		t.Fatalf("after the restart: %s %s (%s)", res.state.ID, res.state.Phase, res.state.Reason)
	}
	if res.state.Intervals < b.Intervals+len(stages)-b.Stage {
		t.Errorf("%d intervals in all, want the %d before the restart plus one per remaining stage", res.state.Intervals, b.Intervals)
	}
	if f := e.failed.Load(); f != 0 {
		t.Errorf("%d requests failed", f)
	}
}
