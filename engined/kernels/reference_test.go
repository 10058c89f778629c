package kernels

import (
	"errors"
	"math"
	"testing"
)

func near(a, b float32) bool { return math.Abs(float64(a-b)) <= 1e-6*(1+math.Abs(float64(b))) }

func TestReferenceMatMul(t *testing.T) {
	r := NewReference()
	// W = [[1 2 3] [4 5 6]], two activation vectors.
	w := Weights{Type: F32, Rows: 2, Cols: 3, Data: F32Bytes([]float32{1, 2, 3, 4, 5, 6})}
	out := make([]float32, 4)
	if err := r.MatMul(out, w, []float32{1, 0, -1, 2, 1, 0}, 2); err != nil {
		t.Fatal(err)
	}
	for i, want := range []float32{-2, -2, 4, 13} {
		if out[i] != want {
			t.Fatalf("out = %v", out)
		}
	}
	if err := r.MatMul(out, w, []float32{1}, 1); !errors.Is(err, ErrShape) {
		t.Fatalf("short x: %v", err)
	}
}

func TestReferenceOps(t *testing.T) {
	r := NewReference()
	out := make([]float32, 2)
	r.RMSNorm(out, []float32{3, 4}, []float32{1, 2}, 0)
	if s := float32(1 / math.Sqrt(12.5)); !near(out[0], 3*s) || !near(out[1], 8*s) {
		t.Errorf("rmsnorm %v", out)
	}
	x := []float32{1, 2, 3}
	r.Softmax(x)
	if !near(x[0]+x[1]+x[2], 1) || !(x[0] < x[1] && x[1] < x[2]) {
		t.Errorf("softmax %v", x)
	}
	r.SwiGLU(out, []float32{0, 1}, []float32{5, 2})
	if !near(out[0], 0) || !near(out[1], float32(2/(1+math.Exp(-1)))) {
		t.Errorf("swiglu %v", out)
	}
	// Pair 0 turns by pos radians, pair 1 by pos/theta^(2/4).
	v := []float32{1, 0, 1, 0}
	r.RoPE(v, 1, RopeConfig{HeadDim: 4, NHeads: 1, Theta: 100, FreqScale: 1})
	if !near(v[0], float32(math.Cos(1))) || !near(v[1], float32(math.Sin(1))) || !near(v[2], float32(math.Cos(0.1))) {
		t.Errorf("rope norm %v", v)
	}
	v = []float32{1, 1, 0, 0}
	r.RoPE(v, 1, RopeConfig{HeadDim: 4, NHeads: 1, Theta: 100, Style: RopeNeoX})
	if !near(v[0], float32(math.Cos(1))) || !near(v[2], float32(math.Sin(1))) || !near(v[3], float32(math.Sin(0.1))) {
		t.Errorf("rope neox %v", v)
	}
}

func TestReferenceAttention(t *testing.T) {
	r := NewReference()
	c := AttnConfig{NHeads: 2, NKVHeads: 1, HeadDim: 2, Scale: 1}
	// Two blocks of two slots; the sequence uses physical block 1 then 0.
	kv := KVLayer{BlockSize: 2, KVDim: 2,
		K: []float32{0, 0, 0, 0, 1, 0, 0, 0},
		V: []float32{9, 9, 0, 0, 1, 2, 3, 4}}
	out := make([]float32, 4)
	// One position: the output is that position's V for both heads.
	r.Attention(out, []float32{5, 5, -1, 3}, kv, []int32{1}, 1, c)
	if out[0] != 1 || out[1] != 2 || out[2] != 1 || out[3] != 2 {
		t.Fatalf("single position: %v", out)
	}
	// Three positions: 0 and 1 from block 1, 2 from block 0 slot 0.
	r.Attention(out, []float32{1, 0, 0, 0}, kv, []int32{1, 0}, 3, c)
	e := math.E
	w0, w1, w2 := e/(e+2), 1/(e+2), 1/(e+2)
	if !near(out[0], float32(w0*1+w1*3+w2*9)) || !near(out[3], float32((2+4+9)/3.0)) {
		t.Fatalf("three positions: %v", out)
	}
	defer func() {
		if err, _ := recover().(error); !errors.Is(err, ErrShape) {
			t.Fatalf("bad table: panic %v", err)
		}
	}()
	r.Attention(out, []float32{1, 0, 0, 0}, kv, []int32{1, 5}, 3, c)
}
