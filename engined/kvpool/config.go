package kvpool

import (
	"fmt"
	"math"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultBlockSize is the number of token positions per block when a
// configuration does not choose one (16, as vLLM and SGLang use).
const DefaultBlockSize = 16

// MaxBlockSize bounds Config.BlockSize.
const MaxBlockSize = 1024

// Flags are the runtime switches of the kv_cache_pool feature. They can be
// changed on a live pool with Pool.SetFlags.
type Flags struct {
	// Enabled turns caching on. When false the pool is a plain block
	// allocator: no hashing index, no reuse, no events, no conversations.
	Enabled bool `yaml:"enabled"`
	// PrefixMatching lets any request reuse the cached blocks of its longest
	// matching prefix. When false only a request carrying a conversation id
	// reuses blocks, and only the chain that conversation itself left cached.
	PrefixMatching bool `yaml:"prefix_matching"`
	// LRUEviction keeps unreferenced full blocks cached after their sequences
	// end and evicts them least recently used first when space is needed.
	// When false a block leaves the cache as soon as no live sequence
	// references it (sharing still works between concurrent sequences).
	LRUEviction bool `yaml:"lru_eviction"`
}

// AllFlags returns Flags with every feature on.
func AllFlags() Flags { return Flags{Enabled: true, PrefixMatching: true, LRUEviction: true} }

// Config holds the required settings of a Pool. Validate checks it.
type Config struct {
	// NumBlocks is the number of physical blocks in the engine's KV arena
	// (see BlocksForMemory to derive it from memory_limit_mb).
	NumBlocks int
	// BlockSize is the number of token positions per block.
	BlockSize int
	// MaxSequences bounds the number of live sequences (Acquire and Fork).
	MaxSequences int
	// MaxTokensPerSequence bounds prompt plus generated tokens of a sequence.
	// It must fit in the pool: MaxTokensPerSequence <= NumBlocks*BlockSize.
	MaxTokensPerSequence int
	// MaxConversations bounds how many conversation records the pool keeps
	// (least recently used records are forgotten first; their blocks stay
	// cached). Zero means NumBlocks.
	MaxConversations int
	// ModelID seeds every hash chain so that two models never share blocks.
	ModelID string
	// Flags are the initial runtime switches.
	Flags
}

// Validate reports the first invalid field, wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case c.NumBlocks < 1 || c.NumBlocks > math.MaxInt32:
		return fmt.Errorf("%w: NumBlocks %d must be in [1, %d]", ErrInvalidConfig, c.NumBlocks, math.MaxInt32)
	case c.BlockSize < 1 || c.BlockSize > MaxBlockSize:
		return fmt.Errorf("%w: BlockSize %d must be in [1, %d]", ErrInvalidConfig, c.BlockSize, MaxBlockSize)
	case c.MaxSequences < 1:
		return fmt.Errorf("%w: MaxSequences %d must be at least 1", ErrInvalidConfig, c.MaxSequences)
	case c.MaxTokensPerSequence < 1:
		return fmt.Errorf("%w: MaxTokensPerSequence %d must be at least 1", ErrInvalidConfig, c.MaxTokensPerSequence)
	case int64(c.MaxTokensPerSequence) > int64(c.NumBlocks)*int64(c.BlockSize):
		return fmt.Errorf("%w: MaxTokensPerSequence %d exceeds the pool's %d blocks x %d tokens",
			ErrInvalidConfig, c.MaxTokensPerSequence, c.NumBlocks, c.BlockSize)
	case c.MaxConversations < 0:
		return fmt.Errorf("%w: MaxConversations %d must not be negative", ErrInvalidConfig, c.MaxConversations)
	}
	return nil
}

// BytesPerToken returns the KV bytes one token position occupies: K and V,
// each kvDim elements of bytesPerElem bytes, in each of layers layers.
func BytesPerToken(layers, kvDim, bytesPerElem int) int64 {
	return 2 * int64(layers) * int64(kvDim) * int64(bytesPerElem)
}

// BlocksForMemory returns the largest number of blocks of blockSize
// positions whose KV (bytesPerToken per position) fits in memoryLimitMB
// mebibytes: blocks*blockSize*bytesPerToken <= memoryLimitMB<<20 and one more
// block would not fit. It fails when not even one block fits.
func BlocksForMemory(memoryLimitMB, blockSize int, bytesPerToken int64) (int, error) {
	if memoryLimitMB < 1 || blockSize < 1 || bytesPerToken < 1 {
		return 0, fmt.Errorf("%w: memory limit %d MiB, block size %d, %d bytes per token must all be positive",
			ErrInvalidConfig, memoryLimitMB, blockSize, bytesPerToken)
	}
	perBlock := int64(blockSize) * bytesPerToken
	if perBlock/int64(blockSize) != bytesPerToken {
		return 0, fmt.Errorf("%w: block of %d tokens x %d bytes overflows", ErrInvalidConfig, blockSize, bytesPerToken)
	}
	n := (int64(memoryLimitMB) << 20) / perBlock
	if n < 1 {
		return 0, fmt.Errorf("%w: one block needs %d bytes, more than memory_limit_mb %d",
			ErrInvalidConfig, perBlock, memoryLimitMB)
	}
	if n > math.MaxInt32 {
		n = math.MaxInt32
	}
	return int(n), nil
}

// ConfigFromMemory returns a valid Config whose arena fits memoryLimitMB:
// NumBlocks from BlocksForMemory, every flag on, and the sequence limits at
// their widest (MaxSequences = NumBlocks, MaxTokensPerSequence = the whole
// pool); callers tighten them from max_sequences and max_tokens_per_sequence.
func ConfigFromMemory(memoryLimitMB, blockSize int, bytesPerToken int64) (Config, error) {
	n, err := BlocksForMemory(memoryLimitMB, blockSize, bytesPerToken)
	if err != nil {
		return Config{}, err
	}
	c := Config{
		NumBlocks:            n,
		BlockSize:            blockSize,
		MaxSequences:         n,
		MaxTokensPerSequence: int(min(int64(n)*int64(blockSize), math.MaxInt32)),
		Flags:                AllFlags(),
	}
	return c, c.Validate()
}

// Deps are the pool's collaborators. Every field may be nil.
type Deps struct {
	// CopyBlock copies the KV contents of physical block src into dst (every
	// layer, K and V, all BlockSize positions). The pool calls it with its
	// lock held, so it must be synchronous and must not call the pool; src is
	// never written while shared. Nil disables copy-on-write: a prompt that
	// ends exactly on a cached block recomputes that block, and Fork of a
	// sequence ending in a partial block fails with ErrNoCopy.
	CopyBlock func(dst, src int32)
	// Events receives block stored/removed events in order, with the lock
	// held: it must be quick and must not call the pool (hand the event to a
	// buffered publisher).
	Events func(Event)
	// Registerer registers the pool's metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
}
