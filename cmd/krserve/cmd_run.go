package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/krserve/krserve/engined/llama"
	"github.com/krserve/krserve/engined/sample"
	"github.com/krserve/krserve/tokenizerd/tokenizer"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// engineFlags are the model-loading flags shared by run and bench engine.
type engineFlags struct {
	model, tokenizer, backend string
	threads                   int
}

func (e *engineFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&e.model, "model", "", "model file: GGUF or llama2.c checkpoint (required)")
	fs.StringVar(&e.tokenizer, "tokenizer", "", "vocabulary file (required for a llama2.c checkpoint, e.g. tok512.bin); default: the model's own")
	fs.StringVar(&e.backend, "backend", llama.BackendNative, "kernels: native or reference")
	fs.IntVar(&e.threads, "threads", min(2, runtime.NumCPU()), "threads for the native kernels")
}

func (e *engineFlags) load() (*llama.Model, error) {
	if e.model == "" {
		return nil, fmt.Errorf("%w: --model is required", errUsage)
	}
	return llama.Load(e.model, llama.WithBackend(e.backend, e.threads))
}

func (e *engineFlags) loadTokenizer(m *llama.Model) (*tokenizer.Tokenizer, error) {
	spec := e.tokenizer
	if spec == "" {
		if m.Format() != "gguf" {
			return nil, fmt.Errorf("%w: a llama2.c checkpoint has no vocabulary: pass --tokenizer (e.g. tok512.bin)", errUsage)
		}
		spec = e.model
	}
	tk, err := tokenizer.Load(spec)
	if err != nil {
		return nil, err
	}
	if tk.VocabSize() > m.Config().Vocab {
		return nil, fmt.Errorf("tokenizer %s has %d tokens, model only %d", spec, tk.VocabSize(), m.Config().Vocab)
	}
	return tk, nil
}

// runTimings is the "timings" object of `krserve run --json`.
type runTimings struct {
	PromptMs         float64 `json:"prompt_ms"`
	DecodeMs         float64 `json:"decode_ms"`
	PromptTokens     int     `json:"prompt_tokens"`
	GeneratedTokens  int     `json:"generated_tokens"`
	PromptTokensPerS float64 `json:"prompt_tokens_per_s"`
	DecodeTokensPerS float64 `json:"decode_tokens_per_s"`
}

type runResult struct {
	PromptIDs    []int32    `json:"prompt_ids"`
	IDs          []int32    `json:"ids"`
	Text         string     `json:"text"`
	FinishReason string     `json:"finish_reason"`
	Timings      runTimings `json:"timings"`
}

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func init() {
	register(&command{
		name:    "run",
		summary: "generate text offline with the in-process engine (no NATS)",
		usage:   "--model PATH [--tokenizer PATH] --prompt TEXT [flags]",
		run:     runRun,
	})
}

func runRun(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
	var ef engineFlags
	ef.register(fs)
	prompt := fs.String("prompt", "", "prompt text (empty: start from BOS alone)")
	var p sample.Params
	var pen float64
	var temp, topP, minP float64
	fs.Float64Var(&temp, "temperature", 0, "sampling temperature; 0 = greedy")
	fs.IntVar(&p.TopK, "top-k", 0, "keep the k most likely tokens; 0 = all")
	fs.Float64Var(&topP, "top-p", 0, "nucleus sampling mass in (0,1); 0 or 1 = off")
	fs.Float64Var(&minP, "min-p", 0, "drop tokens below min-p times the best one's probability")
	fs.Float64Var(&pen, "repeat-penalty", 1, "repetition penalty; 1 = off")
	fs.IntVar(&p.RepeatWindow, "repeat-window", 0, "tokens the repetition penalty looks back on; 0 = 64")
	fs.Uint64Var(&p.Seed, "seed", 0, "random seed (same seed, same text)")
	maxTokens := fs.Int("max-tokens", 256, "maximum generated tokens; 0 = up to the context length")
	var stops stringList
	fs.Var(&stops, "stop", "stop string (repeatable); generation ends before it")
	asJSON := fs.Bool("json", false, "print one JSON object instead of streaming text")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	p.Temperature, p.TopP, p.MinP, p.RepeatPenalty = float32(temp), float32(topP), float32(minP), float32(pen)
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *maxTokens < 0 {
		return fmt.Errorf("%w: --max-tokens must be >= 0", errUsage)
	}
	stopper, err := sample.NewStopper(sample.StopConfig{Strings: stops})
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	m, err := ef.load()
	if err != nil {
		return err
	}
	defer m.Close()
	tk, err := ef.loadTokenizer(m)
	if err != nil {
		return err
	}
	smp, err := sample.New(p, m.Config().Vocab)
	if err != nil {
		return err
	}
	promptIDs := tk.Encode(*prompt, tokenizer.EncodeOptions{AddBOS: tk.BOS() >= 0})
	if len(promptIDs) == 0 {
		return fmt.Errorf("%w: the prompt encodes to no tokens and the vocabulary has no BOS", errUsage)
	}
	dec := tk.NewStreamDecoder()
	var text strings.Builder
	out := func(s string) {
		text.WriteString(s)
		if !*asJSON && s != "" {
			io.WriteString(env.stdout, s)
		}
	}
	g, err := m.Generate(ctx, promptIDs, smp, llama.GenerateOptions{MaxTokens: *maxTokens}, func(id int32) bool {
		s, done := stopper.Push(id, dec.Push(id))
		out(s)
		return !done
	})
	if err != nil {
		return err
	}
	finish := g.Finish
	if stopper.Done() {
		finish = stopper.Reason()
	} else {
		out(stopper.Finish(finish) + dec.Flush())
	}
	t := runTimings{
		PromptMs: float64(g.PromptTime.Microseconds()) / 1000, DecodeMs: float64(g.DecodeTime.Microseconds()) / 1000,
		PromptTokens: len(promptIDs), GeneratedTokens: len(g.IDs),
		PromptTokensPerS: perSecond(len(promptIDs), g.PromptTime),
		// The first token comes from the prefill; later ones each cost a step.
		DecodeTokensPerS: perSecond(max(0, len(g.IDs)-1), g.DecodeTime),
	}
	if *asJSON {
		ids := g.IDs
		if ids == nil {
			ids = []int32{}
		}
		enc := json.NewEncoder(env.stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(runResult{PromptIDs: promptIDs, IDs: ids, Text: text.String(), FinishReason: string(finish), Timings: t})
	}
	fmt.Fprintln(env.stdout)
	fmt.Fprintf(env.stderr, "[%s; prompt %d tokens in %.1f ms; %d tokens in %.1f ms, %.1f tokens/s; finish %s]\n",
		m.Backend().Name(), t.PromptTokens, t.PromptMs, t.GeneratedTokens, t.DecodeMs, t.DecodeTokensPerS, finish)
	return nil
}
