package rollout

import (
	"context"
	"testing"

	"github.com/krserve/krserve/controller/judge"
)

// canaryOnly runs one analysis interval in which only the canary serves,
// as at a 100 % stage: n requests, errs of them failed.
func (e *env) canaryOnly(t *testing.T, n, errs int64) State {
	t.Helper()
	e.clk.Advance(interval / 2)
	e.traffic(t, "canary", int(n), 1)
	if errs > 0 {
		if err := e.win.ObserveRequests("canary", errs, errs); err != nil {
			t.Fatal(err)
		}
	}
	e.clk.Advance(interval / 2)
	st, err := e.m.Tick(context.Background(), e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestFullStageJudgesAgainstEarlierBaseline(t *testing.T) {
	tests := []struct {
		name   string
		errs   int64
		streak int
		want   Phase
	}{
		{"healthy canary promoted", 0, 1, Promoted},
		{"failing canary rolled back", 40, 1, RolledBack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Streak = tt.streak
			e := newEnv(t, cfg)
			sp := spec()
			sp.Stages = []float64{50, 100}
			if _, err := e.m.Start(context.Background(), e.clk.Now(), sp); err != nil {
				t.Fatal(err)
			}
			if st := e.interval(t, 200, 1); st.Phase != Progressing || st.Weight != 100 {
				t.Fatalf("after the 50 %% stage: %s at %v %%", st.Phase, st.Weight)
			}
			// The baseline serves nothing now; its last interval is the
			// reference, and a slower canary is not failed on latency.
			st := e.canaryOnly(t, 200, tt.errs)
			if st.Phase != tt.want {
				t.Fatalf("%s (%s), want %s", st.Phase, st.Reason, tt.want)
			}
			v := st.LastVerdict
			if v == nil || len(v.Results) != 1 || v.Results[0].Metric != string(judge.ErrorRate) {
				t.Fatalf("verdict at 100 %%: %+v, want the error rate alone", v)
			}
			if r := v.Results[0]; r.NBaseline != 200 || r.NCanary != int(200+tt.errs) {
				t.Fatalf("error rate judged on %d baseline and %d canary requests, want 200 and %d", r.NBaseline, r.NCanary, 200+tt.errs)
			}
		})
	}
}

func TestStageCriteriaKeepsMetricsWithoutErrorRate(t *testing.T) {
	c := judge.DefaultCriteria()
	c.Metrics = []judge.Metric{judge.Throughput, judge.TTFT}
	got := stageCriteria(State{Weight: 100}, c)
	if len(got.Metrics) != 2 {
		t.Fatalf("metrics %v, want %v", got.Metrics, c.Metrics)
	}
	if got := stageCriteria(State{Weight: 50}, judge.DefaultCriteria()); len(got.Metrics) != 4 {
		t.Fatalf("50 %% stage metrics %v, want all four", got.Metrics)
	}
}
