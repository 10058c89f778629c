package abtest

import (
	"encoding/json"
	"math"
)

// JSON forms of the results: undefined numbers (NaN) become null, since
// JSON has no NaN. Field names are the stable output of `krserve abtest
// --json`.

// num is x, or nil when x is not finite.
func num(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

type summaryJSON struct {
	N      int      `json:"n"`
	Mean   *float64 `json:"mean"`
	Median *float64 `json:"median"`
	CILow  *float64 `json:"ci_low"`
	CIHigh *float64 `json:"ci_high"`
}

// MarshalJSON implements json.Marshaler.
func (s Summary) MarshalJSON() ([]byte, error) {
	return json.Marshal(summaryJSON{N: s.N, Mean: num(s.Mean), Median: num(s.Median), CILow: num(s.Lo), CIHigh: num(s.Hi)})
}

type resultJSON struct {
	HigherIsBetter bool     `json:"higher_is_better"`
	Baseline       Summary  `json:"baseline"`
	Candidate      Summary  `json:"candidate"`
	Diff           *float64 `json:"diff"`
	DiffLow        *float64 `json:"diff_ci_low"`
	DiffHigh       *float64 `json:"diff_ci_high"`
	ImprovementPct *float64 `json:"improvement_pct"`
	TolerancePct   float64  `json:"tolerance_pct"`
	Test           string   `json:"test"`
	P              *float64 `json:"p"`
	Significant    bool     `json:"significant"`
	Verdict        Verdict  `json:"verdict"`
	Note           string   `json:"note"`
}

// MarshalJSON implements json.Marshaler. Improvement and tolerance are in
// percent (percentage points for the error rate).
func (r Result) MarshalJSON() ([]byte, error) {
	return json.Marshal(resultJSON{HigherIsBetter: r.HigherIsBetter, Baseline: r.Baseline, Candidate: r.Candidate,
		Diff: num(r.Diff.Estimate), DiffLow: num(r.Diff.Lo), DiffHigh: num(r.Diff.Hi),
		ImprovementPct: num(100 * r.Improvement), TolerancePct: 100 * r.Tolerance,
		Test: r.Test, P: num(r.P), Significant: r.Significant, Verdict: r.Verdict, Note: r.Note})
}

type turnSideJSON struct {
	N            int      `json:"n"`
	TTFTMs       *float64 `json:"ttft_ms"`
	PromptTokens *float64 `json:"prompt_tokens"`
	CachedTokens *float64 `json:"cached_tokens"`
}

// MarshalJSON implements json.Marshaler; a side with no served request
// has null means.
func (s TurnSide) MarshalJSON() ([]byte, error) {
	j := turnSideJSON{N: s.N}
	if s.N > 0 {
		j.TTFTMs, j.PromptTokens, j.CachedTokens = num(s.TTFTMs), num(s.PromptTokens), num(s.CachedTokens)
	}
	return json.Marshal(j)
}

type turnJSON struct {
	Turn      int      `json:"turn"`
	Baseline  TurnSide `json:"baseline"`
	Candidate TurnSide `json:"candidate"`
}

// MarshalJSON implements json.Marshaler.
func (t TurnStat) MarshalJSON() ([]byte, error) {
	return json.Marshal(turnJSON(t))
}

// MetricsJSON returns the results keyed by metric name, for a JSON object.
func (r *Report) MetricsJSON() map[Metric]Result {
	out := make(map[Metric]Result, len(r.Results))
	for _, x := range r.Results {
		out[x.Metric] = x
	}
	return out
}
