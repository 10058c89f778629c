package stats

import (
	"errors"
	"fmt"
	"testing"
)

func TestProportionReference(t *testing.T) {
	var ref struct {
		Cases []struct {
			XA, NA, XB, NB int64
			FisherP        float64  `json:"fisher_p"`
			FisherPLess    float64  `json:"fisher_p_less"`
			FisherPGreater float64  `json:"fisher_p_greater"`
			Z              *float64 `json:"z"`
			ZP             float64  `json:"z_p"`
			ZPLess         float64  `json:"z_p_less"`
			ZPGreater      float64  `json:"z_p_greater"`
		}
	}
	loadJSON(t, "proportion.json", &ref)
	for _, c := range ref.Cases {
		t.Run(fmt.Sprintf("%d/%d vs %d/%d", c.XA, c.NA, c.XB, c.NB), func(t *testing.T) {
			f, err := FisherExact(c.XA, c.NA, c.XB, c.NB)
			if err != nil {
				t.Fatal(err)
			}
			checkRel(t, "fisher p", f.P, c.FisherP, 1e-9)
			checkRel(t, "fisher p_less", f.PLess, c.FisherPLess, 1e-9)
			checkRel(t, "fisher p_greater", f.PGreater, c.FisherPGreater, 1e-9)
			z, err := TwoProportionZ(c.XA, c.NA, c.XB, c.NB)
			if c.Z == nil {
				if !errors.Is(err, ErrZeroVariance) {
					t.Fatalf("z test err = %v, want ErrZeroVariance", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkRel(t, "z", z.Z, *c.Z, 1e-12)
			checkRel(t, "z p", z.P, c.ZP, 1e-9)
			checkRel(t, "z p_less", z.PLess, c.ZPLess, 1e-9)
			checkRel(t, "z p_greater", z.PGreater, c.ZPGreater, 1e-9)
		})
	}
}

func TestProportionErrors(t *testing.T) {
	for _, c := range []struct {
		name           string
		xa, na, xb, nb int64
		want           error
	}{
		{"no trials", 0, 0, 1, 10, ErrTooFewSamples},
		{"negative", -1, 10, 1, 10, ErrDomain},
		{"more successes than trials", 11, 10, 1, 10, ErrDomain},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := FisherExact(c.xa, c.na, c.xb, c.nb); !errors.Is(err, c.want) {
				t.Errorf("Fisher err = %v, want %v", err, c.want)
			}
			if _, err := TwoProportionZ(c.xa, c.na, c.xb, c.nb); !errors.Is(err, c.want) {
				t.Errorf("z err = %v, want %v", err, c.want)
			}
		})
	}
	if _, err := TwoProportionZ(0, 100, 0, 100); !errors.Is(err, ErrZeroVariance) {
		t.Errorf("no failures at all: err = %v", err)
	}
	if r, err := FisherExact(0, 100, 0, 100); err != nil || r.P != 1 {
		t.Errorf("no failures at all: Fisher %+v %v", r, err)
	}
}
