package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/engined/llama"
	"github.com/krserve/krserve/engined/sample"
	"github.com/krserve/krserve/engined/sched"
	"github.com/krserve/krserve/tokenizerd/tokenizer"
)

func init() {
	registerBench(&command{
		name:    "concurrency",
		summary: "aggregate decode tokens/s of 1, 4 and 10 concurrent streams (continuous batching) against sequential serving",
		usage:   "--model PATH [--threads N] [--tokens 64] [--streams 1,4,10] [--sequential 4] [--reps 3] [--json] [--plot out.png]",
		run:     runBenchConcurrency,
	})
}

// concurrencyBench is the --json output of `krserve bench concurrency`.
// Keep it stable.
type concurrencyBench struct {
	Streams              []streamRate `json:"streams"`
	SequentialTokensPerS float64      `json:"sequential_tokens_per_s"`
}

type streamRate struct {
	N          int     `json:"n"`
	TokensPerS float64 `json:"tokens_per_s"`
}

type concurrencyOptions struct {
	streams      []int
	tokens       int // generated per stream
	promptTokens int
	sequential   int // requests served one at a time
	reps         int
}

func runBenchConcurrency(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
	var ef engineFlags
	ef.register(fs)
	o := concurrencyOptions{}
	fs.IntVar(&o.tokens, "tokens", 64, "tokens generated per stream")
	fs.IntVar(&o.promptTokens, "prompt-tokens", 16, "prompt tokens per stream (distinct prompts)")
	streams := fs.String("streams", "1,4,10", "comma-separated numbers of concurrent streams")
	fs.IntVar(&o.sequential, "sequential", 4, "requests served one at a time for the sequential baseline")
	fs.IntVar(&o.reps, "reps", 3, "repetitions; each number is the median")
	asJSON := fs.Bool("json", false, "print JSON")
	plotPath := fs.String("plot", "", "write a PNG chart of the result to this file")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	for f := range strings.SplitSeq(*streams, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("%w: --streams %q: want positive integers", errUsage, *streams)
		}
		o.streams = append(o.streams, n)
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
	res, err := measureConcurrency(ctx, env.stderr, m, tok, modelID(ef.model), o)
	if err != nil {
		return err
	}
	if *plotPath != "" {
		if err := concurrencyFigure(res).Save(*plotPath); err != nil {
			return err
		}
	}
	if *asJSON {
		return json.NewEncoder(env.stdout).Encode(res)
	}
	fmt.Fprintf(env.stdout, "%s: %d tokens per stream, decode tokens/s, median of %d runs\n", ef.model, o.tokens, o.reps)
	for _, s := range res.Streams {
		fmt.Fprintf(env.stdout, "%3d streams  %8.1f tokens/s  %5.2fx sequential\n", s.N, s.TokensPerS, s.TokensPerS/res.SequentialTokensPerS)
	}
	fmt.Fprintf(env.stdout, " sequential  %8.1f tokens/s\n", res.SequentialTokensPerS)
	return nil
}

// measureConcurrency measures decode throughput: for n streams, n requests
// are submitted at once and their tokens counted from the moment every
// stream has its first token (prefill done) to the last token; sequential
// serving runs requests one after another through llama.Generate, the
// single-sequence path of `krserve run`. The configurations take turns
// within each repetition, in rotating order.
func measureConcurrency(ctx context.Context, progress io.Writer, m *llama.Model, tok *tokenizer.Tokenizer, id string, o concurrencyOptions) (*concurrencyBench, error) {
	maxN := 0
	for _, n := range o.streams {
		maxN = max(maxN, n)
	}
	switch {
	case o.tokens < 2 || o.promptTokens < 1 || o.reps < 1 || o.sequential < 1 || len(o.streams) == 0:
		return nil, fmt.Errorf("%w: need --tokens ≥ 2 and --prompt-tokens, --reps, --sequential ≥ 1", errUsage)
	case o.promptTokens+o.tokens >= m.Config().Context:
		return nil, fmt.Errorf("%w: --prompt-tokens plus --tokens must stay below the context of %d", errUsage, m.Config().Context)
	case maxN > config.DefaultRuntime().CPU.KVCachePool.MaxSequences:
		return nil, fmt.Errorf("%w: at most %d streams", errUsage, config.DefaultRuntime().CPU.KVCachePool.MaxSequences)
	}
	words := proseTokens(tok, (max(maxN, o.sequential)+1)*o.promptTokens)
	prompts := make([][]int32, max(maxN, o.sequential))
	for i := range prompts {
		p := []int32{}
		if tok.BOS() >= 0 {
			p = append(p, tok.BOS())
		}
		prompts[i] = append(p, words[i*o.promptTokens:(i+1)*o.promptTokens]...)
	}
	e, err := startBenchEngine(ctx, m, tok, id, config.DefaultRuntime().CPU.KVCachePool)
	if err != nil {
		return nil, err
	}
	defer e.stop()
	if _, err := e.generate(ctx, &sched.Request{ID: "warmup", Prompt: prompts[0], MaxTokens: 4, Salt: "warmup"}); err != nil {
		return nil, err
	}

	// Configuration k < len(o.streams) is o.streams[k]; the last is sequential.
	nconf := len(o.streams) + 1
	rates := make([][]float64, nconf)
	bar := newProgress(progress, "bench concurrency", o.reps*nconf)
	for rep := range o.reps {
		for j := range nconf {
			k := (j + rep) % nconf
			var rate float64
			var note string
			if k == len(o.streams) {
				rate, err = sequentialRate(ctx, m, prompts[:o.sequential], o.tokens)
				note = "sequential"
			} else {
				n := o.streams[k]
				rate, err = batchedRate(ctx, e, prompts[:n], o.tokens, fmt.Sprintf("r%d-n%d", rep, n))
				note = fmt.Sprintf("%d streams", n)
			}
			if err != nil {
				return nil, err
			}
			rates[k] = append(rates[k], rate)
			bar.step(fmt.Sprintf("rep %d %s: %.1f tokens/s", rep+1, note, rate))
		}
	}
	bar.finish()
	res := &concurrencyBench{SequentialTokensPerS: median(rates[len(o.streams)])}
	for k, n := range o.streams {
		res.Streams = append(res.Streams, streamRate{N: n, TokensPerS: median(rates[k])})
	}
	return res, nil
}

// batchedRate submits one request per prompt at once and returns the
// aggregate decode tokens/s.
func batchedRate(ctx context.Context, e *benchEngine, prompts [][]int32, tokens int, tag string) (float64, error) {
	sinks := make([]*benchSink, len(prompts))
	ids := make([]string, len(prompts))
	for i, p := range prompts {
		ids[i] = fmt.Sprintf("%s-%d", tag, i)
		// Each run has its own salt: no run decodes from another's cache.
		s, err := e.submit(&sched.Request{ID: ids[i], Prompt: p, MaxTokens: tokens, Salt: tag})
		if err != nil {
			return 0, err
		}
		sinks[i] = s
	}
	results := make([]*benchResult, len(prompts))
	for i, s := range sinks {
		r, err := s.wait(ctx, e.Sched, ids[i])
		if err != nil {
			return 0, err
		}
		results[i] = r
	}
	return decodeRate(results)
}

// decodeRate counts the tokens after the moment every stream has its first
// token, over the time from then to the last token.
func decodeRate(results []*benchResult) (float64, error) {
	var from, to time.Time
	for _, r := range results {
		if len(r.times) == 0 {
			return 0, fmt.Errorf("a stream generated no tokens")
		}
		if first := r.times[0]; first.After(from) {
			from = first
		}
		if last := r.times[len(r.times)-1]; last.After(to) {
			to = last
		}
	}
	n := 0
	for _, r := range results {
		for _, t := range r.times {
			if t.After(from) {
				n++
			}
		}
	}
	if n == 0 || !to.After(from) {
		return 0, fmt.Errorf("no decode steps to time: every stream stopped at its first token")
	}
	return perSecond(n, to.Sub(from)), nil
}

// sequentialRate generates each prompt in turn and returns decode tokens/s
// (every token after the first over the decode time, as `krserve run`
// reports it).
func sequentialRate(ctx context.Context, m *llama.Model, prompts [][]int32, tokens int) (float64, error) {
	var n int
	var d time.Duration
	for _, p := range prompts {
		smp, err := sample.New(sample.Params{}, m.Config().Vocab)
		if err != nil {
			return 0, err
		}
		g, err := m.Generate(ctx, p, smp, llama.GenerateOptions{MaxTokens: tokens}, func(int32) bool { return true })
		if err != nil {
			return 0, err
		}
		n += max(0, len(g.IDs)-1)
		d += g.DecodeTime
	}
	if n == 0 || d <= 0 {
		return 0, fmt.Errorf("no decode steps to time: every request stopped at its first token")
	}
	return perSecond(n, d), nil
}
