package llama

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/krserve/krserve/engined/sample"
)

// TokenSampler picks the next token from logits; *sample.Sampler is one.
type TokenSampler interface {
	Sample(logits []float32, history []int32) int32
}

// GenerateOptions bounds one Generate call.
type GenerateOptions struct {
	// MaxTokens caps the generated tokens; 0 means up to the context.
	MaxTokens int
	// StopIDs end generation when sampled (not emitted). The model's EOS
	// is always a stop id, and BOS is too for llama2.c checkpoints, whose
	// stories end with it.
	StopIDs []int32
	// PromptChunk is the number of prompt tokens per prefill Forward;
	// 0 means 256.
	PromptChunk int
	// BlockSize of the private KV arena; 0 means 16.
	BlockSize int
}

// Generation is the outcome of Generate.
type Generation struct {
	IDs        []int32 // generated ids, stop id excluded
	Finish     sample.FinishReason
	PromptTime time.Duration // prefill up to the first logits
	DecodeTime time.Duration // every later step
}

// Generate runs one sequence: it prefills prompt, then samples one token at
// a time until a stop id, MaxTokens, the context length, or emit returns
// false (finish "stop"). emit sees each generated id as soon as it is
// sampled. It uses a private State and KV arena with a trivial block table,
// so it is for offline use; servers drive Forward directly.
func (m *Model) Generate(ctx context.Context, prompt []int32, smp TokenSampler, o GenerateOptions, emit func(id int32) bool) (*Generation, error) {
	c := m.cfg
	if len(prompt) == 0 {
		return nil, fmt.Errorf("%w: empty prompt", ErrBatch)
	}
	if len(prompt) >= c.Context {
		return nil, fmt.Errorf("%w: prompt of %d tokens fills the context of %d", ErrBatch, len(prompt), c.Context)
	}
	if o.MaxTokens < 0 || o.PromptChunk < 0 || o.BlockSize < 0 {
		return nil, fmt.Errorf("%w: negative generate option %+v", ErrConfig, o)
	}
	chunk, bs := o.PromptChunk, o.BlockSize
	if chunk == 0 {
		chunk = 256
	}
	if bs == 0 {
		bs = 16
	}
	stops := append(slices.Clone(o.StopIDs), c.EOS)
	if c.StopAtBOS {
		stops = append(stops, c.BOS)
	}
	total := c.Context
	if o.MaxTokens > 0 {
		total = min(total, len(prompt)+o.MaxTokens)
	}
	nb := (total + bs - 1) / bs
	kv, err := m.NewKVArena(nb, bs)
	if err != nil {
		return nil, err
	}
	table := make([]int32, nb)
	for i := range table {
		table[i] = int32(i)
	}
	st := m.NewState(min(chunk, len(prompt)))
	logits := make([]float32, c.Vocab)
	history := make([]int32, 0, total)
	history = append(history, prompt...)
	b := &Batch{Tables: [][]int32{table}}
	g := &Generation{}
	start := time.Now()
	for off := 0; off < len(prompt); off += chunk {
		if err := ctx.Err(); err != nil {
			return g, err
		}
		b.Reset()
		b.Tables = append(b.Tables, table)
		end := min(len(prompt), off+chunk)
		for i := off; i < end; i++ {
			b.Add(prompt[i], int32(i), 0, i == len(prompt)-1)
		}
		if err := m.Forward(st, b, kv, logits); err != nil {
			return g, err
		}
	}
	g.PromptTime = time.Since(start)
	start = time.Now()
	defer func() { g.DecodeTime = time.Since(start) }()
	for {
		id := smp.Sample(logits, history)
		if slices.Contains(stops, id) {
			g.Finish = sample.FinishStop
			return g, nil
		}
		g.IDs = append(g.IDs, id)
		history = append(history, id)
		if emit != nil && !emit(id) {
			g.Finish = sample.FinishStop
			return g, nil
		}
		pos := len(history) - 1
		if (o.MaxTokens > 0 && len(g.IDs) >= o.MaxTokens) || pos >= c.Context {
			g.Finish = sample.FinishLength
			return g, nil
		}
		if err := ctx.Err(); err != nil {
			return g, err
		}
		b.Reset()
		b.Tables = append(b.Tables, table)
		b.Add(id, int32(pos), 0, true)
		if err := m.Forward(st, b, kv, logits); err != nil {
			return g, err
		}
	}
}
