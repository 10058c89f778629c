package stats

import (
	"fmt"
	"math"
	"slices"
)

// UMethod selects how MannWhitney computes its p-value.
type UMethod int

const (
	// MethodAuto is scipy.stats.mannwhitneyu's method="auto": the exact
	// distribution when the smaller sample has at most 8 values and no value
	// is tied, the normal approximation otherwise. (One addition: the exact
	// distribution is also skipped when nA·nB > ExactMaxProduct, where its
	// table would be large and the normal approximation is very accurate.)
	MethodAuto UMethod = iota
	// MethodExact uses the exact null distribution of U. It assumes no ties
	// and returns ErrDomain when there are some.
	MethodExact
	// MethodAsymptotic uses the normal approximation with tie correction
	// and continuity correction.
	MethodAsymptotic
)

// ExactMaxProduct bounds nA·nB for the exact distribution: its table holds
// nA·nB/2 + 1 values.
const ExactMaxProduct = 1 << 20

// exactMaxSmall is the largest smaller-sample size for which MethodAuto
// picks the exact distribution (scipy: "exact" unless both sizes exceed 8).
const exactMaxSmall = 8

func (m UMethod) String() string {
	switch m {
	case MethodAuto:
		return "auto"
	case MethodExact:
		return "exact"
	case MethodAsymptotic:
		return "asymptotic"
	}
	return fmt.Sprintf("UMethod(%d)", int(m))
}

// UTest is the result of the Mann–Whitney U test (Wilcoxon rank-sum) of
// sample A against sample B.
type UTest struct {
	// U is the statistic of sample A, U₁ = R_A − nA(nA+1)/2 with R_A the sum
	// of A's ranks in the pooled sample (ties get their average rank). It
	// counts the pairs (a, b) with a > b, ties counting ½. scipy reports the
	// same U₁; U₂ = nA·nB − U₁.
	U float64
	// P is the two-sided p-value; PLess is the one-sided p-value for the
	// alternative "A is stochastically less than B", PGreater for "A is
	// stochastically greater than B" (scipy's alternative="less" and
	// "greater").
	P, PLess, PGreater float64
	// Method is the method actually used (never MethodAuto).
	Method UMethod
	// Ties reports whether any value occurs more than once in the pooled
	// sample.
	Ties   bool
	NA, NB int
}

// MannWhitney runs the Mann–Whitney U test with MethodAuto.
func MannWhitney(a, b []float64) (UTest, error) {
	return MannWhitneyMethod(a, b, MethodAuto)
}

// MannWhitneyMethod runs the Mann–Whitney U test with the given method.
//
// The normal approximation uses mean nA·nB/2 and standard deviation
// √(nA·nB/12 · ((n+1) − Σ(t³−t)/(n(n−1)))) over the tie groups of sizes t,
// and a continuity correction of ½ toward the mean, exactly as scipy does
// (use_continuity=True). If every pooled value is equal the statistic is
// undefined: ErrZeroVariance. Each sample needs at least one value.
func MannWhitneyMethod(a, b []float64, method UMethod) (UTest, error) {
	if len(a) == 0 || len(b) == 0 {
		return UTest{}, fmt.Errorf("%w: Mann–Whitney needs 1 value per sample, have %d and %d", ErrTooFewSamples, len(a), len(b))
	}
	if err := checkFinite(a); err != nil {
		return UTest{}, fmt.Errorf("sample A: %w", err)
	}
	if err := checkFinite(b); err != nil {
		return UTest{}, fmt.Errorf("sample B: %w", err)
	}
	if method < MethodAuto || method > MethodAsymptotic {
		return UTest{}, fmt.Errorf("%w: unknown method %v", ErrDomain, method)
	}
	r := UTest{NA: len(a), NB: len(b)}
	rankSumA, tieTerm := rankSum(a, b)
	r.Ties = tieTerm > 0
	na, nb := float64(r.NA), float64(r.NB)
	r.U = rankSumA - na*(na+1)/2
	u2 := na*nb - r.U
	if method == MethodAuto {
		method = MethodAsymptotic
		if min(r.NA, r.NB) <= exactMaxSmall && !r.Ties && r.NA*r.NB <= ExactMaxProduct {
			method = MethodExact
		}
	}
	r.Method = method
	switch method {
	case MethodExact:
		if r.Ties {
			return UTest{}, fmt.Errorf("%w: the exact distribution assumes no ties", ErrDomain)
		}
		if r.NA*r.NB > ExactMaxProduct {
			return UTest{}, fmt.Errorf("%w: exact distribution for nA·nB = %d > %d", ErrDomain, r.NA*r.NB, ExactMaxProduct)
		}
		d := newUDist(r.NA, r.NB)
		r.PGreater = d.sf(int(r.U))
		r.PLess = d.sf(int(u2))
		r.P = 2 * d.sf(int(math.Max(r.U, u2)))
	case MethodAsymptotic:
		n := na + nb
		s := math.Sqrt(na * nb / 12 * ((n + 1) - tieTerm/(n*(n-1))))
		if !(s > 0) {
			return UTest{}, fmt.Errorf("%w: every value is tied", ErrZeroVariance)
		}
		mu := na * nb / 2
		sf := func(u float64) float64 { return normalSF((u - mu - 0.5) / s) }
		r.PGreater = sf(r.U)
		r.PLess = sf(u2)
		r.P = 2 * sf(math.Max(r.U, u2))
	}
	r.P = min(1, max(0, r.P))
	r.PLess = min(1, max(0, r.PLess))
	r.PGreater = min(1, max(0, r.PGreater))
	return r, nil
}

// rankSum returns the sum of the ranks of a's values in the pooled sample
// a ∪ b (average ranks for ties, ranks starting at 1) and the tie term
// Σ(t³ − t) over the groups of t equal values.
func rankSum(a, b []float64) (sumA, tieTerm float64) {
	type item struct {
		v   float64
		inA bool
	}
	all := make([]item, 0, len(a)+len(b))
	for _, v := range a {
		all = append(all, item{v, true})
	}
	for _, v := range b {
		all = append(all, item{v, false})
	}
	slices.SortFunc(all, func(x, y item) int {
		switch {
		case x.v < y.v:
			return -1
		case x.v > y.v:
			return 1
		}
		return 0
	})
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		// Positions i..j−1 share the average of ranks i+1 … j.
		rank := float64(i+j+1) / 2
		for k := i; k < j; k++ {
			if all[k].inA {
				sumA += rank
			}
		}
		if t := float64(j - i); t > 1 {
			tieTerm += t*t*t - t
		}
		i = j
	}
	return sumA, tieTerm
}

// uDist is the exact null distribution of U for sizes m, n without ties:
// counts[k] is the number of the C(m+n, m) equally likely arrangements with
// U = k, for k up to half of m·n (the distribution is symmetric about m·n/2).
type uDist struct {
	mn     int
	cum    []float64 // cum[k] = P(U ≤ k) for k ≤ len(cum)−1
	counts []float64
}

// newUDist builds the lower half of the distribution from its generating
// function, the Gaussian binomial coefficient
//
//	Σ_k counts[k]·q^k = Π_{j=1}^{s} (1 − q^{L+j}) / (1 − q^j),  s = min(m, n), L = max(m, n),
//
// truncated at degree ⌊m·n/2⌋: for each j divide by (1 − q^j) (a running sum
// with stride j, which keeps every coefficient non-negative) and then
// multiply by (1 − q^{L+j}). Cost O(s·m·n), memory O(m·n).
func newUDist(m, n int) *uDist {
	s, l := min(m, n), max(m, n)
	mn := m * n
	kmax := mn / 2
	c := make([]float64, kmax+1)
	c[0] = 1
	for j := 1; j <= s; j++ {
		for k := j; k <= kmax; k++ {
			c[k] += c[k-j]
		}
		for k := kmax; k >= l+j; k-- {
			c[k] -= c[k-l-j]
		}
	}
	// Total C(m+n, m) from the symmetric halves.
	var half float64
	for _, v := range c {
		half += v
	}
	total := 2 * half
	if mn%2 == 0 {
		total -= c[kmax]
	}
	cum := make([]float64, kmax+1)
	var run float64
	for k, v := range c {
		run += v
		cum[k] = run / total
	}
	return &uDist{mn: mn, cum: cum, counts: c}
}

// cdf returns P(U ≤ k).
func (d *uDist) cdf(k int) float64 {
	switch {
	case k < 0:
		return 0
	case k >= d.mn:
		return 1
	case k < len(d.cum):
		return d.cum[k]
	}
	// P(U ≤ k) = 1 − P(U ≥ k+1) = 1 − P(U ≤ mn−k−1) by symmetry.
	return 1 - d.cum[d.mn-k-1]
}

// sf returns P(U ≥ k) = P(U ≤ mn − k).
func (d *uDist) sf(k int) float64 { return d.cdf(d.mn - k) }
