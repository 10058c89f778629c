package stats

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// loadJSON decodes testdata/name into v. The files are written by
// testdata/gen_reference.py (scipy, numpy and 50-digit mpmath).
func loadJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// relErr is |got − want| / |want|, or the absolute error when want is 0.
func relErr(got, want float64) float64 {
	if got == want {
		return 0
	}
	if want == 0 {
		return math.Abs(got)
	}
	return math.Abs(got-want) / math.Abs(want)
}

func checkRel(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(got) || relErr(got, want) > tol {
		t.Errorf("%s = %.17g, want %.17g (relative error %.3g > %.1g)", what, got, want, relErr(got, want), tol)
	}
}
