package bpe

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/krserve/krserve/engined/gguf"
	"github.com/krserve/krserve/internal/testenv"
)

// fuzzModels are the vocabularies FuzzRoundTrip checks, one per
// pre-tokenizer family.
func fuzzModels(t testing.TB) []*Model {
	ms := []*Model{tiktoken(t, "cl100k_base").Model, tiktoken(t, "o200k_base").Model}
	for _, v := range ggufVocabs {
		ms = append(ms, loadGGUFVocab(t, v.name).Model)
	}
	return ms
}

// FuzzRoundTrip checks decode(encode(x)) == x for every vocabulary, that
// SafeSplit cuts are exact, and that encoding appends without touching dst.
func FuzzRoundTrip(f *testing.F) {
	for _, c := range readGolden(f, "cl100k_base.jsonl") {
		f.Add(c.Text)
	}
	for _, v := range ggufVocabs[:1] {
		for _, c := range readVectors(f, v.name) {
			f.Add(c.Text)
		}
	}
	f.Add("\xff\xfe invalid \xc3 utf-8 \xe4\xb8")
	models := fuzzModels(f)
	f.Fuzz(func(t *testing.T, text string) {
		for _, m := range models {
			ids := m.Encode([]int32{-7}, text)
			if ids[0] != -7 {
				t.Fatalf("%s: Encode overwrote dst", m.Pretokenizer())
			}
			// Some vocabularies have no token for a few bytes (see
			// TestByteCoverage); such bytes are dropped, as llama.cpp and
			// Hugging Face tokenizers drop them.
			var keep []byte
			for i := 0; i < len(text); i++ {
				if m.byteID[text[i]] >= 0 {
					keep = append(keep, text[i])
				}
			}
			want := string(keep)
			if m.byteStandIns && !utf8.ValidString(text) {
				continue
			}
			if got := decodeAll(m, ids[1:]); got != want {
				t.Fatalf("%s: decode(encode(%q)) = %q", m.Pretokenizer(), text, got)
			}
			if cut := m.SafeSplit(text, len(text)/2); cut > 0 {
				split := m.Encode(m.Encode(nil, text[:cut]), text[cut:])
				if !slices.Equal(split, ids[1:]) {
					t.Fatalf("%s: SafeSplit(%q) = %d is not exact", m.Pretokenizer(), text, cut)
				}
			}
		}
	})
}

// FuzzLoadHFJSON feeds arbitrary bytes to LoadHFJSON: no panic, and every
// failure is one of the package's sentinel errors.
func FuzzLoadHFJSON(f *testing.F) {
	f.Add([]byte(tinyHFJSON))
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0},"merges":[["a","a"]]}}`))
	f.Add([]byte(`{"model":{"type":"WordPiece"}}`))
	f.Add([]byte(`[1,2,3]`))
	f.Add([]byte(`{"added_tokens":[{"id":-1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := LoadHFJSON(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		text := "Hello, world! 123 \xff ab\tc"
		ids := l.Model.Encode(nil, text)
		complete := true
		for _, id := range l.Model.byteID {
			complete = complete && id >= 0
		}
		if got := decodeAll(l.Model, ids); complete && got != text {
			t.Fatalf("round trip with all 256 byte tokens: %q", got)
		}
	})
}

// FuzzLoadGGUF parses arbitrary bytes as GGUF and loads them: no panic,
// typed errors only.
func FuzzLoadGGUF(f *testing.F) {
	data, err := os.ReadFile(testenv.SharedFile(f, "vocab/ggml-vocab-gpt-2.gguf"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data[:4096])
	f.Add(tinyGGUF(f, nil))
	f.Add(tinyGGUF(f, map[string]any{"tokenizer.ggml.pre": "qwen2"}))
	f.Add(tinyGGUF(f, map[string]any{"tokenizer.ggml.model": "llama"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		gf, err := gguf.Parse(data)
		if err != nil {
			return
		}
		if _, err := LoadGGUF(gf); err != nil && !errors.Is(err, ErrFormat) && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("untyped error: %v", err)
		}
	})
}

// tinyHFJSON is a three-merge byte-level BPE tokenizer.json.
const tinyHFJSON = `{
  "added_tokens": [{"id": 9, "content": "<|end|>", "special": true}, {"id": 10, "content": "<x>", "special": false}],
  "normalizer": null,
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
  "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|end|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
    "special_tokens": {"<|end|>": {"id": "<|end|>", "ids": [9], "tokens": ["<|end|>"]}}},
  "model": {"type": "BPE", "dropout": null, "unk_token": null, "ignore_merges": false,
    "vocab": {"a": 0, "b": 1, "c": 2, "Ġ": 3, "ab": 4, "abc": 5, "Ġa": 6, "\u00e9": 7, "<|end|>": 9},
    "merges": ["a b", "ab c", "Ġ a"]}
}`

// tinyGGUF writes a small gpt2 vocabulary as GGUF, with overrides.
func tinyGGUF(t testing.TB, over map[string]any) []byte {
	t.Helper()
	kv := map[string]any{
		"tokenizer.ggml.model":        "gpt2",
		"tokenizer.ggml.pre":          "gpt-2",
		"tokenizer.ggml.tokens":       []string{"a", "b", "Ġ", "ab", "Ġab", "<|endoftext|>"},
		"tokenizer.ggml.token_type":   []int32{1, 1, 1, 1, 1, 3},
		"tokenizer.ggml.merges":       []string{"a b", "Ġ ab"},
		"tokenizer.ggml.eos_token_id": uint32(5),
	}
	for k, v := range over {
		if v == nil {
			delete(kv, k)
		} else {
			kv[k] = v
		}
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w := gguf.NewWriter()
	for _, k := range keys {
		w.Set(k, kv[k])
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
