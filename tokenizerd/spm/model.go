package spm

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Loaders wrap them with %w and a description of the bad
// input; compare with errors.Is.
var (
	// ErrFormat means the vocabulary data is corrupt or inconsistent
	// (truncated file, missing or mistyped keys, arrays of different
	// lengths, ids out of range). Re-export the file; retrying cannot help.
	ErrFormat = errors.New("spm: malformed vocabulary")
	// ErrUnsupported means the data is well formed but is not a
	// SentencePiece-BPE vocabulary (for example tokenizer.ggml.model "gpt2"
	// or "bert"). Use the loader for that kind of tokenizer.
	ErrUnsupported = errors.New("spm: unsupported tokenizer")
)

// TokenType is a token's kind, numbered as GGUF's tokenizer.ggml.token_type
// and SentencePiece's ModelProto.SentencePiece.Type.
type TokenType int32

// Token types.
const (
	Undefined   TokenType = 0
	Normal      TokenType = 1
	Unknown     TokenType = 2
	Control     TokenType = 3
	UserDefined TokenType = 4
	Unused      TokenType = 5
	Byte        TokenType = 6
)

// String returns the name of the type.
func (t TokenType) String() string {
	switch t {
	case Undefined:
		return "undefined"
	case Normal:
		return "normal"
	case Unknown:
		return "unknown"
	case Control:
		return "control"
	case UserDefined:
		return "user-defined"
	case Unused:
		return "unused"
	case Byte:
		return "byte"
	}
	return fmt.Sprintf("type(%d)", int32(t))
}

// Special reports whether the type is one that the tokenizer front splits
// out of text before the merge stage (control, user-defined and unknown
// tokens, as llama.cpp's special-token partition does). Text after such a
// token gets the dummy prefix again.
func (t TokenType) Special() bool { return t == Control || t == UserDefined || t == Unknown }

// mergeable reports whether a token of this type may be produced by merging
// two adjacent symbols. Control and unknown tokens never are.
func (t TokenType) mergeable() bool { return t != Control && t != Unknown }

// Vocab describes a vocabulary for New. Pieces are in the model's own
// spelling: Space stands for the ASCII space ("▁" in GGUF and SentencePiece
// models, " " in llama2.c tokenizer.bin files).
type Vocab struct {
	Pieces []string
	Scores []float32   // one per piece; higher merges first
	Types  []TokenType // one per piece; nil means all Normal, except <0xNN> pieces which are Byte
	// BOS, EOS and UNK are token ids, -1 when the vocabulary has none.
	BOS, EOS, UNK  int32
	AddBOS, AddEOS bool
	// AddSpacePrefix adds the dummy prefix (one Space) before text that
	// starts a fragment, as SentencePiece's add_dummy_prefix does.
	AddSpacePrefix bool
	Space          string // "▁" when empty
}

// Model is a SentencePiece-BPE encoder and decoder over one vocabulary. It is
// immutable after New and safe for concurrent use.
type Model struct {
	pieces []string
	scores []float32
	types  []TokenType
	index  map[string]int32 // piece -> id (the last id when a piece repeats, as llama.cpp)
	byteID [256]int32       // byte-fallback token of each byte, -1 if none
	maxLen int              // longest mergeable piece, bytes

	space          string
	addSpacePrefix bool
	bos, eos, unk  int32
	addBOS, addEOS bool

	// splitSafe: no mergeable piece has Space after a non-Space character,
	// so no merge can cross the boundary before a space that follows a
	// non-space character (see SafeSplit).
	splitSafe bool

	specials []SpecialToken
	ascii    [128]int32 // mergeable token of each ASCII character, -1 if none
	pairs    pairTable
}

// New validates v and builds a Model.
func New(v Vocab) (*Model, error) {
	n := len(v.Pieces)
	if n == 0 {
		return nil, fmt.Errorf("%w: no tokens", ErrFormat)
	}
	if n > 1<<30 {
		return nil, fmt.Errorf("%w: %d tokens", ErrFormat, n)
	}
	if len(v.Scores) != n {
		return nil, fmt.Errorf("%w: %d scores for %d tokens", ErrFormat, len(v.Scores), n)
	}
	if v.Types != nil && len(v.Types) != n {
		return nil, fmt.Errorf("%w: %d token types for %d tokens", ErrFormat, len(v.Types), n)
	}
	for _, id := range []struct {
		name string
		id   int32
	}{{"bos", v.BOS}, {"eos", v.EOS}, {"unk", v.UNK}} {
		if id.id < -1 || int(id.id) >= n {
			return nil, fmt.Errorf("%w: %s token id %d out of range [0,%d)", ErrFormat, id.name, id.id, n)
		}
	}
	if v.AddBOS && v.BOS < 0 {
		return nil, fmt.Errorf("%w: add_bos set but the vocabulary has no BOS token", ErrFormat)
	}
	if v.AddEOS && v.EOS < 0 {
		return nil, fmt.Errorf("%w: add_eos set but the vocabulary has no EOS token", ErrFormat)
	}
	m := &Model{
		pieces: v.Pieces, scores: v.Scores, types: v.Types,
		index: make(map[string]int32, n),
		space: v.Space, addSpacePrefix: v.AddSpacePrefix,
		bos: v.BOS, eos: v.EOS, unk: v.UNK, addBOS: v.AddBOS, addEOS: v.AddEOS,
		splitSafe: true,
	}
	if m.space == "" {
		m.space = "▁"
	}
	if m.types == nil {
		m.types = make([]TokenType, n)
		for i, p := range v.Pieces {
			m.types[i] = Normal
			if _, ok := parseByte(p); ok {
				m.types[i] = Byte
			}
		}
	}
	for i := range m.byteID {
		m.byteID[i] = -1
	}
	for i, p := range m.pieces {
		id := int32(i)
		m.index[p] = id
		t := m.types[i]
		if t == Byte {
			if b, ok := parseByte(p); ok && m.byteID[b] < 0 {
				m.byteID[b] = id
			}
		}
		if t.mergeable() {
			m.maxLen = max(m.maxLen, len(p))
			if m.splitSafe && !spaceOnlyLeading(p, m.space) {
				m.splitSafe = false
			}
		}
	}
	// llama.cpp falls back to the one-byte piece when <0xNN> is missing.
	for b := range m.byteID {
		if m.byteID[b] < 0 {
			if id, ok := m.index[string([]byte{byte(b)})]; ok {
				m.byteID[b] = id
			}
		}
	}
	for c := range m.ascii {
		m.ascii[c] = -1
		if id, ok := m.index[string(rune(c))]; ok && m.types[id].mergeable() {
			m.ascii[c] = id
		}
	}
	m.buildPairs()
	m.buildSpecials("")
	return m, nil
}

// spaceOnlyLeading reports whether every occurrence of space in p is part of
// a run at its start.
func spaceOnlyLeading(p, space string) bool {
	p = strings.TrimLeft(p, space)
	return !strings.Contains(p, space)
}

// parseByte parses a byte-fallback piece "<0xNN>" (upper- or lower-case hex).
func parseByte(p string) (byte, bool) {
	if len(p) != 6 || p[0] != '<' || p[1] != '0' || p[2] != 'x' || p[5] != '>' {
		return 0, false
	}
	hi, ok1 := unhex(p[3])
	lo, ok2 := unhex(p[4])
	return hi<<4 | lo, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// VocabSize returns the number of tokens.
func (m *Model) VocabSize() int { return len(m.pieces) }

// Piece returns the vocabulary spelling of id ("▁the", "<0x0A>", "<s>"), or
// "" when id is out of range.
func (m *Model) Piece(id int32) string {
	if id < 0 || int(id) >= len(m.pieces) {
		return ""
	}
	return m.pieces[id]
}

// Score returns the merge score of id (0 when out of range).
func (m *Model) Score(id int32) float32 {
	if id < 0 || int(id) >= len(m.scores) {
		return 0
	}
	return m.scores[id]
}

// Type returns the type of id, Undefined when out of range.
func (m *Model) Type(id int32) TokenType {
	if id < 0 || int(id) >= len(m.types) {
		return Undefined
	}
	return m.types[id]
}

// TokenID returns the id of a piece in the vocabulary's spelling.
func (m *Model) TokenID(piece string) (int32, bool) {
	id, ok := m.index[piece]
	return id, ok
}

// BOS, EOS and UNK return the special ids, -1 when absent.
func (m *Model) BOS() int32 { return m.bos }

// EOS returns the end-of-sequence id, -1 when absent.
func (m *Model) EOS() int32 { return m.eos }

// UNK returns the unknown-token id, -1 when absent.
func (m *Model) UNK() int32 { return m.unk }

// AddBOS reports whether the vocabulary asks for BOS before a prompt.
func (m *Model) AddBOS() bool { return m.addBOS }

// AddEOS reports whether the vocabulary asks for EOS after a prompt.
func (m *Model) AddEOS() bool { return m.addEOS }

// AddSpacePrefix reports whether fragments get the dummy prefix.
func (m *Model) AddSpacePrefix() bool { return m.addSpacePrefix }
