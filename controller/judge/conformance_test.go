package judge

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/krserve/krserve/controller/window"
)

// variantModel generates a window of a variant with given properties.
type variantModel struct {
	n          int     // samples per metric
	ttft       float64 // median TTFT, seconds (lognormal, σ = 0.3)
	itl        float64 // median ITL, seconds (lognormal, σ = 0.2)
	throughput float64 // mean tokens/s (normal, sd 10 %)
	requests   int64
	errRate    float64 // per request, Bernoulli
}

var healthy = variantModel{n: 200, ttft: 0.050, itl: 0.012, throughput: 100, requests: 2000, errRate: 0.003}

func (m variantModel) snapshot(rng *rand.Rand, name string) window.Snapshot {
	s := window.Snapshot{Variant: name, Requests: m.requests}
	for range m.n {
		s.TTFT = append(s.TTFT, m.ttft*math.Exp(0.3*rng.NormFloat64()))
		s.ITL = append(s.ITL, m.itl*math.Exp(0.2*rng.NormFloat64()))
		s.Throughput = append(s.Throughput, math.Max(1, m.throughput*(1+0.1*rng.NormFloat64())))
	}
	for range m.requests {
		if rng.Float64() < m.errRate {
			s.Errors++
		}
	}
	return s
}

func forEachJudge(t *testing.T, f func(t *testing.T, j Judge)) {
	names := Names()
	for _, want := range []string{"welch", "mannwhitney", "kayenta"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Fatalf("judge %q not registered (have %v)", want, names)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			j, err := New(name)
			if err != nil {
				t.Fatal(err)
			}
			f(t, j)
		})
	}
}

func result(t *testing.T, v Verdict, m Metric) Result {
	t.Helper()
	for _, r := range v.Results {
		if r.Metric == m {
			return r
		}
	}
	t.Fatalf("no result for %s in %+v", m, v)
	return Result{}
}

// checkWellFormed asserts the invariants every verdict keeps.
func checkWellFormed(t *testing.T, v Verdict, c Criteria) {
	t.Helper()
	if len(v.Results) != len(c.Metrics) {
		t.Fatalf("%d results for %d metrics", len(v.Results), len(c.Metrics))
	}
	worst := Pass
	for i, r := range v.Results {
		if r.Metric != c.Metrics[i] || r.Test == "" || r.Reason == "" {
			t.Fatalf("result %d malformed: %+v", i, r)
		}
		if r.N != min(r.NBaseline, r.NCanary) {
			t.Fatalf("N = %d of %d, %d", r.N, r.NBaseline, r.NCanary)
		}
		if !math.IsNaN(r.P) && (r.P < 0 || r.P > 1) {
			t.Fatalf("p = %g", r.P)
		}
		if r.Decision == Fail && !(r.P < c.Alpha) {
			t.Fatalf("fail without significance: %+v", r)
		}
		if r.Decision == Fail || (r.Decision == Inconclusive && worst == Pass) {
			worst = r.Decision
		}
	}
	if v.Decision != worst {
		t.Fatalf("verdict %v, results say %v", v.Decision, worst)
	}
}

func TestConformanceIdenticalNotFail(t *testing.T) {
	c := DefaultCriteria()
	forEachJudge(t, func(t *testing.T, j Judge) {
		const runs = 200
		fails, passes := 0, 0
		for seed := range uint64(runs) {
			rng := rand.New(rand.NewPCG(seed, 0xA))
			v := j.Judge(healthy.snapshot(rng, "baseline"), healthy.snapshot(rng, "canary"), c)
			checkWellFormed(t, v, c)
			switch v.Decision {
			case Fail:
				fails++
			case Pass:
				passes++
			}
		}
		t.Logf("A/A: %d/%d fail, %d pass", fails, runs, passes)
		if fails > runs*5/100 {
			t.Fatalf("false failures %d/%d > 5 %%", fails, runs)
		}
		if passes < runs*8/10 {
			t.Fatalf("only %d/%d identical windows pass", passes, runs)
		}
	})
}

// TestConformanceSlowTTFTFails: a canary 20 % slower in TTFT fails. With
// 200 samples of σ = 0.3 the observed change of the medians has a standard
// error near 4 %, so a window now and then sees less than the 10 % threshold:
// at least 90 % of windows must fail (the rollout's Streak needs several);
// with 1000 samples every one must.
func TestConformanceSlowTTFTFails(t *testing.T) {
	c := DefaultCriteria()
	forEachJudge(t, func(t *testing.T, j Judge) {
		for _, tc := range []struct {
			n, runs, minFails int
		}{{200, 50, 45}, {1000, 10, 10}} {
			base := healthy
			base.n = tc.n
			slow := base
			slow.ttft *= 1.2
			fails := 0
			for seed := range uint64(tc.runs) {
				rng := rand.New(rand.NewPCG(seed, 0xB))
				v := j.Judge(base.snapshot(rng, "baseline"), slow.snapshot(rng, "canary"), c)
				checkWellFormed(t, v, c)
				r := result(t, v, TTFT)
				if r.Decision == Fail {
					fails++
					if v.Decision != Fail || r.Effect <= c.MaxTTFTIncrease || r.Threshold != c.MaxTTFTIncrease {
						t.Fatalf("verdict %v, TTFT %+v", v.Decision, r)
					}
				}
			}
			t.Logf("n=%d: %d/%d windows fail", tc.n, fails, tc.runs)
			if fails < tc.minFails {
				t.Fatalf("n=%d: 20 %% slower TTFT failed only %d/%d windows, want ≥ %d", tc.n, fails, tc.runs, tc.minFails)
			}
		}
	})
}

func TestConformanceTinySamplesInconclusive(t *testing.T) {
	c := DefaultCriteria()
	tiny := healthy
	tiny.n, tiny.requests = 5, 20
	slowTiny := tiny
	slowTiny.ttft *= 3
	slowTiny.errRate = 0.5
	forEachJudge(t, func(t *testing.T, j Judge) {
		rng := rand.New(rand.NewPCG(1, 0xC))
		for _, canary := range []variantModel{tiny, slowTiny} {
			v := j.Judge(tiny.snapshot(rng, "baseline"), canary.snapshot(rng, "canary"), c)
			checkWellFormed(t, v, c)
			if v.Decision != Inconclusive {
				t.Fatalf("tiny windows gave %v", v.Decision)
			}
			for _, r := range v.Results {
				if r.Decision != Inconclusive || !math.IsNaN(r.P) {
					t.Fatalf("tiny %s: %+v", r.Metric, r)
				}
			}
		}
		// Empty snapshots (no data at all) are inconclusive too.
		if v := j.Judge(window.Snapshot{}, window.Snapshot{}, c); v.Decision != Inconclusive {
			t.Fatalf("empty windows gave %v", v.Decision)
		}
	})
}

func TestConformanceBetterCanaryPasses(t *testing.T) {
	c := DefaultCriteria()
	better := healthy
	better.ttft *= 0.8
	better.itl *= 0.9
	better.throughput *= 1.1
	better.errRate = 0.001
	forEachJudge(t, func(t *testing.T, j Judge) {
		for seed := range uint64(20) {
			rng := rand.New(rand.NewPCG(seed, 0xD))
			v := j.Judge(healthy.snapshot(rng, "baseline"), better.snapshot(rng, "canary"), c)
			checkWellFormed(t, v, c)
			if v.Decision != Pass {
				t.Fatalf("seed %d: better canary gave %v: %+v", seed, v.Decision, v.Results)
			}
		}
	})
}

func TestConformanceErrorRateFails(t *testing.T) {
	c := DefaultCriteria()
	clean := healthy
	clean.errRate = 0
	broken := healthy
	broken.errRate = 0.05
	forEachJudge(t, func(t *testing.T, j Judge) {
		for seed := range uint64(20) {
			rng := rand.New(rand.NewPCG(seed, 0xE))
			v := j.Judge(clean.snapshot(rng, "baseline"), broken.snapshot(rng, "canary"), c)
			checkWellFormed(t, v, c)
			r := result(t, v, ErrorRate)
			if v.Decision != Fail || r.Decision != Fail {
				t.Fatalf("seed %d: 5 %% vs 0 %% errors gave %v (%+v)", seed, v.Decision, r)
			}
			if r.Baseline != 0 || math.Abs(r.Canary-0.05) > 0.02 {
				t.Fatalf("rates %g %g", r.Baseline, r.Canary)
			}
		}
	})
}

func TestConformanceSlowThroughputFails(t *testing.T) {
	c := DefaultCriteria()
	slow := healthy
	slow.throughput *= 0.85
	forEachJudge(t, func(t *testing.T, j Judge) {
		rng := rand.New(rand.NewPCG(3, 0xF))
		v := j.Judge(healthy.snapshot(rng, "baseline"), slow.snapshot(rng, "canary"), c)
		if r := result(t, v, Throughput); r.Decision != Fail || v.Decision != Fail {
			t.Fatalf("15 %% lower throughput: %+v", r)
		}
	})
}

func TestConformanceInvalidCriteria(t *testing.T) {
	forEachJudge(t, func(t *testing.T, j Judge) {
		c := DefaultCriteria()
		c.Alpha = 0
		rng := rand.New(rand.NewPCG(4, 0x10))
		v := j.Judge(healthy.snapshot(rng, "b"), healthy.snapshot(rng, "c"), c)
		if v.Decision != Inconclusive || v.Reason == "" || len(v.Results) != 0 {
			t.Fatalf("invalid criteria gave %+v", v)
		}
	})
}

func benchSnapshots() (window.Snapshot, window.Snapshot) {
	rng := rand.New(rand.NewPCG(9, 9))
	m := healthy
	m.n = 1000
	return m.snapshot(rng, "baseline"), m.snapshot(rng, "canary")
}
