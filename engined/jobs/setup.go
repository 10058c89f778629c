package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/nats-io/nats.go/jetstream"
)

// ConsumerName is the durable pull consumer every engine worker shares.
const ConsumerName = "engine"

// Config describes the JetStream assets of the job queue. The zero value
// plus Validate gives the production defaults.
type Config struct {
	Subjects bus.Subjects
	// Replicas of the jobs stream, the dead-letter stream and the results
	// bucket (1 on a single server, 3 on a cluster).
	Replicas int
	// DuplicateWindow is how long the stream remembers a Nats-Msg-Id: a job
	// id submitted again within it is not stored twice. Default 10m.
	DuplicateWindow time.Duration
	// AckWait is how long a delivered job may go without an ack or an
	// InProgress before JetStream redelivers it. Default 30s.
	AckWait time.Duration
	// MaxDeliver bounds the deliveries of one job; the last one that fails
	// dead-letters it. Default 5.
	MaxDeliver int
	// MaxAckPending bounds jobs delivered and not yet acknowledged over all
	// engines. Default 1024.
	MaxAckPending int
	// MaxQueued bounds the jobs waiting in the stream; Submit beyond it
	// fails with ErrQueueFull. Default 1,000,000.
	MaxQueued int64
	// ResultsTTL expires stored results; 0 keeps them until deleted.
	ResultsTTL time.Duration
	// DeadMaxAge expires dead letters; 0 keeps them. Default 0.
	DeadMaxAge time.Duration
}

// Validate fills defaults and checks ranges.
func (c *Config) Validate() error {
	if c.Subjects.Prefix != "" {
		if err := bus.ValidatePrefix(c.Subjects.Prefix); err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = 10 * time.Minute
	}
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = 5
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = 1024
	}
	if c.MaxQueued == 0 {
		c.MaxQueued = 1_000_000
	}
	switch {
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("jobs: replicas %d is outside [1, 5]", c.Replicas)
	case c.DuplicateWindow < time.Second:
		return fmt.Errorf("jobs: duplicate window %v is shorter than 1s", c.DuplicateWindow)
	case c.AckWait < 100*time.Millisecond:
		return fmt.Errorf("jobs: ack wait %v is shorter than 100ms", c.AckWait)
	case c.MaxDeliver < 1:
		return fmt.Errorf("jobs: max deliver %d must be at least 1 (unbounded redelivery never dead-letters)", c.MaxDeliver)
	case c.MaxAckPending < 1:
		return fmt.Errorf("jobs: max ack pending %d must be at least 1", c.MaxAckPending)
	case c.MaxQueued < 1:
		return fmt.Errorf("jobs: max queued %d must be at least 1", c.MaxQueued)
	case c.ResultsTTL < 0 || c.DeadMaxAge < 0:
		return errors.New("jobs: negative results TTL or dead-letter age")
	}
	return nil
}

// Assets are the bound JetStream objects of the job queue.
type Assets struct {
	Jobs     jetstream.Stream
	Dead     jetstream.Stream
	Results  jetstream.KeyValue
	Consumer jetstream.Consumer
}

// Setup creates or updates the job queue's JetStream assets: the work-queue
// stream KRSERVE_JOBS over krserve.v1.jobs.>, the dead-letter stream
// KRSERVE_JOBS_DLQ over krserve.v1.deadjobs.>, the results bucket
// krserve_results and the durable pull consumer "engine". It is idempotent:
// running it again with the same Config changes nothing, and with another
// Config updates what JetStream allows to change (limits, ack wait, max
// deliveries), failing on what it does not (storage, retention).
func Setup(ctx context.Context, js jetstream.JetStream, cfg Config) (*Assets, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := cfg.Subjects
	var a Assets
	var err error
	a.Jobs, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        bus.JobsStream,
		Description: "krserve batch jobs (work queue, deduplicated by Nats-Msg-Id = job id)",
		Subjects:    []string{s.Jobs(">")},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		Duplicates:  cfg.DuplicateWindow,
		MaxMsgs:     cfg.MaxQueued,
		Discard:     jetstream.DiscardNew,
		MaxMsgSize:  1 << 20,
		AllowDirect: true,
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: stream %s: %w", bus.JobsStream, err)
	}
	a.Dead, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        bus.DeadStream,
		Description: "krserve batch jobs that exhausted their deliveries or could not be read",
		Subjects:    []string{s.DeadJobs(">")},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		Duplicates:  cfg.DuplicateWindow,
		MaxAge:      cfg.DeadMaxAge,
		AllowDirect: true,
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: stream %s: %w", bus.DeadStream, err)
	}
	a.Results, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bus.ResultsBucket,
		Description: "krserve batch job results keyed by job id",
		History:     1,
		TTL:         cfg.ResultsTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: bucket %s: %w", bus.ResultsBucket, err)
	}
	a.Consumer, err = js.CreateOrUpdateConsumer(ctx, bus.JobsStream, jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		Description:   "krserve engine workers",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    cfg.MaxDeliver,
		MaxAckPending: cfg.MaxAckPending,
		FilterSubject: s.Jobs(">"),
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: consumer %s: %w", ConsumerName, err)
	}
	return &a, nil
}

// bind looks up the consumer and the results bucket without creating them,
// with only the permissions of the engine role.
func bind(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, jetstream.KeyValue, error) {
	cons, err := js.Consumer(ctx, bus.JobsStream, ConsumerName)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, nil, fmt.Errorf("%w: %v", ErrNotSetUp, err)
		}
		return nil, nil, fmt.Errorf("jobs: bind consumer: %w", err)
	}
	kv, err := results(ctx, js)
	if err != nil {
		return nil, nil, err
	}
	return cons, kv, nil
}

func results(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, bus.ResultsBucket)
	if err != nil {
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return nil, fmt.Errorf("%w: %v", ErrNotSetUp, err)
		}
		return nil, fmt.Errorf("jobs: bind results bucket: %w", err)
	}
	return kv, nil
}
