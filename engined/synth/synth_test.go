package synth

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/krserve/krserve/engined/gguf"
	"github.com/krserve/krserve/engined/kernels"
	"github.com/krserve/krserve/internal/testenv"
)

func vocab(t testing.TB) string { return testenv.SharedFile(t, "vocab/ggml-vocab-llama-spm.gguf") }

func TestWriteShapesAndVocab(t *testing.T) {
	src, err := gguf.Open(vocab(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	p, _ := LookupPreset("stories260k")
	for _, typ := range []kernels.DType{kernels.F32, kernels.F16, kernels.Q8_0} {
		t.Run(typ.String(), func(t *testing.T) {
			var buf bytes.Buffer
			var prog bytes.Buffer
			n, err := Write(&buf, Config{Preset: p, Type: typ, VocabSource: vocab(t), Seed: 7, Progress: &prog})
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(buf.Len()) {
				t.Fatalf("Write returned %d, wrote %d", n, buf.Len())
			}
			if !bytes.Contains(prog.Bytes(), []byte("100%")) {
				t.Fatalf("progress never reached 100%%: %q", prog.String())
			}
			f, err := gguf.Parse(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			for _, kv := range src.Metadata {
				if len(kv.Key) > 10 && kv.Key[:10] == "tokenizer." {
					got, ok := f.Get(kv.Key)
					if !ok || !reflect.DeepEqual(got, kv.Value) {
						t.Fatalf("%s not copied verbatim", kv.Key)
					}
				}
			}
			if len(f.Tensors) != 2+9*5 {
				t.Fatalf("%d tensors, want %d (tied output)", len(f.Tensors), 2+9*5)
			}
			emb, _ := f.Tensor("token_embd.weight")
			if !reflect.DeepEqual(emb.Dims, []uint64{64, 32000}) || emb.Type != uint32(typ) {
				t.Fatalf("token_embd dims %v type %d", emb.Dims, emb.Type)
			}
			down, _ := f.Tensor("blk.0.ffn_down.weight")
			wantDown := typ
			if typ == kernels.Q8_0 {
				wantDown = kernels.F16 // 172 columns do not fit 32-value blocks
			}
			if down.Type != uint32(wantDown) {
				t.Fatalf("ffn_down type %d, want %v", down.Type, wantDown)
			}
			norm, data, _ := f.TensorData("blk.3.attn_norm.weight")
			vals := make([]float32, 64)
			if err := kernels.Dequantize(vals, data, kernels.DType(norm.Type)); err != nil || vals[0] != 1 || vals[63] != 1 {
				t.Fatalf("norm weights %v (%v), want ones", vals[:2], err)
			}
			_, q, _ := f.TensorData("blk.1.attn_q.weight")
			w := make([]float32, 64*64)
			if err := kernels.Dequantize(w, q, typ); err != nil {
				t.Fatal(err)
			}
			var ss float64
			for _, v := range w {
				ss += float64(v) * float64(v)
			}
			if std := ss / float64(len(w)); std < 0.015*0.015 || std > 0.025*0.025 {
				t.Fatalf("attn_q variance %.3g, want about 0.02²", std)
			}
		})
	}
}

func TestWriteIsDeterministic(t *testing.T) {
	p, _ := LookupPreset("stories260k")
	gen := func(seed uint64) []byte {
		var b bytes.Buffer
		if _, err := Write(&b, Config{Preset: p, Type: kernels.F16, VocabSource: vocab(t), Seed: seed}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	a, b, c := gen(1), gen(1), gen(2)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed gave different files")
	}
	if bytes.Equal(a, c) {
		t.Fatal("different seeds gave the same file")
	}
}

func TestUntiedPresetHasOutput(t *testing.T) {
	p, _ := LookupPreset("tinyllama-1.1b")
	p.NLayers, p.Dim, p.HiddenDim, p.NHeads, p.NKVHeads = 1, 64, 96, 4, 2 // same structure, tiny
	var b bytes.Buffer
	if _, err := Write(&b, Config{Preset: p, Type: kernels.Q8_0, VocabSource: vocab(t)}); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Tensor("output.weight"); !ok {
		t.Fatal("untied preset lacks output.weight")
	}
	if kv, _ := f.Uint("llama.attention.head_count_kv"); kv != 2 {
		t.Fatalf("head_count_kv %d", kv)
	}
}

func TestConfigErrors(t *testing.T) {
	p, _ := LookupPreset("default")
	bad := p
	bad.NKVHeads = 3
	for _, tc := range []struct {
		name string
		cfg  Config
		want error
	}{
		{"bad preset", Config{Preset: bad, Type: kernels.F32, VocabSource: vocab(t)}, ErrPreset},
		{"bad type", Config{Preset: p, Type: 99, VocabSource: vocab(t)}, ErrType},
		{"no vocab", Config{Preset: p, Type: kernels.F32}, ErrVocab},
		{"vocab not gguf", Config{Preset: p, Type: kernels.F32, VocabSource: testenv.SharedFile(t, "models/tok512.bin")}, ErrVocab},
		{"vocab of a model file", Config{Preset: p, Type: kernels.F32, VocabSource: testenv.SharedFile(t, "models/stories260K.gguf")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Write(&bytes.Buffer{}, tc.cfg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := LookupPreset("gpt5"); !errors.Is(err, ErrPreset) {
		t.Fatalf("unknown preset: %v", err)
	}
	if _, err := ParseType("q6_k"); !errors.Is(err, ErrType) {
		t.Fatalf("q6_k: %v", err)
	}
}

func TestEnsureDefault(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	path, err := EnsureDefault(dir, vocab(t))
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	again, err := EnsureDefault(dir, vocab(t))
	if err != nil || again != path {
		t.Fatalf("second call: %s %v", again, err)
	}
	st2, _ := os.Stat(path)
	if !st2.ModTime().Equal(st.ModTime()) {
		t.Fatal("second call rewrote the file")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("cache holds %d entries, want 1 (no temporary left)", len(ents))
	}
}
