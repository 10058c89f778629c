// Package hardening holds the production-hardening suite of krserve: bad
// input and overload against a running pipeline, rolling restarts and
// crashes of real worker processes, a three-node NATS cluster, and the soak
// run behind `krserve bench soak` and `make soak`.
//
// The tests start real parts only: in-process nats-servers on loopback
// ports, the in-process stack (internal/stack) on the shared stories260K
// model, and the krserve binary built once per test run for the process
// tests. Waits poll with deadlines; nothing sleeps for a fixed time.
//
// Soak (soak.go) is the one piece of library code: it drives a steady mixed
// load (single prompts, multi-turn chats and, when configured, batch jobs)
// against a Stack the caller started and samples resident memory,
// goroutines, KV blocks in use and latency over time. Soak owns the load
// goroutines it starts and waits for all of them before it returns; the
// caller owns the stack.
package hardening
