package bpe

import "sync/atomic"

// Long pieces of rank vocabularies (tiktoken) are merged in windows.
//
// For a vocabulary in which every token's own BPE is the token itself, the
// BPE encoding of a text is the only token sequence that spells the text and
// in which every adjacent pair (x, y) is compatible, meaning BPE(x ++ y) is
// [x, y] (van Antwerpen and Neubeck, the linear-time algorithm of the
// github.com/github/rust-gems bpe crate). Any BPE output is such a sequence,
// so outputs of overlapping windows can be spliced at a position where both
// windows have a boundary followed by the same token: every pair of the
// result is adjacent in one of the window outputs, so the result is the
// encoding of the whole piece. TestTiktokenTokensSelfEncode checks the
// precondition for the embedded vocabularies; when no splice point is found
// the whole piece is merged in one heap run instead.

// windowFallbacks counts pieces merged whole because no splice point was
// found (tests read it).
var windowFallbacks atomic.Int64

const (
	windowLen     = 64 // bytes merged per window
	windowOverlap = 16 // bytes the next window re-merges to find a splice point
)

// mergeWindowed appends the BPE of p, len(p) > win+overlap.
func (m *Model) mergeWindowed(dst []int32, p string, win, overlap int) []int32 {
	var st mergeState
	return m.mergeWindowedState(dst, p, win, overlap, &st)
}

func (m *Model) mergeWindowedState(dst []int32, p string, win, overlap int, st *mergeState) []int32 {
	base := len(dst)
	sc := m.getScratch(win)
	defer m.scratch.Put(sc)
	cur := m.mergeInto(sc.cur[:0], p[:win], sc, st)
	pos, curEnd := 0, win // cur encodes p[pos:curEnd]
	for curEnd < len(p) {
		// Next window: from the last boundary of cur at or before curEnd-overlap.
		b, kb, off := -1, -1, pos
		for k, id := range cur {
			if off > pos && off <= curEnd-overlap {
				b, kb = off, k
			}
			off += len(m.TokenBytes(id))
		}
		if b < 0 {
			windowFallbacks.Add(1)
			return m.mergeWhole(dst[:base], p)
		}
		end := min(len(p), b+win)
		next := m.mergeInto(sc.next2[:0], p[b:end], sc, st)
		// Find a splice point q >= b: a boundary in both with the same token after it.
		q, kc, kn := -1, kb, 0
		oc, on := b, b
		for kc < len(cur) && kn < len(next) {
			switch {
			case oc == on:
				if cur[kc] == next[kn] {
					q = oc
				}
			}
			if q >= 0 {
				break
			}
			if oc <= on {
				oc += len(m.TokenBytes(cur[kc]))
				kc++
			} else {
				on += len(m.TokenBytes(next[kn]))
				kn++
			}
		}
		if q < 0 {
			windowFallbacks.Add(1)
			return m.mergeWhole(dst[:base], p)
		}
		dst = append(dst, cur[:kc]...)
		cur = append(cur[:0], next[kn:]...)
		pos, curEnd = q, end
		sc.next2 = next
	}
	dst = append(dst, cur...)
	sc.cur = cur
	return dst
}

// mergeInto appends the BPE of p (ids as merged, -1 for a byte without a
// token) to buf, with the stack merge for short p.
func (m *Model) mergeInto(buf []int32, p string, sc *scratch, st *mergeState) []int32 {
	if len(p) <= maxSmall {
		n := m.mergeSmall(p, &st.parts)
		for k := 0; k < n; k++ {
			buf = append(buf, st.parts[k].id)
		}
		return buf
	}
	sc.reset(len(p))
	return append(buf, m.mergeLong(p, sc)...)
}

// mergeWhole appends the BPE of p computed in one heap run.
func (m *Model) mergeWhole(dst []int32, p string) []int32 {
	sc := m.getScratch(len(p))
	for _, id := range m.mergeLong(p, sc) {
		if id >= 0 {
			dst = append(dst, id)
		}
	}
	m.scratch.Put(sc)
	return dst
}
