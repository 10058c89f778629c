package kernels

import "fmt"

// RopeStyle selects how rotary position embedding pairs dimensions.
type RopeStyle int

const (
	// RopeNorm rotates adjacent pairs (i, i+1): llama.cpp's
	// LLAMA_ROPE_TYPE_NORM and llama2.c.
	RopeNorm RopeStyle = iota
	// RopeNeoX rotates pairs (i, i+HeadDim/2): the GPT-NeoX half split.
	RopeNeoX
)

// RopeConfig describes rotary position embedding for one token's query or
// key vector of NHeads heads of HeadDim values. Pair k of a head turns by
// FreqScale * pos * Theta^(-2k/HeadDim) radians.
type RopeConfig struct {
	HeadDim, NHeads int
	Theta           float32
	FreqScale       float32 // 1 = none (linear scaling factor); 0 is read as 1
	Style           RopeStyle
}

// Validate reports ErrShape for a non-positive or odd HeadDim, non-positive
// NHeads or Theta, or an unknown style.
func (c RopeConfig) Validate() error {
	switch {
	case c.HeadDim <= 0 || c.HeadDim%2 != 0:
		return fmt.Errorf("%w: rope head dim %d must be even and positive", ErrShape, c.HeadDim)
	case c.NHeads <= 0:
		return fmt.Errorf("%w: rope heads %d", ErrShape, c.NHeads)
	case !(c.Theta > 0):
		return fmt.Errorf("%w: rope theta %v", ErrShape, c.Theta)
	case c.Style != RopeNorm && c.Style != RopeNeoX:
		return fmt.Errorf("%w: rope style %d", ErrShape, c.Style)
	}
	return nil
}

// KVLayer is one layer's paged KV arena: K and V are each
// [NumBlocks][BlockSize][KVDim] float32 with KVDim = NKVHeads*HeadDim.
// Position t of a sequence lives in physical block table[t/BlockSize] at
// slot t%BlockSize.
type KVLayer struct {
	K, V      []float32
	BlockSize int
	KVDim     int
}

// NumBlocks returns how many whole blocks K holds.
func (kv KVLayer) NumBlocks() int {
	if kv.BlockSize <= 0 || kv.KVDim <= 0 {
		return 0
	}
	return len(kv.K) / (kv.BlockSize * kv.KVDim)
}

// AttnConfig describes multi-head attention with grouped KV heads: query
// head h reads KV head h/(NHeads/NKVHeads). Scale multiplies q·k, usually
// 1/sqrt(HeadDim).
type AttnConfig struct {
	NHeads, NKVHeads, HeadDim int
	Scale                     float32
}

// CheckAttention validates the arguments of Backend.Attention, including
// every block number the first nPos positions touch. Backends call it first;
// since Attention returns no error they panic with its error, which marks a
// programming error in the caller.
func CheckAttention(out, q []float32, kv KVLayer, table []int32, nPos int, c AttnConfig) error {
	if c.NHeads <= 0 || c.NKVHeads <= 0 || c.HeadDim <= 0 || c.NHeads%c.NKVHeads != 0 {
		return fmt.Errorf("%w: attention heads %d, kv heads %d, head dim %d", ErrShape, c.NHeads, c.NKVHeads, c.HeadDim)
	}
	if kv.KVDim != c.NKVHeads*c.HeadDim || kv.BlockSize <= 0 {
		return fmt.Errorf("%w: kv dim %d, block size %d for %d kv heads of %d", ErrShape, kv.KVDim, kv.BlockSize, c.NKVHeads, c.HeadDim)
	}
	if len(kv.V) != len(kv.K) {
		return fmt.Errorf("%w: kv K has %d values, V %d", ErrShape, len(kv.K), len(kv.V))
	}
	qd := c.NHeads * c.HeadDim
	if len(q) < qd || len(out) < qd {
		return fmt.Errorf("%w: attention q %d, out %d values, need %d", ErrShape, len(q), len(out), qd)
	}
	if nPos < 1 {
		return fmt.Errorf("%w: attention over %d positions", ErrShape, nPos)
	}
	nb := (nPos + kv.BlockSize - 1) / kv.BlockSize
	if len(table) < nb {
		return fmt.Errorf("%w: block table has %d entries, %d positions need %d", ErrShape, len(table), nPos, nb)
	}
	blocks := kv.NumBlocks()
	for i, b := range table[:nb] {
		if b < 0 || int(b) >= blocks {
			return fmt.Errorf("%w: block table entry %d is %d, arena has %d blocks", ErrShape, i, b, blocks)
		}
	}
	return nil
}

// Backend runs the forward-pass kernels. Implementations are safe for use
// by one goroutine at a time (one Backend per engine worker); they may use
// internal threads. Methods without an error result panic on inconsistent
// lengths, which are programming errors; MatMul reports them as ErrShape.
type Backend interface {
	Name() string
	// MatMul: out[b*w.Rows + r] = sum_c W[r][c] * x[b*w.Cols + c] for
	// b < batch. len(out) >= batch*Rows.
	MatMul(out []float32, w Weights, x []float32, batch int) error
	// RMSNorm normalises one vector; len(out)==len(x)==len(weight).
	RMSNorm(out, x, weight []float32, eps float32)
	// RoPE rotates one token's [NHeads*HeadDim] vector in place.
	RoPE(x []float32, pos int, c RopeConfig)
	// Softmax works in place and is numerically stable.
	Softmax(x []float32)
	// SwiGLU sets out = silu(gate) * up.
	SwiGLU(out, gate, up []float32)
	// Attention for one token: q [NHeads*HeadDim] attends to positions
	// 0..nPos-1 of one sequence whose block i is physical block table[i]
	// in kv; writes out [NHeads*HeadDim].
	Attention(out, q []float32, kv KVLayer, table []int32, nPos int, c AttnConfig)
	Close() error
}

// mustCheck panics with err when it is not nil. Backends use it for the
// checks of methods that cannot return an error.
func mustCheck(err error) {
	if err != nil {
		panic(err)
	}
}

// CheckVectors panics unless all slices have length n; shared by backends.
func CheckVectors(op string, n int, vs ...[]float32) {
	for _, v := range vs {
		if len(v) != n {
			panic(fmt.Errorf("%w: %s: vector of %d values, want %d", ErrShape, op, len(v), n))
		}
	}
}

// CheckRoPE panics unless c is valid and x holds c.NHeads*c.HeadDim values
// and pos is not negative.
func CheckRoPE(x []float32, pos int, c RopeConfig) {
	mustCheck(c.Validate())
	if len(x) < c.NHeads*c.HeadDim || pos < 0 {
		panic(fmt.Errorf("%w: rope over %d values at position %d, need %d", ErrShape, len(x), pos, c.NHeads*c.HeadDim))
	}
}

// MustAttention panics with the error of CheckAttention, if any.
func MustAttention(out, q []float32, kv KVLayer, table []int32, nPos int, c AttnConfig) {
	mustCheck(CheckAttention(out, q, kv, table, nPos, c))
}
