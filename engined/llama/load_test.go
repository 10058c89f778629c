package llama

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/krserve/krserve/engined/gguf"
	"github.com/krserve/krserve/engined/kernels"
	"github.com/krserve/krserve/engined/synth"
	"github.com/krserve/krserve/internal/testenv"
)

// synthModel writes a random-weight model of the given preset and type to
// a temporary file.
func synthModel(t testing.TB, preset string, typ kernels.DType) string {
	t.Helper()
	p, err := synth.LookupPreset(preset)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), preset+"-"+typ.String()+".gguf")
	err = synth.WriteFile(path, synth.Config{Preset: p, Type: typ, Seed: 3,
		VocabSource: testenv.SharedFile(t, "vocab/ggml-vocab-llama-spm.gguf")})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSynthesizedModelsParity(t *testing.T) {
	for _, tc := range []struct {
		typ kernels.DType
		tol float64
	}{
		{kernels.F32, 1e-4},
		{kernels.F16, 1e-4},
		{kernels.BF16, 1e-4},
		{kernels.Q8_0, 2e-2}, // native quantizes activations to Q8_0 as ggml does
		{kernels.Q4_0, 5e-2},
		{kernels.Q4_K, 1e-4},
	} {
		t.Run(tc.typ.String(), func(t *testing.T) {
			path := synthModel(t, "default", tc.typ)
			ref, err := Load(path, WithBackend(BackendReference, 1))
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			nat, err := Load(path, WithBackend(BackendNative, 2))
			if err != nil {
				t.Fatal(err)
			}
			defer nat.Close()
			c := nat.Config()
			if c.Vocab != 32000 || c.Dim != 256 || c.NKVHeads != 4 || !nat.Tied() || nat.WeightType() != tc.typ {
				t.Fatalf("config %+v tied %v type %v", c, nat.Tied(), nat.WeightType())
			}
			tokens := []int32{1, 450, 4996, 17354, 1701, 432, 17204, 975, 278, 17366, 11203}
			a, b := runAlone(t, ref, tokens), runAlone(t, nat, tokens)
			for i := range a {
				if e := relErr(b[i], a[i]); e > tc.tol || math.IsNaN(e) {
					t.Fatalf("position %d: native logits differ from reference by %.2g (tolerance %.0g)", i, e, tc.tol)
				}
			}
			if tc.tol <= 1e-4 {
				gr, gn := greedy(t, ref, tokens, 8), greedy(t, nat, tokens, 8)
				if len(gn.IDs) != 8 || !equalIDs(gr.IDs, gn.IDs) {
					t.Fatalf("greedy ids differ: reference %v native %v", gr.IDs, gn.IDs)
				}
			}
		})
	}
}

func equalIDs(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ggufSpec builds small llama GGUF files for error tests.
type ggufSpec struct {
	meta    map[string]any
	skip    string // tensor left out
	retype  string // tensor written with type Q6_K
	reshape string // tensor given one extra column
}

func (s ggufSpec) bytes(t testing.TB) []byte {
	t.Helper()
	const dim, hidden, layers, vocab = 16, 16, 1, 8
	meta := map[string]any{
		"general.architecture": "llama", "llama.embedding_length": uint32(dim), "llama.feed_forward_length": uint32(hidden),
		"llama.block_count": uint32(layers), "llama.attention.head_count": uint32(4), "llama.attention.head_count_kv": uint32(2),
		"llama.context_length": uint32(64),
	}
	for k, v := range s.meta {
		if v == nil {
			delete(meta, k)
		} else {
			meta[k] = v
		}
	}
	w := gguf.NewWriter()
	for _, k := range []string{"general.architecture", "llama.embedding_length", "llama.feed_forward_length", "llama.block_count",
		"llama.attention.head_count", "llama.attention.head_count_kv", "llama.context_length", "llama.rope.scaling.type",
		"llama.rope.scaling.factor", "llama.rope.dimension_count", "llama.vocab_size"} {
		if v, ok := meta[k]; ok {
			w.Set(k, v)
		}
	}
	add := func(name string, rows, cols int) {
		if name == s.skip {
			return
		}
		if name == s.reshape {
			cols++
		}
		dims := []uint64{uint64(cols), uint64(rows)}
		if rows == 0 {
			dims = dims[:1]
			rows = 1
		}
		if name == s.retype {
			w.AddTensor(name, gguf.GGMLTypeQ6_K, []uint64{256}, make([]byte, 210))
			return
		}
		w.AddTensor(name, gguf.GGMLTypeF32, dims, make([]byte, 4*rows*cols))
	}
	add("token_embd.weight", vocab, dim)
	add("output_norm.weight", 0, dim)
	add("blk.0.attn_norm.weight", 0, dim)
	add("blk.0.ffn_norm.weight", 0, dim)
	add("blk.0.attn_q.weight", dim, dim)
	add("blk.0.attn_k.weight", dim/2, dim)
	add("blk.0.attn_v.weight", dim/2, dim)
	add("blk.0.attn_output.weight", dim, dim)
	add("blk.0.ffn_gate.weight", hidden, dim)
	add("blk.0.ffn_up.weight", hidden, dim)
	add("blk.0.ffn_down.weight", dim, hidden)
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadGGUFErrors(t *testing.T) {
	good := ggufSpec{}.bytes(t)
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"good", good, nil},
		{"linear rope scaling", ggufSpec{meta: map[string]any{"llama.rope.scaling.type": "linear", "llama.rope.scaling.factor": float32(4)}}.bytes(t), nil},
		{"other arch", ggufSpec{meta: map[string]any{"general.architecture": "qwen2"}}.bytes(t), ErrUnsupported},
		{"yarn scaling", ggufSpec{meta: map[string]any{"llama.rope.scaling.type": "yarn"}}.bytes(t), ErrUnsupported},
		{"partial rope", ggufSpec{meta: map[string]any{"llama.rope.dimension_count": uint32(2)}}.bytes(t), ErrUnsupported},
		{"q6_k tensor", ggufSpec{retype: "blk.0.ffn_up.weight"}.bytes(t), ErrUnsupported},
		{"missing key", ggufSpec{meta: map[string]any{"llama.block_count": nil}}.bytes(t), ErrFormat},
		{"key of wrong type", ggufSpec{meta: map[string]any{"llama.block_count": "one"}}.bytes(t), ErrFormat},
		{"missing tensor", ggufSpec{skip: "blk.0.ffn_down.weight"}.bytes(t), ErrFormat},
		{"wrong shape", ggufSpec{reshape: "blk.0.attn_k.weight"}.bytes(t), ErrFormat},
		{"vocab size disagrees", ggufSpec{meta: map[string]any{"llama.vocab_size": uint32(9)}}.bytes(t), ErrFormat},
		{"heads do not divide", ggufSpec{meta: map[string]any{"llama.attention.head_count": uint32(5)}}.bytes(t), ErrFormat},
		{"kv heads do not divide", ggufSpec{meta: map[string]any{"llama.attention.head_count_kv": uint32(3)}}.bytes(t), ErrConfig},
		{"truncated", good[:len(good)-100], ErrFormat},
		{"header only", good[:30], ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Load(writeTemp(t, "m.gguf", tc.data), WithBackend(BackendReference, 1))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err == nil {
				if tc.name == "linear rope scaling" && m.Config().RopeScale != 0.25 {
					t.Fatalf("rope scale %v, want 0.25", m.Config().RopeScale)
				}
				m.Close()
			}
		})
	}
}

func TestLoadLlama2CErrors(t *testing.T) {
	bin, err := os.ReadFile(testenv.SharedFile(t, "models/stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	q8, err := os.ReadFile(testenv.SharedFile(t, "models/stories260K-q8.bin"))
	if err != nil {
		t.Fatal(err)
	}
	patch := func(b []byte, off int, v int32) []byte {
		c := bytes.Clone(b)
		binary.LittleEndian.PutUint32(c[off:], uint32(v))
		return c
	}
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"truncated weights", bin[:len(bin)-1], ErrFormat},
		{"truncated header", bin[:20], ErrFormat},
		{"zero layers", patch(bin, 8, 0), ErrFormat},
		{"heads do not divide dim", patch(bin, 12, 7), ErrFormat},
		{"kv heads do not divide heads", patch(bin, 16, 3), ErrFormat},
		{"huge vocab", patch(bin, 20, math.MaxInt32), ErrFormat},
		{"negative vocab means untied, then truncated", patch(bin, 20, -512), ErrFormat},
		{"v2 bad version", patch(q8, 4, 3), ErrUnsupported},
		{"v2 group size does not divide", patch(q8, 37, 7), ErrFormat},
		{"v2 truncated", q8[:len(q8)-4], ErrFormat},
		{"v2 short header", q8[:100], ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseLlama2C(tc.data); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "absent.bin")); err == nil {
		t.Fatal("missing file loaded")
	}
	if _, err := Load(writeTemp(t, "m.bin", bin), WithBackend("gpu", 1)); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad backend: %v", err)
	}
	if _, err := Load(writeTemp(t, "m.bin", bin), WithBackend(BackendNative, 0)); !errors.Is(err, ErrConfig) {
		t.Fatalf("zero threads: %v", err)
	}
}

func FuzzParseLlama2C(f *testing.F) {
	for _, rel := range []string{"models/stories260K.bin", "models/stories260K-q8.bin"} {
		b, err := os.ReadFile(testenv.SharedFile(f, rel))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:300])
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseLlama2C(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if m.check() != nil {
			t.Fatal("parsed model fails its own check")
		}
	})
}

func FuzzLoadGGUF(f *testing.F) {
	f.Add(ggufSpec{}.bytes(f))
	f.Add(ggufSpec{meta: map[string]any{"llama.rope.scaling.type": "linear", "llama.rope.scaling.factor": float32(2)}}.bytes(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		gf, err := gguf.Parse(b)
		if err != nil {
			return
		}
		if _, err := modelFromGGUF(gf); err != nil && !errors.Is(err, ErrFormat) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrConfig) {
			t.Fatalf("untyped error %v", err)
		}
	})
}
