package rollout

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/krserve/krserve/controller/alert"
	"github.com/krserve/krserve/controller/judge"
)

// analyze judges the interval that ends at t.now and moves the rollout.
func (m *Machine) analyze(t *txn) {
	st := t.st
	b := m.src.SnapshotSince(st.Spec.Baseline, baselineSince(*st))
	c := m.src.SnapshotSince(st.Spec.Canary, st.LastAnalysisAt)
	v := m.judge.Judge(b, c, stageCriteria(*st, m.cfg.Criteria))
	v.Judge = m.cfg.Judge
	t.verdict = &v
	t.changed = true
	st.LastAnalysisAt = t.now
	st.Intervals++
	st.StageIntervals++
	st.LastVerdict = storeVerdict(v, t.now)

	streak, _ := judge.NewStreak(m.cfg.Streak)
	for range st.Failures {
		streak.Observe(judge.Fail)
	}
	rollback := streak.Observe(v.Decision)
	st.Failures = streak.Failures()

	switch v.Decision {
	case judge.Fail:
		st.Inconclusive = 0
		if rollback {
			m.rollback(t, ReasonJudge, fmt.Sprintf("%d consecutive failing intervals: %s", st.Failures, failing(v)))
		}
	case judge.Pass:
		st.Inconclusive = 0
		if st.StageIntervals < st.Spec.IntervalsPerStage || st.AwaitingGate {
			return
		}
		if st.Spec.Gates && st.Stage < len(st.Spec.Stages)-1 {
			st.AwaitingGate = true
			t.alerts = append(t.alerts, alert.Alert{Time: t.now, Severity: alert.Info, Kind: alert.KindStage, Variant: st.Spec.Canary,
				Message: fmt.Sprintf("stage %d (%v %%) passed; waiting for promote", st.Stage+1, st.Weight)})
			return
		}
		m.advance(t, fmt.Sprintf("stage %d (%v %%) passed", st.Stage+1, st.Weight))
	default:
		st.Inconclusive++
		st.InconclusiveTotal++
		m.m.inconclusive(st.Inconclusive)
		if st.Inconclusive%m.cfg.InconclusiveAlert == 0 {
			m.m.inconclusiveAlert()
			t.alerts = append(t.alerts, alert.Alert{Time: t.now, Severity: alert.Warning, Kind: alert.KindInconclusive, Variant: st.Spec.Canary,
				Message: fmt.Sprintf("%d analysis intervals in a row inconclusive: %s", st.Inconclusive, inconclusive(v))})
		}
	}
}

// baselineSince is where the baseline's data for an analysis begins: the
// interval being judged, except at a 100 % stage, where the baseline serves
// nothing and its last interval with traffic, the one before the stage
// began (before the rollout, for a rollout whose only stage is 100 %), is
// the reference. Once that data leaves the window the analysis is
// inconclusive.
func baselineSince(st State) time.Time {
	if st.Weight >= 100 {
		return st.StageStartedAt.Add(-time.Duration(st.Spec.Interval))
	}
	return st.LastAnalysisAt
}

// stageCriteria are the criteria of the current stage. At 100 % the
// reference is the baseline's data from an earlier interval, under other
// load and on a machine whose speed drifts; latency and throughput are not
// comparable across time (the same reference reused by every interval of
// the stage would also make consecutive verdicts correlated), so only the
// error rate is judged. Criteria without the error rate keep all their
// metrics.
func stageCriteria(st State, c judge.Criteria) judge.Criteria {
	if st.Weight < 100 || !slices.Contains(c.Metrics, judge.ErrorRate) {
		return c
	}
	c.Metrics = []judge.Metric{judge.ErrorRate}
	return c
}

// advance moves to the next stage, or promotes from the last one.
func (m *Machine) advance(t *txn, reason string) {
	st := t.st
	if st.Stage >= len(st.Spec.Stages)-1 {
		m.promote(t, reason+"; all stages passed")
		return
	}
	st.Stage++
	st.Weight = st.Spec.Stages[st.Stage]
	st.StageIntervals = 0
	st.StageStartedAt = t.now
	st.AwaitingGate = false
	t.changed = true
	t.transition(st.Phase, fmt.Sprintf("%s; stage %d at %v %%", reason, st.Stage+1, st.Weight), m.cfg.HistoryLen)
	t.alerts = append(t.alerts, alert.Alert{Time: t.now, Severity: alert.Info, Kind: alert.KindStage, Variant: st.Spec.Canary,
		Message: fmt.Sprintf("canary %s at %v %% (stage %d of %d)", st.Spec.Canary, st.Weight, st.Stage+1, len(st.Spec.Stages))})
}

func (m *Machine) promote(t *txn, reason string) {
	st := t.st
	st.Weight = 0
	st.AwaitingGate = false
	st.ProfilePending = true
	t.transition(Promoted, reason, m.cfg.HistoryLen)
	t.alerts = append(t.alerts, alert.Alert{Time: t.now, Severity: alert.Info, Kind: alert.KindPromoted, Variant: st.Spec.Canary,
		Message: fmt.Sprintf("canary %s promoted: its configuration now runs on %s (%s)", st.Spec.Canary, st.Spec.Baseline, reason)})
}

func (m *Machine) rollback(t *txn, reason, detail string) {
	st := t.st
	st.Weight = 0
	st.AwaitingGate = false
	st.RollbackReason = reason
	t.rollback = reason
	t.transition(RolledBack, reason+": "+detail, m.cfg.HistoryLen)
	sev := alert.Critical
	if reason == ReasonAbort {
		sev = alert.Warning
	}
	t.alerts = append(t.alerts, alert.Alert{Time: t.now, Severity: sev, Kind: alert.KindRollback, Variant: st.Spec.Canary,
		Message: fmt.Sprintf("canary %s rolled back (%s): %s; traffic back to %s", st.Spec.Canary, reason, detail, st.Spec.Baseline)})
}

func failing(v judge.Verdict) string {
	var parts []string
	for _, r := range v.Results {
		if r.Decision == judge.Fail {
			parts = append(parts, fmt.Sprintf("%s %s", r.Metric, r.Reason))
		}
	}
	return strings.Join(parts, "; ")
}

func inconclusive(v judge.Verdict) string {
	if v.Reason != "" {
		return v.Reason
	}
	var parts []string
	for _, r := range v.Results {
		if r.Decision == judge.Inconclusive {
			parts = append(parts, fmt.Sprintf("%s %s", r.Metric, r.Reason))
		}
	}
	return strings.Join(parts, "; ")
}
