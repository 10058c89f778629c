// Package sample turns logits into token ids and decides when generation
// stops.
//
// Sampler implements greedy decoding, temperature, top-k, top-p (nucleus),
// min-p and a repetition penalty over a window of recent tokens, with its
// own xorshift64* generator so that a seed gives the same tokens on every run
// and platform. Scratch buffers are sized for the vocabulary at New, so
// Sample does not allocate. Params.Validate returns typed errors (ErrTopP,
// ErrTemperature, …) for request validation.
//
// Stopper applies stop ids, stop strings and max tokens to the generated
// stream. Stop strings are matched on decoded text across token boundaries;
// text that could begin a stop string is held back until the next pieces
// decide it, so a client never sees part of a stop string.
//
// Concurrency: a Sampler and a Stopper each serve one sequence and are used
// by one goroutine at a time; Params and StopConfig are plain values.
package sample
