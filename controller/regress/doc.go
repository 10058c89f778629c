// Package regress is the regression detector: after a promotion it stores a
// baseline profile of the variant's behaviour, and from then on compares
// the live windows with it, raising WARNING and CRITICAL alerts and, on a
// confirmed CRITICAL, rolling back on its own.
//
// # Profiles
//
// A Profile (the "baseline_profile" key of the control bucket, JSON, one
// entry per variant) holds per metric the sample count, mean, standard
// deviation, median, p99, the number of samples above the p99, and up to
// Config.Points evenly spaced quantiles of the samples (all samples when
// there are fewer), plus the request and error counts. The quantile points
// stand in for the samples in the rank and t tests: the tests then see at
// most Points values, which understates the evidence and never overstates
// it.
//
// # Checks
//
// Each check compares the data observed since the previous check with the
// profile, metric by metric (thresholds configurable):
//
//   - throughput drop beyond 5 %: Welch's t-test, one-sided, on the means;
//   - TTFT and inter-token latency increase beyond 10 %: Mann–Whitney U,
//     one-sided, with the effect measured on the medians;
//   - p99 of TTFT and inter-token latency beyond +15 %: Fisher's exact test
//     of the share of live samples above the profile's p99 against the
//     profile's own 1 %;
//   - error rate more than 1 point above the profile's: Fisher's exact test.
//
// A metric with too few samples on either side is skipped (reported, never
// alerted on). A change beyond its threshold is CRITICAL when the test
// rejects at Config.Alpha and WARNING when it does not; a significant change
// beyond Config.WarnFraction of the threshold is a WARNING.
//
// # Automatic rollback
//
// Config.CriticalStreak consecutive CRITICAL checks of a variant roll it
// back: the weights go to 100 % baseline (every canary off), the features
// the variant's flag overrides enable are switched off through the control
// bucket (control.VariantFlags.Disabled), its profile is dropped (it
// described a configuration that no longer runs), a critical alert is
// published, and Deps.OnRollback is called so the controller can end an
// active rollout with reason "regression".
//
// # Concurrency
//
// A Detector is not safe for concurrent use: it belongs to the controller
// loop that ticks it (Status readers get copies through Reports). Compare
// and Capture are pure functions.
package regress
