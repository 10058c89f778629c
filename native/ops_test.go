package native

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"go.uber.org/goleak"

	"github.com/krserve/krserve/engined/kernels"
)

func relErr(got, want []float32) float64 {
	var num, den float64
	for i := range want {
		d := float64(got[i]) - float64(want[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

func TestQuantizeActivationsMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, isa := range levels(t) {
		nb := newBackend(t, 1, isa)
		x := randVec(r, 3*96, 2)
		x[5] = 0.5 / 127 * 1                 // small values hit rounding ties less often than crafted ones
		copy(x[96:128], make([]float32, 32)) // an all-zero block
		q, d, err := nb.quantizeActivations(x, 96, kernels.Q8_0)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]byte, len(x)/32*34)
		if err := kernels.Quantize(want, x, kernels.Q8_0); err != nil {
			t.Fatal(err)
		}
		for blk := range len(x) / 32 {
			b, ib := blk/3, blk%3
			wd := kernels.FP16ToFP32(binary.LittleEndian.Uint16(want[blk*34:]))
			if gd := d[b*3*17+ib]; gd != wd {
				t.Fatalf("%v: block %d scale %g, want %g", isa, blk, gd, wd)
			}
			for j := range 32 {
				if g, w := q[blk*32+j], int8(want[blk*34+2+j]); g != w {
					t.Fatalf("%v: block %d value %d = %d, want %d", isa, blk, j, g, w)
				}
			}
		}
	}
}

func TestVectorOpsParity(t *testing.T) {
	ref := kernels.NewReference()
	r := rand.New(rand.NewPCG(9, 10))
	for _, isa := range levels(t) {
		nb := newBackend(t, 2, isa)
		for _, n := range []int{1, 7, 8, 33, 768, 2051} {
			name := fmt.Sprintf("%v/n%d", isa, n)
			x, w := randVec(r, n, 3), randVec(r, n, 1)
			got, want := make([]float32, n), make([]float32, n)
			nb.RMSNorm(got, x, w, 1e-5)
			ref.RMSNorm(want, x, w, 1e-5)
			if e := relErr(got, want); e >= 1e-5 {
				t.Errorf("%s: rmsnorm rel err %g", name, e)
			}
			g, u := randVec(r, n, 4), randVec(r, n, 1)
			nb.SwiGLU(got, g, u)
			ref.SwiGLU(want, g, u)
			if e := relErr(got, want); e >= 1e-5 {
				t.Errorf("%s: swiglu rel err %g", name, e)
			}
			s := randVec(r, n, 10)
			if n > 1 {
				s[0] = float32(math.Inf(-1)) // a masked position
			}
			s2 := append([]float32(nil), s...)
			nb.Softmax(s)
			ref.Softmax(s2)
			if e := relErr(s, s2); e >= 1e-5 {
				t.Errorf("%s: softmax rel err %g", name, e)
			}
			if n > 1 && s[0] != 0 {
				t.Errorf("%s: softmax of -inf = %g, want 0", name, s[0])
			}
		}
	}
}

func TestRoPEParity(t *testing.T) {
	ref := kernels.NewReference()
	r := rand.New(rand.NewPCG(11, 12))
	for _, style := range []kernels.RopeStyle{kernels.RopeNorm, kernels.RopeNeoX} {
		for _, c := range []kernels.RopeConfig{
			{HeadDim: 64, NHeads: 12, Theta: 10000, FreqScale: 1, Style: style},
			{HeadDim: 8, NHeads: 3, Theta: 500000, FreqScale: 0.25, Style: style},
			{HeadDim: 6, NHeads: 1, Theta: 10000, Style: style},
		} {
			nb := newBackend(t, 1, ISAAuto)
			for _, pos := range []int{0, 1, 17, 4095} {
				x := randVec(r, c.HeadDim*c.NHeads, 1)
				y := append([]float32(nil), x...)
				nb.RoPE(x, pos, c)
				ref.RoPE(y, pos, c)
				if e := relErr(x, y); e >= 1e-6 {
					t.Errorf("%+v pos %d: rel err %g", c, pos, e)
				}
			}
		}
	}
}

// TestAttentionParity runs GQA attention over a shuffled, non-contiguous
// block table and compares every level and thread count with the reference.
func TestAttentionParity(t *testing.T) {
	ref := kernels.NewReference()
	r := rand.New(rand.NewPCG(13, 14))
	cases := []struct {
		c    kernels.AttnConfig
		bs   int
		nPos int
	}{
		{kernels.AttnConfig{NHeads: 8, NKVHeads: 2, HeadDim: 16}, 4, 1},
		{kernels.AttnConfig{NHeads: 8, NKVHeads: 2, HeadDim: 16}, 4, 37},
		{kernels.AttnConfig{NHeads: 12, NKVHeads: 12, HeadDim: 64}, 16, 300},
		{kernels.AttnConfig{NHeads: 6, NKVHeads: 3, HeadDim: 9}, 5, 23},
	}
	for _, isa := range levels(t) {
		for _, threads := range []int{1, 2, 3} {
			nb := newBackend(t, threads, isa)
			for _, tc := range cases {
				c := tc.c
				c.Scale = float32(1 / math.Sqrt(float64(c.HeadDim)))
				kvDim := c.NKVHeads * c.HeadDim
				nBlocks := (tc.nPos+tc.bs-1)/tc.bs*2 + 1
				kv := kernels.KVLayer{K: randVec(r, nBlocks*tc.bs*kvDim, 1), V: randVec(r, nBlocks*tc.bs*kvDim, 1), BlockSize: tc.bs, KVDim: kvDim}
				perm := r.Perm(nBlocks)
				table := make([]int32, (tc.nPos+tc.bs-1)/tc.bs)
				for i := range table {
					table[i] = int32(perm[i])
				}
				q := randVec(r, c.NHeads*c.HeadDim, 1)
				got, want := make([]float32, len(q)), make([]float32, len(q))
				nb.Attention(got, q, kv, table, tc.nPos, c)
				ref.Attention(want, q, kv, table, tc.nPos, c)
				if e := relErr(got, want); e >= 1e-5 {
					t.Errorf("%v/t%d %+v nPos %d: rel err %g", isa, threads, c, tc.nPos, e)
				}
			}
		}
	}
}

func TestAttentionRejectsBadTable(t *testing.T) {
	nb := newBackend(t, 1, ISAAuto)
	c := kernels.AttnConfig{NHeads: 2, NKVHeads: 1, HeadDim: 4, Scale: 0.5}
	kv := kernels.KVLayer{K: make([]float32, 2*4*4), V: make([]float32, 2*4*4), BlockSize: 4, KVDim: 4}
	out, q := make([]float32, 8), make([]float32, 8)
	defer func() {
		err, _ := recover().(error)
		if !errors.Is(err, kernels.ErrShape) {
			t.Fatalf("panic %v, want ErrShape", err)
		}
	}()
	nb.Attention(out, q, kv, []int32{0, 2}, 6, c) // block 2 does not exist
	t.Fatal("no panic")
}

func TestMatMulErrors(t *testing.T) {
	nb := newBackend(t, 2, ISAAuto)
	w := kernels.Weights{Type: kernels.Q8_0, Rows: 2, Cols: 32, Data: make([]byte, 68)}
	x, out := make([]float32, 64), make([]float32, 4)
	tests := []struct {
		name string
		w    kernels.Weights
		x    []float32
		out  []float32
		b    int
		want error
	}{
		{"ok", w, x, out, 2, nil},
		{"short data", kernels.Weights{Type: kernels.Q8_0, Rows: 2, Cols: 32, Data: make([]byte, 67)}, x, out, 1, kernels.ErrShape},
		{"cols not block multiple", kernels.Weights{Type: kernels.Q8_0, Rows: 1, Cols: 31, Data: make([]byte, 68)}, x, out, 1, kernels.ErrShape},
		{"unknown type", kernels.Weights{Type: 99, Rows: 1, Cols: 32, Data: make([]byte, 68)}, x, out, 1, kernels.ErrUnknownType},
		{"short x", w, x[:63], out, 2, kernels.ErrShape},
		{"short out", w, x, out[:3], 2, kernels.ErrShape},
		{"zero batch", w, x, out, 0, kernels.ErrShape},
	}
	for _, tc := range tests {
		if err := nb.MatMul(tc.out, tc.w, tc.x, tc.b); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
	_ = nb.Close()
	if err := nb.MatMul(out, w, x, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg  Config
		want error
	}{
		{Config{Threads: 1, ISA: ISAAuto}, nil},
		{Config{Threads: 2, ISA: ISAGeneric}, nil},
		{Config{Threads: 0, ISA: ISAAuto}, ErrConfig},
		{Config{Threads: 1, ISA: 7}, ErrConfig},
	}
	if !ISAAVX512.Supported() {
		tests = append(tests, struct {
			cfg  Config
			want error
		}{Config{Threads: 1, ISA: ISAAVX512}, ErrISAUnsupported})
	}
	for _, tc := range tests {
		if err := tc.cfg.Validate(); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%+v: %v, want %v", tc.cfg, err, tc.want)
		}
	}
	if _, err := NewBackend(0); !errors.Is(err, ErrConfig) {
		t.Errorf("NewBackend(0): %v", err)
	}
	if Features() == "" && BestISA() != ISAGeneric {
		t.Errorf("no features reported for level %v", BestISA())
	}
}

// TestCloseStopsWorkers checks that the workers exist only between the
// first threaded call and Close.
func TestCloseStopsWorkers(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	b, err := New(Config{Threads: 2, ISA: ISAAuto})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	w, _ := randWeights(t, r, kernels.F32, 256, 256)
	x, out := randVec(r, 256, 1), make([]float32, 256)
	for range 100 {
		if err := b.MatMul(out, w, x, 1); err != nil {
			t.Fatal(err)
		}
	}
	if b.Threads() > 1 && len(b.pool.workers) != b.Threads()-1 {
		t.Fatalf("%d workers, want %d", len(b.pool.workers), b.Threads()-1)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSteadyStateNoAllocs checks the promise of no heap allocation per
// call once scratch buffers have grown.
func TestSteadyStateNoAllocs(t *testing.T) {
	nb := newBackend(t, 2, ISAAuto)
	r := rand.New(rand.NewPCG(2, 2))
	w, _ := randWeights(t, r, kernels.Q8_0, 512, 256)
	x, out := randVec(r, 4*256, 1), make([]float32, 4*512)
	c := kernels.AttnConfig{NHeads: 4, NKVHeads: 2, HeadDim: 32, Scale: 0.1}
	kv := kernels.KVLayer{K: randVec(r, 8*16*64, 1), V: randVec(r, 8*16*64, 1), BlockSize: 16, KVDim: 64}
	table := []int32{3, 1, 7, 0, 5, 2, 6, 4}
	q, ao := randVec(r, 128, 1), make([]float32, 128)
	allocs := testing.AllocsPerRun(50, func() {
		if err := nb.MatMul(out, w, x, 4); err != nil {
			t.Fatal(err)
		}
		nb.Attention(ao, q, kv, table, 128, c)
		nb.RMSNorm(ao, q, q, 1e-5)
		nb.Softmax(ao)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per call, want 0", allocs)
	}
}
