// Package bpe is an exact byte-level BPE encoder for the GPT-2 family of
// vocabularies: OpenAI tiktoken (cl100k_base, o200k_base), Llama 3, Qwen2 and
// the GGUF "gpt2" tokenizers of llama.cpp (gpt-2, deepseek-llm,
// deepseek-coder, falcon, mpt, starcoder, refact, ...), plus loaders for
// those vocabularies (LoadTiktoken, LoadGGUF, LoadHFJSON).
//
// Encode handles ordinary text only: splitting out special and added tokens
// (Loaded.Specials), BOS/EOS and decoding to text belong to the caller
// (package tokenizerd/tokenizer), which uses TokenBytes.
//
// # Algorithm
//
// Text is first split into pieces by the pre-tokenizer regexes of each
// vocabulary (llama.cpp's regex_exprs for each tokenizer.ggml.pre, the
// tiktoken patterns for cl100k and o200k), implemented as hand-written
// scanners over UTF-8 with the semantics of the reference regex engines:
// Unicode White_Space for \s, the Unicode categories for \p{L}, \p{N},
// \p{Lu}..., (?!\S) look-ahead, leftmost-first alternation with
// backtracking, and, for the multi-regex pre-tokenizers, every regex applied
// in turn to each fragment of the previous one. ASCII takes a table path and
// the Basic Multilingual Plane a 128 KB class table built once per process;
// invalid UTF-8 bytes count as symbols of one byte, so every input round
// trips.
//
// A piece that is itself a token is settled by one hash lookup (tiktoken and
// Hugging Face ignore_merges semantics; for merge-table vocabularies a
// per-token memo records whether the token's own BPE is the token). Other
// pieces are merged: the lowest-ranked adjacent pair first, the leftmost on
// ties. Pieces of up to 64 bytes use a quadratic loop over a stack array;
// longer ones a linked list with a 4-ary heap (O(n log n)). Long pieces of
// tiktoken vocabularies are merged in overlapping 64-byte windows spliced
// where both windows agree (see window.go: exact because every token of
// cl100k and o200k encodes as itself, which a test checks), so 100 KB of one
// letter, random letters, Han characters or base64 take milliseconds.
// Token bytes are found in an open-addressing table with a cache-resident
// filter; merges of merge-table vocabularies in a table keyed by id pairs.
// Encode allocates nothing when dst has room (long pieces borrow pooled
// buffers).
//
// # Splitting one long text
//
// SafeSplit returns a cut position such that encoding the two parts
// separately and concatenating the ids equals encoding the whole. It picks a
// space with an ASCII letter on both sides. Every pre-tokenizer of this
// package (gpt2, mpt, default, llama3, cl100k, o200k, qwen2, deepseek-llm,
// deepseek-coder, falcon, starcoder, refact) ends a piece right after such a
// letter and starts one at the space (" word"), and none of their regexes
// looks further than the space from either side, so the cut is exact for all
// of them; BPE merges never cross pieces. Text without such a position
// (CJK without spaces, one long word) gives -1.
//
// # Concurrency
//
// A Model is immutable after construction and safe for concurrent use by
// any number of goroutines; the only shared mutable state is the per-token
// memo (atomic bit sets) and a sync.Pool of merge buffers. Loaded values are
// owned by the caller. Loaders start no goroutines.
package bpe
