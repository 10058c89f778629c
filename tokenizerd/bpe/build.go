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
	mergeTexts textPairs
	textID     func(string) (int32, bool)
}

// textPairs lists merges as pairs of token texts, in rank order.
type textPairs interface {
	Len() int
	Pair(i int) (string, string)
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
	// canon[id]: the table answers id for its bytes (on duplicate bytes the
	// lowest id wins).
	canon := make([]bool, nv)
	m.insertGrouped(v, canon)
	for c := 0; c < 256; c++ {
		m.byteID[c] = -1
		if id, ok := m.vocab.lookupBytes([]byte{byte(c)}); ok {
			m.byteID[c] = id
		} else if id, ok := v.byteTokens[byte(c)]; ok {
			m.byteID[c] = id
			m.byteStandIns = true
		}
	}
	pair2Done := false
	if v.merges == nil && v.mergeTexts != nil {
		if err := m.addTextMerges(v.mergeTexts, v.textID, canon); err != nil {
			return nil, err
		}
		pair2Done = !m.byteStandIns
	} else if v.merges != nil {
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
	if !pair2Done {
		m.pair2 = make([]uint64, 1<<16)
		var two [2]byte
		for k := range m.pair2 {
			two[0], two[1] = byte(k>>8), byte(k)
			r, id := m.pairRank(unsafeString(two[:]), 0, 2, m.byteID[two[0]], m.byteID[two[1]])
			m.pair2[k] = uint64(r)<<32 | uint64(uint32(id))
		}
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

// addTextMerges resolves merges given as byte-level texts to token ids and
// fills m.merges and, from the merges of two single-byte tokens, m.pair2
// (which is exact unless m.byteStandIns). canon[id] reports that m.vocab
// answers id for its bytes.
//
// The merged token is guessed before it is looked up: merges usually come in
// the order of the ids they make, one or more merges per id, so the result
// of the previous merge or the id after it is almost always right, and
// checking a guess reads the arena sequentially.
func (m *Model) addTextMerges(texts textPairs, textID func(string) (int32, bool), canon []bool) error {
	n := texts.Len()
	nv := len(m.offs) - 1
	m.merges = newPairTable(n)
	m.pair2 = make([]uint64, 1<<16)
	for k := range m.pair2 {
		m.pair2[k] = uint64(noRank)<<32 | 0xFFFFFFFF // noRank, id -1
	}
	// The merges go into the pair table grouped by the region of the table
	// they land in, which keeps the writes in cache; within a group they
	// stay in rank order, so the first of duplicate pairs still wins.
	const groupBits = 8
	entries := make([]pairEntry, 0, n)
	var count [1 << groupBits]int32
	homeBits := 64 - m.merges.shift
	var bufA, bufB, cat []byte
	// find returns the id of text s and its bytes; buf is scratch.
	find := func(buf *[]byte, s string) (int32, []byte, bool) {
		b, ok := appendByteLevel((*buf)[:0], s)
		if !ok {
			b = append(b[:0], s...)
		}
		*buf = b
		if id, ok := m.vocab.lookupBytes(b); ok {
			return id, b, true
		}
		if textID != nil {
			if id, ok := textID(s); ok && id >= 0 && int(id) < nv {
				return id, m.TokenBytes(id), true
			}
		}
		return -1, nil, false
	}
	prev := int32(-1)
	for rank := 0; rank < n; rank++ {
		a, b := texts.Pair(rank)
		x, bx, okx := find(&bufA, a)
		y, by, oky := find(&bufB, b)
		if !okx || !oky {
			return fmt.Errorf("%w: merge %d %q %q names a token not in the vocabulary", ErrFormat, rank, a, b)
		}
		res := int32(-1)
		for _, g := range [2]int32{prev, prev + 1} {
			if g >= 0 && int(g) < nv && canon[g] && m.isConcat(g, bx, by) {
				res = g
				break
			}
		}
		if res < 0 {
			cat = append(append(cat[:0], bx...), by...)
			id, ok := m.vocab.lookupBytes(cat)
			if !ok {
				continue // the merged token is not in the vocabulary: the merge can never apply
			}
			res = id
		}
		prev = res
		g := uint8(0)
		if homeBits > groupBits {
			g = uint8(pairHome(m.merges, x, y) >> (homeBits - groupBits))
		}
		entries = append(entries, pairEntry{x: x, y: y, rank: uint32(rank), res: res, group: g})
		count[g]++
		if len(bx) == 1 && len(by) == 1 && m.byteID[bx[0]] == x && m.byteID[by[0]] == y {
			k := uint16(bx[0])<<8 | uint16(by[0])
			if uint32(m.pair2[k]>>32) == noRank {
				m.pair2[k] = uint64(rank)<<32 | uint64(uint32(res))
			}
		}
	}
	var start [1 << groupBits]int32
	for g, sum := 1, int32(0); g < len(start); g++ {
		sum += count[g-1]
		start[g] = sum
	}
	sorted := make([]pairEntry, len(entries))
	for _, e := range entries {
		sorted[start[e.group]] = e
		start[e.group]++
	}
	for _, e := range sorted {
		m.merges.put(e.x, e.y, e.rank, e.res)
	}
	return nil
}

type pairEntry struct {
	x, y  int32
	rank  uint32
	res   int32
	group uint8
}

// pairHome is the slot where pairTable.put starts probing for (x, y); it
// only orders the inserts, so a mismatch would cost speed, not correctness.
func pairHome(t *pairTable, x, y int32) uint64 {
	return (pairKey(x, y) * 0x9E3779B97F4A7C15) >> t.shift
}

// isConcat reports whether the bytes of token id are x followed by y.
func (m *Model) isConcat(id int32, x, y []byte) bool {
	a, b := m.offs[id], m.offs[id+1]
	if int(b-a) != len(x)+len(y) {
		return false
	}
	t := m.arena[a:b]
	return string(t[:len(x)]) == string(x) && string(t[len(x):]) == string(y)
}

// insertGrouped inserts the tokens BPE may produce into m.vocab, setting
// canon. Like addTextMerges it groups the inserts by the region of the
// table they start probing in (tokTable.insert hashes the same way), in id
// order within a group, so on duplicate bytes the lowest id still wins.
func (m *Model) insertGrouped(v vocabSpec, canon []bool) {
	const groupBits = 8
	nv := len(v.offs) - 1
	t := m.vocab
	bits := 0
	for uint64(1)<<bits < uint64(len(t.slots)) {
		bits++
	}
	shift := max(bits-groupBits, 0)
	var count, start [1 << groupBits]int32
	group := make([]uint8, nv)
	for id := 0; id < nv; id++ {
		if v.offs[id] != v.offs[id+1] && (v.ordinary == nil || v.ordinary[id]) {
			h := hashString(unsafeString(v.arena[v.offs[id]:v.offs[id+1]]))
			group[id] = uint8((h & t.mask) >> shift)
			count[group[id]]++
		}
	}
	for g, sum := 1, int32(0); g < len(start); g++ {
		sum += count[g-1]
		start[g] = sum
	}
	order := make([]int32, start[len(start)-1]+count[len(count)-1])
	for id := 0; id < nv; id++ {
		if v.offs[id] != v.offs[id+1] && (v.ordinary == nil || v.ordinary[id]) {
			order[start[group[id]]] = int32(id)
			start[group[id]]++
		}
	}
	for _, id := range order {
		canon[id] = t.insert(id)
	}
}
