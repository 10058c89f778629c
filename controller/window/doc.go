// Package window keeps per-variant sliding windows of the metric
// observations the controller judges rollouts on: throughput (tokens per
// second), time to first token and inter-token latency as samples, and
// request and error counts.
//
// Each variant has one bounded ring buffer of (time, value) samples per
// metric, holding at most Config.MaxSamples (the oldest is overwritten), and
// a ring of count buckets Config.Resolution wide covering Config.Window.
// Snapshot returns copies of the samples observed in the last Config.Window
// (times t with now − Window < t ≤ now) and the counts of the
// Window/Resolution buckets ending with the one holding now — between
// Window − Resolution and Window of history, the current bucket being
// partial — with now taken from the injected Clock. Nothing is
// averaged: judges see the raw samples.
//
// Memory is bounded: at most Config.MaxVariants variants, MaxSamples samples
// per metric and Window/Resolution buckets each.
//
// # Concurrency
//
// A *Windows is safe for concurrent use: one mutex guards all variants (the
// operations are short copies). It starts no goroutines; expiry happens
// lazily when Snapshot reads. Snapshots share no memory with the Windows.
package window
