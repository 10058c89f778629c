package llama

import (
	"fmt"

	"github.com/krserve/krserve/engined/kernels"
)

// KVArena is the paged key/value memory of a model: for every layer, K and V
// arrays of NumBlocks blocks of BlockSize positions. Which block holds which
// positions of which sequence is decided by the caller through the block
// tables of a Batch; the arena itself has no notion of sequences. It is not
// safe for concurrent use: Forward and CopyBlock must not run at the same time.
type KVArena struct {
	Layers    []kernels.KVLayer
	NumBlocks int
	BlockSize int
}

// BytesPerBlock returns the memory one KV block of blockSize positions takes
// across all layers (K and V, float32).
func (m *Model) BytesPerBlock(blockSize int) int {
	return 2 * m.cfg.NLayers * blockSize * m.cfg.KVDim() * 4
}

// NewKVArena allocates numBlocks blocks of blockSize positions for every
// layer. It fails with ErrConfig for non-positive sizes or an arena above
// 64 GiB.
func (m *Model) NewKVArena(numBlocks, blockSize int) (*KVArena, error) {
	if numBlocks <= 0 || blockSize <= 0 || blockSize > 1<<16 {
		return nil, fmt.Errorf("%w: kv arena of %d blocks of %d positions", ErrConfig, numBlocks, blockSize)
	}
	if total := int64(numBlocks) * int64(m.BytesPerBlock(blockSize)); total > 64<<30 {
		return nil, fmt.Errorf("%w: kv arena of %d bytes is too large", ErrConfig, total)
	}
	kvd := m.cfg.KVDim()
	n := numBlocks * blockSize * kvd
	a := &KVArena{Layers: make([]kernels.KVLayer, m.cfg.NLayers), NumBlocks: numBlocks, BlockSize: blockSize}
	for i := range a.Layers {
		a.Layers[i] = kernels.KVLayer{K: make([]float32, n), V: make([]float32, n), BlockSize: blockSize, KVDim: kvd}
	}
	return a, nil
}

// CopyBlock copies block src to block dst in every layer (copy-on-write of a
// shared prefix block); its signature fits kvpool.Deps.CopyBlock. Block
// numbers come from the pool that sized the arena, so one out of range is a
// programming error and panics with ErrBatch.
func (kv *KVArena) CopyBlock(dst, src int32) {
	if dst < 0 || src < 0 || int(dst) >= kv.NumBlocks || int(src) >= kv.NumBlocks {
		panic(fmt.Errorf("%w: copy block %d to %d in an arena of %d blocks", ErrBatch, src, dst, kv.NumBlocks))
	}
	if dst == src {
		return
	}
	for _, l := range kv.Layers {
		n := kv.BlockSize * l.KVDim
		d, s := int(dst)*n, int(src)*n
		copy(l.K[d:d+n], l.K[s:s+n])
		copy(l.V[d:d+n], l.V[s:s+n])
	}
}
