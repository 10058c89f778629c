// Package stack assembles krserve roles in one process: tokenizer workers
// and engine workers (any number, any variants) over one NATS deployment.
// `krserve up` and the end-to-end tests and benchmarks use it.
//
// Ownership: Start builds every component and starts its Run goroutine;
// Stop cancels them and waits for all to return (engines drain first). Each
// engine owns its own model instance (weights are mmap-shared) and backend,
// since a backend serves one goroutine at a time.
package stack
