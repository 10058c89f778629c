package tokenizer

import (
	"errors"
	"fmt"
	"runtime"
)

// ErrInvalidConfig means a ParallelConfig field is out of range; the message
// names the field. Fix the configuration.
var ErrInvalidConfig = errors.New("tokenizer: invalid parallel config")

// ParallelConfig holds the knobs of the parallel_tokenizer feature flag.
type ParallelConfig struct {
	// Enabled turns the parallel path on. When off every Pool method
	// encodes sequentially on the calling goroutine.
	Enabled bool `yaml:"enabled"`
	// NumThreads is the number of worker goroutines (0: GOMAXPROCS). The
	// goroutine calling EncodeBatch or EncodeLong works too, alongside up
	// to NumThreads-1 workers.
	NumThreads int `yaml:"num_threads"`
	// ThreadPoolSize bounds the tasks waiting for a worker (0: 4 ×
	// NumThreads). A full queue makes EncodeAsync fail with ErrQueueFull
	// and makes EncodeBatch run with fewer helpers; nothing ever blocks on it.
	ThreadPoolSize int `yaml:"thread_pool_size"`
	// BatchMode spreads the texts of one EncodeBatch over the workers; when
	// off EncodeBatch encodes them one after another on the caller.
	BatchMode bool `yaml:"batch_mode"`
	// FallbackOnError re-encodes with the sequential encoder whatever the
	// parallel path failed on (a worker error, a stopped pool) instead of
	// returning the error.
	FallbackOnError bool `yaml:"fallback_on_error"`
	// UseSIMD is accepted for configuration compatibility. The encoder is
	// pure Go and has no separate SIMD path, so it has no effect.
	UseSIMD bool `yaml:"use_simd"`
	// ChunkBytes is the chunk size EncodeLong aims at (0: 64 KiB).
	ChunkBytes int `yaml:"chunk_bytes"`
}

// DefaultParallelConfig is the parallel path on, one worker per CPU.
func DefaultParallelConfig() ParallelConfig {
	return ParallelConfig{Enabled: true, BatchMode: true, FallbackOnError: true}
}

// Limits of the configuration.
const (
	maxThreads    = 1024
	maxQueue      = 1 << 20
	minChunkBytes = 1 << 10
	maxChunkBytes = 64 << 20
)

// Validate reports the first field out of range, wrapping ErrInvalidConfig.
func (c ParallelConfig) Validate() error {
	switch {
	case c.NumThreads < 0 || c.NumThreads > maxThreads:
		return fmt.Errorf("%w: num_threads %d, want 0 (one per CPU) to %d", ErrInvalidConfig, c.NumThreads, maxThreads)
	case c.ThreadPoolSize < 0 || c.ThreadPoolSize > maxQueue:
		return fmt.Errorf("%w: thread_pool_size %d, want 0 (4 × num_threads) to %d", ErrInvalidConfig, c.ThreadPoolSize, maxQueue)
	case c.ChunkBytes != 0 && (c.ChunkBytes < minChunkBytes || c.ChunkBytes > maxChunkBytes):
		return fmt.Errorf("%w: chunk_bytes %d, want 0 (64 KiB) or %d to %d", ErrInvalidConfig, c.ChunkBytes, minChunkBytes, maxChunkBytes)
	}
	return nil
}

// resolved fills in the defaults of a valid config.
func (c ParallelConfig) resolved() ParallelConfig {
	if c.NumThreads == 0 {
		c.NumThreads = runtime.GOMAXPROCS(0)
	}
	if c.ThreadPoolSize == 0 {
		c.ThreadPoolSize = 4 * c.NumThreads
	}
	if c.ChunkBytes == 0 {
		c.ChunkBytes = 64 << 10
	}
	return c
}
