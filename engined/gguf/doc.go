// Package gguf reads and writes GGUF v2/v3 model files: the metadata
// key/value table, the tensor directory and the tensor bytes.
//
// Open maps the file read-only with mmap, so tensor data is paged in on
// demand and shared between processes that load the same model; Parse reads
// from a byte slice (tests, fuzzing). Metadata is decoded eagerly into Go
// values (strings are copied out of the mapping); tensor data is returned as
// sub-slices of the mapping and stays valid until Close.
//
// A File is immutable after Open and safe for concurrent readers. Close must
// not race with readers of tensor data.
//
// Writer builds a file from metadata and tensors and writes it in one pass;
// tensor bytes may be produced lazily so multi-gigabyte models need not sit in
// memory.
//
// Errors: every malformed input returns an error wrapping ErrFormat (the file
// is not valid GGUF or is truncated) or ErrUnsupported (a valid file this
// package cannot represent); decoding never panics.
package gguf
