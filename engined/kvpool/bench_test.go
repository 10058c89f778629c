package kvpool

import (
	"fmt"
	"testing"
)

// BenchmarkAcquireReleaseWarm: a 1,000-token prompt whose first 992 tokens
// are cached (the chat-turn case): match 62 blocks, allocate 1, release.
func BenchmarkAcquireReleaseWarm(b *testing.B) {
	cfg := testConfig(4096, 16)
	p, err := New(cfg, Deps{CopyBlock: func(int32, int32) {}})
	if err != nil {
		b.Fatal(err)
	}
	toks := seqTokens(0, 1000)
	s, err := p.Acquire(AcquireRequest{SeqID: "warm", Tokens: toks})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Commit(len(toks)); err != nil {
		b.Fatal(err)
	}
	s.Release()
	req := AcquireRequest{SeqID: "r", Tokens: toks}
	for b.Loop() {
		s, err := p.Acquire(req)
		if err != nil {
			b.Fatal(err)
		}
		if s.CachedTokens() != 992 {
			b.Fatalf("cached %d", s.CachedTokens())
		}
		s.Release()
	}
}

// BenchmarkAcquireReleaseCold: the same prompt with nothing cached.
func BenchmarkAcquireReleaseCold(b *testing.B) {
	p, err := New(testConfig(4096, 16), Deps{})
	if err != nil {
		b.Fatal(err)
	}
	toks := seqTokens(0, 1000)
	i := 0
	for b.Loop() {
		toks[0] = int32(i) // a new prefix every time
		i++
		s, err := p.Acquire(AcquireRequest{SeqID: "r", Tokens: toks})
		if err != nil {
			b.Fatal(err)
		}
		s.Release()
	}
}

// BenchmarkDecodeStep: one generated token per step (append + commit) on a
// long sequence, the per-token cost the scheduler pays.
func BenchmarkDecodeStep(b *testing.B) {
	cfg := testConfig(1<<16, 16)
	cfg.MaxTokensPerSequence = cfg.NumBlocks * cfg.BlockSize
	p, err := New(cfg, Deps{})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	var s *Sequence
	for b.Loop() {
		if s == nil || s.Len() >= cfg.MaxTokensPerSequence-1 {
			if s != nil {
				s.Release()
			}
			if s, err = p.Acquire(AcquireRequest{SeqID: fmt.Sprint(n), Tokens: []int32{1}}); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if err := s.AppendTokens(int32(n)); err != nil {
			b.Fatal(err)
		}
		if err := s.Commit(s.Len()); err != nil {
			b.Fatal(err)
		}
	}
}
