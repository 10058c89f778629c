package stats

import (
	"fmt"
	"math"
)

// lnSqrt2Pi is log(sqrt(2π)).
const lnSqrt2Pi = 0.91893853320467274178032973640562

// stirlingCorr returns lnΓ(x) − ((x−½)·ln x − x + ln√(2π)), the remainder of
// Stirling's formula, for x ≥ 10. The series is truncated after the x⁻¹³
// term; the first omitted term is below 3·10⁻¹⁷ there.
func stirlingCorr(x float64) float64 {
	// Coefficients B₂ₖ / (2k(2k−1)).
	const (
		c1 = 1.0 / 12
		c2 = -1.0 / 360
		c3 = 1.0 / 1260
		c4 = -1.0 / 1680
		c5 = 1.0 / 1188
		c6 = -691.0 / 360360
		c7 = 1.0 / 156
	)
	r := 1 / x
	r2 := r * r
	return r * (c1 + r2*(c2+r2*(c3+r2*(c4+r2*(c5+r2*(c6+r2*c7))))))
}

// lnBeta returns log B(a, b) for a, b > 0, accurate to a few ulps even when
// a or b is large, where the difference of log-gamma values would cancel.
// The splitting follows R's lbeta: Stirling remainders for large arguments,
// Γ directly for small ones.
func lnBeta(a, b float64) float64 {
	p, q := a, b
	if p > q {
		p, q = q, p
	}
	switch {
	case p >= 10:
		corr := stirlingCorr(p) + stirlingCorr(q) - stirlingCorr(p+q)
		return -0.5*math.Log(q) + lnSqrt2Pi + corr + (p-0.5)*math.Log(p/(p+q)) + q*math.Log1p(-p/(p+q))
	case q >= 10:
		corr := stirlingCorr(q) - stirlingCorr(p+q)
		lg, _ := math.Lgamma(p)
		return lg + corr + p - p*math.Log(p+q) + (q-0.5)*math.Log1p(-p/(p+q))
	default:
		return math.Log(math.Gamma(p) * (math.Gamma(q) / math.Gamma(p+q)))
	}
}

// RegIncBeta returns the regularized incomplete beta function
// I_x(a, b) = B(x; a, b) / B(a, b) for a, b > 0 and 0 ≤ x ≤ 1.
//
// It evaluates the continued fraction of Numerical Recipes (§6.4, modified
// Lentz) on whichever of I_x(a, b) and 1 − I_{1−x}(b, a) converges fast, with
// an accurate log B(a, b). The relative error is below 10⁻¹² for moderate
// parameters (checked against 50-digit values in the tests); with one
// parameter above ~10⁴ and x near the switch point between the two
// expansions it grows to ~10⁻¹¹.
func RegIncBeta(a, b, x float64) (float64, error) {
	if math.IsNaN(a) || math.IsNaN(b) || math.IsNaN(x) || a <= 0 || b <= 0 || math.IsInf(a, 0) || math.IsInf(b, 0) || x < 0 || x > 1 {
		return math.NaN(), fmt.Errorf("%w: RegIncBeta(a=%g, b=%g, x=%g)", ErrDomain, a, b, x)
	}
	return regIncBeta(a, b, x, 1-x)
}

// regIncBeta is RegIncBeta with y = 1 − x supplied by the caller, who can
// often compute it without the cancellation of 1 − x.
func regIncBeta(a, b, x, y float64) (float64, error) {
	if x <= 0 {
		return 0, nil
	}
	if y <= 0 {
		return 1, nil
	}
	// Front factor x^a·y^b / B(a, b), computed in logs. The logarithm of
	// the larger of x and y comes from the smaller through log1p: with a
	// large exponent, log(x) of an x near 1 would lose a·ε·… in the exponent.
	var lnx, lny float64
	if x <= y {
		lnx, lny = math.Log(x), math.Log1p(-x)
	} else {
		lnx, lny = math.Log1p(-y), math.Log(y)
	}
	lnFront := a*lnx + b*lny - lnBeta(a, b)
	if x < (a+1)/(a+b+2) {
		cf, err := betaCF(a, b, x, y)
		if err != nil {
			return math.NaN(), err
		}
		return math.Exp(lnFront) * cf / a, nil
	}
	cf, err := betaCF(b, a, y, x)
	if err != nil {
		return math.NaN(), err
	}
	return 1 - math.Exp(lnFront)*cf/b, nil
}

// betaCF evaluates the continued fraction for the incomplete beta function
// by the modified Lentz method (Numerical Recipes betacf). It converges
// quickly for x < (a+1)/(a+b+2): in O(√max(a, b)) iterations. y is 1 − x,
// used for the first denominator 1 − (a+b)x/(a+1) = (1 − b + (a+b)y)/(a+1),
// which cancels badly as written when x is near 1 and a is large.
func betaCF(a, b, x, y float64) (float64, error) {
	const (
		maxIter = 200000
		eps     = 3e-16
		tiny    = 1e-300
	)
	qab := a + b
	qap := a + 1
	qam := a - 1
	c := 1.0
	// 1 − (a+b)x/(a+1), written with whichever of x and y keeps its digits.
	d := 1 - qab*x/qap
	if x > 0.5 {
		d = (1 - b + qab*y) / qap
	}
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= maxIter; m++ {
		fm := float64(m)
		m2 := 2 * fm
		// Even step.
		aa := fm * (b - fm) * x / ((qam + m2) * (a + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		h *= d * c
		// Odd step.
		aa = -(a + fm) * (qab + fm) * x / ((a + m2) * (qap + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) <= eps {
			return h, nil
		}
	}
	return math.NaN(), fmt.Errorf("%w: incomplete beta continued fraction (a=%g, b=%g, x=%g)", ErrNoConvergence, a, b, x)
}

// normalSF returns P(Z > z) for a standard normal Z, accurate in both tails.
func normalSF(z float64) float64 {
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

// NormalCDF returns P(Z ≤ z) for a standard normal Z.
func NormalCDF(z float64) float64 {
	return 0.5 * math.Erfc(-z/math.Sqrt2)
}

// NormalSF returns P(Z > z) for a standard normal Z (the survival function,
// 1 − NormalCDF(z) without its cancellation in the upper tail).
func NormalSF(z float64) float64 { return normalSF(z) }
