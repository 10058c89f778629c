// Package control is the contract of the krserve_control JetStream KV
// bucket: the values the controller writes and the tokenizer routers and
// engine workers watch. Values are JSON, so operators can read them with
// `nats kv get krserve_control weights`.
//
// # Keys
//
//   - "weights" (Weights): the baseline variant and each canary variant's
//     share of traffic in percent. Routers split conversations by it.
//   - "flags" (FlagOverrides): per-variant overrides of the runtime feature
//     flags (kv_cache_pool, parallel_tokenizer) and the test-only fault
//     knob; engines and tokenizers apply them live.
//   - "rollout", "lease", "baseline_profile": the controller's own state
//     (package rollout and regress document them).
//
// A missing or deleted weights key means "all traffic to the baseline"
// (the zero Weights); a missing flags key means no overrides.
//
// # Concurrency and ownership
//
// The controller that holds the lease is the only regular writer of
// weights and flags; PutWeights and PutFlags overwrite, UpdateFlags is a
// revision-checked read-modify-write for writers that change one variant.
// Readers call WatchWeights/WatchFlags from a goroutine they own; the
// callback runs on that goroutine, one value at a time, in revision order.
// A value that does not decode or validate (hand-edited) is skipped and the
// previous value stays in force, so a typo cannot stop the routers.
package control
