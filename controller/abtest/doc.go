// Package abtest compares two engine configurations on the same workload
// and recommends whether to deploy the candidate: `krserve abtest`.
//
// # Workload
//
// Run drives multi-turn chats, the traffic the KV pool is built for. Each
// conversation has Turns turns; turn t's prompt is the whole history so far
// plus a new user message, so a pool that keeps the history's KV blocks
// answers later turns from its cache. Every conversation is sent to both
// variants, interleaved: turn t goes to the baseline and to the candidate
// one after the other, the order alternating by conversation and turn so
// neither variant always runs first (on a warmer or a colder machine). The
// prompts are identical by construction: the assistant messages in the
// history are the baseline's replies (the candidate's when the baseline's
// request failed), so both variants see the same token sequences in the
// same order. Concurrency conversations run at once; samples counts requests
// per variant.
//
// Routing is by construction, not by hash: the caller gives Run one Sender
// per variant. `krserve abtest` starts one pipeline per variant — its own
// tokenizer worker and engine worker, each under that variant's runtime
// file — on one embedded NATS server under two subject prefixes, so each
// configuration governs its tokenizer too (parallel_tokenizer) and nothing
// can route a request to the wrong variant; the final message's variant is
// checked anyway.
//
// # Metrics and tests
//
// Per request the final message's server timings give time to first token
// (ttft_ms) and total latency (total_ms), and decode throughput
// (tokens_per_s = (generated − 1)/(total − ttft), as the engines report it;
// requests of fewer than two tokens have none). Failed requests make the
// error rate (error_rate). For each metric Analyze reports the mean of each
// variant with its 95 % t confidence interval (Wilson's interval for the
// error rate), the candidate − baseline difference with Welch's interval,
// the improvement in percent of the baseline mean (positive = better; for
// the error rate in percentage points), and a two-sided p-value:
// Mann–Whitney U for the latencies (robust to their long tails), Welch's
// t-test for throughput, Fisher's exact test for the error rate.
//
// # Decision rule
//
// A metric is significant when p < Criteria.Alpha. Its verdict is
//
//   - insufficient: fewer than Criteria.MinSamples values in a variant;
//   - improved: significant, better, by at least Criteria.MinImprovement
//     (relative; absolute for the error rate);
//   - regressed: significant, worse, by more than the metric's tolerance
//     (MaxTTFTIncrease, MaxLatencyIncrease, MaxThroughputDrop relative;
//     MaxErrorRateIncrease absolute: the rollout judge's criteria);
//   - worse_within_tolerance: significant and worse, but within it;
//   - no_difference: anything else (not significant, or significant but
//     smaller than MinImprovement).
//
// The recommendation is REJECT if any metric regressed; else INCONCLUSIVE
// if any primary metric (ttft_ms, total_ms, tokens_per_s) is insufficient;
// else DEPLOY if at least one primary metric improved; else INCONCLUSIVE.
// The error rate guards (it can reject, never deploy). Each metric is tested
// at level α with no multiplicity correction; MinImprovement keeps tiny,
// merely significant differences of identical configurations from reading
// as a reason to deploy.
//
// # Concurrency
//
// Analyze is a pure function. Run owns its conversation goroutines and
// returns only after all of them have; Senders are called concurrently
// (up to Concurrency calls at once) and must be safe for that. Progress is
// called from those goroutines, one call at a time.
package abtest
