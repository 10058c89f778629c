package kvpool

import (
	"fmt"
	"slices"
)

// Sequence is one live request's view of the pool: the physical block of
// every logical block, the token ids whose slots are reserved, and how many
// of them have KV computed. Its methods are safe for concurrent use (they
// take the pool's lock), but one owner — the scheduler — normally drives it.
type Sequence struct {
	pool   *Pool
	id     string
	convID string
	seed   Seed

	tokens []int32     // every reserved position's token id
	hashes []BlockHash // chain hashes of the full blocks hashed so far
	table  []int32     // physical block per logical block

	cached   int  // prompt tokens reused at Acquire
	computed int  // positions whose KV is written
	indexed  int  // table[:indexed] are indexed blocks (a chain)
	broken   bool // table[indexed] can never be indexed (see Commit)
	released bool
}

// ID returns the sequence id.
func (s *Sequence) ID() string { return s.id }

// ConversationID returns the conversation the sequence belongs to, or "".
func (s *Sequence) ConversationID() string { return s.convID }

// Seed returns the hash-chain root of the sequence (model and salt).
func (s *Sequence) Seed() Seed { return s.seed }

// Table returns a copy of the block table: element i is the physical block
// holding positions [i*BlockSize, (i+1)*BlockSize). Read it again after
// AppendTokens and Commit, which may change it.
func (s *Sequence) Table() []int32 { return s.AppendTable(nil) }

// AppendTable appends the block table to dst (allocation-free when dst has
// room) and returns the extended slice.
func (s *Sequence) AppendTable(dst []int32) []int32 {
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	return append(dst, s.table...)
}

// Len returns the number of reserved positions (prompt plus appended tokens).
func (s *Sequence) Len() int {
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	return len(s.tokens)
}

// CachedTokens returns how many prompt tokens were reused at Acquire: the
// engine starts prefill at this position. It is below the prompt length.
func (s *Sequence) CachedTokens() int {
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	return s.cached
}

// Computed returns the number of positions whose KV is written (CachedTokens
// after Acquire, then the last Commit).
func (s *Sequence) Computed() int {
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	return s.computed
}

// Released reports whether the sequence was released.
func (s *Sequence) Released() bool {
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	return s.released
}

// AppendTokens reserves one position per id at the end of the sequence
// (generated tokens about to be fed to the model), allocating a block at each
// block boundary. When the current last block is partially filled and shared
// with a forked sequence it is first copied (copy-on-write) so the new
// positions are written into a private block.
//
// Errors: ErrSequenceReleased, ErrSequenceTooLong, ErrPoolExhausted,
// ErrNoCopy; on error nothing changed.
func (s *Sequence) AppendTokens(ids ...int32) error {
	p := s.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.released {
		return fmt.Errorf("%w: %q", ErrSequenceReleased, s.id)
	}
	if len(ids) == 0 {
		return nil
	}
	n := len(s.tokens)
	newLen := n + len(ids)
	if newLen > p.cfg.MaxTokensPerSequence {
		return fmt.Errorf("%w: %d tokens after appending %d exceed max_tokens_per_sequence %d",
			ErrSequenceTooLong, newLen, len(ids), p.cfg.MaxTokensPerSequence)
	}
	grow := (newLen+p.bs-1)/p.bs - len(s.table)
	need := grow
	last := len(s.table) - 1
	cow := n%p.bs != 0 && p.blocks[s.table[last]].ref > 1
	if cow {
		if p.deps.CopyBlock == nil {
			return fmt.Errorf("%w: sequence %q shares its partial last block", ErrNoCopy, s.id)
		}
		need++
	}
	if need > p.available() {
		p.metrics.exhausted.Inc()
		return errExhausted(need, p.available())
	}
	if cow {
		src := s.table[last]
		dst, _ := p.alloc() // cannot fail: counted in need
		p.deps.CopyBlock(dst, src)
		p.unref(src)
		s.table[last] = dst
		p.counts.copies++
		p.metrics.copies.Inc()
	}
	for range grow {
		b, _ := p.alloc() // cannot fail: counted in need
		s.table = append(s.table, b)
	}
	s.tokens = append(s.tokens, ids...)
	return nil
}

// Commit records that the KV of positions [0, computed) is written. Every
// block that became full is registered in the prefix index (emitting
// BlockStored in chain order) so later requests can reuse it. When another
// block with identical contents is already indexed under the same hash (two
// requests computed the same prefix concurrently, or the copy made by
// Acquire), the sequence switches to that block and frees its own copy:
// re-read Table after Commit. Commit with a smaller count than before is a
// no-op.
//
// Errors: ErrSequenceReleased, ErrInvalidRequest (computed > Len()).
func (s *Sequence) Commit(computed int) error {
	p := s.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.released {
		return fmt.Errorf("%w: %q", ErrSequenceReleased, s.id)
	}
	if computed < 0 || computed > len(s.tokens) {
		return fmt.Errorf("%w: commit of %d positions, sequence %q has %d", ErrInvalidRequest, computed, s.id, len(s.tokens))
	}
	if computed <= s.computed {
		return nil
	}
	s.computed = computed
	if p.flags.Enabled {
		p.indexLocked(s)
	}
	return nil
}

// indexLocked indexes the sequence's newly full, computed blocks.
func (p *Pool) indexLocked(s *Sequence) {
	full := s.computed / p.bs
	for s.indexed < full && !s.broken {
		j := s.indexed
		for len(s.hashes) <= j {
			k := len(s.hashes)
			parent := s.seed.Root()
			if k > 0 {
				parent = s.hashes[k-1]
			}
			s.hashes = append(s.hashes, HashBlock(parent, s.tokens[k*p.bs:(k+1)*p.bs]))
		}
		h := s.hashes[j]
		parentHash, parent := s.seed.Root(), none
		if j > 0 {
			parentHash, parent = s.hashes[j-1], s.table[j-1]
		}
		b := s.table[j]
		toks := s.tokens[j*p.bs : (j+1)*p.bs]
		switch m := &p.blocks[b]; {
		case m.indexed:
			// Shared with a fork that indexed it first.
			if m.hash != h {
				s.broken = true
				continue
			}
		case hasKey(p.index, h):
			c, ok := p.lookup(h, s.seed, parent, toks)
			if !ok {
				// A hash collision or a chain through another block: leave
				// this sequence's remaining blocks private.
				s.broken = true
				continue
			}
			p.pin(c)
			p.unref(b)
			s.table[j] = c
			p.counts.dedups++
			p.metrics.dedups.Inc()
		default:
			p.indexBlock(b, h, parentHash, parent, j, toks)
		}
		s.indexed++
	}
}

func hasKey(m map[BlockHash]int32, h BlockHash) bool { _, ok := m[h]; return ok }

// Fork returns a new live sequence with id seqID that shares every block of
// s (parallel sampling: prefill once, then generate several continuations).
// s must be fully computed (Computed() == Len()). The first of the two to
// append into a shared partial block copies it.
//
// Errors: ErrSequenceReleased, ErrInvalidRequest, ErrDuplicateSequence,
// ErrTooManySequences, ErrNotComputed, ErrNoCopy.
func (s *Sequence) Fork(seqID string) (*Sequence, error) {
	p := s.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case s.released:
		return nil, fmt.Errorf("%w: %q", ErrSequenceReleased, s.id)
	case seqID == "":
		return nil, fmt.Errorf("%w: empty sequence id", ErrInvalidRequest)
	case s.computed != len(s.tokens):
		return nil, fmt.Errorf("%w: %q computed %d of %d", ErrNotComputed, s.id, s.computed, len(s.tokens))
	case len(s.tokens)%p.bs != 0 && p.deps.CopyBlock == nil:
		return nil, fmt.Errorf("%w: %q ends in a partial block", ErrNoCopy, s.id)
	}
	if _, dup := p.seqs[seqID]; dup {
		return nil, fmt.Errorf("%w: %q", ErrDuplicateSequence, seqID)
	}
	if len(p.seqs) >= p.cfg.MaxSequences {
		return nil, fmt.Errorf("%w: %d live, max_sequences %d", ErrTooManySequences, len(p.seqs), p.cfg.MaxSequences)
	}
	f := &Sequence{
		pool:     p,
		id:       seqID,
		convID:   s.convID,
		seed:     s.seed,
		tokens:   slices.Clone(s.tokens),
		hashes:   slices.Clone(s.hashes),
		table:    slices.Clone(s.table),
		cached:   s.cached,
		computed: s.computed,
		indexed:  s.indexed,
		broken:   s.broken,
	}
	for _, b := range f.table {
		p.pin(b)
	}
	p.seqs[seqID] = f
	return f, nil
}

// Release drops the sequence's references (finish, cancellation or
// preemption). Its indexed blocks stay cached as the most recently used,
// ordered so the deepest is evicted first; its other blocks return to the
// free list. A conversation's record is updated to this sequence's chain.
// Release is idempotent.
func (s *Sequence) Release() {
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	s.pool.releaseLocked(s)
}

func (p *Pool) releaseLocked(s *Sequence) {
	if s.released {
		return
	}
	s.released = true
	delete(p.seqs, s.id)
	if s.convID != "" && p.flags.Enabled {
		p.recordConversationLocked(s)
	}
	for j := len(s.table) - 1; j >= 0; j-- {
		p.unref(s.table[j])
	}
	s.table, s.tokens, s.hashes = nil, nil, nil
}
