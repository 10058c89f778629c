package kvpool

import "fmt"

// AcquireRequest describes a new sequence.
type AcquireRequest struct {
	// SeqID names the sequence; it must be unique among live sequences
	// (the request id is a good choice).
	SeqID string
	// Tokens is the prompt; at least one token. The pool copies it.
	Tokens []int32
	// Salt isolates tenants: blocks are shared only between requests with
	// the same salt. Empty means no isolation.
	Salt string
	// ConversationID, when set, names a conversation whose blocks the pool
	// keeps warm across turns (see Touch).
	ConversationID string
}

// Plan is what Acquire would do for a request right now.
type Plan struct {
	// CachedTokens is the number of prompt tokens whose KV would be reused.
	CachedTokens int
	// NewBlocks is the number of blocks Acquire would allocate.
	NewBlocks int
	// Available is the number of free or evictable blocks; Acquire fails
	// with ErrPoolExhausted when NewBlocks > Available.
	Available int
}

// match is the outcome of the prefix search for one request.
type match struct {
	blocks []int32 // matched physical blocks, a chain from depth 0
	cow    bool    // the prompt ends inside the last matched block: copy it
	cached int     // tokens whose KV is reused
	fresh  int     // blocks to allocate (including the copy)
	pinned int     // matched blocks that are cached now (ref 0)
}

// Acquire creates a sequence for req.Tokens: it reuses the longest cached
// chain of full blocks that equals a prefix of the prompt (subject to the
// flags), references those blocks and allocates fresh blocks for the rest of
// the prompt. CachedTokens of the result is always below len(req.Tokens): the
// last prompt token is computed to produce logits, and when it lies in a
// cached block that block is copied first (copy-on-write).
//
// Errors: ErrInvalidRequest, ErrSequenceTooLong, ErrDuplicateSequence,
// ErrTooManySequences, ErrPoolExhausted; on error nothing changed.
func (p *Pool) Acquire(req AcquireRequest) (*Sequence, error) {
	n := len(req.Tokens)
	switch {
	case req.SeqID == "":
		return nil, fmt.Errorf("%w: empty sequence id", ErrInvalidRequest)
	case n == 0:
		return nil, fmt.Errorf("%w: sequence %q has an empty prompt", ErrInvalidRequest, req.SeqID)
	case n > p.cfg.MaxTokensPerSequence:
		return nil, fmt.Errorf("%w: prompt of %d tokens exceeds max_tokens_per_sequence %d",
			ErrSequenceTooLong, n, p.cfg.MaxTokensPerSequence)
	}
	seed := p.Seed(req.Salt)
	s := &Sequence{
		pool:   p,
		id:     req.SeqID,
		convID: req.ConversationID,
		seed:   seed,
		tokens: append(make([]int32, 0, n+p.bs), req.Tokens...),
	}
	// Hashing needs no lock.
	s.hashes = AppendChainHashes(make([]BlockHash, 0, n/p.bs+1), seed, s.tokens, p.bs)

	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dup := p.seqs[req.SeqID]; dup {
		return nil, fmt.Errorf("%w: %q", ErrDuplicateSequence, req.SeqID)
	}
	if len(p.seqs) >= p.cfg.MaxSequences {
		return nil, fmt.Errorf("%w: %d live, max_sequences %d", ErrTooManySequences, len(p.seqs), p.cfg.MaxSequences)
	}
	conv := p.conversationLocked(req.ConversationID, seed)
	if conv != nil {
		p.touchLocked(conv)
	}
	mt := p.matchLocked(s, conv)
	if have := p.available() - mt.pinned; mt.fresh > have {
		p.metrics.exhausted.Inc()
		return nil, errExhausted(mt.fresh, have)
	}

	total := (n + p.bs - 1) / p.bs
	s.table = make([]int32, 0, total+1)
	for _, b := range mt.blocks {
		p.pin(b)
		s.table = append(s.table, b)
	}
	s.indexed = len(s.table)
	if mt.cow {
		last := len(s.table) - 1
		src := s.table[last]
		dst, _ := p.alloc() // cannot fail: counted in mt.fresh
		p.deps.CopyBlock(dst, src)
		p.unref(src)
		s.table[last] = dst
		s.indexed = last
		p.counts.copies++
		p.metrics.copies.Inc()
	}
	for len(s.table) < total {
		b, _ := p.alloc() // cannot fail: counted in mt.fresh
		s.table = append(s.table, b)
	}
	s.cached = mt.cached
	s.computed = mt.cached
	p.seqs[s.id] = s
	p.counts.hitTokens += uint64(mt.cached)
	p.counts.missTokens += uint64(n - mt.cached)
	p.metrics.hitTokens.Add(float64(mt.cached))
	p.metrics.missTokens.Add(float64(n - mt.cached))
	return s, nil
}

// Probe reports what Acquire(req) would reuse and allocate, without changing
// anything (not even LRU order). Schedulers use it for admission.
func (p *Pool) Probe(req AcquireRequest) Plan {
	seed := p.Seed(req.Salt)
	s := &Sequence{seed: seed, tokens: req.Tokens}
	s.hashes = AppendChainHashes(nil, seed, req.Tokens, p.bs)
	p.mu.Lock()
	defer p.mu.Unlock()
	mt := p.matchLocked(s, p.conversationLocked(req.ConversationID, seed))
	return Plan{CachedTokens: mt.cached, NewBlocks: mt.fresh, Available: p.available() - mt.pinned}
}

// matchLocked finds the reusable chain for s's prompt. conv restricts the
// search to that conversation's chain when prefix matching is off.
func (p *Pool) matchLocked(s *Sequence, conv *conversation) match {
	n := len(s.tokens)
	total := (n + p.bs - 1) / p.bs
	var mt match
	if p.flags.Enabled && (p.flags.PrefixMatching || conv != nil) {
		parent := none
		mt.blocks = make([]int32, 0, len(s.hashes))
		for j, h := range s.hashes {
			if !p.flags.PrefixMatching && (j >= len(conv.hashes) || conv.hashes[j] != h) {
				break
			}
			b, ok := p.lookup(h, s.seed, parent, s.tokens[j*p.bs:(j+1)*p.bs])
			if !ok {
				break
			}
			mt.blocks = append(mt.blocks, b)
			parent = b
		}
	}
	m := len(mt.blocks)
	if m*p.bs == n && m > 0 {
		// The last prompt token lies in the last matched block: it must be
		// recomputed, which writes that block, so take a private copy.
		if p.bs > 1 && p.deps.CopyBlock != nil {
			mt.cow = true
		} else {
			mt.blocks = mt.blocks[:m-1]
			m--
		}
	}
	for _, b := range mt.blocks {
		if p.blocks[b].ref == 0 {
			mt.pinned++
		}
	}
	mt.fresh = total - m
	mt.cached = m * p.bs
	if mt.cow {
		mt.fresh++
		mt.cached = n - 1
	}
	return mt
}
