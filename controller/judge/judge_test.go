package judge

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/krserve/krserve/controller/window"
)

func TestRegistry(t *testing.T) {
	if _, err := New("nope"); !errors.Is(err, ErrUnknownJudge) {
		t.Fatalf("err = %v", err)
	}
	names := Names()
	if !slices.IsSorted(names) || len(names) < 3 {
		t.Fatalf("names %v", names)
	}
	for _, bad := range []func(){
		func() { Register("welch", func() Judge { return nil }) },
		func() { Register("", func() Judge { return nil }) },
		func() { Register("x", nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("Register did not panic")
				}
			}()
			bad()
		}()
	}
}

func TestCriteriaValidate(t *testing.T) {
	if err := DefaultCriteria().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		mod  func(*Criteria)
	}{
		{"negative drop", func(c *Criteria) { c.MaxThroughputDrop = -0.1 }},
		{"drop of 100 %", func(c *Criteria) { c.MaxThroughputDrop = 1 }},
		{"NaN ttft", func(c *Criteria) { c.MaxTTFTIncrease = math.NaN() }},
		{"inf itl", func(c *Criteria) { c.MaxITLIncrease = math.Inf(1) }},
		{"error increase 1", func(c *Criteria) { c.MaxErrorRateIncrease = 1 }},
		{"min samples 1", func(c *Criteria) { c.MinSamples = 1 }},
		{"min requests 0", func(c *Criteria) { c.MinRequests = 0 }},
		{"alpha 0.5", func(c *Criteria) { c.Alpha = 0.5 }},
		{"no metrics", func(c *Criteria) { c.Metrics = nil }},
		{"unknown metric", func(c *Criteria) { c.Metrics = []Metric{"latency"} }},
		{"duplicate metric", func(c *Criteria) { c.Metrics = []Metric{TTFT, TTFT} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			cr := DefaultCriteria()
			c.mod(&cr)
			if err := cr.Validate(); !errors.Is(err, ErrBadCriteria) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// TestDecisionRule exercises the rule on hand-made samples with the welch
// judge, one metric at a time.
func TestDecisionRule(t *testing.T) {
	j, err := New("welch")
	if err != nil {
		t.Fatal(err)
	}
	c := DefaultCriteria()
	c.Metrics = []Metric{TTFT}
	c.MinSamples = 4
	base := []float64{1.0, 1.1, 0.9, 1.0, 1.05, 0.95}
	scale := func(x []float64, f float64) []float64 {
		out := make([]float64, len(x))
		for i, v := range x {
			out[i] = v * f
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		b, c   []float64
		want   Decision
		effect float64
	}{
		{"same", base, base, Pass, 0},
		{"5 % slower: within threshold", base, scale(base, 1.05), Pass, 0.05},
		{"30 % slower: significant", base, scale(base, 1.3), Fail, 0.3},
		{"15 % slower but noisy", base, []float64{0.5, 1.8, 0.7, 1.6, 1.1, 1.2}, Inconclusive, 0.15},
		{"too few", base[:3], base[:3], Inconclusive, math.NaN()},
		{"constant and apart", []float64{1, 1, 1, 1}, []float64{2, 2, 2, 2}, Fail, 1},
		{"constant and equal", []float64{1, 1, 1, 1}, []float64{1, 1, 1, 1}, Pass, 0},
		{"zero baseline", []float64{0, 0, 0, 0}, []float64{1, 2, 1, 2}, Inconclusive, math.NaN()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := j.Judge(window.Snapshot{TTFT: tc.b}, window.Snapshot{TTFT: tc.c}, c)
			r := v.Results[0]
			if r.Decision != tc.want || v.Decision != tc.want {
				t.Fatalf("decision %v (verdict %v), want %v: %s", r.Decision, v.Decision, tc.want, r.Reason)
			}
			if math.IsNaN(tc.effect) != math.IsNaN(r.Effect) || math.Abs(r.Effect-tc.effect) > 1e-9 {
				t.Fatalf("effect %g, want %g", r.Effect, tc.effect)
			}
		})
	}
}

func TestErrorRateRule(t *testing.T) {
	c := DefaultCriteria()
	c.Metrics = []Metric{ErrorRate}
	for _, name := range Names() {
		j, _ := New(name)
		for _, tc := range []struct {
			name   string
			be, bn int64
			ce, cn int64
			want   Decision
		}{
			{"no errors", 0, 1000, 0, 1000, Pass},
			{"half a point more", 5, 1000, 10, 1000, Pass},
			{"both broken alike", 100, 1000, 105, 1000, Pass},
			{"3 points more", 0, 1000, 30, 1000, Fail},
			{"3 points more on few requests", 0, 100, 3, 100, Inconclusive},
			{"too few requests", 0, 99, 50, 99, Inconclusive},
		} {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				v := j.Judge(window.Snapshot{Requests: tc.bn, Errors: tc.be}, window.Snapshot{Requests: tc.cn, Errors: tc.ce}, c)
				if v.Decision != tc.want {
					t.Fatalf("%v, want %v: %+v", v.Decision, tc.want, v.Results[0])
				}
			})
		}
	}
}

func TestDecisionString(t *testing.T) {
	var zero Decision
	if zero != Inconclusive || Pass.String() != "pass" || Fail.String() != "fail" || zero.String() != "inconclusive" || Decision(7).String() != "Decision(7)" {
		t.Fatal("decision names")
	}
}
