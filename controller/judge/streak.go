package judge

import "fmt"

// Streak turns per-interval verdicts into a rollback decision: it rolls back
// only after N consecutive failing intervals, so that one noisy interval
// does not flap a rollout.
//
// A Pass resets the count. An Inconclusive is ignored — it neither counts as
// a failure nor resets the count — because it carries no evidence either
// way: a gap in the data (a worker restarting, a quiet minute) must not
// erase the failures seen before it, nor be mistaken for one ("no data" is
// not a failure). Rollouts that must not wait forever on inconclusive
// intervals bound that separately (the rollout's own timeout).
//
// A Streak is not safe for concurrent use; its owner is the one rollout
// loop that judges the intervals.
type Streak struct {
	need  int
	fails int
}

// NewStreak returns a streak that rolls back after n consecutive failures
// (n ≥ 1; ErrBadStreak otherwise).
func NewStreak(n int) (*Streak, error) {
	if n < 1 {
		return nil, fmt.Errorf("%w: %d, need at least 1", ErrBadStreak, n)
	}
	return &Streak{need: n}, nil
}

// Observe records one interval's decision and reports whether the streak
// of failures has reached N (it stays reached while failures continue).
func (s *Streak) Observe(d Decision) (rollback bool) {
	switch d {
	case Fail:
		s.fails++
	case Pass:
		s.fails = 0
	}
	return s.fails >= s.need
}

// Failures returns the current run of consecutive failures.
func (s *Streak) Failures() int { return s.fails }

// Reset clears the count (after a rollback or a new rollout stage).
func (s *Streak) Reset() { s.fails = 0 }
