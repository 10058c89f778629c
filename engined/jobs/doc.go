// Package jobs is the durable batch job queue: a JetStream work queue that
// engine workers pull from, a results bucket keyed by job id, and a
// dead-letter stream.
//
// # Assets
//
// Setup creates (or updates) them, idempotently, with a user allowed to
// create streams (the controller, `krserve up`); engines and producers only
// bind:
//
//   - stream KRSERVE_JOBS over krserve.v1.jobs.>, work-queue retention, file
//     storage, a duplicate window (default 10 min) over the Nats-Msg-Id
//     header, at most MaxQueued waiting jobs (a full queue refuses new jobs
//     with ErrQueueFull instead of dropping old ones);
//   - the durable pull consumer "engine" shared by every engine worker:
//     explicit ack, AckWait (default 30 s), MaxDeliver (default 5),
//     MaxAckPending bounded;
//   - KV bucket krserve_results: one JobResult per job, under ResultKey(id);
//   - stream KRSERVE_JOBS_DLQ over krserve.v1.deadjobs.>: copies of jobs
//     given up, with the job's headers plus Krserve-Job-Subject,
//     Krserve-Job-Deliveries, Krserve-Error-Code and Krserve-Error.
//
// Submit publishes a Job on krserve.v1.jobs.<queue>.<id> with Nats-Msg-Id =
// id. The id in the subject lets Status find a queued job with one direct
// get; producers in other languages may publish on krserve.v1.jobs.<queue>
// instead (engines accept both), and Status then reports such a job only
// once its result is stored.
//
// # Delivery and who acks when
//
// JetStream delivers each job at least once. An engine's Consumer holds a
// delivered job from fetch to ack; nobody else answers it:
//
//  1. Fetch only into free slots: at most MaxInFlight jobs per engine, and
//     none while the engine drains.
//  2. A result already stored for the id: ack without running
//     (krserve_jobs_duplicates_skipped_total). This is how a redelivery
//     after a lost ack, or a resubmission after the duplicate window, stays
//     a single result.
//  3. A message that is not a valid Job, or a request that can never run
//     (bad request, prompt too long for the context, deadline passed,
//     cancelled through krserve.v1.cancel.<id>): store a failed result with
//     the typed error, ack. Never retried. A message without a usable id
//     cannot be keyed: it goes to the dead-letter stream and is terminated.
//  4. Otherwise encode it with the engine's tokenizer and chat template and
//     submit it to the engine, which collects the output. While it
//     generates, InProgress every AckWait/3 keeps JetStream from handing it
//     to another engine.
//  5. Done: store the result, then ack. A failure that may pass (engine
//     overloaded or stopping, internal error, a model this engine does not
//     serve): NakWithDelay with exponential back-off, so the job returns,
//     possibly to another engine. On its last delivery (NumDelivered >=
//     MaxDeliver) such a failure instead stores a failed result, copies the
//     job to the dead-letter stream and terminates it.
//
// If the engine dies between fetch and ack (crash, kill -9, lost
// connection), nothing is acked and no InProgress arrives: after AckWait
// JetStream redelivers the job to another engine. A result the dead engine
// stored before dying is found in step 2.
//
// # Why results are exactly once
//
// A result is written only with a revision-guarded KV Create (expected
// last sequence 0 for the key): if two engines race on one job (a
// redelivery while a slow first delivery is still running), the server
// accepts one Create and refuses the other with "key exists"; the loser
// acks without writing. The ack comes strictly after the store, so a job
// is never acknowledged without its result, and the result is never
// overwritten. Within one engine, a redelivery of a job it is still running
// is attached to that run instead of starting a second one.
//
// # Concurrency and ownership
//
// NewConsumer starts nothing. Run binds the consumer and bucket, runs the
// fetch loop on the caller's goroutine and one goroutine per held job,
// owned by Run: when its context ends (or the engine drains, or the
// connection closes) Run stops fetching, waits up to DrainTimeout for held
// jobs to settle — the engine worker finishes them while it drains, or
// fails them with a retryable error, which naks them for another engine —
// and then abandons the rest unacknowledged for redelivery, waits for its
// goroutines and returns. The engine calls the completion callback on its
// scheduler goroutine; it only hands the outcome to the job's goroutine.
//
// # Permissions
//
// A Consumer needs the engine role of deploy/nats/permissions.conf: pull
// (CONSUMER.INFO, CONSUMER.MSG.NEXT and $JS.ACK on KRSERVE_JOBS), KV get and
// put on krserve_results, publish on krserve.v1.deadjobs.>. Status also
// reads KRSERVE_JOBS (direct get) and the consumer's info.
package jobs
