package llama

import "errors"

// Sentinel errors. Every error returned by this package wraps one of them
// (or an error of engined/gguf or engined/kernels) with a message naming the
// offending key, tensor or value; test them with errors.Is.
var (
	// ErrFormat means the model file is malformed: truncated, a bad
	// header, a missing tensor or one whose shape contradicts the
	// hyper-parameters. The file must be replaced; retrying cannot help.
	ErrFormat = errors.New("llama: invalid model file")
	// ErrUnsupported means a well-formed file uses an architecture, tensor
	// type or feature this package does not implement (for example arch
	// "qwen2" or Q6_K weights). Convert the model or pick another file.
	ErrUnsupported = errors.New("llama: unsupported model")
	// ErrConfig means hyper-parameters or options are impossible (zero
	// layers, heads that do not divide the width, threads < 1). Fix the
	// configuration.
	ErrConfig = errors.New("llama: invalid config")
	// ErrBatch means a Batch passed to Forward is inconsistent: lengths
	// differ, a token id is out of the vocabulary, a position is past the
	// context, a block table is too short or names a block outside the
	// arena, or the batch is larger than the State allows. The caller built
	// the batch wrongly; nothing was computed.
	ErrBatch = errors.New("llama: invalid batch")
)
