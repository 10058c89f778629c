package stats

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

func TestDescribeReference(t *testing.T) {
	var ref struct {
		Cases []struct {
			Name      string
			X         []float64
			Mean      float64
			Variance  *float64
			Q         []float64
			Quantiles []float64
			CI95Lo    float64 `json:"ci95_lo"`
			CI95Hi    float64 `json:"ci95_hi"`
		}
	}
	loadJSON(t, "describe.json", &ref)
	for _, c := range ref.Cases {
		t.Run(c.Name, func(t *testing.T) {
			m, err := Mean(c.X)
			if err != nil {
				t.Fatal(err)
			}
			checkRel(t, "mean", m, c.Mean, 1e-15)
			qs, err := Quantiles(c.X, c.Q...)
			if err != nil {
				t.Fatal(err)
			}
			for i, q := range c.Q {
				checkRel(t, fmt.Sprintf("quantile %g", q), qs[i], c.Quantiles[i], 1e-15)
				one, err := Quantile(c.X, q)
				if err != nil || one != qs[i] {
					t.Errorf("Quantile(%g) = %g, %v; Quantiles gave %g", q, one, err, qs[i])
				}
			}
			if c.Variance == nil {
				if _, err := Variance(c.X); !errors.Is(err, ErrTooFewSamples) {
					t.Errorf("Variance of %d values: err = %v", len(c.X), err)
				}
				return
			}
			v, err := Variance(c.X)
			if err != nil {
				t.Fatal(err)
			}
			checkRel(t, "variance", v, *c.Variance, 1e-9)
			ci, err := MeanCI(c.X, 0.95)
			if err != nil {
				t.Fatal(err)
			}
			// The ends are rounded to their own ulp (1.2e-7 at 10⁹).
			w := c.CI95Hi - c.CI95Lo
			tol := 1e-9*w + 2*(math.Nextafter(math.Abs(c.CI95Hi), math.Inf(1))-math.Abs(c.CI95Hi))
			if math.Abs(ci.Lo-c.CI95Lo) > tol || math.Abs(ci.Hi-c.CI95Hi) > tol {
				t.Errorf("CI = [%.15g, %.15g], want [%.15g, %.15g]", ci.Lo, ci.Hi, c.CI95Lo, c.CI95Hi)
			}
		})
	}
}

func TestDescribeErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		call func() error
		want error
	}{
		{"mean empty", func() error { _, err := Mean(nil); return err }, ErrTooFewSamples},
		{"mean NaN", func() error { _, err := Mean([]float64{1, math.NaN()}); return err }, ErrNonFinite},
		{"stddev one", func() error { _, err := StdDev([]float64{1}); return err }, ErrTooFewSamples},
		{"quantile empty", func() error { _, err := Quantile(nil, 0.5); return err }, ErrTooFewSamples},
		{"quantile q>1", func() error { _, err := Quantile([]float64{1}, 1.01); return err }, ErrDomain},
		{"quantile q NaN", func() error { _, err := Median([]float64{1, math.Inf(-1)}); return err }, ErrNonFinite},
		{"quantiles bad q", func() error { _, err := Quantiles([]float64{1}, 0.5, -1); return err }, ErrDomain},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	x := []float64{3, 1, 2}
	if med, _ := Median(x); med != 2 || x[0] != 3 {
		t.Fatalf("Median = %g or input reordered %v", med, x)
	}
}
