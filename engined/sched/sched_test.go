package sched

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/krserve/krserve/engined/kvpool"
	"github.com/krserve/krserve/engined/llama"
	"github.com/krserve/krserve/engined/sample"
	"github.com/krserve/krserve/internal/testenv"
	"github.com/krserve/krserve/schemas"
)

// stories loads a private model instance: a backend serves one goroutine
// at a time, and each test runs a scheduler goroutine besides the
// reference generation.
func stories(t testing.TB) *llama.Model {
	t.Helper()
	m, err := llama.Load(testenv.SharedFile(t, "models/stories260K.gguf"), llama.WithBackend("native", 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// sink collects one request's output.
type sink struct {
	mu    sync.Mutex
	ids   []int32
	text  string
	res   *Result
	fail  *schemas.Error
	done  chan struct{}
	after func() // called on the first token
}

func newSink() *sink { return &sink{done: make(chan struct{})} }

func (s *sink) Token(ids []int32, text string) {
	s.mu.Lock()
	s.ids = append(s.ids, ids...)
	s.text += text
	f := s.after
	s.after = nil
	s.mu.Unlock()
	if f != nil {
		f()
	}
}
func (s *sink) Final(r Result)          { s.res = &r; close(s.done) }
func (s *sink) Fail(err *schemas.Error) { s.fail = err; close(s.done) }

type harness struct {
	s    *Scheduler
	pool *kvpool.Pool
	stop func()
}

func newHarness(t *testing.T, m *llama.Model, numBlocks int, flags kvpool.Flags, cfg Config) *harness {
	t.Helper()
	c := m.Config()
	arena, err := m.NewKVArena(numBlocks, 16)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := kvpool.New(kvpool.Config{NumBlocks: numBlocks, BlockSize: 16, MaxSequences: 16, MaxTokensPerSequence: min(c.Context, numBlocks*16), ModelID: "stories", Flags: flags},
		kvpool.Deps{CopyBlock: arena.CopyBlock})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxQueue == 0 {
		cfg = Config{MaxQueue: 64, MaxRunning: 8, MaxBatchTokens: 128, PrefillChunk: 48, ContextLen: c.Context, DefaultMaxTokens: 40}
	}
	cfg.Vocab = c.Vocab
	cfg.EOS = []int32{2}
	s, err := New(cfg, Deps{Model: m, Pool: pool, Arena: arena, State: m.NewState(cfg.MaxBatchTokens)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(stop)
	return &harness{s: s, pool: pool, stop: stop}
}

func greedy(t testing.TB, vocab int) *sample.Sampler {
	s, err := sample.New(sample.Params{}, vocab)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	refOnce  sync.Once
	refMu    sync.Mutex
	refModel *llama.Model
	refErr   error
)

// reference generates alone with llama.Generate (no pool, no batching).
func reference(t *testing.T, _ *llama.Model, prompt []int32, n int) []int32 {
	t.Helper()
	refOnce.Do(func() {
		refModel, refErr = llama.Load(testenv.SharedFile(t, "models/stories260K.gguf"), llama.WithBackend("native", 1))
	})
	if refErr != nil {
		t.Fatal(refErr)
	}
	refMu.Lock()
	defer refMu.Unlock()
	m := refModel
	g, err := m.Generate(context.Background(), prompt, greedy(t, m.Config().Vocab), llama.GenerateOptions{MaxTokens: n, StopIDs: []int32{2}}, func(int32) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	return g.IDs
}

func prompts(n, length int, shared int, seed uint64) [][]int32 {
	r := rand.New(rand.NewPCG(seed, 1))
	common := make([]int32, shared)
	for i := range common {
		common[i] = int32(3 + r.IntN(500))
	}
	out := make([][]int32, n)
	for i := range out {
		p := append([]int32{1}, common...)
		for len(p) < length {
			p = append(p, int32(3+r.IntN(500)))
		}
		out[i] = p
	}
	return out
}

func submit(t *testing.T, h *harness, id string, prompt []int32, max int, conv string) *sink {
	t.Helper()
	k := newSink()
	err := h.s.Submit(&Request{ID: id, Prompt: prompt, MaxTokens: max, ConversationID: conv, Sampler: greedy(t, 512), Sink: k})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func wait(t *testing.T, k *sink) {
	t.Helper()
	select {
	case <-k.done:
	case <-time.After(60 * time.Second):
		t.Fatal("request did not finish")
	}
	if k.fail != nil {
		t.Fatalf("request failed: %v", k.fail)
	}
}

// TestBatchedEqualsAlone: many concurrent sequences with shared prefixes
// (ending mid-block and on a block boundary), batched and cached, give the
// same greedy tokens as each sequence generated alone.
func TestBatchedEqualsAlone(t *testing.T) {
	m := stories(t)
	for _, tc := range []struct {
		name   string
		shared int
		flags  kvpool.Flags
	}{
		{"mid-block prefix", 37, kvpool.AllFlags()},
		{"block-boundary prefix", 31, kvpool.AllFlags()}, // BOS + 31 = 32 tokens = 2 blocks
		{"pool disabled", 37, kvpool.Flags{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, m, 256, tc.flags, Config{})
			ps := prompts(6, 60, tc.shared, 7)
			sinks := make([]*sink, len(ps))
			for i, p := range ps {
				sinks[i] = submit(t, h, fmt.Sprint("r", i), p, 30, "")
			}
			for i, p := range ps {
				wait(t, sinks[i])
				if want := reference(t, m, p, 30); !slices.Equal(sinks[i].ids, want) {
					t.Errorf("request %d:\n got %v\nwant %v", i, sinks[i].ids, want)
				}
			}
			// Once all finish, a repeat of the first prompt reuses its blocks.
			k := submit(t, h, "again", ps[0], 30, "")
			wait(t, k)
			if want := reference(t, m, ps[0], 30); !slices.Equal(k.ids, want) {
				t.Errorf("cached rerun differs:\n got %v\nwant %v", k.ids, want)
			}
			cached := k.res.Usage.CachedTokens
			if tc.flags.Enabled && cached < 48 {
				t.Errorf("rerun cached %d tokens, want at least 48", cached)
			}
			if !tc.flags.Enabled && cached != 0 {
				t.Errorf("disabled pool reported %d cached tokens", cached)
			}
			if err := h.pool.CheckInvariants(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestPreemptionKeepsOutput: a pool too small for all sequences forces
// preemption and recompute; output is still identical.
func TestPreemptionKeepsOutput(t *testing.T) {
	m := stories(t)
	h := newHarness(t, m, 14, kvpool.AllFlags(), Config{}) // 14 blocks = 224 positions for 4 × ~90
	ps := prompts(4, 40, 0, 11)
	sinks := make([]*sink, len(ps))
	for i, p := range ps {
		sinks[i] = submit(t, h, fmt.Sprint("p", i), p, 50, "")
	}
	for i, p := range ps {
		wait(t, sinks[i])
		if want := reference(t, m, p, 50); !slices.Equal(sinks[i].ids, want) {
			t.Errorf("request %d after preemption:\n got %v\nwant %v", i, sinks[i].ids, want)
		}
	}
	if st := h.pool.Stats(); st.UsedBlocks != 0 {
		t.Errorf("blocks still used after all finished: %+v", st)
	}
}

func TestQueueFullAndValidation(t *testing.T) {
	m := stories(t)
	h := newHarness(t, m, 64, kvpool.AllFlags(), Config{MaxQueue: 2, MaxRunning: 1, MaxBatchTokens: 64, PrefillChunk: 64, ContextLen: 512, DefaultMaxTokens: 400})
	long := prompts(1, 20, 0, 1)[0]
	var sinks []*sink
	full := 0
	for i := 0; i < 10; i++ {
		k := newSink()
		err := h.s.Submit(&Request{ID: fmt.Sprint("q", i), Prompt: long, Sampler: greedy(t, 512), Sink: k})
		if errors.Is(err, schemas.ErrOverloaded) {
			full++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		sinks = append(sinks, k)
	}
	if full == 0 {
		t.Error("10 submissions into a queue of 2 were all accepted")
	}
	for _, k := range sinks {
		h.s.Cancel(k2id(sinks, k))
	}
	for _, k := range sinks {
		<-k.done
	}
	for _, bad := range []*Request{{ID: "e", Prompt: nil}, {ID: "big", Prompt: make([]int32, 600)}, {ID: "v", Prompt: []int32{1, 9999}}} {
		bad.Sink, bad.Sampler = newSink(), greedy(t, 512)
		if err := h.s.Submit(bad); err == nil {
			t.Errorf("request %q accepted", bad.ID)
		}
	}
}

func k2id(sinks []*sink, k *sink) string {
	for i, s := range sinks {
		if s == k {
			return fmt.Sprint("q", i)
		}
	}
	return ""
}

func TestCancelFreesBlocks(t *testing.T) {
	m := stories(t)
	h := newHarness(t, m, 64, kvpool.AllFlags(), Config{})
	k := newSink()
	k.after = func() { h.s.Cancel("c1") }
	if err := h.s.Submit(&Request{ID: "c1", Prompt: prompts(1, 30, 0, 3)[0], MaxTokens: 400, Sampler: greedy(t, 512), Sink: k}); err != nil {
		t.Fatal(err)
	}
	<-k.done
	if k.res == nil || k.res.Reason != schemas.FinishCanceled {
		t.Fatalf("result = %+v fail = %v, want canceled", k.res, k.fail)
	}
	if len(k.ids) > 5 {
		t.Errorf("generated %d tokens after cancel", len(k.ids))
	}
	if st := h.pool.Stats(); st.UsedBlocks != 0 || st.Sequences != 0 {
		t.Errorf("cancel left blocks referenced: %+v", st)
	}
}

func TestConversationTurnsReuseCache(t *testing.T) {
	m := stories(t)
	h := newHarness(t, m, 256, kvpool.AllFlags(), Config{})
	history := prompts(1, 20, 0, 5)[0]
	for turn := 1; turn <= 4; turn++ {
		k := submit(t, h, fmt.Sprint("turn", turn), history, 20, "conv")
		wait(t, k)
		if turn > 1 && int(k.res.Usage.CachedTokens) < len(history)-20-16 {
			t.Errorf("turn %d: cached %d of %d prompt tokens", turn, k.res.Usage.CachedTokens, len(history))
		}
		history = append(append(history, k.ids...), prompts(1, 9, 0, uint64(turn))[0][1:]...)
	}
}

func TestDeadline(t *testing.T) {
	m := stories(t)
	h := newHarness(t, m, 64, kvpool.AllFlags(), Config{})
	k := newSink()
	if err := h.s.Submit(&Request{ID: "d", Prompt: []int32{1, 5}, MaxTokens: 400, Deadline: time.Now().Add(-time.Second), Sampler: greedy(t, 512), Sink: k}); err != nil {
		t.Fatal(err)
	}
	<-k.done
	if !errors.Is(k.fail, schemas.ErrTimeout) {
		t.Errorf("expired request: %v %+v", k.fail, k.res)
	}
}

func TestStopper(t *testing.T) {
	tests := []struct {
		stops  []string
		deltas []string
		want   string
		stop   bool
	}{
		{[]string{"END"}, []string{"ab", "cE", "N", "Dx"}, "abc", true},
		{[]string{"END"}, []string{"ab", "cE", "Nx"}, "abcENx", false},
		{[]string{"\n\n", "Lily"}, []string{"Once Li", "ly"}, "Once ", true},
		{nil, []string{"a", "b"}, "ab", false},
	}
	for _, tt := range tests {
		s := newStopper(tt.stops)
		got := ""
		stopped := false
		for _, d := range tt.deltas {
			out, st := s.push(d)
			got += out
			if st {
				stopped = true
				break
			}
		}
		if !stopped {
			got += s.flush()
		}
		if got != tt.want || stopped != tt.stop {
			t.Errorf("%v %v: got %q %v, want %q %v", tt.stops, tt.deltas, got, stopped, tt.want, tt.stop)
		}
	}
}

// TestSlowdownIsAccurate: the fault knob's delay is exact on average even
// though steps are far shorter than the sleep granularity and sleeps
// overshoot.
func TestSlowdownIsAccurate(t *testing.T) {
	clk := &stepClock{t: time.Unix(0, 0)}
	s := &Scheduler{clock: clk}
	var slept time.Duration
	s.sleep = func(d time.Duration) {
		slept += d
		clk.t = clk.t.Add(d + 300*time.Microsecond) // every sleep overshoots
	}
	s.SetSlowdown(0.25)
	for i := 0; i < 1000; i++ {
		s.throttle(100 * time.Microsecond) // 100 ms of steps in all
	}
	real := clk.t.Sub(time.Unix(0, 0))
	if real < 24*time.Millisecond || real > 26*time.Millisecond {
		t.Errorf("1000 steps of 100 µs at slowdown 0.25 were delayed %v, want 25 ms", real)
	}
	s.SetSlowdown(0)
	before := clk.t
	s.throttle(time.Second)
	if clk.t != before {
		t.Error("slowdown 0 still slept")
	}
}

type stepClock struct{ t time.Time }

func (c *stepClock) Now() time.Time { return c.t }
