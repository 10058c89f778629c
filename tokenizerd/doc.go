// Package tokenizerd is the tokenizer worker: the front door of the
// pipeline. It consumes krserve.v1.generate in the queue group "tokenizer",
// micro-batches requests that arrive within a short window, encodes them in
// parallel (chat messages through the model's chat template), validates
// them, computes their KV block hashes exactly as the engines do, chooses a
// variant and an engine worker, and forwards an EngineRequest. It also
// serves krserve.v1.tokenize and krserve.v1.detokenize.
//
// Request ownership: the generate handler (NATS subscription goroutine)
// decodes and validates, then hands the request to the batcher through a
// bounded channel — a full channel is an immediate "overloaded" error on the
// request's stream, never an unbounded backlog. The batcher goroutine owns a
// batch until it is encoded; each request is then forwarded by a goroutine
// bounded by a semaphore, which waits for the engine's admission
// acknowledgement. From a successful acknowledgement on, the engine owns the
// request and streams to the producer directly. Every failure before that
// (bad request, no worker, engine overloaded twice) is sent to the
// producer's stream as a typed error, so a request is never dropped
// silently.
//
// Routing state (heartbeats, KV events, canary weights) lives in a
// route.Router fed by subscriptions this worker owns. Run starts every
// goroutine and waits for all of them before returning.
package tokenizerd
