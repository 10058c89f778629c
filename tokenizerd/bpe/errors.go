package bpe

import "errors"

// Sentinel errors. Loaders wrap them with %w and a description of the
// offending input; compare with errors.Is.
var (
	// ErrFormat means the vocabulary data is corrupt or inconsistent (bad
	// JSON, missing or mistyped keys, bad base64, merges naming unknown
	// tokens). Re-export or re-download the file; retrying will not help.
	ErrFormat = errors.New("bpe: malformed vocabulary")

	// ErrUnsupported means the data is well formed but describes a tokenizer
	// this package does not implement (another model type, pre-tokenizer,
	// normalizer or BPE option). Use the loader for that kind of tokenizer,
	// or add support here.
	ErrUnsupported = errors.New("bpe: unsupported tokenizer")

	// ErrUnknownVocab means LoadTiktoken was given a name it does not embed.
	// Use one of TiktokenNames.
	ErrUnknownVocab = errors.New("bpe: unknown tiktoken vocabulary")
)
