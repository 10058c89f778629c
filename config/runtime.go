package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"

	"go.yaml.in/yaml/v3"
)

// ErrInvalid marks a configuration value that fails validation. Fix the
// named key; the process cannot start with it.
var ErrInvalid = errors.New("config: invalid")

// Runtime is the YAML runtime file: the feature flags and knobs of the CPU
// optimizations.
type Runtime struct {
	CPU CPUOptimizations `yaml:"cpu_optimizations"`
}

// CPUOptimizations groups the optimization feature flags.
type CPUOptimizations struct {
	ParallelTokenizer ParallelTokenizer `yaml:"parallel_tokenizer"`
	KVCachePool       KVCachePool       `yaml:"kv_cache_pool"`
}

// ParallelTokenizer configures tokenizer workers' parallel encoding.
type ParallelTokenizer struct {
	Enabled         bool `yaml:"enabled" doc:"encode batches on a worker pool; off = sequential encoding"`
	NumThreads      int  `yaml:"num_threads" doc:"encoding goroutines; 0 = one per CPU"`
	UseSIMD         bool `yaml:"use_simd" doc:"use the vectorized pre-tokenizer scan where the CPU has it"`
	BatchMode       bool `yaml:"batch_mode" doc:"micro-batch requests that arrive within the batch window"`
	ThreadPoolSize  int  `yaml:"thread_pool_size" doc:"bound of the encode queue (texts waiting for a thread); full = overloaded error"`
	FallbackOnError bool `yaml:"fallback_on_error" doc:"re-encode sequentially when the parallel path fails"`
	BatchWindowUs   int  `yaml:"batch_window_us" doc:"micro-batch window in microseconds; 0 = batch whatever arrived meanwhile without waiting (adds no latency)"`
	MaxBatch        int  `yaml:"max_batch" doc:"most requests in one micro-batch"`
}

// KVCachePool configures the engines' paged KV cache.
type KVCachePool struct {
	Enabled              bool `yaml:"enabled" doc:"share KV blocks across requests; off = every request prefills from scratch"`
	MaxSequences         int  `yaml:"max_sequences" doc:"sequences resident at once (running + preempted)"`
	MaxTokensPerSequence int  `yaml:"max_tokens_per_sequence" doc:"prompt + generated tokens of one sequence"`
	PrefixMatching       bool `yaml:"prefix_matching" doc:"reuse cached blocks of a matching prompt prefix"`
	LRUEviction          bool `yaml:"lru_eviction" doc:"evict least recently used unreferenced blocks when full; off = reject when full"`
	MemoryLimitMB        int  `yaml:"memory_limit_mb" doc:"memory for KV blocks, in MiB"`
	BlockSize            int  `yaml:"block_size" doc:"tokens per KV block (a power of two; tokenizers hash blocks of the same size)"`
}

// DefaultRuntime returns the defaults used when no file is given.
func DefaultRuntime() Runtime {
	return Runtime{CPU: CPUOptimizations{
		ParallelTokenizer: ParallelTokenizer{Enabled: true, NumThreads: 0, UseSIMD: true, BatchMode: true,
			ThreadPoolSize: 256, FallbackOnError: true, BatchWindowUs: 0, MaxBatch: 32},
		KVCachePool: KVCachePool{Enabled: true, MaxSequences: 64, MaxTokensPerSequence: 4096,
			PrefixMatching: true, LRUEviction: true, MemoryLimitMB: 256, BlockSize: 16},
	}}
}

// LoadRuntime reads and validates a runtime file. Keys the file omits keep
// their defaults; unknown keys are errors.
func LoadRuntime(path string) (Runtime, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Runtime{}, fmt.Errorf("config: runtime file: %w", err)
	}
	rt, err := ParseRuntime(b)
	if err != nil {
		return Runtime{}, fmt.Errorf("%s: %w", path, err)
	}
	return rt, nil
}

// ParseRuntime decodes and validates runtime YAML over the defaults.
func ParseRuntime(b []byte) (Runtime, error) {
	rt := DefaultRuntime()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&rt); err != nil && !errors.Is(err, io.EOF) {
		return Runtime{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := rt.Validate(); err != nil {
		return Runtime{}, err
	}
	return rt, nil
}

func bad(key string, value any, why string) error {
	return fmt.Errorf("%w: %s = %v: %s", ErrInvalid, key, value, why)
}

// Validate checks every knob and names the first bad key and value.
func (r *Runtime) Validate() error {
	const pt = "cpu_optimizations.parallel_tokenizer."
	p := r.CPU.ParallelTokenizer
	switch {
	case p.NumThreads < 0 || p.NumThreads > 1024:
		return bad(pt+"num_threads", p.NumThreads, "must be 0 (one per CPU) to 1024")
	case p.ThreadPoolSize < 1 || p.ThreadPoolSize > 1<<20:
		return bad(pt+"thread_pool_size", p.ThreadPoolSize, "must be 1 to 1048576")
	case p.BatchWindowUs < 0 || p.BatchWindowUs > 1_000_000:
		return bad(pt+"batch_window_us", p.BatchWindowUs, "must be 0 to 1000000")
	case p.MaxBatch < 1 || p.MaxBatch > 4096:
		return bad(pt+"max_batch", p.MaxBatch, "must be 1 to 4096")
	}
	const kv = "cpu_optimizations.kv_cache_pool."
	k := r.CPU.KVCachePool
	switch {
	case k.MaxSequences < 1 || k.MaxSequences > 1<<16:
		return bad(kv+"max_sequences", k.MaxSequences, "must be 1 to 65536")
	case k.MaxTokensPerSequence < 1 || k.MaxTokensPerSequence > 1<<20:
		return bad(kv+"max_tokens_per_sequence", k.MaxTokensPerSequence, "must be 1 to 1048576")
	case k.MemoryLimitMB < 1 || k.MemoryLimitMB > 1<<20:
		return bad(kv+"memory_limit_mb", k.MemoryLimitMB, "must be 1 to 1048576")
	case k.BlockSize < 1 || k.BlockSize > 1024 || k.BlockSize&(k.BlockSize-1) != 0:
		return bad(kv+"block_size", k.BlockSize, "must be a power of two from 1 to 1024")
	case k.PrefixMatching && !k.Enabled:
		return bad(kv+"prefix_matching", k.PrefixMatching, "needs kv_cache_pool.enabled")
	}
	return nil
}

// Threads resolves num_threads (0 = one per CPU).
func (p ParallelTokenizer) Threads() int {
	if p.NumThreads == 0 {
		return runtime.NumCPU()
	}
	return p.NumThreads
}
