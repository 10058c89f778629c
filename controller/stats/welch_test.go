package stats

import (
	"errors"
	"math"
	"testing"
)

type welchCase struct {
	Name     string
	A, B     []float64
	T, DF, P float64
	PLess    float64 `json:"p_less"`
	PGreater float64 `json:"p_greater"`
	MeanA    float64 `json:"mean_a"`
	MeanB    float64 `json:"mean_b"`
	VarA     float64 `json:"var_a"`
	VarB     float64 `json:"var_b"`
	CI95Lo   float64 `json:"ci95_lo"`
	CI95Hi   float64 `json:"ci95_hi"`
	PooledDF int     `json:"pooled_df"`
}

func TestWelchReference(t *testing.T) {
	var ref struct{ Cases []welchCase }
	loadJSON(t, "welch.json", &ref)
	if len(ref.Cases) < 8 {
		t.Fatalf("only %d cases", len(ref.Cases))
	}
	for _, c := range ref.Cases {
		t.Run(c.Name, func(t *testing.T) {
			r, err := Welch(c.A, c.B)
			if err != nil {
				t.Fatal(err)
			}
			checkRel(t, "t", r.T, c.T, 1e-9)
			checkRel(t, "df", r.DF, c.DF, 1e-9)
			checkRel(t, "p", r.P, c.P, 1e-9)
			checkRel(t, "p_less", r.PLess, c.PLess, 1e-9)
			checkRel(t, "p_greater", r.PGreater, c.PGreater, 1e-9)
			checkRel(t, "mean_a", r.MeanA, c.MeanA, 1e-12)
			checkRel(t, "var_b", r.VarB, c.VarB, 1e-9)
			ci, err := r.CI(0.95)
			if err != nil {
				t.Fatal(err)
			}
			// The interval ends are differences, so compare on the scale of
			// the interval's width.
			w := c.CI95Hi - c.CI95Lo
			if math.Abs(ci.Lo-c.CI95Lo) > 1e-9*w || math.Abs(ci.Hi-c.CI95Hi) > 1e-9*w {
				t.Errorf("CI = [%.15g, %.15g], want [%.15g, %.15g]", ci.Lo, ci.Hi, c.CI95Lo, c.CI95Hi)
			}
			if r.NA != len(c.A) || r.NB != len(c.B) {
				t.Errorf("n = %d, %d", r.NA, r.NB)
			}
		})
	}
}

// TestWelchSleepPublished checks R's documented t.test output for the sleep
// data: t = -1.8608, df = 17.776, p-value = 0.07939, 95 percent confidence
// interval -3.3654832 0.2054832.
func TestWelchSleepPublished(t *testing.T) {
	a := []float64{0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0}
	b := []float64{1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4}
	r, err := Welch(a, b)
	if err != nil {
		t.Fatal(err)
	}
	ci, err := r.CI(0.95)
	if err != nil {
		t.Fatal(err)
	}
	round := func(v float64, digits int) float64 {
		p := math.Pow(10, float64(digits))
		return math.Round(v*p) / p
	}
	for _, c := range []struct {
		name      string
		got, want float64
		digits    int
	}{
		{"t", r.T, -1.8608, 4},
		{"df", r.DF, 17.776, 3},
		{"p", r.P, 0.07939, 5},
		{"ci lo", ci.Lo, -3.3654832, 7},
		{"ci hi", ci.Hi, 0.2054832, 7},
	} {
		if round(c.got, c.digits) != c.want {
			t.Errorf("%s = %.10g, rounds to %v, want %v", c.name, c.got, round(c.got, c.digits), c.want)
		}
	}
}

// TestWelchDFIsNotPooled shows that with unequal variances the
// Welch–Satterthwaite df differ from the pooled nA+nB−2 — and the p-value
// with them.
func TestWelchDFIsNotPooled(t *testing.T) {
	var ref struct{ Cases []welchCase }
	loadJSON(t, "welch.json", &ref)
	for _, c := range ref.Cases {
		if c.Name != "larger variance in the smaller sample" {
			continue
		}
		r, err := Welch(c.A, c.B)
		if err != nil {
			t.Fatal(err)
		}
		pooled := float64(c.PooledDF)
		if r.DF > pooled/4 {
			t.Fatalf("df = %g, want far below the pooled %g for variances %g vs %g", r.DF, pooled, r.VarA, r.VarB)
		}
		wrong, err := StudentT{DF: pooled}.SF(math.Abs(r.T))
		if err != nil {
			t.Fatal(err)
		}
		if relErr(2*wrong, r.P) < 0.1 {
			t.Fatalf("p with the pooled df %g ≈ Welch p %g: the case does not discriminate", 2*wrong, r.P)
		}
		return
	}
	t.Fatal("case not found")
}

func TestWelchErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		a, b []float64
		want error
	}{
		{"empty", nil, []float64{1, 2}, ErrTooFewSamples},
		{"one value", []float64{1}, []float64{1, 2}, ErrTooFewSamples},
		{"both constant", []float64{3, 3, 3}, []float64{5, 5}, ErrZeroVariance},
		{"NaN", []float64{1, math.NaN()}, []float64{1, 2}, ErrNonFinite},
		{"Inf", []float64{1, 2}, []float64{math.Inf(1), 2}, ErrNonFinite},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Welch(c.a, c.b); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	r, err := Welch([]float64{1, 2, 3}, []float64{1, 2, 3})
	if err != nil || r.T != 0 || r.P != 1 || r.PLess != 0.5 {
		t.Fatalf("identical samples: %+v, %v", r, err)
	}
}

func TestIntervalErrors(t *testing.T) {
	x := []float64{1, 2, 3}
	for _, c := range []struct {
		name string
		call func() error
		want error
	}{
		{"MeanCI level 0", func() error { _, err := MeanCI(x, 0); return err }, ErrDomain},
		{"MeanCI level 1", func() error { _, err := MeanCI(x, 1); return err }, ErrDomain},
		{"MeanCI one value", func() error { _, err := MeanCI([]float64{1}, 0.9); return err }, ErrTooFewSamples},
		{"DiffCI NaN level", func() error { _, err := DiffCI(x, x, math.NaN()); return err }, ErrDomain},
		{"DiffCI constant", func() error { _, err := DiffCI([]float64{1, 1}, []float64{2, 2}, 0.9); return err }, ErrZeroVariance},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	// DiffCI agrees with Welch(...).CI and contains its estimate.
	a, b := []float64{1, 4, 2, 8}, []float64{3, 3.5, 9, 10, 12}
	ci, err := DiffCI(a, b, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	if !(ci.Lo < ci.Estimate && ci.Estimate < ci.Hi) || ci.Level != 0.9 {
		t.Fatalf("interval %+v", ci)
	}
}
