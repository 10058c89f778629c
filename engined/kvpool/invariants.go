package kvpool

import (
	"errors"
	"fmt"
)

// Stats is a consistent snapshot of the pool.
type Stats struct {
	TotalBlocks   int // NumBlocks
	FreeBlocks    int // on the free list
	UsedBlocks    int // referenced by at least one live sequence
	CachedBlocks  int // unreferenced, indexed, evictable
	IndexedBlocks int // in the prefix index (cached or used)
	Sequences     int
	Conversations int

	HitTokens    uint64 // prompt tokens reused, cumulative
	MissTokens   uint64 // prompt tokens computed, cumulative
	Evictions    uint64
	CopyOnWrites uint64
	Dedups       uint64
	Events       uint64 // events emitted (the last Event.Seq)
}

// Stats returns a snapshot of the pool.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{
		TotalBlocks:   len(p.blocks),
		FreeBlocks:    len(p.free),
		UsedBlocks:    p.used,
		CachedBlocks:  p.lruLen,
		IndexedBlocks: len(p.index),
		Sequences:     len(p.seqs),
		Conversations: len(p.convs.byID),
		HitTokens:     p.counts.hitTokens,
		MissTokens:    p.counts.missTokens,
		Evictions:     p.counts.evictions,
		CopyOnWrites:  p.counts.copies,
		Dedups:        p.counts.dedups,
		Events:        p.eventSeq,
	}
}

// CheckInvariants verifies the pool's bookkeeping and returns every
// violation found, joined (nil when consistent). It walks everything and
// is meant for tests and debugging:
//   - each block's ref count equals the number of live tables holding it;
//   - free + used + cached == NumBlocks, each block in exactly one state;
//   - the index maps each hash to an indexed block with that hash, whose
//     parent is indexed under its parent hash, and children counts match;
//   - a cached block's parent is used or more recently used (so the LRU head
//     is always evictable and chains lose their tail first);
//   - every table is a chain: its indexed prefix follows parent links.
func (p *Pool) CheckInvariants() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	bad := func(format string, a ...any) {
		if len(errs) < 20 {
			errs = append(errs, fmt.Errorf(format, a...))
		}
	}
	n := len(p.blocks)
	refs := make([]int32, n)
	for id, s := range p.seqs {
		if s.id != id || s.released {
			bad("sequence map entry %q holds %q (released %v)", id, s.id, s.released)
		}
		if want := (len(s.tokens) + p.bs - 1) / p.bs; len(s.table) != want {
			bad("sequence %q: %d tokens but %d blocks", id, len(s.tokens), len(s.table))
		}
		if s.computed > len(s.tokens) || s.cached > s.computed || s.indexed > len(s.table) {
			bad("sequence %q: cached %d computed %d indexed %d len %d", id, s.cached, s.computed, s.indexed, len(s.tokens))
		}
		for j, b := range s.table {
			if b < 0 || int(b) >= n {
				bad("sequence %q: block %d out of range", id, b)
				continue
			}
			refs[b]++
			m := &p.blocks[b]
			if j < s.indexed {
				if !m.indexed || int(m.depth) != j {
					bad("sequence %q: block %d at %d should be indexed at that depth", id, b, j)
				}
				if j < len(s.hashes) && m.hash != s.hashes[j] {
					bad("sequence %q: block %d hash differs from the chain", id, b)
				}
				want := none
				if j > 0 {
					want = s.table[j-1]
				}
				if m.parent != want {
					bad("sequence %q: block %d parent %d, table has %d", id, b, m.parent, want)
				}
			}
		}
	}
	inFree := make([]bool, n)
	for _, b := range p.free {
		if inFree[b] {
			bad("block %d twice on the free list", b)
		}
		inFree[b] = true
	}
	lruPos := make([]int, n)
	for i := range lruPos {
		lruPos[i] = -1
	}
	pos, prev := 0, none
	for b := p.lruHead; b != none; b = p.blocks[b].next {
		if pos > n {
			bad("LRU list has a cycle")
			break
		}
		if p.blocks[b].prev != prev {
			bad("LRU block %d prev link %d, want %d", b, p.blocks[b].prev, prev)
		}
		lruPos[b] = pos
		pos++
		prev = b
	}
	if pos != p.lruLen || p.lruTail != prev {
		bad("LRU length %d tail %d, counted %d tail %d", p.lruLen, p.lruTail, pos, prev)
	}
	used, children := 0, make([]int32, n)
	for b := range p.blocks {
		m := &p.blocks[b]
		if m.ref != refs[b] {
			bad("block %d ref %d, referenced by %d tables", b, m.ref, refs[b])
		}
		states := 0
		if m.ref > 0 {
			used++
			states++
		}
		if inFree[b] {
			states++
			if m.indexed {
				bad("free block %d is indexed", b)
			}
		}
		if lruPos[b] >= 0 {
			states++
			if !m.indexed || !m.inLRU {
				bad("cached block %d: indexed %v inLRU %v", b, m.indexed, m.inLRU)
			}
		} else if m.inLRU {
			bad("block %d marked inLRU but not on the list", b)
		}
		if states != 1 {
			bad("block %d in %d states (ref %d free %v cached %v)", b, states, m.ref, inFree[b], lruPos[b] >= 0)
		}
		if !m.indexed {
			continue
		}
		if cur, ok := p.index[m.hash]; !ok || cur != int32(b) {
			bad("indexed block %d not in the index under its hash", b)
		}
		if m.parent == none {
			if m.depth != 0 {
				bad("root block %d at depth %d", b, m.depth)
			}
			continue
		}
		pm := &p.blocks[m.parent]
		children[m.parent]++
		if !pm.indexed || pm.hash != m.parentHash || pm.depth != m.depth-1 {
			bad("block %d: parent %d not indexed under parent hash at depth-1", b, m.parent)
		}
		if lruPos[b] >= 0 && lruPos[m.parent] >= 0 && lruPos[m.parent] < lruPos[b] {
			bad("cached block %d is more recently used than its parent %d", b, m.parent)
		}
	}
	for b := range p.blocks {
		if children[b] != p.blocks[b].children {
			bad("block %d children %d, counted %d", b, p.blocks[b].children, children[b])
		}
	}
	if used != p.used {
		bad("used count %d, counted %d", p.used, used)
	}
	if len(p.free)+used+p.lruLen != n {
		bad("free %d + used %d + cached %d != %d blocks", len(p.free), used, p.lruLen, n)
	}
	for h, b := range p.index {
		if b < 0 || int(b) >= n || !p.blocks[b].indexed || p.blocks[b].hash != h {
			bad("index entry %x -> %d is stale", uint64(h), b)
		}
	}
	if !p.retains() && p.lruLen != 0 {
		bad("%d cached blocks while caching is off", p.lruLen)
	}
	if len(p.seqs) > p.cfg.MaxSequences {
		bad("%d sequences over max_sequences %d", len(p.seqs), p.cfg.MaxSequences)
	}
	if len(p.convs.byID) != p.convs.order.Len() || len(p.convs.byID) > p.convs.max {
		bad("conversations: %d records, %d in order, max %d", len(p.convs.byID), p.convs.order.Len(), p.convs.max)
	}
	return errors.Join(errs...)
}
