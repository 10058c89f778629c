package stats

import "errors"

var (
	// ErrTooFewSamples means a sample is smaller than the test needs (two
	// values for a variance or a t-test, one for a mean or a rank test).
	// Collect more data; a caller judging a rollout treats it as
	// "inconclusive", never as a pass or a failure.
	ErrTooFewSamples = errors.New("stats: too few samples")

	// ErrZeroVariance means the statistic is undefined because every value
	// is the same (both samples constant for a t-test, every value tied for
	// a rank test, no successes or no failures at all for a proportion
	// test). Compare the values directly instead: the samples do not vary.
	ErrZeroVariance = errors.New("stats: zero variance")

	// ErrNonFinite means an input value is NaN or ±Inf. Drop or repair the
	// value before testing; the package never silently skips one.
	ErrNonFinite = errors.New("stats: non-finite value")

	// ErrDomain means an argument is outside the range the function is
	// defined on (a probability outside [0, 1], degrees of freedom ≤ 0, a
	// count larger than its total, a confidence level outside (0, 1)). It is
	// a programming error of the caller: fix the argument.
	ErrDomain = errors.New("stats: argument out of domain")

	// ErrNoConvergence means an iterative approximation did not reach full
	// precision. It does not happen for finite arguments in the documented
	// domain; report it as a bug with the arguments.
	ErrNoConvergence = errors.New("stats: no convergence")
)
