package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/krserve/krserve/engined/llama"
	"github.com/krserve/krserve/engined/sample"
)

// engineBench is the result of `krserve bench engine --json`.
type engineBench struct {
	Model            string  `json:"model"`
	Backend          string  `json:"backend"`
	WeightType       string  `json:"weight_type"`
	Threads          int     `json:"threads"`
	PromptTokens     int     `json:"prompt_tokens"`
	DecodeTokens     int     `json:"decode_tokens"`
	PromptTokensPerS float64 `json:"prompt_tokens_per_s"`
	DecodeTokensPerS float64 `json:"decode_tokens_per_s"`
}

func init() {
	registerBench(&command{
		name:    "engine",
		summary: "measure prefill and decode tokens/s of the in-process engine on a model",
		usage:   "--model PATH --threads N [--prompt-tokens 128] [--decode-tokens 128] [--json]",
		run:     runBenchEngine,
	})
}

func runBenchEngine(ctx context.Context, env *cmdEnv, fs *flag.FlagSet, args []string) error {
	var ef engineFlags
	ef.register(fs)
	nPrompt := fs.Int("prompt-tokens", 128, "prompt tokens, prefilled in one batch")
	nDecode := fs.Int("decode-tokens", 128, "tokens decoded one at a time after the prompt")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	m, err := ef.load()
	if err != nil {
		return err
	}
	defer m.Close()
	c := m.Config()
	if *nPrompt < 1 || *nDecode < 1 || *nPrompt+*nDecode > c.Context {
		return fmt.Errorf("%w: need 1 <= prompt and decode tokens, sum <= context %d", errUsage, c.Context)
	}
	total := *nPrompt + *nDecode
	const bs = 16
	kv, err := m.NewKVArena((total+bs-1)/bs, bs)
	if err != nil {
		return err
	}
	table := make([]int32, kv.NumBlocks)
	for i := range table {
		table[i] = int32(i)
	}
	st := m.NewState(*nPrompt)
	logits := make([]float32, c.Vocab)
	smp, _ := sample.New(sample.Params{}, c.Vocab)
	rng := rand.New(rand.NewPCG(1, 2))
	prompt := make([]int32, *nPrompt)
	for i := range prompt {
		prompt[i] = int32(rng.IntN(c.Vocab))
	}
	b := &llama.Batch{}
	prefill := func() error {
		b.Reset()
		b.Tables = append(b.Tables, table)
		for i, t := range prompt {
			b.Add(t, int32(i), 0, i == len(prompt)-1)
		}
		return m.Forward(st, b, kv, logits)
	}
	decode := func(n int) error {
		for i := range n {
			if err := ctx.Err(); err != nil {
				return err
			}
			tok := smp.Sample(logits, nil)
			b.Reset()
			b.Tables = append(b.Tables, table)
			b.Add(tok, int32(*nPrompt+i), 0, true)
			if err := m.Forward(st, b, kv, logits); err != nil {
				return err
			}
		}
		return nil
	}
	// Warm-up: page the weights in and start the kernel threads.
	if err := prefill(); err != nil {
		return err
	}
	if err := decode(min(4, *nDecode)); err != nil {
		return err
	}
	t0 := time.Now()
	if err := prefill(); err != nil {
		return err
	}
	tPrompt := time.Since(t0)
	t0 = time.Now()
	if err := decode(*nDecode); err != nil {
		return err
	}
	tDecode := time.Since(t0)
	r := engineBench{Model: ef.model, Backend: m.Backend().Name(), WeightType: m.WeightType().String(), Threads: ef.threads,
		PromptTokens: *nPrompt, DecodeTokens: *nDecode,
		PromptTokensPerS: perSecond(*nPrompt, tPrompt), DecodeTokensPerS: perSecond(*nDecode, tDecode)}
	if *asJSON {
		return json.NewEncoder(env.stdout).Encode(r)
	}
	fmt.Fprintf(env.stdout, "%s (%s, %s, %d threads): prompt %d tokens %.1f tokens/s, decode %d tokens %.1f tokens/s\n",
		r.Model, r.Backend, r.WeightType, r.Threads, r.PromptTokens, r.PromptTokensPerS, r.DecodeTokens, r.DecodeTokensPerS)
	return nil
}
