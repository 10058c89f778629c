package gguf

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/krserve/krserve/internal/testenv"
)

func TestOpenStories260K(t *testing.T) {
	f, err := Open(testenv.SharedFile(t, "models/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Version != 3 {
		t.Errorf("version = %d, want 3", f.Version)
	}
	arch, err := f.String("general.architecture")
	if err != nil || arch != "llama" {
		t.Fatalf("architecture = %q, %v", arch, err)
	}
	ctx, err := f.Uint("llama.context_length")
	if err != nil || ctx != 512 {
		t.Errorf("context_length = %d, %v; want 512", ctx, err)
	}
	emb, err := f.Uint("llama.embedding_length")
	if err != nil || emb != 64 {
		t.Errorf("embedding_length = %d, %v; want 64", emb, err)
	}
	if len(f.Tensors) != 48 {
		t.Errorf("%d tensors, want 48", len(f.Tensors))
	}
	tokens, ok := mustGet(t, f, "tokenizer.ggml.tokens").Strings()
	if !ok || len(tokens) != 512 {
		t.Fatalf("tokens: %d, ok=%v", len(tokens), ok)
	}
	if tokens[3] != "<0x00>" {
		t.Errorf("token 3 = %q, want <0x00>", tokens[3])
	}
	info, data, err := f.TensorData("token_embd.weight")
	if err != nil {
		t.Fatal(err)
	}
	if info.Type != GGMLTypeF32 || !reflect.DeepEqual(info.Dims, []uint64{64, 512}) || len(data) != 64*512*4 {
		t.Errorf("token_embd: type %d dims %v bytes %d", info.Type, info.Dims, len(data))
	}
	if _, _, err := f.TensorData("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing tensor: %v, want ErrNotFound", err)
	}
	if _, err := f.String("llama.block_count"); !errors.Is(err, ErrFormat) {
		t.Errorf("wrong-type key: %v, want ErrFormat", err)
	}
}

func TestOpenVocabOnly(t *testing.T) {
	for _, name := range []string{"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf", "ggml-vocab-deepseek-llm.gguf"} {
		t.Run(name, func(t *testing.T) {
			f, err := Open(testenv.SharedFile(t, "vocab/"+name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if len(f.Tensors) != 0 {
				t.Errorf("%d tensors in a vocab-only file", len(f.Tensors))
			}
			model, err := f.String("tokenizer.ggml.model")
			if err != nil || model == "" {
				t.Errorf("tokenizer.ggml.model = %q, %v", model, err)
			}
		})
	}
}

func mustGet(t *testing.T, f *File, key string) Value {
	t.Helper()
	v, ok := f.Get(key)
	if !ok {
		t.Fatalf("missing key %q", key)
	}
	return v
}

func buildSample(t testing.TB) []byte {
	t.Helper()
	w := NewWriter()
	w.Set("general.architecture", "llama")
	w.Set("llama.block_count", uint32(2))
	w.Set("llama.rope.freq_base", float32(10000))
	w.Set("general.flag", true)
	w.Set("big", uint64(1<<40))
	w.Set("neg", int64(-5))
	w.Set("tokenizer.ggml.tokens", []string{"<unk>", "a", "b"})
	w.Set("tokenizer.ggml.scores", []float32{0, -1, -2})
	w.Set("tokenizer.ggml.token_type", []int32{2, 1, 1})
	w.AddTensor("a", GGMLTypeF32, []uint64{4, 2}, make([]byte, 32))
	w.AddTensor("b", GGMLTypeQ8_0, []uint64{32, 1}, bytes.Repeat([]byte{7}, 34))
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWriterRoundTrip(t *testing.T) {
	b := buildSample(t)
	f, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"general.architecture":      "llama",
		"llama.block_count":         uint32(2),
		"llama.rope.freq_base":      float32(10000),
		"general.flag":              true,
		"big":                       uint64(1 << 40),
		"neg":                       int64(-5),
		"tokenizer.ggml.tokens":     []string{"<unk>", "a", "b"},
		"tokenizer.ggml.scores":     []float32{0, -1, -2},
		"tokenizer.ggml.token_type": []int32{2, 1, 1},
	}
	for k, v := range want {
		got := mustGet(t, f, k)
		if !reflect.DeepEqual(got.Data, v) {
			t.Errorf("%s = %#v, want %#v", k, got.Data, v)
		}
	}
	_, data, err := f.TensorData("b")
	if err != nil || len(data) != 34 || data[33] != 7 {
		t.Fatalf("tensor b: %v %d", err, len(data))
	}
	if f.Tensors[1].Offset%uint64(f.Alignment) != 0 {
		t.Errorf("tensor b offset %d not aligned", f.Tensors[1].Offset)
	}
}

func TestWriterGolden(t *testing.T) {
	got := buildSample(t)
	path := filepath.Join("testdata", "sample.gguf")
	if os.Getenv("KRSERVE_UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with KRSERVE_UPDATE_GOLDEN=1 to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("writer output differs from %s (%d vs %d bytes): the on-disk format changed", path, len(got), len(want))
	}
}

func TestParseErrors(t *testing.T) {
	good := buildSample(t)
	bad := func(mut func([]byte) []byte) []byte { return mut(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrFormat},
		{"bad magic", bad(func(b []byte) []byte { b[0] = 'X'; return b }), ErrFormat},
		{"version 1", bad(func(b []byte) []byte { b[4] = 1; return b }), ErrUnsupported},
		{"truncated header", good[:40], ErrFormat},
		{"truncated data", good[:len(good)-40], ErrFormat},
		{"huge kv count", bad(func(b []byte) []byte { b[16], b[23] = 0xff, 0x7f; return b }), ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse(tt.in); !errors.Is(err, tt.want) {
				t.Errorf("Parse = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestWriterRejects(t *testing.T) {
	w := NewWriter()
	w.AddTensor("x", GGMLTypeQ8_0, []uint64{31, 1}, make([]byte, 34))
	if _, err := w.WriteTo(&bytes.Buffer{}); !errors.Is(err, ErrFormat) {
		t.Errorf("row not a multiple of the block: %v", err)
	}
	w = NewWriter()
	w.Set("k", struct{}{})
	if _, err := w.WriteTo(&bytes.Buffer{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("unsupported value: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(buildSample(f))
	if b, err := os.ReadFile(testenv.SharedFile(f, "models/stories260K.gguf")); err == nil {
		f.Add(b[:4096])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		for _, ti := range file.Tensors {
			_, _, _ = file.TensorData(ti.Name)
		}
	})
}
