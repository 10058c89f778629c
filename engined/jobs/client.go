package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultQueue is the queue jobs go to when none is named.
const DefaultQueue = "default"

// Option adjusts a client call.
type Option func(*options)

type options struct {
	subjects bus.Subjects
	now      func() time.Time
}

// WithSubjects uses a non-default subject prefix.
func WithSubjects(s bus.Subjects) Option { return func(o *options) { o.subjects = s } }

// WithClock sets the clock that stamps SubmittedUnixMs.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

func apply(opts []Option) options {
	o := options{now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Subject is the subject a job is published on: the queue's subject with the
// job id as the last token, so Status can find a queued job by id.
func Subject(s bus.Subjects, queue, id string) string { return s.Jobs(queue) + "." + id }

// ValidateQueue checks that a queue name is one subject token.
func ValidateQueue(q string) error {
	if q == "" || len(q) > 64 {
		return fmt.Errorf("%w: %q must have 1 to 64 characters", ErrInvalidQueue, q)
	}
	for i := 0; i < len(q); i++ {
		c := q[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w: %q: only letters, digits, - and _ are allowed", ErrInvalidQueue, q)
		}
	}
	return nil
}

// Submitted is the outcome of Submit.
type Submitted struct {
	Seq       uint64 // stream sequence of the stored job
	Duplicate bool   // the id was already submitted within the duplicate window; nothing new was queued
}

// Submit publishes job to the work queue with Nats-Msg-Id set to its id. A
// job whose id was submitted before within the duplicate window is not
// queued again (Duplicate is true); one submitted again later is queued but
// not run again when its result is still stored (see the package doc). It
// sets job.V and, when zero, job.SubmittedUnixMs. Invalid jobs fail with
// schemas.ErrInvalid, a full queue with ErrQueueFull.
func Submit(ctx context.Context, js jetstream.JetStream, queue string, job *schemas.Job, opts ...Option) (Submitted, error) {
	o := apply(opts)
	if err := ValidateQueue(queue); err != nil {
		return Submitted{}, err
	}
	job.V = schemas.Version
	if job.SubmittedUnixMs == 0 {
		job.SubmittedUnixMs = o.now().UnixMilli()
	}
	b, err := schemas.Encode(job)
	if err != nil {
		return Submitted{}, err
	}
	ack, err := js.Publish(ctx, Subject(o.subjects, queue, job.ID), b, jetstream.WithMsgID(job.ID))
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && strings.Contains(apiErr.Description, "maximum messages") {
			return Submitted{}, fmt.Errorf("%w: %v", ErrQueueFull, err)
		}
		if errors.Is(err, jetstream.ErrNoStreamResponse) {
			return Submitted{}, fmt.Errorf("%w: no stream answered on %s: %v", ErrNotSetUp, Subject(o.subjects, queue, job.ID), err)
		}
		return Submitted{}, fmt.Errorf("jobs: submit %s: %w", job.ID, err)
	}
	return Submitted{Seq: ack.Sequence, Duplicate: ack.Duplicate}, nil
}

// State is where a job is.
type State string

// Job states.
const (
	StatePending  State = "pending"   // queued, not delivered to an engine yet
	StateInFlight State = "in_flight" // delivered to an engine, not finished (or waiting for redelivery)
	StateDone     State = "done"      // finished; the result is stored
	StateFailed   State = "failed"    // failed for good or dead-lettered; the result holds the error
	StateUnknown  State = "unknown"   // see ErrUnknownJob
)

// Info is what Status knows about a job.
type Info struct {
	ID     string             `json:"id"`
	State  State              `json:"state"`
	Queue  string             `json:"queue,omitempty"`
	Seq    uint64             `json:"seq,omitempty"` // stream sequence while queued
	Result *schemas.JobResult `json:"result,omitempty"`
}

// Status reports a job's state: done or failed from the results bucket,
// else pending or in flight from the work-queue stream and the engine
// consumer. An id found in neither gives StateUnknown and ErrUnknownJob.
func Status(ctx context.Context, js jetstream.JetStream, id string, opts ...Option) (Info, error) {
	o := apply(opts)
	info := Info{ID: id, State: StateUnknown}
	if err := validJobID(id); err != nil {
		return info, err
	}
	res, err := Result(ctx, js, id)
	if err == nil {
		info.State, info.Result = stateOf(res), res
		return info, nil
	}
	if !errors.Is(err, ErrNoResult) {
		return info, err
	}
	stream, err := js.Stream(ctx, bus.JobsStream)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return info, fmt.Errorf("%w: %v", ErrNotSetUp, err)
		}
		return info, fmt.Errorf("jobs: status %s: %w", id, err)
	}
	msg, err := stream.GetLastMsgForSubject(ctx, Subject(o.subjects, "*", id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		// It may have finished between the two looks.
		if res, rerr := Result(ctx, js, id); rerr == nil {
			info.State, info.Result = stateOf(res), res
			return info, nil
		}
		return info, fmt.Errorf("%w: %s", ErrUnknownJob, id)
	}
	if err != nil {
		return info, fmt.Errorf("jobs: status %s: %w", id, err)
	}
	info.Seq, info.Queue, info.State = msg.Sequence, queueOf(o.subjects, msg.Subject), StatePending
	cons, err := stream.Consumer(ctx, ConsumerName)
	if err != nil {
		return info, fmt.Errorf("jobs: status %s: consumer: %w", id, err)
	}
	if ci := cons.CachedInfo(); ci != nil && ci.Delivered.Stream >= msg.Sequence {
		info.State = StateInFlight
	}
	return info, nil
}

func stateOf(r *schemas.JobResult) State {
	if r.Status == schemas.JobDone {
		return StateDone
	}
	return StateFailed
}

// Result returns a job's stored result, or ErrNoResult.
func Result(ctx context.Context, js jetstream.JetStream, id string) (*schemas.JobResult, error) {
	kv, err := results(ctx, js)
	if err != nil {
		return nil, err
	}
	return getResult(ctx, kv, id)
}

func getResult(ctx context.Context, kv jetstream.KeyValue, id string) (*schemas.JobResult, error) {
	e, err := kv.Get(ctx, ResultKey(id))
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, fmt.Errorf("%w: %s", ErrNoResult, id)
		}
		if errors.Is(err, jetstream.ErrInvalidKey) {
			return nil, fmt.Errorf("%w: job id %q: %v", schemas.ErrInvalid, id, err)
		}
		return nil, fmt.Errorf("jobs: result %s: %w", id, err)
	}
	var r schemas.JobResult
	if err := schemas.Decode(e.Value(), &r); err != nil {
		return nil, fmt.Errorf("jobs: result %s: %w", id, err)
	}
	return &r, nil
}

// Results returns every stored result, in key order of the bucket, at most
// limit of them (limit <= 0: all).
func Results(ctx context.Context, js jetstream.JetStream, limit int) ([]*schemas.JobResult, error) {
	kv, err := results(ctx, js)
	if err != nil {
		return nil, err
	}
	keys, err := kv.ListKeys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("jobs: list results: %w", err)
	}
	defer func() { _ = keys.Stop() }()
	var out []*schemas.JobResult
	for k := range keys.Keys() {
		r, err := getResult(ctx, kv, jobIDOfKey(k))
		if errors.Is(err, ErrNoResult) {
			continue // expired or deleted since listed
		}
		if err != nil {
			return out, err
		}
		out = append(out, r)
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return out, nil
}

// queueOf returns the queue token of a job subject (<prefix>.v1.jobs.<queue>
// or <prefix>.v1.jobs.<queue>.<id>), or "" when subject is not one.
func queueOf(s bus.Subjects, subject string) string {
	rest, ok := strings.CutPrefix(subject, s.Jobs(""))
	if !ok || rest == "" {
		return ""
	}
	q, _, _ := strings.Cut(rest, ".")
	return q
}

// validJobID checks id with the wire contract's rules for a Job id.
func validJobID(id string) error {
	j := schemas.Job{V: schemas.Version, ID: id, Request: schemas.GenerateRequest{Prompt: "-"}}
	return j.Validate()
}

// ResultKey is the results-bucket key of a job id. KV keys cannot hold ':',
// which job ids may, so it is written as '/', which job ids never hold.
func ResultKey(id string) string { return strings.ReplaceAll(id, ":", "/") }

// jobIDOfKey inverts ResultKey.
func jobIDOfKey(key string) string { return strings.ReplaceAll(key, "/", ":") }
