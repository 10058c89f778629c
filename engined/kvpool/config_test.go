package kvpool

import (
	"errors"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	ok := testConfig(8, 16)
	tests := []struct {
		name string
		edit func(*Config)
		want error
	}{
		{"valid", func(*Config) {}, nil},
		{"zero blocks", func(c *Config) { c.NumBlocks = 0 }, ErrInvalidConfig},
		{"zero block size", func(c *Config) { c.BlockSize = 0 }, ErrInvalidConfig},
		{"huge block size", func(c *Config) { c.BlockSize = MaxBlockSize + 1 }, ErrInvalidConfig},
		{"zero sequences", func(c *Config) { c.MaxSequences = 0 }, ErrInvalidConfig},
		{"zero tokens", func(c *Config) { c.MaxTokensPerSequence = 0 }, ErrInvalidConfig},
		{"tokens exactly the pool", func(c *Config) { c.MaxTokensPerSequence = 8 * 16 }, nil},
		{"tokens beyond the pool", func(c *Config) { c.MaxTokensPerSequence = 8*16 + 1 }, ErrInvalidConfig},
		{"negative conversations", func(c *Config) { c.MaxConversations = -1 }, ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			if err := c.Validate(); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Validate() = %v, want %v", err, tt.want)
			}
			if _, err := New(c, Deps{}); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("New() = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestBlocksForMemory(t *testing.T) {
	tests := []struct {
		mb, bs int
		perTok int64
		want   int
		err    error
	}{
		{1, 16, 1024, 64, nil}, // 64 * 16 * 1024 == 1 MiB exactly
		{1, 16, 1025, 63, nil}, // 64 blocks would need 1,049,600 bytes
		{1, 16, 65536, 1, nil}, // one block is exactly 1 MiB
		{1, 16, 65537, 0, ErrInvalidConfig},
		{0, 16, 1024, 0, ErrInvalidConfig},
		{1, 0, 1024, 0, ErrInvalidConfig},
		{1, 16, 0, 0, ErrInvalidConfig},
	}
	for _, tt := range tests {
		got, err := BlocksForMemory(tt.mb, tt.bs, tt.perTok)
		if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) || got != tt.want {
			t.Errorf("BlocksForMemory(%d, %d, %d) = %d, %v; want %d, %v", tt.mb, tt.bs, tt.perTok, got, err, tt.want, tt.err)
			continue
		}
		if err == nil {
			limit := int64(tt.mb) << 20
			if used := int64(got) * int64(tt.bs) * tt.perTok; used > limit || used+int64(tt.bs)*tt.perTok <= limit {
				t.Errorf("%d blocks use %d of %d bytes: not the largest count that fits", got, used, limit)
			}
		}
	}
	// stories260K: 5 layers, kv_dim 64 (4 kv heads x 16), float32.
	perTok := BytesPerToken(5, 64, 4)
	if perTok != 2560 {
		t.Fatalf("BytesPerToken = %d, want 2560", perTok)
	}
	cfg, err := ConfigFromMemory(64, 16, perTok)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NumBlocks != (64<<20)/(16*2560) || cfg.Validate() != nil || !cfg.Enabled {
		t.Fatalf("ConfigFromMemory = %+v", cfg)
	}
}

func TestLimits(t *testing.T) {
	const bs = 4
	cfg := testConfig(8, bs)
	cfg.MaxSequences = 3
	cfg.MaxTokensPerSequence = 10
	type step func(p *Pool) error
	acq := func(id string, n int) step {
		return func(p *Pool) error {
			_, err := p.Acquire(AcquireRequest{SeqID: id, Tokens: seqTokens(len(id)*1000, n)})
			return err
		}
	}
	tests := []struct {
		name  string
		setup []step
		last  step
		want  error
	}{
		{"prompt at max tokens", nil, acq("a", 10), nil},
		{"prompt one over max tokens", nil, acq("a", 11), ErrSequenceTooLong},
		{"sequences at the limit", []step{acq("a", 1), acq("bb", 1)}, acq("ccc", 1), nil},
		{"sequences one over the limit", []step{acq("a", 1), acq("bb", 1), acq("ccc", 1)}, acq("dddd", 1), ErrTooManySequences},
		{"blocks exactly used up", []step{acq("a", 10), acq("bb", 10)}, acq("ccc", 8), nil}, // 3 + 3 + 2 == 8 blocks
		{"blocks one short", []step{acq("a", 10), acq("bb", 10)}, acq("ccc", 9), ErrPoolExhausted},
		{"empty prompt", nil, acq("a", 0), ErrInvalidRequest},
		{"empty id", nil, acq("", 3), ErrInvalidRequest},
		{"duplicate id", []step{acq("a", 2)}, acq("a", 2), ErrDuplicateSequence},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(cfg, Deps{})
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tt.setup {
				if err := s(p); err != nil {
					t.Fatalf("setup %d: %v", i, err)
				}
			}
			before := p.Stats()
			err = tt.last(p)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if err != nil {
				if after := p.Stats(); after.FreeBlocks != before.FreeBlocks || after.Sequences != before.Sequences {
					t.Errorf("failed call changed the pool: %+v -> %+v", before, after)
				}
			}
			mustInvariants(t, p)
		})
	}
}

func TestAppendLimits(t *testing.T) {
	cfg := testConfig(4, 4)
	cfg.MaxTokensPerSequence = 10
	p, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.Acquire(AcquireRequest{SeqID: "a", Tokens: seqTokens(0, 8)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AppendTokens(1, 2); err != nil {
		t.Fatalf("append to exactly max tokens: %v", err)
	}
	if err := s.AppendTokens(3); !errors.Is(err, ErrSequenceTooLong) {
		t.Fatalf("append past max tokens: %v, want ErrSequenceTooLong", err)
	}
	if s.Len() != 10 || len(s.Table()) != 3 {
		t.Fatalf("len %d, %d blocks; want 10, 3", s.Len(), len(s.Table()))
	}
	// One block left: a 4-token prompt fits, then appending needs a 5th block.
	o, err := p.Acquire(AcquireRequest{SeqID: "b", Tokens: seqTokens(100, 4)})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.AppendTokens(7); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("append with no block left: %v, want ErrPoolExhausted", err)
	}
	if o.Len() != 4 {
		t.Fatalf("failed append changed the length to %d", o.Len())
	}
	if err := o.Commit(5); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("commit beyond length: %v, want ErrInvalidRequest", err)
	}
	s.Release()
	if err := o.AppendTokens(7); err != nil {
		t.Fatalf("append after a release freed blocks: %v", err)
	}
	o.Release()
	for name, err := range map[string]error{
		"append": o.AppendTokens(1),
		"commit": o.Commit(1),
	} {
		if !errors.Is(err, ErrSequenceReleased) {
			t.Errorf("%s after release: %v, want ErrSequenceReleased", name, err)
		}
	}
	if _, err := o.Fork("c"); !errors.Is(err, ErrSequenceReleased) {
		t.Errorf("fork after release: %v, want ErrSequenceReleased", err)
	}
	if st := p.Stats(); st.FreeBlocks+st.CachedBlocks != 4 || st.UsedBlocks != 0 {
		t.Fatalf("blocks leaked: %+v", st)
	}
	mustInvariants(t, p)
}
