package kvpool

import (
	"fmt"
	"slices"
	"sync"
)

// none marks an absent block link.
const none int32 = -1

// blockMeta is the pool's bookkeeping for one physical block. A block is in
// exactly one state: free (ref 0, not indexed, on the free list), used
// (ref > 0) or cached (ref 0, indexed, on the LRU list).
type blockMeta struct {
	ref        int32
	parent     int32 // physical parent of an indexed block; none for depth 0
	children   int32 // indexed blocks whose parent is this block
	prev, next int32 // LRU links
	depth      int32
	inLRU      bool
	indexed    bool
	hash       BlockHash
	parentHash BlockHash
}

// Pool assigns physical KV blocks to sequences and caches full blocks for
// reuse. All methods are safe for concurrent use; see doc.go.
type Pool struct {
	mu    sync.Mutex
	cfg   Config
	deps  Deps
	flags Flags
	bs    int

	blocks []blockMeta
	tokens []int32 // tokens[b*bs:(b+1)*bs]: the token ids of indexed block b
	free   []int32 // stack; the top is handed out next
	used   int

	lruHead, lruTail int32 // head = least recently used
	lruLen           int

	index map[BlockHash]int32
	seqs  map[string]*Sequence
	convs conversations

	eventSeq uint64
	counts   counters
	metrics  *metrics

	scratch []int32 // reused by touch
}

// counters are cumulative totals, mirrored in Prometheus counters.
type counters struct {
	hitTokens, missTokens, evictions, copies, dedups uint64
}

// New returns a pool of cfg.NumBlocks free blocks. It validates cfg and
// registers metrics with deps.Registerer; it starts no goroutines.
func New(cfg Config, deps Deps) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxConversations == 0 {
		cfg.MaxConversations = cfg.NumBlocks
	}
	p := &Pool{
		cfg:     cfg,
		deps:    deps,
		flags:   cfg.Flags,
		bs:      cfg.BlockSize,
		blocks:  make([]blockMeta, cfg.NumBlocks),
		tokens:  make([]int32, cfg.NumBlocks*cfg.BlockSize),
		free:    make([]int32, cfg.NumBlocks),
		lruHead: none,
		lruTail: none,
		index:   make(map[BlockHash]int32),
		seqs:    make(map[string]*Sequence),
	}
	p.convs.init(cfg.MaxConversations)
	for i := range p.blocks {
		p.blocks[i] = blockMeta{parent: none, prev: none, next: none}
		p.free[i] = int32(cfg.NumBlocks - 1 - i) // block 0 is handed out first
	}
	m, err := newMetrics(p, deps.Registerer)
	if err != nil {
		return nil, err
	}
	p.metrics = m
	return p, nil
}

// Config returns the configuration the pool was built with (Flags as given
// at construction; see Pool.Flags for the current ones).
func (p *Pool) Config() Config { return p.cfg }

// BlockSize returns the number of token positions per block.
func (p *Pool) BlockSize() int { return p.bs }

// Seed returns the hash-chain root of this pool's model for salt.
func (p *Pool) Seed(salt string) Seed { return NewSeed(p.cfg.ModelID, salt) }

// Flags returns the current runtime switches.
func (p *Pool) Flags() Flags {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.flags
}

// SetFlags changes the runtime switches. Turning Enabled or LRUEviction off
// drops every unreferenced cached block at once (emitting Removed events,
// deepest blocks first); turning Enabled off also forgets conversations.
// Live sequences keep their blocks.
func (p *Pool) SetFlags(f Flags) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.flags = f
	if !p.retains() {
		for p.lruLen > 0 {
			b := p.evictLocked()
			p.pushFree(b)
		}
	}
	if !f.Enabled {
		p.convs.clear()
	}
}

// retains reports whether unreferenced indexed blocks stay cached.
func (p *Pool) retains() bool { return p.flags.Enabled && p.flags.LRUEviction }

// available returns how many blocks an allocation can obtain right now.
func (p *Pool) available() int { return len(p.free) + p.lruLen }

// alloc hands out one block with ref 1, evicting the least recently used
// cached block when the free list is empty. ok is false when neither exists.
func (p *Pool) alloc() (b int32, ok bool) {
	switch {
	case len(p.free) > 0:
		b = p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
	case p.lruLen > 0:
		b = p.evictLocked()
	default:
		return none, false
	}
	p.blocks[b].ref = 1
	p.used++
	return b, true
}

// pin takes one more reference to b, taking it off the LRU if it was cached.
func (p *Pool) pin(b int32) {
	m := &p.blocks[b]
	if m.ref == 0 {
		if m.inLRU {
			p.lruRemove(b)
		}
		p.used++
	}
	m.ref++
}

// unref drops one reference to b. An unreferenced indexed block becomes the
// most recently used cached block (or leaves the index when the pool does not
// retain); any other unreferenced block returns to the free list.
func (p *Pool) unref(b int32) {
	m := &p.blocks[b]
	m.ref--
	if m.ref > 0 {
		return
	}
	p.used--
	if m.indexed {
		if p.retains() {
			p.lruPushBack(b)
			return
		}
		p.unindex(b)
	}
	p.pushFree(b)
}

func (p *Pool) pushFree(b int32) { p.free = append(p.free, b) }

// evictLocked removes the least recently used cached block that has no
// indexed children from the LRU and the index and returns it (not on the free
// list). The caller ensures lruLen > 0. Releases insert a chain deepest block
// first, so the head is normally such a leaf and the scan stops at once.
func (p *Pool) evictLocked() int32 {
	b := p.lruHead
	for b != none && p.blocks[b].children > 0 {
		b = p.blocks[b].next
	}
	if b == none {
		// Unreachable while the invariants hold (see CheckInvariants); take
		// the head so allocation still makes progress.
		b = p.lruHead
	}
	p.lruRemove(b)
	p.unindex(b)
	p.counts.evictions++
	p.metrics.evictions.Inc()
	return b
}

// index registers b (referenced, full) under h with physical parent parent.
func (p *Pool) indexBlock(b int32, h, parentHash BlockHash, parent int32, depth int, tokens []int32) {
	m := &p.blocks[b]
	m.indexed = true
	m.hash = h
	m.parentHash = parentHash
	m.parent = parent
	m.depth = int32(depth)
	copy(p.tokens[int(b)*p.bs:], tokens[:p.bs])
	if parent != none {
		p.blocks[parent].children++
	}
	p.index[h] = b
	p.emit(BlockStored, m, b)
}

// unindex removes b from the prefix index and emits BlockRemoved.
func (p *Pool) unindex(b int32) {
	m := &p.blocks[b]
	if cur, ok := p.index[m.hash]; ok && cur == b {
		delete(p.index, m.hash)
	}
	if m.parent != none {
		p.blocks[m.parent].children--
	}
	p.emit(BlockRemoved, m, b)
	*m = blockMeta{parent: none, prev: none, next: none}
}

func (p *Pool) emit(kind EventKind, m *blockMeta, b int32) {
	p.eventSeq++
	if p.deps.Events == nil {
		return
	}
	p.deps.Events(Event{Seq: p.eventSeq, Kind: kind, Hash: m.hash, Parent: m.parentHash, Depth: m.depth, Block: b})
}

func (p *Pool) blockTokens(b int32) []int32 {
	return p.tokens[int(b)*p.bs : (int(b)+1)*p.bs]
}

// lookup returns the indexed block that continues the chain at depth j after
// physical block parent (none at depth 0) with hash h and exactly the given
// tokens, verifying the stored token ids so a hash collision is a miss.
func (p *Pool) lookup(h BlockHash, seed Seed, parent int32, tokens []int32) (int32, bool) {
	b, ok := p.index[h]
	if !ok {
		return none, false
	}
	m := &p.blocks[b]
	if m.parent != parent || (parent == none && m.parentHash != seed.Root()) {
		return none, false
	}
	if !slices.Equal(p.blockTokens(b), tokens) {
		return none, false
	}
	return b, true
}

// LRU list operations (intrusive, on blockMeta.prev/next).

func (p *Pool) lruPushBack(b int32) {
	m := &p.blocks[b]
	m.inLRU = true
	m.prev, m.next = p.lruTail, none
	if p.lruTail == none {
		p.lruHead = b
	} else {
		p.blocks[p.lruTail].next = b
	}
	p.lruTail = b
	p.lruLen++
}

func (p *Pool) lruRemove(b int32) {
	m := &p.blocks[b]
	if m.prev == none {
		p.lruHead = m.next
	} else {
		p.blocks[m.prev].next = m.next
	}
	if m.next == none {
		p.lruTail = m.prev
	} else {
		p.blocks[m.next].prev = m.prev
	}
	m.prev, m.next, m.inLRU = none, none, false
	p.lruLen--
}

// Release releases the live sequence with id seqID (the cancellation path,
// for callers that hold only the id). It reports whether such a sequence was
// live.
func (p *Pool) Release(seqID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.seqs[seqID]
	if ok {
		p.releaseLocked(s)
	}
	return ok
}

// Sequences returns the number of live sequences.
func (p *Pool) Sequences() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.seqs)
}

func errExhausted(need, have int) error {
	return fmt.Errorf("%w: need %d blocks, %d free or evictable", ErrPoolExhausted, need, have)
}
