package native

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/krserve/krserve/engined/kernels"
)

// BenchmarkMatMul reports the weight bytes streamed per second (GB/s) for
// the matrix shapes of a 110M Llama (dim 768, ffn 2048, vocab 32000).
func BenchmarkMatMul(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	shapes := []struct{ rows, cols int }{{768, 768}, {2048, 768}, {32000, 768}}
	for _, typ := range []kernels.DType{kernels.F32, kernels.F16, kernels.BF16, kernels.Q8_0, kernels.Q4_0, kernels.Q4_K} {
		for _, sh := range shapes {
			w, _ := randWeights(b, r, typ, sh.rows, sh.cols)
			for _, batch := range []int{1, 8} {
				x := randVec(r, batch*sh.cols, 1)
				out := make([]float32, batch*sh.rows)
				for _, threads := range []int{1, 2} {
					b.Run(fmt.Sprintf("%v/%dx%d/b%d/t%d", typ, sh.rows, sh.cols, batch, threads), func(b *testing.B) {
						nb := newBackend(b, threads, ISAAuto)
						if err := nb.MatMul(out, w, x, batch); err != nil {
							b.Fatal(err)
						}
						b.ReportAllocs()
						b.SetBytes(int64(len(w.Data)))
						for b.Loop() {
							if err := nb.MatMul(out, w, x, batch); err != nil {
								b.Fatal(err)
							}
						}
					})
				}
			}
		}
	}
}

// BenchmarkMatMulISA compares the kernel levels on one thread.
func BenchmarkMatMulISA(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, typ := range []kernels.DType{kernels.Q8_0, kernels.Q4_0, kernels.F16} {
		w, _ := randWeights(b, r, typ, 768, 768)
		for _, batch := range []int{1, 8} {
			x := randVec(r, batch*768, 1)
			out := make([]float32, batch*768)
			for _, isa := range levels(b) {
				b.Run(fmt.Sprintf("%v/b%d/%v", typ, batch, isa), func(b *testing.B) {
					nb := newBackend(b, 1, isa)
					b.SetBytes(int64(len(w.Data)))
					for b.Loop() {
						if err := nb.MatMul(out, w, x, batch); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
