// Package schemas is the versioned wire contract of krserve: every message
// that crosses NATS, as a Go type with its msgpack encoding.
//
// All messages are msgpack maps keyed by short snake_case field names, so any
// language with a msgpack library can produce and consume them (docs/wire.md
// describes every field; the JSON Schema files beside this package describe
// the same shapes for validators). Each message carries "v", the contract
// version (Version); a decoder accepts messages of its own major version.
//
// Compatibility rules: decoders ignore unknown fields (new optional fields
// may be added without a version bump); a missing or invalid required field
// makes Decode fail with an error wrapping ErrInvalid; renaming, retyping or
// removing a field needs a new version. Golden files under testdata/ pin the
// bytes of every message so an accidental format change fails a test.
//
// Concurrency: the types are plain values; Encode and Decode are safe for
// concurrent use.
package schemas
