package stats

import (
	"fmt"
	"math"
)

// StudentT is Student's t distribution with DF degrees of freedom. DF may be
// fractional (Welch–Satterthwaite) and must be > 0; +Inf is the standard
// normal distribution.
type StudentT struct {
	DF float64
}

func (d StudentT) check() error {
	if math.IsNaN(d.DF) || d.DF <= 0 {
		return fmt.Errorf("%w: t distribution with df=%g", ErrDomain, d.DF)
	}
	return nil
}

// tail returns P(T > |t|), computed as ½·I_{df/(df+t²)}(df/2, ½) with both
// arguments of the beta function formed without cancellation.
func (d StudentT) tail(t float64) (float64, error) {
	if err := d.check(); err != nil {
		return math.NaN(), err
	}
	if math.IsNaN(t) {
		return math.NaN(), fmt.Errorf("%w: t=NaN", ErrDomain)
	}
	t = math.Abs(t)
	if math.IsInf(d.DF, 1) {
		return normalSF(t), nil
	}
	if math.IsInf(t, 1) {
		return 0, nil
	}
	if t == 0 {
		return 0.5, nil
	}
	t2 := t * t
	var x, y float64
	if math.IsInf(t2, 1) {
		// t² overflows: x = df/(df+t²) underflows relative to y = 1.
		x, y = math.Exp(math.Log(d.DF)-2*math.Log(t)), 1
	} else {
		x = d.DF / (d.DF + t2)
		y = t2 / (d.DF + t2)
	}
	ib, err := regIncBeta(d.DF/2, 0.5, x, y)
	if err != nil {
		return math.NaN(), err
	}
	return 0.5 * ib, nil
}

// CDF returns P(T ≤ t).
func (d StudentT) CDF(t float64) (float64, error) {
	p, err := d.tail(t)
	if err != nil {
		return math.NaN(), err
	}
	if t > 0 {
		return 1 - p, nil
	}
	return p, nil
}

// SF returns P(T > t), the survival function, without the cancellation of
// 1 − CDF(t) in the upper tail.
func (d StudentT) SF(t float64) (float64, error) {
	p, err := d.tail(t)
	if err != nil {
		return math.NaN(), err
	}
	if t < 0 {
		return 1 - p, nil
	}
	return p, nil
}

// PDF returns the density at t.
func (d StudentT) PDF(t float64) (float64, error) {
	if err := d.check(); err != nil {
		return math.NaN(), err
	}
	if math.IsInf(d.DF, 1) {
		return math.Exp(-t*t/2) / math.Sqrt(2*math.Pi), nil
	}
	v := d.DF
	// log f = −log(√v·B(v/2, ½)) − (v+1)/2 · log(1 + t²/v)
	return math.Exp(-0.5*math.Log(v) - lnBeta(v/2, 0.5) - (v+1)/2*math.Log1p(t*t/v)), nil
}

// Quantile returns the t with P(T ≤ t) = p, for 0 < p < 1 (p = 0 and 1 give
// ∓Inf). It runs Newton's method on the lower tail, where the CDF is convex,
// from the normal quantile, which lies between the root and zero; the
// iteration therefore converges monotonically.
func (d StudentT) Quantile(p float64) (float64, error) {
	if err := d.check(); err != nil {
		return math.NaN(), err
	}
	if math.IsNaN(p) || p < 0 || p > 1 {
		return math.NaN(), fmt.Errorf("%w: quantile of p=%g", ErrDomain, p)
	}
	switch {
	case p == 0:
		return math.Inf(-1), nil
	case p == 1:
		return math.Inf(1), nil
	case p == 0.5:
		return 0, nil
	}
	q, sign := p, 1.0
	if p > 0.5 {
		q, sign = 1-p, -1
	}
	// Normal quantile of q: −√2·erfc⁻¹(2q).
	t := -math.Sqrt2 * math.Erfcinv(2*q)
	if math.IsInf(d.DF, 1) {
		return sign * t, nil
	}
	for range 2000 {
		f, err := d.tail(t)
		if err != nil {
			return math.NaN(), err
		}
		fp, err := d.PDF(t)
		if err != nil {
			return math.NaN(), err
		}
		step := (f - q) / fp
		next := t - step
		if !(next < t) || math.IsInf(next, -1) {
			// No further progress: t is the root to working precision.
			break
		}
		t = next
		if math.Abs(step) <= 1e-15*math.Abs(t) {
			break
		}
	}
	return sign * t, nil
}
