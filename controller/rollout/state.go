package rollout

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/krserve/krserve/controller/control"
	"github.com/krserve/krserve/controller/judge"
)

var (
	// ErrBadSpec means a rollout Spec is invalid (the message names the
	// field); fix the request.
	ErrBadSpec = errors.New("rollout: invalid spec")
	// ErrBadConfig means a Machine Config is invalid.
	ErrBadConfig = errors.New("rollout: invalid config")
	// ErrActive means a rollout is already progressing or paused; abort or
	// promote it before starting another.
	ErrActive = errors.New("rollout: a rollout is already active")
	// ErrNotActive means the command needs a progressing or paused rollout
	// and there is none.
	ErrNotActive = errors.New("rollout: no active rollout")
	// ErrBadTransition means the command does not apply in the current
	// phase (pausing a paused rollout, resuming a progressing one).
	ErrBadTransition = errors.New("rollout: command does not apply in this phase")
	// ErrConflict means the stored state kept changing under a
	// revision-checked update (another controller or command); retry.
	ErrConflict = errors.New("rollout: concurrent state update")
	// ErrCorruptState means the stored rollout state does not decode; an
	// operator must repair or delete the "rollout" key.
	ErrCorruptState = errors.New("rollout: stored state does not decode")
)

// Phase is the rollout's place in the state machine.
type Phase string

// Phases. Aborted rollouts are RolledBack with RollbackReason "abort".
const (
	Idle        Phase = "idle"
	Progressing Phase = "progressing"
	Paused      Phase = "paused"
	Promoted    Phase = "promoted"
	RolledBack  Phase = "rolled_back"
)

// Phases lists every phase, in state-machine order.
var Phases = []Phase{Idle, Progressing, Paused, Promoted, RolledBack}

// Active reports whether the phase is progressing or paused.
func (p Phase) Active() bool { return p == Progressing || p == Paused }

// Rollback reasons, the reason label of krserve_rollout_rollbacks_total.
const (
	ReasonJudge      = "judge"      // N consecutive failing analysis intervals
	ReasonAbort      = "abort"      // an operator aborted
	ReasonRegression = "regression" // the regression detector found a CRITICAL regression
)

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("30s"), so stored state stays readable.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration: want a string like \"30s\": %w", err)
	}
	*d = Duration(n)
	return nil
}

// DefaultStages are the canary traffic stages of the design, in percent.
func DefaultStages() []float64 { return []float64{10, 25, 50, 100} }

// Spec is what an operator asks for.
type Spec struct {
	// Canary and Baseline are the variant names.
	Canary   string `json:"canary"`
	Baseline string `json:"baseline"`
	// Stages are the canary's traffic percentages, strictly increasing,
	// each in (0, 100].
	Stages []float64 `json:"stages"`
	// Interval is the analysis interval: every Interval the canary's data
	// since the previous analysis is judged against the baseline's.
	Interval Duration `json:"interval"`
	// IntervalsPerStage is how many analysis intervals a stage lasts at
	// least; the stage advances at the first passing interval after that.
	IntervalsPerStage int `json:"intervals_per_stage"`
	// Gates makes the rollout wait for a manual promote between stages.
	Gates bool `json:"gates"`
	// Flags are the canary's flag overrides (its configuration).
	Flags control.VariantFlags `json:"flags"`
}

// Validate checks the spec.
func (s Spec) Validate() error {
	switch {
	case !validVariant(s.Canary):
		return fmt.Errorf("%w: canary variant %q: use lower-case letters, digits, - and _", ErrBadSpec, s.Canary)
	case !validVariant(s.Baseline):
		return fmt.Errorf("%w: baseline variant %q: use lower-case letters, digits, - and _", ErrBadSpec, s.Baseline)
	case s.Canary == s.Baseline:
		return fmt.Errorf("%w: canary and baseline are both %q", ErrBadSpec, s.Canary)
	case len(s.Stages) == 0 || len(s.Stages) > 100:
		return fmt.Errorf("%w: %d stages, want 1 to 100", ErrBadSpec, len(s.Stages))
	case s.Interval <= 0:
		return fmt.Errorf("%w: interval %v must be positive", ErrBadSpec, time.Duration(s.Interval))
	case s.IntervalsPerStage < 1:
		return fmt.Errorf("%w: intervals_per_stage %d must be at least 1", ErrBadSpec, s.IntervalsPerStage)
	}
	for i, p := range s.Stages {
		if math.IsNaN(p) || p <= 0 || p > 100 {
			return fmt.Errorf("%w: stage %d is %v %%, want (0, 100]", ErrBadSpec, i+1, p)
		}
		if i > 0 && p <= s.Stages[i-1] {
			return fmt.Errorf("%w: stages %v are not strictly increasing", ErrBadSpec, s.Stages)
		}
	}
	if err := (control.FlagOverrides{s.Canary: s.Flags}).Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSpec, err)
	}
	return nil
}

func validVariant(v string) bool {
	if v == "" || len(v) > 64 {
		return false
	}
	return !strings.ContainsFunc(v, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_')
	})
}

// State is the stored rollout, the value of the "rollout" key.
type State struct {
	ID    string `json:"id,omitempty"`
	Phase Phase  `json:"phase"`
	Spec  Spec   `json:"spec"`
	// Stage indexes Spec.Stages; Weight is the canary's current percent
	// (0 once the rollout ended).
	Stage  int     `json:"stage"`
	Weight float64 `json:"weight"`
	// AwaitingGate: the stage passed and the rollout waits for promote.
	AwaitingGate bool `json:"awaiting_gate,omitempty"`

	StartedAt      time.Time `json:"started_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	StageStartedAt time.Time `json:"stage_started_at"`
	// LastAnalysisAt is when the last interval ended (or the rollout
	// started or resumed); the next analysis judges data after it.
	LastAnalysisAt time.Time `json:"last_analysis_at"`

	// Intervals counts analyses; StageIntervals those in this stage.
	Intervals      int `json:"intervals"`
	StageIntervals int `json:"stage_intervals"`
	// Failures is the current run of failing intervals (the streak);
	// Inconclusive the current run of inconclusive ones, and
	// InconclusiveTotal all of them.
	Failures          int `json:"failures"`
	Inconclusive      int `json:"inconclusive"`
	InconclusiveTotal int `json:"inconclusive_total"`

	// Reason says why the rollout is where it is; RollbackReason is one of
	// the Reason* constants once rolled back.
	Reason         string `json:"reason,omitempty"`
	RollbackReason string `json:"rollback_reason,omitempty"`

	LastVerdict *Verdict     `json:"last_verdict,omitempty"`
	History     []Transition `json:"history,omitempty"`

	// Applied reports that the weights and flag overrides of the current
	// phase and stage were written. A controller that finds it false (it
	// crashed between the two writes) applies them again.
	Applied bool `json:"applied"`
	// ProfilePending asks the regression detector to store a baseline
	// profile of the promoted configuration.
	ProfilePending bool `json:"profile_pending,omitempty"`

	// Revision is the KV revision the state was read at; not stored.
	Revision uint64 `json:"-"`
}

// Transition is one entry of the rollout's history.
type Transition struct {
	At     time.Time `json:"at"`
	From   Phase     `json:"from"`
	To     Phase     `json:"to"`
	Stage  int       `json:"stage"`
	Weight float64   `json:"weight"`
	Reason string    `json:"reason,omitempty"`
}

// Verdict is the stored form of a judge.Verdict (JSON has no NaN: absent
// numbers are null).
type Verdict struct {
	At       time.Time `json:"at"`
	Judge    string    `json:"judge"`
	Decision string    `json:"decision"`
	Results  []Result  `json:"results"`
	Reason   string    `json:"reason,omitempty"`
}

// Result is the stored form of a judge.Result.
type Result struct {
	Metric    string   `json:"metric"`
	Decision  string   `json:"decision"`
	Baseline  *float64 `json:"baseline"`
	Canary    *float64 `json:"canary"`
	Effect    *float64 `json:"effect"`
	Threshold float64  `json:"threshold"`
	P         *float64 `json:"p"`
	NBaseline int      `json:"n_baseline"`
	NCanary   int      `json:"n_canary"`
	Test      string   `json:"test"`
	Reason    string   `json:"reason"`
}

func num(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func storeVerdict(v judge.Verdict, at time.Time) *Verdict {
	out := &Verdict{At: at, Judge: v.Judge, Decision: v.Decision.String(), Reason: v.Reason}
	for _, r := range v.Results {
		out.Results = append(out.Results, Result{
			Metric: string(r.Metric), Decision: r.Decision.String(),
			Baseline: num(r.Baseline), Canary: num(r.Canary), Effect: num(r.Effect),
			Threshold: r.Threshold, P: num(r.P), NBaseline: r.NBaseline, NCanary: r.NCanary,
			Test: r.Test, Reason: r.Reason,
		})
	}
	return out
}

// clone deep-copies the parts of s that transitions modify.
func (s State) clone() State {
	s.History = slices.Clone(s.History)
	s.Spec.Stages = slices.Clone(s.Spec.Stages)
	s.Spec.Flags = s.Spec.Flags.Clone()
	if s.LastVerdict != nil {
		v := *s.LastVerdict
		v.Results = slices.Clone(v.Results)
		s.LastVerdict = &v
	}
	return s
}

// desiredWeights are the weights the state calls for.
func (s State) desiredWeights() control.Weights {
	w := control.Weights{Baseline: s.Spec.Baseline, Canary: map[string]float64{}}
	if s.Phase.Active() {
		w.Canary[s.Spec.Canary] = s.Spec.Stages[s.Stage]
	}
	return w
}
