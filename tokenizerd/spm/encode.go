package spm

import (
	"math"
	"sync"
	"unicode/utf8"
)

// symbol is a run buf[start:start+n] of the escaped text; id is its token,
// -1 when the run is not a mergeable token (only single characters can be).
// n == 0 marks a symbol merged into its left neighbour.
type symbol struct {
	start, n   int32
	prev, next int32
	id         int32
}

// session holds the per-call scratch space; sessions are pooled so that an
// encode does not allocate in steady state.
type session struct {
	buf  []byte
	syms []symbol
	heap []uint64
}

var sessions = sync.Pool{New: func() any { return new(session) }}

// smallSegment is the segment length (in characters) up to which a plain
// scan for the best pair beats the priority queue.
var smallSegment = 16

// Encode appends the ids of text to dst as one fragment of ordinary text,
// with the dummy prefix when the vocabulary asks for it and text is not
// empty. Special tokens are not recognized here (see package tokenizer).
func (m *Model) Encode(dst []int32, text string) []int32 {
	return m.EncodeFragment(dst, text, m.addSpacePrefix)
}

// EncodeFragment appends the ids of one fragment of ordinary text to dst.
// With dummyPrefix a Space is put before non-empty text, as llama.cpp does
// for the first fragment and for each fragment that follows a special token.
// Spaces become the vocabulary's Space, the best-scoring adjacent pair
// (leftmost on ties) is merged until no adjacent pair is a token, and symbols
// that are not tokens fall back to <0xNN> byte tokens (or UNK when the
// vocabulary has neither). It runs in O(n log n) time for n characters and
// does not allocate in steady state when dst has room.
func (m *Model) EncodeFragment(dst []int32, text string, dummyPrefix bool) []int32 {
	if len(text) == 0 {
		return dst
	}
	s := sessions.Get().(*session)
	s.buf = m.escape(s.buf[:0], text, dummyPrefix)
	dst = m.tokenize(s, dst)
	if cap(s.buf) > 4<<20 || cap(s.syms) > 1<<20 {
		*s = session{} // do not keep huge buffers alive in the pool
	}
	sessions.Put(s)
	return dst
}

// escape writes the optional prefix and text with ' ' replaced by m.space.
func (m *Model) escape(buf []byte, text string, prefix bool) []byte {
	if prefix {
		buf = append(buf, m.space...)
	}
	if m.space == " " {
		return append(buf, text...)
	}
	for {
		i := indexSpace(text)
		if i < 0 {
			return append(buf, text...)
		}
		buf = append(buf, text[:i]...)
		buf = append(buf, m.space...)
		text = text[i+1:]
	}
}

func indexSpace(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return i
		}
	}
	return -1
}

// charLen is the length of the character at the start of b: a valid UTF-8
// sequence, or one byte. (llama.cpp trusts the first byte of a sequence instead; the two
// agree on valid UTF-8, and this way invalid bytes cannot swallow the
// characters after them.)
func charLen(b []byte) int32 {
	if b[0] < utf8.RuneSelf {
		return 1
	}
	_, n := utf8.DecodeRune(b)
	return int32(n)
}

// charID returns the mergeable token of one character, or -1.
func (m *Model) charID(c []byte) int32 {
	if len(c) == 1 && c[0] < utf8.RuneSelf {
		return m.ascii[c[0]]
	}
	if id, ok := m.index[string(c)]; ok && m.types[id].mergeable() {
		return id
	}
	return -1
}

// tokenize encodes s.buf. When the vocabulary is split-safe the text is cut
// into segments before each Space that follows another character; no merge
// can cross such a cut, so each segment is merged on its own, which keeps
// the working set small.
func (m *Model) tokenize(s *session, dst []int32) []int32 {
	buf := s.buf
	n := int32(len(buf))
	sp := m.space
	syms := s.syms[:0]
	prevSpace := true
	for off := int32(0); off < n; {
		l := charLen(buf[off:])
		isSpace := int(l) == len(sp) && string(buf[off:off+l]) == sp
		if m.splitSafe && isSpace && !prevSpace && len(syms) > 0 {
			dst = m.segment(s, syms, dst)
			syms = syms[:0]
		}
		prevSpace = isSpace
		idx := int32(len(syms))
		syms = append(syms, symbol{start: off, n: l, prev: idx - 1, next: idx + 1, id: m.charID(buf[off : off+l])})
		off += l
	}
	if len(syms) > 0 {
		dst = m.segment(s, syms, dst)
	}
	s.syms = syms[:0]
	return dst
}

// segment merges one segment and appends its ids.
func (m *Model) segment(s *session, syms []symbol, dst []int32) []int32 {
	syms[len(syms)-1].next = -1
	if len(syms) <= smallSegment {
		m.mergeScan(s.buf, syms)
	} else {
		s.heap = m.mergeHeap(s.buf, syms, s.heap[:0])
	}
	for i := int32(0); i >= 0; i = syms[i].next {
		sy := syms[i]
		if sy.id >= 0 {
			dst = append(dst, sy.id)
			continue
		}
		for _, c := range s.buf[sy.start : sy.start+sy.n] {
			if id := m.byteID[c]; id >= 0 {
				dst = append(dst, id)
			} else if m.unk >= 0 {
				dst = append(dst, m.unk)
			}
		}
	}
	return dst
}

// pairID returns the mergeable token spelled by symbols l and r, or -1.
func (m *Model) pairID(buf []byte, l, r *symbol) int32 {
	if l.id >= 0 && r.id >= 0 {
		return m.pairs.get(l.id, r.id)
	}
	size := l.n + r.n
	if int(size) > m.maxLen {
		return -1
	}
	if id, ok := m.index[string(buf[l.start:l.start+size])]; ok && m.types[id].mergeable() {
		return id
	}
	return -1
}

// mergeScan merges a short segment by scanning for the best pair each round
// (llama2.c's loop, with the pair tokens cached).
func (m *Model) mergeScan(buf []byte, syms []symbol) {
	var pair [64]int32 // pair[i]: token of (i, syms[i].next), -1 if none
	for i := range syms {
		pair[i] = -1
		if nx := syms[i].next; nx >= 0 {
			pair[i] = m.pairID(buf, &syms[i], &syms[nx])
		}
	}
	for {
		best := int32(-1)
		var bestScore float32
		for i := int32(0); i >= 0; i = syms[i].next {
			if id := pair[i]; id >= 0 && (best < 0 || m.scores[id] > bestScore) {
				best, bestScore = i, m.scores[id]
			}
		}
		if best < 0 {
			return
		}
		l := &syms[best]
		r := &syms[l.next]
		l.id = pair[best]
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = best
			pair[best] = m.pairID(buf, l, &syms[r.next])
		} else {
			pair[best] = -1
		}
		if l.prev >= 0 {
			pair[l.prev] = m.pairID(buf, &syms[l.prev], l)
		}
	}
}

// scoreKey maps a score to a key that sorts ascending for descending scores.
func scoreKey(f float32) uint32 {
	b := math.Float32bits(f)
	if b>>31 != 0 {
		b = ^b
	} else {
		b |= 1 << 31
	}
	return ^b
}

// mergeHeap merges a segment with a priority queue of (score, left) keys:
// the highest score first, then the leftmost pair, as llama.cpp's
// llm_tokenizer_spm does. An entry is checked when popped: it is applied
// when the pair now right of left still spells a token of that score (a
// changed pair with the same key stands for an equal-priority entry that is
// also queued, so applying it gives the same merges in the same order).
func (m *Model) mergeHeap(buf []byte, syms []symbol, h []uint64) []uint64 {
	push := func(h []uint64, left int32) []uint64 {
		if left < 0 {
			return h
		}
		l := &syms[left]
		if l.next < 0 {
			return h
		}
		id := m.pairID(buf, l, &syms[l.next])
		if id < 0 {
			return h
		}
		return heapPush(h, uint64(scoreKey(m.scores[id]))<<32|uint64(uint32(left)))
	}
	for i := range syms {
		l := &syms[i]
		if l.next >= 0 {
			if id := m.pairID(buf, l, &syms[l.next]); id >= 0 {
				h = append(h, uint64(scoreKey(m.scores[id]))<<32|uint64(uint32(i)))
			}
		}
	}
	heapInit(h)
	for len(h) > 0 {
		k := h[0]
		h = heapPop(h)
		left := int32(uint32(k))
		l := &syms[left]
		if l.n == 0 || l.next < 0 {
			continue
		}
		r := &syms[l.next]
		id := m.pairID(buf, l, r)
		if id < 0 || scoreKey(m.scores[id]) != uint32(k>>32) {
			continue
		}
		l.id = id
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = left
		}
		h = push(h, l.prev)
		h = push(h, left)
	}
	return h
}

// The queue is a 4-ary min-heap of uint64 keys: shallower than a binary
// heap, with the children of a node on one cache line.

func heapInit(h []uint64) {
	if len(h) < 2 {
		return
	}
	for i := (len(h) - 2) / 4; i >= 0; i-- {
		heapDown(h, i, h[i])
	}
}

func heapPush(h []uint64, v uint64) []uint64 {
	h = append(h, v)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 4
		if h[p] <= v {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = v
	return h
}

func heapPop(h []uint64) []uint64 {
	n := len(h) - 1
	v := h[n]
	h = h[:n]
	if n > 0 {
		heapDown(h, 0, v)
	}
	return h
}

// heapDown places v at i or below.
func heapDown(h []uint64, i int, v uint64) {
	n := len(h)
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		best := c
		for j := c + 1; j < c+4 && j < n; j++ {
			if h[j] < h[best] {
				best = j
			}
		}
		if v <= h[best] {
			break
		}
		h[i] = h[best]
		i = best
	}
	h[i] = v
}
