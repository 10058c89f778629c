package abtest

import (
	"errors"
	"fmt"
	"math"

	"github.com/krserve/krserve/controller/stats"
)

var (
	// ErrBadCriteria means a Criteria field is out of range; the message
	// names it. Fix the configuration.
	ErrBadCriteria = errors.New("abtest: invalid criteria")
	// ErrBadWorkload means a Workload field is out of range or a Sender is
	// missing; the message names it. Fix the invocation.
	ErrBadWorkload = errors.New("abtest: invalid workload")
	// ErrWrongVariant means a request was served by another variant than
	// the one it was sent to: the two pipelines are wired to the same
	// workers. The comparison would be meaningless; fix the deployment.
	ErrWrongVariant = errors.New("abtest: request served by the wrong variant")
)

// Metric names a compared metric.
type Metric string

// The compared metrics. The first three are primary: they can make the
// candidate worth deploying.
const (
	TTFT       Metric = "ttft_ms"
	Total      Metric = "total_ms"
	Throughput Metric = "tokens_per_s"
	ErrorRate  Metric = "error_rate"
)

// Metrics lists every metric in report order.
var Metrics = []Metric{TTFT, Total, Throughput, ErrorRate}

func (m Metric) primary() bool { return m != ErrorRate }

// higherIsBetter is true for throughput only.
func (m Metric) higherIsBetter() bool { return m == Throughput }

// Recommendation is the outcome of an A/B test.
type Recommendation string

// Recommendations.
const (
	Deploy       Recommendation = "DEPLOY"
	Reject       Recommendation = "REJECT"
	Inconclusive Recommendation = "INCONCLUSIVE"
)

// Verdict is the outcome for one metric (see the package documentation).
type Verdict string

// Verdicts.
const (
	Insufficient         Verdict = "insufficient"
	Improved             Verdict = "improved"
	Regressed            Verdict = "regressed"
	WorseWithinTolerance Verdict = "worse_within_tolerance"
	NoDifference         Verdict = "no_difference"
)

// Criteria decide the recommendation.
type Criteria struct {
	// Alpha is the significance level of each two-sided test.
	Alpha float64
	// MinSamples is the fewest values per variant a metric needs (served
	// requests for the latencies and throughput, sent requests for the
	// error rate).
	MinSamples int
	// MinImprovement is the smallest relative improvement of a primary
	// metric's mean that counts (0.02 = 2 %), and the smallest absolute
	// drop of the error rate.
	MinImprovement float64
	// Tolerated regressions: relative increases of the TTFT and total
	// latency means, relative drop of the throughput mean, absolute
	// increase of the error rate (0.01 = one point).
	MaxTTFTIncrease      float64
	MaxLatencyIncrease   float64
	MaxThroughputDrop    float64
	MaxErrorRateIncrease float64
	// Level is the confidence level of the intervals (0.95).
	Level float64
}

// DefaultCriteria are the rollout judge's tolerances (TTFT +10 %, throughput
// −5 %, error rate +1 point; total latency +10 %) at α = 0.05, 30 samples
// per variant, a 2 % minimum improvement and 95 % intervals.
func DefaultCriteria() Criteria {
	return Criteria{Alpha: 0.05, MinSamples: 30, MinImprovement: 0.02, MaxTTFTIncrease: 0.10, MaxLatencyIncrease: 0.10,
		MaxThroughputDrop: 0.05, MaxErrorRateIncrease: 0.01, Level: 0.95}
}

// Validate reports the first field out of range, wrapping ErrBadCriteria.
func (c Criteria) Validate() error {
	bad := func(name string, v any, want string) error {
		return fmt.Errorf("%w: %s = %v, want %s", ErrBadCriteria, name, v, want)
	}
	in := func(v, lo, hi float64) bool { return !math.IsNaN(v) && v >= lo && v < hi }
	switch {
	case !in(c.Alpha, 1e-12, 0.5):
		return bad("Alpha", c.Alpha, "0 < α < 0.5")
	case c.MinSamples < 2:
		return bad("MinSamples", c.MinSamples, "at least 2")
	case !in(c.MinImprovement, 0, 1):
		return bad("MinImprovement", c.MinImprovement, "0 ≤ value < 1")
	case !in(c.MaxTTFTIncrease, 0, math.Inf(1)):
		return bad("MaxTTFTIncrease", c.MaxTTFTIncrease, "a finite value ≥ 0")
	case !in(c.MaxLatencyIncrease, 0, math.Inf(1)):
		return bad("MaxLatencyIncrease", c.MaxLatencyIncrease, "a finite value ≥ 0")
	case !in(c.MaxThroughputDrop, 0, 1):
		return bad("MaxThroughputDrop", c.MaxThroughputDrop, "0 ≤ value < 1")
	case !in(c.MaxErrorRateIncrease, 0, 1):
		return bad("MaxErrorRateIncrease", c.MaxErrorRateIncrease, "0 ≤ value < 1")
	case !in(c.Level, 0.5, 1):
		return bad("Level", c.Level, "0.5 ≤ level < 1")
	}
	return nil
}

func (c Criteria) tolerance(m Metric) float64 {
	switch m {
	case TTFT:
		return c.MaxTTFTIncrease
	case Total:
		return c.MaxLatencyIncrease
	case Throughput:
		return c.MaxThroughputDrop
	}
	return c.MaxErrorRateIncrease
}

// Summary describes one variant's values of a metric. Undefined numbers
// (the interval of fewer than two values) are NaN.
type Summary struct {
	N            int
	Mean, Median float64
	// Lo and Hi bound the confidence interval of the mean (of the rate for
	// the error rate).
	Lo, Hi float64
}

// Result compares one metric.
type Result struct {
	Metric         Metric
	HigherIsBetter bool
	Baseline       Summary
	Candidate      Summary
	// Diff is candidate − baseline mean with its Welch interval (for the
	// error rate the difference of the rates, no interval).
	Diff stats.Interval
	// Improvement is the candidate's gain: (baseline − candidate)/baseline
	// for the latencies, (candidate − baseline)/baseline for throughput,
	// baseline − candidate (absolute) for the error rate. Positive is
	// better. NaN when the baseline mean is 0.
	Improvement float64
	// Tolerance is the tolerated regression, as in Criteria.
	Tolerance float64
	// Test names the statistic: "mannwhitney", "welch" or "fisher".
	Test string
	// P is the two-sided p-value (NaN when no test could run).
	P           float64
	Significant bool
	Verdict     Verdict
	// Note says why, in words.
	Note string
}

// Report is the outcome of an A/B test.
type Report struct {
	Results        []Result // in the order of Metrics
	Recommendation Recommendation
	Reason         string
	Criteria       Criteria
}

// Result returns the result of metric m.
func (r *Report) Result(m Metric) (Result, bool) {
	for _, x := range r.Results {
		if x.Metric == m {
			return x, true
		}
	}
	return Result{}, false
}

// Values holds one variant's per-request metrics.
type Values struct {
	TTFT, Total, Throughput []float64
	// Errors of Requests sent.
	Errors, Requests int
}

// Analyze compares the candidate's values with the baseline's under c.
func Analyze(baseline, candidate Values, c Criteria) (*Report, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	for name, v := range map[string]Values{"baseline": baseline, "candidate": candidate} {
		if v.Errors < 0 || v.Requests < v.Errors {
			return nil, fmt.Errorf("%w: %s has %d errors of %d requests", ErrBadWorkload, name, v.Errors, v.Requests)
		}
	}
	rep := &Report{Criteria: c}
	pick := func(v Values, m Metric) []float64 {
		switch m {
		case TTFT:
			return v.TTFT
		case Total:
			return v.Total
		}
		return v.Throughput
	}
	for _, m := range Metrics {
		var r Result
		var err error
		if m == ErrorRate {
			r, err = compareRates(baseline, candidate, c)
		} else {
			r, err = compareSamples(m, pick(baseline, m), pick(candidate, m), c)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m, err)
		}
		rep.Results = append(rep.Results, r)
	}
	rep.Recommendation, rep.Reason = recommend(rep.Results)
	return rep, nil
}

func summarize(x []float64, level float64) (Summary, error) {
	s := Summary{N: len(x), Mean: math.NaN(), Median: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
	if len(x) == 0 {
		return s, nil
	}
	var err error
	if s.Mean, err = stats.Mean(x); err != nil {
		return s, err
	}
	if s.Median, err = stats.Median(x); err != nil {
		return s, err
	}
	if len(x) >= 2 {
		ci, err := stats.MeanCI(x, level)
		if err != nil {
			return s, err
		}
		s.Lo, s.Hi = ci.Lo, ci.Hi
	}
	return s, nil
}

// compareSamples judges a sampled metric.
func compareSamples(m Metric, b, cd []float64, c Criteria) (Result, error) {
	r := Result{Metric: m, HigherIsBetter: m.higherIsBetter(), Tolerance: c.tolerance(m), P: math.NaN(), Improvement: math.NaN(),
		Diff: stats.Interval{Estimate: math.NaN(), Lo: math.NaN(), Hi: math.NaN(), Level: c.Level}}
	var err error
	if r.Baseline, err = summarize(b, c.Level); err != nil {
		return r, fmt.Errorf("baseline: %w", err)
	}
	if r.Candidate, err = summarize(cd, c.Level); err != nil {
		return r, fmt.Errorf("candidate: %w", err)
	}
	if len(b) > 0 && len(cd) > 0 {
		r.Diff.Estimate = r.Candidate.Mean - r.Baseline.Mean
		if r.Baseline.Mean != 0 {
			r.Improvement = r.Diff.Estimate / r.Baseline.Mean
			if !r.HigherIsBetter {
				r.Improvement = 0 - r.Improvement // never −0
			}
		}
	}
	if len(b) < c.MinSamples || len(cd) < c.MinSamples {
		r.Verdict = Insufficient
		r.Note = fmt.Sprintf("%d baseline and %d candidate values, need %d each", len(b), len(cd), c.MinSamples)
		return r, nil
	}
	// better > 0 when the test sees the candidate better, < 0 worse.
	var better float64
	w, werr := stats.Welch(cd, b)
	switch {
	case werr == nil:
		if ci, err := w.CI(c.Level); err == nil {
			r.Diff = ci
		}
	case errors.Is(werr, stats.ErrZeroVariance):
		// Both constant: equal (nothing to tell) or different (certain).
		r.Diff.Lo, r.Diff.Hi = r.Diff.Estimate, r.Diff.Estimate
	default:
		return r, werr
	}
	if m.higherIsBetter() {
		r.Test = "welch"
		if werr == nil {
			r.P, better = w.P, w.Diff
		}
	} else {
		r.Test = "mannwhitney"
		u, err := stats.MannWhitney(cd, b)
		switch {
		case err == nil:
			// U > nA·nB/2: the candidate tends to the larger values, worse
			// for a latency.
			r.P, better = u.P, float64(u.NA*u.NB)/2-u.U
		case errors.Is(err, stats.ErrZeroVariance): // every value equal
		default:
			return r, err
		}
	}
	if werr != nil && r.Diff.Estimate != 0 && math.IsNaN(r.P) {
		// Two constant samples that differ: the difference is certain.
		r.P, better = 0, r.Diff.Estimate
		if !m.higherIsBetter() {
			better = -better
		}
	}
	if math.IsNaN(r.P) {
		r.P = 1
	}
	r.Significant = r.P < c.Alpha
	r.Verdict, r.Note = classify(r, better, c)
	return r, nil
}

// classify applies the decision rule to one metric whose test ran.
// better is the sign of the candidate's advantage the test saw.
func classify(r Result, better float64, c Criteria) (Verdict, string) {
	imp := r.Improvement
	if math.IsNaN(imp) {
		imp = 0
	}
	switch {
	case !r.Significant:
		return NoDifference, fmt.Sprintf("p = %.3g ≥ α = %g", r.P, c.Alpha)
	case better > 0 && imp >= c.MinImprovement:
		return Improved, fmt.Sprintf("better by %s, p = %.3g", fmtGain(r.Metric, imp), r.P)
	case better > 0:
		return NoDifference, fmt.Sprintf("significantly better but only by %s (< %s)", fmtGain(r.Metric, imp), fmtGain(r.Metric, c.MinImprovement))
	case -imp > r.Tolerance:
		return Regressed, fmt.Sprintf("worse by %s, beyond the tolerated %s, p = %.3g", fmtGain(r.Metric, -imp), fmtGain(r.Metric, r.Tolerance), r.P)
	default:
		return WorseWithinTolerance, fmt.Sprintf("worse by %s, within the tolerated %s, p = %.3g", fmtGain(r.Metric, -imp), fmtGain(r.Metric, r.Tolerance), r.P)
	}
}

func fmtGain(m Metric, x float64) string {
	if m == ErrorRate {
		return fmt.Sprintf("%.2f points", 100*x)
	}
	return fmt.Sprintf("%.1f %%", 100*x)
}

// compareRates judges the error rate with Fisher's exact test.
func compareRates(b, cd Values, c Criteria) (Result, error) {
	r := Result{Metric: ErrorRate, Tolerance: c.MaxErrorRateIncrease, Test: "fisher", P: math.NaN(), Improvement: math.NaN(),
		Diff: stats.Interval{Estimate: math.NaN(), Lo: math.NaN(), Hi: math.NaN(), Level: c.Level}}
	r.Baseline = rateSummary(b.Errors, b.Requests, c.Level)
	r.Candidate = rateSummary(cd.Errors, cd.Requests, c.Level)
	if b.Requests > 0 && cd.Requests > 0 {
		r.Diff.Estimate = r.Candidate.Mean - r.Baseline.Mean
		r.Improvement = 0 - r.Diff.Estimate // never −0
	}
	if b.Requests < c.MinSamples || cd.Requests < c.MinSamples {
		r.Verdict = Insufficient
		r.Note = fmt.Sprintf("%d baseline and %d candidate requests, need %d each", b.Requests, cd.Requests, c.MinSamples)
		return r, nil
	}
	f, err := stats.FisherExact(int64(cd.Errors), int64(cd.Requests), int64(b.Errors), int64(b.Requests))
	if err != nil {
		return r, err
	}
	r.P = f.P
	r.Significant = r.P < c.Alpha
	r.Verdict, r.Note = classify(r, r.Improvement, c)
	return r, nil
}

// rateSummary is the error rate x/n with Wilson's score interval.
func rateSummary(x, n int, level float64) Summary {
	s := Summary{N: n, Mean: math.NaN(), Median: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
	if n == 0 {
		return s
	}
	p := float64(x) / float64(n)
	s.Mean = p
	z := normalQuantile((1 + level) / 2)
	fn := float64(n)
	den := 1 + z*z/fn
	mid := (p + z*z/(2*fn)) / den
	half := z / den * math.Sqrt(p*(1-p)/fn+z*z/(4*fn*fn))
	s.Lo, s.Hi = max(0, mid-half), min(1, mid+half)
	return s
}

// normalQuantile inverts stats.NormalCDF by bisection (to 1e-12; it runs a
// few times per report).
func normalQuantile(p float64) float64 {
	lo, hi := -40.0, 40.0
	for hi-lo > 1e-12 {
		mid := (lo + hi) / 2
		if stats.NormalCDF(mid) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// recommend applies the recommendation rule of the package documentation.
func recommend(rs []Result) (Recommendation, string) {
	var improved, insufficient []string
	for _, r := range rs {
		switch {
		case r.Verdict == Regressed:
			return Reject, fmt.Sprintf("%s regressed: %s", r.Metric, r.Note)
		case r.Verdict == Insufficient && r.Metric.primary():
			insufficient = append(insufficient, string(r.Metric))
		case r.Verdict == Improved && r.Metric.primary():
			improved = append(improved, string(r.Metric))
		}
	}
	switch {
	case len(insufficient) > 0:
		return Inconclusive, fmt.Sprintf("too few samples for %v", insufficient)
	case len(improved) > 0:
		return Deploy, fmt.Sprintf("significant improvement of %v and no regression beyond tolerance", improved)
	}
	return Inconclusive, "no primary metric improved significantly"
}
