// Package tokenizer is the one tokenizer type the rest of krserve uses. It
// loads a vocabulary by name or path (tiktoken "cl100k_base"/"o200k_base",
// GGUF, Hugging Face tokenizer.json, llama2.c tokenizer.bin), dispatches to
// package spm (SentencePiece BPE) or package bpe (byte-level BPE), and adds
// what both need: special tokens, BOS/EOS, decoding and streaming
// decoding, and a parallel pool.
//
// # Special tokens
//
// With SpecialAll every special-token text in the input is emitted as its
// id (tiktoken's allowed_special="all", llama.cpp's parse_special); with
// SpecialNone it is encoded as ordinary text. For GGUF vocabularies the
// special set is the control, unknown and user-defined tokens; user-defined
// tokens (and tokenizer.json added tokens with "special": false) are split
// out in both modes, as the reference tokenizers do. The split uses a byte
// trie behind a 256-entry first-byte table (strings.IndexByte when every
// special starts with one byte, as tiktoken's "<|" do): linear in the text.
//
// # Decoding
//
// Decode follows each vocabulary's reference (see Decode). StreamDecoder
// decodes one id at a time and only ever returns complete UTF-8, holding
// back the bytes of a character split across tokens.
//
// # Concurrency and ownership
//
// A Tokenizer is immutable and safe for concurrent use. A Pool owns
// NumThreads worker goroutines, started by Run (which blocks) and stopped by
// Close (which waits) or by Run's context; NewPool starts nothing. Work
// reaches the workers through one bounded queue (ThreadPoolSize) with
// non-blocking sends:
//
//   - EncodeAsync hands its text to the queue; from then on a worker owns
//     it and delivers exactly one Result on the returned channel (a task
//     still queued when the pool stops gets ErrClosed, or the sequential
//     result with FallbackOnError). A full queue gives ErrQueueFull at once;
//     work submitted before Run waits in the queue for it.
//   - EncodeBatch and EncodeLong keep their texts on the caller: the caller
//     and up to NumThreads-1 helper workers take items from a shared atomic
//     cursor, and the call returns once every helper that joined has left,
//     so no worker touches the caller's data afterwards. A helper that does
//     not fit in the queue is skipped and the caller does its share.
//
// When the parallel path fails (an error in a worker, a stopped pool) and
// FallbackOnError is on, the failed texts are encoded again by the
// sequential encoder on the caller; otherwise the error is returned.
// Metrics are registered with the Registerer given to NewPool.
package tokenizer
