package engined

import (
	"errors"
	"fmt"
	"strings"

	"github.com/krserve/krserve/config"
	"github.com/krserve/krserve/engined/kvpool"
	"github.com/krserve/krserve/engined/llama"
	"github.com/krserve/krserve/engined/sched"
	"github.com/krserve/krserve/tokenizerd/tokenizer"
	"github.com/prometheus/client_golang/prometheus"
)

// EngineConfig sizes an Engine.
type EngineConfig struct {
	ModelID          string // names the model in block hashes; engines of one model must agree
	Pool             config.KVCachePool
	MaxQueue         int
	MaxBatchTokens   int
	PrefillChunk     int
	DefaultMaxTokens int
	Slowdown         float64 // fault knob, see sched.Config.Slowdown
}

// DefaultEngineConfig returns the defaults for a pool configuration.
func DefaultEngineConfig(modelID string, pool config.KVCachePool) EngineConfig {
	return EngineConfig{ModelID: modelID, Pool: pool, MaxQueue: 256, MaxBatchTokens: 512, PrefillChunk: 256, DefaultMaxTokens: 256}
}

// Engine is one model with its KV pool and scheduler.
type Engine struct {
	Model     *llama.Model
	Tokenizer *tokenizer.Tokenizer
	Pool      *kvpool.Pool
	Arena     *llama.KVArena
	Sched     *sched.Scheduler
	cfg       EngineConfig
	events    chan kvpool.Event
	dropped   prometheus.Counter
}

// eventBuffer bounds KV events waiting for the publisher.
const eventBuffer = 1 << 14

// NewEngine sizes the pool from the memory limit and builds the scheduler.
func NewEngine(m *llama.Model, tok *tokenizer.Tokenizer, cfg EngineConfig, reg prometheus.Registerer) (*Engine, error) {
	if m == nil || tok == nil {
		return nil, errors.New("engined: model and tokenizer are required")
	}
	mc := m.Config()
	if tok.VocabSize() > mc.Vocab {
		return nil, fmt.Errorf("engined: tokenizer has %d tokens but the model only %d", tok.VocabSize(), mc.Vocab)
	}
	pc := cfg.Pool
	bs := pc.BlockSize
	if bs == 0 {
		bs = kvpool.DefaultBlockSize
	}
	numBlocks, err := kvpool.BlocksForMemory(pc.MemoryLimitMB, bs, int64(m.BytesPerBlock(bs)/bs))
	if err != nil {
		return nil, fmt.Errorf("engined: %w", err)
	}
	maxTok := min(pc.MaxTokensPerSequence, mc.Context, numBlocks*bs)
	e := &Engine{Model: m, Tokenizer: tok, cfg: cfg, events: make(chan kvpool.Event, eventBuffer),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "krserve_engine_kv_events_dropped_total", Help: "KV block events dropped because the publisher fell behind (routers resynchronize)."})}
	if reg != nil {
		reg.MustRegister(e.dropped)
	}
	if e.Arena, err = m.NewKVArena(numBlocks, bs); err != nil {
		return nil, err
	}
	e.Pool, err = kvpool.New(kvpool.Config{NumBlocks: numBlocks, BlockSize: bs, MaxSequences: pc.MaxSequences,
		MaxTokensPerSequence: maxTok, ModelID: cfg.ModelID,
		Flags: kvpool.Flags{Enabled: pc.Enabled, PrefixMatching: pc.PrefixMatching, LRUEviction: pc.LRUEviction}},
		kvpool.Deps{CopyBlock: e.Arena.CopyBlock, Events: e.onEvent, Registerer: reg})
	if err != nil {
		return nil, fmt.Errorf("engined: %w", err)
	}
	running := min(pc.MaxSequences, 64)
	batch := max(cfg.MaxBatchTokens, running)
	eos := []int32{tok.EOS()}
	if strings.HasPrefix(m.Format(), "llama2c") {
		eos = append(eos, tok.BOS()) // llama2.c stories end with BOS
	}
	e.Sched, err = sched.New(sched.Config{MaxQueue: cfg.MaxQueue, MaxRunning: running, MaxBatchTokens: batch,
		PrefillChunk: cfg.PrefillChunk, ContextLen: maxTok, DefaultMaxTokens: cfg.DefaultMaxTokens,
		Vocab: mc.Vocab, EOS: eos, Slowdown: cfg.Slowdown},
		sched.Deps{Model: m, Pool: e.Pool, Arena: e.Arena, State: m.NewState(batch), Registerer: reg})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// onEvent runs with the pool lock held: hand off without blocking.
func (e *Engine) onEvent(ev kvpool.Event) {
	select {
	case e.events <- ev:
	default:
		e.dropped.Inc()
	}
}

// BlockSize is the pool's tokens per block.
func (e *Engine) BlockSize() int { return e.Pool.BlockSize() }

// Config returns the engine configuration.
func (e *Engine) Config() EngineConfig { return e.cfg }
