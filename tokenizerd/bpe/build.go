package bpe

import (
	"fmt"
	"unsafe"
)

// vocabSpec is what the loaders hand to buildModel.
type vocabSpec struct {
	pre   Pretokenizer
	longS bool // Unicode case folding in (?i:) contractions

	// arena and offs hold the bytes of every token by id (empty for unused
	// ids); arena must not be modified afterwards, the model aliases it.
	arena []byte
	offs  []uint32
	// ordinary[id] reports whether BPE may produce the token; nil = all.
	ordinary []bool
	// merges, in rank order, as pairs of token ids; nil selects rank mode
	// (tiktoken: the id of a concatenation is its rank).
	merges  [][2]int32
	wholeOK bool
	// byteTokens gives a token for single bytes that no ordinary token spells
	// (deepseek marks the bytes that never occur in UTF-8, such as 0xFF, as
	// user-defined tokens "ÿ"): BPE starts from it; it decodes as its text.
	byteTokens map[byte]int32
	// mergeTexts, when merges is nil and this is not, gives the merges as
	// byte-level token texts, resolved against the table; a text it lacks is
	// looked up with textID (tokens outside the table, e.g. added ones).
	mergeTexts [][2]string
	textID     func(string) (int32, bool)
}

func buildModel(v vocabSpec) (*Model, error) {
	stages, err := stagesFor(v.pre, v.longS)
	if err != nil {
		return nil, err
	}
	nv := len(v.offs) - 1
	if nv <= 0 {
		return nil, fmt.Errorf("%w: empty vocabulary", ErrFormat)
	}
	m := &Model{pre: v.pre, stages: stages, bmp: classTables(), arena: v.arena, offs: v.offs, wholeOK: v.wholeOK}
	n := 0
	for id := 0; id < nv; id++ {
		if v.offs[id] != v.offs[id+1] && (v.ordinary == nil || v.ordinary[id]) {
			n++
		}
	}
	m.vocab = newTokTable(n, v.arena, v.offs)
	for id := 0; id < nv; id++ {
		if v.offs[id] != v.offs[id+1] && (v.ordinary == nil || v.ordinary[id]) {
			m.vocab.insert(int32(id)) // on duplicate bytes the lowest id wins
		}
	}
	for c := 0; c < 256; c++ {
		m.byteID[c] = -1
		if id, ok := m.vocab.lookupBytes([]byte{byte(c)}); ok {
			m.byteID[c] = id
		} else if id, ok := v.byteTokens[byte(c)]; ok {
			m.byteID[c] = id
			m.byteStandIns = true
		}
	}
	if v.merges == nil && v.mergeTexts != nil {
		if v.merges, err = m.resolveMerges(v.mergeTexts, v.textID); err != nil {
			return nil, err
		}
	}
	if v.merges != nil {
		m.merges = newPairTable(len(v.merges))
		var buf []byte
		for rank, pr := range v.merges {
			x, y := pr[0], pr[1]
			if x < 0 || y < 0 {
				continue // a merge the loader could not resolve; it never applies
			}
			if int(x) >= nv || int(y) >= nv {
				return nil, fmt.Errorf("%w: merge %d names token ids %d, %d of %d", ErrFormat, rank, x, y, nv)
			}
			buf = append(append(buf[:0], m.TokenBytes(x)...), m.TokenBytes(y)...)
			res, ok := m.vocab.lookupBytes(buf)
			if !ok {
				continue // the merged token is not in the vocabulary: the merge can never apply
			}
			m.merges.put(x, y, uint32(rank), res)
		}
	}
	m.pair2 = make([]uint64, 1<<16)
	var two [2]byte
	for k := range m.pair2 {
		two[0], two[1] = byte(k>>8), byte(k)
		r, id := m.pairRank(unsafeString(two[:]), 0, 2, m.byteID[two[0]], m.byteID[two[1]])
		m.pair2[k] = uint64(r)<<32 | uint64(uint32(id))
	}
	if !m.wholeOK {
		m.known = make([]uint32, (nv+31)/32)
		m.valid = make([]uint32, (nv+31)/32)
	}
	return m, nil
}

// byteLevelDecode maps the GPT-2 byte-to-unicode alphabet back to bytes.
var byteLevelDecode = func() [324]int16 {
	var t [324]int16
	for i := range t {
		t[i] = -1
	}
	k := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			t[b] = int16(b)
		} else {
			t[256+k] = int16(b)
			k++
		}
	}
	return t
}()

// appendByteLevel appends the bytes a byte-level token text stands for. It
// reports false when s has a code point outside the byte-level alphabet.
func appendByteLevel(dst []byte, s string) ([]byte, bool) {
	for _, r := range s {
		if r < 0 || int(r) >= len(byteLevelDecode) || byteLevelDecode[r] < 0 {
			return dst, false
		}
		dst = append(dst, byte(byteLevelDecode[r]))
	}
	return dst, true
}

func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// resolveMerges maps merges given as byte-level texts to token ids.
func (m *Model) resolveMerges(texts [][2]string, textID func(string) (int32, bool)) ([][2]int32, error) {
	out := make([][2]int32, len(texts))
	var buf []byte
	find := func(s string) (int32, bool) {
		var ok bool
		if buf, ok = appendByteLevel(buf[:0], s); !ok {
			buf = append(buf[:0], s...)
		}
		if id, ok := m.vocab.lookupBytes(buf); ok {
			return id, true
		}
		if textID != nil {
			return textID(s)
		}
		return -1, false
	}
	for i, mg := range texts {
		x, okx := find(mg[0])
		y, oky := find(mg[1])
		if !okx || !oky {
			return nil, fmt.Errorf("%w: merge %d %q %q names a token not in the vocabulary", ErrFormat, i, mg[0], mg[1])
		}
		out[i] = [2]int32{x, y}
	}
	return out, nil
}
