package stats

import (
	"fmt"
	"math"
)

// PropTest is the result of a test comparing the proportion of successes
// (for the controller: failed requests) xA/nA of group A with xB/nB of
// group B.
type PropTest struct {
	RateA, RateB float64 // xA/nA and xB/nB
	// Z is the pooled two-proportion z statistic (zero for Fisher's test).
	Z float64
	// P is the two-sided p-value; PLess the one-sided p-value for the
	// alternative "A's rate is lower than B's", PGreater for "higher".
	P, PLess, PGreater float64
}

func checkCounts(xa, na, xb, nb int64) error {
	if na <= 0 || nb <= 0 {
		return fmt.Errorf("%w: proportion test needs trials in both groups, have %d and %d", ErrTooFewSamples, na, nb)
	}
	if xa < 0 || xa > na || xb < 0 || xb > nb {
		return fmt.Errorf("%w: counts %d/%d and %d/%d", ErrDomain, xa, na, xb, nb)
	}
	return nil
}

// TwoProportionZ runs the pooled two-proportion z test (R's prop.test with
// correct=FALSE, whose X² is Z²): Z = (p̂A − p̂B) / √(p̂(1−p̂)(1/nA + 1/nB))
// with the pooled p̂ = (xA+xB)/(nA+nB), p-values from the normal
// distribution. It is accurate when every cell of the 2×2 table is
// reasonably large (≥ 5); use FisherExact otherwise. If p̂ is 0 or 1 there
// is nothing to compare: ErrZeroVariance.
func TwoProportionZ(xa, na, xb, nb int64) (PropTest, error) {
	if err := checkCounts(xa, na, xb, nb); err != nil {
		return PropTest{}, err
	}
	fa, fb := float64(na), float64(nb)
	r := PropTest{RateA: float64(xa) / fa, RateB: float64(xb) / fb}
	p := float64(xa+xb) / (fa + fb)
	se := math.Sqrt(p * (1 - p) * (1/fa + 1/fb))
	if !(se > 0) {
		return PropTest{}, fmt.Errorf("%w: pooled proportion is %g", ErrZeroVariance, p)
	}
	r.Z = (r.RateA - r.RateB) / se
	r.PGreater = normalSF(r.Z)
	r.PLess = normalSF(-r.Z)
	r.P = min(1, 2*normalSF(math.Abs(r.Z)))
	return r, nil
}

// FisherExact runs Fisher's exact test on the 2×2 table
// [[xA, nA−xA], [xB, nB−xB]], conditioning on the margins: X, the successes
// of group A, is hypergeometric. PGreater = P(X ≥ xA), PLess = P(X ≤ xA), and
// the two-sided P sums the probabilities of the tables no more likely than
// the observed one (within a relative 10⁻⁷, as scipy.stats.fisher_exact
// does). The probabilities are formed by the ratio recurrence of the
// hypergeometric distribution from its mode, so no log-gamma differences
// lose precision. Cost O(min(xA+xB, nA)).
func FisherExact(xa, na, xb, nb int64) (PropTest, error) {
	if err := checkCounts(xa, na, xb, nb); err != nil {
		return PropTest{}, err
	}
	r := PropTest{RateA: float64(xa) / float64(na), RateB: float64(xb) / float64(nb)}
	n := na + nb
	k := xa + xb
	lo := max(0, na-(n-k))
	hi := min(k, na)
	if lo == hi {
		// One possible table: the margins decide everything.
		r.P, r.PLess, r.PGreater = 1, 1, 1
		return r, nil
	}
	w := make([]float64, hi-lo+1)
	mode := min(hi, max(lo, int64((float64(na)+1)*(float64(k)+1)/(float64(n)+2))))
	w[mode-lo] = 1
	// ratio(x) = pmf(x+1)/pmf(x).
	ratio := func(x int64) float64 {
		return float64(k-x) * float64(na-x) / (float64(x+1) * float64(n-k-na+x+1))
	}
	for x := mode; x < hi; x++ {
		w[x+1-lo] = w[x-lo] * ratio(x)
		if w[x+1-lo] < 1e-300 {
			break
		}
	}
	for x := mode; x > lo; x-- {
		w[x-1-lo] = w[x-lo] / ratio(x-1)
		if w[x-1-lo] < 1e-300 {
			break
		}
	}
	var total, le, ge, two float64
	obs := w[xa-lo]
	for i, v := range w {
		x := lo + int64(i)
		total += v
		if x <= xa {
			le += v
		}
		if x >= xa {
			ge += v
		}
		if v <= obs*(1+1e-7) {
			two += v
		}
	}
	r.PLess = min(1, le/total)
	r.PGreater = min(1, ge/total)
	r.P = min(1, two/total)
	return r, nil
}
