package llama

import (
	"errors"
	"fmt"
	"math"

	"github.com/krserve/krserve/engined/gguf"
	"github.com/krserve/krserve/engined/kernels"
)

// FromGGUF builds a model over an open GGUF file without taking ownership
// of it: the caller closes f after the model. Load is the usual entry point.
func FromGGUF(f *gguf.File, opts ...Option) (*Model, error) {
	o := options{backend: BackendNative, threads: 1}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	m, err := modelFromGGUF(f)
	if err != nil {
		return nil, err
	}
	if err := m.attach(o); err != nil {
		return nil, err
	}
	return m, nil
}

func loadGGUF(path string) (*Model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, ggufErr(err)
	}
	m, err := modelFromGGUF(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m.file = f
	return m, nil
}

// ggufErr maps gguf sentinels onto this package's, keeping both in the chain.
func ggufErr(err error) error {
	switch {
	case errors.Is(err, gguf.ErrUnsupported):
		return fmt.Errorf("%w: %w", ErrUnsupported, err)
	case errors.Is(err, gguf.ErrFormat), errors.Is(err, gguf.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return fmt.Errorf("llama: %w", err)
}

// ConfigFromGGUF reads the hyper-parameters of a llama-architecture file.
func ConfigFromGGUF(f *gguf.File) (Config, error) {
	arch, err := f.String("general.architecture")
	if err != nil {
		return Config{}, ggufErr(err)
	}
	if arch != "llama" {
		return Config{}, fmt.Errorf("%w: architecture %q (only \"llama\")", ErrUnsupported, arch)
	}
	var firstErr error
	u := func(key string, def int) int {
		var v uint64
		var err error
		if def < 0 {
			v, err = f.Uint(key)
		} else {
			v, err = f.UintOr(key, uint64(def))
		}
		if err == nil && v > math.MaxInt32 {
			err = fmt.Errorf("%w: %s = %d is too large", ErrFormat, key, v)
		}
		if err != nil && firstErr == nil {
			firstErr = ggufErr(err)
		}
		return int(v)
	}
	fl := func(key string, def float64) float32 {
		v, err := f.FloatOr(key, def)
		if err != nil && firstErr == nil {
			firstErr = ggufErr(err)
		}
		return float32(v)
	}
	c := Config{
		Dim:       u("llama.embedding_length", -1),
		HiddenDim: u("llama.feed_forward_length", -1),
		NLayers:   u("llama.block_count", -1),
		NHeads:    u("llama.attention.head_count", -1),
		Context:   u("llama.context_length", 2048),
		RopeTheta: fl("llama.rope.freq_base", 10000),
		NormEps:   fl("llama.attention.layer_norm_rms_epsilon", 1e-5),
		RopeScale: 1,
		RopeStyle: kernels.RopeNorm,
		BOS:       tokenID(f, "tokenizer.ggml.bos_token_id", 1),
		EOS:       tokenID(f, "tokenizer.ggml.eos_token_id", 2),
	}
	c.NKVHeads = u("llama.attention.head_count_kv", c.NHeads)
	if firstErr != nil {
		return Config{}, firstErr
	}
	if c.NHeads <= 0 || c.Dim%c.NHeads != 0 {
		return Config{}, fmt.Errorf("%w: %d heads do not divide width %d", ErrFormat, c.NHeads, c.Dim)
	}
	c.HeadDim = u("llama.attention.key_length", c.Dim/c.NHeads)
	if vl := u("llama.attention.value_length", c.HeadDim); vl != c.HeadDim {
		return Config{}, fmt.Errorf("%w: value length %d differs from key length %d", ErrUnsupported, vl, c.HeadDim)
	}
	if rd := u("llama.rope.dimension_count", c.HeadDim); rd != c.HeadDim {
		return Config{}, fmt.Errorf("%w: partial rotary embedding (%d of %d dims)", ErrUnsupported, rd, c.HeadDim)
	}
	if firstErr != nil {
		return Config{}, firstErr
	}
	if v, ok := f.Get("llama.rope.scaling.type"); ok {
		s, _ := v.Str()
		switch s {
		case "none", "":
		case "linear":
			if factor := fl("llama.rope.scaling.factor", 1); factor > 0 {
				c.RopeScale = 1 / factor
			} else {
				return Config{}, fmt.Errorf("%w: rope scaling factor %v", ErrFormat, factor)
			}
		default:
			return Config{}, fmt.Errorf("%w: rope scaling %q (only linear)", ErrUnsupported, s)
		}
	} else if _, ok := f.Get("llama.rope.scale_linear"); ok {
		if factor := fl("llama.rope.scale_linear", 1); factor > 0 {
			c.RopeScale = 1 / factor
		}
	}
	if firstErr != nil {
		return Config{}, firstErr
	}
	if _, ok := f.Tensor("rope_freqs.weight"); ok {
		return Config{}, fmt.Errorf("%w: per-dimension rope frequency factors (Llama 3.1 rope scaling)", ErrUnsupported)
	}
	ti, ok := f.Tensor("token_embd.weight")
	if !ok {
		return Config{}, fmt.Errorf("%w: no tensor token_embd.weight", ErrFormat)
	}
	if len(ti.Dims) != 2 || ti.Dims[1] == 0 || ti.Dims[1] > math.MaxInt32 {
		return Config{}, fmt.Errorf("%w: token_embd.weight has dims %v", ErrFormat, ti.Dims)
	}
	c.Vocab = int(ti.Dims[1])
	if v := u("llama.vocab_size", c.Vocab); v != c.Vocab {
		return Config{}, fmt.Errorf("%w: llama.vocab_size %d but token_embd has %d rows", ErrFormat, v, c.Vocab)
	}
	if firstErr != nil {
		return Config{}, firstErr
	}
	return c, c.Validate()
}

func modelFromGGUF(f *gguf.File) (*Model, error) {
	c, err := ConfigFromGGUF(f)
	if err != nil {
		return nil, err
	}
	m := &Model{cfg: c, format: "gguf"}
	if m.tokEmb, err = ggufMatrix(f, "token_embd.weight", c.Vocab, c.Dim); err != nil {
		return nil, err
	}
	if _, ok := f.Tensor("output.weight"); ok {
		if m.output, err = ggufMatrix(f, "output.weight", c.Vocab, c.Dim); err != nil {
			return nil, err
		}
	} else {
		m.output, m.tied = m.tokEmb, true
	}
	if m.outNorm, err = ggufVector(f, "output_norm.weight", c.Dim); err != nil {
		return nil, err
	}
	m.layers = make([]layer, c.NLayers)
	for i := range m.layers {
		l := &m.layers[i]
		p := fmt.Sprintf("blk.%d.", i)
		for _, t := range []struct {
			name       string
			dst        *kernels.Weights
			rows, cols int
		}{
			{"attn_q", &l.wq, c.QDim(), c.Dim}, {"attn_k", &l.wk, c.KVDim(), c.Dim},
			{"attn_v", &l.wv, c.KVDim(), c.Dim}, {"attn_output", &l.wo, c.Dim, c.QDim()},
			{"ffn_gate", &l.gate, c.HiddenDim, c.Dim}, {"ffn_up", &l.up, c.HiddenDim, c.Dim},
			{"ffn_down", &l.down, c.Dim, c.HiddenDim},
		} {
			if *t.dst, err = ggufMatrix(f, p+t.name+".weight", t.rows, t.cols); err != nil {
				return nil, err
			}
		}
		if l.attnNorm, err = ggufVector(f, p+"attn_norm.weight", c.Dim); err != nil {
			return nil, err
		}
		if l.ffnNorm, err = ggufVector(f, p+"ffn_norm.weight", c.Dim); err != nil {
			return nil, err
		}
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}

func ggufMatrix(f *gguf.File, name string, rows, cols int) (kernels.Weights, error) {
	ti, data, err := f.TensorData(name)
	if err != nil {
		return kernels.Weights{}, fmt.Errorf("%w: tensor %s: %w", ErrFormat, name, ggufErr(err))
	}
	t := kernels.DType(ti.Type)
	if !t.Known() {
		return kernels.Weights{}, fmt.Errorf("%w: tensor %s has type %s", ErrUnsupported, name, gguf.TypeName(ti.Type))
	}
	if len(ti.Dims) != 2 || ti.Dims[0] != uint64(cols) || ti.Dims[1] != uint64(rows) {
		return kernels.Weights{}, fmt.Errorf("%w: tensor %s has dims %v, want [%d %d]", ErrFormat, name, ti.Dims, cols, rows)
	}
	w := kernels.Weights{Type: t, Rows: rows, Cols: cols, Data: data}
	if err := w.Validate(); err != nil {
		return kernels.Weights{}, fmt.Errorf("%w: tensor %s: %w", ErrFormat, name, err)
	}
	return w, nil
}

// ggufVector decodes a norm weight of any known type to float32.
func ggufVector(f *gguf.File, name string, n int) ([]float32, error) {
	ti, data, err := f.TensorData(name)
	if err != nil {
		return nil, fmt.Errorf("%w: tensor %s: %w", ErrFormat, name, ggufErr(err))
	}
	if len(ti.Dims) != 1 || ti.Dims[0] != uint64(n) {
		return nil, fmt.Errorf("%w: tensor %s has dims %v, want [%d]", ErrFormat, name, ti.Dims, n)
	}
	t := kernels.DType(ti.Type)
	if !t.Known() {
		return nil, fmt.Errorf("%w: tensor %s has type %s", ErrUnsupported, name, gguf.TypeName(ti.Type))
	}
	out := make([]float32, n)
	if err := kernels.Dequantize(out, data, t); err != nil {
		return nil, fmt.Errorf("%w: tensor %s: %w", ErrFormat, name, err)
	}
	return out, nil
}

// tokenID reads a special token id; absent, negative or out-of-range values
// (vocabularies store "none" as 0xFFFFFFFF) give def or -1.
func tokenID(f *gguf.File, key string, def int32) int32 {
	v, ok := f.Get(key)
	if !ok {
		return def
	}
	if id, ok := v.Int(); ok && id >= 0 && id <= math.MaxInt32 {
		return int32(id)
	}
	return -1
}
