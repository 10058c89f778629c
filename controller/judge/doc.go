// Package judge decides whether a canary is worse than its baseline, from
// two window.Snapshots and a Criteria, with a statistical test per metric.
//
// # Decision rule
//
// For each metric in Criteria.Metrics a Result is formed:
//
//   - Inconclusive when either variant has fewer than Criteria.MinSamples
//     samples (Criteria.MinRequests finished requests for the error rate).
//     Too little data is never a pass and never a failure.
//   - Pass when the effect is not beyond the threshold in the bad direction.
//     For the sampled metrics the effect is the relative change of the
//     canary's centre, (canary − baseline)/baseline, with centre the mean
//     (Welch) or the median (Mann–Whitney); bad is a drop of more than
//     MaxThroughputDrop for throughput and an increase of more than
//     MaxTTFTIncrease / MaxITLIncrease for the latencies. For the error rate
//     the effect is canary rate − baseline rate (absolute), bad beyond
//     MaxErrorRateIncrease.
//   - Fail when the effect is beyond the threshold and a one-sided test of
//     "no difference" against "canary worse" rejects at Criteria.Alpha:
//     H₁ is canary mean/distribution greater than the baseline's for the
//     latencies and the error rate, less for throughput. Both conditions are
//     needed: a significant but small change passes, a large but not
//     significant one is Inconclusive. (Two constant samples that differ
//     beyond the threshold fail with P = 0: the difference is certain.)
//
// This is the Kayenta rule (significance plus a tolerated effect size). The
// level α applies to each metric; the effect threshold makes a false failure
// on identical variants much rarer than α once samples are plentiful, and
// Streak demands consecutive failures before a rollback.
//
// The verdict is Fail if any metric fails, else Inconclusive if any metric
// is inconclusive, else Pass.
//
// # Judges
//
// Judges register by name (Register, New, Names); every registered judge
// passes the same conformance suite. Built in:
//
//   - "welch": Welch's t-test on the means of every sampled metric, pooled
//     two-proportion z test on the error rate (Fisher's exact test instead
//     when an expected cell count is below 5; Result.Test says which ran).
//   - "mannwhitney": Mann–Whitney U on every sampled metric, effects on
//     medians; z test on the error rate.
//   - "kayenta": Mann–Whitney U on the latencies (medians), Welch on
//     throughput (means), Fisher's exact test on the error rate.
//
// # Concurrency
//
// The registry is safe for concurrent use. The built-in judges are
// stateless values, safe for concurrent use. A Streak belongs to one rollout
// loop and is not safe for concurrent use.
package judge
