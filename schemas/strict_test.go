package schemas

import (
	"errors"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestDecodeRefusesIntegerOverflow(t *testing.T) {
	enc := func(v any) []byte {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		m    Message
		ok   bool
	}{
		{"max_tokens 2^40", enc(map[string]any{"v": 1, "prompt": "hi", "max_tokens": int64(1) << 40}), &GenerateRequest{}, false},
		{"max_tokens -2^40", enc(map[string]any{"v": 1, "prompt": "hi", "max_tokens": -(int64(1) << 40)}), &GenerateRequest{}, false},
		{"max_tokens 100", enc(map[string]any{"v": 1, "prompt": "hi", "max_tokens": 100}), &GenerateRequest{}, true},
		{"prompt id 2^32+5", enc(map[string]any{"v": 1, "id": "r", "stream": "s", "prompt_ids": []int64{1, 1<<32 + 5}}), &EngineRequest{}, false},
		{"prompt ids in range", enc(map[string]any{"v": 1, "id": "r", "stream": "s", "prompt_ids": []int64{1, 2}}), &EngineRequest{}, true},
		{"detokenize id 2^40", enc(map[string]any{"v": 1, "ids": [][]int64{{1 << 40}}}), &DetokenizeRequest{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Decode(tc.b, tc.m)
			if tc.ok && err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode = %v, want ErrInvalid", err)
			}
		})
	}
	var g GenerateRequest
	if err := Decode(enc(map[string]any{"v": 1, "prompt": "hi", "max_tokens": 100}), &g); err != nil || g.MaxTokens != 100 {
		t.Fatalf("max_tokens = %d, %v", g.MaxTokens, err)
	}
}

func TestGenerateRequestRejectsInvalidUTF8(t *testing.T) {
	for _, r := range []GenerateRequest{
		{V: 1, Prompt: "Once \xff upon"},
		{V: 1, Messages: []ChatMessage{{Role: "user", Content: "ok"}, {Role: "user", Content: "\xc3\x28"}}},
		{V: 1, Prompt: "fine", Stop: []string{"\xed\xa0\x80"}}, // a UTF-16 surrogate encoded as UTF-8
	} {
		if err := r.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: Validate = %v, want ErrInvalid", r, err)
		}
	}
	ok := GenerateRequest{V: 1, Prompt: "Ünïcödé 日本 🐈", Stop: []string{"。"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid UTF-8 refused: %v", err)
	}
}
