package bus

import (
	"fmt"
	"strings"
)

// DefaultPrefix is the first subject token of every krserve subject.
const DefaultPrefix = "krserve"

// Names of JetStream assets.
const (
	ControlBucket = "krserve_control" // KV: canary weights, rollout state, flag overrides
	ResultsBucket = "krserve_results" // KV: batch job results keyed by job id
	JobsStream    = "KRSERVE_JOBS"    // work-queue stream over Jobs(">")
	DeadStream    = "KRSERVE_JOBS_DLQ"
)

// Subjects builds the versioned subject names under one prefix. The zero
// value uses DefaultPrefix.
type Subjects struct {
	Prefix string
}

func (s Subjects) base() string {
	p := s.Prefix
	if p == "" {
		p = DefaultPrefix
	}
	return p + ".v1"
}

// ValidatePrefix checks that a prefix is one or more literal subject tokens.
func ValidatePrefix(p string) error {
	if p == "" {
		return fmt.Errorf("bus: subject prefix is empty")
	}
	for _, tok := range strings.Split(p, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> \t\r\n") {
			return fmt.Errorf("bus: subject prefix %q is not a literal subject", p)
		}
	}
	return nil
}

// Generate is the interactive generation subject (core request/reply).
func (s Subjects) Generate() string { return s.base() + ".generate" }

// Tokens is the token stream subject of one request.
func (s Subjects) Tokens(requestID string) string { return s.base() + ".tokens." + requestID }

// Jobs is the work-queue subject of a batch queue; Jobs(">") matches all.
func (s Subjects) Jobs(queue string) string { return s.base() + ".jobs." + queue }

// DeadJobs is where jobs that exhausted their deliveries are copied.
func (s Subjects) DeadJobs(queue string) string { return s.base() + ".deadjobs." + queue }

// Tokenize and Detokenize are the tokenizer micro service endpoints.
func (s Subjects) Tokenize() string   { return s.base() + ".tokenize" }
func (s Subjects) Detokenize() string { return s.base() + ".detokenize" }

// Engine is the direct subject of one engine worker.
func (s Subjects) Engine(variant, worker string) string {
	return s.base() + ".engine." + variant + "." + worker
}

// EngineVariant is the subject an engine variant's workers share in a queue
// group, used when the router has no better choice.
func (s Subjects) EngineVariant(variant string) string {
	return s.base() + ".engine." + variant + ".any"
}

// KV is the KV block event subject of one engine worker; KV("*") matches all.
func (s Subjects) KV(worker string) string { return s.base() + ".kv." + worker }

// Heartbeat is a worker's liveness subject; Heartbeat("*", "*") matches all.
func (s Subjects) Heartbeat(role, worker string) string {
	return s.base() + ".heartbeat." + role + "." + worker
}

// Metrics is the metric event subject of one worker of one variant.
func (s Subjects) Metrics(variant, worker string) string {
	return s.base() + ".metrics." + variant + "." + worker
}

// Cancel is the cancellation subject of a request; Cancel("*") matches all.
func (s Subjects) Cancel(requestID string) string { return s.base() + ".cancel." + requestID }

// Alerts carries controller alert events (regressions, rollbacks).
func (s Subjects) Alerts() string { return s.base() + ".alerts" }

// QueueEngine is the queue group engines of a variant join.
func QueueEngine(variant string) string { return "engine-" + variant }

// QueueTokenizer is the queue group tokenizer workers join on Generate.
const QueueTokenizer = "tokenizer"

// Status is the status endpoint of the processes of one role.
func (s Subjects) Status(role string) string { return s.base() + ".status." + role }
