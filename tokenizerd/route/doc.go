// Package route chooses, for each tokenized request, the engine variant and
// the engine worker that should serve it.
//
// Variant: a deterministic hash of the conversation id (or the request id
// when there is none) picks a bucket in [0, 10000); canary variants own
// contiguous bucket ranges from 0 upwards in name order and the baseline owns
// the rest, so with one canary, raising its weight only moves conversations
// from the baseline to the canary: a conversation never flips back and forth
// during a rollout.
//
// Worker: within the variant, each live worker gets a cost
//
//	cost = PrefillWeight × uncached prompt blocks + LoadWeight × load
//
// where uncached blocks are the prompt's full blocks beyond the longest
// prefix the worker holds (from its KV events) and load is running + waiting
// sequences from its last heartbeat plus the requests routed to it since
// (Dynamo's KV router cost; llm-d's precise prefix scorer). The lowest cost
// wins; ties go to the highest rendezvous hash of (conversation id, worker),
// so a conversation sticks to one worker. A worker that publishes no KV
// events at all is assumed to hold the blocks of the conversations whose
// rendezvous favourite it is, so affinity holds without a prefix index too. A worker
// whose load exceeds LoadBound × the variant's mean load (+1) is skipped
// while another is within bound (consistent hashing with bounded loads;
// lightly loaded workers, below MinBoundLoad sequences, are never skipped:
// there a cache hit is worth more than balance), so
// one hot conversation cannot melt a worker (with the default factor 2 the
// bound binds from three workers up: with two, one worker's load can never
// exceed twice the mean).
//
// Liveness: a worker leaves the candidate set when it announces draining or
// stopped, or when no heartbeat arrived within StaleAfter × its announced
// interval. A gap in a worker's KV event sequence drops that worker's block
// index (it is rebuilt from later events) rather than trusting a partial one.
//
// Concurrency: a Router is safe for concurrent use; one mutex guards the
// index. Observe* calls come from NATS subscription callbacks, Pick from
// tokenizer goroutines.
package route
