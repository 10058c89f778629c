// Package engined is the engine worker: it serves one model with a paged KV
// pool and a continuous-batching scheduler, and speaks the wire contract on
// NATS.
//
// Engine (engine.go) composes the model, tokenizer, KV pool, KV arena and
// scheduler for one process. Worker (worker.go) puts an Engine on the bus:
//
//   - krserve.v1.engine.<variant>.<worker> (direct, chosen by a router) and
//     krserve.v1.engine.<variant>.any (queue group engine-<variant>) carry
//     EngineRequests. The handler validates, submits to the scheduler and
//     acknowledges admission at once (empty reply) or answers a typed error
//     (overloaded, bad request) so the router can try elsewhere.
//   - Tokens stream as sequence-numbered StreamMsgs to the request's stream
//     subject, ending with a final message (usage incl. cached tokens,
//     timings) or a typed error. Each stream message is published with a
//     reply subject owned by the worker: if nobody subscribes to the stream
//     any more (the consumer went away), NATS answers "no responders" there
//     and the worker cancels the request, freeing its KV at once.
//   - krserve.v1.cancel.<id> cancels a request.
//   - krserve.v1.kv.<worker> carries batches of KV block events,
//     krserve.v1.heartbeat.engine.<worker> liveness and load,
//     krserve.v1.metrics.<variant>.<worker> windows of per-request metrics
//     (this worker is the only publisher of that subject).
//   - Batch jobs are pulled from the JetStream work queue by a consumer from
//     package engined/jobs running beside the worker.
//
// Ownership: after admission a request belongs to the scheduler goroutine,
// which calls its sink; the sink publishes and records metrics. The worker's
// own goroutines (heartbeats, KV events, metric windows, job fetching) are
// started by Run and waited for before Run returns.
//
// Shutdown (drain): when Run's context ends the worker announces draining,
// stops taking requests (endpoint subscriptions are removed), lets in-flight
// requests finish within the drain timeout, fails the rest with a retryable
// error, publishes a final "stopped" heartbeat and returns.
package engined
