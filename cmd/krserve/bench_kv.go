package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/engined"
	"github.com/krserve/krserve/engined/llama"
	"github.com/krserve/krserve/engined/sample"
	"github.com/krserve/krserve/engined/sched"
	"github.com/krserve/krserve/schemas"
	"github.com/krserve/krserve/tokenizerd/tokenizer"
)

func init() {
	registerBench(&command{
		name:    "kv",
		summary: "time to first token per turn of a growing chat, with the KV pool (prefix reuse) against without",
		usage:   "--model PATH [--tokenizer P] [--turns 5] [--history 1000] [--reply-tokens 16] [--reps 3] [--threads N] [--json] [--plot out.png]",
		run:     runBenchKV,
	})
}

// kvBench is the --json output of `krserve bench kv`. Keep it stable.
type kvBench struct {
	Turns []kvTurn `json:"turns"`
}

// kvTurn is one turn: medians over the repetitions.
type kvTurn struct {
	Turn         int     `json:"turn"`
	PromptTokens int     `json:"prompt_tokens"`
	CachedTokens int     `json:"cached_tokens"` // with the pool
	TTFTMsPool   float64 `json:"ttft_ms_pool"`
	TTFTMsNoPool float64 `json:"ttft_ms_nopool"`

	cachedNoPool int // reused tokens without the pool: must be 0
}

// kvOptions size the chat of `krserve bench kv`.
type kvOptions struct {
	turns, history, reply, reps int
}

func runBenchKV(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
	var ef engineFlags
	ef.register(fs)
	var o kvOptions
	fs.IntVar(&o.turns, "turns", 5, "chat turns")
	fs.IntVar(&o.history, "history", 1000, "prompt tokens at the last turn (the conversation so far)")
	fs.IntVar(&o.reply, "reply-tokens", 16, "tokens the model generates per turn; they join the history")
	fs.IntVar(&o.reps, "reps", 3, "repetitions of the whole chat; each turn reports the median")
	asJSON := fs.Bool("json", false, "print JSON")
	plotPath := fs.String("plot", "", "write a PNG chart of the result to this file")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	m, err := ef.load()
	if err != nil {
		return err
	}
	defer m.Close()
	tok, err := ef.loadTokenizer(m)
	if err != nil {
		return err
	}
	res, err := measureKV(ctx, env.stderr, m, tok, modelID(ef.model), o)
	if err != nil {
		return err
	}
	if *plotPath != "" {
		if err := kvFigure(res).Save(*plotPath); err != nil {
			return err
		}
	}
	if *asJSON {
		return json.NewEncoder(env.stdout).Encode(res)
	}
	fmt.Fprintf(env.stdout, "%s: %d-turn chat, %d reply tokens per turn, median of %d runs\n", ef.model, o.turns, o.reply, o.reps)
	fmt.Fprintf(env.stdout, "turn  prompt  cached  ttft pool ms  ttft no-pool ms  ratio\n")
	for _, t := range res.Turns {
		fmt.Fprintf(env.stdout, "%4d  %6d  %6d  %12.1f  %15.1f  %4.0f %%\n", t.Turn, t.PromptTokens, t.CachedTokens,
			t.TTFTMsPool, t.TTFTMsNoPool, 100*t.TTFTMsPool/t.TTFTMsNoPool)
	}
	return nil
}

// measureKV runs the chat o.reps times on two engines sharing m: one with
// the default KV pool, one with the pool disabled. Within a repetition the
// turns alternate between the engines (and which goes first), so drift in
// machine load hits both alike. The pool engine's reply joins the history,
// as in a real chat; the no-pool engine gets the same prompts. Every
// repetition uses its own cache salt, so turn 1 starts cold each time.
func measureKV(ctx context.Context, progress io.Writer, m *llama.Model, tok *tokenizer.Tokenizer, id string, o kvOptions) (*kvBench, error) {
	ctxLen := m.Config().Context
	switch {
	case o.turns < 1 || o.reps < 1 || o.reply < 1:
		return nil, fmt.Errorf("%w: --turns, --reps and --reply-tokens must be ≥ 1", errUsage)
	case o.history+o.reply >= ctxLen:
		return nil, fmt.Errorf("%w: --history %d plus --reply-tokens %d must stay below the context of %d", errUsage, o.history, o.reply, ctxLen)
	}
	// Each turn adds a user message of u tokens and, after it, a reply.
	u := (o.history - 1 - (o.turns-1)*o.reply) / o.turns
	if u < 1 {
		return nil, fmt.Errorf("%w: --history %d is too short for %d turns of %d reply tokens", errUsage, o.history, o.turns, o.reply)
	}
	words := proseTokens(tok, o.turns*u)

	withPool := config.DefaultRuntime().CPU.KVCachePool
	noPool := withPool
	noPool.Enabled, noPool.PrefixMatching = false, false
	pe, err := startBenchEngine(ctx, m, tok, id, withPool)
	if err != nil {
		return nil, err
	}
	defer pe.stop()
	ne, err := startBenchEngine(ctx, m, tok, id, noPool)
	if err != nil {
		return nil, err
	}
	defer ne.stop()
	// Warm up both: page in the weights, start the kernel threads.
	for _, e := range []*benchEngine{pe, ne} {
		if _, err := e.generate(ctx, &sched.Request{ID: "warmup", Prompt: words[:min(len(words), 32)], MaxTokens: 2, Salt: "warmup"}); err != nil {
			return nil, err
		}
	}

	type ttfts struct{ pool, nopool []float64 }
	samples := make([]ttfts, o.turns)
	turns := make([]kvTurn, o.turns)
	bar := newProgress(progress, "bench kv", o.reps*o.turns)
	for rep := range o.reps {
		conv := fmt.Sprintf("chat-%d", rep)
		salt := fmt.Sprintf("rep-%d", rep)
		history := []int32{}
		if tok.BOS() >= 0 {
			history = append(history, tok.BOS())
		}
		for t := range o.turns {
			history = append(history, words[t*u:(t+1)*u]...)
			prompt := slices.Clone(history)
			reqID := func(kind string) string { return fmt.Sprintf("%s-%d-%d", kind, rep, t) }
			run := func(e *benchEngine, kind string) (*benchResult, error) {
				return e.generate(ctx, &sched.Request{ID: reqID(kind), Prompt: prompt, ConversationID: conv, Salt: salt, MaxTokens: o.reply})
			}
			var pr, nr *benchResult
			if (rep+t)%2 == 0 {
				if pr, err = run(pe, "pool"); err == nil {
					nr, err = run(ne, "nopool")
				}
			} else {
				if nr, err = run(ne, "nopool"); err == nil {
					pr, err = run(pe, "pool")
				}
			}
			if err != nil {
				return nil, err
			}
			samples[t].pool = append(samples[t].pool, pr.ttftMs())
			samples[t].nopool = append(samples[t].nopool, nr.ttftMs())
			turns[t] = kvTurn{Turn: t + 1, PromptTokens: len(prompt), CachedTokens: int(pr.res.Usage.CachedTokens),
				cachedNoPool: int(nr.res.Usage.CachedTokens)}
			if turns[t].cachedNoPool != 0 {
				return nil, fmt.Errorf("the disabled pool reused %d tokens at turn %d", turns[t].cachedNoPool, t+1)
			}
			history = append(history, pr.res.IDs...)
			bar.step(fmt.Sprintf("rep %d turn %d: %d tokens", rep+1, t+1, len(prompt)))
		}
	}
	bar.finish()
	for t := range turns {
		turns[t].TTFTMsPool = median(samples[t].pool)
		turns[t].TTFTMsNoPool = median(samples[t].nopool)
	}
	return &kvBench{Turns: turns}, nil
}

// modelID names a model file in block hashes.
func modelID(path string) string {
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

// The rest of this file is the harness the engine benchmarks share (kv,
// concurrency, e2e).

// benchEngine is an engine whose scheduler runs on its own goroutine for the
// length of one benchmark.
type benchEngine struct {
	*engined.Engine
	cancel context.CancelFunc
	done   chan error
}

func startBenchEngine(ctx context.Context, m *llama.Model, tok *tokenizer.Tokenizer, id string, pool config.KVCachePool) (*benchEngine, error) {
	e, err := engined.NewEngine(m, tok, engined.DefaultEngineConfig(id, pool), nil)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	be := &benchEngine{Engine: e, cancel: cancel, done: make(chan error, 1)}
	go func() { be.done <- e.Sched.Run(rctx) }()
	return be, nil
}

// stop ends the scheduler and waits for it.
func (b *benchEngine) stop() error {
	b.cancel()
	return <-b.done
}

// submit fills in a greedy sampler, a sink and the start time, and submits
// r. Wait on the returned sink.
func (b *benchEngine) submit(r *sched.Request) (*benchSink, error) { return submitBench(b.Engine, r) }

// submitBench submits r to e's scheduler with a greedy sampler and a
// recording sink; Received defaults to now.
func submitBench(e *engined.Engine, r *sched.Request) (*benchSink, error) {
	smp, err := sample.New(sample.Params{}, e.Model.Config().Vocab)
	if err != nil {
		return nil, err
	}
	s := newBenchSink()
	r.Sampler, r.Sink = smp, s
	if r.Received.IsZero() {
		r.Received = time.Now()
	}
	s.start = r.Received
	if err := e.Sched.Submit(r); err != nil {
		return nil, err
	}
	return s, nil
}

// generate runs r to the end.
func (b *benchEngine) generate(ctx context.Context, r *sched.Request) (*benchResult, error) {
	s, err := b.submit(r)
	if err != nil {
		return nil, err
	}
	return s.wait(ctx, b.Sched, r.ID)
}

// benchSink records when each token of a request arrived.
type benchSink struct {
	mu    sync.Mutex
	start time.Time
	times []time.Time // one per generated token
	res   sched.Result
	fail  *schemas.Error
	done  chan struct{}
}

func newBenchSink() *benchSink { return &benchSink{done: make(chan struct{})} }

func (s *benchSink) Token(ids []int32, _ string) {
	now := time.Now()
	s.mu.Lock()
	for range ids {
		s.times = append(s.times, now)
	}
	s.mu.Unlock()
}

func (s *benchSink) Final(r sched.Result) {
	s.mu.Lock()
	s.res = r
	s.mu.Unlock()
	close(s.done)
}

func (s *benchSink) Fail(err *schemas.Error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
	close(s.done)
}

// benchResult is a finished request as its sink saw it.
type benchResult struct {
	start time.Time
	times []time.Time
	res   sched.Result
}

// ttftMs is the scheduler's time to first token in milliseconds.
func (r *benchResult) ttftMs() float64 { return float64(r.res.Timings.TTFTUs) / 1000 }

func (s *benchSink) wait(ctx context.Context, sc *sched.Scheduler, id string) (*benchResult, error) {
	select {
	case <-s.done:
	case <-ctx.Done():
		sc.Cancel(id)
		<-s.done
		return nil, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, fmt.Errorf("request %s: %w", id, s.fail)
	}
	return &benchResult{start: s.start, times: s.times, res: s.res}, nil
}

// median of xs (xs is reordered); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// progress is a one-line progress bar redrawn with \r on stderr. Safe for
// concurrent use.
type progress struct {
	mu          sync.Mutex
	w           io.Writer
	label       string
	done, total int
}

func newProgress(w io.Writer, label string, total int) *progress {
	p := &progress{w: w, label: label, total: max(1, total)}
	p.draw("")
	return p
}

func (p *progress) step(note string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	p.draw(note)
}

func (p *progress) draw(note string) {
	const width = 20
	filled := width * p.done / p.total
	fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d %-40s", p.label, strings.Repeat("#", filled), strings.Repeat(".", width-filled), p.done, p.total, note)
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r%-100s\r", "")
}

// benchProse is English text the benchmarks encode for prompts: the same
// words every run, so numbers compare across runs and machines.
const benchProse = `The harbor town woke slowly. Fishing boats came in with the tide, and the gulls followed them, crying over the nets. ` +
	`In the market the baker set out bread still warm from the oven, and children ran between the stalls with coins for sweets. ` +
	`An old woman sold apples from a wooden cart; she knew every family by name and asked after their grandmothers. ` +
	`Down by the water a boy named Tom mended a kite with string and glue, because the wind off the sea was strong that day. ` +
	`His sister Lily watched the clouds and told him which ones looked like dragons, ships or sleeping cats. ` +
	`At noon the church bell rang twelve times, and the whole town seemed to pause, as if listening. ` +
	`The teacher walked her class to the lighthouse, where the keeper showed them the great lamp and the brass gears that turned it. ` +
	`He said that on stormy nights the light could be seen from thirty miles away, and that sailors blessed it in many languages. ` +
	`In the afternoon rain came in from the west, soft at first and then heavy, drumming on the roofs and filling the gutters. ` +
	`People hurried home with their collars up, and the smell of wet stone and woodsmoke drifted through the narrow streets. ` +
	`By evening the storm had passed. The sky cleared to a deep blue, the first stars appeared, and the lighthouse began to turn. ` +
	`Tom flew his kite one last time in the calm air, high above the harbor, until his mother called him in for supper. `

// proseSentences splits benchProse into sentences.
func proseSentences() []string {
	var out []string
	for s := range strings.SplitSeq(benchProse, ". ") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, strings.TrimSuffix(s, ".")+".")
		}
	}
	return out
}

// proseText returns about n bytes of prose starting at sentence start.
func proseText(start, n int) string {
	sents := proseSentences()
	var b strings.Builder
	for i := start; b.Len() < n; i++ {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(sents[i%len(sents)])
	}
	return b.String()
}

// proseTokens returns n token ids of prose (no BOS).
func proseTokens(tok *tokenizer.Tokenizer, n int) []int32 {
	var ids []int32
	for start := 0; len(ids) < n; start++ {
		ids = append(ids, tok.Encode(" "+proseText(start, 4096), tokenizer.EncodeOptions{})...)
	}
	return ids[:n]
}
