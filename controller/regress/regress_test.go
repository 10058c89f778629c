package regress

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
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

// sample draws a window of n requests: TTFT 50 ms × ttft, a tail of 2 % at
// 3× (× tail), throughput 100 tok/s × tput, errs errors.
func sample(rng *rand.Rand, n int, ttft, tail, tput float64, errs int64) window.Snapshot {
	s := window.Snapshot{Variant: "baseline", Requests: int64(n), Errors: errs}
	for i := range n {
		x := ttft * (0.05 + 0.005*rng.NormFloat64())
		if i%50 == 0 {
			x = 0.15 * tail * (1 + 0.01*rng.NormFloat64())
		}
		s.TTFT = append(s.TTFT, x)
		s.ITL = append(s.ITL, 0.01+0.001*rng.NormFloat64())
		s.Throughput = append(s.Throughput, tput*(100+10*rng.NormFloat64()))
	}
	return s
}

func TestCompare(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	prof, err := Capture(sample(rng, 2000, 1, 1, 1, 2), 256, 30, t0)
	if err != nil {
		t.Fatal(err)
	}
	if prof.TTFT.N != 2000 || len(prof.TTFT.Points) != 256 || prof.TTFT.Above99 < 15 || prof.TTFT.Above99 > 25 {
		t.Fatalf("profile TTFT: n %d, %d points, %d above p99", prof.TTFT.N, len(prof.TTFT.Points), prof.TTFT.Above99)
	}
	cfg := DefaultConfig()
	tests := []struct {
		name   string
		live   window.Snapshot
		want   Severity
		metric string // the finding that must carry want
	}{
		{"same distribution", sample(rng, 500, 1, 1, 1, 0), None, ""},
		{"ttft +25%", sample(rng, 500, 1.25, 1.25, 1, 0), Critical, "ttft"},
		{"throughput -20%", sample(rng, 500, 1, 1, 0.8, 0), Critical, "throughput"},
		{"ttft +7% significant", sample(rng, 2000, 1.07, 1, 1, 0), Warning, "ttft"},
		{"p99 tail +50% only", sample(rng, 2000, 1, 1.5, 1, 0), Critical, "ttft_p99"},
		{"error rate 5%", sample(rng, 1000, 1, 1, 1, 50), Critical, "error_rate"},
		{"too few samples", sample(rng, 10, 2, 2, 0.5, 5), None, ""},
	}
	for _, tt := range tests {
		r := Compare(prof, tt.live, cfg, t0)
		if r.Severity != tt.want {
			t.Errorf("%s: severity %q, want %q: %+v", tt.name, r.Severity, tt.want, r.Findings)
			continue
		}
		if tt.metric == "" {
			continue
		}
		for _, f := range r.Findings {
			if f.Metric == tt.metric && f.Severity != tt.want {
				t.Errorf("%s: %s finding %q, want %q (%s)", tt.name, f.Metric, f.Severity, tt.want, f.Reason)
			}
		}
	}
	r := Compare(prof, sample(rng, 10, 2, 2, 0.5, 5), cfg, t0)
	for _, f := range r.Findings {
		if f.Judged {
			t.Errorf("too few samples: %s judged (%s)", f.Metric, f.Reason)
		}
	}
	if _, err := json.Marshal(r); err != nil {
		t.Fatalf("report with NaNs does not encode: %v", err)
	}
	if _, err := Capture(sample(rng, 5, 1, 1, 1, 0), 256, 30, t0); !errors.Is(err, ErrTooFewSamples) {
		t.Fatalf("Capture of 5 samples: %v", err)
	}
}

// TestSameDistributionRarelyAlerts bounds false CRITICALs on identical
// behaviour.
func TestSameDistributionRarelyAlerts(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	prof, _ := Capture(sample(rng, 2000, 1, 1, 1, 0), 256, 30, t0)
	crit := 0
	for range 200 {
		if Compare(prof, sample(rng, 300, 1, 1, 1, 0), DefaultConfig(), t0).Severity == Critical {
			crit++
		}
	}
	if crit > 4 {
		t.Fatalf("%d of 200 identical windows were CRITICAL", crit)
	}
}

func TestConfigValidate(t *testing.T) {
	mod := func(f func(*Config)) Config { c := DefaultConfig(); f(&c); return c }
	for i, c := range []Config{
		mod(func(c *Config) { c.MaxTTFTIncrease = 0 }),
		mod(func(c *Config) { c.Alpha = 0.7 }),
		mod(func(c *Config) { c.WarnFraction = 2 }),
		mod(func(c *Config) { c.MinSamples = 1 }),
		mod(func(c *Config) { c.Points = 1 }),
		mod(func(c *Config) { c.Every = 0 }),
		mod(func(c *Config) { c.CriticalStreak = -1 }),
	} {
		if err := c.Validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("case %d: %v", i, err)
		}
	}
}

func TestCriticalRollsBack(t *testing.T) {
	_, nc := testenv.NATS(t)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	kv, err := control.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(t0)
	win, _ := window.New(window.Config{Window: 10 * time.Minute, MaxSamples: 4096, Resolution: time.Second, MaxVariants: 4}, clk)
	alerts, err := nc.SubscribeSync("krserve.v1.alerts")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	met, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var rolled []string
	d, err := NewDetector(DefaultConfig(), Deps{KV: kv, Windows: win, Alerts: alert.NewPublisher(nc, busSubjects), Metrics: met,
		OnRollback: func(_ context.Context, _ time.Time, r Report) { rolled = append(rolled, r.Variant) }})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	feed := func(ttft float64) {
		s := sample(rng, 400, ttft, ttft, 1, 0)
		_ = win.ObserveMany("baseline", window.TTFT, s.TTFT)
		_ = win.ObserveMany("baseline", window.ITL, s.ITL)
		_ = win.ObserveMany("baseline", window.Throughput, s.Throughput)
		_ = win.ObserveRequests("baseline", s.Requests, s.Errors)
	}
	// The promoted configuration runs on the baseline; a new canary is at 10 %.
	on := true
	promoted := control.VariantFlags{KVCachePool: &control.KVPoolFlags{Enabled: &on, PrefixMatching: &on}, ParallelTokenizer: &control.TokenizerFlags{BatchMode: &on}}
	if err := control.PutFlags(ctx, kv, control.FlagOverrides{"baseline": promoted, "canary": promoted}); err != nil {
		t.Fatal(err)
	}
	if err := control.PutWeights(ctx, kv, control.Weights{Baseline: "baseline", Canary: map[string]float64{"canary": 10}}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	feed(1)
	clk.Advance(30 * time.Second)
	if _, err := d.Capture(ctx, clk.Now(), "baseline", t0); err != nil {
		t.Fatal(err)
	}
	// First check: healthy. Then two checks of 30 % slower TTFT.
	step := func(ttft float64) Report {
		t.Helper()
		clk.Advance(15 * time.Second)
		feed(ttft)
		clk.Advance(15 * time.Second)
		rs, err := d.Tick(ctx, clk.Now())
		if err != nil || len(rs) != 1 {
			t.Fatalf("Tick: %v, %d reports", err, len(rs))
		}
		return rs[0]
	}
	if r := step(1); r.Severity != None {
		t.Fatalf("healthy check: %q %+v", r.Severity, r.Findings)
	}
	if r := step(1.3); r.Severity != Critical {
		t.Fatalf("slow check: %q", r.Severity)
	}
	if w, _ := control.GetWeights(ctx, kv); w.Canary["canary"] != 10 {
		t.Fatalf("rolled back after one CRITICAL: %+v", w)
	}
	if r := step(1.3); r.Severity != Critical {
		t.Fatalf("second slow check: %q", r.Severity)
	}
	w, _ := control.GetWeights(ctx, kv)
	if len(w.Variants()) != 0 || w.Baseline != "baseline" {
		t.Fatalf("weights after the automatic rollback %+v", w)
	}
	o, _, _ := control.GetFlags(ctx, kv)
	b := o["baseline"]
	if b.KVCachePool == nil || *b.KVCachePool.Enabled || *b.KVCachePool.PrefixMatching || b.ParallelTokenizer == nil || *b.ParallelTokenizer.Enabled {
		t.Fatalf("baseline flags after rollback %+v", b)
	}
	if _, err := b.Apply(defaultRuntime()); err != nil {
		t.Fatalf("disabled flags do not apply: %v", err)
	}
	if o["canary"].KVCachePool == nil || !*o["canary"].KVCachePool.Enabled {
		t.Fatalf("another variant's flags were touched: %+v", o["canary"])
	}
	if ps, _, _ := LoadProfiles(ctx, kv); len(ps) != 0 {
		t.Fatalf("profile kept after rollback: %v", ps)
	}
	if len(rolled) != 1 || rolled[0] != "baseline" {
		t.Fatalf("OnRollback calls %v", rolled)
	}
	if got := testutil.ToFloat64(met.alerts.WithLabelValues("critical", "ttft")); got != 2 {
		t.Fatalf("krserve_regression_alerts_total{critical,ttft} = %v", got)
	}
	if got := testutil.ToFloat64(met.rollbacks.WithLabelValues("baseline")); got != 1 {
		t.Fatalf("rollbacks = %v", got)
	}
	kinds := map[string]int{}
	for {
		m, err := alerts.NextMsg(100 * time.Millisecond)
		if err != nil {
			break
		}
		var a alert.Alert
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatal(err)
		}
		kinds[a.Kind+"/"+string(a.Severity)]++
	}
	if kinds["rollback/critical"] != 1 || kinds["regression/critical"] < 2 {
		t.Fatalf("alerts on NATS: %v", kinds)
	}
	// No profile left: further checks report nothing.
	if r, err := d.Check(ctx, clk.Advance(time.Minute)); err != nil || len(r) != 0 {
		t.Fatalf("check without profiles: %v %v", r, err)
	}
}
