// Package gateway is krserve's OpenAI-compatible HTTP API. It translates
// POST /v1/chat/completions, POST /v1/completions (each with and without
// server-sent-event streaming) and GET /v1/models into NATS generate
// requests through the Go producer client (bus/client), so any OpenAI
// client library can talk to a krserve deployment.
//
// # Translation
//
// The OpenAI fields temperature, top_p, max_tokens / max_completion_tokens,
// stop (a string or an array), seed and user map onto the GenerateRequest;
// krserve-specific knobs travel as extra JSON fields (conversation_id,
// top_k, min_p, repetition_penalty, priority, cache_salt). Usage reports
// prompt_tokens_details.cached_tokens from the pipeline's final message.
// Errors use OpenAI's shape {"error":{"message","type","param","code"}}
// with the HTTP status derived from the wire code (see errors.go).
//
// # Concurrency and ownership
//
// A Gateway is safe for concurrent use; each HTTP request is served on the
// net/http goroutine that received it. Admission is a semaphore of
// Config.MaxInflight slots taken without blocking: a request beyond the
// bound is answered 429 at once. The request's goroutine owns its token
// stream from Generate to Close. When the HTTP client goes away the
// request context ends; the stream is closed and a cancel is published, so
// the engine frees the sequence's KV blocks at once.
//
// New starts nothing. Run (or Serve) blocks serving HTTP until its context
// ends, then shuts down gracefully: it stops accepting, lets in-flight
// requests finish for Config.ShutdownTimeout, then closes the remaining
// connections, which cancels their generations.
package gateway
