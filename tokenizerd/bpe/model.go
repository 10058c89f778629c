package bpe

import (
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Model is a byte-level BPE encoder over one vocabulary. It is immutable
// after construction (apart from an internal, atomically updated memo) and
// safe for concurrent use.
type Model struct {
	pre    Pretokenizer
	stages []matcher
	bmp    []uint16

	vocab  *tokTable  // bytes of an ordinary token -> id
	byteID [256]int32 // id of each single byte, -1 if the vocabulary lacks it
	// byteStandIns: some bytes map to user-defined tokens, which decode as
	// their text (deepseek's "ÿ" for 0xFF), so invalid UTF-8 does not round trip.
	byteStandIns bool
	// pair2[b0<<8|b1] is rank<<32 | id of merging the single-byte parts b0
	// and b1 (noRank<<32 when they do not merge): the first round of every
	// merge without hashing.
	pair2 []uint64

	arena []byte   // bytes of every token, by id
	offs  []uint32 // token id i spans arena[offs[i]:offs[i+1]]

	// merges is nil for rank vocabularies (tiktoken), where two adjacent
	// parts merge when their concatenation is a token and the token id is
	// the rank. Otherwise it maps a pair of ids to (rank, result).
	merges *pairTable

	// wholeOK: a piece that is itself a token encodes as that token
	// (tiktoken, and Hugging Face ignore_merges). When false the memo
	// below records, per token, whether BPE of its own bytes yields it.
	wholeOK bool
	known   []uint32
	valid   []uint32

	scratch sync.Pool // *scratch for long pieces
}

// Special is an added or special token of a vocabulary.
type Special struct {
	Text string
	ID   int32
	// UserDefined marks added tokens that the reference tokenizers match in
	// text even when special-token parsing is off: GGUF token_type 4
	// (user-defined) and tokenizer.json added tokens with "special": false.
	UserDefined bool
}

// Loaded is what a loader returns: the model plus the vocabulary's special
// and added tokens and ids.
type Loaded struct {
	Model    *Model
	Specials []Special
	BOS, EOS int32 // -1 if none
	AddBOS   bool
	AddEOS   bool
}

const noRank = ^uint32(0)

// Encode appends the ids of text, encoded as ordinary text (special tokens
// are not recognized), to dst and returns the extended slice. It does not
// allocate when dst has room.
func (m *Model) Encode(dst []int32, text string) []int32 {
	if len(text) == 0 {
		return dst
	}
	var st mergeState // zeroed once per call, not once per piece
	if len(m.stages) == 1 {
		mt, bmp := m.stages[0], m.bmp
		for i := 0; i < len(text); {
			e := mt(text, i, bmp)
			if e <= i { // cannot happen with the single-stage patterns; stay safe
				_, n := utf8.DecodeRuneInString(text[i:])
				e = i + n
			}
			dst = m.piece(dst, text[i:e], &st)
			i = e
		}
		return dst
	}
	return m.stage(dst, 0, text, &st)
}

// stage splits s with regex k and hands every fragment, matched or not, to
// the next stage; after the last stage fragments are BPE pieces.
func (m *Model) stage(dst []int32, k int, s string, st *mergeState) []int32 {
	if k == len(m.stages) {
		return m.piece(dst, s, st)
	}
	mt, bmp := m.stages[k], m.bmp
	gap := 0
	for i := 0; i < len(s); {
		if e := mt(s, i, bmp); e > i {
			if gap < i {
				dst = m.stage(dst, k+1, s[gap:i], st)
			}
			dst = m.stage(dst, k+1, s[i:e], st)
			i, gap = e, e
			continue
		}
		_, n := utf8.DecodeRuneInString(s[i:])
		i += n
	}
	if gap < len(s) {
		dst = m.stage(dst, k+1, s[gap:], st)
	}
	return dst
}

// piece appends the BPE encoding of one pre-token.
func (m *Model) piece(dst []int32, p string, st *mergeState) []int32 {
	if len(p) == 1 {
		if id := m.byteID[p[0]]; id >= 0 {
			dst = append(dst, id)
		}
		return dst
	}
	if id, ok := m.vocab.lookup(p); ok && (m.wholeOK || m.selfEncodes(id, p, st)) {
		return append(dst, id)
	}
	return m.bpeState(dst, p, st)
}

// selfEncodes reports whether BPE of token id's bytes p gives exactly id,
// memoized per token.
func (m *Model) selfEncodes(id int32, p string, st *mergeState) bool {
	w, bit := id>>5, uint32(1)<<(id&31)
	if atomic.LoadUint32(&m.known[w])&bit != 0 {
		return atomic.LoadUint32(&m.valid[w])&bit != 0
	}
	var ok bool
	if len(p) <= maxSmall {
		n := m.mergeSmall(p, &st.parts)
		ok = n == 1 && st.parts[0].id == id
	} else {
		sc := m.getScratch(len(p))
		out := m.mergeLong(p, sc)
		ok = len(out) == 1 && out[0] == id
		m.scratch.Put(sc)
	}
	if ok {
		atomic.OrUint32(&m.valid[w], bit)
	}
	atomic.OrUint32(&m.known[w], bit)
	return ok
}

// mergeState is the per-Encode scratch of the short-piece merge.
type mergeState struct {
	parts [maxSmall + 1]part
}

// bpe appends the merge result of p (len(p) >= 2).
func (m *Model) bpe(dst []int32, p string) []int32 {
	var st mergeState
	return m.bpeState(dst, p, &st)
}

func (m *Model) bpeState(dst []int32, p string, st *mergeState) []int32 {
	if len(p) <= maxSmall {
		n := m.mergeSmall(p, &st.parts)
		for k := 0; k < n; k++ {
			if id := st.parts[k].id; id >= 0 {
				dst = append(dst, id)
			}
		}
		return dst
	}
	if m.merges == nil && m.wholeOK && len(p) > windowLen+windowOverlap {
		return m.mergeWindowedState(dst, p, windowLen, windowOverlap, st)
	}
	return m.mergeWhole(dst, p)
}

// TokenBytes returns the raw bytes of token id (for decoding), or nil if id
// is out of range or unused. The slice aliases the model: do not modify it.
func (m *Model) TokenBytes(id int32) []byte {
	if id < 0 || int(id) >= len(m.offs)-1 {
		return nil
	}
	a, b := m.offs[id], m.offs[id+1]
	if a == b {
		return nil
	}
	return m.arena[a:b:b]
}

// VocabSize returns the number of token ids, one more than the largest id
// (some ids in between may be unused).
func (m *Model) VocabSize() int { return len(m.offs) - 1 }

// Pretokenizer returns the pre-tokenizer the model splits text with.
func (m *Model) Pretokenizer() Pretokenizer { return m.pre }

// SafeSplit returns a byte offset b, 0 < b < len(text), such that encoding
// text[:b] and text[b:] separately and concatenating the ids equals encoding
// text, choosing the offset nearest to near; it returns -1 when text has no
// such offset that this function can prove safe. The offsets it picks are
// spaces with an ASCII letter on each side, which every pre-tokenizer of this
// package ends a piece before (see the package documentation).
func (m *Model) SafeSplit(text string, near int) int {
	if len(text) < 3 {
		return -1
	}
	near = min(max(near, 1), len(text)-2)
	ok := func(b int) bool {
		return text[b] == ' ' && isASCIILetter(text[b-1]) && isASCIILetter(text[b+1])
	}
	for d := 0; ; d++ {
		lo, hi := near-d, near+d
		inLo, inHi := lo >= 1, hi <= len(text)-2
		if !inLo && !inHi {
			return -1
		}
		if inLo && ok(lo) {
			return lo
		}
		if inHi && ok(hi) {
			return hi
		}
	}
}

func isASCIILetter(b byte) bool { return (b|0x20) >= 'a' && (b|0x20) <= 'z' }
