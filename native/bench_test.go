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

// BenchmarkMatMulBatch measures how the cost of a MatMul grows with the
// number of activation vectors, the quantity continuous batching depends
// on. Besides GB/s of weights it reports tok-factor = batch × time(batch
// 1) / time(batch): how many single-vector calls one batched call is
// worth (batch for a perfectly memory-bound kernel, 1 for no gain). The
// batch-1 time comes from the batch-1 sub-benchmark of the same run, so
// run the whole group (a -bench pattern that keeps b1).
func BenchmarkMatMulBatch(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 10))
	shapes := []struct{ rows, cols int }{{768, 768}, {2048, 768}, {32000, 768}}
	for _, typ := range []kernels.DType{kernels.Q8_0, kernels.F16, kernels.F32} {
		for _, sh := range shapes {
			w, _ := randWeights(b, r, typ, sh.rows, sh.cols)
			x := randVec(r, 16*sh.cols, 1)
			out := make([]float32, 16*sh.rows)
			for _, threads := range []int{1, 2} {
				var t1 float64 // ns per batch-1 call
				for _, batch := range []int{1, 4, 8, 16} {
					b.Run(fmt.Sprintf("%v/%dx%d/t%d/b%d", typ, sh.rows, sh.cols, threads, batch), func(b *testing.B) {
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
						ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
						if batch == 1 {
							t1 = ns
						}
						if t1 > 0 {
							b.ReportMetric(float64(batch)*t1/ns, "tok-factor")
						}
					})
				}
			}
		}
	}
}
