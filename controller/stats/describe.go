package stats

import (
	"fmt"
	"math"
	"slices"
)

// checkFinite returns ErrNonFinite naming the first NaN or ±Inf in x.
func checkFinite(x []float64) error {
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: element %d is %g", ErrNonFinite, i, v)
		}
	}
	return nil
}

// mean is the arithmetic mean of a non-empty finite x, with one correction
// pass so that large offsets do not cost precision.
func mean(x []float64) float64 {
	m, r := meanParts(x)
	return m + r
}

// meanParts returns the mean of x as m + r, where m is the plain mean and r
// the correction from a second pass, kept apart: when the values share a
// large offset (10⁹ + noise), m + r rounds to the offset's ulp while
// differences of means and deviations from the mean keep the digits of r.
func meanParts(x []float64) (m, r float64) {
	n := float64(len(x))
	var s float64
	for _, v := range x {
		s += v
	}
	m = s / n
	var c float64
	for _, v := range x {
		c += v - m
	}
	return m, c / n
}

// variance is the unbiased sample variance of finite x with len(x) ≥ 2,
// by the corrected two-pass algorithm around the mean m + r.
func variance(x []float64, m, r float64) float64 {
	var ss, c float64
	for _, v := range x {
		d := (v - m) - r
		ss += d * d
		c += d
	}
	n := float64(len(x))
	return (ss - c*c/n) / (n - 1)
}

// Mean returns the arithmetic mean of x. It needs at least one value.
func Mean(x []float64) (float64, error) {
	if len(x) == 0 {
		return math.NaN(), fmt.Errorf("%w: mean of an empty sample", ErrTooFewSamples)
	}
	if err := checkFinite(x); err != nil {
		return math.NaN(), err
	}
	return mean(x), nil
}

// Variance returns the unbiased sample variance of x (divisor n − 1, numpy's
// var(ddof=1), R's var). It needs at least two values.
func Variance(x []float64) (float64, error) {
	if len(x) < 2 {
		return math.NaN(), fmt.Errorf("%w: variance needs 2 values, have %d", ErrTooFewSamples, len(x))
	}
	if err := checkFinite(x); err != nil {
		return math.NaN(), err
	}
	m, r := meanParts(x)
	return variance(x, m, r), nil
}

// StdDev returns the square root of Variance(x).
func StdDev(x []float64) (float64, error) {
	v, err := Variance(x)
	if err != nil {
		return math.NaN(), err
	}
	return math.Sqrt(v), nil
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of x by linear interpolation
// between order statistics: with the values sorted ascending as x₀ … xₙ₋₁
// and h = (n−1)·q, the result is x⌊h⌋ + (h − ⌊h⌋)·(x⌊h⌋₊₁ − x⌊h⌋). This is
// numpy's default method ("linear") and R's type 7. x is not modified.
func Quantile(x []float64, q float64) (float64, error) {
	if len(x) == 0 {
		return math.NaN(), fmt.Errorf("%w: quantile of an empty sample", ErrTooFewSamples)
	}
	if math.IsNaN(q) || q < 0 || q > 1 {
		return math.NaN(), fmt.Errorf("%w: quantile q=%g outside [0, 1]", ErrDomain, q)
	}
	if err := checkFinite(x); err != nil {
		return math.NaN(), err
	}
	s := slices.Clone(x)
	slices.Sort(s)
	return quantileSorted(s, q), nil
}

// Quantiles returns Quantile(x, q) for every q in qs, sorting x once.
func Quantiles(x []float64, qs ...float64) ([]float64, error) {
	if len(x) == 0 {
		return nil, fmt.Errorf("%w: quantile of an empty sample", ErrTooFewSamples)
	}
	for _, q := range qs {
		if math.IsNaN(q) || q < 0 || q > 1 {
			return nil, fmt.Errorf("%w: quantile q=%g outside [0, 1]", ErrDomain, q)
		}
	}
	if err := checkFinite(x); err != nil {
		return nil, err
	}
	s := slices.Clone(x)
	slices.Sort(s)
	out := make([]float64, len(qs))
	for i, q := range qs {
		out[i] = quantileSorted(s, q)
	}
	return out, nil
}

// Median returns Quantile(x, 0.5).
func Median(x []float64) (float64, error) { return Quantile(x, 0.5) }

// quantileSorted is the linear quantile of ascending s (len ≥ 1). The
// interpolation is written as numpy's _lerp, which is exact at both ends.
func quantileSorted(s []float64, q float64) float64 {
	h := float64(len(s)-1) * q
	lo := math.Floor(h)
	i := int(lo)
	if i >= len(s)-1 {
		return s[len(s)-1]
	}
	g := h - lo
	a, b := s[i], s[i+1]
	d := b - a
	if g >= 0.5 {
		return b - d*(1-g)
	}
	return a + d*g
}
