package bpe

// tokTable maps token bytes to ids with open addressing; a slot holds a
// 24-bit hash tag, the token length (saturated at 255), id+1 and the first 8
// bytes, so a probe reads one cache line and tokens of up to 8 bytes are
// confirmed without the arena. A bitmap of hash
// bits small enough to stay in cache answers most lookups of absent strings
// (the common case when BPE probes pairs) without touching the slots.
type tokTable struct {
	filter []uint64 // 1<<filterBits bits, indexed by the top hash bits
	slots  []tokSlot
	mask   uint64
	arena  []byte   // token bytes, shared with the Model
	offs   []uint32 // token id i spans arena[offs[i]:offs[i+1]]
	maxLen int      // the longest token: longer strings are rejected at once
}

func newTokTable(n int, arena []byte, offs []uint32) *tokTable {
	size := 16
	for size < 2*n {
		size <<= 1
	}
	return &tokTable{filter: make([]uint64, 1<<filterBits/64), slots: make([]tokSlot, size), mask: uint64(size - 1), arena: arena, offs: offs}
}

// tokSlot holds a token's first 8 bytes (zero padded) beside its metadata,
// so tokens of up to 8 bytes, most of them, are confirmed without reading
// the arena.
type tokSlot struct {
	head uint64
	meta uint64 // tag<<40 | len<<32 | id+1; 0 = empty
}

// head8 returns the first 8 bytes of s, zero padded.
func head8(s string) uint64 {
	if len(s) >= 8 {
		return le64(s)
	}
	var x uint64
	for i := len(s) - 1; i >= 0; i-- {
		x = x<<8 | uint64(s[i])
	}
	return x
}

// filterBits sizes the filter: 128 KB, a tenth to a fifth full for vocabularies
// of 100k-200k tokens.
const filterBits = 20

func filterBit(h uint64) (uint64, uint64) {
	x := h >> (64 - filterBits)
	return x >> 6, 1 << (x & 63)
}

func slotMeta(h uint64, n int) uint64 {
	return (h>>40)<<40 | uint64(min(n, 255))<<32
}

// insert adds id under its bytes unless they are present (the lowest id
// inserted first wins); it reports whether it added.
func (t *tokTable) insert(id int32) bool {
	a, b := t.offs[id], t.offs[id+1]
	s := unsafeString(t.arena[a:b])
	h := hashString(s)
	meta, hd := slotMeta(h, len(s)), head8(s)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		sl := &t.slots[i]
		if sl.meta == 0 {
			*sl = tokSlot{head: hd, meta: meta | uint64(uint32(id)+1)}
			w, bit := filterBit(h)
			t.filter[w] |= bit
			t.maxLen = max(t.maxLen, len(s))
			return true
		}
		if sl.meta&^0xFFFFFFFF == meta && sl.head == hd {
			o := int32(uint32(sl.meta)) - 1
			if len(s) <= 8 || string(t.arena[t.offs[o]:t.offs[o+1]]) == s {
				return false
			}
		}
	}
}

func (t *tokTable) lookupBytes(s []byte) (int32, bool) { return t.lookup(unsafeString(s)) }

// lookup returns the id of the token whose bytes are s.
func (t *tokTable) lookup(s string) (int32, bool) {
	if len(s) > t.maxLen || len(s) == 0 {
		return -1, false
	}
	h := hashString(s)
	if w, bit := filterBit(h); t.filter[w]&bit == 0 {
		return -1, false
	}
	meta, hd := slotMeta(h, len(s)), head8(s)
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		sl := &t.slots[i]
		if sl.meta == 0 {
			return -1, false
		}
		if sl.meta&^0xFFFFFFFF == meta && sl.head == hd {
			id := int32(uint32(sl.meta)) - 1
			if len(s) <= 8 {
				return id, true
			}
			if string(t.arena[t.offs[id]:t.offs[id+1]]) == s {
				return id, true
			}
		}
	}
}

const (
	hashK1 = 0x9E3779B97F4A7C15
	hashK2 = 0xBF58476D1CE4E5B9
)

func hashMix(x uint64) uint64 {
	x ^= x >> 32
	x *= hashK2
	x ^= x >> 29
	return x
}

func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func le32(s string) uint64 {
	_ = s[3]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24
}

// hashString is a fast non-cryptographic hash for short strings (the table
// holds a fixed vocabulary, so flooding is not a concern).
func hashString(s string) uint64 {
	n := len(s)
	h := uint64(n) * hashK1
	switch {
	case n == 0:
	case n < 4:
		h ^= uint64(s[0]) | uint64(s[n>>1])<<8 | uint64(s[n-1])<<16
		h = hashMix(h * hashK1)
	case n <= 8:
		h ^= le32(s) | le32(s[n-4:])<<32
		h = hashMix(h * hashK1)
	default:
		i := 0
		for ; i+8 < n; i += 8 {
			h = hashMix((h ^ le64(s[i:])) * hashK1)
		}
		h = hashMix((h ^ le64(s[n-8:])) * hashK1)
	}
	return h
}

func hashBytes(b []byte) uint64 { return hashString(unsafeString(b)) }
