package kvpool

import "fmt"

// EventKind says what happened to a block in the prefix index.
type EventKind uint8

const (
	// BlockStored: a full block became reusable under Hash.
	BlockStored EventKind = iota + 1
	// BlockRemoved: the block under Hash left the index (evicted, or dropped
	// because caching was switched off); the pool no longer holds it.
	BlockRemoved
)

// String returns "stored" or "removed".
func (k EventKind) String() string {
	switch k {
	case BlockStored:
		return "stored"
	case BlockRemoved:
		return "removed"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event reports a change of the prefix index. Routers rebuild a worker's
// cached-block set from these: a worker holds Hash between its Stored and
// Removed events. Parent is the hash of the previous block of the chain, or
// Seed.Root() for the first block (Depth 0). A Removed block never has
// indexed descendants: children are removed before their parents.
type Event struct {
	// Seq numbers the pool's events from 1 without gaps, so a consumer can
	// detect lost events and resynchronize.
	Seq    uint64
	Kind   EventKind
	Hash   BlockHash
	Parent BlockHash
	// Depth is the block's position in its chain (0 = the first block).
	Depth int32
	// Block is the physical block id (diagnostics only).
	Block int32
}
