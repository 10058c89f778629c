package kvpool

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

type liveSeq struct {
	s    *Sequence
	toks []int32
}

// TestRandomOperations runs 10,000 seeded random operations against a small
// pool, driving real KV content through the arena, and checks the invariants
// after every operation: ref counts equal table references, no block is in
// two states, every reused position holds the KV of the sequence's own
// tokens, writers only ever write private blocks. At the end every block is
// free or cached (no leak) and switching caching off frees all of them.
func TestRandomOperations(t *testing.T) {
	const ops = 10_000
	rng := rand.New(rand.NewPCG(2026, 12))
	cfg := testConfig(48, 4)
	cfg.MaxSequences = 8
	cfg.MaxTokensPerSequence = 60
	cfg.MaxConversations = 3
	var events uint64
	e := newEngine(t, cfg, func(Event) { events++ })
	families := make([][]int32, 3)
	for i := range families {
		families[i] = make([]int32, 40)
		for j := range families[i] {
			families[i][j] = rng.Int32N(6)
		}
	}
	var live []liveSeq
	next := 0
	pick := func() int { return rng.IntN(len(live)) }
	drop := func(i int) { live = slices.Delete(live, i, i+1) }
	allowed := func(op string, err error) {
		t.Helper()
		if err != nil && !errors.Is(err, ErrPoolExhausted) && !errors.Is(err, ErrTooManySequences) &&
			!errors.Is(err, ErrSequenceTooLong) {
			t.Fatalf("%s: unexpected error %v", op, err)
		}
	}
	counts := map[string]int{}
	for op := range ops {
		var name string
		switch r := rng.IntN(100); {
		case r < 25 || len(live) == 0:
			name = "acquire"
			f := families[rng.IntN(len(families))]
			toks := append(slices.Clone(f[:rng.IntN(len(f)+1)]), make([]int32, rng.IntN(7))...)
			for i := len(toks) - 1; i >= 0 && toks[i] == 0; i-- {
				toks[i] = rng.Int32N(6)
			}
			if len(toks) == 0 {
				toks = append(toks, 1)
			}
			if rng.IntN(20) == 0 {
				toks = make([]int32, 61) // over the limit
			}
			req := AcquireRequest{SeqID: fmt.Sprint("s", next), Tokens: toks}
			next++
			if rng.IntN(3) == 0 {
				req.Salt = "tenant"
			}
			if rng.IntN(2) == 0 {
				req.ConversationID = fmt.Sprint("c", rng.IntN(4))
			}
			plan := e.p.Probe(req)
			s, err := e.p.Acquire(req)
			allowed(name, err)
			if err != nil {
				break
			}
			if s.CachedTokens() != plan.CachedTokens || s.CachedTokens() >= len(toks) {
				t.Fatalf("op %d: cached %d, probe said %d, prompt %d", op, s.CachedTokens(), plan.CachedTokens, len(toks))
			}
			if err := e.verify(s, toks); err != nil {
				t.Fatalf("op %d: %v", op, err)
			}
			live = append(live, liveSeq{s, toks})
		case r < 45:
			name = "prefill"
			l := &live[pick()]
			to := min(len(l.toks), l.s.Computed()+1+rng.IntN(6))
			if err := e.compute(l.s, l.toks, to); err != nil {
				t.Fatalf("op %d: %v", op, err)
			}
		case r < 65:
			name = "decode"
			l := &live[pick()]
			if l.s.Computed() != len(l.toks) {
				break
			}
			tok := rng.Int32N(6)
			err := l.s.AppendTokens(tok)
			allowed(name, err)
			if err != nil {
				break
			}
			l.toks = append(l.toks, tok)
			if err := e.compute(l.s, l.toks, len(l.toks)); err != nil {
				t.Fatalf("op %d: %v", op, err)
			}
		case r < 70:
			name = "fork"
			l := live[pick()]
			if l.s.Computed() != len(l.toks) {
				break
			}
			f, err := l.s.Fork(fmt.Sprint("s", next))
			next++
			allowed(name, err)
			if err == nil {
				live = append(live, liveSeq{f, slices.Clone(l.toks)})
			}
		case r < 85:
			name = "release"
			i := pick()
			if err := e.verify(live[i].s, live[i].toks); err != nil {
				t.Fatalf("op %d: %v", op, err)
			}
			live[i].s.Release()
			drop(i)
		case r < 90:
			name = "cancel"
			i := pick()
			if !e.p.Release(live[i].s.ID()) {
				t.Fatalf("op %d: cancel found no sequence %s", op, live[i].s.ID())
			}
			drop(i)
		case r < 97:
			name = "touch"
			e.p.Touch(fmt.Sprint("c", rng.IntN(4)))
		default:
			name = "flags"
			e.p.SetFlags(Flags{Enabled: rng.IntN(5) != 0, PrefixMatching: rng.IntN(4) != 0, LRUEviction: rng.IntN(4) != 0})
		}
		counts[name]++
		if err := e.p.CheckInvariants(); err != nil {
			t.Fatalf("op %d (%s): %v", op, name, err)
		}
		if op%250 == 0 {
			for _, l := range live {
				if err := e.verify(l.s, l.toks); err != nil {
					t.Fatalf("op %d: %v", op, err)
				}
			}
		}
	}
	for _, l := range live {
		l.s.Release()
	}
	st := e.p.Stats()
	if st.UsedBlocks != 0 || st.Sequences != 0 || st.FreeBlocks+st.CachedBlocks != cfg.NumBlocks {
		t.Fatalf("leak after releasing everything: %+v", st)
	}
	e.p.SetFlags(Flags{})
	st = e.p.Stats()
	if st.FreeBlocks != cfg.NumBlocks || st.IndexedBlocks != 0 {
		t.Fatalf("blocks left after disabling: %+v", st)
	}
	mustInvariants(t, e.p)
	if st.HitTokens == 0 || st.Evictions == 0 || st.CopyOnWrites == 0 || st.Dedups == 0 || events == 0 {
		t.Errorf("the run did not exercise reuse, eviction, copy and dedup: %+v", st)
	}
	t.Logf("ops %v; stats %+v", counts, st)
}

// TestConcurrentUse runs many goroutines against one pool (meant for -race):
// shared prefixes, forks, cancellation by id, touches and stats at once.
func TestConcurrentUse(t *testing.T) {
	cfg := testConfig(96, 4)
	cfg.MaxSequences = 16
	e := newEngine(t, cfg, func(Event) {})
	prefix := seqTokens(0, 24)
	const workers, iters = 8, 150
	var wg sync.WaitGroup
	errs := make(chan error, workers+1)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range iters {
				toks := append(slices.Clone(prefix[:rng.IntN(len(prefix))+1]), int32(w), int32(i%5))
				id := fmt.Sprintf("w%d-%d", w, i)
				s, all, err := e.run(AcquireRequest{SeqID: id, Tokens: toks, ConversationID: fmt.Sprint("c", w%3)},
					[]int32{int32(rng.IntN(3)), int32(rng.IntN(3))})
				if errors.Is(err, ErrPoolExhausted) || errors.Is(err, ErrTooManySequences) {
					if s != nil {
						s.Release()
					}
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				if rng.IntN(3) == 0 {
					if f, err := s.Fork(id + "f"); err == nil {
						if err := f.AppendTokens(9); err == nil {
							if err := e.compute(f, append(slices.Clone(all), 9), len(all)+1); err != nil {
								errs <- err
								return
							}
						}
						f.Release()
					}
				}
				if rng.IntN(2) == 0 {
					e.p.Release(id)
				} else {
					s.Release()
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 2000 {
			e.p.Touch(fmt.Sprint("c", i%3))
			_ = e.p.Stats()
			_ = e.p.Probe(AcquireRequest{Tokens: prefix})
			if i%200 == 0 {
				if err := e.p.CheckInvariants(); err != nil {
					errs <- err
					return
				}
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := e.p.Stats()
	if st.UsedBlocks != 0 || st.Sequences != 0 || st.HitTokens == 0 {
		t.Fatalf("after all workers: %+v", st)
	}
	mustInvariants(t, e.p)
}
