package main

import (
	"fmt"

	"github.com/krserve/krserve/controller/abtest"
	"github.com/krserve/krserve/internal/plot"
)

// The --plot charts of abtest and the benches.

// abtestFigure charts an A/B test: latency and throughput means with their
// 95 % intervals, mean TTFT per turn, and the TTFT distributions.
func abtestFigure(rep *abtest.Report, obs *abtest.Observations, bv, cv abtest.Values) plot.Figure {
	var charts []plot.Chart
	side := func(name string, ms []abtest.Metric, pick func(abtest.Result) abtest.Summary) (plot.BarSeries, bool) {
		s := plot.BarSeries{Name: name}
		bars := true
		for _, m := range ms {
			r, _ := rep.Result(m)
			sum := pick(r)
			if isNaN(sum.Mean) {
				return s, false
			}
			s.Values = append(s.Values, sum.Mean)
			s.Lo, s.Hi = append(s.Lo, sum.Lo), append(s.Hi, sum.Hi)
			bars = bars && !isNaN(sum.Lo)
		}
		if !bars {
			s.Lo, s.Hi = nil, nil
		}
		return s, true
	}
	base := func(r abtest.Result) abtest.Summary { return r.Baseline }
	cand := func(r abtest.Result) abtest.Summary { return r.Candidate }
	for _, g := range []struct {
		title, ylabel string
		cats          []string
		ms            []abtest.Metric
	}{
		{"latency: mean, 95 % CI", "ms", []string{"time to first token", "total"}, []abtest.Metric{abtest.TTFT, abtest.Total}},
		{"decode throughput: mean, 95 % CI", "tokens/s", []string{"per request"}, []abtest.Metric{abtest.Throughput}},
	} {
		b, okB := side("baseline", g.ms, base)
		c, okC := side("candidate", g.ms, cand)
		if okB && okC {
			charts = append(charts, plot.Bars{Title: g.title, YLabel: g.ylabel, Categories: g.cats, Series: []plot.BarSeries{b, c}})
		}
	}
	turns := obs.ByTurn()
	lines := plot.Lines{Title: "mean time to first token by turn", XLabel: "turn", YLabel: "ms"}
	for _, v := range []struct {
		name string
		pick func(abtest.TurnStat) abtest.TurnSide
	}{{"baseline", func(t abtest.TurnStat) abtest.TurnSide { return t.Baseline }}, {"candidate", func(t abtest.TurnStat) abtest.TurnSide { return t.Candidate }}} {
		s := plot.LineSeries{Name: v.name}
		for _, t := range turns {
			if ts := v.pick(t); ts.N > 0 {
				s.X = append(s.X, float64(t.Turn))
				s.Y = append(s.Y, ts.TTFTMs)
			}
		}
		if len(s.X) > 0 {
			lines.Series = append(lines.Series, s)
		}
	}
	for _, t := range turns {
		lines.XTicks = append(lines.XTicks, float64(t.Turn))
	}
	if len(lines.Series) > 0 {
		charts = append(charts, lines)
	}
	if len(bv.TTFT) > 0 && len(cv.TTFT) > 0 {
		charts = append(charts, plot.Boxes{Title: "time to first token distribution", YLabel: "ms",
			Groups: []plot.BoxGroup{{Name: "baseline", Values: bv.TTFT}, {Name: "candidate", Values: cv.TTFT}}})
	}
	return plot.Figure{Charts: charts}
}

// kvFigure charts `bench kv`: time to first token per turn with and
// without the KV pool.
func kvFigure(res *kvBench) plot.Figure {
	b := plot.Bars{Title: "time to first token per chat turn (median)", YLabel: "ms"}
	pool := plot.BarSeries{Name: "KV pool"}
	none := plot.BarSeries{Name: "no pool"}
	for _, t := range res.Turns {
		b.Categories = append(b.Categories, fmt.Sprintf("turn %d (%d tokens)", t.Turn, t.PromptTokens))
		pool.Values = append(pool.Values, t.TTFTMsPool)
		none.Values = append(none.Values, t.TTFTMsNoPool)
	}
	b.Series = []plot.BarSeries{none, pool}
	return plot.Figure{Charts: []plot.Chart{b}, Width: 900, Height: 500}
}

// concurrencyFigure charts `bench concurrency`: aggregate decode tokens/s
// against the number of streams, with sequential serving as a reference.
func concurrencyFigure(res *concurrencyBench) plot.Figure {
	l := plot.Lines{Title: "aggregate decode throughput", XLabel: "concurrent streams", YLabel: "tokens/s"}
	batched := plot.LineSeries{Name: "continuous batching"}
	for _, s := range res.Streams {
		batched.X = append(batched.X, float64(s.N))
		batched.Y = append(batched.Y, s.TokensPerS)
		l.XTicks = append(l.XTicks, float64(s.N))
	}
	l.Series = append(l.Series, batched)
	if len(batched.X) > 0 {
		lo, hi := batched.X[0], batched.X[0]
		for _, x := range batched.X {
			lo, hi = min(lo, x), max(hi, x)
		}
		l.Series = append(l.Series, plot.LineSeries{Name: "sequential", X: []float64{lo, hi}, Y: []float64{res.SequentialTokensPerS, res.SequentialTokensPerS}})
	}
	return plot.Figure{Charts: []plot.Chart{l}, Width: 800, Height: 500}
}

// e2eFigure charts `bench e2e`: time to first token p50 and p99 through
// the NATS pipeline and in-process.
func e2eFigure(res *e2eBench) plot.Figure {
	return plot.Figure{Charts: []plot.Chart{plot.Bars{Title: "time to first token", YLabel: "ms", Categories: []string{"p50", "p99"},
		Series: []plot.BarSeries{
			{Name: "NATS pipeline", Values: []float64{res.TTFTMs.Pipeline.P50, res.TTFTMs.Pipeline.P99}},
			{Name: "in-process", Values: []float64{res.TTFTMs.InProcess.P50, res.TTFTMs.InProcess.P99}},
		}}}, Width: 700, Height: 500}
}
