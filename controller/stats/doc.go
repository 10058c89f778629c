// Package stats holds the statistics the controller judges rollouts with:
// Welch's two-sample t-test, the Mann–Whitney U test, two-proportion tests
// (pooled z and Fisher's exact), the Student t distribution and the
// regularized incomplete beta function behind it, and descriptive statistics
// (mean, variance, quantiles, confidence intervals).
//
// # Definitions
//
// Welch's t-test uses t = (mean A − mean B)/√(varA/nA + varB/nB) with the
// Welch–Satterthwaite degrees of freedom, never the pooled nA + nB − 2 (which
// is only right for equal variances and overstates significance when the
// smaller sample has the larger variance). p-values come from the Student t
// distribution through I_x(df/2, ½), evaluated by the Numerical Recipes
// continued fraction with an accurate log B(a, b); the CDF agrees with
// 50-digit references to 10⁻¹² relative for df ≤ 3000 and to 10⁻¹⁰ up to
// df = 10⁶.
//
// The Mann–Whitney U reported is U₁ of sample A (as scipy reports it). The
// p-value method follows scipy.stats.mannwhitneyu(method="auto",
// use_continuity=True): the exact null distribution when min(nA, nB) ≤ 8 and
// no value is tied (and, beyond scipy, nA·nB ≤ ExactMaxProduct), otherwise
// the normal approximation with tie correction and a continuity correction
// of ½. One-sided p-values are given for both directions (PLess, PGreater).
//
// Quantile is numpy's default ("linear", R type 7). Variances are unbiased
// (divisor n − 1).
//
// Reference values in testdata/ come from scipy, numpy and 50-digit mpmath
// (testdata/gen_reference.py regenerates them) plus published R output for
// the sleep data set.
//
// # Errors
//
// Functions return sentinel errors wrapped with %w — ErrTooFewSamples,
// ErrZeroVariance, ErrNonFinite, ErrDomain — and never panic on bad input.
// A judge maps ErrTooFewSamples and ErrZeroVariance to "inconclusive".
//
// # Concurrency
//
// Everything here is a pure function of its arguments: safe for concurrent
// use, and inputs are never modified or retained.
package stats
