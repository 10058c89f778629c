// Package health serves a process's operational HTTP endpoints: /metrics
// (Prometheus exposition of an injected registry), /healthz (the process is
// alive) and /readyz (every registered readiness check passes; a draining
// worker reports not ready so load balancers and Kubernetes stop sending it
// work).
//
// Concurrency: checks are registered before Run and called concurrently by
// HTTP handlers, so they must be safe for concurrent use. Run blocks until
// its context ends, then shuts the listener down gracefully.
package health
