// Package sched is the engine's continuous-batching scheduler. It admits
// requests from a bounded queue into a paged KV pool and, on every step,
// runs one batched forward pass over every running sequence: one decode token
// for each sequence that is generating, plus prefill chunks of prompts that
// are still being read, under a per-step token budget.
//
// Lifecycle of a request:
//
//  1. Submit puts it in the bounded admission queue, or fails at once with
//     ErrQueueFull (never blocks, never grows without bound).
//  2. The loop admits waiting requests by priority, then arrival order, when
//     a sequence slot and KV blocks are free. Acquire reuses any cached
//     prefix, so prefill starts at the first uncached token.
//  3. Each step feeds prompt chunks and decode tokens to the model, commits
//     the computed positions to the pool (registering full blocks for
//     reuse), samples the next token of every sequence whose last position was
//     computed, and streams it to the request's Sink.
//  4. A finished, failed, cancelled or expired request releases its blocks at
//     once; they stay cached for later requests with the same prefix.
//
// When the pool runs out of blocks mid-generation the newest running sequence
// is preempted: its blocks are released and it returns to the front of the
// queue with everything it generated so far, to be recomputed (mostly from
// cache) when space frees up. Nothing fails for lack of memory unless a
// single request cannot fit the pool at all.
//
// Concurrency and ownership: Run owns all scheduling state and the model; it
// is the only goroutine that calls the model, the pool's sequence methods and
// the Sinks. Submit, Cancel and Load are safe from any goroutine; they talk
// to Run through channels and atomics. A request belongs to the scheduler
// from a successful Submit until its Sink receives Final or Fail, exactly
// once.
package sched
