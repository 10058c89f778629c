package judge

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/krserve/krserve/controller/window"
)

var (
	// ErrUnknownJudge means New was given a name no judge registered;
	// pick one of Names().
	ErrUnknownJudge = errors.New("judge: unknown judge")
	// ErrBadCriteria means a Criteria field is out of range; fix the
	// configuration (the message names the field).
	ErrBadCriteria = errors.New("judge: invalid criteria")
	// ErrBadStreak means a streak length below 1.
	ErrBadStreak = errors.New("judge: invalid streak length")
)

// Decision is the outcome for one metric or a whole verdict. The zero value
// is Inconclusive, so a forgotten decision never reads as a pass.
type Decision int

const (
	// Inconclusive: too little data, or an effect beyond the threshold that
	// is not statistically significant. Neither promote nor roll back.
	Inconclusive Decision = iota
	// Pass: the canary is not worse than the baseline beyond the threshold.
	Pass
	// Fail: the canary is worse beyond the threshold, significantly.
	Fail
)

func (d Decision) String() string {
	switch d {
	case Inconclusive:
		return "inconclusive"
	case Pass:
		return "pass"
	case Fail:
		return "fail"
	}
	return fmt.Sprintf("Decision(%d)", int(d))
}

// Metric names a judged metric.
type Metric string

const (
	// Throughput: tokens/s per request; worse is lower.
	Throughput Metric = "throughput"
	// TTFT: time to first token; worse is higher.
	TTFT Metric = "ttft"
	// ITL: inter-token latency; worse is higher.
	ITL Metric = "itl"
	// ErrorRate: failed/finished requests; worse is higher.
	ErrorRate Metric = "error_rate"
)

// Criteria are the thresholds a canary is judged against.
type Criteria struct {
	// MaxThroughputDrop is the largest tolerated relative drop of the
	// canary's throughput centre below the baseline's (0.05 = 5 %).
	MaxThroughputDrop float64
	// MaxTTFTIncrease and MaxITLIncrease are the largest tolerated
	// relative increases of the latency centres (0.10 = 10 %).
	MaxTTFTIncrease float64
	MaxITLIncrease  float64
	// MaxErrorRateIncrease is the largest tolerated increase of the
	// canary's error rate over the baseline's, in absolute terms
	// (0.01 = one percentage point).
	MaxErrorRateIncrease float64
	// MinSamples is the fewest samples per variant a sampled metric needs
	// before it is judged; MinRequests the fewest finished requests per
	// variant for the error rate.
	MinSamples  int
	MinRequests int64
	// Alpha is the significance level of each one-sided test.
	Alpha float64
	// Metrics lists the metrics judged; the verdict combines only these.
	Metrics []Metric
}

// DefaultCriteria are the rollout criteria of the design: throughput drop
// > 5 %, TTFT (and inter-token latency) increase > 10 %, error rate more than
// 1 point above the baseline, at α = 0.05 with 30 samples and 100 requests
// per variant at least.
func DefaultCriteria() Criteria {
	return Criteria{
		MaxThroughputDrop:    0.05,
		MaxTTFTIncrease:      0.10,
		MaxITLIncrease:       0.10,
		MaxErrorRateIncrease: 0.01,
		MinSamples:           30,
		MinRequests:          100,
		Alpha:                0.05,
		Metrics:              []Metric{Throughput, TTFT, ITL, ErrorRate},
	}
}

// Validate reports the first field out of range, wrapping ErrBadCriteria.
func (c Criteria) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
		max  float64 // exclusive
	}{
		{"MaxThroughputDrop", c.MaxThroughputDrop, 1},
		{"MaxTTFTIncrease", c.MaxTTFTIncrease, math.Inf(1)},
		{"MaxITLIncrease", c.MaxITLIncrease, math.Inf(1)},
		{"MaxErrorRateIncrease", c.MaxErrorRateIncrease, 1},
	} {
		if math.IsNaN(f.v) || f.v < 0 || f.v >= f.max {
			return fmt.Errorf("%w: %s = %g, need 0 ≤ value < %g", ErrBadCriteria, f.name, f.v, f.max)
		}
	}
	switch {
	case c.MinSamples < 2:
		return fmt.Errorf("%w: MinSamples = %d, need at least 2", ErrBadCriteria, c.MinSamples)
	case c.MinRequests < 1:
		return fmt.Errorf("%w: MinRequests = %d, need at least 1", ErrBadCriteria, c.MinRequests)
	case math.IsNaN(c.Alpha) || c.Alpha <= 0 || c.Alpha >= 0.5:
		return fmt.Errorf("%w: Alpha = %g, need 0 < α < 0.5", ErrBadCriteria, c.Alpha)
	case len(c.Metrics) == 0:
		return fmt.Errorf("%w: no metrics to judge", ErrBadCriteria)
	}
	for i, m := range c.Metrics {
		switch m {
		case Throughput, TTFT, ITL, ErrorRate:
		default:
			return fmt.Errorf("%w: unknown metric %q", ErrBadCriteria, m)
		}
		if slices.Contains(c.Metrics[:i], m) {
			return fmt.Errorf("%w: metric %q listed twice", ErrBadCriteria, m)
		}
	}
	return nil
}

// Result is the judgement of one metric.
type Result struct {
	Metric Metric
	// Baseline and Canary are the compared centres: means or medians
	// (see Test), or the error rates.
	Baseline, Canary float64
	// Effect is the canary's change: relative, (canary − baseline)/baseline,
	// for the sampled metrics; the absolute difference of the rates for
	// ErrorRate. NaN when it could not be formed.
	Effect float64
	// Threshold is the tolerated change in the bad direction, as in
	// Criteria (positive).
	Threshold float64
	// P is the one-sided p-value of the test in the bad direction; NaN when
	// no test ran (too few samples, effect within the threshold).
	P float64
	// N is the smaller of NBaseline and NCanary, the sample (or request)
	// counts.
	N, NBaseline, NCanary int
	// Test names the statistic: "welch", "mannwhitney", "ztest", "fisher".
	Test     string
	Decision Decision
	// Reason says in words why.
	Reason string
}

// Verdict is the judgement of a canary window against a baseline window.
type Verdict struct {
	Judge   string
	Results []Result
	// Decision is Fail if any metric failed, else Inconclusive if any was
	// inconclusive, else Pass.
	Decision Decision
	// Reason is set when the verdict could not be formed at all (invalid
	// criteria).
	Reason string
}

// Judge compares a canary's window with the baseline's.
type Judge interface {
	Judge(baseline, canary window.Snapshot, c Criteria) Verdict
}

// Factory makes a judge.
type Factory func() Judge

var (
	regMu    sync.RWMutex
	registry = map[string]Factory{}
)

// Register makes a judge available to New under name. It panics on an empty
// name, a nil factory or a name registered twice: registration happens in
// init functions, where these are programming errors.
func Register(name string, f Factory) {
	if name == "" || f == nil {
		panic("judge: Register with empty name or nil factory")
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("judge: Register called twice for " + name)
	}
	registry[name] = f
}

// New returns a new judge of the named kind.
func New(name string) (Judge, error) {
	regMu.RLock()
	f, ok := registry[name]
	regMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q (have %v)", ErrUnknownJudge, name, Names())
	}
	return f(), nil
}

// Names lists the registered judges, sorted.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// combine sets the overall decision from the results.
func combine(v *Verdict) {
	v.Decision = Pass
	for _, r := range v.Results {
		switch r.Decision {
		case Fail:
			v.Decision = Fail
			return
		case Inconclusive:
			v.Decision = Inconclusive
		}
	}
}
