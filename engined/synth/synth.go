package synth

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/krserve/krserve/engined/gguf"
	"github.com/krserve/krserve/engined/kernels"
)

// Sentinel errors.
var (
	// ErrPreset: an unknown preset name or an impossible shape; pick one
	// of PresetNames.
	ErrPreset = errors.New("synth: bad preset")
	// ErrType: a weight type synth cannot write; use f32, f16, bf16,
	// q8_0, q4_0 or q4_k.
	ErrType = errors.New("synth: unsupported weight type")
	// ErrVocab: the vocabulary source is missing or has no
	// tokenizer.ggml.tokens; point it at a GGUF file with a vocabulary
	// (such as a ggml-vocab-*.gguf file).
	ErrVocab = errors.New("synth: bad vocabulary source")
)

// Config says what to synthesize.
type Config struct {
	Preset Preset
	// Type of the 2-D weights; norms are always F32. A tensor whose row
	// length does not fit the type's block (stories260k's ffn_down rows of
	// 172 for Q8_0) is written as F16 instead, as llama.cpp's quantizer does.
	Type kernels.DType
	// VocabSource is a GGUF file whose tokenizer.* metadata is copied
	// verbatim; its token count sets the embedding rows.
	VocabSource string
	// Seed makes the weights reproducible.
	Seed uint64
	// Progress, when set, receives a progress line (stderr for big models).
	Progress io.Writer
}

// ParseType maps "f32", "f16", "bf16", "q8_0", "q4_0", "q4_k" to a DType.
func ParseType(s string) (kernels.DType, error) {
	switch strings.ToLower(s) {
	case "f32":
		return kernels.F32, nil
	case "f16":
		return kernels.F16, nil
	case "bf16":
		return kernels.BF16, nil
	case "q8_0":
		return kernels.Q8_0, nil
	case "q4_0":
		return kernels.Q4_0, nil
	case "q4_k":
		return kernels.Q4_K, nil
	}
	return 0, fmt.Errorf("%w: %q", ErrType, s)
}

// fileType is GGUF general.file_type (llama_ftype) of a mostly-t model.
func fileType(t kernels.DType) uint32 {
	switch t {
	case kernels.F16:
		return 1
	case kernels.Q4_0:
		return 2
	case kernels.Q8_0:
		return 7
	case kernels.Q4_K:
		return 15 // Q4_K_M
	case kernels.BF16:
		return 32
	}
	return 0
}

// Validate checks the preset, type and vocabulary path.
func (c Config) Validate() error {
	if err := c.Preset.Validate(); err != nil {
		return err
	}
	if _, err := ParseType(c.Type.String()); err != nil {
		return err
	}
	if c.VocabSource == "" {
		return fmt.Errorf("%w: no vocabulary source given", ErrVocab)
	}
	return nil
}

type tensor struct {
	name       string
	rows, cols int // rows = 1 for a vector
	vector     bool
	std        float64 // 0: constant 1 (norms)
}

func (c Config) tensors(vocab int) []tensor {
	p := c.Preset
	hd := p.Dim / p.NHeads
	qd, kvd := p.NHeads*hd, p.NKVHeads*hd
	const std = 0.02
	proj := std / math.Sqrt(2*float64(p.NLayers)) // residual projections, GPT-2 style
	ts := []tensor{{name: "token_embd.weight", rows: vocab, cols: p.Dim, std: std},
		{name: "output_norm.weight", rows: 1, cols: p.Dim, vector: true}}
	if !p.Tied {
		ts = append(ts, tensor{name: "output.weight", rows: vocab, cols: p.Dim, std: std})
	}
	for l := range p.NLayers {
		b := fmt.Sprintf("blk.%d.", l)
		ts = append(ts,
			tensor{name: b + "attn_norm.weight", rows: 1, cols: p.Dim, vector: true},
			tensor{name: b + "attn_q.weight", rows: qd, cols: p.Dim, std: std},
			tensor{name: b + "attn_k.weight", rows: kvd, cols: p.Dim, std: std},
			tensor{name: b + "attn_v.weight", rows: kvd, cols: p.Dim, std: std},
			tensor{name: b + "attn_output.weight", rows: p.Dim, cols: qd, std: proj},
			tensor{name: b + "ffn_norm.weight", rows: 1, cols: p.Dim, vector: true},
			tensor{name: b + "ffn_gate.weight", rows: p.HiddenDim, cols: p.Dim, std: std},
			tensor{name: b + "ffn_down.weight", rows: p.Dim, cols: p.HiddenDim, std: proj},
			tensor{name: b + "ffn_up.weight", rows: p.HiddenDim, cols: p.Dim, std: std},
		)
	}
	return ts
}

// typeFor returns the type a tensor is written in.
func (c Config) typeFor(t tensor) kernels.DType {
	if t.vector {
		return kernels.F32
	}
	if t.cols%c.Type.BlockSize() != 0 {
		return kernels.F16
	}
	return c.Type
}

// Write synthesizes the model into w, streaming: only one row of weights is
// in memory at a time. It returns the bytes written.
func Write(w io.Writer, c Config) (int64, error) {
	if err := c.Validate(); err != nil {
		return 0, err
	}
	vf, err := gguf.Open(c.VocabSource)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrVocab, err)
	}
	defer vf.Close()
	tv, ok := vf.Get("tokenizer.ggml.tokens")
	vocab := tv.Len()
	if !ok || vocab <= 0 {
		return 0, fmt.Errorf("%w: %s has no tokenizer.ggml.tokens", ErrVocab, c.VocabSource)
	}
	p := c.Preset
	hd := p.Dim / p.NHeads
	gw := gguf.NewWriter()
	gw.Set("general.architecture", "llama")
	gw.Set("general.name", "krserve-synth-"+p.Name)
	gw.Set("general.description", fmt.Sprintf("random weights (seed %d), shape %s: text is meaningless", c.Seed, p.Name))
	gw.Set("general.file_type", fileType(c.Type))
	gw.Set("llama.vocab_size", uint32(vocab))
	gw.Set("llama.context_length", uint32(p.Context))
	gw.Set("llama.embedding_length", uint32(p.Dim))
	gw.Set("llama.block_count", uint32(p.NLayers))
	gw.Set("llama.feed_forward_length", uint32(p.HiddenDim))
	gw.Set("llama.rope.dimension_count", uint32(hd))
	gw.Set("llama.attention.head_count", uint32(p.NHeads))
	gw.Set("llama.attention.head_count_kv", uint32(p.NKVHeads))
	gw.Set("llama.attention.layer_norm_rms_epsilon", p.NormEps)
	gw.Set("llama.rope.freq_base", p.RopeTheta)
	for _, kv := range vf.Metadata {
		if strings.HasPrefix(kv.Key, "tokenizer.") {
			gw.Set(kv.Key, kv.Value)
		}
	}
	ts := c.tensors(vocab)
	var total int64
	for _, t := range ts {
		rb, err := c.typeFor(t).RowBytes(t.cols)
		if err != nil {
			return 0, fmt.Errorf("%w: %s: %w", ErrType, t.name, err)
		}
		total += int64(rb) * int64(t.rows)
	}
	prog := &progress{out: c.Progress, total: total, last: -1}
	for i, t := range ts {
		typ := c.typeFor(t)
		dims := []uint64{uint64(t.cols), uint64(t.rows)}
		if t.vector {
			dims = dims[:1]
		}
		gw.AddTensorFunc(t.name, uint32(typ), dims, func(out io.Writer) error {
			return writeTensor(out, prog, t, typ, c.Seed, uint64(i))
		})
	}
	n, err := gw.WriteTo(w)
	prog.done()
	return n, err
}

func writeTensor(out io.Writer, prog *progress, t tensor, typ kernels.DType, seed, idx uint64) error {
	rng := rand.New(rand.NewPCG(seed, idx))
	row := make([]float32, t.cols)
	rb, _ := typ.RowBytes(t.cols)
	buf := make([]byte, rb)
	for range t.rows {
		for j := range row {
			if t.std == 0 {
				row[j] = 1
			} else {
				row[j] = float32(rng.NormFloat64() * t.std)
			}
		}
		if err := kernels.Quantize(buf, row, typ); err != nil {
			return err
		}
		if _, err := out.Write(buf); err != nil {
			return err
		}
		prog.add(int64(rb))
	}
	return nil
}

// WriteFile synthesizes into path atomically: it writes a temporary file in
// the same directory and renames it into place.
func WriteFile(path string, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	werr := tmp.Chmod(0o644)
	if werr == nil {
		_, werr = Write(tmp, c)
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return werr
	}
	return nil
}

// DefaultType is the weight type of the default model.
const DefaultType = kernels.Q8_0

// DefaultSeed is the seed of the default model.
const DefaultSeed = 1

// EnsureDefault returns the path of the default model in cacheDir,
// synthesizing it (preset "default", Q8_0, seed 1, vocabulary from
// vocabSrc) on first use. The file name includes the vocabulary's base
// name, so different vocabularies do not collide; concurrent callers are
// safe because the file appears by atomic rename.
func EnsureDefault(cacheDir, vocabSrc string) (string, error) {
	p, _ := LookupPreset("default")
	base := strings.TrimSuffix(filepath.Base(vocabSrc), filepath.Ext(vocabSrc))
	path := filepath.Join(cacheDir, fmt.Sprintf("krserve-default-%s-%s.gguf", base, strings.ToLower(DefaultType.String())))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("synth: %w", err)
	}
	if err := WriteFile(path, Config{Preset: p, Type: DefaultType, VocabSource: vocabSrc, Seed: DefaultSeed}); err != nil {
		return "", err
	}
	return path, nil
}

// progress prints "synth: 42% (123/456 MB)" lines on out when the
// percentage changes. A nil out prints nothing.
type progress struct {
	out            io.Writer
	total, written int64
	last           int
}

func (p *progress) add(n int64) {
	if p.out == nil || p.total == 0 {
		return
	}
	p.written += n
	pct := int(p.written * 100 / p.total)
	if pct != p.last {
		p.last = pct
		fmt.Fprintf(p.out, "\rsynth: %3d%% (%d/%d MB)", pct, p.written>>20, p.total>>20)
	}
}

func (p *progress) done() {
	if p.out != nil && p.last >= 0 {
		fmt.Fprintln(p.out)
	}
}
