package spm

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/krserve/krserve/engined/gguf"
)

// SpecialToken is a token that the tokenizer front splits out of text before
// the merge stage: control and unknown tokens when special-token parsing is
// on, user-defined tokens always (llama.cpp's tokenizer_st_partition).
// LStrip and RStrip drop ASCII white space before and after a match.
type SpecialToken struct {
	Text           string
	ID             int32
	Type           TokenType
	LStrip, RStrip bool
}

// LoadGGUF loads the SentencePiece vocabulary in a GGUF file's metadata
// (tokenizer.ggml.model "llama"). Missing optional keys take llama.cpp's
// defaults: BOS 1, EOS 2, UNK 0, add_bos true, add_eos false,
// add_space_prefix true, scores 0, all types normal. The file may be closed
// once LoadGGUF returns.
func LoadGGUF(f *gguf.File) (*Model, error) {
	kind, err := f.String("tokenizer.ggml.model")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if kind != "llama" {
		return nil, fmt.Errorf("%w: tokenizer.ggml.model %q (this loader reads \"llama\")", ErrUnsupported, kind)
	}
	tv, ok := f.Get("tokenizer.ggml.tokens")
	if !ok {
		return nil, fmt.Errorf("%w: no tokenizer.ggml.tokens", ErrFormat)
	}
	pieces, ok := tv.Strings()
	if !ok {
		return nil, fmt.Errorf("%w: tokenizer.ggml.tokens is %s, want array of strings", ErrFormat, tv.Type)
	}
	n := len(pieces)
	v := Vocab{Pieces: pieces}
	if sv, ok := f.Get("tokenizer.ggml.scores"); ok {
		if v.Scores, ok = sv.Float32s(); !ok || len(v.Scores) != n {
			return nil, fmt.Errorf("%w: tokenizer.ggml.scores: want %d floats", ErrFormat, n)
		}
	} else {
		v.Scores = make([]float32, n)
	}
	if tt, ok := f.Get("tokenizer.ggml.token_type"); ok {
		ints, ok := tt.Int32s()
		if !ok || len(ints) != n {
			return nil, fmt.Errorf("%w: tokenizer.ggml.token_type: want %d integers", ErrFormat, n)
		}
		v.Types = make([]TokenType, n)
		for i, t := range ints {
			v.Types[i] = TokenType(t)
		}
	}
	if v.BOS, err = ggufID(f, "tokenizer.ggml.bos_token_id", 1, n); err != nil {
		return nil, err
	}
	if v.EOS, err = ggufID(f, "tokenizer.ggml.eos_token_id", 2, n); err != nil {
		return nil, err
	}
	if v.UNK, err = ggufID(f, "tokenizer.ggml.unknown_token_id", 0, n); err != nil {
		return nil, err
	}
	if v.AddBOS, err = f.BoolOr("tokenizer.ggml.add_bos_token", true); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if v.AddEOS, err = f.BoolOr("tokenizer.ggml.add_eos_token", false); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if v.AddSpacePrefix, err = f.BoolOr("tokenizer.ggml.add_space_prefix", true); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	v.AddBOS = v.AddBOS && v.BOS >= 0
	v.AddEOS = v.AddEOS && v.EOS >= 0
	m, err := New(v)
	if err != nil {
		return nil, err
	}
	name, _ := f.String("general.name")
	m.buildSpecials(strings.ToLower(name))
	return m, nil
}

// ggufID reads a token id key. A missing key, or one out of range (GGUF
// files write 0xFFFFFFFF for "none"), gives def when def is a valid id and
// -1 otherwise, as llama.cpp keeps its default for a bad id.
func ggufID(f *gguf.File, key string, def int32, n int) (int32, error) {
	if int(def) >= n {
		def = -1
	}
	v, ok := f.Get(key)
	if !ok {
		return def, nil
	}
	id, ok := v.Int()
	if !ok {
		return 0, fmt.Errorf("%w: %s is %s, want integer", ErrFormat, key, v.Type)
	}
	if id == math.MaxUint32 || id == -1 {
		return -1, nil
	}
	if id < 0 || id >= int64(n) {
		return def, nil
	}
	return int32(id), nil
}

// buildSpecials lists the tokens split out before merging, with the strip
// attributes llama.cpp sets by model name.
func (m *Model) buildSpecials(lowerName string) {
	phi3 := strings.Contains(lowerName, "phi-3") || strings.Contains(lowerName, "phi3")
	m.specials = m.specials[:0]
	for i, t := range m.types {
		if !t.Special() || m.pieces[i] == "" {
			continue
		}
		st := SpecialToken{Text: m.pieces[i], ID: int32(i), Type: t}
		if phi3 {
			switch st.Text {
			case "<unk>", "<s>", "<|endoftext|>":
			default:
				st.RStrip = true
			}
		}
		m.specials = append(m.specials, st)
	}
}

// Specials returns the control, unknown and user-defined tokens (shared;
// do not modify).
func (m *Model) Specials() []SpecialToken { return m.specials }

// LoadLlama2C reads a llama2.c tokenizer.bin file (see ParseLlama2C).
func LoadLlama2C(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("spm: %w", err)
	}
	m, err := ParseLlama2C(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// maxLlama2CTokens bounds the token count a hostile file can make us hold.
const maxLlama2CTokens = 1 << 22

// ParseLlama2C parses the llama2.c tokenizer format: int32 max_token_length,
// then for each token float32 score, int32 byte length and the bytes, to the
// end of the data (all little-endian). The file does not store the vocabulary
// size; every record up to the end is read. Pieces spell the space as " ".
// Id 0 is UNK, 1 BOS, 2 EOS (control tokens), <0xNN> pieces are byte
// tokens; BOS is added and the dummy prefix is on, as llama2.c's run.c does.
func ParseLlama2C(data []byte) (*Model, error) {
	if len(data) < 4 {
		return nil, fmt.Errorf("%w: %d bytes, too short for the llama2.c header", ErrFormat, len(data))
	}
	maxLen := int32(binary.LittleEndian.Uint32(data))
	if maxLen <= 0 || maxLen > 1<<16 {
		return nil, fmt.Errorf("%w: max_token_length %d", ErrFormat, maxLen)
	}
	var v Vocab
	for off := 4; off < len(data); {
		if len(data)-off < 8 {
			return nil, fmt.Errorf("%w: token %d: truncated record at byte %d", ErrFormat, len(v.Pieces), off)
		}
		score := math.Float32frombits(binary.LittleEndian.Uint32(data[off:]))
		l := int32(binary.LittleEndian.Uint32(data[off+4:]))
		off += 8
		if l < 0 || int(l) > len(data)-off {
			return nil, fmt.Errorf("%w: token %d: length %d runs past the end", ErrFormat, len(v.Pieces), l)
		}
		if len(v.Pieces) >= maxLlama2CTokens {
			return nil, fmt.Errorf("%w: more than %d tokens", ErrFormat, maxLlama2CTokens)
		}
		v.Pieces = append(v.Pieces, string(data[off:off+int(l)]))
		v.Scores = append(v.Scores, score)
		off += int(l)
	}
	n := len(v.Pieces)
	if n < 3 {
		return nil, fmt.Errorf("%w: %d tokens, want at least <unk>, BOS and EOS", ErrFormat, n)
	}
	v.Types = make([]TokenType, n)
	for i, p := range v.Pieces {
		switch {
		case i == 0:
			v.Types[i] = Unknown
		case i == 1 || i == 2:
			v.Types[i] = Control
		default:
			v.Types[i] = Normal
			if _, ok := parseByte(p); ok {
				v.Types[i] = Byte
			}
		}
	}
	v.UNK, v.BOS, v.EOS = 0, 1, 2
	v.AddBOS, v.AddSpacePrefix, v.Space = true, true, " "
	m, err := New(v)
	if err != nil {
		return nil, err
	}
	m.buildSpecials("")
	// llama2.c never splits BOS/EOS/UNK text out of a prompt: keep the list
	// for special-token parsing only (they are control/unknown).
	return m, nil
}
