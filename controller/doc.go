// Package controller is krserve's control plane process: it watches the
// metric events of every engine worker, runs canary rollouts judged
// statistically against the baseline, and runs the regression detector.
//
// Subpackages do the parts: stats (tests), window (per-variant sliding
// windows), judge (verdicts), rollout (state machine and lease), regress
// (baseline profiles), control (the KV contract shared with routers and
// workers), alert (alert events), clock (injected time).
//
// # Data flow
//
// Run subscribes to <prefix>.v1.metrics.> and decodes each message as a
// schemas.MetricEvent. The subject's variant and worker must match the
// event's (one publisher per key); per publisher the sequence number is
// checked: a repeated or older number is a duplicate and dropped, a jump is
// counted as a gap, 0 or 1 after a higher number is a restarted publisher.
// Malformed messages are counted and dropped. Samples go into the windows
// (TTFTMs and ITLMs converted to seconds, TokensPerSec as throughput,
// Requests/Errors as counts), stamped with the injected clock.
//
// Every Config.TickEvery (or on each value of Deps.Ticks) Run calls Tick:
// take or renew the lease (package rollout documents the protocol) and,
// only while holding it, advance the rollout, store the baseline profile a
// promotion asked for, and run the regression detector, which can roll
// back on its own (ending an active rollout with reason "regression").
//
// Operators talk to the micro service "krserve-controller" (endpoints
// rollout-start, -status, -promote, -abort, -pause, -resume on
// <prefix>.v1.control.rollout.<verb>, JSON bodies, errors with the
// Nats-Service-Error headers; Client wraps them). Commands work through any
// controller: they are revision-checked transitions of the stored state.
//
// # Concurrency and ownership
//
// The rollout state, weights, flags, lease and profiles live in the control
// bucket; the controller keeps only caches. The windows and the event
// counters are written by the NATS subscription goroutine and read by Tick
// and Status (mutex-guarded). Tick runs under tickMu, which owns the Leaser
// and the Detector; Run's final lease release takes it too. Command
// handlers run on micro service goroutines and only touch the KV through
// the rollout Machine, which is safe for concurrent use. New starts no
// goroutines and does no I/O; Run blocks until ctx is done, then stops the
// service, unsubscribes and releases the lease before returning.
//
// # Time
//
// All logic reads Deps.Clock. With a clock.Manual and a Deps.Ticks channel
// that never fires, a test (or an end-to-end harness) publishes events,
// advances the clock and calls Tick itself.
package controller
