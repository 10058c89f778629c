package bpe

// maxSmall is the longest piece merged with the simple quadratic loop over a
// stack array; longer pieces use the heap merge, O(n log n).
const maxSmall = 64

type part struct {
	start int32
	id    int32
	rank  uint32 // rank of merging this part with the next, noRank if none
	pid   int32  // id of that merge
}

// pairRank returns the rank and result id of merging the adjacent parts
// p[a:b] (id x) and p[b:c] (id y).
func (m *Model) pairRank(p string, a, c int32, x, y int32) (uint32, int32) {
	if x < 0 || y < 0 {
		return noRank, -1
	}
	if m.merges == nil {
		if id, ok := m.vocab.lookup(p[a:c]); ok {
			return uint32(id), id
		}
		return noRank, -1
	}
	return m.merges.get(x, y)
}

// mergeSmall runs BPE over p (2 <= len(p) <= maxSmall) in parts and returns
// the number of resulting parts. Each step merges the lowest-ranked adjacent
// pair, the leftmost on ties, as tiktoken and Hugging Face tokenizers do.
func (m *Model) mergeSmall(p string, parts *[maxSmall + 1]part) int {
	n := len(p)
	for i := 0; i < n; i++ {
		parts[i] = part{start: int32(i), id: m.byteID[p[i]], rank: noRank}
	}
	parts[n] = part{start: int32(n), rank: noRank}
	for i := 0; i+1 < n; i++ {
		v := m.pair2[uint16(p[i])<<8|uint16(p[i+1])]
		parts[i].rank, parts[i].pid = uint32(v>>32), int32(uint32(v))
	}
	count := n
	for count > 1 {
		best, br := -1, noRank
		for i := 0; i+1 < count; i++ {
			if r := parts[i].rank; r < br {
				best, br = i, r
			}
		}
		if best < 0 {
			break
		}
		parts[best].id = parts[best].pid
		copy(parts[best+1:count], parts[best+2:count+1])
		count--
		if best+1 < count {
			parts[best].rank, parts[best].pid = m.pairRank(p, parts[best].start, parts[best+2].start, parts[best].id, parts[best+1].id)
		} else {
			parts[best].rank = noRank
		}
		if best > 0 {
			q := best - 1
			parts[q].rank, parts[q].pid = m.pairRank(p, parts[q].start, parts[q+2].start, parts[q].id, parts[q+1].id)
		}
	}
	return count
}

// scratch holds the buffers of one long-piece merge.
type scratch struct {
	id   []int32
	next []int32
	prev []int32
	pr   []uint32 // rank of merging part i with its right neighbour
	pid  []int32  // id that merge makes
	heap []uint64 // rank<<32 | start of the left part
	out  []int32

	cur, next2 []int32 // window outputs (mergeWindowed)
}

func (m *Model) getScratch(n int) *scratch {
	sc, _ := m.scratch.Get().(*scratch)
	if sc == nil {
		sc = &scratch{}
	}
	sc.reset(n)
	return sc
}

// reset sizes the buffers for a piece of n bytes.
func (sc *scratch) reset(n int) {
	if cap(sc.id) < n {
		sc.id = make([]int32, n)
		sc.next = make([]int32, n)
		sc.prev = make([]int32, n)
		sc.pr = make([]uint32, n)
		sc.pid = make([]int32, n)
	}
	sc.id, sc.next, sc.prev, sc.pr, sc.pid = sc.id[:n], sc.next[:n], sc.prev[:n], sc.pr[:n], sc.pid[:n]
	sc.heap = sc.heap[:0]
	sc.out = sc.out[:0]
}

// mergeLong runs BPE over p with a linked list of parts and a binary heap of
// candidate merges keyed by (rank, start), the same order as mergeSmall.
// Each part keeps the rank of its current right pair, so a heap entry is
// stale exactly when its rank differs from that (ranks name one merge).
func (m *Model) mergeLong(p string, sc *scratch) []int32 {
	n := int32(len(p))
	id, next, prev, pr, pid := sc.id, sc.next, sc.prev, sc.pr, sc.pid
	for i := int32(0); i < n; i++ {
		id[i] = m.byteID[p[i]]
		next[i] = i + 1
		prev[i] = i - 1
	}
	h := sc.heap
	for i := int32(0); i < n; i++ {
		pr[i] = noRank
		if i+1 < n {
			v := m.pair2[uint16(p[i])<<8|uint16(p[i+1])]
			pr[i], pid[i] = uint32(v>>32), int32(uint32(v))
			if pr[i] != noRank {
				h = append(h, uint64(pr[i])<<32|uint64(i))
			}
		}
	}
	heapInit(h)
	for len(h) > 0 {
		top := h[0]
		h = heapPop(h)
		i := int32(uint32(top))
		if pr[i] != uint32(top>>32) {
			continue // stale
		}
		j := next[i]
		id[i] = pid[i]
		next[i] = next[j]
		pr[j] = noRank // j is gone
		k := next[i]
		if k < n {
			prev[k] = i
			pr[i], pid[i] = m.pairRank(p, i, next[k], id[i], id[k])
			if pr[i] != noRank {
				h = heapPush(h, uint64(pr[i])<<32|uint64(i))
			}
		} else {
			pr[i] = noRank
		}
		if q := prev[i]; q >= 0 {
			pr[q], pid[q] = m.pairRank(p, q, next[i], id[q], id[i])
			if pr[q] != noRank {
				h = heapPush(h, uint64(pr[q])<<32|uint64(q))
			}
		}
	}
	sc.heap = h
	out := sc.out
	for i := int32(0); i < n; i = next[i] {
		out = append(out, id[i])
	}
	sc.out = out
	return out
}

// The candidate heap is 4-ary: half the depth of a binary heap, which
// matters for pieces of 100 KB.

func heapInit(h []uint64) {
	if len(h) < 2 {
		return
	}
	for i := (len(h) - 2) / 4; i >= 0; i-- {
		heapDown(h, i)
	}
}

func heapDown(h []uint64, i int) {
	n := len(h)
	v := h[i]
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m, mv := c, h[c]
		if c+3 < n {
			if x := h[c+1]; x < mv {
				m, mv = c+1, x
			}
			if x := h[c+2]; x < mv {
				m, mv = c+2, x
			}
			if x := h[c+3]; x < mv {
				m, mv = c+3, x
			}
		} else {
			for k := c + 1; k < n; k++ {
				if x := h[k]; x < mv {
					m, mv = k, x
				}
			}
		}
		if v <= mv {
			break
		}
		h[i] = mv
		i = m
	}
	h[i] = v
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
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	if last > 0 {
		heapDown(h, 0)
	}
	return h
}

// pairTable is an open-addressing hash table from a pair of token ids to
// (rank, result id).
type pairTable struct {
	keys  []uint64 // x<<32|y, 0 = empty (ids are stored +1)
	vals  []uint64 // rank<<32 | result id
	shift uint
}

func newPairTable(n int) *pairTable {
	size, shift := 1, uint(64)
	for size < 2*n+2 {
		size <<= 1
		shift--
	}
	return &pairTable{keys: make([]uint64, size), vals: make([]uint64, size), shift: shift}
}

func pairKey(x, y int32) uint64 { return uint64(uint32(x)+1)<<32 | uint64(uint32(y)+1) }

// put records a merge; the first (lowest-ranked) entry for a pair wins.
func (t *pairTable) put(x, y int32, rank uint32, res int32) {
	k := pairKey(x, y)
	mask := uint64(len(t.keys) - 1)
	for i := (k * 0x9E3779B97F4A7C15) >> t.shift; ; i = (i + 1) & mask {
		switch t.keys[i] {
		case 0:
			t.keys[i] = k
			t.vals[i] = uint64(rank)<<32 | uint64(uint32(res))
			return
		case k:
			return
		}
	}
}

func (t *pairTable) get(x, y int32) (uint32, int32) {
	k := pairKey(x, y)
	mask := uint64(len(t.keys) - 1)
	for i := (k * 0x9E3779B97F4A7C15) >> t.shift; ; i = (i + 1) & mask {
		switch t.keys[i] {
		case k:
			v := t.vals[i]
			return uint32(v >> 32), int32(uint32(v))
		case 0:
			return noRank, -1
		}
	}
}
