package kvpool

import (
	"errors"
	"slices"
	"testing"
)

type eventLog struct{ evs []Event }

func (l *eventLog) add(e Event) { l.evs = append(l.evs, e) }

func (l *eventLog) take() []Event {
	out := l.evs
	l.evs = nil
	return out
}

func TestPrefixSharing(t *testing.T) {
	const bs = 16
	base := seqTokens(1000, 40) // blocks: [0,16) [16,32) partial [32,40)
	tests := []struct {
		name       string
		prompt     []int32
		wantCached int
		wantShared int // leading table entries equal to the first run's table
		wantCopy   bool
	}{
		{"same 40 tokens", base, 32, 2, false},
		{"prefix ends mid-block", append(slices.Clone(base[:20]), 7, 7, 7), 16, 1, false},
		{"prefix ends on a boundary", append(slices.Clone(base[:32]), 9), 32, 2, false},
		{"prompt is exactly the cached blocks", base[:32], 31, 1, true},
		{"prompt is one cached block", base[:16], 15, 0, true},
		{"first token differs", append([]int32{-5}, base[1:]...), 0, 0, false},
		{"shorter than a block", base[:10], 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, testConfig(16, bs), nil)
			first, _, err := e.run(AcquireRequest{SeqID: "first", Tokens: base}, nil)
			if err != nil {
				t.Fatal(err)
			}
			firstTable := first.Table()
			first.Release()
			s, err := e.p.Acquire(AcquireRequest{SeqID: "second", Tokens: tt.prompt})
			if err != nil {
				t.Fatal(err)
			}
			if got := s.CachedTokens(); got != tt.wantCached {
				t.Errorf("CachedTokens = %d, want %d", got, tt.wantCached)
			}
			table := s.Table()
			shared := 0
			// Only the first run's full blocks are cached; its partial
			// block went back to the free list.
			for shared < len(table) && shared < len(base)/bs && table[shared] == firstTable[shared] {
				shared++
			}
			if shared != tt.wantShared {
				t.Errorf("table %v shares %d leading blocks with %v, want %d", table, shared, firstTable, tt.wantShared)
			}
			copies := e.a.copyLog()
			if tt.wantCopy {
				last := len(tt.prompt)/bs - 1
				if len(copies) != 1 || copies[0] != [2]int32{table[last], firstTable[last]} {
					t.Errorf("CopyBlock calls %v, want one (dst %d, src %d)", copies, table[last], firstTable[last])
				}
			} else if len(copies) != 0 {
				t.Errorf("unexpected CopyBlock calls %v", copies)
			}
			if err := e.verify(s, tt.prompt); err != nil {
				t.Fatal(err)
			}
			if err := e.compute(s, tt.prompt, len(tt.prompt)); err != nil {
				t.Fatal(err)
			}
			if tt.wantCopy {
				// The recomputed copy equals the cached block: Commit
				// switches back to it and frees the copy.
				if got := s.Table(); !slices.Equal(got, firstTable[:len(got)]) {
					t.Errorf("after Commit table %v, want the cached blocks %v", got, firstTable[:len(got)])
				}
				if st := e.p.Stats(); st.Dedups != 1 {
					t.Errorf("Dedups = %d, want 1", st.Dedups)
				}
			}
			if err := e.verify(s, tt.prompt); err != nil {
				t.Fatal(err)
			}
			mustInvariants(t, e.p)
			s.Release()
			mustInvariants(t, e.p)
		})
	}
}

// TestNoCopyRecomputesLastBlock: without CopyBlock a fully cached prompt
// recomputes its last block instead of copying it.
func TestNoCopyRecomputesLastBlock(t *testing.T) {
	p, err := New(testConfig(8, 4), Deps{})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := p.Acquire(AcquireRequest{SeqID: "a", Tokens: seqTokens(0, 8)})
	if err := s.Commit(8); err != nil {
		t.Fatal(err)
	}
	s.Release()
	s, err = p.Acquire(AcquireRequest{SeqID: "b", Tokens: seqTokens(0, 8)})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedTokens(); got != 4 {
		t.Fatalf("CachedTokens = %d, want 4", got)
	}
}

func TestForkCopyOnWrite(t *testing.T) {
	e := newEngine(t, testConfig(16, 4), nil)
	parent, toks, err := e.run(AcquireRequest{SeqID: "p", Tokens: seqTokens(0, 6)}, nil) // blocks 0,1(partial)
	if err != nil {
		t.Fatal(err)
	}
	child, err := parent.Fork("c")
	if err != nil {
		t.Fatal(err)
	}
	pt, ct := parent.Table(), child.Table()
	if !slices.Equal(pt, ct) {
		t.Fatalf("fork table %v differs from %v", ct, pt)
	}
	if err := parent.AppendTokens(100); err != nil {
		t.Fatal(err)
	}
	copies := e.a.copyLog()
	newLast := parent.Table()[1]
	if len(copies) != 1 || copies[0] != [2]int32{newLast, pt[1]} || newLast == pt[1] {
		t.Fatalf("CopyBlock calls %v, want (dst %d, src %d)", copies, newLast, pt[1])
	}
	if parent.Table()[0] != pt[0] {
		t.Errorf("the full first block was copied too")
	}
	if err := e.compute(parent, append(slices.Clone(toks), 100), 7); err != nil {
		t.Fatal(err)
	}
	// The child now holds the old partial block alone: no second copy.
	if err := child.AppendTokens(200); err != nil {
		t.Fatal(err)
	}
	if n := len(e.a.copyLog()); n != 1 {
		t.Fatalf("%d copies, want 1: the child's block is no longer shared", n)
	}
	if child.Table()[1] != pt[1] {
		t.Errorf("child moved off its private block")
	}
	ctoks := append(slices.Clone(toks), 200)
	if err := e.compute(child, ctoks, 7); err != nil {
		t.Fatal(err)
	}
	if err := e.verify(child, ctoks); err != nil {
		t.Fatal(err)
	}
	if err := e.verify(parent, append(slices.Clone(toks), 100)); err != nil {
		t.Fatal(err)
	}
	mustInvariants(t, e.p)

	// Fork rules.
	if err := parent.AppendTokens(5); err != nil {
		t.Fatal(err)
	}
	if _, err := parent.Fork("x"); !errors.Is(err, ErrNotComputed) {
		t.Errorf("fork with uncomputed tokens: %v, want ErrNotComputed", err)
	}
	if _, err := child.Fork("p"); !errors.Is(err, ErrDuplicateSequence) {
		t.Errorf("fork onto a live id: %v, want ErrDuplicateSequence", err)
	}
	noCopy, _ := New(testConfig(4, 4), Deps{})
	s, _ := noCopy.Acquire(AcquireRequest{SeqID: "a", Tokens: seqTokens(0, 3)})
	_ = s.Commit(3)
	if _, err := s.Fork("b"); !errors.Is(err, ErrNoCopy) {
		t.Errorf("fork of a partial block without CopyBlock: %v, want ErrNoCopy", err)
	}
	parent.Release()
	child.Release()
	if st := e.p.Stats(); st.UsedBlocks != 0 || st.Sequences != 0 {
		t.Fatalf("leak after release: %+v", st)
	}
	mustInvariants(t, e.p)
}

// TestEvictionOrder: the least recently released chain goes first, and
// within a chain the deepest block goes before its parents.
func TestEvictionOrder(t *testing.T) {
	var log eventLog
	e := newEngine(t, testConfig(6, 4), log.add)
	chains := map[string][]int32{}
	for i, id := range []string{"a", "b", "c"} {
		s, _, err := e.run(AcquireRequest{SeqID: id, Tokens: seqTokens(100*(i+1), 8)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		chains[id] = s.Table()
		s.Release()
	}
	log.take()
	st := e.p.Stats()
	if st.CachedBlocks != 6 || st.FreeBlocks != 0 {
		t.Fatalf("stats %+v, want 6 cached", st)
	}
	// Each new sequence needs 2 blocks: evicts a's tail, a's head, then b.
	for i, want := range [][]int32{
		{chains["a"][1], chains["a"][0]},
		{chains["b"][1], chains["b"][0]},
	} {
		s, _, err := e.run(AcquireRequest{SeqID: "n" + string(rune('0'+i)), Tokens: seqTokens(900+10*i, 8)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		evs := log.take()
		evs = slices.DeleteFunc(evs, func(ev Event) bool { return ev.Kind == BlockStored })
		var got []int32
		for _, ev := range evs {
			if ev.Kind != BlockRemoved {
				t.Fatalf("unexpected event %+v", ev)
			}
			got = append(got, ev.Block)
		}
		if !slices.Equal(got, want) {
			t.Errorf("evicted %v, want %v (LRU chain first, tail first)", got, want)
		}
		s.Release()
		mustInvariants(t, e.p)
	}
	if got := e.p.Stats().Evictions; got != 4 {
		t.Errorf("Evictions = %d, want 4", got)
	}
	// c survived: it is still reusable.
	s, err := e.p.Acquire(AcquireRequest{SeqID: "c2", Tokens: seqTokens(300, 9)})
	if err != nil {
		t.Fatal(err)
	}
	if s.CachedTokens() != 8 {
		t.Errorf("c's chain was evicted before older chains: cached %d", s.CachedTokens())
	}
}

// TestEvictionKeepsSharedPrefix: two chains share a root; releasing both and
// evicting removes the tails before the shared root.
func TestEvictionKeepsSharedPrefix(t *testing.T) {
	var log eventLog
	e := newEngine(t, testConfig(5, 4), log.add)
	root := seqTokens(0, 4)
	a, _, err := e.run(AcquireRequest{SeqID: "a", Tokens: append(slices.Clone(root), 10, 11, 12, 13)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := e.run(AcquireRequest{SeqID: "b", Tokens: append(slices.Clone(root), 20, 21, 22, 23)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rootBlock := a.Table()[0]
	if b.Table()[0] != rootBlock {
		t.Fatalf("shared root not shared: %v vs %v", a.Table(), b.Table())
	}
	a.Release() // a's tail cached; root still used by b
	b.Release() // b's tail, then root
	log.take()
	// 2 free blocks left; a 16-token prompt needs 4: evicts 2 tails, keeps the root.
	s, err := e.p.Acquire(AcquireRequest{SeqID: "n", Tokens: seqTokens(500, 16)})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range log.take() {
		if ev.Block == rootBlock {
			t.Fatalf("the shared root was evicted while tails were cached")
		}
	}
	s.Release()
	mustInvariants(t, e.p)
	if s, err := e.p.Acquire(AcquireRequest{SeqID: "r", Tokens: append(slices.Clone(root), 1)}); err != nil || s.CachedTokens() != 4 {
		t.Fatalf("root no longer reusable: %v", err)
	}
}

func TestEvents(t *testing.T) {
	var log eventLog
	e := newEngine(t, testConfig(8, 4), log.add)
	toks := seqTokens(0, 14) // 3 full blocks + 2
	s, _, err := e.run(AcquireRequest{SeqID: "a", Tokens: toks, Salt: "t1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	seed := NewSeed("test-model", "t1")
	hs := ChainHashes(seed, toks, 4)
	evs := log.take()
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3 stored: %+v", len(evs), evs)
	}
	parent := seed.Root()
	for i, ev := range evs {
		want := Event{Seq: uint64(i + 1), Kind: BlockStored, Hash: hs[i], Parent: parent, Depth: int32(i), Block: s.Table()[i]}
		if ev != want {
			t.Errorf("event %d = %+v, want %+v", i, ev, want)
		}
		parent = hs[i]
	}
	// Two more tokens fill block 3.
	if err := s.AppendTokens(50, 51); err != nil {
		t.Fatal(err)
	}
	if err := e.compute(s, append(toks, 50, 51), 16); err != nil {
		t.Fatal(err)
	}
	evs = log.take()
	if len(evs) != 1 || evs[0].Depth != 3 || evs[0].Parent != hs[2] || evs[0].Hash != HashBlock(hs[2], []int32{12, 13, 50, 51}) {
		t.Fatalf("generated block event %+v", evs)
	}
	s.Release()
	e.p.SetFlags(Flags{Enabled: true, PrefixMatching: true}) // drop the cache
	evs = log.take()
	if len(evs) != 4 {
		t.Fatalf("%d removed events, want 4", len(evs))
	}
	for i, ev := range evs {
		if ev.Kind != BlockRemoved || ev.Depth != int32(3-i) || ev.Seq != uint64(5+i) {
			t.Errorf("removed event %d = %+v, want depth %d first-deepest", i, ev, 3-i)
		}
	}
	if ev := (Event{Kind: BlockRemoved}); ev.Kind.String() != "removed" || BlockStored.String() != "stored" {
		t.Errorf("EventKind strings")
	}
}

func TestSaltIsolation(t *testing.T) {
	e := newEngine(t, testConfig(16, 4), nil)
	toks := seqTokens(0, 12)
	s, _, err := e.run(AcquireRequest{SeqID: "a", Tokens: toks, Salt: "tenant-a"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Release()
	for _, tt := range []struct {
		salt string
		want int
	}{{"tenant-b", 0}, {"", 0}, {"tenant-a", 11}} {
		s, err := e.p.Acquire(AcquireRequest{SeqID: "x", Tokens: toks, Salt: tt.salt})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedTokens(); got != tt.want {
			t.Errorf("salt %q: cached %d, want %d", tt.salt, got, tt.want)
		}
		if err := e.verify(s, toks); err != nil {
			t.Error(err)
		}
		s.Release()
	}
	mustInvariants(t, e.p)
}

// TestCollisionIsMiss: a cached block whose stored tokens differ from the
// request's (what a 64-bit hash collision would look like) is not reused.
func TestCollisionIsMiss(t *testing.T) {
	e := newEngine(t, testConfig(8, 4), nil)
	toks := seqTokens(0, 9)
	s, _, err := e.run(AcquireRequest{SeqID: "a", Tokens: toks}, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := s.Table()[0]
	s.Release()
	e.p.mu.Lock()
	e.p.tokens[int(first)*4+2] = 999 // same hash, other tokens
	e.p.mu.Unlock()
	s, err = e.p.Acquire(AcquireRequest{SeqID: "b", Tokens: toks})
	if err != nil {
		t.Fatal(err)
	}
	if s.CachedTokens() != 0 {
		t.Fatalf("reused a block whose tokens differ: cached %d", s.CachedTokens())
	}
	// Its own first block cannot be indexed under the taken hash: it stays private.
	if err := e.compute(s, toks, 9); err != nil {
		t.Fatal(err)
	}
	mustInvariants(t, e.p)
}

// TestConversationPrefixNotPromptFingerprint: the old sketch keyed the cache
// by conversation id + prompt[:200]; two prompts of one conversation that
// agree on a long head must share only their identical full blocks.
func TestConversationPrefixNotPromptFingerprint(t *testing.T) {
	e := newEngine(t, testConfig(64, 4), nil)
	head := seqTokens(0, 50)
	p1 := append(slices.Clone(head), 1, 2, 3, 4, 5, 6, 7, 8)
	p2 := append(slices.Clone(head[:49]), 77, 1, 2, 3, 4, 5, 6, 7, 8)
	s, _, err := e.run(AcquireRequest{SeqID: "t1", Tokens: p1, ConversationID: "conv"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Release()
	s, err = e.p.Acquire(AcquireRequest{SeqID: "t2", Tokens: p2, ConversationID: "conv"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedTokens(); got != 48 {
		t.Fatalf("cached %d, want 48 (12 full blocks before the first difference)", got)
	}
	if err := e.verify(s, p2); err != nil {
		t.Fatal(err)
	}
}

func TestDisabled(t *testing.T) {
	var log eventLog
	cfg := testConfig(6, 4)
	cfg.Flags = Flags{}
	e := newEngine(t, cfg, log.add)
	toks := seqTokens(0, 8)
	for i := range 3 {
		s, _, err := e.run(AcquireRequest{SeqID: "a", Tokens: toks, ConversationID: "c"}, []int32{1, 2, 3})
		if err != nil {
			t.Fatal(err)
		}
		if s.CachedTokens() != 0 {
			t.Fatalf("run %d: disabled pool reused %d tokens", i, s.CachedTokens())
		}
		s.Release()
		if st := e.p.Stats(); st.FreeBlocks != 6 || st.IndexedBlocks != 0 || st.Conversations != 0 {
			t.Fatalf("disabled pool kept state: %+v", st)
		}
	}
	if len(log.evs) != 0 {
		t.Fatalf("disabled pool emitted %d events", len(log.evs))
	}
	if e.p.Touch("c") != 0 {
		t.Errorf("Touch on a disabled pool found blocks")
	}
	// Turning it on at run time starts caching.
	e.p.SetFlags(AllFlags())
	s, _, err := e.run(AcquireRequest{SeqID: "a", Tokens: toks}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Release()
	if s, _ := e.p.Acquire(AcquireRequest{SeqID: "b", Tokens: toks}); s.CachedTokens() != 7 {
		t.Fatalf("after enabling, cached %d, want 7", s.CachedTokens())
	}
	mustInvariants(t, e.p)
}

func TestPrefixMatchingOff(t *testing.T) {
	cfg := testConfig(32, 4)
	cfg.PrefixMatching = false
	e := newEngine(t, cfg, nil)
	toks := seqTokens(0, 12)
	s, _, err := e.run(AcquireRequest{SeqID: "a", Tokens: toks, ConversationID: "conv"}, []int32{5, 6})
	if err != nil {
		t.Fatal(err)
	}
	s.Release()
	turn2 := append(append(slices.Clone(toks), 5, 6), 40, 41, 42)
	for _, tt := range []struct {
		conv string
		want int
	}{{"", 0}, {"other", 0}, {"conv", 12}} {
		s, err := e.p.Acquire(AcquireRequest{SeqID: "b", Tokens: turn2, ConversationID: tt.conv})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedTokens(); got != tt.want {
			t.Errorf("conversation %q: cached %d, want %d", tt.conv, got, tt.want)
		}
		if p := e.p.Probe(AcquireRequest{Tokens: turn2, ConversationID: tt.conv}); p.CachedTokens != tt.want {
			t.Errorf("Probe for %q: %+v", tt.conv, p)
		}
		if err := e.verify(s, turn2); err != nil {
			t.Fatal(err)
		}
		s.Release()
	}
	mustInvariants(t, e.p)
}

func TestLRUEvictionOff(t *testing.T) {
	var log eventLog
	cfg := testConfig(8, 4)
	cfg.LRUEviction = false
	e := newEngine(t, cfg, log.add)
	toks := seqTokens(0, 9)
	a, _, err := e.run(AcquireRequest{SeqID: "a", Tokens: toks}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Concurrent sequences still share.
	b, err := e.p.Acquire(AcquireRequest{SeqID: "b", Tokens: toks})
	if err != nil {
		t.Fatal(err)
	}
	if b.CachedTokens() != 8 {
		t.Fatalf("live sharing: cached %d, want 8", b.CachedTokens())
	}
	a.Release()
	b.Release()
	st := e.p.Stats()
	if st.CachedBlocks != 0 || st.FreeBlocks != 8 || st.IndexedBlocks != 0 {
		t.Fatalf("unreferenced blocks retained: %+v", st)
	}
	var removed int
	for _, ev := range log.take() {
		if ev.Kind == BlockRemoved {
			removed++
		}
	}
	if removed != 2 {
		t.Errorf("%d removed events, want 2", removed)
	}
	mustInvariants(t, e.p)
}

func TestCancellationFreesBlocks(t *testing.T) {
	e := newEngine(t, testConfig(8, 4), nil)
	toks := seqTokens(0, 20)
	s, err := e.p.Acquire(AcquireRequest{SeqID: "req-1", Tokens: toks})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.compute(s, toks, 9); err != nil { // chunked prefill, cancelled midway
		t.Fatal(err)
	}
	if st := e.p.Stats(); st.UsedBlocks != 5 {
		t.Fatalf("used %d, want 5", st.UsedBlocks)
	}
	if !e.p.Release("req-1") {
		t.Fatal("Release by id found no sequence")
	}
	if e.p.Release("req-1") {
		t.Fatal("second Release by id found a sequence")
	}
	s.Release() // idempotent
	st := e.p.Stats()
	if st.UsedBlocks != 0 || st.Sequences != 0 || st.CachedBlocks != 2 || st.FreeBlocks != 6 {
		t.Fatalf("after cancel: %+v, want 2 computed full blocks cached, 6 free", st)
	}
	if !s.Released() {
		t.Error("Released() = false")
	}
	if err := s.Commit(10); !errors.Is(err, ErrSequenceReleased) {
		t.Errorf("commit after cancel: %v", err)
	}
	mustInvariants(t, e.p)
}

func TestTouchKeepsConversationWarm(t *testing.T) {
	e := newEngine(t, testConfig(6, 4), nil)
	var tables [][]int32
	for i, conv := range []string{"old", "mid", "new"} {
		s, _, err := e.run(AcquireRequest{SeqID: conv, Tokens: seqTokens(100*(i+1), 8), ConversationID: conv}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tables = append(tables, s.Table())
		s.Release()
	}
	if n := e.p.Touch("old"); n != 2 {
		t.Fatalf("Touch(old) = %d, want 2", n)
	}
	mustInvariants(t, e.p)
	// Needs 2 blocks: "mid" is now least recently used.
	s, err := e.p.Acquire(AcquireRequest{SeqID: "x", Tokens: seqTokens(900, 8)})
	if err != nil {
		t.Fatal(err)
	}
	s.Release()
	if n := e.p.Touch("mid"); n != 0 {
		t.Errorf("Touch(mid) = %d after its blocks were evicted, want 0", n)
	}
	if n := e.p.Conversations(); n != 2 {
		t.Errorf("%d conversation records, want 2 (mid forgotten)", n)
	}
	if s, _ := e.p.Acquire(AcquireRequest{SeqID: "o", Tokens: seqTokens(100, 9), ConversationID: "old"}); s.CachedTokens() != 8 {
		t.Errorf("touched conversation lost its blocks: cached %d", s.CachedTokens())
	}
	if e.p.Touch("unknown") != 0 {
		t.Errorf("Touch of an unknown conversation")
	}
}

func TestConversationRecordsBounded(t *testing.T) {
	cfg := testConfig(8, 4)
	cfg.MaxConversations = 2
	e := newEngine(t, cfg, nil)
	for i, conv := range []string{"a", "b", "c"} {
		s, _, err := e.run(AcquireRequest{SeqID: conv, Tokens: seqTokens(10*i, 4), ConversationID: conv}, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.Release()
	}
	if n := e.p.Conversations(); n != 2 {
		t.Fatalf("%d records, want 2", n)
	}
	if e.p.Touch("a") != 0 || e.p.Touch("c") != 1 {
		t.Errorf("the oldest record should be forgotten first")
	}
	mustInvariants(t, e.p)
}

func TestProbe(t *testing.T) {
	e := newEngine(t, testConfig(8, 4), nil)
	toks := seqTokens(0, 10)
	s, _, err := e.run(AcquireRequest{SeqID: "a", Tokens: toks}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Release()
	before := e.p.Stats()
	plan := e.p.Probe(AcquireRequest{Tokens: toks})
	if plan != (Plan{CachedTokens: 8, NewBlocks: 1, Available: 6 + 2 - 2}) {
		t.Errorf("Probe = %+v", plan)
	}
	if e.p.Stats() != before {
		t.Errorf("Probe changed the pool")
	}
	s, err = e.p.Acquire(AcquireRequest{SeqID: "b", Tokens: toks})
	if err != nil || s.CachedTokens() != plan.CachedTokens || e.p.Stats().FreeBlocks != before.FreeBlocks-plan.NewBlocks {
		t.Errorf("Acquire differs from its plan: %v %+v", err, e.p.Stats())
	}
}
