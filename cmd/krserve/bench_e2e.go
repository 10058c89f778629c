package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/bus/client"
	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/engined"
	"github.com/krserve/krserve/engined/sched"
	"github.com/krserve/krserve/internal/stack"
	"github.com/krserve/krserve/schemas"
	"github.com/krserve/krserve/tokenizerd/tokenizer"
	"github.com/nats-io/nats.go"
)

func init() {
	registerBench(&command{
		name:    "e2e",
		summary: "time to first token and tokens/s through the NATS pipeline against the in-process engine, and batched tokenization",
		usage:   "--model PATH [--tokenizer P] [--requests 200] [--concurrency 10] [--tokens 16] [--threads N] [--runtime FILE] [--json] [--plot out.png]",
		run:     runBenchE2E,
	})
}

// e2eBench is the --json output of `krserve bench e2e`. Keep it stable.
type e2eBench struct {
	TTFTMs struct {
		Pipeline  latency `json:"pipeline"`
		InProcess latency `json:"inprocess"`
	} `json:"ttft_ms"`
	TokensPerS struct {
		Pipeline  float64 `json:"pipeline"`
		InProcess float64 `json:"inprocess"`
	} `json:"tokens_per_s"`
	TokenizeMs struct {
		Batched    float64 `json:"batched"`
		Sequential float64 `json:"sequential"`
	} `json:"tokenize_ms"`
}

type latency struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
}

type e2eOptions struct {
	model, tokenizer, backend string
	threads                   int
	runtime                   config.Runtime
	requests, concurrency     int
	tokens                    int // generated per request
	promptBytes               int
	tokenizeTexts             int
	tokenizeBytes             int
	tokenizeReps              int
}

func runBenchE2E(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
	var ef engineFlags
	ef.register(fs)
	var o e2eOptions
	fs.IntVar(&o.requests, "requests", 200, "requests per path (pipeline and in-process)")
	fs.IntVar(&o.concurrency, "concurrency", 10, "requests in flight at once")
	fs.IntVar(&o.tokens, "tokens", 16, "tokens generated per request")
	fs.IntVar(&o.promptBytes, "prompt-bytes", 200, "bytes of prose per generation prompt (distinct prompts)")
	fs.IntVar(&o.tokenizeTexts, "tokenize-texts", 10, "texts tokenized at once for the tokenization measurement")
	fs.IntVar(&o.tokenizeBytes, "tokenize-bytes", 4096, "bytes per text of the tokenization measurement")
	fs.IntVar(&o.tokenizeReps, "tokenize-reps", 21, "repetitions of the tokenization measurement (median)")
	runtimeFile := fs.String("runtime", "", "runtime YAML with the feature flags of the pipeline (default: built-in defaults = config/runtime.yaml)")
	asJSON := fs.Bool("json", false, "print JSON")
	plotPath := fs.String("plot", "", "write a PNG chart of the result to this file")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	o.runtime = config.DefaultRuntime()
	if *runtimeFile != "" {
		rt, err := config.LoadRuntime(*runtimeFile)
		if err != nil {
			return err
		}
		o.runtime = rt
	}
	if ef.model == "" {
		return fmt.Errorf("%w: --model is required", errUsage)
	}
	if o.requests < 1 || o.concurrency < 1 || o.tokens < 1 || o.promptBytes < 1 || o.tokenizeTexts < 1 || o.tokenizeBytes < 1 || o.tokenizeReps < 1 {
		return fmt.Errorf("%w: every count and size must be ≥ 1", errUsage)
	}
	o.model, o.tokenizer, o.backend, o.threads = ef.model, ef.tokenizer, ef.backend, ef.threads
	res, err := measureE2E(ctx, env.stderr, o)
	if err != nil {
		return err
	}
	if *plotPath != "" {
		if err := e2eFigure(res).Save(*plotPath); err != nil {
			return err
		}
	}
	if *asJSON {
		return json.NewEncoder(env.stdout).Encode(res)
	}
	fmt.Fprintf(env.stdout, "%s: %d requests per path, %d in flight, %d tokens each\n", o.model, o.requests, o.concurrency, o.tokens)
	fmt.Fprintf(env.stdout, "ttft ms     p50 %8.2f  p99 %8.2f  (pipeline)\n", res.TTFTMs.Pipeline.P50, res.TTFTMs.Pipeline.P99)
	fmt.Fprintf(env.stdout, "ttft ms     p50 %8.2f  p99 %8.2f  (in-process)\n", res.TTFTMs.InProcess.P50, res.TTFTMs.InProcess.P99)
	fmt.Fprintf(env.stdout, "tokens/s    %8.1f pipeline  %8.1f in-process\n", res.TokensPerS.Pipeline, res.TokensPerS.InProcess)
	fmt.Fprintf(env.stdout, "tokenize ms %8.3f batched   %8.3f sequential (%d texts of %d bytes)\n",
		res.TokenizeMs.Batched, res.TokenizeMs.Sequential, o.tokenizeTexts, o.tokenizeBytes)
	return nil
}

// measureE2E starts the whole pipeline in this process (embedded NATS, one
// tokenizer worker, one engine worker) and drives the same prompts at the
// same concurrency through it (producer client → tokenizer → engine →
// stream back) and straight into that engine's scheduler (encode, Submit,
// tokens from the sink), in alternating rounds. Both paths time from
// before the request is encoded to the first generated token arriving at
// the caller; each path has its own cache salt so neither reuses the
// other's KV.
func measureE2E(ctx context.Context, progress io.Writer, o e2eOptions) (*e2eBench, error) {
	dir, err := os.MkdirTemp("", "krserve-bench-e2e-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	srv, err := bus.NewServer(bus.ServerConfig{StoreDir: dir})
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		return nil, err
	}
	defer srv.Shutdown()
	st, err := stack.Start(stack.Config{Model: o.model, Tokenizer: o.tokenizer, Backend: o.backend, Threads: o.threads,
		Engines: []stack.EngineSpec{{ID: "engine-1", Variant: "baseline"}}, Tokenizers: 1, Runtime: o.runtime,
		Heartbeat: 500 * time.Millisecond, Metrics: time.Second, Drain: 5 * time.Second,
		Connect: func(name string) (*nats.Conn, error) { return srv.Connect(name, bus.ConnDeps{}) },
	}, nil, nil)
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = st.Stop()
		}
	}()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = st.WaitReady(rctx, map[string]int{"baseline": 1})
	cancel()
	if err != nil {
		return nil, err
	}
	nc, err := srv.Connect("bench-producer", bus.ConnDeps{})
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	tok := st.Tokenizer
	paths := [2]e2ePath{
		&pipelinePath{c: client.New(nc, client.Options{IdleTimeout: time.Minute}), tokens: o.tokens},
		&inProcessPath{eng: st.EngineCore[0], tok: tok, tokens: o.tokens},
	}
	prompts := make([]string, o.requests)
	for i := range prompts {
		prompts[i] = fmt.Sprintf("Note %d. %s", i, proseText(i, o.promptBytes))
	}

	res := &e2eBench{}
	// Tokenization first, while the engine is idle.
	if res.TokenizeMs.Batched, res.TokenizeMs.Sequential, err = measureTokenize(ctx, tok, o); err != nil {
		return nil, err
	}
	for _, p := range paths {
		if _, _, err := p.do(ctx, "warmup", prompts[0]); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	rounds := max(1, min(10, o.requests/(2*o.concurrency)))
	var ttfts [2][]float64
	var tokens [2]int
	var wall [2]time.Duration
	bar := newProgress(progress, "bench e2e", 2*o.requests)
	for r := range rounds {
		lo, hi := r*o.requests/rounds, (r+1)*o.requests/rounds
		for j := range 2 {
			k := (j + r) % 2
			t, n, d, err := runLoad(ctx, paths[k], prompts[lo:hi], lo, o.concurrency, bar)
			if err != nil {
				return nil, err
			}
			ttfts[k] = append(ttfts[k], t...)
			tokens[k] += n
			wall[k] += d
		}
	}
	bar.finish()
	stopped = true
	if err := st.Stop(); err != nil {
		return nil, err
	}
	res.TTFTMs.Pipeline = latencyOf(ttfts[0])
	res.TTFTMs.InProcess = latencyOf(ttfts[1])
	res.TokensPerS.Pipeline = perSecond(tokens[0], wall[0])
	res.TokensPerS.InProcess = perSecond(tokens[1], wall[1])
	return res, nil
}

// e2ePath runs one request and reports its time to first token and its
// generated tokens.
type e2ePath interface {
	do(ctx context.Context, id, prompt string) (ttft time.Duration, tokens int, err error)
	name() string
}

type pipelinePath struct {
	c      *client.Client
	tokens int
}

func (p *pipelinePath) name() string { return "pipeline" }

func (p *pipelinePath) do(ctx context.Context, id, prompt string) (time.Duration, int, error) {
	t0 := time.Now()
	s, err := p.c.Generate(ctx, &schemas.GenerateRequest{ID: "pipeline-" + id, Prompt: prompt, MaxTokens: int32(p.tokens), CacheSalt: "pipeline"})
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	var ttft time.Duration
	n := 0
	for m, err := range s.Messages(ctx) {
		if err != nil {
			return 0, 0, err
		}
		if m.Kind == schemas.KindToken && len(m.IDs) > 0 {
			if n == 0 {
				ttft = time.Since(t0)
			}
			n += len(m.IDs)
		}
	}
	if s.Final() == nil {
		return 0, 0, fmt.Errorf("stream %s ended without a final message", s.ID)
	}
	return ttft, n, nil
}

type inProcessPath struct {
	eng    *engined.Engine
	tok    *tokenizer.Tokenizer
	tokens int
}

func (p *inProcessPath) name() string { return "in-process" }

func (p *inProcessPath) do(ctx context.Context, id, prompt string) (time.Duration, int, error) {
	t0 := time.Now()
	ids := p.tok.Encode(prompt, tokenizer.EncodeOptions{AddBOS: p.tok.DefaultAddBOS()})
	rid := "inprocess-" + id
	s, err := submitBench(p.eng, &sched.Request{ID: rid, Prompt: ids, MaxTokens: p.tokens, Salt: "inprocess",
		Decoder: p.tok.NewStreamDecoder(), Received: t0})
	if err != nil {
		return 0, 0, err
	}
	r, err := s.wait(ctx, p.eng.Sched, rid)
	if err != nil {
		return 0, 0, err
	}
	if len(r.times) == 0 {
		return 0, 0, nil
	}
	return r.times[0].Sub(t0), len(r.times), nil
}

// runLoad sends prompts through p with conc requests in flight and returns
// every request's time to first token in ms, the tokens generated and the
// wall time. base numbers the requests.
func runLoad(ctx context.Context, p e2ePath, prompts []string, base, conc int, bar *progress) ([]float64, int, time.Duration, error) {
	ttfts := make([]float64, len(prompts))
	var next, tokens atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	start := time.Now()
	for range min(conc, len(prompts)) {
		g.Go(func() error {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(prompts) {
					return nil
				}
				ttft, n, err := p.do(gctx, fmt.Sprint(base+i), prompts[i])
				if err != nil {
					return fmt.Errorf("%s request %d: %w", p.name(), base+i, err)
				}
				if n == 0 {
					return fmt.Errorf("%s request %d generated no tokens", p.name(), base+i)
				}
				ttfts[i] = float64(ttft.Microseconds()) / 1000
				tokens.Add(int64(n))
				bar.step(p.name())
			}
		})
	}
	err := g.Wait()
	return ttfts, int(tokens.Load()), time.Since(start), err
}

// latencyOf returns the p50 and p99 of ms (nearest rank).
func latencyOf(ms []float64) latency {
	return latency{P50: percentile(ms, 50), P99: percentile(ms, 99)}
}

func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// measureTokenize times encoding o.tokenizeTexts texts as one
// Pool.EncodeBatch (the tokenizer worker's micro-batch path) against one
// Encode call after another, interleaved, and returns the medians in ms.
func measureTokenize(ctx context.Context, tok *tokenizer.Tokenizer, o e2eOptions) (batched, sequential float64, err error) {
	texts := make([]string, o.tokenizeTexts)
	for i := range texts {
		texts[i] = fmt.Sprintf("Note %d. %s", i, proseText(3*i, o.tokenizeBytes))
	}
	rt := o.runtime.CPU.ParallelTokenizer
	pool, err := tokenizer.NewPool(tok, tokenizer.ParallelConfig{Enabled: rt.Enabled, NumThreads: rt.NumThreads, ThreadPoolSize: rt.ThreadPoolSize,
		BatchMode: rt.BatchMode, FallbackOnError: rt.FallbackOnError, UseSIMD: rt.UseSIMD}, nil)
	if err != nil {
		return 0, 0, err
	}
	var g errgroup.Group
	g.Go(func() error { return pool.Run(ctx) })
	opts := tokenizer.EncodeOptions{AddBOS: tok.DefaultAddBOS()}
	var bt, st []float64
	var batchErr error
	for rep := range o.tokenizeReps + 1 { // the first round warms up
		var b, s time.Duration
		seq := func() {
			t0 := time.Now()
			for _, x := range texts {
				_ = tok.Encode(x, opts)
			}
			s = time.Since(t0)
		}
		bat := func() {
			t0 := time.Now()
			_, batchErr = pool.EncodeBatch(ctx, texts, opts)
			b = time.Since(t0)
		}
		if rep%2 == 0 {
			seq()
			bat()
		} else {
			bat()
			seq()
		}
		if batchErr != nil {
			break
		}
		if rep > 0 {
			bt = append(bt, float64(b.Nanoseconds())/1e6)
			st = append(st, float64(s.Nanoseconds())/1e6)
		}
	}
	pool.Close()
	if err := errors.Join(batchErr, g.Wait()); err != nil {
		return 0, 0, err
	}
	return median(bt), median(st), nil
}
