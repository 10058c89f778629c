package native

/*
#include "krs.h"
*/
import "C"

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/krserve/krserve/engined/kernels"
)

// Work below these sizes runs on the calling goroutine alone: splitting it
// would cost more in hand-off than it saves.
const (
	minParallelBytes  = 32 << 10 // weight bytes streamed by one MatMul
	minParallelFloats = 16 << 10 // K plus V floats read by one Attention
	chunksPerThread   = 4
)

type jobKind int

const (
	jobMatMul jobKind = iota
	jobAttention
)

// job describes the call being split across threads. The caller writes it
// before dispatch and leaves it alone until dispatch returns.
type job struct {
	kind            jobKind
	n, chunk, total int // rows (or heads), items per chunk, chunk count
	rc              atomic.Int32

	w     kernels.Weights
	rb    int
	x     []float32
	xq    []int8
	xd    []float32
	batch int
	out   []float32

	q      []float32
	kv     kernels.KVLayer
	table  []int32
	nPos   int
	ac     kernels.AttnConfig
	scores []float32
}

// Backend is the native kernels.Backend. Use it from one goroutine at a
// time; it splits MatMul rows and Attention heads across its workers.
type Backend struct {
	level   C.int
	isa     ISA
	threads int
	closed  bool

	pool    pool
	started bool
	run     func() // b.runChunks, bound once
	job     job

	xq     []int8    // quantized activations, reused
	xd     []float32 // their block scales
	scores []float32 // attention scores, NHeads*nPos
}

var _ kernels.Backend = (*Backend)(nil)

// Name returns "native/<level>", e.g. "native/avx512".
func (b *Backend) Name() string { return "native/" + b.isa.String() }

// Threads returns the number of threads a call may use.
func (b *Backend) Threads() int { return b.threads }

// Close stops the worker goroutines and waits for them to exit. The
// Backend must not be used afterwards; MatMul then returns ErrClosed.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	if b.started {
		b.pool.stop()
	}
	return nil
}

func fptr(s []float32) *C.float {
	if len(s) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(unsafe.SliceData(s)))
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/4)
	}
	return s[:n]
}

// parallel runs the current job on all threads.
func (b *Backend) parallel() {
	if !b.started {
		b.started = true
		b.run = b.runChunks
		b.pool.start(b.threads-1, b.run)
	}
	b.pool.dispatch(b.job.total, b.run)
}

func (b *Backend) runChunks() {
	j := &b.job
	for {
		c, ok := b.pool.claim(j.total)
		if !ok {
			return
		}
		lo := c * j.chunk
		if rc := b.runRange(lo, min(j.n, lo+j.chunk)); rc != C.KRS_OK {
			j.rc.CompareAndSwap(0, int32(rc))
		}
	}
}

func (b *Backend) runRange(lo, hi int) C.int {
	j := &b.job
	switch j.kind {
	case jobMatMul:
		var xq *C.int8_t
		if len(j.xq) > 0 {
			xq = (*C.int8_t)(unsafe.Pointer(unsafe.SliceData(j.xq)))
		}
		return C.krs_matmul(b.level, C.int(j.w.Type), (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(j.w.Data))),
			C.int64_t(j.rb), C.int64_t(lo), C.int64_t(hi), C.int64_t(j.w.Rows), C.int64_t(j.w.Cols),
			fptr(j.x), xq, fptr(j.xd), C.int(j.batch), fptr(j.out))
	default:
		return C.krs_attention(b.level, fptr(j.out), fptr(j.q), fptr(j.kv.K), fptr(j.kv.V),
			(*C.int32_t)(unsafe.Pointer(unsafe.SliceData(j.table))), C.int64_t(j.nPos), C.int64_t(j.kv.BlockSize),
			C.int64_t(j.kv.KVDim), C.int64_t(j.ac.NHeads), C.int64_t(j.ac.NKVHeads), C.int64_t(j.ac.HeadDim),
			C.float(j.ac.Scale), C.int64_t(lo), C.int64_t(hi), fptr(j.scores))
	}
}

// split sets the chunking of n items and reports whether to use threads.
func (b *Backend) split(n int, big bool) bool {
	j := &b.job
	j.n = n
	if b.threads == 1 || !big || n < 2 {
		j.chunk, j.total = n, 1
		return false
	}
	j.chunk = max(1, (n+b.threads*chunksPerThread-1)/(b.threads*chunksPerThread))
	switch {
	case j.chunk >= 16:
		// Whole 16-row groups: every chunk starts on a multiple of the
		// kernels' 4-row tile and its 64-byte slices of out are its own.
		j.chunk = (j.chunk + 15) &^ 15
	case j.chunk >= 3:
		j.chunk = (j.chunk + 3) &^ 3
	}
	j.total = (n + j.chunk - 1) / j.chunk
	return true
}

// finish runs the prepared job and converts its return code.
func (b *Backend) finish(op string, par bool) error {
	j := &b.job
	j.rc.Store(0)
	if par {
		b.parallel()
	} else if rc := b.runRange(0, j.n); rc != C.KRS_OK {
		j.rc.Store(int32(rc))
	}
	return kernelErr(op, C.int(j.rc.Load()))
}

// MatMul computes out[b*Rows+r] = W[r]·x[b]. For Q8_0 and Q4_0 weights the
// activations are first quantized to Q8_0 (as ggml does) and the products
// use integer dot products; other types use float activations.
func (b *Backend) MatMul(out []float32, w kernels.Weights, x []float32, batch int) error {
	if b.closed {
		return ErrClosed
	}
	if err := kernels.CheckMatMul(out, w, x, batch); err != nil {
		return err
	}
	j := &b.job
	*j = job{kind: jobMatMul, w: w, rb: w.RowBytes(), x: x[:batch*w.Cols], batch: batch, out: out}
	if w.Type == kernels.Q8_0 || w.Type == kernels.Q4_0 {
		n := batch * w.Cols
		b.xq = grow(b.xq, n)
		b.xd = grow(b.xd, n/kernels.QK8_0*C.KRS_XD_STRIDE)
		rc := C.krs_quant_q8(b.level, C.int(w.Type), fptr(x), C.int64_t(w.Cols), C.int(batch),
			(*C.int8_t)(unsafe.Pointer(unsafe.SliceData(b.xq))), fptr(b.xd))
		if err := kernelErr("quantize", rc); err != nil {
			return err
		}
		j.xq, j.xd, j.x = b.xq, b.xd, nil
	}
	par := b.split(w.Rows, j.rb*w.Rows >= minParallelBytes)
	if err := b.finish("matmul", par); err != nil {
		return fmt.Errorf("%v %dx%d batch %d: %w", w.Type, w.Rows, w.Cols, batch, err)
	}
	return nil
}

// RMSNorm sets out = weight * x / sqrt(mean(x²) + eps).
func (b *Backend) RMSNorm(out, x, weight []float32, eps float32) {
	kernels.CheckVectors("rmsnorm", len(x), out, weight)
	if len(x) == 0 {
		return
	}
	b.must("rmsnorm", C.krs_rmsnorm(b.level, fptr(out), fptr(x), fptr(weight), C.int64_t(len(x)), C.float(eps)))
}

// RoPE rotates one token's query or key heads in place.
func (b *Backend) RoPE(x []float32, pos int, c kernels.RopeConfig) {
	kernels.CheckRoPE(x, pos, c)
	neox := C.int(0)
	if c.Style == kernels.RopeNeoX {
		neox = 1
	}
	b.must("rope", C.krs_rope(fptr(x), C.int64_t(pos), C.int64_t(c.HeadDim), C.int64_t(c.NHeads),
		C.float(c.Theta), C.float(c.FreqScale), neox))
}

// Softmax normalises x in place.
func (b *Backend) Softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	b.must("softmax", C.krs_softmax(b.level, fptr(x), C.int64_t(len(x))))
}

// SwiGLU sets out = silu(gate) * up.
func (b *Backend) SwiGLU(out, gate, up []float32) {
	kernels.CheckVectors("swiglu", len(gate), out, up)
	if len(gate) == 0 {
		return
	}
	b.must("swiglu", C.krs_swiglu(b.level, fptr(out), fptr(gate), fptr(up), C.int64_t(len(gate))))
}

// Attention computes one token's attention over a paged KV sequence,
// splitting heads across threads when the sequence is long enough.
func (b *Backend) Attention(out, q []float32, kv kernels.KVLayer, table []int32, nPos int, c kernels.AttnConfig) {
	kernels.MustAttention(out, q, kv, table, nPos, c)
	b.scores = grow(b.scores, c.NHeads*nPos)
	j := &b.job
	*j = job{kind: jobAttention, out: out, q: q, kv: kv, table: table, nPos: nPos, ac: c, scores: b.scores}
	par := b.split(c.NHeads, 2*nPos*kv.KVDim >= minParallelFloats)
	if err := b.finish("attention", par); err != nil {
		panic(err)
	}
}

func (b *Backend) must(op string, rc C.int) {
	if err := kernelErr(op, rc); err != nil {
		panic(err)
	}
}

// quantizeActivations runs the activation quantizer alone and returns the
// int8 values and block scales (views of the scratch buffers); tests use it
// to check that it matches kernels.Quantize.
func (b *Backend) quantizeActivations(x []float32, cols int, typ kernels.DType) ([]int8, []float32, error) {
	if cols <= 0 || cols%kernels.QK8_0 != 0 || len(x) == 0 || len(x)%cols != 0 {
		return nil, nil, fmt.Errorf("%w: %d values in rows of %d", kernels.ErrShape, len(x), cols)
	}
	batch := len(x) / cols
	b.xq = grow(b.xq, len(x))
	b.xd = grow(b.xd, len(x)/kernels.QK8_0*C.KRS_XD_STRIDE)
	rc := C.krs_quant_q8(b.level, C.int(typ), fptr(x), C.int64_t(cols), C.int(batch),
		(*C.int8_t)(unsafe.Pointer(unsafe.SliceData(b.xq))), fptr(b.xd))
	return b.xq, b.xd, kernelErr("quantize", rc)
}
