// Package spm is the SentencePiece-BPE tokenizer of Llama 1/2-style
// vocabularies: GGUF files with tokenizer.ggml.model "llama" and llama2.c
// tokenizer.bin files.
//
// Encoding follows llama.cpp's llm_tokenizer_spm: the text of a fragment
// gets the dummy prefix (one space, when the vocabulary's add_space_prefix
// is on), spaces become "▁", the text is cut into UTF-8 characters, and the
// adjacent pair whose concatenation is the best-scoring token (leftmost on
// ties) is merged until no pair is a token. Symbols that are not tokens fall
// back to <0xNN> byte tokens. Control and unknown tokens are never produced
// by merging. The merge loop is a priority queue over (score, position)
// keys with the pair tokens precomputed, so an encode costs O(n log n) for n
// characters; when the vocabulary allows it the text is first cut before
// each space that follows another character (no piece can span such a
// cut), and short segments are merged by a plain scan.
//
// Splitting special tokens (control, unknown and user-defined, with the
// strip rules llama.cpp applies) out of text happens in package tokenizer,
// which shares that code with byte-level BPE vocabularies; Specials lists
// them. Encode and EncodeFragment encode one stretch of ordinary text.
//
// Differences from llama.cpp, on inputs where they matter: invalid UTF-8 is
// cut into one-byte symbols (llama.cpp trusts the first byte of a sequence, so a stray
// byte there swallows the characters after it); in GGUF vocabularies a
// literal "▁" in the text is indistinguishable from a space (as in
// llama.cpp), while llama2.c files spell the space " " and treat "▁" as an
// ordinary character, as run.c does.
//
// A Model is immutable after loading and safe for concurrent use; per-call
// scratch space comes from a sync.Pool, so encodes do not allocate in steady
// state. Loaders copy what they need: a GGUF file may be closed afterwards.
// Malformed input returns an error wrapping ErrFormat or ErrUnsupported and
// never panics.
package spm
