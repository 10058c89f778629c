package stats

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func TestMannWhitneyReference(t *testing.T) {
	var ref struct {
		Cases []struct {
			Name     string
			A, B     []float64
			U, P     float64
			PLess    float64 `json:"p_less"`
			PGreater float64 `json:"p_greater"`
			Method   string
			Ties     bool
		}
	}
	loadJSON(t, "mannwhitney.json", &ref)
	if len(ref.Cases) < 10 {
		t.Fatalf("only %d cases", len(ref.Cases))
	}
	for _, c := range ref.Cases {
		t.Run(c.Name, func(t *testing.T) {
			r, err := MannWhitney(c.A, c.B)
			if err != nil {
				t.Fatal(err)
			}
			if r.Method.String() != c.Method || r.Ties != c.Ties {
				t.Errorf("method %v ties %v, want %s ties %v", r.Method, r.Ties, c.Method, c.Ties)
			}
			if r.U != c.U {
				t.Errorf("U = %g, want %g", r.U, c.U)
			}
			checkRel(t, "p", r.P, c.P, 1e-9)
			checkRel(t, "p_less", r.PLess, c.PLess, 1e-9)
			checkRel(t, "p_greater", r.PGreater, c.PGreater, 1e-9)
		})
	}
}

// TestUDistMatchesEnumeration counts U over every arrangement for small
// sizes and compares the exact distribution with it.
func TestUDistMatchesEnumeration(t *testing.T) {
	for m := 1; m <= 5; m++ {
		for n := 1; n <= 6; n++ {
			counts := make([]float64, m*n+1)
			total := 0.0
			// Each subset of {0..m+n−1} of size m marks the A positions.
			for mask := 0; mask < 1<<(m+n); mask++ {
				if popcount(mask) != m {
					continue
				}
				u, bs := 0, 0
				for i := 0; i < m+n; i++ {
					if mask&(1<<i) != 0 {
						u += bs // this A value exceeds every B value before it
					} else {
						bs++
					}
				}
				counts[u]++
				total++
			}
			d := newUDist(m, n)
			cum := 0.0
			for k := 0; k <= m*n; k++ {
				cum += counts[k]
				if got := d.cdf(k); math.Abs(got-cum/total) > 1e-14 {
					t.Fatalf("m=%d n=%d: P(U ≤ %d) = %g, enumeration %g", m, n, k, got, cum/total)
				}
			}
		}
	}
}

func popcount(x int) int {
	c := 0
	for ; x != 0; x &= x - 1 {
		c++
	}
	return c
}

func TestMannWhitneyMethods(t *testing.T) {
	a := []float64{1.5, 2.5, 6, 7.25}
	b := []float64{3, 4, 5, 8, 9, 10}
	ex, err := MannWhitneyMethod(a, b, MethodExact)
	if err != nil || ex.Method != MethodExact {
		t.Fatalf("exact: %+v %v", ex, err)
	}
	as, err := MannWhitneyMethod(a, b, MethodAsymptotic)
	if err != nil || as.Method != MethodAsymptotic {
		t.Fatalf("asymptotic: %+v %v", as, err)
	}
	if ex.U != as.U || math.Abs(ex.P-as.P) > 0.1 {
		t.Fatalf("exact %+v and asymptotic %+v disagree", ex, as)
	}
	for _, c := range []struct {
		name   string
		a, b   []float64
		method UMethod
		want   error
	}{
		{"empty", nil, b, MethodAuto, ErrTooFewSamples},
		{"all tied", []float64{2, 2}, []float64{2, 2, 2}, MethodAuto, ErrZeroVariance},
		{"exact with ties", []float64{1, 2}, []float64{2, 3}, MethodExact, ErrDomain},
		{"unknown method", a, b, UMethod(9), ErrDomain},
		{"NaN", []float64{math.NaN()}, b, MethodAuto, ErrNonFinite},
		{"exact too large", make([]float64, 2000), seq(1000), MethodExact, ErrDomain},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "exact too large" {
				for i := range c.a {
					c.a[i] = float64(i) + 0.5 + 2000
				}
			}
			if _, err := MannWhitneyMethod(c.a, c.b, c.method); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func seq(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = float64(i)
	}
	return s
}

// TestMannWhitneyExactLargeSample checks the exact table where counts exceed
// 2⁵³ against the normal approximation, which is accurate there.
func TestMannWhitneyExactLargeSample(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	a := make([]float64, 8)
	b := make([]float64, 3000)
	for i := range a {
		a[i] = rng.NormFloat64() + 0.4
	}
	for i := range b {
		b[i] = rng.NormFloat64()
	}
	ex, err := MannWhitney(a, b)
	if err != nil || ex.Method != MethodExact {
		t.Fatalf("%+v %v", ex, err)
	}
	as, err := MannWhitneyMethod(a, b, MethodAsymptotic)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(ex.P-as.P) > 0.01 || math.Abs(ex.PLess+ex.PGreater-1) > 0.01 {
		t.Fatalf("exact %+v vs asymptotic %+v", ex, as)
	}
}

func FuzzMannWhitneyWelch(f *testing.F) {
	f.Add(1.0, 2.0, 3.0, 2.5, 0.5, 4.0, uint8(3))
	f.Add(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, uint8(1))
	f.Add(-1e300, 1e300, 0.0, 5e-324, 7.0, 7.0, uint8(4))
	f.Fuzz(func(t *testing.T, a0, a1, a2, b0, b1, b2 float64, split uint8) {
		all := []float64{a0, a1, a2, b0, b1, b2}
		k := 1 + int(split)%5
		a, b := all[:k], all[k:]
		if r, err := MannWhitney(a, b); err == nil {
			for _, p := range []float64{r.P, r.PLess, r.PGreater} {
				if !(p >= 0 && p <= 1) {
					t.Fatalf("MannWhitney(%v, %v) p out of range: %+v", a, b, r)
				}
			}
		}
		if r, err := Welch(a, b); err == nil {
			for _, p := range []float64{r.P, r.PLess, r.PGreater} {
				if !(p >= 0 && p <= 1) && !math.IsNaN(r.T) {
					t.Fatalf("Welch(%v, %v) p out of range: %+v", a, b, r)
				}
			}
		}
	})
}
