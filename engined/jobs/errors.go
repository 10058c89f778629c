package jobs

import "errors"

// Sentinel errors. Each says what the caller should do; they are wrapped
// with %w, so test with errors.Is.
var (
	// ErrQueueFull means the work queue holds its configured maximum of
	// waiting jobs and refused the new one. Retry after a back-off, or add
	// engine workers.
	ErrQueueFull = errors.New("jobs: work queue is full")
	// ErrNoResult means no result is stored for the job id: it is still
	// queued or running, it was never submitted, or its result expired.
	// Ask Status which.
	ErrNoResult = errors.New("jobs: no result for job")
	// ErrUnknownJob means the job is neither queued nor finished: it was
	// never submitted (or not on a per-id subject, see the package doc), or
	// its result expired from the results bucket. Submit it again.
	ErrUnknownJob = errors.New("jobs: unknown job")
	// ErrNotSetUp means the JetStream assets (stream, consumer, results
	// bucket) do not exist. Run Setup once with a user allowed to create
	// streams (the controller or `krserve up` does).
	ErrNotSetUp = errors.New("jobs: job queue is not set up")
	// ErrInvalidQueue means a queue name is not one subject token of
	// letters, digits, '-' or '_'. Fix the name.
	ErrInvalidQueue = errors.New("jobs: invalid queue name")
)
