// Package kvpool manages the paged KV cache of an engine: which physical
// block of the engine's KV arena holds each position of each sequence, and
// which computed blocks can be reused by later requests. It manages block
// ids and metadata only; the engine owns the tensor memory (per layer, K and
// V each [NumBlocks][BlockSize][KVDim]) and copies block contents when the
// pool asks it to (Deps.CopyBlock).
//
// # Blocks and sequences
//
// The pool holds Config.NumBlocks blocks of Config.BlockSize positions (see
// BlocksForMemory for deriving the count from memory_limit_mb exactly). Each
// block is free, used (referenced by at least one live sequence; the
// reference count is the number of sequence tables holding it) or cached
// (unreferenced but kept in the prefix index for reuse, evictable).
// free + used + cached == NumBlocks at all times.
//
// A request's life: Acquire (reserve blocks for the prompt, reusing cached
// ones), the engine prefills positions [CachedTokens, Len) — in chunks if it
// likes — calling Commit after each forward pass; for each generated token
// AppendTokens then, after the step, Commit; finally Release (finish, cancel,
// preempt). Pool.Release(seqID) does the same by id for the cancellation path.
// Fork shares every block of a computed sequence with a new one (parallel
// samples from one prefill).
//
// # Hashes and what is shareable
//
// Only full, computed (committed) blocks are shareable. A block's key is the
// chained hash
//
//	h_{-1} = NewSeed(modelID, salt)          (XXH64 of a length-prefixed encoding)
//	h_i    = XXH64(LE32(tokens[i*B:(i+1)*B]), seed = h_{i-1})
//
// so a block matches only when the model, the salt and every token id from
// position 0 to the end of the block are equal: one conversation's KV can never
// be handed to a different prompt (the old fingerprint of conversation id +
// prompt[:200] could). ChainHashes and AppendChainHashes are pure and
// deterministic across processes: tokenizer workers and routers compute the
// same hashes (testdata/chain_hashes.golden pins them). The pool also stores
// each indexed block's token ids and compares them on every hit, so a 64-bit
// collision costs a cache miss, never wrong KV.
//
// The prompt's last token is always recomputed (its logits are needed), so
// CachedTokens < len(prompt). When that token lies inside a cached block the
// pool copies the block into a private one (copy-on-write) and the engine
// recomputes one position; after Commit the sequence switches back to the
// identical cached block and the copy is freed (the same dedup merges two
// requests that computed one prefix concurrently). The engine must therefore
// re-read Table after AppendTokens and Commit. A partial block shared by Fork
// is copied by the first sequence that appends into it. Writers only ever
// write blocks they alone reference.
//
// # Eviction
//
// Unreferenced indexed blocks sit in an LRU list. Release appends a
// sequence's blocks deepest first, so within a chain the tail is evicted
// before its prefix and a parent is always more recent than its cached
// children; eviction takes the least recently used block with no indexed
// children (always the list head under that invariant). When no block is
// free or evictable, allocation fails with ErrPoolExhausted and nothing
// changes: the scheduler preempts.
//
// # Conversations
//
// A request with a ConversationID records, at Release, the chain of indexed
// blocks it leaves. Acquire of the next turn — and Touch, for a turn waiting
// in a queue — moves that chain to the most recently used end (still deepest
// first), so an active conversation's history is evicted last. Records are
// bounded by Config.MaxConversations (least recently used forgotten first).
//
// # Flags
//
// Enabled=false makes the pool a plain block allocator (no index, no reuse,
// no events). PrefixMatching=false restricts reuse to a conversation's own
// recorded chain. LRUEviction=false drops blocks from the index as soon as
// no live sequence references them (live sequences still share). SetFlags
// changes them at run time; switching caching off drops the cached blocks.
//
// # Events
//
// Deps.Events receives BlockStored when a block enters the index and
// BlockRemoved when it leaves, numbered by Event.Seq without gaps, with the
// parent hash, in an order where a parent is stored before and removed after
// its children. Routers consume them to know which worker holds which prefix.
//
// # Concurrency and ownership
//
// One mutex guards the whole pool; every method of Pool and Sequence is safe
// for concurrent use and holds it only for bookkeeping (hashing a prompt is
// done before taking it). Deps.CopyBlock and Deps.Events run with the lock
// held, so they must be synchronous, quick and must not call back into the
// pool. The pool owns block metadata; a Sequence is owned by the scheduler
// that acquired it, which alone should append, commit and release it (a
// concurrent Release from a cancellation path is safe: later calls return
// ErrSequenceReleased). A block id in a Table stays valid for the sequence
// until Release; after Release the engine must not touch those blocks. The
// constructor starts no goroutines.
package kvpool
