package kvpool

import (
	"fmt"
	"sync"
	"testing"
)

// arena stands in for the engine's KV arena: every slot holds a value that
// depends on the seed and on all token ids up to and including its position,
// just as real K/V vectors do. CopyBlock copies slots; compute writes them.
// Reading a slot whose value differs from the one the sequence's own tokens
// produce means the pool handed out the wrong KV.
type arena struct {
	mu     sync.Mutex
	bs     int
	slots  [][]uint64
	copies [][2]int32
}

func newArena(numBlocks, bs int) *arena {
	a := &arena{bs: bs, slots: make([][]uint64, numBlocks)}
	for i := range a.slots {
		a.slots[i] = make([]uint64, bs)
	}
	return a
}

func (a *arena) copyBlock(dst, src int32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	copy(a.slots[dst], a.slots[src])
	a.copies = append(a.copies, [2]int32{dst, src})
}

func (a *arena) copyLog() [][2]int32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([][2]int32(nil), a.copies...)
}

// kvValue chains position values like attention state: v_i = mix(v_{i-1}, t_i).
func kvValue(prev uint64, tok int32) uint64 {
	h := (prev ^ uint64(uint32(tok))) * prime1
	return h ^ h>>29 ^ 0x9e3779b97f4a7c15
}

func expectedKV(seed Seed, toks []int32) []uint64 {
	out := make([]uint64, len(toks))
	v := uint64(seed)
	for i, t := range toks {
		v = kvValue(v, t)
		out[i] = v
	}
	return out
}

// engine drives sequences as the scheduler will: prefill the uncached part,
// decode token by token, verifying KV before every write.
type engine struct {
	p *Pool
	a *arena
}

func newEngine(t testing.TB, cfg Config, events func(Event)) *engine {
	t.Helper()
	a := newArena(cfg.NumBlocks, cfg.BlockSize)
	p, err := New(cfg, Deps{CopyBlock: a.copyBlock, Events: events})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &engine{p: p, a: a}
}

// compute writes positions [from, to) of s, failing when a written block is
// shared or indexed (the pool must give writers private blocks), then commits.
func (e *engine) compute(s *Sequence, toks []int32, to int) error {
	from := s.Computed()
	want := expectedKV(s.Seed(), toks[:to])
	table := s.Table()
	e.p.mu.Lock()
	e.a.mu.Lock()
	for pos := from; pos < to; pos++ {
		b := table[pos/e.a.bs]
		if m := e.p.blocks[b]; m.ref != 1 || m.indexed {
			e.a.mu.Unlock()
			e.p.mu.Unlock()
			return fmt.Errorf("seq %s writes position %d into block %d with ref %d indexed %v", s.ID(), pos, b, m.ref, m.indexed)
		}
		e.a.slots[b][pos%e.a.bs] = want[pos]
	}
	e.a.mu.Unlock()
	e.p.mu.Unlock()
	return s.Commit(to)
}

// verify checks that every computed position of s holds the KV of s's tokens.
func (e *engine) verify(s *Sequence, toks []int32) error {
	n := s.Computed()
	want := expectedKV(s.Seed(), toks[:n])
	table := s.Table()
	e.a.mu.Lock()
	defer e.a.mu.Unlock()
	for pos := range n {
		b := table[pos/e.a.bs]
		if got := e.a.slots[b][pos%e.a.bs]; got != want[pos] {
			return fmt.Errorf("seq %s position %d (block %d): KV of other tokens", s.ID(), pos, b)
		}
	}
	return nil
}

// run acquires, verifies the reused KV, prefills the rest and decodes gen.
func (e *engine) run(req AcquireRequest, gen []int32) (*Sequence, []int32, error) {
	s, err := e.p.Acquire(req)
	if err != nil {
		return nil, nil, err
	}
	toks := append([]int32(nil), req.Tokens...)
	if err := e.verify(s, toks); err != nil {
		return s, toks, err
	}
	if err := e.compute(s, toks, len(toks)); err != nil {
		return s, toks, err
	}
	for _, g := range gen {
		if err := s.AppendTokens(g); err != nil {
			return s, toks, err
		}
		toks = append(toks, g)
		if err := e.compute(s, toks, len(toks)); err != nil {
			return s, toks, err
		}
	}
	return s, toks, e.verify(s, toks)
}

func seqTokens(start, n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(start + i)
	}
	return out
}

func testConfig(numBlocks, bs int) Config {
	return Config{
		NumBlocks:            numBlocks,
		BlockSize:            bs,
		MaxSequences:         64,
		MaxTokensPerSequence: numBlocks * bs,
		ModelID:              "test-model",
		Flags:                AllFlags(),
	}
}

func mustInvariants(t testing.TB, p *Pool) {
	t.Helper()
	if err := p.CheckInvariants(); err != nil {
		t.Fatalf("invariants: %v", err)
	}
}
