package native

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/krserve/krserve/engined/kernels"
)

var weightTypes = []kernels.DType{kernels.F32, kernels.F16, kernels.BF16, kernels.Q8_0, kernels.Q4_0, kernels.Q4_K}

// levels returns every kernel level this CPU runs.
func levels(t testing.TB) []ISA {
	var out []ISA
	for _, l := range []ISA{ISAGeneric, ISAAVX2, ISAAVX512} {
		if l.Supported() {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		t.Fatal("no kernel level supported")
	}
	return out
}

func newBackend(t testing.TB, threads int, isa ISA) *Backend {
	t.Helper()
	b, err := New(Config{Threads: threads, ISA: isa})
	if err != nil {
		t.Fatalf("New(%d, %v): %v", threads, isa, err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

func randVec(r *rand.Rand, n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64()) * scale
	}
	return v
}

// randWeights quantizes random values to t and returns the weights and
// their exact dequantized values.
func randWeights(t testing.TB, r *rand.Rand, typ kernels.DType, rows, cols int) (kernels.Weights, []float32) {
	t.Helper()
	src := randVec(r, rows*cols, 0.5)
	rb, err := typ.RowBytes(cols)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, rb*rows)
	if err := kernels.Quantize(data, src, typ); err != nil {
		t.Fatal(err)
	}
	deq := make([]float32, rows*cols)
	if err := kernels.Dequantize(deq, data, typ); err != nil {
		t.Fatal(err)
	}
	return kernels.Weights{Type: typ, Rows: rows, Cols: cols, Data: data}, deq
}

// q8Round returns x after a Q8_0 round trip: the activations the native
// integer kernels see, so the reference sees the same values.
func q8Round(t testing.TB, x []float32) []float32 {
	t.Helper()
	buf := make([]byte, len(x)/32*34)
	if err := kernels.Quantize(buf, x, kernels.Q8_0); err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(x))
	if err := kernels.Dequantize(out, buf, kernels.Q8_0); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMatMulParity compares every level, weight type and thread count with
// the float64 reference on the same (quantized) weights and activations.
//
// Tolerance: with weights and activations equal on both sides, the native
// result differs only by float32 rounding of its partial sums (the int8
// block sums are exact). The standard bound for summing n products in
// float32 is n·u·Σ|w·x| with u = 2^-24; we allow 2(cols+32)·u·Σ|w·x|, and
// for the float types also require a normwise relative error below 1e-4.
func TestMatMulParity(t *testing.T) {
	ref := kernels.NewReference()
	r := rand.New(rand.NewPCG(1, 2))
	shapes := []struct{ rows, cols int }{{1, 256}, {7, 256}, {33, 512}, {130, 768}}
	for _, isa := range levels(t) {
		for _, threads := range []int{1, 2, 3} {
			nb := newBackend(t, threads, isa)
			for _, typ := range weightTypes {
				for _, sh := range shapes {
					w, deq := randWeights(t, r, typ, sh.rows, sh.cols)
					for batch := 1; batch <= 9; batch++ {
						name := fmt.Sprintf("%v/t%d/%v/%dx%d/b%d", isa, threads, typ, sh.rows, sh.cols, batch)
						x := randVec(r, batch*sh.cols, 1)
						if typ == kernels.Q8_0 || typ == kernels.Q4_0 {
							x = q8Round(t, x)
						}
						want := make([]float32, batch*sh.rows)
						got := make([]float32, batch*sh.rows+3)
						got[len(got)-1] = 42 // past the end: must stay
						if err := ref.MatMul(want, w, x, batch); err != nil {
							t.Fatal(err)
						}
						if err := nb.MatMul(got, w, x, batch); err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						if got[len(got)-1] != 42 {
							t.Fatalf("%s: wrote past batch*rows", name)
						}
						checkClose(t, name, got[:len(want)], want, deq, x, sh.rows, sh.cols, typ)
					}
				}
			}
		}
	}
}

func checkClose(t *testing.T, name string, got, want, deq, x []float32, rows, cols int, typ kernels.DType) {
	t.Helper()
	const u = 1.0 / (1 << 24)
	var num, den float64
	for i := range want {
		b, row := i/rows, i%rows
		var mag float64
		for c := range cols {
			mag += math.Abs(float64(deq[row*cols+c]) * float64(x[b*cols+c]))
		}
		tol := 2*float64(cols+32)*u*mag + 1e-30
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if !(d <= tol) {
			t.Fatalf("%s: out[%d] = %g, reference %g (diff %g > tol %g)", name, i, got[i], want[i], d, tol)
		}
		num += d * d
		den += float64(want[i]) * float64(want[i])
	}
	if typ == kernels.F32 || typ == kernels.F16 || typ == kernels.BF16 {
		if rel := math.Sqrt(num / den); rel >= 1e-4 {
			t.Fatalf("%s: normwise relative error %g >= 1e-4", name, rel)
		}
	}
}

// TestMatMulParityTiles covers the edges of the register tiles: row
// counts and batches that are not multiples of the tile (4 rows × 4 or 8
// vectors), batches up to 64 (prefill chunks), odd Q8_0/Q4_0 block counts
// and float rows whose length is not a multiple of the 16-lane step.
func TestMatMulParityTiles(t *testing.T) {
	ref := kernels.NewReference()
	r := rand.New(rand.NewPCG(11, 12))
	colsFor := map[kernels.DType][]int{
		kernels.F32: {40, 100, 288}, kernels.F16: {40, 100, 288}, kernels.BF16: {40, 100, 288},
		kernels.Q8_0: {96, 288}, kernels.Q4_0: {96, 288}, kernels.Q4_K: {256},
	}
	batches := []int{1, 5, 8, 9, 13, 16, 17, 31, 64}
	for _, isa := range levels(t) {
		for _, threads := range []int{1, 2} {
			nb := newBackend(t, threads, isa)
			for _, typ := range weightTypes {
				for _, cols := range colsFor[typ] {
					for _, rows := range []int{1, 3, 6, 13} {
						w, deq := randWeights(t, r, typ, rows, cols)
						for _, batch := range batches {
							name := fmt.Sprintf("%v/t%d/%v/%dx%d/b%d", isa, threads, typ, rows, cols, batch)
							checkMatMul(t, ref, nb, name, w, deq, r, batch)
						}
					}
				}
			}
		}
	}
	// Model-sized rows with a prefill batch, split across threads.
	nb := newBackend(t, 2, ISAAuto)
	for _, typ := range weightTypes {
		w, deq := randWeights(t, r, typ, 130, 768)
		checkMatMul(t, ref, nb, fmt.Sprintf("auto/t2/%v/130x768/b64", typ), w, deq, r, 64)
	}
}

// checkMatMul runs one product on nb and the reference and compares them.
func checkMatMul(t *testing.T, ref kernels.Backend, nb *Backend, name string, w kernels.Weights, deq []float32,
	r *rand.Rand, batch int) {
	t.Helper()
	x := randVec(r, batch*w.Cols, 1)
	if w.Type == kernels.Q8_0 || w.Type == kernels.Q4_0 {
		x = q8Round(t, x)
	}
	want := make([]float32, batch*w.Rows)
	got := make([]float32, batch*w.Rows+3)
	got[len(got)-1] = 42
	if err := ref.MatMul(want, w, x, batch); err != nil {
		t.Fatal(err)
	}
	if err := nb.MatMul(got, w, x, batch); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if got[len(got)-1] != 42 {
		t.Fatalf("%s: wrote past batch*rows", name)
	}
	checkClose(t, name, got[:len(want)], want, deq, x, w.Rows, w.Cols, w.Type)
}
