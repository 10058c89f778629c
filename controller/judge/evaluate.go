package judge

import (
	"errors"
	"fmt"
	"math"

	"github.com/krserve/krserve/controller/stats"
	"github.com/krserve/krserve/controller/window"
)

// sampleTest compares two samples. It returns the centres compared and the
// one-sided p-value for "canary worse": canary greater when higherIsWorse,
// canary less otherwise.
type sampleTest struct {
	name string
	run  func(baseline, canary []float64, higherIsWorse bool) (cb, cc, p float64, err error)
}

var welchTest = sampleTest{"welch", func(b, c []float64, higherIsWorse bool) (float64, float64, float64, error) {
	r, err := stats.Welch(c, b)
	if err != nil {
		mb, _ := stats.Mean(b)
		mc, _ := stats.Mean(c)
		return mb, mc, math.NaN(), err
	}
	if higherIsWorse {
		return r.MeanB, r.MeanA, r.PGreater, nil
	}
	return r.MeanB, r.MeanA, r.PLess, nil
}}

var mannWhitneyTest = sampleTest{"mannwhitney", func(b, c []float64, higherIsWorse bool) (float64, float64, float64, error) {
	mb, err := stats.Median(b)
	if err != nil {
		return math.NaN(), math.NaN(), math.NaN(), err
	}
	mc, err := stats.Median(c)
	if err != nil {
		return math.NaN(), math.NaN(), math.NaN(), err
	}
	r, err := stats.MannWhitney(c, b)
	if err != nil {
		return mb, mc, math.NaN(), err
	}
	if higherIsWorse {
		return mb, mc, r.PGreater, nil
	}
	return mb, mc, r.PLess, nil
}}

// rateTest compares error counts; p is one-sided for "canary rate higher".
// It returns the name of the test it ran.
type rateTest struct {
	name string
	run  func(bErr, bReq, cErr, cReq int64) (p float64, test string, err error)
}

// zTest is the pooled two-proportion z test, replaced by Fisher's exact
// test when an expected cell count of the 2×2 table is below 5, where the
// normal approximation overstates significance.
var zTest = rateTest{"ztest", func(be, bn, ce, cn int64) (float64, string, error) {
	pooled := float64(be+ce) / float64(bn+cn)
	minCell := min(pooled, 1-pooled) * float64(min(bn, cn))
	if minCell < 5 {
		return fisherTest.run(be, bn, ce, cn)
	}
	r, err := stats.TwoProportionZ(ce, cn, be, bn)
	return r.PGreater, "ztest", err
}}

var fisherTest = rateTest{"fisher", func(be, bn, ce, cn int64) (float64, string, error) {
	r, err := stats.FisherExact(ce, cn, be, bn)
	return r.PGreater, "fisher", err
}}

// spec says how one sampled metric is judged.
type spec struct {
	metric        window.Metric
	higherIsWorse bool
	threshold     func(Criteria) float64
}

var specs = map[Metric]spec{
	Throughput: {window.Throughput, false, func(c Criteria) float64 { return c.MaxThroughputDrop }},
	TTFT:       {window.TTFT, true, func(c Criteria) float64 { return c.MaxTTFTIncrease }},
	ITL:        {window.ITL, true, func(c Criteria) float64 { return c.MaxITLIncrease }},
}

// judgeSamples applies the decision rule of the package documentation to
// one sampled metric.
func judgeSamples(m Metric, baseline, canary window.Snapshot, c Criteria, t sampleTest) Result {
	sp := specs[m]
	b, cn := baseline.Samples(sp.metric), canary.Samples(sp.metric)
	r := Result{
		Metric: m, Threshold: sp.threshold(c), Test: t.name,
		NBaseline: len(b), NCanary: len(cn), N: min(len(b), len(cn)),
		Baseline: math.NaN(), Canary: math.NaN(), Effect: math.NaN(), P: math.NaN(),
	}
	if r.N < c.MinSamples {
		r.Reason = fmt.Sprintf("too few samples: %d baseline, %d canary, need %d", len(b), len(cn), c.MinSamples)
		return r
	}
	cb, cc, p, err := t.run(b, cn, sp.higherIsWorse)
	r.Baseline, r.Canary = cb, cc
	if !(cb > 0) {
		r.Reason = fmt.Sprintf("baseline centre %g is not positive: no relative change", cb)
		return r
	}
	r.Effect = (cc - cb) / cb
	bad := r.Effect > r.Threshold
	if !sp.higherIsWorse {
		bad = -r.Effect > r.Threshold
	}
	switch {
	case !bad:
		r.Decision = Pass
		r.P = p
		r.Reason = fmt.Sprintf("change %+.2f%% within the tolerated %.2f%%", 100*r.Effect, 100*r.Threshold)
	case errors.Is(err, stats.ErrZeroVariance):
		// Both samples constant and apart: the difference is certain.
		r.Decision, r.P = Fail, 0
		r.Reason = fmt.Sprintf("change %+.2f%% beyond %.2f%% with constant samples", 100*r.Effect, 100*r.Threshold)
	case err != nil:
		r.Reason = "test failed: " + err.Error()
	case p < c.Alpha:
		r.Decision, r.P = Fail, p
		r.Reason = fmt.Sprintf("change %+.2f%% beyond %.2f%%, p = %.3g < α = %g", 100*r.Effect, 100*r.Threshold, p, c.Alpha)
	default:
		r.P = p
		r.Reason = fmt.Sprintf("change %+.2f%% beyond %.2f%% but p = %.3g ≥ α = %g", 100*r.Effect, 100*r.Threshold, p, c.Alpha)
	}
	return r
}

// judgeErrors applies the decision rule to the error rate.
func judgeErrors(baseline, canary window.Snapshot, c Criteria, t rateTest) Result {
	r := Result{
		Metric: ErrorRate, Threshold: c.MaxErrorRateIncrease, Test: t.name,
		NBaseline: clampInt(baseline.Requests), NCanary: clampInt(canary.Requests),
		Baseline: math.NaN(), Canary: math.NaN(), Effect: math.NaN(), P: math.NaN(),
	}
	r.N = min(r.NBaseline, r.NCanary)
	if baseline.Requests < c.MinRequests || canary.Requests < c.MinRequests {
		r.Reason = fmt.Sprintf("too few requests: %d baseline, %d canary, need %d", baseline.Requests, canary.Requests, c.MinRequests)
		return r
	}
	r.Baseline, _ = baseline.ErrorRate()
	r.Canary, _ = canary.ErrorRate()
	r.Effect = r.Canary - r.Baseline
	if r.Effect <= r.Threshold {
		r.Decision = Pass
		r.Reason = fmt.Sprintf("error rate %.3f%% vs %.3f%%: increase within %.2f points", 100*r.Canary, 100*r.Baseline, 100*r.Threshold)
		return r
	}
	p, test, err := t.run(baseline.Errors, baseline.Requests, canary.Errors, canary.Requests)
	r.Test = test
	switch {
	case err != nil:
		r.Reason = "test failed: " + err.Error()
	case p < c.Alpha:
		r.Decision, r.P = Fail, p
		r.Reason = fmt.Sprintf("error rate %.3f%% vs %.3f%%, p = %.3g < α = %g", 100*r.Canary, 100*r.Baseline, p, c.Alpha)
	default:
		r.P = p
		r.Reason = fmt.Sprintf("error rate %.3f%% vs %.3f%% but p = %.3g ≥ α = %g", 100*r.Canary, 100*r.Baseline, p, c.Alpha)
	}
	return r
}

func clampInt(v int64) int {
	if v > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(v)
}

// combined is a judge that runs one sample test per sampled metric and one
// rate test for the error rate.
type combined struct {
	name    string
	samples map[Metric]sampleTest
	rate    rateTest
}

func (j combined) Judge(baseline, canary window.Snapshot, c Criteria) Verdict {
	v := Verdict{Judge: j.name}
	if err := c.Validate(); err != nil {
		v.Reason = err.Error()
		return v
	}
	for _, m := range c.Metrics {
		if m == ErrorRate {
			v.Results = append(v.Results, judgeErrors(baseline, canary, c, j.rate))
			continue
		}
		v.Results = append(v.Results, judgeSamples(m, baseline, canary, c, j.samples[m]))
	}
	combine(&v)
	return v
}

func init() {
	Register("welch", func() Judge {
		return combined{name: "welch", samples: map[Metric]sampleTest{Throughput: welchTest, TTFT: welchTest, ITL: welchTest}, rate: zTest}
	})
	Register("mannwhitney", func() Judge {
		return combined{name: "mannwhitney", samples: map[Metric]sampleTest{Throughput: mannWhitneyTest, TTFT: mannWhitneyTest, ITL: mannWhitneyTest}, rate: zTest}
	})
	Register("kayenta", func() Judge {
		return combined{name: "kayenta", samples: map[Metric]sampleTest{Throughput: welchTest, TTFT: mannWhitneyTest, ITL: mannWhitneyTest}, rate: fisherTest}
	})
}
