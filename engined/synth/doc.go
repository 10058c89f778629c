// Package synth writes random-weight Llama models in GGUF for benchmarks
// and for the default model of `make run`.
//
// A model has a real shape (Preset: stories260k, 110m, tinyllama-1.1b,
// default) and a real vocabulary: the tokenizer.* metadata of a GGUF
// vocabulary file (such as ggml-vocab-llama-spm.gguf) is copied verbatim,
// and its token count sets the embedding rows, so llama.cpp and
// tokenizerd load the file like any other. Weights are N(0, 0.02) (residual
// projections scaled by 1/sqrt(2·layers)) from a seeded PCG stream per
// tensor, so a seed gives byte-identical files; norms are ones. The text
// such a model writes is meaningless: it exists to measure speed and to
// exercise every code path.
//
// The "default" preset (dim 256, 4 layers, 8 heads, 4 KV heads, ffn 768,
// context 2048, tied output; Q8_0, about 12 MB with the 32000-token Llama
// vocabulary) is what EnsureDefault synthesizes into a cache directory on
// first use.
//
// Write streams: tensors are generated one row at a time while the file is
// written, so a 4 GB model never sits in memory. WriteFile and EnsureDefault
// write a temporary file and rename it, so readers never see a partial
// model. Functions hold no shared state and are safe to call concurrently.
package synth
