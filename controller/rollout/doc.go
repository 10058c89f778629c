// Package rollout is the canary state machine: it moves a canary variant
// through traffic stages (10, 25, 50, 100 % by default), judges every
// analysis interval statistically against the baseline, and promotes the
// canary or rolls it back.
//
// # States
//
//	idle ──start──▶ progressing ◀──resume── paused
//	                    │  └──────pause───────▶ │
//	                    ├──▶ promoted           │
//	                    └──▶ rolled_back ◀──────┘ (judge, abort, regression)
//
// Each interval (Spec.Interval) the machine snapshots the baseline's and the
// canary's windows for the data observed since the previous analysis
// (disjoint intervals, so consecutive verdicts are independent evidence),
// runs the configured judge and feeds a judge.Streak:
//
//   - Fail: counts toward the streak; Config.Streak consecutive failing
//     intervals roll back (reason "judge").
//   - Pass: resets the streak; once the stage has lasted
//     Spec.IntervalsPerStage intervals the rollout advances to the next
//     stage, waits for a manual promote first when Spec.Gates is set, or is
//     promoted after the last stage.
//   - Inconclusive (too few samples, or a large but insignificant change):
//     neither passes nor fails; the rollout stays, the interval is counted,
//     and every Config.InconclusiveAlert intervals in a row raise a warning
//     alert.
//
// At a 100 % stage the baseline serves nothing, so there is no concurrent
// baseline data: the canary is judged against the baseline's last interval
// with traffic (the one before the stage began), on the error rate alone —
// latency and throughput measured at other times under other load are not
// comparable, and after promotion the regression detector watches them
// against a stored profile.
//
// Rollback sets the weights to 100 % baseline and removes the canary's flag
// overrides. Promotion merges the canary's overrides into the baseline's
// (the baseline variant now runs the canary's configuration), removes the
// canary's, sets the weights to 100 % baseline and asks the regression
// detector (State.ProfilePending) to profile the promoted configuration.
// Abort is a rollback with reason "abort".
//
// # Who owns the state
//
// The state lives in the control bucket under "rollout" as JSON (State).
// A Machine holds none of it between calls: every command and every Tick
// reads the stored state with its revision, computes the next state and
// writes it with a revision-checked update, retrying on conflict. Only
// after the state is stored are the weights and flags written, and then
// State.Applied is set; a controller that crashed in between finds Applied
// false on its next Tick and writes them again. A restarted controller
// therefore resumes exactly where the stored state is.
//
// Commands (start, pause, resume, promote, abort) may come through any
// controller instance; analysis (Tick) runs only on the lease holder.
//
// # Lease protocol
//
// The "lease" key holds {holder, expires, acquired}. A Leaser ticks with the
// controller loop: with no lease (key missing or deleted) it takes one with
// kv.Create; holding one, it renews it every TTL/3 with a revision-checked
// kv.Update; a lease of another holder is taken, again with a
// revision-checked Update, only once its expiry has passed. Exactly one of
// two contenders wins each write. A controller that stops calls Release,
// which deletes the key (guarded by its revision) so a standby takes over
// at its next tick instead of after the expiry. Expiry times are written by
// the holder's clock: controllers' clocks must agree to well within TTL/3.
//
// # Concurrency
//
// A Machine is safe for concurrent use (it has no mutable fields; the KV
// revision checks serialize transitions). A Leaser is not: it belongs to
// the one controller loop that ticks it. All time comes from the now
// arguments, so tests drive the machine with an injected clock.
package rollout
