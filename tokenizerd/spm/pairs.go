package spm

import "unicode/utf8"

// pairTable maps two adjacent tokens to the mergeable token their texts
// spell together. It is an open-addressing hash table built once per
// vocabulary, so the merge loop hashes two ints instead of a string.
type pairTable struct {
	keys []uint64 // 0 = empty
	vals []int32
	mask uint64
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a)+1)<<32 | uint64(uint32(b)+1) }

func hash64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	return x
}

func (t *pairTable) get(a, b int32) int32 {
	if t.mask == 0 {
		return -1
	}
	k := pairKey(a, b)
	for i := hash64(k) & t.mask; ; i = (i + 1) & t.mask {
		switch t.keys[i] {
		case k:
			return t.vals[i]
		case 0:
			return -1
		}
	}
}

func (t *pairTable) put(a, b, v int32) {
	k := pairKey(a, b)
	for i := hash64(k) & t.mask; ; i = (i + 1) & t.mask {
		if t.keys[i] == 0 || t.keys[i] == k {
			t.keys[i], t.vals[i] = k, v
			return
		}
	}
}

// buildPairs records, for every mergeable token, each split of its text at
// a character boundary into two mergeable tokens.
func (m *Model) buildPairs() {
	type entry struct{ a, b, v int32 }
	var entries []entry
	for i, p := range m.pieces {
		id := int32(i)
		if !m.types[i].mergeable() || len(p) < 2 || m.index[p] != id {
			continue
		}
		for k := 0; k < len(p); {
			_, w := utf8.DecodeRuneInString(p[k:])
			k += w
			if k >= len(p) {
				break
			}
			a, oka := m.index[p[:k]]
			b, okb := m.index[p[k:]]
			if oka && okb && m.types[a].mergeable() && m.types[b].mergeable() {
				entries = append(entries, entry{a, b, id})
			}
		}
	}
	size := 1
	for size < 2*len(entries)+2 {
		size <<= 1
	}
	m.pairs = pairTable{keys: make([]uint64, size), vals: make([]int32, size), mask: uint64(size - 1)}
	for _, e := range entries {
		m.pairs.put(e.a, e.b, e.v)
	}
}
