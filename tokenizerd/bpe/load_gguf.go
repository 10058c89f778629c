package bpe

import (
	"fmt"
	"strings"

	"github.com/krserve/krserve/engined/gguf"
)

// GGUF token types (tokenizer.ggml.token_type).
const (
	ggufNormal      = 1
	ggufUnknown     = 2
	ggufControl     = 3
	ggufUserDefined = 4
	ggufUnused      = 5
	ggufByte        = 6
)

// LoadGGUF loads the byte-level BPE vocabulary in a GGUF file's metadata
// (tokenizer.ggml.model "gpt2"). The pre-tokenizer comes from
// tokenizer.ggml.pre, mapped as llama.cpp maps it; control (type 3) and
// user-defined (type 4) tokens are returned as Specials and are never
// produced by Encode. The file may be closed once LoadGGUF returns.
func LoadGGUF(f *gguf.File) (*Loaded, error) {
	model, err := f.String("tokenizer.ggml.model")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if model != "gpt2" {
		return nil, fmt.Errorf("%w: tokenizer.ggml.model %q (this loader reads \"gpt2\")", ErrUnsupported, model)
	}
	preName := "default"
	if _, ok := f.Get("tokenizer.ggml.pre"); ok {
		if preName, err = f.String("tokenizer.ggml.pre"); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrFormat, err)
		}
	}
	pre, ok := ggufPre[preName]
	if !ok {
		return nil, fmt.Errorf("%w: tokenizer.ggml.pre %q", ErrUnsupported, preName)
	}
	tokens, err := ggufStrings(f, "tokenizer.ggml.tokens", true)
	if err != nil {
		return nil, err
	}
	merges, err := ggufStrings(f, "tokenizer.ggml.merges", true)
	if err != nil {
		return nil, err
	}
	var types []int32
	if v, ok := f.Get("tokenizer.ggml.token_type"); ok {
		if types, ok = v.Int32s(); !ok || len(types) != len(tokens) {
			return nil, fmt.Errorf("%w: tokenizer.ggml.token_type: want %d integers", ErrFormat, len(tokens))
		}
	}
	nv := len(tokens)
	arena := make([]byte, 0, nv*8)
	offs := make([]uint32, nv+1)
	ordinary := make([]bool, nv)
	var specials []Special
	for id, text := range tokens {
		offs[id] = uint32(len(arena))
		typ := int32(ggufNormal)
		if types != nil {
			typ = types[id]
		}
		switch typ {
		case ggufControl, ggufUserDefined:
			arena = append(arena, text...)
			specials = append(specials, Special{Text: text, ID: int32(id), UserDefined: typ == ggufUserDefined})
			continue
		case ggufUnused:
			arena = append(arena, text...)
			continue
		}
		mark := len(arena)
		var ok bool
		if arena, ok = appendByteLevel(arena, text); !ok {
			arena = append(arena[:mark], text...)
		}
		ordinary[id] = typ != ggufUnknown
	}
	offs[nv] = uint32(len(arena))

	// Merges name tokens by their byte-level text; user-defined tokens that
	// spell one byte stand in for a missing byte token.
	byText := make(map[string]int32, nv)
	for id, text := range tokens {
		if ordinary[id] {
			if _, dup := byText[text]; !dup {
				byText[text] = int32(id)
			}
		}
	}
	byteTokens := map[byte]int32{}
	for _, sp := range specials {
		if b, ok := appendByteLevel(nil, sp.Text); ok && sp.UserDefined && len(b) == 1 {
			if _, dup := byText[sp.Text]; !dup {
				byText[sp.Text] = sp.ID
				byteTokens[b[0]] = sp.ID
			}
		}
	}
	pairs := make([][2]int32, 0, len(merges))
	for i, mg := range merges {
		sp := strings.IndexByte(mg[min(1, len(mg)):], ' ') + min(1, len(mg))
		if sp <= 0 || sp >= len(mg)-1 {
			return nil, fmt.Errorf("%w: merge %d %q is not \"left right\"", ErrFormat, i, mg)
		}
		x, okx := byText[mg[:sp]]
		y, oky := byText[mg[sp+1:]]
		if !okx || !oky {
			// llama.cpp keeps such a merge but it can never apply; keep the
			// rank numbering and drop it.
			x, y = -1, -1
		}
		pairs = append(pairs, [2]int32{x, y})
	}
	m, err := buildModel(vocabSpec{
		pre: pre, arena: arena, offs: offs, ordinary: ordinary, merges: pairs, byteTokens: byteTokens,
		wholeOK: pre == PreLlama3 && preName != "dbrx" && preName != "smaug-bpe", // llama.cpp ignore_merges
	})
	if err != nil {
		return nil, err
	}
	l := &Loaded{Model: m, Specials: specials, BOS: -1, EOS: -1}
	if l.BOS, err = ggufID(f, "tokenizer.ggml.bos_token_id", nv); err != nil {
		return nil, err
	}
	if l.EOS, err = ggufID(f, "tokenizer.ggml.eos_token_id", nv); err != nil {
		return nil, err
	}
	if l.AddBOS, err = f.BoolOr("tokenizer.ggml.add_bos_token", pre == PreLlama3); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if l.AddEOS, err = f.BoolOr("tokenizer.ggml.add_eos_token", false); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return l, nil
}

func ggufStrings(f *gguf.File, key string, required bool) ([]string, error) {
	v, ok := f.Get(key)
	if !ok {
		if required {
			return nil, fmt.Errorf("%w: %s missing", ErrFormat, key)
		}
		return nil, nil
	}
	s, ok := v.Strings()
	if !ok {
		return nil, fmt.Errorf("%w: %s is not a string array", ErrFormat, key)
	}
	return s, nil
}

func ggufID(f *gguf.File, key string, nv int) (int32, error) {
	if _, ok := f.Get(key); !ok {
		return -1, nil
	}
	u, err := f.Uint(key)
	if err != nil {
		return -1, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if u >= uint64(nv) {
		return -1, fmt.Errorf("%w: %s = %d, vocabulary has %d tokens", ErrFormat, key, u, nv)
	}
	return int32(u), nil
}
