package jobs

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestDuplicateJobRunsOnce(t *testing.T) {
	q := newQueue(t, testConfig())
	e := startEngine(t, q, "e1", engineOpts{})
	first := submit(t, q, job("dup-1", "Once upon a time", 24))
	second := submit(t, q, job("dup-1", "Once upon a time", 24))
	if first.Duplicate || !second.Duplicate || second.Seq != first.Seq {
		t.Fatalf("submits = %+v, %+v; want the second reported as a duplicate of the first", first, second)
	}
	res := waitResults(t, q, 30*time.Second, "dup-1")["dup-1"]
	if res.Status != schemas.JobDone || res.Text == "" || res.Usage == nil || res.Usage.GeneratedTokens != int32(len(res.IDs)) ||
		res.Worker != "e1" || res.Deliveries != 1 || res.Metadata["n"] != "dup-1" {
		t.Fatalf("result = %+v", res)
	}
	// The result is visible before the engine acks and counts it.
	eventually(t, 10*time.Second, "the job to be settled", func() bool {
		return e.metric(t, "krserve_jobs_completed_total") == 1 && e.metric(t, "krserve_jobs_in_flight") == 0
	})

	// The same job arriving again past the duplicate window (here: published
	// under another message id) is acknowledged without running.
	b, err := schemas.Encode(job("dup-1", "Once upon a time", 24))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.js.Publish(context.Background(), Subject(bus.Subjects{}, DefaultQueue, "dup-1"), b, jetstream.WithMsgID("dup-1-again")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the resubmitted job to be skipped", func() bool {
		return e.metric(t, "krserve_jobs_duplicates_skipped_total") == 1 && streamMsgs(t, q, bus.JobsStream) == 0
	})
	if got := e.metric(t, "krserve_jobs_completed_total"); got != 1 {
		t.Errorf("completed after resubmission = %v, want still 1", got)
	}
	if w := resultWrites(t, q); w != 1 {
		t.Errorf("results bucket took %d writes, want 1", w)
	}
	info, err := Status(context.Background(), q.js, "dup-1")
	if err != nil || info.State != StateDone || info.Result.Text != res.Text {
		t.Errorf("status = %+v, %v", info, err)
	}
}

func TestHundredJobsOverTwoEngines(t *testing.T) {
	q := newQueue(t, testConfig())
	e1 := startEngine(t, q, "e1", engineOpts{maxInFlight: 4})
	e2 := startEngine(t, q, "e2", engineOpts{maxInFlight: 4})
	all := ids("bulk", 100)
	prompts := []string{"Once upon a time", "The little dog", "Lily and Ben", "One day"}
	for i, id := range all {
		submit(t, q, job(id, prompts[i%len(prompts)], 12))
	}
	got := waitResults(t, q, 120*time.Second, all...)
	byWorker := map[string]int{}
	for _, id := range all {
		r := got[id]
		if r.Status != schemas.JobDone || r.Usage.GeneratedTokens == 0 {
			t.Errorf("%s: %+v", id, r)
		}
		byWorker[r.Worker]++
	}
	if byWorker["e1"] == 0 || byWorker["e2"] == 0 || byWorker["e1"]+byWorker["e2"] != 100 {
		t.Errorf("jobs by worker = %v, want both engines to take part", byWorker)
	}
	if w := resultWrites(t, q); w != 100 {
		t.Errorf("results bucket took %d writes for 100 jobs", w)
	}
	eventually(t, 10*time.Second, "the work queue to empty", func() bool { return streamMsgs(t, q, bus.JobsStream) == 0 })
	if c := e1.metric(t, "krserve_jobs_completed_total") + e2.metric(t, "krserve_jobs_completed_total"); c != 100 {
		t.Errorf("completed = %v, want 100", c)
	}
	// All of them through the listing API.
	list, err := Results(context.Background(), q.js, 0)
	if err != nil || len(list) != 100 {
		t.Fatalf("Results: %d, %v", len(list), err)
	}
}

func TestJobOfDeadEngineCompletesElsewhere(t *testing.T) {
	q := newQueue(t, testConfig())
	// A slow engine, so the job is surely mid-generation when it dies.
	a := startEngine(t, q, "a", engineOpts{slowdown: 50, workerDrain: 50 * time.Millisecond, consumeDrain: time.Second})
	submit(t, q, job("crash-1", "Once upon a time", 300))
	eventually(t, 10*time.Second, "engine a to be generating the job", func() bool {
		running, _ := a.eng.Sched.Load()
		return running == 1 && a.metric(t, "krserve_jobs_in_flight") == 1
	})
	a.kill(t)
	if n := streamMsgs(t, q, bus.JobsStream); n != 1 {
		t.Fatalf("after the crash the queue holds %d jobs, want the unacknowledged one", n)
	}
	if _, err := Result(context.Background(), q.js, "crash-1"); !errors.Is(err, ErrNoResult) {
		t.Fatalf("dead engine left a result: %v", err)
	}
	b := startEngine(t, q, "b", engineOpts{})
	res := waitResults(t, q, 30*time.Second, "crash-1")["crash-1"]
	if res.Status != schemas.JobDone || res.Worker != "b" || res.Deliveries < 2 {
		t.Fatalf("result = %+v, want done by b on a redelivery", res)
	}
	if got := b.metric(t, "krserve_jobs_redelivered_total"); got != 1 {
		t.Errorf("b redelivered = %v, want 1", got)
	}
	if got := a.metric(t, "krserve_jobs_completed_total"); got != 0 {
		t.Errorf("a completed = %v, want 0", got)
	}
	eventually(t, 10*time.Second, "the work queue to empty", func() bool { return streamMsgs(t, q, bus.JobsStream) == 0 })
	if w := resultWrites(t, q); w != 1 {
		t.Errorf("results bucket took %d writes, want 1", w)
	}
}

func TestConsumerDrainFinishesHeldJob(t *testing.T) {
	q := newQueue(t, testConfig())
	e := startEngine(t, q, "d", engineOpts{slowdown: 20})
	submit(t, q, job("drain-1", "Once upon a time", 100))
	eventually(t, 10*time.Second, "the job to be running", func() bool { return e.metric(t, "krserve_jobs_in_flight") == 1 })
	e.cancelC() // stop fetching; the held job finishes and is acknowledged
	if err := <-e.doneC; err != nil {
		t.Fatal(err)
	}
	e.doneC <- nil // for the cleanup's stop
	res, err := Result(context.Background(), q.js, "drain-1")
	if err != nil || res.Status != schemas.JobDone || res.Deliveries != 1 {
		t.Fatalf("after drain: %+v, %v", res, err)
	}
	if n := streamMsgs(t, q, bus.JobsStream); n != 0 {
		t.Errorf("queue holds %d jobs after drain, want 0 (acknowledged)", n)
	}
}

func TestBadJobsFailWithoutRetry(t *testing.T) {
	q := newQueue(t, testConfig())
	e := startEngine(t, q, "e1", engineOpts{})
	past := time.Now().Add(-time.Hour).UnixMilli()
	long := strings.Repeat("the cat sat on the mat and looked at the big red ball. ", 100)
	tests := []struct {
		id      string
		payload func() []byte
		want    *schemas.Error
	}{
		{"bad-junk", func() []byte { return []byte("not msgpack") }, schemas.ErrBadRequest},
		{"bad-empty", func() []byte {
			return mustMsgpack(t, map[string]any{"v": 1, "id": "bad-empty", "request": map[string]any{"prompt": ""}})
		}, schemas.ErrBadRequest},
		{"bad-long", func() []byte { return mustEncode(t, job("bad-long", long, 8)) }, schemas.ErrTooLarge},
		{"bad-maxtok", func() []byte { return mustEncode(t, job("bad-maxtok", "Once", 100000)) }, schemas.ErrBadRequest},
		{"bad-deadline", func() []byte {
			j := job("bad-deadline", "Once upon a time", 8)
			j.Request.DeadlineUnixMs = past
			return mustEncode(t, j)
		}, schemas.ErrTimeout},
	}
	var all []string
	for _, tt := range tests {
		all = append(all, tt.id)
		if _, err := q.js.Publish(context.Background(), Subject(bus.Subjects{}, DefaultQueue, tt.id), tt.payload(), jetstream.WithMsgID(tt.id)); err != nil {
			t.Fatal(err)
		}
	}
	got := waitResults(t, q, 30*time.Second, all...)
	for _, tt := range tests {
		r := got[tt.id]
		if r.Status != schemas.JobFailed || !errors.Is(r.Error, tt.want) || r.Deliveries != 1 || r.Error.RequestID != tt.id {
			t.Errorf("%s: result %+v error %v; want failed with %v on the first delivery", tt.id, r, r.Error, tt.want)
		}
	}
	eventually(t, 10*time.Second, "the bad jobs to be acknowledged", func() bool { return streamMsgs(t, q, bus.JobsStream) == 0 })
	if got := e.metric(t, "krserve_jobs_failed_total"); got != float64(len(tests)) {
		t.Errorf("failed = %v, want %d", got, len(tests))
	}
	if got := e.metric(t, "krserve_jobs_retried_total") + e.metric(t, "krserve_jobs_redelivered_total"); got != 0 {
		t.Errorf("bad jobs were retried or redelivered %v times", got)
	}

	// Junk without a usable id cannot be keyed: it is dead-lettered.
	m := &nats.Msg{Subject: bus.Subjects{}.Jobs("default"), Data: []byte{0xc1}, Header: nats.Header{}}
	if _, err := q.js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the anonymous junk to be dead-lettered", func() bool {
		return streamMsgs(t, q, bus.DeadStream) == 1 && streamMsgs(t, q, bus.JobsStream) == 0
	})
}

func TestAlwaysFailingJobIsDeadLettered(t *testing.T) {
	q := newQueue(t, testConfig())
	e := startEngine(t, q, "e1", engineOpts{})
	j := job("dead-1", "Once upon a time", 8)
	j.Request.Model = "no-such-model" // no engine serves it: retryable here, never succeeds
	submit(t, q, j)
	res := waitResults(t, q, 30*time.Second, "dead-1")["dead-1"]
	if res.Status != schemas.JobFailed || !errors.Is(res.Error, schemas.ErrNotFound) || res.Deliveries != 3 {
		t.Fatalf("result = %+v (error %v), want failed not_found after 3 deliveries", res, res.Error)
	}
	eventually(t, 10*time.Second, "the dead letter", func() bool { return streamMsgs(t, q, bus.DeadStream) == 1 })
	dead, err := q.a.Dead.GetLastMsgForSubject(context.Background(), bus.Subjects{}.DeadJobs(DefaultQueue))
	if err != nil {
		t.Fatal(err)
	}
	if dead.Header.Get(HeaderDeadDeliveries) != "3" || dead.Header.Get(HeaderDeadCode) != "404" ||
		dead.Header.Get(jetstream.MsgIDHeader) != "dead-1" || dead.Header.Get(HeaderDeadSubject) != Subject(bus.Subjects{}, DefaultQueue, "dead-1") {
		t.Errorf("dead letter headers = %v", dead.Header)
	}
	var back schemas.Job
	if err := schemas.Decode(dead.Data, &back); err != nil || back.ID != "dead-1" {
		t.Errorf("dead letter body: %+v, %v", back, err)
	}
	eventually(t, 10*time.Second, "the job to be terminated", func() bool { return streamMsgs(t, q, bus.JobsStream) == 0 })
	if got := e.metric(t, "krserve_jobs_dead_lettered_total"); got != 1 {
		t.Errorf("dead lettered = %v", got)
	}
	if got := e.metric(t, "krserve_jobs_retried_total"); got != 2 {
		t.Errorf("retried = %v, want 2 (deliveries 1 and 2)", got)
	}
}
