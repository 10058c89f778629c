package llama

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"

	"github.com/krserve/krserve/engined/kernels"
)

// Llama2C header constants.
const (
	llama2cMagic      = 0x616b3432 // "ak42" little-endian
	llama2cV2Header   = 256
	llama2cLegacySize = 7 * 4
	maxLlama2CFloats  = 1 << 34 // 64 GiB of fp32: anything larger is a corrupt header
)

// Llama2CHeader is the decoded header of a llama2.c checkpoint.
type Llama2CHeader struct {
	Version   int // 0 for the legacy fp32 format, 2 for int8 "ak42"
	Dim       int
	HiddenDim int
	NLayers   int
	NHeads    int
	NKVHeads  int
	Vocab     int
	SeqLen    int
	Shared    bool // classifier tied to the token embedding
	GroupSize int  // version 2: values per int8 scale group
	DataStart int  // offset of the first weight
}

func (h Llama2CHeader) config() Config {
	return Config{Dim: h.Dim, HiddenDim: h.HiddenDim, NLayers: h.NLayers, NHeads: h.NHeads, NKVHeads: h.NKVHeads,
		HeadDim: safeDiv(h.Dim, h.NHeads), Vocab: h.Vocab, Context: h.SeqLen, RopeTheta: 10000, RopeScale: 1,
		RopeStyle: kernels.RopeNorm, NormEps: 1e-5, BOS: 1, EOS: 2, StopAtBOS: true}
}

func safeDiv(a, b int) int {
	if b == 0 {
		return 0
	}
	return a / b
}

// ParseLlama2CHeader decodes and validates the header at the start of b.
// Errors wrap ErrFormat or ErrUnsupported (an unknown version).
func ParseLlama2CHeader(b []byte) (Llama2CHeader, error) {
	if len(b) < llama2cLegacySize {
		return Llama2CHeader{}, fmt.Errorf("%w: llama2.c checkpoint of %d bytes is shorter than its header", ErrFormat, len(b))
	}
	i32 := func(off int) int { return int(int32(binary.LittleEndian.Uint32(b[off:]))) }
	var h Llama2CHeader
	off := 0
	if binary.LittleEndian.Uint32(b) == llama2cMagic {
		if len(b) < llama2cV2Header {
			return Llama2CHeader{}, fmt.Errorf("%w: llama2.c v2 checkpoint of %d bytes is shorter than its %d-byte header", ErrFormat, len(b), llama2cV2Header)
		}
		h.Version = i32(4)
		if h.Version != 2 {
			return Llama2CHeader{}, fmt.Errorf("%w: llama2.c checkpoint version %d (only 0 and 2)", ErrUnsupported, h.Version)
		}
		off = 8
	}
	h.Dim, h.HiddenDim, h.NLayers, h.NHeads = i32(off), i32(off+4), i32(off+8), i32(off+12)
	h.NKVHeads, h.Vocab, h.SeqLen = i32(off+16), i32(off+20), i32(off+24)
	if h.Version == 2 {
		h.Shared = b[off+28] != 0
		h.GroupSize = int(int32(binary.LittleEndian.Uint32(b[off+29:])))
		h.DataStart = llama2cV2Header
		if h.GroupSize <= 0 || h.GroupSize > 1<<16 {
			return Llama2CHeader{}, fmt.Errorf("%w: llama2.c group size %d", ErrFormat, h.GroupSize)
		}
	} else {
		h.Shared = h.Vocab > 0
		if h.Vocab < 0 {
			h.Vocab = -h.Vocab
		}
		h.DataStart = llama2cLegacySize
	}
	if err := h.config().Validate(); err != nil {
		return Llama2CHeader{}, fmt.Errorf("%w: llama2.c header: %w", ErrFormat, err)
	}
	if h.Dim%h.NHeads != 0 {
		return Llama2CHeader{}, fmt.Errorf("%w: llama2.c header: %d heads do not divide dim %d", ErrFormat, h.NHeads, h.Dim)
	}
	return h, nil
}

// llama2cReader hands out consecutive little-endian arrays of a checkpoint.
type llama2cReader struct {
	b   []byte
	off int
	err error
}

func (r *llama2cReader) take(n int64, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > int64(len(r.b)-r.off) {
		r.err = fmt.Errorf("%w: llama2.c checkpoint truncated: %s needs %d bytes at offset %d, file has %d", ErrFormat, what, n, r.off, len(r.b))
		return nil
	}
	s := r.b[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return s
}

// floats returns n fp32 values as raw bytes.
func (r *llama2cReader) floats(n int64, what string) []byte {
	if n > maxLlama2CFloats {
		r.take(-1, what)
		return nil
	}
	return r.take(4*n, what)
}

func f32s(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func loadLlama2C(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("llama: %w", err)
	}
	m, err := ParseLlama2C(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// ParseLlama2C builds a model from a whole llama2.c checkpoint held in b.
// Legacy fp32 weights alias b; version 2 int8 weights are dequantized to
// F32 (each tensor in flat groups of GroupSize values, as export.py wrote
// them). The returned model has no backend: Load attaches one.
func ParseLlama2C(b []byte) (*Model, error) {
	h, err := ParseLlama2CHeader(b)
	if err != nil {
		return nil, err
	}
	c := h.config()
	m := &Model{cfg: c, format: "llama2c", tied: h.Shared}
	r := &llama2cReader{b: b, off: h.DataStart}
	L, dim, hd := int64(c.NLayers), int64(c.Dim), int64(c.HiddenDim)
	qd, kvd, vocab := int64(c.QDim()), int64(c.KVDim()), int64(c.Vocab)
	m.layers = make([]layer, c.NLayers)
	w := func(data []byte, rows, cols int64) kernels.Weights {
		return kernels.Weights{Type: kernels.F32, Rows: int(rows), Cols: int(cols), Data: data}
	}
	split := func(all []byte, rows, cols int64, set func(l *layer, w kernels.Weights)) {
		if all == nil {
			return
		}
		n := rows * cols * 4
		for i := range m.layers {
			set(&m.layers[i], w(all[int64(i)*n:int64(i+1)*n], rows, cols))
		}
	}
	splitVec := func(all []byte, set func(l *layer, v []float32)) {
		if all == nil {
			return
		}
		v := f32s(all)
		for i := range m.layers {
			set(&m.layers[i], v[int64(i)*dim:int64(i+1)*dim])
		}
	}
	if h.Version == 2 {
		m.format = "llama2c-q8"
		splitVec(r.floats(L*dim, "rms_att"), func(l *layer, v []float32) { l.attnNorm = v })
		splitVec(r.floats(L*dim, "rms_ffn"), func(l *layer, v []float32) { l.ffnNorm = v })
		if fb := r.floats(dim, "rms_final"); fb != nil {
			m.outNorm = f32s(fb)
		}
		gs := int64(h.GroupSize)
		q8 := func(n, size int64, what string) []byte {
			if r.err != nil {
				return nil
			}
			if size%gs != 0 {
				r.err = fmt.Errorf("%w: llama2.c %s of %d values is not a multiple of group size %d", ErrFormat, what, size, gs)
				return nil
			}
			if n*size > maxLlama2CFloats {
				r.take(-1, what)
				return nil
			}
			out := make([]byte, 0, n*size*4)
			for range n {
				q := r.take(size, what)
				s := r.take(size/gs*4, what+" scales")
				if r.err != nil {
					return nil
				}
				for g := int64(0); g < size/gs; g++ {
					scale := math.Float32frombits(binary.LittleEndian.Uint32(s[4*g:]))
					for _, v := range q[g*gs : (g+1)*gs] {
						out = binary.LittleEndian.AppendUint32(out, math.Float32bits(float32(int8(v))*scale))
					}
				}
			}
			return out
		}
		if emb := q8(1, vocab*dim, "token embedding"); emb != nil {
			m.tokEmb = w(emb, vocab, dim)
		}
		split(q8(L, qd*dim, "wq"), qd, dim, func(l *layer, w kernels.Weights) { l.wq = w })
		split(q8(L, kvd*dim, "wk"), kvd, dim, func(l *layer, w kernels.Weights) { l.wk = w })
		split(q8(L, kvd*dim, "wv"), kvd, dim, func(l *layer, w kernels.Weights) { l.wv = w })
		split(q8(L, dim*qd, "wo"), dim, qd, func(l *layer, w kernels.Weights) { l.wo = w })
		split(q8(L, hd*dim, "w1"), hd, dim, func(l *layer, w kernels.Weights) { l.gate = w })
		split(q8(L, dim*hd, "w2"), dim, hd, func(l *layer, w kernels.Weights) { l.down = w })
		split(q8(L, hd*dim, "w3"), hd, dim, func(l *layer, w kernels.Weights) { l.up = w })
		if h.Shared {
			m.output = m.tokEmb
		} else if cls := q8(1, vocab*dim, "classifier"); cls != nil {
			m.output = w(cls, vocab, dim)
		}
	} else {
		if emb := r.floats(vocab*dim, "token embedding"); emb != nil {
			m.tokEmb = w(emb, vocab, dim)
		}
		splitVec(r.floats(L*dim, "rms_att"), func(l *layer, v []float32) { l.attnNorm = v })
		split(r.floats(L*qd*dim, "wq"), qd, dim, func(l *layer, w kernels.Weights) { l.wq = w })
		split(r.floats(L*kvd*dim, "wk"), kvd, dim, func(l *layer, w kernels.Weights) { l.wk = w })
		split(r.floats(L*kvd*dim, "wv"), kvd, dim, func(l *layer, w kernels.Weights) { l.wv = w })
		split(r.floats(L*dim*qd, "wo"), dim, qd, func(l *layer, w kernels.Weights) { l.wo = w })
		splitVec(r.floats(L*dim, "rms_ffn"), func(l *layer, v []float32) { l.ffnNorm = v })
		split(r.floats(L*hd*dim, "w1"), hd, dim, func(l *layer, w kernels.Weights) { l.gate = w })
		split(r.floats(L*dim*hd, "w2"), dim, hd, func(l *layer, w kernels.Weights) { l.down = w })
		split(r.floats(L*hd*dim, "w3"), hd, dim, func(l *layer, w kernels.Weights) { l.up = w })
		if fb := r.floats(dim, "rms_final"); fb != nil {
			m.outNorm = f32s(fb)
		}
		// freq_cis_real and freq_cis_imag: seq_len * head_size/2 each, unused.
		r.floats(int64(c.Context)*int64(c.HeadDim), "freq_cis")
		if h.Shared {
			m.output = m.tokEmb
		} else if cls := r.floats(vocab*dim, "classifier"); cls != nil {
			m.output = w(cls, vocab, dim)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}
