package abtest

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// normal draws n values of N(mean, sd) from a fixed seed.
func normal(seed uint64, n int, mean, sd float64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([]float64, n)
	for i := range out {
		out[i] = mean + sd*rng.NormFloat64()
	}
	return out
}

// variant builds Values of n requests with the given centres.
func variant(seed uint64, n int, ttft, total, tps float64, errs int) Values {
	return Values{TTFT: normal(seed, n, ttft, ttft/10), Total: normal(seed+1, n, total, total/10),
		Throughput: normal(seed+2, n, tps, tps/10), Requests: n + errs, Errors: errs}
}

func TestRecommendation(t *testing.T) {
	base := variant(1, 200, 100, 400, 50, 0)
	tests := []struct {
		name      string
		b, c      Values
		crit      func(*Criteria)
		want      Recommendation
		verdicts  map[Metric]Verdict
		inReason  string
		checkDiff bool
	}{
		{name: "clear TTFT improvement", b: base, c: variant(11, 200, 70, 400, 50, 0), want: Deploy,
			verdicts: map[Metric]Verdict{TTFT: Improved, Total: NoDifference, Throughput: NoDifference, ErrorRate: NoDifference}, checkDiff: true},
		{name: "clear TTFT regression", b: base, c: variant(21, 200, 130, 400, 50, 0), want: Reject,
			verdicts: map[Metric]Verdict{TTFT: Regressed}, inReason: "ttft_ms regressed"},
		{name: "identical", b: base, c: base, want: Inconclusive,
			verdicts: map[Metric]Verdict{TTFT: NoDifference, Total: NoDifference, Throughput: NoDifference, ErrorRate: NoDifference}},
		{name: "same distribution, other draw", b: base, c: variant(31, 200, 100, 400, 50, 0), want: Inconclusive},
		{name: "tiny samples", b: variant(41, 5, 100, 400, 50, 0), c: variant(42, 5, 50, 200, 100, 0), want: Inconclusive,
			verdicts: map[Metric]Verdict{TTFT: Insufficient, Total: Insufficient, Throughput: Insufficient, ErrorRate: Insufficient}, inReason: "too few samples"},
		{name: "throughput drop beyond tolerance vetoes a TTFT gain", b: base, c: variant(51, 200, 70, 400, 40, 0), want: Reject,
			verdicts: map[Metric]Verdict{TTFT: Improved, Throughput: Regressed}},
		{name: "throughput gain", b: base, c: variant(61, 200, 100, 400, 60, 0), want: Deploy,
			verdicts: map[Metric]Verdict{Throughput: Improved}},
		{name: "errors veto", b: base, c: variant(71, 200, 70, 400, 50, 30), want: Reject,
			verdicts: map[Metric]Verdict{TTFT: Improved, ErrorRate: Regressed}, inReason: "error_rate"},
		{name: "worse within tolerance does not veto", b: base, c: variant(81, 200, 70, 430, 50, 0), want: Deploy,
			verdicts: map[Metric]Verdict{TTFT: Improved, Total: WorseWithinTolerance}},
		{name: "significant but below the minimum improvement", b: variant(91, 5000, 100, 400, 50, 0), c: variant(92, 5000, 99, 400, 50, 0),
			want: Inconclusive, verdicts: map[Metric]Verdict{TTFT: NoDifference}},
		{name: "minimum improvement 0 deploys it", b: variant(91, 5000, 100, 400, 50, 0), c: variant(92, 5000, 99, 400, 50, 0),
			crit: func(c *Criteria) { c.MinImprovement = 0 }, want: Deploy, verdicts: map[Metric]Verdict{TTFT: Improved}},
		{name: "too few throughput samples", b: base, c: Values{TTFT: normal(101, 200, 70, 7), Total: normal(102, 200, 400, 40), Throughput: normal(103, 3, 50, 5), Requests: 200},
			want: Inconclusive, verdicts: map[Metric]Verdict{TTFT: Improved, Throughput: Insufficient}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultCriteria()
			if tc.crit != nil {
				tc.crit(&c)
			}
			rep, err := Analyze(tc.b, tc.c, c)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Recommendation != tc.want {
				t.Errorf("recommendation %s (%s), want %s", rep.Recommendation, rep.Reason, tc.want)
			}
			if !strings.Contains(rep.Reason, tc.inReason) {
				t.Errorf("reason %q does not mention %q", rep.Reason, tc.inReason)
			}
			for m, v := range tc.verdicts {
				r, ok := rep.Result(m)
				if !ok || r.Verdict != v {
					t.Errorf("%s: verdict %s (%s), want %s", m, r.Verdict, r.Note, v)
				}
			}
			if len(rep.Results) != len(Metrics) {
				t.Fatalf("%d results, want %d", len(rep.Results), len(Metrics))
			}
			if tc.checkDiff {
				r, _ := rep.Result(TTFT)
				// About 30 % better; the interval of the difference holds
				// the true −30 ms and excludes 0.
				if math.Abs(r.Improvement-0.3) > 0.03 || !(r.Diff.Lo < -30 && -30 < r.Diff.Hi && r.Diff.Hi < 0) {
					t.Errorf("improvement %.3f, diff %.2f [%.2f, %.2f]", r.Improvement, r.Diff.Estimate, r.Diff.Lo, r.Diff.Hi)
				}
				if !(r.Baseline.Lo < 100 && 100 < r.Baseline.Hi && r.Candidate.Lo < 70 && 70 < r.Candidate.Hi) {
					t.Errorf("mean intervals %+v %+v miss the true means", r.Baseline, r.Candidate)
				}
				if r.Test != "mannwhitney" || r.P >= 1e-10 {
					t.Errorf("test %s p %g", r.Test, r.P)
				}
			}
		})
	}
}

func TestIdenticalSamplesHaveP1(t *testing.T) {
	base := variant(1, 100, 100, 400, 50, 2)
	rep, err := Analyze(base, base, DefaultCriteria())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if r.P < 0.99 || r.Significant || r.Improvement != 0 {
			t.Errorf("%s: p %g significant %v improvement %g on identical samples", r.Metric, r.P, r.Significant, r.Improvement)
		}
	}
}

func TestConstantSamples(t *testing.T) {
	rep40 := func(v float64) []float64 { return slices.Repeat([]float64{v}, 40) }
	b := Values{TTFT: rep40(10), Total: rep40(100), Throughput: rep40(50), Requests: 40}
	c := Values{TTFT: rep40(5), Total: rep40(100), Throughput: rep40(60), Requests: 40}
	rep, err := Analyze(b, c, DefaultCriteria())
	if err != nil {
		t.Fatal(err)
	}
	want := map[Metric]Verdict{TTFT: Improved, Total: NoDifference, Throughput: Improved, ErrorRate: NoDifference}
	for m, v := range want {
		r, _ := rep.Result(m)
		if r.Verdict != v {
			t.Errorf("%s: %s (%s), want %s", m, r.Verdict, r.Note, v)
		}
	}
	if r, _ := rep.Result(Throughput); r.P != 0 {
		t.Errorf("two different constants: p = %g, want 0", r.P)
	}
	if rep.Recommendation != Deploy {
		t.Errorf("%s: %s", rep.Recommendation, rep.Reason)
	}
}

func TestErrorRateInterval(t *testing.T) {
	// Wilson's 95 % interval for 3 of 50, from the closed form
	// (p + z²/2n ± z√(p(1−p)/n + z²/4n²)) / (1 + z²/n) with z = 1.959964:
	// [0.0206150, 0.1621709].
	s := rateSummary(3, 50, 0.95)
	if math.Abs(s.Lo-0.0206150) > 1e-6 || math.Abs(s.Hi-0.1621709) > 1e-6 || s.Mean != 0.06 {
		t.Errorf("Wilson interval %+v", s)
	}
	if z := normalQuantile(0.975); math.Abs(z-1.959963984540054) > 1e-9 {
		t.Errorf("z = %.15f", z)
	}
	if s := rateSummary(0, 40, 0.95); s.Lo != 0 || !(s.Hi > 0.08 && s.Hi < 0.09) {
		t.Errorf("0 of 40: %+v", s)
	}
}

func TestAnalyzeErrors(t *testing.T) {
	ok := variant(1, 40, 10, 20, 30, 0)
	tests := []struct {
		name string
		b, c Values
		crit func(*Criteria)
		want error
	}{
		{"alpha 0", ok, ok, func(c *Criteria) { c.Alpha = 0 }, ErrBadCriteria},
		{"alpha NaN", ok, ok, func(c *Criteria) { c.Alpha = math.NaN() }, ErrBadCriteria},
		{"min samples 1", ok, ok, func(c *Criteria) { c.MinSamples = 1 }, ErrBadCriteria},
		{"min improvement 1", ok, ok, func(c *Criteria) { c.MinImprovement = 1 }, ErrBadCriteria},
		{"ttft tolerance negative", ok, ok, func(c *Criteria) { c.MaxTTFTIncrease = -0.1 }, ErrBadCriteria},
		{"latency tolerance Inf", ok, ok, func(c *Criteria) { c.MaxLatencyIncrease = math.Inf(1) }, ErrBadCriteria},
		{"throughput drop 1", ok, ok, func(c *Criteria) { c.MaxThroughputDrop = 1 }, ErrBadCriteria},
		{"error rate tolerance 2", ok, ok, func(c *Criteria) { c.MaxErrorRateIncrease = 2 }, ErrBadCriteria},
		{"level 1", ok, ok, func(c *Criteria) { c.Level = 1 }, ErrBadCriteria},
		{"more errors than requests", Values{Errors: 3, Requests: 2}, ok, nil, ErrBadWorkload},
		{"negative errors", ok, Values{Errors: -1}, nil, ErrBadWorkload},
		{"NaN sample", Values{TTFT: []float64{1, math.NaN()}, Requests: 2}, ok, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultCriteria()
			if tc.crit != nil {
				tc.crit(&c)
			}
			_, err := Analyze(tc.b, tc.c, c)
			if tc.want == nil {
				if err == nil {
					t.Fatal("no error for bad input")
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestResultJSON(t *testing.T) {
	rep, err := Analyze(variant(1, 5, 10, 20, 30, 0), Values{TTFT: []float64{7}, Requests: 1}, DefaultCriteria())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rep.MetricsJSON())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	ttft := doc["ttft_ms"]
	if ttft["verdict"] != "insufficient" || ttft["p"] != nil {
		t.Errorf("ttft: %v", ttft)
	}
	cand := ttft["candidate"].(map[string]any)
	// One value: a mean but no interval.
	if cand["mean"] != 7.0 || cand["ci_low"] != nil || cand["n"] != 1.0 {
		t.Errorf("candidate summary %v", cand)
	}
	// No throughput sample at all: everything null, nothing NaN.
	if tp := doc["tokens_per_s"]["candidate"].(map[string]any); tp["mean"] != nil || tp["n"] != 0.0 {
		t.Errorf("throughput candidate %v", tp)
	}
	if len(doc) != 4 {
		t.Errorf("%d metrics in JSON", len(doc))
	}
}
