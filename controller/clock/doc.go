// Package clock gives the controller its notion of time. Everything in the
// controller that depends on time — windows, analysis intervals, leases,
// regression checks — reads a Clock, so tests and in-process runs drive time
// by hand with a Manual clock instead of sleeping.
//
// # Concurrency
//
// System and *Manual are safe for concurrent use. A Manual clock is owned by
// whoever created it (a test, an end-to-end harness); readers only call Now.
package clock
