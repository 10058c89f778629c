package bpe

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/krserve/krserve/engined/gguf"
)

func TestLoadGGUFErrors(t *testing.T) {
	tests := []struct {
		name string
		over map[string]any
		want error
	}{
		{"ok", nil, nil},
		{"llama model", map[string]any{"tokenizer.ggml.model": "llama"}, ErrUnsupported},
		{"unknown pre", map[string]any{"tokenizer.ggml.pre": "no-such-pre"}, ErrUnsupported},
		{"no tokens", map[string]any{"tokenizer.ggml.tokens": nil}, ErrFormat},
		{"no merges", map[string]any{"tokenizer.ggml.merges": nil}, ErrFormat},
		{"tokens not strings", map[string]any{"tokenizer.ggml.tokens": []int32{1, 2}}, ErrFormat},
		{"short token_type", map[string]any{"tokenizer.ggml.token_type": []int32{1}}, ErrFormat},
		{"bad merge", map[string]any{"tokenizer.ggml.merges": []string{"ab"}}, ErrFormat},
		{"eos out of range", map[string]any{"tokenizer.ggml.eos_token_id": uint32(99)}, ErrFormat},
		{"model not a string", map[string]any{"tokenizer.ggml.model": uint32(1)}, ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := gguf.Parse(tinyGGUF(t, tt.over))
			if err != nil {
				t.Fatal(err)
			}
			l, err := LoadGGUF(f)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("LoadGGUF: %v, want %v", err, tt.want)
			}
			if err != nil {
				return
			}
			// "ab ab" -> "ab", "Ġab" by the merges.
			if got := l.Model.Encode(nil, "ab ab"); !slices.Equal(got, []int32{3, 4}) {
				t.Errorf("Encode = %v", got)
			}
			if l.EOS != 5 || l.BOS != -1 || len(l.Specials) != 1 || l.Specials[0].Text != "<|endoftext|>" {
				t.Errorf("loaded %+v", l)
			}
		})
	}
}

func TestLoadHFJSONErrors(t *testing.T) {
	base := tinyHFJSON
	tests := []struct {
		name string
		json string
		want error
	}{
		{"ok", base, nil},
		{"not json", "{", ErrFormat},
		{"trailing", base + "x", ErrFormat},
		{"array", "[]", ErrFormat},
		{"wordpiece", strings.Replace(base, `"type": "BPE"`, `"type": "WordPiece"`, 1), ErrUnsupported},
		{"normalizer", strings.Replace(base, `"normalizer": null`, `"normalizer": {"type": "NFC"}`, 1), ErrUnsupported},
		{"prefix space", strings.Replace(base, `"add_prefix_space": false`, `"add_prefix_space": true`, 1), ErrUnsupported},
		{"byte fallback", strings.Replace(base, `"ignore_merges": false`, `"byte_fallback": true`, 1), ErrUnsupported},
		{"unknown merge token", strings.Replace(base, `"ab c"`, `"ab zz"`, 1), ErrFormat},
		{"bad merge", strings.Replace(base, `"ab c"`, `"abc"`, 1), ErrFormat},
		{"negative id", strings.Replace(base, `"c": 2`, `"c": -2`, 1), ErrFormat},
		{"duplicate id", strings.Replace(base, `"c": 2`, `"c": 1`, 1), ErrFormat},
		{"float id", strings.Replace(base, `"c": 2`, `"c": 2.5`, 1), ErrFormat},
		{"bad escape", strings.Replace(base, `\u00e9`, `\u00g9`, 1), ErrFormat},
		{"split regex unknown", strings.Replace(base, `"pre_tokenizer": {"type": "ByteLevel"`, `"pre_tokenizer": {"type": "Split"`, 1), ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := LoadHFJSON([]byte(tt.json))
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("LoadHFJSON: %v, want %v", err, tt.want)
			}
			if err != nil {
				return
			}
			// " é" has no byte tokens in this vocabulary: only "Ġ" remains.
			if got := l.Model.Encode(nil, "abc ab é"); !slices.Equal(got, []int32{5, 3, 4, 3}) {
				t.Errorf("Encode = %v", got)
			}
			if l.BOS != 9 || !l.AddBOS || len(l.Specials) != 2 || !l.Specials[1].UserDefined || l.Specials[0].UserDefined {
				t.Errorf("loaded %+v", l)
			}
			if got := string(l.Model.TokenBytes(9)); got != "<|end|>" {
				t.Errorf("TokenBytes(9) = %q", got)
			}
		})
	}
}

func TestLoadTiktokenErrors(t *testing.T) {
	if _, err := LoadTiktoken("p50k_base"); !errors.Is(err, ErrUnknownVocab) {
		t.Errorf("LoadTiktoken(p50k_base): %v", err)
	}
	def := tiktokenDefs["cl100k_base"]
	for _, bad := range []string{"YQ== x\n", "YQ==\n", "!!!! 1\n", "YQ== 0\nYQ== 0\n", "YQ== -1\n"} {
		if _, err := parseTiktoken([]byte(bad), def); !errors.Is(err, ErrFormat) {
			t.Errorf("parseTiktoken(%q): %v, want ErrFormat", bad, err)
		}
	}
}
