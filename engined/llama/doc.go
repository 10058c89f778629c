// Package llama runs the Llama transformer (Llama 2/3, TinyLlama, SmolLM
// shapes) on CPU: loading, the batched forward pass over a paged KV arena,
// and a simple single-sequence Generate for offline use.
//
// # Loading
//
// Load reads GGUF files of architecture "llama" through mmap (weights stay in
// the mapping, in their file encoding: F32, F16, BF16, Q8_0, Q4_0, Q4_K) and
// llama2.c checkpoints: the legacy fp32 format (weights alias the file
// bytes) and the int8 "ak42" version 2 format (dequantized to F32 at load,
// each tensor in flat groups as llama2.c's export.py wrote them). Metadata
// read: embedding/feed-forward length, block count, head counts (grouped
// query attention), key length, context length, rope.freq_base,
// rope.scaling linear factor, rope.dimension_count (must equal the head
// size), layer_norm_rms_epsilon, and the output projection, tied to the token
// embedding when output.weight is absent. Both formats use llama.cpp's NORM
// rope (adjacent pairs): llama.cpp's converters store Q and K permuted for it.
// Malformed files give ErrFormat, unsupported ones ErrUnsupported; loading
// never panics (the llama2.c parser is fuzzed).
//
// # Forward pass
//
// Forward takes a Batch of tokens from any number of sequences. Every weight
// matrix is applied to all batch tokens in one kernels MatMul call, so the
// weights stream from memory once per step however many sequences run (this
// is what continuous batching relies on). Each token's key and value go to
// slot Pos%BlockSize of physical block Tables[Seq][Pos/BlockSize] of the
// KVArena; each token then attends over positions 0..Pos of its sequence
// through its block table. The arena knows nothing of sequences: block
// allocation, sharing and copy-on-write (CopyBlock) belong to the caller
// (engined/kvpool).
//
// # Concurrency and ownership
//
// A Model's weights are read-only. Its kernels Backend is single-caller, so
// Forward and Generate must be called from one goroutine at a time per
// Model (one engine worker loop owns the Model). A State (scratch memory
// sized by NewState, no allocation per Forward after warm-up) and a KVArena
// belong to the goroutine that calls Forward with them. Close releases the
// backend the model created and the file mapping; no call may be running.
package llama
