package stats

import (
	"fmt"
	"math"
)

// TTest is the result of Welch's two-sample t-test of sample A against
// sample B (R's t.test(a, b), scipy's ttest_ind(a, b, equal_var=False)).
type TTest struct {
	// T is (mean A − mean B) / SE with SE = √(varA/nA + varB/nB).
	T float64
	// DF are the Welch–Satterthwaite degrees of freedom
	// (varA/nA + varB/nB)² / ((varA/nA)²/(nA−1) + (varB/nB)²/(nB−1)),
	// fractional in general and never more than nA + nB − 2.
	DF float64
	// P is the two-sided p-value P(|T| ≥ |t|).
	P float64
	// PLess is the one-sided p-value for the alternative mean A < mean B,
	// P(T ≤ t); PGreater is the one for mean A > mean B, P(T ≥ t).
	PLess, PGreater float64

	MeanA, MeanB float64
	// Diff is mean A − mean B, computed so that a common large offset of
	// the samples does not cost digits (it can be more exact than
	// MeanA − MeanB).
	Diff       float64
	VarA, VarB float64 // unbiased sample variances
	NA, NB     int
	SE         float64 // standard error of the difference of means
}

// Welch runs Welch's unequal-variance t-test. Each sample needs at least two
// values (ErrTooFewSamples); if both samples are constant the statistic is
// undefined (ErrZeroVariance). One constant sample is fine.
func Welch(a, b []float64) (TTest, error) {
	if len(a) < 2 || len(b) < 2 {
		return TTest{}, fmt.Errorf("%w: Welch t-test needs 2 values per sample, have %d and %d", ErrTooFewSamples, len(a), len(b))
	}
	if err := checkFinite(a); err != nil {
		return TTest{}, fmt.Errorf("sample A: %w", err)
	}
	if err := checkFinite(b); err != nil {
		return TTest{}, fmt.Errorf("sample B: %w", err)
	}
	r := TTest{NA: len(a), NB: len(b)}
	ma, ra := meanParts(a)
	mb, rb := meanParts(b)
	r.MeanA, r.MeanB = ma+ra, mb+rb
	r.Diff = (ma - mb) + (ra - rb)
	r.VarA = variance(a, ma, ra)
	r.VarB = variance(b, mb, rb)
	na, nb := float64(r.NA), float64(r.NB)
	qa, qb := r.VarA/na, r.VarB/nb
	if qa+qb <= 0 {
		return TTest{}, fmt.Errorf("%w: both samples are constant", ErrZeroVariance)
	}
	r.SE = math.Sqrt(qa + qb)
	r.T = r.Diff / r.SE
	r.DF = (qa + qb) * (qa + qb) / (qa*qa/(na-1) + qb*qb/(nb-1))
	d := StudentT{DF: r.DF}
	tail, err := d.tail(r.T)
	if err != nil {
		return TTest{}, err
	}
	r.P = math.Min(1, 2*tail)
	if r.T < 0 {
		r.PLess, r.PGreater = tail, 1-tail
	} else {
		r.PLess, r.PGreater = 1-tail, tail
	}
	return r, nil
}

// Interval is a two-sided confidence interval [Lo, Hi] around Estimate at
// confidence Level (0.95 for a 95 % interval).
type Interval struct {
	Estimate float64
	Lo, Hi   float64
	Level    float64
}

func checkLevel(level float64) error {
	if math.IsNaN(level) || level <= 0 || level >= 1 {
		return fmt.Errorf("%w: confidence level %g outside (0, 1)", ErrDomain, level)
	}
	return nil
}

// CI returns the Welch confidence interval of mean A − mean B:
// estimate ± t_{(1+level)/2, df}·SE, as R's t.test reports it.
func (r TTest) CI(level float64) (Interval, error) {
	if err := checkLevel(level); err != nil {
		return Interval{}, err
	}
	q, err := StudentT{DF: r.DF}.Quantile((1 + level) / 2)
	if err != nil {
		return Interval{}, err
	}
	est := r.Diff
	return Interval{Estimate: est, Lo: est - q*r.SE, Hi: est + q*r.SE, Level: level}, nil
}

// DiffCI returns the Welch confidence interval of mean(a) − mean(b) at the
// given level. Its errors are those of Welch and ErrDomain for the level.
func DiffCI(a, b []float64, level float64) (Interval, error) {
	if err := checkLevel(level); err != nil {
		return Interval{}, err
	}
	r, err := Welch(a, b)
	if err != nil {
		return Interval{}, err
	}
	return r.CI(level)
}

// MeanCI returns the t-based confidence interval of the mean of x:
// mean ± t_{(1+level)/2, n−1}·s/√n. It needs at least two values. A constant
// sample gives the degenerate interval [mean, mean].
func MeanCI(x []float64, level float64) (Interval, error) {
	if err := checkLevel(level); err != nil {
		return Interval{}, err
	}
	if len(x) < 2 {
		return Interval{}, fmt.Errorf("%w: confidence interval needs 2 values, have %d", ErrTooFewSamples, len(x))
	}
	if err := checkFinite(x); err != nil {
		return Interval{}, err
	}
	m, rm := meanParts(x)
	se := math.Sqrt(variance(x, m, rm) / float64(len(x)))
	q, err := StudentT{DF: float64(len(x) - 1)}.Quantile((1 + level) / 2)
	if err != nil {
		return Interval{}, err
	}
	return Interval{Estimate: m + rm, Lo: m + (rm - q*se), Hi: m + (rm + q*se), Level: level}, nil
}
