// Package alert defines the controller's alert events — regressions,
// rollbacks, promotions, analyses that stay inconclusive — and publishes
// them as JSON on krserve.v1.alerts (bus.Subjects.Alerts), where operators
// subscribe with `nats sub 'krserve.v1.alerts'` and other tools consume them.
//
// # Wire format
//
// One JSON object per message, fields as tagged on Alert. Severity is
// "critical", "warning" or "info"; Kind names the event. Numeric fields are
// omitted when they do not apply. Delivery is core NATS: at most once, for
// live consumption; the rollout state in the control bucket and the
// Prometheus counters are the durable record.
//
// # Concurrency
//
// A *Publisher is safe for concurrent use; it shares the *nats.Conn of its
// owner and starts no goroutines.
package alert
