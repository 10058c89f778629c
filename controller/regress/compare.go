package regress

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/krserve/krserve/controller/stats"
	"github.com/krserve/krserve/controller/window"
)

// Severity of a finding. The zero value is None.
type Severity string

// Severities, in increasing order.
const (
	None     Severity = ""
	Warning  Severity = "warning"
	Critical Severity = "critical"
)

func (s Severity) rank() int {
	switch s {
	case Warning:
		return 1
	case Critical:
		return 2
	}
	return 0
}

// Config configures the detector.
type Config struct {
	// Relative thresholds (0.05 = 5 %) and, for the error rate, absolute
	// (0.01 = one point).
	MaxThroughputDrop    float64
	MaxTTFTIncrease      float64
	MaxITLIncrease       float64
	MaxP99Increase       float64
	MaxErrorRateIncrease float64
	// WarnFraction: a significant change beyond this fraction of a
	// threshold is a warning.
	WarnFraction float64
	// Alpha is the level of each one-sided test.
	Alpha float64
	// MinSamples per side for the centre tests, MinP99Samples for the
	// tail, MinRequests for the error rate.
	MinSamples    int
	MinP99Samples int
	MinRequests   int64
	// Points bounds the quantile points a profile stores per metric.
	Points int
	// Every is how often Tick checks.
	Every time.Duration
	// CriticalStreak consecutive CRITICAL checks roll back; 0 turns the
	// automatic rollback off (alerts only).
	CriticalStreak int
}

// DefaultConfig: throughput −5 %, TTFT and ITL +10 %, p99 +15 %, error
// rate +1 point at α = 0.05; a check every 30 s; rollback after 2 CRITICAL
// checks in a row.
func DefaultConfig() Config {
	return Config{MaxThroughputDrop: 0.05, MaxTTFTIncrease: 0.10, MaxITLIncrease: 0.10, MaxP99Increase: 0.15, MaxErrorRateIncrease: 0.01,
		WarnFraction: 0.5, Alpha: 0.05, MinSamples: 30, MinP99Samples: 100, MinRequests: 100, Points: 256,
		Every: 30 * time.Second, CriticalStreak: 2}
}

// Validate checks the config.
func (c Config) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"MaxThroughputDrop", c.MaxThroughputDrop}, {"MaxTTFTIncrease", c.MaxTTFTIncrease}, {"MaxITLIncrease", c.MaxITLIncrease},
		{"MaxP99Increase", c.MaxP99Increase}, {"MaxErrorRateIncrease", c.MaxErrorRateIncrease}} {
		if math.IsNaN(f.v) || f.v <= 0 || f.v >= 10 {
			return fmt.Errorf("%w: %s = %v, want (0, 10)", ErrBadConfig, f.name, f.v)
		}
	}
	switch {
	case math.IsNaN(c.WarnFraction) || c.WarnFraction <= 0 || c.WarnFraction > 1:
		return fmt.Errorf("%w: WarnFraction %v, want (0, 1]", ErrBadConfig, c.WarnFraction)
	case math.IsNaN(c.Alpha) || c.Alpha <= 0 || c.Alpha >= 0.5:
		return fmt.Errorf("%w: Alpha %v, want (0, 0.5)", ErrBadConfig, c.Alpha)
	case c.MinSamples < 2 || c.MinP99Samples < 2 || c.MinRequests < 1:
		return fmt.Errorf("%w: MinSamples %d, MinP99Samples %d must be ≥ 2 and MinRequests %d ≥ 1", ErrBadConfig, c.MinSamples, c.MinP99Samples, c.MinRequests)
	case c.Points < 2:
		return fmt.Errorf("%w: Points %d, want ≥ 2", ErrBadConfig, c.Points)
	case c.Every <= 0:
		return fmt.Errorf("%w: Every %v must be positive", ErrBadConfig, c.Every)
	case c.CriticalStreak < 0:
		return fmt.Errorf("%w: CriticalStreak %d must not be negative", ErrBadConfig, c.CriticalStreak)
	}
	return nil
}

// Num is a float that writes NaN as JSON null.
type Num float64

// MarshalJSON writes null for NaN and infinities.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}

// Finding is the comparison of one metric.
type Finding struct {
	Metric    string   `json:"metric"` // throughput, ttft, itl, ttft_p99, itl_p99, error_rate
	Severity  Severity `json:"severity"`
	Judged    bool     `json:"judged"` // false: too few samples
	Value     Num      `json:"value"`  // live
	Reference Num      `json:"reference"`
	Effect    Num      `json:"effect"` // relative; absolute for error_rate
	Threshold float64  `json:"threshold"`
	P         Num      `json:"p"`
	N         int      `json:"n"` // live samples (requests for error_rate)
	Reason    string   `json:"reason"`
}

// Report is one check of one variant.
type Report struct {
	Variant  string    `json:"variant"`
	At       time.Time `json:"at"`
	Severity Severity  `json:"severity"` // the worst finding
	Findings []Finding `json:"findings"`
}

// Compare checks a live window against a profile.
func Compare(p Profile, live window.Snapshot, cfg Config, now time.Time) Report {
	r := Report{Variant: p.Variant, At: now}
	add := func(f Finding) {
		r.Findings = append(r.Findings, f)
		if f.Severity.rank() > r.Severity.rank() {
			r.Severity = f.Severity
		}
	}
	add(centre("throughput", p.Throughput, live.Throughput, cfg.MaxThroughputDrop, false, cfg))
	add(centre("ttft", p.TTFT, live.TTFT, cfg.MaxTTFTIncrease, true, cfg))
	add(centre("itl", p.ITL, live.ITL, cfg.MaxITLIncrease, true, cfg))
	add(tail("ttft_p99", p.TTFT, live.TTFT, cfg))
	add(tail("itl_p99", p.ITL, live.ITL, cfg))
	add(errorRate(p, live, cfg))
	return r
}

func newFinding(metric string, threshold float64, n int) Finding {
	nan := Num(math.NaN())
	return Finding{Metric: metric, Threshold: threshold, N: n, Value: nan, Reference: nan, Effect: nan, P: nan}
}

// grade sets the severity from the effect in the bad direction (bad > 0
// means worse) and the one-sided p-value.
func grade(f *Finding, bad, p float64, cfg Config) {
	f.Judged = true
	f.P = Num(p)
	sig := p < cfg.Alpha
	switch {
	case bad > f.Threshold && sig:
		f.Severity = Critical
		f.Reason = fmt.Sprintf("%s worse by %.2f%% (tolerated %.2f%%), p = %.3g", f.Metric, 100*bad, 100*f.Threshold, p)
	case bad > f.Threshold:
		f.Severity = Warning
		f.Reason = fmt.Sprintf("%s worse by %.2f%% (tolerated %.2f%%) but p = %.3g is not significant", f.Metric, 100*bad, 100*f.Threshold, p)
	case bad > cfg.WarnFraction*f.Threshold && sig:
		f.Severity = Warning
		f.Reason = fmt.Sprintf("%s worse by %.2f%%, significantly (p = %.3g), approaching the tolerated %.2f%%", f.Metric, 100*bad, p, 100*f.Threshold)
	default:
		f.Reason = fmt.Sprintf("%s change %+.2f%% within the tolerance", f.Metric, 100*bad)
	}
}

func centre(metric string, prof MetricProfile, live []float64, threshold float64, higherIsWorse bool, cfg Config) Finding {
	f := newFinding(metric, threshold, len(live))
	if len(live) < cfg.MinSamples || prof.N < cfg.MinSamples || len(prof.Points) < 2 {
		f.Reason = fmt.Sprintf("too few samples: %d live, %d in the profile, need %d", len(live), prof.N, cfg.MinSamples)
		return f
	}
	var ref, val, p float64
	if higherIsWorse {
		med, err := stats.Median(live)
		if err != nil {
			f.Reason = err.Error()
			return f
		}
		u, err := stats.MannWhitney(live, prof.Points)
		if err != nil {
			f.Reason = "test failed: " + err.Error()
			return f
		}
		ref, val, p = prof.Median, med, u.PGreater
	} else {
		t, err := stats.Welch(live, prof.Points)
		if err != nil {
			f.Reason = "test failed: " + err.Error()
			return f
		}
		ref, val, p = prof.Mean, t.MeanA, t.PLess
	}
	f.Value, f.Reference = Num(val), Num(ref)
	if !(ref > 0) {
		f.Reason = "profile centre is not positive"
		return f
	}
	eff := (val - ref) / ref
	f.Effect = Num(eff)
	bad := eff
	if !higherIsWorse {
		bad = -eff
	}
	grade(&f, bad, p, cfg)
	return f
}

func tail(metric string, prof MetricProfile, live []float64, cfg Config) Finding {
	f := newFinding(metric, cfg.MaxP99Increase, len(live))
	if len(live) < cfg.MinP99Samples || prof.N < cfg.MinP99Samples {
		f.Reason = fmt.Sprintf("too few samples for a p99: %d live, %d in the profile, need %d", len(live), prof.N, cfg.MinP99Samples)
		return f
	}
	q, err := stats.Quantile(live, 0.99)
	if err != nil || !(prof.P99 > 0) {
		f.Reason = "no p99"
		return f
	}
	above := 0
	for _, x := range live {
		if x > prof.P99 {
			above++
		}
	}
	test, err := stats.FisherExact(int64(above), int64(len(live)), int64(prof.Above99), int64(prof.N))
	if err != nil {
		f.Reason = "test failed: " + err.Error()
		return f
	}
	f.Value, f.Reference = Num(q), Num(prof.P99)
	eff := (q - prof.P99) / prof.P99
	f.Effect = Num(eff)
	grade(&f, eff, test.PGreater, cfg)
	return f
}

func errorRate(p Profile, live window.Snapshot, cfg Config) Finding {
	f := newFinding("error_rate", cfg.MaxErrorRateIncrease, int(min(live.Requests, math.MaxInt32)))
	if live.Requests < cfg.MinRequests || p.Requests < cfg.MinRequests {
		f.Reason = fmt.Sprintf("too few requests: %d live, %d in the profile, need %d", live.Requests, p.Requests, cfg.MinRequests)
		return f
	}
	lr := float64(live.Errors) / float64(live.Requests)
	pr := float64(p.Errors) / float64(p.Requests)
	f.Value, f.Reference = Num(lr), Num(pr)
	eff := lr - pr
	f.Effect = Num(eff)
	if live.Errors == 0 && p.Errors == 0 {
		grade(&f, eff, 1, cfg)
		return f
	}
	test, err := stats.FisherExact(live.Errors, live.Requests, p.Errors, p.Requests)
	if err != nil {
		f.Reason = "test failed: " + err.Error()
		return f
	}
	grade(&f, eff, test.PGreater, cfg)
	return f
}
