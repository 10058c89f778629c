package jobs

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/internal/testenv"
	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats.go/jetstream"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"defaults", Config{}, ""},
		{"replicas", Config{Replicas: 7}, "replicas"},
		{"dup window", Config{DuplicateWindow: time.Millisecond}, "duplicate window"},
		{"ack wait", Config{AckWait: time.Millisecond}, "ack wait"},
		{"max deliver", Config{MaxDeliver: -1}, "max deliver"},
		{"max ack pending", Config{MaxAckPending: -3}, "max ack pending"},
		{"max queued", Config{MaxQueued: -1}, "max queued"},
		{"ttl", Config{ResultsTTL: -time.Second}, "negative"},
		{"prefix", Config{Subjects: bus.Subjects{Prefix: "a.*"}}, "prefix"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: Validate() = %v, want error containing %q", tt.name, err, tt.wantErr)
		}
	}
	c := Config{}
	_ = c.Validate()
	if c.AckWait != 30*time.Second || c.MaxDeliver != 5 || c.DuplicateWindow != 10*time.Minute || c.Replicas != 1 {
		t.Errorf("defaults = %+v", c)
	}
}

func TestConsumerConfigValidate(t *testing.T) {
	tests := []struct {
		cfg     ConsumerConfig
		wantErr string
	}{
		{ConsumerConfig{WorkerID: "e1"}, ""},
		{ConsumerConfig{}, "worker id"},
		{ConsumerConfig{WorkerID: "a.b"}, "worker id"},
		{ConsumerConfig{WorkerID: "e1", MaxInFlight: -1}, "max in flight"},
		{ConsumerConfig{WorkerID: "e1", FetchWait: time.Microsecond}, "fetch wait"},
		{ConsumerConfig{WorkerID: "e1", RetryDelay: time.Minute, MaxRetryDelay: time.Second}, "retry delay"},
		{ConsumerConfig{WorkerID: "e1", DrainTimeout: -1}, "negative"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%+v: Validate() = %v, want error containing %q", tt.cfg, err, tt.wantErr)
		}
	}
}

func TestSetupIsIdempotent(t *testing.T) {
	_, nc := testenv.NATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := Setup(ctx, js, Config{}); err != nil {
		t.Fatal(err)
	}
	a, err := Setup(ctx, js, Config{})
	if err != nil {
		t.Fatalf("second Setup: %v", err)
	}
	sc := a.Jobs.CachedInfo().Config
	if sc.Retention != jetstream.WorkQueuePolicy || sc.Duplicates != 10*time.Minute || sc.Storage != jetstream.FileStorage ||
		sc.Discard != jetstream.DiscardNew || len(sc.Subjects) != 1 || sc.Subjects[0] != "krserve.v1.jobs.>" {
		t.Errorf("jobs stream config = %+v", sc)
	}
	if dc := a.Dead.CachedInfo().Config; dc.Subjects[0] != "krserve.v1.deadjobs.>" {
		t.Errorf("dead-letter subjects = %v", dc.Subjects)
	}
	cc := a.Consumer.CachedInfo().Config
	if cc.Durable != ConsumerName || cc.AckPolicy != jetstream.AckExplicitPolicy || cc.AckWait != 30*time.Second || cc.MaxDeliver != 5 || cc.MaxAckPending != 1024 {
		t.Errorf("consumer config = %+v", cc)
	}
	// A changed configuration updates what may change.
	a, err = Setup(ctx, js, Config{AckWait: 5 * time.Second, MaxDeliver: 9})
	if err != nil {
		t.Fatal(err)
	}
	if cc := a.Consumer.CachedInfo().Config; cc.AckWait != 5*time.Second || cc.MaxDeliver != 9 {
		t.Errorf("updated consumer config = %+v", cc)
	}
	if st, _ := a.Results.Status(ctx); st.Bucket() != bus.ResultsBucket {
		t.Errorf("results bucket = %q", st.Bucket())
	}
}

func TestSubmitErrors(t *testing.T) {
	q := newQueue(t, Config{MaxQueued: 2})
	tests := []struct {
		name  string
		queue string
		job   *schemas.Job
		want  error
	}{
		{"queue with a dot", "a.b", job("j1", "x", 1), ErrInvalidQueue},
		{"empty queue", "", job("j1", "x", 1), ErrInvalidQueue},
		{"no id", DefaultQueue, job("", "x", 1), schemas.ErrInvalid},
		{"id with a space", DefaultQueue, job("a b", "x", 1), schemas.ErrInvalid},
		{"empty prompt", DefaultQueue, job("j1", "", 1), schemas.ErrInvalid},
		{"negative max tokens", DefaultQueue, job("j1", "x", -1), schemas.ErrInvalid},
	}
	for _, tt := range tests {
		if _, err := Submit(context.Background(), q.js, tt.queue, tt.job); !errors.Is(err, tt.want) {
			t.Errorf("%s: Submit = %v, want %v", tt.name, err, tt.want)
		}
	}
	// The queue is bounded: the third waiting job is refused.
	submit(t, q, job("q1", "x", 1))
	submit(t, q, job("q2", "x", 1))
	if _, err := Submit(context.Background(), q.js, DefaultQueue, job("q3", "x", 1)); !errors.Is(err, ErrQueueFull) {
		t.Errorf("third job on a queue bounded at 2: %v, want ErrQueueFull", err)
	}
	// Without Setup there is nothing to submit to.
	_, nc := testenv.NATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Submit(context.Background(), js, DefaultQueue, job("n1", "x", 1)); !errors.Is(err, ErrNotSetUp) {
		t.Errorf("submit without setup: %v, want ErrNotSetUp", err)
	}
	if _, err := Result(context.Background(), js, "n1"); !errors.Is(err, ErrNotSetUp) {
		t.Errorf("result without setup: %v, want ErrNotSetUp", err)
	}
}

func TestStatusFollowsTheJob(t *testing.T) {
	q := newQueue(t, testConfig())
	ctx := context.Background()
	if _, err := Status(ctx, q.js, "nobody"); !errors.Is(err, ErrUnknownJob) {
		t.Errorf("unknown id: %v", err)
	}
	if _, err := Status(ctx, q.js, "bad id"); !errors.Is(err, schemas.ErrInvalid) {
		t.Errorf("invalid id: %v", err)
	}
	j := job("st:1", "Once upon a time", 8) // ':' is valid in a job id but not in a KV key
	j.Request.Model = "elsewhere"
	s := submit(t, q, j)
	info, err := Status(ctx, q.js, "st:1")
	if err != nil || info.State != StatePending || info.Queue != DefaultQueue || info.Seq != s.Seq {
		t.Fatalf("queued: %+v, %v", info, err)
	}
	// Delivered and not acknowledged: in flight.
	b, err := q.a.Consumer.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	msg := <-b.Messages()
	if msg == nil {
		t.Fatal("no job fetched")
	}
	info, err = Status(ctx, q.js, "st:1")
	if err != nil || info.State != StateInFlight {
		t.Fatalf("delivered: %+v, %v", info, err)
	}
	if err := msg.Nak(); err != nil {
		t.Fatal(err)
	}
	// An engine that does not serve the model dead-letters it: failed.
	startEngine(t, q, "e1", engineOpts{})
	waitResults(t, q, 30*time.Second, "st:1")
	info, err = Status(ctx, q.js, "st:1")
	if err != nil || info.State != StateFailed || !errors.Is(info.Result.Error, schemas.ErrNotFound) {
		t.Fatalf("dead-lettered: %+v, %v", info, err)
	}
	if _, err := Result(ctx, q.js, "st:2"); !errors.Is(err, ErrNoResult) {
		t.Errorf("result of an unknown job: %v", err)
	}
}
